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
#include <attnkit/linear/gla_gemm.hpp>
#include <attnkit/simd/arch.hpp>
#include <attnkit/simd/exp.hpp>
#include <attnkit/tile/gemm_tile.hpp>
#include <attnkit/tile/pack.hpp>
#include <attnkit/tile/prefetch.hpp>
#include <attnkit/tile/transpose_8x8.hpp>
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
/// With A_ts = beta_t Γ_ts (k_t . k_s) for s < t (0 elsewhere), B = diag(beta), E = diag(e^{G}):
///   (I + A) U = B V - B E K S,  so with the UT transform T = (I + A)^{-1} (unit lower triangular,
///   by forward substitution):
///   U = T X,  X = B V - (B E K) S                   [n x V], the true u_t of the chunk
///   O = E (scale Q) S + P U,  P_ts = scale Γ_ts (q_t . k_s) for s <= t (t itself included:
///                             o_t reads S_t, which already holds token t)
///   S_next = e^{G_{n-1}} S + Kᵀ diag(Γ_{n-1, .}) U.
/// The WY form W = T B E K (U = T B V - W S) costs C K more per token than applying T to X:
/// the two products with S share one GEMM, Y = [B E K ; Q] S with 2n rows.
/// Per token: 3 K V FMAs with S (as many as the recurrence), plus about C (K + V) for Q Kᵀ,
/// K Kᵀ, T X and P U with the triangles (mostly) skipped, plus C²/6 for T. Everything but T is
/// a tile::gemm.
template <class Arch>
class delta_chunked {
  using cfg = tile::tile_config<Arch>;
  using batch = xsimd::batch<float, Arch>;
  static constexpr int kRows = cfg::kRows;
  static constexpr int kVecs = cfg::kVecs;
  static constexpr index_t kCols = cfg::kCols;
  static constexpr index_t kWidth = cfg::kWidth;

  /// Value columns are padded to whole tiles of both products: tile::gemm's kCols and gla_gemm's
  /// 16-column panels.
  static constexpr index_t kVAlign = kCols > 16 ? kCols : 16;

  static index_t round_up(index_t n, index_t to = kCols) { return (n + to - 1) / to * to; }

 public:
  delta_chunked(index_t K, index_t V, index_t C, float scale)
      : K_(K), V_(V), C_(C), kp_(round_up(K)), vp_(round_up(V, kVAlign)), cp_(round_up(C)),
        scale_(scale), aq_(size(2 * C, kp_)), kc_(size(cp_, kp_)),
        kt_(size(kp_, cp_)), kk_(size(C, cp_)), p_(size(C, cp_)), t_(size(C, cp_)),
        y_(size(2 * C, vp_)), x_(size(C, vp_)), u_(size(C, vp_)), ones_(size(1, vp_)),
        decay_(size(1, vp_)), eg_(size(1, cp_)), glast_(size(1, cp_)), gamma_(size(1, cp_)), arow_(size(1, cp_)) {
    for (const auto* buf : {&aq_, &kc_, &kt_, &kk_, &p_, &t_, &y_, &x_, &u_, &eg_, &glast_, &gamma_, &arow_})
      std::fill_n(buf->data(), buf->size(), 0.0f);
    std::fill_n(ones_.data(), vp_, 1.0f);
  }

  /// Runs every chunk of `count` segments of equal length (the heads of one sequence), from
  /// s0 (zero when null) to s1 (when not null), chunk by chunk with the heads interleaved: the
  /// rows of a BSHD tensor at one token then share pages and lines from head to head (as in
  /// gla_chunked), and the next head's rows are prefetched while a chunk computes.
  void run(const delta_segment* segs, index_t count) {
    if (count > heads_) {
      heads_ = count;
      states_ = aligned_buffer<float>(size(heads_ * K_, vp_));
    }
    for (index_t h = 0; h < count; ++h) {
      const delta_segment& s = segs[h];
      for (index_t i = 0; i < K_; ++i) {
        float* row = state(h) + i * vp_;
        for (index_t j = 0; j < V_; ++j) row[j] = s.s0 ? s.s0[i * s.s0_row + j * s.s0_col] : 0.0f;
        std::fill(row + V_, row + vp_, 0.0f);
      }
    }
    const index_t T = segs[0].T;
    for (index_t t0 = 0; t0 < T; t0 += C_)
      for (index_t h = 0; h < count; ++h) {
        const delta_segment& s = segs[h];
        const index_t n = std::min(C_, T - t0);
        const bool last = h + 1 == count;
        next_rows next = prefetch_next(last ? segs[0] : segs[h + 1], last ? t0 + C_ : t0);
        chunk(s, h, t0, n, t0 > 0 || s.s0 != nullptr, t0 + n < T || s.s1 != nullptr, next);
      }
    for (index_t h = 0; h < count; ++h) {
      const delta_segment& s = segs[h];
      if (s.s1 == nullptr) continue;
      for (index_t i = 0; i < K_; ++i)
        for (index_t j = 0; j < V_; ++j) s.s1[i * s.s1_row + j * s.s1_col] = state(h)[i * vp_ + j];
    }
  }

 private:
  static std::size_t size(index_t rows, index_t cols) { return static_cast<std::size_t>(rows * cols); }

  /// The state of head h, [K x vp].
  float* state(index_t h) const { return states_.data() + h * K_ * vp_; }

  /// Prefetchers of a chunk's rows of q, k, v, beta and g: rows of a BSHD tensor sit H rows
  /// apart, which the hardware prefetchers do not follow.
  struct next_rows {
    tile::row_prefetcher q, k, v, beta, g;
    void step(index_t rows) noexcept { q.step(rows), k.step(rows), v.step(rows), beta.step(rows), g.step(rows); }
  };

  /// The rows of the chunk at t1 of s (computed next), none past its end.
  next_rows prefetch_next(const delta_segment& s, index_t t1) const {
    if (t1 >= s.T) return {};
    const index_t n = std::min(C_, s.T - t1);
    auto rows = [&](const float* x, index_t stride, index_t floats) {
      if (x == nullptr) return tile::row_prefetcher{};
      return tile::row_prefetcher(x + t1 * stride, stride * index_t(sizeof(float)), n, floats * index_t(sizeof(float)));
    };
    return {rows(s.q, s.q_stride, K_), rows(s.k, s.k_stride, K_), rows(s.v, s.v_stride, V_),
            rows(s.beta, s.beta_stride, 1), rows(s.g, s.g_stride, 1)};
  }

  /// C[t][s] = sum_k A(t, k) B[k][s] for the column panels of kCols that hold some s <= t:
  /// panel c0 takes rows c0..n-1 only, so the upper triangle is (mostly) skipped.
  static void lower_panels(index_t n, index_t K, tile::a_operand a, const float* b, index_t ldb,
                           float* c, index_t ldc) noexcept {
    for (index_t c0 = 0; c0 < n; c0 += kCols)
      tile::gemm<Arch, kRows, kVecs>(n - c0, kCols, K, {a.data + c0 * a.row_stride, a.row_stride, a.k_stride},
                                     b + c0, ldb, c + c0 * ldc + c0, ldc, nullptr);
  }

  /// C = L B for L [n x n] lower triangular (row stride ldl, zero above the diagonal): each
  /// strip of kRows rows sums over the k up to its last row only.
  static void lower_rows(index_t n, index_t cols, const float* l, index_t ldl, const float* b,
                         index_t ldb, float* c, index_t ldc) noexcept {
    for (index_t r0 = 0; r0 < n; r0 += kRows) {
      const index_t rows = std::min<index_t>(kRows, n - r0);
      tile::gemm<Arch, kRows, kVecs>(rows, cols, r0 + rows, {l + r0 * ldl, ldl, 1}, b, ldb,
                                     c + r0 * ldc, ldc, nullptr);
    }
  }

  /// dst[0..m) += f * src[0..m), m rounded up to the batch width (both rows padded and aligned).
  static void axpy(float* dst, float f, const float* src, index_t m) noexcept {
    const batch x(f);
    for (index_t j = 0; j < m; j += kWidth)
      xsimd::fma(x, batch::load_aligned(src + j), batch::load_aligned(dst + j)).store_aligned(dst + j);
  }

  /// Row t of T = (I + A)^{-1} by forward substitution, T_t. = e_t - sum_{s<t} a_s T_s. with
  /// a = arow_ (A's row t): column group c0 (kCols wide) only meets rows s >= c0, as T_s. is
  /// zero past s. The sums stay in registers, two chains per column batch (even and odd s):
  /// as axpys into the row, each s waited on the previous one's stores (store forwarding).
  void solve_row(index_t t, index_t ncp) noexcept {
    const float* a = arow_.data();
    float* tr = t_.data() + t * cp_;
    const index_t used = (t + kCols - 1) / kCols * kCols;
    for (index_t c0 = 0; c0 < used; c0 += kCols) {
      batch even[kVecs], odd[kVecs];
      for (int u = 0; u < kVecs; ++u) even[u] = odd[u] = batch(0.0f);
      index_t j = c0;
      for (; j + 1 < t; j += 2) {
        const float* r0 = t_.data() + j * cp_ + c0;
        const batch a0(-a[j]), a1(-a[j + 1]);
        for (int u = 0; u < kVecs; ++u) {
          even[u] = xsimd::fma(a0, batch::load_aligned(r0 + u * kWidth), even[u]);
          odd[u] = xsimd::fma(a1, batch::load_aligned(r0 + cp_ + u * kWidth), odd[u]);
        }
      }
      if (j < t) {
        const batch a0(-a[j]);
        for (int u = 0; u < kVecs; ++u)
          even[u] = xsimd::fma(a0, batch::load_aligned(t_.data() + j * cp_ + c0 + u * kWidth), even[u]);
      }
      for (int u = 0; u < kVecs; ++u) (even[u] + odd[u]).store_aligned(tr + c0 + u * kWidth);
    }
    std::fill(tr + used, tr + ncp, 0.0f);
    tr[t] = 1.0f;
  }

  /// O = E (scale Q) S + P U [n x V], both products summed in registers a row strip of 16
  /// columns at a time (gla_gemm, the strip's P U over the keys up to its last row), straight
  /// into the output rows when they hold exactly vp floats, else through y_. Q (aq_ row n on)
  /// is scaled in place: P has been computed.
  void outputs(const delta_segment& s, index_t h, index_t t0, index_t n, bool has_state) {
    float* qc = aq_.data() + n * kp_;
    for (index_t t = 0; t < n; ++t) {
      const batch f(scale_ * eg_[std::size_t(t)]);
      for (index_t i = 0; i < kp_; i += kWidth)
        (f * batch::load_aligned(qc + t * kp_ + i)).store_aligned(qc + t * kp_ + i);
    }
    using mm = gla_gemm<Arch>;
    const gla_term inter{{qc, kp_, 1}, state(h), mm::kPanel, vp_};
    const gla_term intra{{p_.data(), cp_, 1}, u_.data(), mm::kPanel, vp_};
    const bool direct = V_ == vp_;
    float* o = direct ? s.out + t0 * s.out_stride : y_.data();
    const index_t ldo = direct ? s.out_stride : vp_;
    for (index_t p = 0; p < vp_ / mm::kPanel; ++p)
      mm::for_strips(n, [&](index_t r0, index_t nr) {
        mm::tile(nr, r0, p, inter, has_state ? K_ : 0, intra, r0 + nr, o, mm::kPanel, ldo,
                 gla_start::assign, nullptr);
      });
    if (!direct)
      for (index_t t = 0; t < n; ++t)
        std::memcpy(s.out + (t0 + t) * s.out_stride, y_.data() + t * vp_, std::size_t(V_) * sizeof(float));
  }

  /// Chunk [t0, t0 + n) of head h (segment s); `next` prefetches the rows computed next, a
  /// quarter at a time between the phases.
  void chunk(const delta_segment& s, index_t h, index_t t0, index_t n, bool has_state, bool update_state,
             next_rows& next) {
    const index_t quarter = (C_ + 3) / 4;
    const float* bc = s.beta + t0 * s.beta_stride;
    const float* gc = s.g ? s.g + t0 * s.g_stride : nullptr;
    const index_t ncp = round_up(n);
    auto beta = [&](index_t t) { return bc[t * s.beta_stride]; };
    auto gate = [&](index_t t) { return gc[t * s.g_stride]; };

    // Q, K [n x kp]: the chunk's rows, contiguous and zero-padded (Q into aq_ at row n). Read
    // in place (BSHD: rows 2 KiB apart at H = 4, K = 128), the rows fall into few L1 sets; the
    // transpose and the products then took 10% more of the call at C = 64. V [n x vp] is read
    // in place when its rows are whole tiles (V = vp), else copied into x_.
    float* qc = aq_.data() + n * kp_;
    const bool v_in_place = V_ == vp_;
    tile::copy_rows<Arch>(s.q + t0 * s.q_stride, s.q_stride, n, K_, qc, kp_, n);
    tile::copy_rows<Arch>(s.k + t0 * s.k_stride, s.k_stride, n, K_, kc_.data(), kp_, ncp);
    if (!v_in_place) tile::copy_rows<Arch>(s.v + t0 * s.v_stride, s.v_stride, n, V_, x_.data(), vp_, n);

    // KT: [kp x cp] the chunk's keys transposed (kc_ rows n..ncp-1 are zero), 8 x 8 blocks at a time.
    for (index_t tb = 0; tb < ncp; tb += 8)
      for (index_t i0 = 0; i0 < K_; i0 += 8)
        tile::transpose_8x8<Arch>(kc_.data() + tb * kp_ + i0, kp_, kt_.data() + i0 * cp_ + tb, cp_);
    // KK = K Kᵀ, P = Q Kᵀ: [n x ncp], the lower triangles.
    lower_panels(n, K_, {kc_.data(), kp_, 1}, kt_.data(), cp_, kk_.data(), cp_);
    lower_panels(n, K_, {qc, kp_, 1}, kt_.data(), cp_, p_.data(), cp_);
    next.step(quarter);

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
      const float* kk = kk_.data() + t * cp_;
      float* a = arow_.data();
      const batch sc(scale_), bt(beta(t));
      for (index_t j = 0; j < width; j += kWidth) {
        const batch gj = batch::load_aligned(gam + j);
        (sc * gj * batch::load_aligned(p + j)).store_aligned(p + j);
        (bt * gj * batch::load_aligned(kk + j)).store_aligned(a + j);
      }
      std::fill(p + t + 1, p + ncp, 0.0f);
      solve_row(t, ncp);
      if (t == n - 1)
        for (index_t j = 0; j < n; ++j) glast_[std::size_t(j)] = gam[j];
    }

    next.step(quarter);
    // aq_ rows 0..n-1 = B E K; Y = (B E K) S [n x vp]; X = B V - Y (in x_).
    for (index_t t = 0; t < n; ++t) {
      const batch bk(beta(t) * eg_[std::size_t(t)]);
      float* row = aq_.data() + t * kp_;
      for (index_t i = 0; i < kp_; i += kWidth)
        (bk * batch::load_aligned(kc_.data() + t * kp_ + i)).store_aligned(row + i);
    }
    if (has_state)
      tile::gemm<Arch, kRows, kVecs>(n, vp_, K_, {aq_.data(), kp_, 1}, state(h), vp_, y_.data(), vp_, nullptr);
    next.step(quarter);
    for (index_t t = 0; t < n; ++t) {
      const batch b(beta(t));
      float* x = x_.data() + t * vp_;
      const float* v = v_in_place ? s.v + (t0 + t) * s.v_stride : x;
      const float* y = y_.data() + t * vp_;
      for (index_t j = 0; j < vp_; j += kWidth) {
        const batch xv = b * batch::load_unaligned(v + j);
        (has_state ? xv - batch::load_aligned(y + j) : xv).store_aligned(x + j);
      }
    }
    // U = T X.
    float* u = u_.data();
    lower_rows(n, vp_, t_.data(), cp_, x_.data(), vp_, u, vp_);
    outputs(s, h, t0, n, has_state);

    next.step(C_);
    if (!update_state) return;
    // S = e^{G_{n-1}} S + Kᵀ diag(Γ_{n-1, .}) U'.
    const float* col_scale = ones_.data();
    if (gc) {
      for (index_t t = 0; t < n; ++t) {
        const batch f(glast_[std::size_t(t)]);
        float* row = u + t * vp_;
        for (index_t j = 0; j < vp_; j += kWidth) (f * batch::load_aligned(row + j)).store_aligned(row + j);
      }
      std::fill_n(decay_.data(), vp_, eg_[std::size_t(n - 1)]);
      col_scale = decay_.data();
    }
    tile::gemm<Arch, kRows, kVecs>(K_, vp_, n, {kc_.data(), 1, kp_}, u, vp_, state(h), vp_,
                                   col_scale);
  }

  index_t K_, V_, C_, kp_, vp_, cp_;
  float scale_;
  // states_ [heads x K x vp]; aq_ [2C x kp] = [B E K ; Q] (Q at row n); kc_ [cp x kp]; kt_ [kp x cp] = Kᵀ;
  // kk_, p_, t_ [C x cp]; y_ [2C x vp] = aq_ S, then O in rows n..2n-1; x_ (V, then X) and
  // u_ [C x vp].
  index_t heads_ = 0;
  aligned_buffer<float> states_, aq_, kc_, kt_, kk_, p_, t_, y_, x_, u_, ones_, decay_, eg_, glast_, gamma_, arow_;
};

}  // namespace attnkit::detail
