// SPDX-License-Identifier: Apache-2.0
// softmax::online_softmax: the running max and sum of each query across key blocks (FlashAttention,
// arXiv 2205.14135), over transposed score tiles where a query is a column.
#pragma once

#include <cmath>
#include <limits>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/simd/exp.hpp>

namespace attnkit::softmax {

/// The online softmax of `cols` queries (a multiple of the batch width), state in three aligned
/// arrays: m (running max), l (running sum of exp(z - m)), alpha (the correction of the last
/// update, which the caller applies to its output accumulators).
///
/// Scores arrive transposed, Sᵀ[key][query], so every reduction runs down columns with plain
/// vector max/add: no horizontal reductions. A query whose scores are all -inf so far keeps
/// m = -inf and l = 0; exponentials are then taken against 0, so exp(-inf) = 0 and a NaN score
/// still reaches l and the output (NaN propagates, DESIGN 1.3 rule 5).
template <class Arch>
class online_softmax {
 public:
  using batch = xsimd::batch<float, Arch>;
  static constexpr index_t kWidth = static_cast<index_t>(batch::size);

  online_softmax(float* m, float* l, float* alpha, index_t cols) noexcept
      : m_(m), l_(l), alpha_(alpha), cols_(cols) {}

  /// Every query: m = -inf, l = 0.
  void reset() noexcept {
    for (index_t c = 0; c < cols_; ++c) {
      m_[c] = -std::numeric_limits<float>::infinity();
      l_[c] = 0.0f;
    }
  }

  /// Folds the scores s[j * lds + c] of keys j < rows into the state and overwrites them with
  /// exp(s - m_new); alpha = exp(m_old - m_new) is left for the caller's accumulators.
  /// block_max, when given, already holds the column maxima of s (fused into the producer of
  /// s), which saves a pass over the tile.
  void update(float* s, index_t lds, index_t rows, const float* block_max = nullptr) noexcept {
    const batch neg_inf(-std::numeric_limits<float>::infinity());
    for (index_t c = 0; c < cols_; c += kWidth) {
      batch bmax = neg_inf;
      if (block_max) bmax = batch::load_aligned(block_max + c);
      else
        for (index_t j = 0; j < rows; ++j) bmax = column_max(bmax, batch::load_aligned(s + j * lds + c));
      const batch m_old = batch::load_aligned(m_ + c);
      const batch m_new = column_max(m_old, bmax);
      const batch m_use = xsimd::select(m_new == neg_inf, batch(0.0f), m_new);
      const batch alpha = simd::exp_nonpositive<Arch>(m_old - m_use);
      batch sum(0.0f);
      for (index_t j = 0; j < rows; ++j) {
        const batch p = simd::exp_nonpositive<Arch>(batch::load_aligned(s + j * lds + c) - m_use);
        p.store_aligned(s + j * lds + c);
        sum += p;
      }
      xsimd::fma(alpha, batch::load_aligned(l_ + c), sum).store_aligned(l_ + c);
      m_new.store_aligned(m_ + c);
      alpha.store_aligned(alpha_ + c);
    }
  }

  /// The running column maximum: max(running, x), where a NaN x wins (maxps returns its second
  /// operand when either is NaN), so that NaN scores reach the output.
  static batch column_max(const batch& running, const batch& x) noexcept {
    return xsimd::max(running, x);
  }

  /// Ends query c: returns the factor its output accumulator is multiplied by (1 / l, or 0 for
  /// a query that saw no key) and stores its log-sum-exp in *lse. A sink logit joins the
  /// denominator: l' = l exp(m - m') + exp(sink - m') with m' = max(m, sink).
  float finish(index_t c, float* lse, float sink = -std::numeric_limits<float>::infinity()) const {
    float m = m_[c], l = l_[c], o_scale = 1.0f;
    if (sink > -std::numeric_limits<float>::infinity()) {
      const float m_sink = std::isnan(m) || m > sink ? m : sink;
      o_scale = std::exp(m - m_sink);  // 0 when no key was seen (m = -inf)
      l = l * o_scale + std::exp(sink - m_sink);
      m = m_sink;
    }
    if (l == 0.0f) {  // no visible key and no sink: out = 0, lse = -inf
      *lse = -std::numeric_limits<float>::infinity();
      return 0.0f;
    }
    *lse = m + std::log(l);
    return o_scale / l;
  }

 private:
  float* m_;
  float* l_;
  float* alpha_;
  index_t cols_;
};

}  // namespace attnkit::softmax
