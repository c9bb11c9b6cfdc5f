// SPDX-License-Identifier: Apache-2.0
// mask::column_mods: the mask and score modifiers for a transposed score tile whose columns are
// queries of different positions and heads (the query heads of a GQA group in decoding).
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>

#include <attnkit/core/aligned_buffer.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/exact/options.hpp>
#include <attnkit/mask/key_range.hpp>
#include <attnkit/simd/compat.hpp>

namespace attnkit::mask {

/// Column c = g * Sq + i of the tile is query position i of query head h0 + g (g < G); columns
/// from G * Sq up to the padded width are padding and see every key. Each column carries its
/// own visible key range, ALiBi slope, diagonal and bias row, so one pass over a key row applies
/// DESIGN 1.3 rules 1 and 2 to every query head of the group at once.
template <class Arch>
class column_mods {
  using batch = xsimd::batch<float, Arch>;
  using ibatch = xsimd::batch<std::int32_t, Arch>;
  static constexpr index_t kWidth = static_cast<index_t>(batch::size);

 public:
  explicit column_mods(index_t cols)
      : cols_(cols), lo_(cols), hi_(cols), diag_(cols), slope_(cols), bias_row_(cols) {}

  /// Sets the columns up for one (sequence b, kv head) with Sk keys (the cache length).
  void setup(const attention_options& opt, const tensor_view<const float, 4>& bias, index_t b,
             index_t h0, index_t G, index_t Sq, index_t Sk) {
    const key_range range(opt, Sq, Sk);
    const index_t offset = opt.align == alignment::bottom_right ? Sk - Sq : 0;
    softcap_ = opt.softcap;
    alibi_ = !opt.alibi_slopes.empty();
    bias_ = bias.empty() ? nullptr : bias.data() + b * bias.stride(0);
    bias_stride_j_ = bias.empty() ? 0 : bias.stride(3);
    first_ = Sk;
    last_ = 0;
    all_lo_ = 0;
    all_hi_ = Sk;
    for (index_t c = 0; c < cols_; ++c) {
      const bool real = c < G * Sq;
      const index_t i = real ? c % Sq : 0, h = h0 + (real ? c / Sq : 0);
      const index_t lo = real ? range.begin(i) : 0, hi = real ? std::max(range.end(i), lo) : Sk;
      lo_[std::size_t(c)] = static_cast<std::int32_t>(lo);
      hi_[std::size_t(c)] = static_cast<std::int32_t>(hi);
      diag_[std::size_t(c)] = static_cast<std::int32_t>(i + offset);
      slope_[std::size_t(c)] = real && alibi_ ? opt.alibi_slopes[std::size_t(h)] : 0.0f;
      bias_row_[std::size_t(c)] = bias_ && real ? h * bias.stride(1) + i * bias.stride(2) : 0;
      if (real && lo < hi) first_ = std::min(first_, lo), last_ = std::max(last_, hi);
      if (real) all_lo_ = std::max(all_lo_, lo), all_hi_ = std::min(all_hi_, hi);
    }
  }

  /// The keys some real column sees: [first(), last()), empty when first() >= last().
  index_t first() const noexcept { return first_; }
  index_t last() const noexcept { return last_; }
  /// True when every real column sees every key of [j0, j1): no masking needed.
  bool all_see(index_t j0, index_t j1) const noexcept { return all_lo_ <= j0 && j1 <= all_hi_; }
  /// True when column c sees key j.
  bool sees(index_t c, index_t j) const noexcept {
    return lo_[std::size_t(c)] <= j && j < hi_[std::size_t(c)];
  }
  /// True when some modifier changes the scores.
  bool modifies() const noexcept { return softcap_ > 0.0f || bias_ != nullptr || alibi_; }

  /// Applies softcap, bias and ALiBi and, when `mask`, the visibility rule to s[r * lds + c] for
  /// keys j0 + r (r < rows) and every column; masked scores become -inf.
  void apply(float* s, index_t lds, index_t rows, index_t j0, bool mask) const noexcept {
    const batch neg_inf(-std::numeric_limits<float>::infinity());
    alignas(64) float bias_lanes[kWidth];
    for (index_t r = 0; r < rows; ++r) {
      const index_t j = j0 + r;
      const ibatch jv(static_cast<std::int32_t>(j));
      float* row = s + r * lds;
      for (index_t c = 0; c < cols_; c += kWidth) {
        batch x = batch::load_aligned(row + c);
        if (softcap_ > 0.0f) x = batch(softcap_) * xsimd::tanh(x * batch(1.0f / softcap_));
        if (bias_) {
          for (index_t l = 0; l < kWidth; ++l)
            bias_lanes[l] = bias_[bias_row_[std::size_t(c + l)] + j * bias_stride_j_];
          x += batch::load_aligned(bias_lanes);
        }
        if (alibi_) {
          const batch dist = xsimd::abs(xsimd::batch_cast<float>(ibatch::load_aligned(&diag_[std::size_t(c)]) - jv));
          x = xsimd::fnma(batch::load_aligned(&slope_[std::size_t(c)]), dist, x);
        }
        if (mask) {
          const auto seen = (ibatch::load_aligned(&lo_[std::size_t(c)]) <= jv) &&
                            (jv < ibatch::load_aligned(&hi_[std::size_t(c)]));
          x = xsimd::select(simd::float_mask(seen), x, neg_inf);
        }
        x.store_aligned(row + c);
      }
    }
  }

 private:
  index_t cols_;
  detail::aligned_buffer<std::int32_t> lo_, hi_, diag_;
  detail::aligned_buffer<float> slope_;
  detail::aligned_buffer<index_t> bias_row_;
  float softcap_ = 0.0f;
  bool alibi_ = false;
  const float* bias_ = nullptr;
  index_t bias_stride_j_ = 0, first_ = 0, last_ = 0, all_lo_ = 0, all_hi_ = 0;
};

}  // namespace attnkit::mask
