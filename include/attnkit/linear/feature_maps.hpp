// SPDX-License-Identifier: Apache-2.0
// The elementwise and polynomial feature maps of linear attention (identity, elu + 1, relu, the
// second-order Taylor map of BASED) and apply_feature_map, which maps q or k [.., D] to
// [.., dim(D)] so that linear_attention computes sum_s phi(q_t) . phi(k_s) v_s.
#pragma once

#include <algorithm>
#include <cmath>
#include <concepts>
#include <string>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/core/threads.hpp>
#include <attnkit/exact/arguments.hpp>

namespace attnkit {

/// A feature map: dim(D) features per row of D, computed by map(x, D, out).
template <class Map>
concept feature_map = requires(const Map& m, const float* x, index_t D, float* out) {
  { m.dim(D) } -> std::convertible_to<index_t>;
  m(x, D, out);
};

/// phi(x) = x.
struct identity_feature_map {
  index_t dim(index_t D) const noexcept { return D; }
  void operator()(const float* x, index_t D, float* out) const noexcept {
    for (index_t d = 0; d < D; ++d) out[d] = x[d];
  }
};

/// phi(x) = elu(x) + 1: x + 1 for x > 0, e^x otherwise (Katharopoulos et al., Transformers are
/// RNNs, 2006.16236). Positive, so normalised linear attention never divides by <= 0.
struct elu_feature_map {
  index_t dim(index_t D) const noexcept { return D; }
  void operator()(const float* x, index_t D, float* out) const noexcept {
    for (index_t d = 0; d < D; ++d) out[d] = x[d] > 0.0f ? x[d] + 1.0f : std::exp(x[d]);
  }
};

/// phi(x) = max(x, 0).
struct relu_feature_map {
  index_t dim(index_t D) const noexcept { return D; }
  void operator()(const float* x, index_t D, float* out) const noexcept {
    for (index_t d = 0; d < D; ++d) out[d] = x[d] > 0.0f ? x[d] : 0.0f;
  }
};

/// The second-order Taylor map of BASED (Arora et al., 2402.18668): 1 + D + D^2 features
/// phi(x) = [1, sqrt(s) x, (s / sqrt(2)) vec(x xᵀ)], so that phi(q) . phi(k) = 1 + z + z^2 / 2
/// with z = s q . k, the Taylor expansion of e^z (always >= 1/2 > 0). s = scale, or 1/sqrt(D)
/// when scale is 0 (as softmax attention scales q . k). Use it with linear_attention's
/// scale = 1 (the map has applied s).
struct taylor_feature_map {
  float scale = 0.0f;
  index_t dim(index_t D) const noexcept { return 1 + D + D * D; }
  void operator()(const float* x, index_t D, float* out) const noexcept {
    const double s = scale != 0.0f ? double(scale) : 1.0 / std::sqrt(double(D));
    const float root = static_cast<float>(std::sqrt(s)), square = static_cast<float>(s / std::sqrt(2.0));
    out[0] = 1.0f;
    for (index_t d = 0; d < D; ++d) out[1 + d] = root * x[d];
    float* outer = out + 1 + D;
    for (index_t a = 0; a < D; ++a)
      for (index_t b = 0; b < D; ++b) outer[a * D + b] = square * x[a] * x[b];
  }
};

/// out[.., f] = phi(x[.., :])_f for every row of x [B, T, H, D] (or any leading shape of rank R),
/// out [.., map.dim(D)]; unit innermost strides. Checked (shapes, strides), throwing
/// attnkit::error before writing. O(rows x dim(D)).
template <feature_map Map, std::size_t R>
void apply_feature_map(const Map& map, tensor_view<const float, R> x, tensor_view<float, R> out) {
  constexpr std::string_view kWhere = "apply_feature_map";
  detail::check_view(kWhere, "x", x, true);
  detail::check_view(kWhere, "out", out, true);
  for (std::size_t r = 0; r + 1 < R; ++r)
    detail::check_extent(kWhere, "out", out, r, x.extent(r), "extent(" + std::to_string(r) + ") of x");
  const index_t D = x.extent(R - 1);
  detail::require(map.dim(D) >= 1, kWhere, "x",
                  "extent(" + std::to_string(R - 1) + ") a row size the map accepts", D);
  detail::check_extent(kWhere, "out", out, R - 1, map.dim(D), "the features of the map for D = " + std::to_string(D));
  index_t rows = 1;
  for (std::size_t r = 0; r + 1 < R; ++r) rows *= x.extent(r);
  constexpr index_t kRowsPerTask = 64;
  parallel_for((rows + kRowsPerTask - 1) / kRowsPerTask, [&](index_t task, int) {
    for (index_t row = task * kRowsPerTask; row < std::min(rows, (task + 1) * kRowsPerTask); ++row) {
      index_t x_offset = 0, out_offset = 0;
      for (std::size_t r = R - 1, rest = std::size_t(row); r-- > 0;) {
        const auto i = static_cast<index_t>(rest % std::size_t(x.extent(r)));
        rest /= std::size_t(x.extent(r));
        x_offset += i * x.stride(r);
        out_offset += i * out.stride(r);
      }
      map(x.data() + x_offset, D, out.data() + out_offset);
    }
  });
}

}  // namespace attnkit
