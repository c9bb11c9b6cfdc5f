// SPDX-License-Identifier: Apache-2.0
// detail::delta_chunked: the (gated) delta rule chunk by chunk through the WY / UT representation,
// every product with the state a GEMM on the tile:: micro-kernel.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>

#include <attnkit/core/aligned_buffer.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/linear/delta_segment.hpp>
#include <attnkit/simd/arch.hpp>
#include <attnkit/simd/exp.hpp>
#include <attnkit/tile/gemm_tile.hpp>
#include <attnkit/tile/tile_config.hpp>

namespace attnkit::detail {

/// The chunkwise delta rule (DeltaNet parallelised over sequence length, arXiv 2406.06484 §3.2;
/// gated: arXiv 2412.06464 §3.3) with one thread's scratch.
///
/// A chunk holds tokens 0..n-1 (n <= C) and meets the state S (the state before its first
/// token). Let G_t = g_0 + ... + g_t (0 without gates) and Γ_ts = e^{G_t - G_s} for s <= t,
/// computed as e^{g_{s+1} + ... + g_t}: a sum over later positions only, so the exponent is
/// <= 0 for log gates <= 0 and nothing overflows or cancels (a gate of -inf zeroes Γ_ts past it
/// instead of giving inf - inf). Unrolling S_t = e^{g_t} S_{t-1} + k_t u_tᵀ:
///   S_t = e^{G_t} S + sum_{s<=t} Γ_ts k_s u_sᵀ,
///   u_t = beta_t (v_t - e^{G_t} Sᵀ k_t - sum_{s<t} Γ_ts (k_t . k_s) u_s).
/// With A_ts = beta_t Γ_ts (k_t . k_s) for s < t (0 elsewhere), that is (I + A) U = B V -
/// B E K S with B = diag(beta), E = diag(e^{G}); so with the UT transform T = (I + A)^{-1}
/// (unit lower triangular, by forward substitution), W = T B E K and U0 = T B V:
///   U' = U0 - W S                                   [n x V], the true u_t of the chunk
///   O  = E (scale Q) S + P U',  P_ts = scale Γ_ts (q_t . k_s) for s <= t (t itself included:
///                                o_t reads S_t, which already holds token t)
///   S_next = e^{G_{n-1}} S + Kᵀ diag(Γ_{n-1, s}) U'.
/// The three products with S (W S, Q S, Kᵀ U') cost 3 K V FMAs per token, as the recurrence
/// does; the rest (Q Kᵀ, K Kᵀ, T [B E K | B V], P U') cost about C (2K + V) per token with the
/// triangles skipped. Everything but T is a tile::gemm; T is C^3/6 vector FMAs.
template <class Arch>
class delta_chunked {
  using cfg = tile::tile_config<Arch>;
  using batch = xsimd::batch<float, Arch>;
  static constexpr int kRows = cfg::kRows;
  static constexpr int kVecs = cfg::kVecs;
  static constexpr index_t kCols = cfg::kCols;
  static constexpr index_t kWidth = cfg::kWidth;

  static index_t round_up(index_t n) { return (n + kCols - 1) / kCols * kCols; }

 public:
  delta_chunked(index_t K, index_t V, index_t C, float scale)
      : K_(K), V_(V), C_(C), kp_(round_up(K)), vp_(round_up(V)), cp_(round_up(C)),
        ldwu_(kp_ + vp_), scale_(scale), state_(size(K, vp_)), kt_(size(K, cp_)),
        kk_(size(C, cp_)), p_(size(C, cp_)), t_(size(C, cp_)), kvb_(size(C, ldwu_)),
        wu_(size(C, ldwu_)), o_(size(C, vp_)), ones_(size(1, vp_)), decay_(size(1, vp_)),
        eg_(size(1, cp_)), glast_(size(1, cp_)), gamma_(size(1, cp_)) {
    for (const auto* buf : {&state_, &kt_, &kk_, &p_, &t_, &kvb_, &wu_, &o_, &eg_, &glast_, &gamma_})
      std::fill_n(buf->data(), buf->size(), 0.0f);
    std::fill_n(ones_.data(), vp_, 1.0f);
  }

  /// Runs every chunk of `s`, from s.s0 (zero when null) to s.s1 (when not null).
  void run(const delta_segment& s) {
    for (index_t i = 0; i < K_; ++i) {
      float* row = state_.data() + i * vp_;
      for (index_t j = 0; j < V_; ++j) row[j] = s.s0 ? s.s0[i * s.s0_row + j * s.s0_col] : 0.0f;
      std::fill(row + V_, row + vp_, 0.0f);
    }
    bool has_state = s.s0 != nullptr;
    for (index_t t0 = 0; t0 < s.T; t0 += C_) {
      const index_t n = std::min(C_, s.T - t0);
      chunk(s, t0, n, has_state, t0 + n < s.T || s.s1 != nullptr);
      has_state = true;
    }
    if (s.s1 != nullptr)
      for (index_t i = 0; i < K_; ++i)
        for (index_t j = 0; j < V_; ++j) s.s1[i * s.s1_row + j * s.s1_col] = state_[std::size_t(i * vp_ + j)];
  }

 private:
  static std::size_t size(index_t rows, index_t cols) { return static_cast<std::size_t>(rows * cols); }

  /// C[t][s] = sum_k A(t, k) B[k][s] for the column panels of kCols that hold some s <= t:
  /// panel c0 takes rows c0..n-1 only, so the upper triangle is (mostly) skipped.
  static void lower_panels(index_t n, index_t K, tile::a_operand a, const float* b, index_t ldb,
                           float* c, index_t ldc) noexcept {
    for (index_t c0 = 0; c0 < n; c0 += kCols)
      tile::gemm<Arch, kRows, kVecs>(n - c0, kCols, K, {a.data + c0 * a.row_stride, a.row_stride, a.k_stride},
                                     b + c0, ldb, c + c0 * ldc + c0, ldc, nullptr);
  }

  /// C (+)= L B for L [n x n] lower triangular (row stride ldl, zero above the diagonal): each
  /// strip of kRows rows sums over the k up to its last row only.
  static void lower_rows(index_t n, index_t cols, const float* l, index_t ldl, const float* b,
                         index_t ldb, float* c, index_t ldc, const float* col_scale) noexcept {
    for (index_t r0 = 0; r0 < n; r0 += kRows) {
      const index_t rows = std::min<index_t>(kRows, n - r0);
      tile::gemm<Arch, kRows, kVecs>(rows, cols, r0 + rows, {l + r0 * ldl, ldl, 1}, b, ldb,
                                     c + r0 * ldc, ldc, col_scale);
    }
  }

  /// dst[0..m) += f * src[0..m), m rounded up to the batch width (both rows padded and aligned).
  static void axpy(float* dst, float f, const float* src, index_t m) noexcept {
    const batch x(f);
    for (index_t j = 0; j < m; j += kWidth)
      xsimd::fma(x, batch::load_aligned(src + j), batch::load_aligned(dst + j)).store_aligned(dst + j);
  }

  void chunk(const delta_segment& s, index_t t0, index_t n, bool has_state, bool update_state) {
    const float* kc = s.k + t0 * s.k_stride;
    const float* qc = s.q + t0 * s.q_stride;
    const float* vc = s.v + t0 * s.v_stride;
    const float* bc = s.beta + t0 * s.beta_stride;
    const float* gc = s.g ? s.g + t0 * s.g_stride : nullptr;
    const index_t ncp = round_up(n);
    auto beta = [&](index_t t) { return bc[t * s.beta_stride]; };
    auto gate = [&](index_t t) { return gc[t * s.g_stride]; };

    // KT: [K x cp] the chunk's keys transposed, columns n..ncp-1 zero.
    for (index_t i = 0; i < K_; ++i) {
      float* row = kt_.data() + i * cp_;
      for (index_t t = 0; t < n; ++t) row[t] = kc[t * s.k_stride + i];
      std::fill(row + n, row + ncp, 0.0f);
    }
    // KK = K Kᵀ, P = Q Kᵀ: [n x ncp], the lower triangles.
    lower_panels(n, K_, {kc, s.k_stride, 1}, kt_.data(), cp_, kk_.data(), cp_);
    lower_panels(n, K_, {qc, s.q_stride, 1}, kt_.data(), cp_, p_.data(), cp_);

    // eg_t = e^{G_t}.
    float G = 0.0f;
    for (index_t t = 0; t < n; ++t) {
      if (gc) G += gate(t);
      eg_[std::size_t(t)] = gc ? std::exp(G) : 1.0f;
    }
    // Row by row: Γ_t. (gamma_), P_t. = scale Γ_t. (q_t . k_.) masked to s <= t, and row t of
    // T = (I + A)^{-1}: T_t. = e_t - sum_{s<t} A_ts T_s. (T_s. is zero past s).
    float* gam = gamma_.data();
    for (index_t t = 0; t < n; ++t) {
      const index_t width = (t + kWidth) / kWidth * kWidth;  // covers 0..t
      if (gc) {
        float x = 0.0f;
        for (index_t j = t; j >= 0; --j) {
          gam[j] = x;
          x += gate(j);
        }
        std::fill(gam + t + 1, gam + width, 0.0f);
        for (index_t j = 0; j < width; j += kWidth)
          simd::exp<Arch>(batch::load_aligned(gam + j)).store_aligned(gam + j);
      } else {
        std::fill(gam, gam + t + 1, 1.0f);
      }
      float* p = p_.data() + t * cp_;
      for (index_t j = 0; j <= t; ++j) p[j] = scale_ * gam[j] * p[j];
      std::fill(p + t + 1, p + ncp, 0.0f);
      const float* kk = kk_.data() + t * cp_;
      float* tr = t_.data() + t * cp_;
      std::fill(tr, tr + ncp, 0.0f);
      const float bt = beta(t);
      for (index_t j = 0; j < t; ++j) {
        const float a = bt * gam[j] * kk[j];
        if (a != 0.0f) axpy(tr, -a, t_.data() + j * cp_, j + 1);
      }
      tr[t] = 1.0f;
      if (t == n - 1)
        for (index_t j = 0; j < n; ++j) glast_[std::size_t(j)] = gam[j];
    }

    // KVb [n x ldwu]: row s = [-beta_s e^{G_s} k_s | beta_s v_s], each part zero-padded. The
    // minus sign makes the first half of WU = T KVb hold -W, so U' = U0 + (-W) S is a GEMM
    // update of U0 in place.
    for (index_t t = 0; t < n; ++t) {
      float* row = kvb_.data() + t * ldwu_;
      const float bk = -beta(t) * eg_[std::size_t(t)], bv = beta(t);
      for (index_t i = 0; i < K_; ++i) row[i] = bk * kc[t * s.k_stride + i];
      std::fill(row + K_, row + kp_, 0.0f);
      for (index_t j = 0; j < V_; ++j) row[kp_ + j] = bv * vc[t * s.v_stride + j];
      std::fill(row + kp_ + V_, row + ldwu_, 0.0f);
    }
    // WU = T KVb = [-W | U0]: [n x ldwu].
    lower_rows(n, ldwu_, t_.data(), cp_, kvb_.data(), ldwu_, wu_.data(), ldwu_, nullptr);
    float* u = wu_.data() + kp_;  // U' [n x vp], row stride ldwu

    if (has_state) {
      // U' = U0 + (-W) S; O = E (scale Q) S + P U'.
      tile::gemm<Arch, kRows, kVecs>(n, vp_, K_, {wu_.data(), ldwu_, 1}, state_.data(), vp_, u,
                                     ldwu_, ones_.data());
      tile::gemm<Arch, kRows, kVecs>(n, vp_, K_, {qc, s.q_stride, 1}, state_.data(), vp_,
                                     o_.data(), vp_, nullptr);
      for (index_t t = 0; t < n; ++t) {
        const batch f(scale_ * eg_[std::size_t(t)]);
        float* o = o_.data() + t * vp_;
        for (index_t j = 0; j < vp_; j += kWidth) (f * batch::load_aligned(o + j)).store_aligned(o + j);
      }
      lower_rows(n, vp_, p_.data(), cp_, u, ldwu_, o_.data(), vp_, ones_.data());
    } else {
      lower_rows(n, vp_, p_.data(), cp_, u, ldwu_, o_.data(), vp_, nullptr);
    }
    for (index_t t = 0; t < n; ++t)
      std::memcpy(s.out + (t0 + t) * s.out_stride, o_.data() + t * vp_, std::size_t(V_) * sizeof(float));

    if (!update_state) return;
    // S = e^{G_{n-1}} S + Kᵀ diag(Γ_{n-1, .}) U'.
    const float* col_scale = ones_.data();
    if (gc) {
      for (index_t t = 0; t < n; ++t) {
        const batch f(glast_[std::size_t(t)]);
        float* row = u + t * ldwu_;
        for (index_t j = 0; j < vp_; j += kWidth) (f * batch::load_aligned(row + j)).store_aligned(row + j);
      }
      std::fill_n(decay_.data(), vp_, eg_[std::size_t(n - 1)]);
      col_scale = decay_.data();
    }
    tile::gemm<Arch, kRows, kVecs>(K_, vp_, n, {kc, 1, s.k_stride}, u, ldwu_, state_.data(), vp_,
                                   col_scale);
  }

  index_t K_, V_, C_, kp_, vp_, cp_, ldwu_;
  float scale_;
  aligned_buffer<float> state_, kt_, kk_, p_, t_, kvb_, wu_, o_, ones_, decay_, eg_, glast_, gamma_;
};

}  // namespace attnkit::detail
