// SPDX-License-Identifier: Apache-2.0
// detail::softmax_over_keys: exact softmax attention of one query row over a chosen list of keys
// (the second half of top-k, SEA and ProbSparse), and detail::modify_score, DESIGN 1.3's score
// modifiers for one (query, key) pair.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <limits>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/mask/score_mods.hpp>
#include <attnkit/simd/convert.hpp>
#include <attnkit/simd/exp.hpp>
#include <attnkit/simd/reduce.hpp>

namespace attnkit::detail {

/// softcap * tanh(s / softcap) + bias[i, j] - slope * |i + o - j| (each term only when on), for
/// the scaled dot product s of query i and key j.
inline float modify_score(const mask::score_mods& mods, float s, index_t i, index_t j) noexcept {
  if (mods.softcap > 0.0f) s = mods.softcap * std::tanh(s / mods.softcap);
  if (mods.bias) s += mods.bias[i * mods.bias_stride_i + j * mods.bias_stride_j];
  if (mods.slope != 0.0f) s -= mods.slope * static_cast<float>(std::abs(i + mods.offset - j));
  return s;
}

/// <a, b> over n floats (unit strides), fp32 lanes summed at the end.
template <class Arch>
float dot(const float* a, const float* b, index_t n) noexcept {
  using batch = xsimd::batch<float, Arch>;
  constexpr index_t w = static_cast<index_t>(batch::size);
  batch acc(0.0f);
  index_t d = 0;
  for (; d + w <= n; d += w) acc = xsimd::fma(batch::load_unaligned(a + d), batch::load_unaligned(b + d), acc);
  if (d < n) {
    const auto rest = static_cast<std::size_t>(n - d);
    acc = xsimd::fma(simd::load_partial<Arch>(a + d, rest), simd::load_partial<Arch>(b + d, rest), acc);
  }
  return simd::reduce_sum<Arch>(acc);
}

/// out = sum_t e^(z[t] - m) v[keys[t]] / (e^(sink - m) + sum_t e^(z[t] - m)) for the n keys given
/// (m the largest of the logits and the sink); returns the lse, log of that denominator plus m.
/// A NaN logit or sink makes the row NaN (out and lse); no finite logit and no sink gives out = 0
/// and lse = -inf (DESIGN 1.3 rule 4). v row j starts at v + j * v_stride (unit stride, Dv
/// elements); `p` holds n floats of scratch, `acc` Dv floats rounded up to the batch width,
/// aligned. out has Dv elements, unit stride.
template <class Arch>
float softmax_over_keys(index_t n, const float* z, const index_t* keys, float sink, const float* v,
                        index_t v_stride, index_t Dv, float* p, float* acc, float* out) noexcept {
  using batch = xsimd::batch<float, Arch>;
  constexpr index_t w = static_cast<index_t>(batch::size);
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  bool nan = std::isnan(sink);
  float m = sink;
  for (index_t t = 0; t < n; ++t) {
    nan |= std::isnan(z[t]);
    m = z[t] > m ? z[t] : m;
  }
  if (nan || m == kNegInf) {
    const float fill = nan ? std::numeric_limits<float>::quiet_NaN() : 0.0f;
    for (index_t d = 0; d < Dv; ++d) out[d] = fill;
    return nan ? fill : sink;
  }
  // p = e^(z - m) <= 1, a batch at a time; the partial batch's zero lanes are not stored.
  batch sums(0.0f);
  index_t t = 0;
  for (; t + w <= n; t += w) {
    const batch e = simd::exp_nonpositive<Arch>(batch::load_unaligned(z + t) - batch(m));
    e.store_unaligned(p + t);
    sums += e;
  }
  if (t < n) {
    const auto rest = static_cast<std::size_t>(n - t);
    alignas(64) float lanes[w];
    for (index_t l = 0; l < w; ++l) lanes[l] = l < n - t ? z[t + l] - m : kNegInf;
    const batch e = simd::exp_nonpositive<Arch>(batch::load_aligned(lanes));
    simd::store_partial(p + t, e, rest);
    sums += e;
  }
  float sum = simd::reduce_sum<Arch>(sums);
  if (sink != kNegInf) sum += std::exp(sink - m);
  const index_t Dv_pad = (Dv + w - 1) / w * w;
  for (index_t d = 0; d < Dv_pad; d += w) batch(0.0f).store_aligned(acc + d);
  for (t = 0; t < n; ++t) {
    const float* vj = v + keys[t] * v_stride;
    const batch weight(p[t]);
    index_t d = 0;
    for (; d + w <= Dv; d += w)
      xsimd::fma(weight, batch::load_unaligned(vj + d), batch::load_aligned(acc + d)).store_aligned(acc + d);
    if (d < Dv)
      xsimd::fma(weight, simd::load_partial<Arch>(vj + d, static_cast<std::size_t>(Dv - d)),
                 batch::load_aligned(acc + d))
          .store_aligned(acc + d);
  }
  const float inv = 1.0f / sum;
  for (index_t d = 0; d < Dv; ++d) out[d] = acc[d] * inv;
  return m + std::log(sum);
}

}  // namespace attnkit::detail
