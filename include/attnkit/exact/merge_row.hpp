// SPDX-License-Identifier: Apache-2.0
// detail::merge_row: the merge of the partial attention states of one query row through their
// log-sum-exps (the split-KV combine of flash-decoding), vectorised over the head dim.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <type_traits>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/simd/convert.hpp>
#include <attnkit/simd/exp.hpp>
#include <attnkit/simd/reduce.hpp>

namespace attnkit::detail {

/// Merges n >= 1 partial states of one query row: part s has Dv contiguous floats at
/// partial_out + s * out_stride, its (normalised) output, and its lse at
/// partial_lse[s * lse_stride]. Writes out[0, Dv) (T = float, bf16 or fp16) and, when lse is not
/// null, *lse:
///   lse = m + log(sum_s exp(lse_s - m)),  out = sum_s exp(lse_s - lse) out_s,  m = max_s lse_s.
/// - A part with lse_s = -inf weighs 0 and its output is not read (it may hold garbage or NaN).
/// - Every part -inf: out = +0 exactly, lse = -inf.
/// - A NaN lse_s makes the whole row NaN; a NaN in the output of a part with a finite lse_s
///   reaches out (0 x NaN included, when its weight underflows); an lse_s of +inf gives NaN.
/// fp32 throughout; the weights use simd::exp_nonpositive (within 2 ulp) against the max, so no
/// lse can overflow. Time O(n Dv): three passes over the n lse values (max, weights, sum) and
/// one over the outputs. Checks nothing.
template <class Arch, class T>
void merge_row(index_t n, const float* partial_out, index_t out_stride, const float* partial_lse,
               index_t lse_stride, index_t Dv, T* out, float* lse) noexcept {
  using batch = xsimd::batch<float, Arch>;
  constexpr index_t kWidth = static_cast<index_t>(batch::size);
  // Weights of up to kParts parts live on the stack; with more parts (not a decode split count
  // in practice) each Dv chunk recomputes them group by group instead of allocating.
  constexpr index_t kParts = 64;
  static_assert(kParts % kWidth == 0, "kParts must be a multiple of every batch width.");
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();

  auto fill = [&](float value, float row_lse) {
    for (index_t d = 0; d < Dv; ++d) out[d] = T(value);
    if (lse) *lse = row_lse;
  };
  float m = kNegInf;
  for (index_t s = 0; s < n; ++s) {
    const float l = partial_lse[s * lse_stride];
    if (std::isnan(l)) return fill(l, l);
    m = std::max(m, l);
  }
  if (m == kNegInf) return fill(0.0f, kNegInf);

  // The parts of [s0, s1) with lse > -inf: their rows and weights exp(lse_s - m), the weights
  // padded with zeros to a whole batch. m = +inf makes the weight of a +inf part NaN.
  alignas(64) float weight[kParts];
  const float* rows[kParts];
  auto weigh = [&](index_t s0, index_t s1) {
    index_t count = 0;
    for (index_t s = s0; s < s1; ++s) {
      const float l = partial_lse[s * lse_stride];
      if (l == kNegInf) continue;
      weight[count] = l - m;
      rows[count++] = partial_out + s * out_stride;
    }
    for (index_t t = count; t % kWidth != 0; ++t) weight[t] = kNegInf;
    for (index_t t = 0; t < count; t += kWidth)
      simd::exp_nonpositive<Arch>(batch::load_aligned(weight + t)).store_aligned(weight + t);
    return count;
  };
  float sum = 0.0f;
  index_t count = 0;
  for (index_t s0 = 0; s0 < n; s0 += kParts) {
    count = weigh(s0, std::min(n, s0 + kParts));
    batch partial(0.0f);
    for (index_t t = 0; t < count; t += kWidth) partial += batch::load_aligned(weight + t);
    sum += simd::reduce_sum<Arch>(partial);
  }
  if (lse) *lse = m + std::log(sum);

  // out = (sum_s w_s out_s) / sum, one batch of the head dim at a time (a partial batch last).
  const batch inv(1.0f / sum);
  const bool one_group = n <= kParts;  // then weigh() above left every weight in place
  auto chunk = [&](auto full, index_t d, index_t width) {
    batch acc(0.0f);  // acc: [kWidth] fp32, out[d, d + width)
    for (index_t s0 = 0; s0 < n; s0 += kParts) {
      if (!one_group) count = weigh(s0, std::min(n, s0 + kParts));
      for (index_t t = 0; t < count; ++t) {
        batch x;
        if constexpr (full) x = simd::load<Arch>(rows[t] + d);
        else x = simd::load_partial<Arch>(rows[t] + d, static_cast<std::size_t>(width));
        acc = xsimd::fma(batch(weight[t]), x, acc);
      }
    }
    acc *= inv;
    if constexpr (full) simd::store<Arch>(out + d, acc);
    else simd::store_partial<Arch>(out + d, acc, static_cast<std::size_t>(width));
  };
  index_t d = 0;
  for (; d + kWidth <= Dv; d += kWidth) chunk(std::true_type{}, d, kWidth);
  if (d < Dv) chunk(std::false_type{}, d, Dv - d);
}

}  // namespace attnkit::detail
