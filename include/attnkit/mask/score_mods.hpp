// SPDX-License-Identifier: Apache-2.0
// mask::score_mods: the score modifiers of DESIGN 1.3 (softcap, additive bias, ALiBi) and the
// partial-block mask, applied to one transposed score tile of one (batch, head).
#pragma once

#include <cmath>
#include <limits>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/exact/options.hpp>
#include <attnkit/mask/key_range.hpp>
#include <attnkit/simd/compat.hpp>

namespace attnkit::mask {

/// The modifiers of one (batch, query head), resolved once per task.
struct score_mods {
  float softcap = 0.0f;               ///< 0: off
  const float* bias = nullptr;        ///< bias(b, h, 0, 0), or nullptr
  index_t bias_stride_i = 0;          ///< bias stride between queries
  index_t bias_stride_j = 0;          ///< bias stride between keys
  float slope = 0.0f;                 ///< ALiBi slope, 0: off
  index_t offset = 0;                 ///< the alignment offset o = i - diagonal key

  score_mods() = default;
  score_mods(const attention_options& opt, const tensor_view<const float, 4>& bias_view,
             index_t b, index_t h, index_t Sq, index_t Sk)
      : softcap(opt.softcap),
        slope(opt.alibi_slopes.empty() ? 0.0f : opt.alibi_slopes[static_cast<std::size_t>(h)]),
        offset(opt.align == alignment::bottom_right ? Sk - Sq : 0) {
    if (!bias_view.empty()) {
      bias = bias_view.data() + b * bias_view.stride(0) + h * bias_view.stride(1);
      bias_stride_i = bias_view.stride(2);
      bias_stride_j = bias_view.stride(3);
    }
  }

  bool any() const noexcept { return softcap > 0.0f || bias != nullptr || slope != 0.0f; }
};

/// Applies the modifiers and, for a partial block, the mask to the transposed tile
/// s[r * lds + c] of keys j0 + r (r < rows) and queries i0 + c (c < cols, a multiple of the batch
/// width; only queries below n_queries are real). Masked scores become -inf. col_max[c] (cols
/// floats, aligned) receives the maximum of each column of the result, a NaN winning. With
/// `softcap_slope` (the backward pass) and the softcap on, softcap_slope[r * lds + c] receives
/// the softcap's derivative 1 - tanh^2(s / softcap) at each entry.
template <class Arch>
void apply_mask_and_mods(float* s, index_t lds, index_t rows, index_t cols, index_t j0,
                         index_t i0, index_t n_queries, const key_range& range, bool partial,
                         const score_mods& mods, float* col_max,
                         float* softcap_slope = nullptr) noexcept {
  using batch = xsimd::batch<float, Arch>;
  using ibatch = xsimd::batch<std::int32_t, Arch>;
  constexpr index_t w = static_cast<index_t>(batch::size);
  const batch neg_inf(-std::numeric_limits<float>::infinity());
  alignas(64) std::int32_t iota_lanes[w];
  for (index_t l = 0; l < w; ++l) iota_lanes[l] = static_cast<std::int32_t>(l);
  const ibatch iota = ibatch::load_aligned(iota_lanes);
  alignas(64) float bias_lanes[w];
  for (index_t c = 0; c < cols; c += w) neg_inf.store_aligned(col_max + c);
  for (index_t r = 0; r < rows; ++r) {
    const index_t j = j0 + r;
    // Queries i0 + c with c in [lo, hi) see key j.
    const ibatch lo(static_cast<std::int32_t>(range.first_query(j) - i0));
    const ibatch hi(static_cast<std::int32_t>(range.end_query(j) - i0));
    float* row = s + r * lds;
    for (index_t c = 0; c < cols; c += w) {
      batch x = batch::load_aligned(row + c);
      {  // loop-invariant branches: the predictor makes them free next to tanh and gathers
        if (mods.softcap > 0.0f) {
          const batch t = xsimd::tanh(x * batch(1.0f / mods.softcap));
          x = batch(mods.softcap) * t;
          if (softcap_slope)
            xsimd::fnma(t, t, batch(1.0f)).store_aligned(softcap_slope + r * lds + c);
        }
        if (mods.bias) {
          for (index_t l = 0; l < w; ++l)
            bias_lanes[l] = i0 + c + l < n_queries
                                ? mods.bias[(i0 + c + l) * mods.bias_stride_i + j * mods.bias_stride_j]
                                : 0.0f;
          x += batch::load_aligned(bias_lanes);
        }
        if (mods.slope != 0.0f) {
          // |i + o - j| for i = i0 + c + lane, exact in float up to 2^24.
          const batch dist = xsimd::abs(
              xsimd::batch_cast<float>(iota + ibatch(static_cast<std::int32_t>(i0 + c + mods.offset - j))));
          x = xsimd::fnma(batch(mods.slope), dist, x);
        }
      }
      if (partial) {
        const ibatch col = iota + ibatch(static_cast<std::int32_t>(c));
        x = xsimd::select(simd::float_mask((col >= lo) && (col < hi)), x, neg_inf);
      }
      x.store_aligned(row + c);
      xsimd::max(batch::load_aligned(col_max + c), x).store_aligned(col_max + c);
    }
  }
}

}  // namespace attnkit::mask
