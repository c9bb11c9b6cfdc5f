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
#include <attnkit/simd/dot.hpp>
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

/// s[t] = f * <a, k + keys[t] * k_stride> for t < n (rows of D floats, unit stride): one
/// accumulator per key of a group of batch-width keys, folded by one haddp per group, so each
/// dot costs its FMAs and a share of one reduction instead of a reduction of its own.
template <class Arch>
void dot_keys(const float* a, const float* k, index_t k_stride, const index_t* keys, index_t n,
              index_t D, float f, float* s) noexcept {
  using batch = xsimd::batch<float, Arch>;
  constexpr index_t w = static_cast<index_t>(batch::size);
  const index_t full = D / w * w;
  const auto rest = static_cast<std::size_t>(D - full);
  for (index_t t0 = 0; t0 < n; t0 += w) {
    const float* rows[w];
    for (index_t l = 0; l < w; ++l) rows[l] = k + keys[t0 + l < n ? t0 + l : n - 1] * k_stride;
    batch acc[w];
    for (auto& x : acc) x = batch(0.0f);
    for (index_t d = 0; d < full; d += w) {
      const batch x = batch::load_unaligned(a + d);
      for (index_t l = 0; l < w; ++l) acc[l] = xsimd::fma(batch::load_unaligned(rows[l] + d), x, acc[l]);
    }
    if (rest > 0) {
      const batch x = simd::load_partial<Arch>(a + full, rest);
      for (index_t l = 0; l < w; ++l) acc[l] = xsimd::fma(simd::load_partial<Arch>(rows[l] + full, rest), x, acc[l]);
    }
    alignas(64) float sums[w];
    (xsimd::haddp(acc) * batch(f)).store_aligned(sums);
    for (index_t l = 0; l < w && t0 + l < n; ++l) s[t0 + l] = sums[l];
  }
}

/// out = sum_t e^(z[t] - m) v[keys[t]] / (e^(sink - m) + sum_t e^(z[t] - m)) for the n keys given
/// (m the largest of the logits and the sink); returns the lse, log of that denominator plus m.
/// A NaN logit or sink makes the row NaN (out and lse); no finite logit and no sink gives out = 0
/// and lse = -inf (DESIGN 1.3 rule 4). v row j starts at v + j * v_stride (unit stride, Dv
/// elements); `p` holds n floats of scratch. out has Dv elements, unit stride.
template <class Arch>
float softmax_over_keys(index_t n, const float* z, const index_t* keys, float sink, const float* v,
                        index_t v_stride, index_t Dv, float* p, float* out) noexcept {
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
  // O = sum_t p[t] v[keys[t]], up to 4 batches of columns held in registers across the keys.
  const float inv = 1.0f / sum;
  auto columns = [&]<int kVecs>(index_t d0, index_t valid) {
    batch o[kVecs];
    for (auto& x : o) x = batch(0.0f);
    for (index_t j = 0; j < n; ++j) {
      const float* vj = v + keys[j] * v_stride + d0;
      const batch weight(p[j]);
      for (int c = 0; c < kVecs; ++c)
        o[c] = xsimd::fma(weight, valid == kVecs * w ? batch::load_unaligned(vj + c * w)
                                                     : simd::load_partial<Arch>(vj, static_cast<std::size_t>(valid)),
                          o[c]);
    }
    for (int c = 0; c < kVecs; ++c) {
      if (valid == kVecs * w) (o[c] * batch(inv)).store_unaligned(out + d0 + c * w);
      else simd::store_partial(out + d0, o[c] * batch(inv), static_cast<std::size_t>(valid));
    }
  };
  index_t d0 = 0;
  for (; d0 + 4 * w <= Dv; d0 += 4 * w) columns.template operator()<4>(d0, 4 * w);
  for (; d0 + w <= Dv; d0 += w) columns.template operator()<1>(d0, w);
  if (d0 < Dv) columns.template operator()<1>(d0, Dv - d0);
  return m + std::log(sum);
}

}  // namespace attnkit::detail
