// SPDX-License-Identifier: Apache-2.0
// detail::favor_features: FAVOR+ positive random features of query and key rows with the
// stabilisers of the Performer implementation, the projections computed as tile GEMMs.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <attnkit/core/aligned_buffer.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/linear/performer_feature_map.hpp>
#include <attnkit/simd/arch.hpp>
#include <attnkit/simd/exp.hpp>
#include <attnkit/simd/reduce.hpp>
#include <attnkit/tile/gemm_tile.hpp>
#include <attnkit/tile/tile_config.hpp>

namespace attnkit::detail {

/// The directions of performer_feature_map(D, m, seed, orthogonal = true, scale) with sqrt(scale)
/// folded in, and the stabilised features (arXiv 2009.14794, FAVOR+):
///
///   exact  phi(x)_l = exp(w_l . x' - |x'|^2 / 2) / sqrt(m),  x' = sqrt(s) x,
///   query  phi^(q)_l = exp(w_l . q' - a(q)),                 a(q) = max_l w_l . q',
///   key    phi^(k)_l = exp(w_l . k' - |k'|^2 / 2 - g),       g = max over the head's keys and l,
///
/// so phi(q) . phi(k) = phi^(q) . phi^(k) * exp(a(q) - |q'|^2 / 2 + g) / m. Every stabilised
/// feature is in (0, 1] with the largest of each query row (and of each head's keys) exactly 1,
/// whatever the size of the logits; the row factor cancels in normalised attention. fp32.
template <class Arch>
class favor_features {
  using config = tile::tile_config<Arch>;
  using batch = xsimd::batch<float, Arch>;
  static constexpr index_t kWidth = static_cast<index_t>(batch::size);

 public:
  /// Rows projected per GEMM call: the scratch [kBlockRows, padded m] stays in L2.
  static constexpr index_t kBlockRows = 48;

  /// `scale` is the resolved softmax scale s > 0 (not 0).
  favor_features(index_t D, index_t m, std::uint64_t seed, float scale)
      : D_(D), m_(m), m_pad_((m + config::kCols - 1) / config::kCols * config::kCols),
        root_(std::sqrt(double(scale))), wt_(std::size_t(D * m_pad_)) {
    const performer_feature_map map(D, m, seed, true, scale);
    const std::vector<float>& w = map.directions();  // [m, D]
    for (index_t d = 0; d < D; ++d)
      for (index_t l = 0; l < m_pad_; ++l)
        wt_[std::size_t(d * m_pad_ + l)] =
            l < m ? static_cast<float>(root_ * double(w[std::size_t(l * D + d)])) : 0.0f;
  }

  index_t features() const noexcept { return m_; }
  /// Floats of per-thread scratch that query_rows and key_rows need.
  std::size_t scratch_size() const noexcept { return std::size_t(kBlockRows * m_pad_); }

  /// Stabilised query features of n rows x (row stride ldx) into f (row stride ldf, m floats a
  /// row); log_factor[i] = a(q_i) - |q_i'|^2 / 2 (the log of the row factor, g and 1/m apart).
  /// scratch: scratch_size() floats, 64-byte aligned.
  void query_rows(index_t n, const float* x, index_t ldx, float* f, index_t ldf, float* log_factor,
                  float* scratch) const noexcept {
    for (index_t r0 = 0; r0 < n; r0 += kBlockRows) {
      const index_t rows = std::min(kBlockRows, n - r0);
      project(rows, x + r0 * ldx, ldx, scratch);  // P: [rows x m_pad] fp32
      for (index_t r = 0; r < rows; ++r) {
        float* p = scratch + r * m_pad_;
        float a = row_max(p);
        if (std::isnan(p[0])) a = p[0];  // a NaN input makes every projection NaN
        const batch shift(a);
        for (index_t l = 0; l < m_pad_; l += kWidth)
          simd::exp_nonpositive<Arch>(batch::load_aligned(p + l) - shift).store_aligned(p + l);
        std::copy(p, p + m_, f + (r0 + r) * ldf);
        if (log_factor) log_factor[r0 + r] = static_cast<float>(double(a) - half_norm(x + (r0 + r) * ldx));
      }
    }
  }

  /// Stabilised key features of n rows into f; returns g (the head's stabiliser; -inf for n = 0).
  float key_rows(index_t n, const float* x, index_t ldx, float* f, index_t ldf,
                 float* scratch) const noexcept {
    float g = -std::numeric_limits<float>::infinity();
    bool nan = false;
    for (index_t r0 = 0; r0 < n; r0 += kBlockRows) {  // pass 1: f = w . k' - |k'|^2 / 2
      const index_t rows = std::min(kBlockRows, n - r0);
      project(rows, x + r0 * ldx, ldx, scratch);
      for (index_t r = 0; r < rows; ++r) {
        float* p = scratch + r * m_pad_;
        float* out = f + (r0 + r) * ldf;
        const batch half(static_cast<float>(half_norm(x + (r0 + r) * ldx)));
        for (index_t l = 0; l < m_pad_; l += kWidth) (batch::load_aligned(p + l) - half).store_aligned(p + l);
        g = std::max(g, row_max(p));
        nan |= std::isnan(p[0]);
        std::copy(p, p + m_, out);
      }
    }
    if (nan) g = std::numeric_limits<float>::quiet_NaN();
    const batch shift(g);
    const index_t vec_end = m_ / kWidth * kWidth;
    for (index_t r = 0; r < n; ++r) {  // pass 2: f = exp(f - g)
      float* out = f + r * ldf;
      for (index_t l = 0; l < vec_end; l += kWidth)
        simd::exp_nonpositive<Arch>(batch::load_unaligned(out + l) - shift).store_unaligned(out + l);
      for (index_t l = vec_end; l < m_; ++l) out[l] = std::exp(out[l] - g);
    }
    return g;
  }

  /// The largest of p[0 .. m) (p aligned; NaN lanes may or may not win).
  float row_max(const float* p) const noexcept {
    const index_t vec_end = m_ / kWidth * kWidth;
    float top = -std::numeric_limits<float>::infinity();
    if (vec_end > 0) {
      batch acc = batch::load_aligned(p);
      for (index_t l = kWidth; l < vec_end; l += kWidth) acc = xsimd::max(acc, batch::load_aligned(p + l));
      top = simd::reduce_max<Arch>(acc);
    }
    for (index_t l = vec_end; l < m_; ++l) top = std::max(top, p[l]);
    return top;
  }

  /// |x'|^2 / 2 = s |x|^2 / 2 in double.
  double half_norm(const float* x) const noexcept {
    double sum = 0;
    for (index_t d = 0; d < D_; ++d) sum += double(x[d]) * double(x[d]);
    return 0.5 * root_ * root_ * sum;
  }

 private:
  /// P[rows x m_pad] = X W'ᵀ, X rows at stride ldx.
  void project(index_t rows, const float* x, index_t ldx, float* p) const noexcept {
    tile::gemm<Arch, config::kRows, config::kVecs>(rows, m_pad_, D_, tile::a_operand{x, ldx, 1},
                                                   wt_.data(), m_pad_, p, m_pad_, nullptr);
  }

  index_t D_, m_, m_pad_;
  double root_;
  aligned_buffer<float> wt_;  // W'ᵀ: [D x m_pad], sqrt(s) w_l in column l, zero columns past m
};

}  // namespace attnkit::detail
