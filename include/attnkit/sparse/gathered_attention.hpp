// SPDX-License-Identifier: Apache-2.0
// detail::gathered_attention: exact softmax attention of a group of query rows over a list of
// gathered key rows with a per-pair visibility, the engine of routing, LSH and landmark attention.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>

#include <attnkit/core/aligned_buffer.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/softmax/online_softmax.hpp>
#include <attnkit/tile/axpy_rows.hpp>
#include <attnkit/tile/dot_rows.hpp>
#include <attnkit/tile/gemm_tile.hpp>
#include <attnkit/tile/tile_config.hpp>

namespace attnkit::detail {

/// Attention of up to kMaxCols query rows (the columns) over n key rows given by pointers, in
/// blocks of kBlockK keys: Sᵀ = K Qᵀ, the invisible pairs set to -inf, online softmax down the
/// columns, Oᵀ = Oᵀ diag(alpha) + Vᵀ Pᵀ. The keys need not be contiguous: a cluster, a bucket or
/// a set of blocks is visited through row pointers. Two paths, chosen per group:
/// - up to kSmall queries (decode): the decode micro-kernels, tile::dot_rows and
///   tile::axpy_rows, reading K and V rows in place;
/// - more: each block's K and V rows are copied contiguous and both products run on the flash
///   micro-kernel (tile::gemm, queries as columns). At B1 H4 N2048 D64 on Zen 3 (a shared
///   machine, CPU time) routing attention with 8 clusters went from 42 to 32 ms with it; the
///   decode kernels' horizontal sums make them a slow GEMM.
/// fp32 throughout.
///
/// Visibility is an object with `bool all(t0, t1)` (every column sees keys [t0, t1) of the list:
/// no masking needed), `bool sees(c, t)` and `mask(s, lds, t0, nb)`, which sets
/// s[t * lds + c] = -inf for every column c < m that does not see key t0 + t, t < nb. A column that sees no key ends with out = 0 and
/// lse = -inf (DESIGN 1.3 rule 4); NaN in a visible q, k or v reaches its column only (rule 5).
template <class Arch>
class gathered_attention {
  using batch = xsimd::batch<float, Arch>;
  static constexpr index_t kWidth = static_cast<index_t>(batch::size);
  using config = tile::tile_config<Arch>;

 public:
  static constexpr index_t kBlockK = 64;   ///< keys per softmax update
  static constexpr index_t kMaxCols = 64;  ///< query rows per group (a multiple of every kCols)
  static constexpr index_t kSmall = 8;     ///< groups up to this size take the decode kernels
  static_assert(kMaxCols % config::kCols == 0, "kMaxCols must be a multiple of the tile width.");

  gathered_attention(index_t D, index_t Dv)
      : D_(D), Dv_(Dv), ldq_(round_up(D, kWidth)), ldo_(round_up(Dv, kWidth)),
        q_(std::size_t(std::max(kSmall * ldq_, D * kMaxCols))),
        o_(std::size_t(std::max(kSmall * ldo_, Dv * kMaxCols))),
        s_(std::size_t(kBlockK * kMaxCols)), kp_(std::size_t(kBlockK * D)),
        vp_(std::size_t(kBlockK * Dv)), m_(kMaxCols), l_(kMaxCols), alpha_(kMaxCols) {
    std::fill(s_.data(), s_.data() + s_.size(), 0.0f);
  }

  /// Starts a group of m <= kMaxCols queries: q_rows[c] points to D floats, scaled by `scale`.
  void start(index_t m, const float* const* q_rows, float scale) {
    m_cols_ = m;
    gemm_ = m > kSmall;
    m4_ = round_up(std::max<index_t>(m, 1), 4);
    if (gemm_) {  // Qᵀ: [D x cols_], Oᵀ: [Dv x cols_], queries as columns
      cols_ = round_up(m, config::kCols);
      std::fill(q_.data(), q_.data() + D_ * cols_, 0.0f);
      std::fill(o_.data(), o_.data() + Dv_ * cols_, 0.0f);
      for (index_t d = 0; d < D_; ++d)  // contiguous stores; the m rows (<= 64 x D) stay in L1
        for (index_t c = 0; c < m; ++c) q_[std::size_t(d * cols_ + c)] = scale * q_rows[c][d];
    } else {  // Q: [m4_ x ldq_], O: [m4_ x ldo_], a query per row
      cols_ = round_up(std::max<index_t>(m, 1), kWidth);
      std::fill(q_.data(), q_.data() + m4_ * ldq_, 0.0f);
      std::fill(o_.data(), o_.data() + m4_ * ldo_, 0.0f);
      for (index_t c = 0; c < m; ++c)
        for (index_t d = 0; d < D_; ++d) q_[std::size_t(c * ldq_ + d)] = scale * q_rows[c][d];
    }
    softmax().reset();
  }

  /// Folds keys [0, n) of the list (rows kr, vr) into the group's state.
  template <class Visibility>
  void visit(const float* const* kr, const float* const* vr, index_t n, const Visibility& vis) {
    for (index_t t0 = 0; t0 < n; t0 += kBlockK) {
      const index_t nb = std::min(kBlockK, n - t0);
      // S: [nb x cols_] fp32, key t of the block in row t, query c in column c
      if (gemm_) {
        for (index_t t = 0; t < nb; ++t) {  // K, V blocks: [nb x D], [nb x Dv], contiguous
          std::copy_n(kr[t0 + t], D_, kp_.data() + t * D_);
          std::copy_n(vr[t0 + t], Dv_, vp_.data() + t * Dv_);
        }
        tile::gemm<Arch, config::kRows, config::kVecs>(nb, cols_, D_, {kp_.data(), D_, 1}, q_.data(),
                                                       cols_, s_.data(), cols_, nullptr);
      } else {
        tile::dot_rows<Arch>(nb, m4_, D_, kr + t0, nullptr, q_.data(), ldq_, s_.data(), cols_);
      }
      const bool masked = !vis.all(t0, t0 + nb);
      if (masked) vis.mask(s_.data(), cols_, t0, nb);
      softmax().update(s_.data(), cols_, nb);
      if (masked && !(gemm_ ? finite_block(nb) : finite_rows(vr + t0, nb)))
        masked_axpy(vr + t0, nb, t0, vis);
      else if (gemm_)  // Oᵀ = Oᵀ diag(alpha) + Vᵀ Pᵀ: A = Vᵀ [Dv x nb], B = P [nb x cols_]
        tile::gemm<Arch, config::kRows, config::kVecs>(Dv_, cols_, nb, {vp_.data(), 1, Dv_}, s_.data(),
                                                       cols_, o_.data(), cols_, alpha_.data());
      else
        tile::axpy_rows<Arch>(nb, m4_, Dv_, vr + t0, nullptr, s_.data(), cols_, alpha_.data(),
                              o_.data(), ldo_);
    }
  }

  /// Ends column c: writes its Dv outputs to `out` (stride 1) and returns its lse (natural log;
  /// -inf and out = 0 when it saw no key).
  float finish(index_t c, float* out) const {
    float lse;
    const float f = softmax().finish(c, &lse);
    if (lse == -std::numeric_limits<float>::infinity())
      std::fill(out, out + Dv_, 0.0f);
    else
      for (index_t d = 0; d < Dv_; ++d) out[d] = o_at(c, d) * f;
    return lse;
  }

 private:
  static index_t round_up(index_t x, index_t to) { return (x + to - 1) / to * to; }

  /// Output accumulator d of column c, in either path's layout.
  float& o_at(index_t c, index_t d) const noexcept {
    return gemm_ ? o_[std::size_t(d * cols_ + c)] : o_[std::size_t(c * ldo_ + d)];
  }

  softmax::online_softmax<Arch> softmax() const {
    return {m_.data(), l_.data(), alpha_.data(), cols_};
  }

  /// Whether the copied V block (nb x Dv, contiguous) is finite: x - x is 0 for finite x and
  /// NaN otherwise, and a sum of those stays 0 or turns NaN.
  bool finite_block(index_t nb) const noexcept {
    const index_t size = nb * Dv_, full = size / kWidth * kWidth;
    batch acc(0.0f);
    for (index_t x = 0; x < full; x += kWidth) {
      const batch v = batch::load_aligned(vp_.data() + x);
      acc += v - v;
    }
    float rest = 0.0f;
    for (index_t x = full; x < size; ++x) rest += vp_[std::size_t(x)] - vp_[std::size_t(x)];
    return xsimd::hadd(acc) + rest == 0.0f;
  }

  bool finite_rows(const float* const* rows, index_t n) const noexcept {
    for (index_t t = 0; t < n; ++t)
      for (index_t d = 0; d < Dv_; ++d)
        if (!std::isfinite(rows[t][d])) return false;
    return true;
  }

  /// O update over each column's visible keys only: a full product would add 0 x NaN to the
  /// columns that do not see a non-finite V row. Scalar; it runs on non-finite input only.
  template <class Visibility>
  void masked_axpy(const float* const* rows, index_t n, index_t t0, const Visibility& vis) {
    for (index_t c = 0; c < m_cols_; ++c) {
      for (index_t d = 0; d < Dv_; ++d) o_at(c, d) *= alpha_[std::size_t(c)];
      for (index_t t = 0; t < n; ++t) {
        if (!vis.sees(c, t0 + t)) continue;
        const float w = s_[std::size_t(t * cols_ + c)];
        for (index_t d = 0; d < Dv_; ++d) o_at(c, d) += w * rows[t][d];
      }
    }
  }

  index_t D_, Dv_, ldq_, ldo_;
  index_t m_cols_ = 0, m4_ = 4, cols_ = kWidth;
  bool gemm_ = false;
  aligned_buffer<float> q_, o_, s_, kp_, vp_, m_, l_, alpha_;
};

/// The visibility of a group whose column c sees the first n[c] keys of the list, n
/// non-decreasing over the columns (queries and keys sorted by position, causal or not).
struct prefix_visibility {
  const index_t* n;
  index_t m;
  bool all(index_t, index_t t1) const { return m == 0 || n[0] >= t1; }
  bool sees(index_t c, index_t t) const { return t < n[c]; }
  /// Key t is hidden from the leading columns with n[c] <= t (n is non-decreasing).
  void mask(float* s, index_t lds, index_t t0, index_t nb) const noexcept {
    for (index_t t = 0; t < nb; ++t)
      for (index_t c = 0; c < m && n[c] <= t0 + t; ++c)
        s[t * lds + c] = -std::numeric_limits<float>::infinity();
  }
};

/// The number of keys among the sorted positions [pos, pos + count) that a query at position
/// i sees: all of them, or (causal, bottom-right with offset o) those <= i + o.
inline index_t visible_prefix(const index_t* pos, index_t count, bool causal, index_t i,
                              index_t o) {
  if (!causal) return count;
  return static_cast<index_t>(std::upper_bound(pos, pos + count, i + o) - pos);
}

}  // namespace attnkit::detail
