// SPDX-License-Identifier: Apache-2.0
// detail::backward_queries: the query side of the flash backward, packed once per query block
// (scaled Q and dO, both plain and transposed, lse, the row term D) with the block's dQ
// accumulator and the turn counter that orders the key blocks' dQ updates.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include <attnkit/core/aligned_buffer.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/simd/arch.hpp>
#include <attnkit/tile/gemm_tile.hpp>
#include <attnkit/tile/pack.hpp>

namespace attnkit::detail {

/// The leading dimension of a row-major fp32 tile of `cols` columns read as the B operand of
/// tile::gemm: a whole number of kCols panels, plus one extra panel when the rows would be a
/// multiple of 512 bytes apart (the panel's rows would then fall into 8 of the 64 L1 sets).
template <index_t kCols>
constexpr index_t panel_ld(index_t cols) noexcept {
  const index_t padded = (cols + kCols - 1) / kCols * kCols;
  return padded % 128 == 0 ? padded + kCols : padded;
}

/// n query blocks of kBlockQ queries, each with, in one allocation:
/// - Qsᵀ [D x kBlockQ] in column panels of kCols (the B operand of Sᵀ = K Qsᵀ), Qs = scale * Q;
/// - Qs [kBlockQ x ldq()] row-major (the B operand of dK += dSᵀ Qs);
/// - dOᵀ [Dv x kBlockQ] in panels (dPᵀ = V dOᵀ) and dO [kBlockQ x ldo()] (dV += Pᵀ dO);
/// - lse and the row term D_i = <dO_i, O_i> - dlse_i per query;
/// - the dQ accumulator [kBlockQ x ldq()], and a counter of the key blocks that have added to it.
/// Queries past a block's end are zero, with lse = +inf, so their probabilities are 0. Config
/// gives kBlockQ, the panel width kCols and the micro-kernel shape (tile::tile_config).
template <class Arch, class Config>
class backward_queries {
  static constexpr index_t kBlockQ = Config::kBlockQ;
  static constexpr index_t kCols = Config::kCols;

 public:
  backward_queries(index_t n, index_t D, index_t Dv)
      : D_(D), Dv_(Dv), ldq_(panel_ld<kCols>(D)), ldo_(panel_ld<kCols>(Dv)),
        stride_(floats_per_block(D, Dv)), data_(std::size_t(n * stride_)),
        turns_(std::make_unique<std::atomic<int>[]>(std::size_t(n))), finite_(std::size_t(n)) {}

  /// The floats one block takes (a multiple of kBlockQ, so every part stays aligned).
  static constexpr index_t floats_per_block(index_t D, index_t Dv) noexcept {
    return kBlockQ * (D + Dv + 2 * panel_ld<kCols>(D) + panel_ld<kCols>(Dv) + 2);
  }

  index_t ldq() const noexcept { return ldq_; }
  index_t ldo() const noexcept { return ldo_; }

  const float* qt(index_t b) const { return block(b); }
  const float* q_panel(index_t b, index_t c) const { return qt(b) + c * D_; }
  const float* qs(index_t b) const { return qt(b) + kBlockQ * D_; }
  const float* dot_panel(index_t b, index_t c) const { return qs(b) + kBlockQ * ldq_ + c * Dv_; }
  const float* dout(index_t b) const { return qs(b) + kBlockQ * (ldq_ + Dv_); }
  const float* lse(index_t b) const { return dout(b) + kBlockQ * ldo_; }
  const float* row_term(index_t b) const { return lse(b) + kBlockQ; }
  float* dq(index_t b) { return block(b) + (stride_ - kBlockQ * ldq_); }
  /// Whether every packed Q, dO and lse value of block b is finite (an empty row's -inf aside).
  bool finite(index_t b) const noexcept { return finite_[std::size_t(b)] != 0; }

  /// Packs queries [0, nq) of one head into block b: q, out and dout rows `*_stride` elements
  /// apart, lse and dlse (may be null) `lse_stride` apart. Zeroes the dQ accumulator.
  template <class T>
  void pack(index_t b, index_t nq, const T* q, index_t q_stride, const T* out, index_t out_stride,
            const T* dout, index_t dout_stride, const float* lse, const float* dlse,
            index_t lse_stride, float scale) {
    float* base = block(b);
    float* qt_p = base;
    float* qs_p = qt_p + kBlockQ * D_;
    float* dot_p = qs_p + kBlockQ * ldq_;
    float* do_p = dot_p + kBlockQ * Dv_;
    float* lse_p = do_p + kBlockQ * ldo_;
    float* term_p = lse_p + kBlockQ;
    float* dq_p = term_p + kBlockQ;
    tile::pack_transposed_panels<kCols>(q, q_stride, nq, D_, scale, qt_p, kBlockQ);
    tile::pack_transposed_panels<kCols>(dout, dout_stride, nq, Dv_, 1.0f, dot_p, kBlockQ);
    bool ok = tile::copy_rows<Arch>(dout, dout_stride, nq, Dv_, do_p, ldo_, kBlockQ);
    ok = tile::copy_rows<Arch>(q, q_stride, nq, D_, qs_p, ldq_, kBlockQ) && ok;
    for (index_t i = 0; i < nq; ++i) {
      float* row = qs_p + i * ldq_;
      for (index_t d = 0; d < D_; ++d) row[d] *= scale;
    }
    row_terms(nq, out, out_stride, dot_p, term_p);
    for (index_t i = 0; i < kBlockQ; ++i) {
      if (i >= nq) {
        lse_p[i] = std::numeric_limits<float>::infinity();
        term_p[i] = 0.0f;
        continue;
      }
      // An empty row (lse = -inf) has every logit -inf: +inf keeps its probabilities at 0. A
      // NaN lse (a row that saw a NaN) makes the block take the pair-by-pair path.
      const float l = lse[i * lse_stride];
      lse_p[i] = l == -std::numeric_limits<float>::infinity() ? -l : l;
      ok = ok && !std::isnan(l) && l != std::numeric_limits<float>::infinity();
      if (dlse) term_p[i] -= dlse[i * lse_stride];
    }
    std::memset(static_cast<void*>(dq_p), 0, std::size_t(kBlockQ * ldq_) * sizeof(float));
    finite_[std::size_t(b)] = ok;
    turns_[std::size_t(b)].store(0, std::memory_order_relaxed);
  }

  /// Blocks until `done` key blocks have added to block b's dQ.
  void wait_turn(index_t b, int done) const noexcept {
    std::atomic<int>& t = turns_[std::size_t(b)];
    for (int spins = 0;; ++spins) {
      const int now = t.load(std::memory_order_acquire);
      if (now == done) return;
      if (spins > 64) t.wait(now, std::memory_order_acquire);
    }
  }
  /// Lets the next key block add to block b's dQ.
  void pass_turn(index_t b) const noexcept {
    turns_[std::size_t(b)].fetch_add(1, std::memory_order_release);
    turns_[std::size_t(b)].notify_all();
  }

 private:
  float* block(index_t b) const { return data_.data() + b * stride_; }

  /// term[i] = <dO_i, O_i> for queries [0, nq), computed by the micro-kernel of the
  /// dPᵀ = V dOᵀ product, with O rows in place of V rows: the products O dOᵀ of each panel,
  /// whose diagonal is the row term. So where O_i equals the one V row its query sees,
  /// dP - D is exactly 0, as in exact arithmetic, on every arch (a separate dot product sums
  /// in another order, and without hardware FMA the compiler may fuse one and not the other).
  /// kCols times the needed products, once per query block: a few per mille of the backward.
  template <class T>
  void row_terms(index_t nq, const T* out, index_t out_stride, const float* dot, float* term) {
    aligned_buffer<float> rows(std::size_t(kCols * Dv_)), products(std::size_t(kCols * kCols));
    for (index_t c = 0; c < nq; c += kCols) {
      const index_t n = std::min(kCols, nq - c);
      tile::copy_rows<Arch>(out + c * out_stride, out_stride, n, Dv_, rows.data(), Dv_, n);
      tile::gemm<Arch, Config::kRows, Config::kVecs>(n, kCols, Dv_, {rows.data(), Dv_, 1},
                                                     dot + c * Dv_, kCols, products.data(), kCols,
                                                     nullptr);
      for (index_t r = 0; r < n; ++r) term[c + r] = products[std::size_t(r * kCols + r)];
    }
  }

  index_t D_, Dv_, ldq_, ldo_, stride_;
  aligned_buffer<float> data_;
  std::unique_ptr<std::atomic<int>[]> turns_;
  std::vector<char> finite_;
};

}  // namespace attnkit::detail
