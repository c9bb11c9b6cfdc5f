// SPDX-License-Identifier: Apache-2.0
// kv::pyramid_budgets, PyramidKV's per-layer budgets: more tokens in shallow layers, fewer deep.
#pragma once

#include <cmath>
#include <vector>

#include <attnkit/core/error.hpp>
#include <attnkit/core/tensor_view.hpp>

namespace attnkit::kv {

/// Per-layer token budgets that fall linearly with depth (PyramidKV, Cai et al., arXiv
/// 2406.02069): shallow layers attend broadly, deep ones to a few tokens.
///
/// With a = average_budget, layer l of n has the real budget
///   t_l = top - l (top - bottom) / (n - 1),  top = 2a - a / beta,  bottom = a / beta
/// (n = 1: t_0 = a), so the t_l sum to n a. Clamp (PyramidKV's): when `length` >= 0 (the tokens
/// each layer holds) and top > length, top = length and bottom = 2a - length; when a >= length
/// every layer keeps all `length` tokens (the sum is then n length).
/// Rounding: budget_l = round(C_{l+1}) - round(C_l) with C_l = t_0 + ... + t_{l-1} and C_n = n a
/// exactly (rounding half away from zero), so the budgets are integers that sum to exactly n a,
/// each within 1 of t_l, between bottom rounded down and top rounded up (so <= length).
/// beta = 1 gives every layer a; a larger beta a steeper pyramid (PyramidKV's default is 20).
///
/// @pre layers >= 1, average_budget >= 0, beta finite and >= 1, length >= -1 (-1: no clamp).
/// Throws attnkit::error naming the argument. O(layers).
inline std::vector<index_t> pyramid_budgets(index_t layers, index_t average_budget,
                                            float beta = 20.0f, index_t length = -1) {
  constexpr const char* kWhere = "kv::pyramid_budgets";
  detail::require(layers >= 1, kWhere, "layers", ">= 1", layers);
  detail::require(average_budget >= 0, kWhere, "average_budget", ">= 0", average_budget);
  detail::require(std::isfinite(beta) && beta >= 1.0f, kWhere, "beta", "a finite value >= 1", beta);
  detail::require(length >= -1, kWhere, "length", ">= 0, or -1 for no clamp", length);
  if (length >= 0 && average_budget >= length)
    return std::vector<index_t>(static_cast<std::size_t>(layers), length);
  const double a = static_cast<double>(average_budget);
  double top = 2.0 * a - a / static_cast<double>(beta);
  double bottom = a / static_cast<double>(beta);
  if (length >= 0 && top > static_cast<double>(length)) {
    top = static_cast<double>(length);
    bottom = 2.0 * a - top;
  }
  const double n = static_cast<double>(layers);
  const double step = layers > 1 ? (top - bottom) / (n - 1.0) : 0.0;
  const auto cumulative = [&](index_t l) -> index_t {  // round(C_l)
    if (l == layers) return layers * average_budget;
    const double x = static_cast<double>(l);
    return static_cast<index_t>(std::llround(x * top - step * x * (x - 1.0) / 2.0));
  };
  std::vector<index_t> budgets(static_cast<std::size_t>(layers));
  for (index_t l = 0; l < layers; ++l)
    budgets[static_cast<std::size_t>(l)] = cumulative(l + 1) - cumulative(l);
  return budgets;
}

}  // namespace attnkit::kv
