// SPDX-License-Identifier: Apache-2.0
// detail::gla_chunked: the chunkwise-parallel form of linear attention, simple_gla and gla for
// one (sequence, head) segment: per chunk three GEMMs and a causal score block (GLA, arXiv
// 2312.06635 section 4), with every exponential of a cumulative gate at most 0 or bounded.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>

#include <attnkit/core/aligned_buffer.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/linear/gla_gemm.hpp>
#include <attnkit/linear/gla_segment.hpp>
#include <attnkit/linear/gla_state.hpp>
#include <attnkit/simd/arch.hpp>
#include <attnkit/simd/exp.hpp>
#include <attnkit/simd/reduce.hpp>
#include <attnkit/tile/prefetch.hpp>
#include <attnkit/tile/transpose_8x8.hpp>

namespace attnkit::detail {

/// The chunked kernel (GLA, arXiv 2312.06635, eqs. 5-7 with the secondary chunking of 4.2). For a
/// chunk of n tokens with cumulative log gates b_i = g_1 + ... + g_i (per key dim for gla, one
/// per token for simple_gla, zero for linear attention) and the state S entering the chunk:
///   O   = (Q ∘ e^{b}) S                      inter-chunk, [n x K] [K x V]
///   O  += A V, A_ij = sum_d q_id k_jd e^{b_id - b_jd} for j <= i      intra-chunk, causal
///   S   = diag(e^{b_n}) S + (K ∘ e^{b_n - b})ᵀ V                     [K x n] [n x V]
/// with q pre-multiplied by the scale. For g <= 0 (log decays), the exponents of the first and
/// third lines are <= 0. A never multiplies e^{+b}:
/// - simple_gla / linear: A = (Q Kᵀ) ∘ M with M_ij = e^{b_i - b_j}, j <= i, taken directly.
/// - gla, when every key dim's cumulative gate spans at most kMaxSpan over the chunk: one GEMM of
///   Q ∘ e^{b - r} and K ∘ e^{r - b} with r the middle of the span, so |exponent| <= kMaxSpan / 2
///   and neither factor leaves the normal floats (the realistic case: a few nats per chunk).
/// - gla otherwise (strong decay): sub-chunks of kSub tokens; block (I, J < I) is a GEMM of
///   Q_I ∘ e^{b - b_ref} and K_J ∘ e^{b_ref - b} with b_ref the cumulative gate just before I
///   (both exponents <= 0), and the diagonal blocks take e^{b_id - b_jd} directly.
template <class Arch>
class gla_chunked {
  using batch = xsimd::batch<float, Arch>;
  using mm = gla_gemm<Arch>;
  static constexpr index_t kW = static_cast<index_t>(batch::size);
  /// Columns per B / C panel of the products (gla_gemm).
  static constexpr index_t kP = mm::kPanel;
  /// Rows of a score block: A is built in row blocks of kSub, each over the key panels up to
  /// its end only (the causal half of the work).
  static constexpr index_t kSub = 16;
  /// The widest span (nats) of a chunk's cumulative gate per key dim for the one-GEMM scores:
  /// factors within e^{±30}, far from the float range's e^{±87}.
  static constexpr float kMaxSpan = 60.0f;
  /// Log gates below this act as it: e^{-100} is below the smallest float, so the state is
  /// forgotten either way, and -inf would make the differences of cumulative gates NaN.
  /// (std::max keeps NaN gates NaN: max(NaN, x) returns its first argument.)
  static constexpr float kMinGate = -100.0f;

 public:
  explicit gla_chunked(const gla_call& c)
      : c_(c), K_(c.K), Kw_(gla_round_up(c.K, kW)), Kp_(gla_round_up(c.K, 16)), C_(c.chunk),
        Cp_(gla_round_up(c.chunk, kP)), Vp_(gla_padded_v(c.V, c.normalize)), nvp_(Vp_ / kP),
        direct_out_(!c.normalize && Vp_ == c.V), qa_(size(C_ * Kp_)),
        qh_(size(C_ * Kp_)), ku_(size(C_ * Kp_)), kc_(size(C_ * Kp_)), kblk_(size(kP * Kp_)),
        b_(size(std::max(C_ * Kp_, Cp_) + kW)), kt_(size(Kp_ * Cp_)), a_(size(C_ * Cp_)),
        vc_(size(Cp_ * Vp_)), ot_(size(direct_out_ ? 0 : C_ * Vp_)), sub_(size(kSub * Kp_)),
        rows_(size(3 * Kp_)), vec_(size(6 * Kp_)), zero_(vec_.data() + 4 * Kp_),
        decay_(vec_.data() + 5 * Kp_) {
    std::fill(zero_, zero_ + Kp_, 0.0f);
    std::fill(rows_.data(), rows_.data() + 3 * Kp_, 0.0f);
  }

  /// Every output and the final state of `count` segments of equal length (the heads of one
  /// sequence), chunk by chunk with the heads interleaved: the rows of a BSHD tensor at one
  /// token then share pages and lines from head to head. Head by head, the 2 KiB-strided rows
  /// (H = 4, K = 128) missed the TLB on nearly every row: chunked gla ran a quarter slower than
  /// on the same tokens with H = 1.
  void run(const gla_segment* segs, index_t count) {
    if (count > heads_) {
      heads_ = count;
      S_ = aligned_buffer<float>(size(heads_ * K_ * Vp_));
    }
    for (index_t h = 0; h < count; ++h) load_state(segs[h], h);
    if (!c_.causal) {
      for (index_t h = 0; h < count; ++h) run_noncausal(segs[h], h);
    } else {
      const index_t T = segs[0].T;
      for (index_t t0 = 0; t0 < T; t0 += C_)
        for (index_t h = 0; h < count; ++h) {
          const bool last = h + 1 == count;
          const gla_segment* next = last ? segs : segs + h + 1;
          chunk(segs[h], h, t0, std::min(C_, T - t0), *next, last ? t0 + C_ : t0);
        }
    }
    for (index_t h = 0; h < count; ++h) store_state(segs[h], h);
  }

 private:
  static std::size_t size(index_t n) { return static_cast<std::size_t>(n); }

  template <class F>
  void for_batches(index_t n, F&& f) const {  // n a multiple of kW
    for (index_t i = 0; i < n; i += kW) f(i);
  }

  /// The state S [K x Vp] in panels of kP columns: S(d, j) at S + (j / kP) K kP + d kP + j % kP.
  /// The state of head h; S(d, j) at state(h) + (j / kP) K kP + d kP + j % kP.
  float* state(index_t h) const { return S_.data() + h * K_ * Vp_; }
  float* s_at(index_t h, index_t d, index_t j) const { return state(h) + (j / kP) * K_ * kP + d * kP + j % kP; }

  void load_state(const gla_segment& s, index_t h) {
    std::fill(state(h), state(h) + K_ * Vp_, 0.0f);
    if (s.s0 == nullptr) return;
    for (index_t d = 0; d < K_; ++d)
      for (index_t j = 0; j < c_.V; ++j) *s_at(h, d, j) = s.s0[d * s.s0_k + j * s.s0_v];
  }

  void store_state(const gla_segment& s, index_t h) const {
    if (s.s1 == nullptr) return;
    for (index_t d = 0; d < K_; ++d)
      for (index_t j = 0; j < c_.V; ++j) s.s1[d * s.s1_k + j * s.s1_v] = *s_at(h, d, j);
  }

  /// Row x of `src` readable as Kw floats: in place when K is a multiple of kW, else copied
  /// into `tmp` (zero past K).
  const float* key_row(const float* src, float* tmp) const {
    if (K_ == Kw_) return src;
    std::copy(src, src + K_, tmp);
    return tmp;
  }

  /// v rows of the chunk into vc panels ([Cp x kP] each), the ones column when normalising.
  void load_values(const gla_segment& s, index_t t0, index_t n) {
    const index_t V = c_.V;
    for (index_t i = 0; i < n; ++i) {
      const float* v = s.v + (t0 + i) * s.v_step;
      for (index_t p = 0; p < nvp_; ++p) {
        float* dst = vc_.data() + p * Cp_ * kP + i * kP;
        for (index_t u = 0; u < kP; u += kW) {
          const index_t col = p * kP + u;
          if (col + kW <= V) {
            batch::load_unaligned(v + col).store_aligned(dst + u);
          } else {
            for (index_t e = 0; e < kW; ++e)
              dst[u + e] = col + e < V ? v[col + e] : (c_.normalize && col + e == V ? 1.0f : 0.0f);
          }
        }
      }
    }
  }

  /// A row blocks of kSub: A[i][j] = qa_i . kt[:, j] for j < the block's end rounded up to kP.
  void causal_scores(const float* qa, index_t n) {
    const gla_term t{{qa, Kp_, 1}, kt_.data(), K_ * kP, kP};
    const index_t np = gla_round_up(n, kP) / kP;
    for (index_t p = 0; p < np; ++p) {
      // rows from the block holding key p kP on; panels never reach past a block's end
      const index_t r_begin = (p * kP) / kSub * kSub;
      mm::for_strips(n - r_begin, [&](index_t r0, index_t nr) {
        mm::tile(nr, r_begin + r0, p, t, K_, t, 0, a_.data(), kP, Cp_, gla_start::assign, nullptr);
      });
    }
  }

  /// Zeroes A[i][j] for i < j < n (the fused output product runs a strip over its last row's keys).
  void zero_upper(index_t n) {
    for (index_t i = 0; i + 1 < n; ++i) std::fill(a_.data() + i * Cp_ + i + 1, a_.data() + i * Cp_ + n, 0.0f);
  }

  /// The cumulative gates of the chunk b (gla: [n x Kp], the span of each key dim, 0 before the
  /// chunk included, in vec lo / hi; simple_gla: [n]); returns whether the one-GEMM scores are
  /// safe (gla).
  bool gate_sums(const gla_segment& s, index_t t0, index_t n) {
    float* b = b_.data();
    if (c_.gate == gla_gate::scalar) {
      float acc = 0.0f;
      for (index_t i = 0; i < n; ++i) b[i] = acc += std::max(s.g[(t0 + i) * s.g_step], kMinGate);
      std::fill(b + n, b + gla_round_up(n, 16) + kW, 0.0f);
      return true;
    }
    float* lo = vec_.data();
    float* hi = lo + Kp_;
    std::fill(lo, lo + 2 * Kp_, 0.0f);
    for (index_t i = 0; i < n; ++i) {
      const float* g = s.g + (t0 + i) * s.g_step;
      float* bi = b + i * Kp_;
      const float* prev = i > 0 ? bi - Kp_ : zero_;
      index_t d = 0;
      if (s.g_dstride == 1)  // max(lo, NaN) is NaN on x86: NaN gates stay NaN
        for (; d + kW <= K_; d += kW)
          (batch::load_aligned(prev + d) + xsimd::max(batch(kMinGate), batch::load_unaligned(g + d)))
              .store_aligned(bi + d);
      for (; d < K_; ++d) bi[d] = prev[d] + std::max(g[d * s.g_dstride], kMinGate);
      std::fill(bi + K_, bi + Kp_, 0.0f);
      for_batches(Kp_, [&](index_t e) {
        const batch x = batch::load_aligned(bi + e);
        xsimd::min(batch::load_aligned(lo + e), x).store_aligned(lo + e);
        xsimd::max(batch::load_aligned(hi + e), x).store_aligned(hi + e);
      });
    }
    batch span(0.0f);
    for_batches(Kp_, [&](index_t d) {
      span = xsimd::max(span, batch::load_aligned(hi + d) - batch::load_aligned(lo + d));
    });
    return simd::reduce_max(span) <= kMaxSpan;  // false for NaN gates: the direct path
  }

  /// One pass over the chunk's q and k rows (read in place): qa = scale q ∘ e^{b} (the
  /// inter-chunk queries), ku = k ∘ e^{b_n - b} (the keys of the state update), and the
  /// operands of the scores, qh and the keys kt (transposed into panels kP rows at a time):
  /// - gla, small span: with r = (lo + hi) / 2, E = e^{b - r} (|b - r| <= 30, as |r| <= 30: the
  ///   span holds 0), qh = scale q ∘ E, kt = k ∘ E^{-1}, qa = qh ∘ e^{r}, ku = kt ∘ e^{b_n - r}
  ///   (one exponential per element; every factor within e^{±30});
  /// - gla, strong decay: qh = scale q, kc = k (scores_sub_chunks applies the gates);
  /// - simple_gla: qh = scale q, kt = k (the decays applied to A); linear: qa, ku themselves.
  void load_keys(const gla_segment& s, index_t t0, index_t n, bool small_span, bool scores) {
    const gla_gate gate = c_.gate;
    const batch scale(c_.scale);
    float* fq = vec_.data() + 2 * Kp_;  // e^{r}
    float* fk = fq + Kp_;               // e^{b_n - r}
    const float* b = b_.data();
    const float* last = b + (n - 1) * Kp_;
    const bool strong = gate == gla_gate::vector && !small_span;
    if (gate == gla_gate::vector && small_span) {
      const float* lo = vec_.data();
      const float* hi = lo + Kp_;
      for_batches(Kw_, [&](index_t d) {
        const batch r = (batch::load_aligned(lo + d) + batch::load_aligned(hi + d)) * batch(0.5f);
        simd::exp<Arch>(r).store_aligned(fq + d);
        simd::exp<Arch>(batch::load_aligned(last + d) - r).store_aligned(fk + d);
        r.store_aligned(vec_.data() + d);  // lo := r
      });
    }
    const float* r = vec_.data();
    for (index_t j0 = 0; j0 < n; j0 += kP) {
      const index_t jn = std::min(kP, n - j0);
      for (index_t i = j0; i < j0 + jn; ++i) {
        const float* q = key_row(s.q + (t0 + i) * s.q_step, rows_.data());
        const float* k = key_row(s.k + (t0 + i) * s.k_step, rows_.data() + Kp_);
        const index_t at = i * Kp_;
        float *qa = qa_.data() + at, *ku = ku_.data() + at, *qh = qh_.data() + at;
        float* kh = (strong ? kc_.data() + at : kblk_.data() + (i - j0) * Kp_);
        if (gate == gla_gate::none) {
          for_batches(Kw_, [&](index_t d) {
            const batch kv = batch::load_unaligned(k + d);
            (batch::load_unaligned(q + d) * scale).store_aligned(qa + d);
            kv.store_aligned(ku + d);
            kv.store_aligned(kh + d);
          });
        } else if (gate == gla_gate::scalar) {
          const batch e(std::exp(b[i])), f(std::exp(b[n - 1] - b[i]));
          for_batches(Kw_, [&](index_t d) {
            const batch qv = batch::load_unaligned(q + d) * scale, kv = batch::load_unaligned(k + d);
            (qv * e).store_aligned(qa + d);
            (kv * f).store_aligned(ku + d);
            qv.store_aligned(qh + d);
            kv.store_aligned(kh + d);
          });
        } else if (small_span) {
          const float* bi = b + at;
          for_batches(Kw_, [&](index_t d) {
            const batch e = simd::exp<Arch>(batch::load_aligned(bi + d) - batch::load_aligned(r + d));
            const batch qv = batch::load_unaligned(q + d) * scale * e;
            const batch kv = batch::load_unaligned(k + d) / e;
            qv.store_aligned(qh + d);
            kv.store_aligned(kh + d);
            (qv * batch::load_aligned(fq + d)).store_aligned(qa + d);
            (kv * batch::load_aligned(fk + d)).store_aligned(ku + d);
          });
        } else {
          const float* bi = b + at;
          for_batches(Kw_, [&](index_t d) {
            const batch x = batch::load_aligned(bi + d);
            const batch qv = batch::load_unaligned(q + d) * scale, kv = batch::load_unaligned(k + d);
            (qv * simd::exp<Arch>(x)).store_aligned(qa + d);
            (kv * simd::exp<Arch>(batch::load_aligned(last + d) - x)).store_aligned(ku + d);
            qv.store_aligned(qh + d);
            kv.store_aligned(kh + d);
          });
        }
      }
      if (scores && !strong) transpose_panel(j0 / kP, jn);
    }
  }

  /// kt panel p ([K x kP]): kt(d, j0 + jj) = kblk[jj][d] for jj < jn, zero for jj in [jn, kP).
  void transpose_panel(index_t p, index_t jn) {
    float* dst = kt_.data() + p * K_ * kP;
    const float* src = kblk_.data();
    if (jn < kP) std::fill(kblk_.data() + jn * Kp_, kblk_.data() + kP * Kp_, 0.0f);
    index_t d0 = 0;
    for (; d0 + 8 <= K_; d0 += 8)
      for (index_t h = 0; h < kP; h += 8) tile::transpose_8x8<Arch>(src + h * Kp_ + d0, Kp_, dst + d0 * kP + h, kP);
    for (index_t d = d0; d < K_; ++d)
      for (index_t jj = 0; jj < kP; ++jj) dst[d * kP + jj] = src[jj * Kp_ + d];
  }

  /// gla scores under strong decay: sub-chunk blocks below the diagonal by GEMM about the
  /// cumulative gate before the row block, diagonal blocks directly. qs = qh, kc = kh.
  void scores_sub_chunks(index_t n) {
    const float* b = b_.data();
    const float* qs = qh_.data();
    const float* kc = kc_.data();
    float* tmp = vec_.data() + 2 * Kp_;
    for (index_t i0 = 0; i0 < n; i0 += kSub) {
      const index_t i1 = std::min(n, i0 + kSub);
      if (i0 > 0) {
        const float* ref = b + (i0 - 1) * Kp_;
        for (index_t i = i0; i < i1; ++i)  // sub_i = qs_i ∘ e^{b_i - ref}, exponent <= 0
          for_batches(Kw_, [&](index_t d) {
            const index_t at = i * Kp_ + d;
            const batch x = batch::load_aligned(b + at) - batch::load_aligned(ref + d);
            (batch::load_aligned(qs + at) * simd::exp<Arch>(x)).store_aligned(sub_.data() + (i - i0) * Kp_ + d);
          });
        for (index_t j = 0; j < i0; ++j) {  // kt[:, j] = k_j ∘ e^{ref - b_j}, exponent <= 0
          for_batches(Kw_, [&](index_t d) {
            const index_t at = j * Kp_ + d;
            const batch x = batch::load_aligned(ref + d) - batch::load_aligned(b + at);
            (batch::load_aligned(kc + at) * simd::exp<Arch>(x)).store_aligned(tmp + d);
          });
          float* col = kt_.data() + (j / kP) * K_ * kP + j % kP;
          for (index_t d = 0; d < K_; ++d) col[d * kP] = tmp[d];
        }
        // A[I, 0 .. i0): [i1 - i0 x i0] = sub [.. x K] kt [K x i0]
        const gla_term t{{sub_.data(), Kp_, 1}, kt_.data(), K_ * kP, kP};
        for (index_t p = 0; p < i0 / kP; ++p)
          mm::for_strips(i1 - i0, [&](index_t r0, index_t nr) {
            mm::tile(nr, r0, p, t, K_, t, 0, a_.data() + i0 * Cp_, kP, Cp_, gla_start::assign, nullptr);
          });
      }
      for (index_t i = i0; i < i1; ++i) {  // the diagonal block, e^{b_i - b_j} with j <= i
        float* ai = a_.data() + i * Cp_;
        for (index_t j = i0; j <= i; ++j) {
          batch acc(0.0f);
          for_batches(Kw_, [&](index_t d) {
            const batch x = batch::load_aligned(b + i * Kp_ + d) - batch::load_aligned(b + j * Kp_ + d);
            acc = xsimd::fma(batch::load_aligned(qs + i * Kp_ + d) * batch::load_aligned(kc + j * Kp_ + d),
                             simd::exp<Arch>(x), acc);
          });
          ai[j] = simd::reduce_sum(acc);
        }
      }
    }
  }

  /// simple_gla: A ∘= e^{b_i - b_j} on and below the diagonal (the rest is zeroed after).
  void decay_scores(index_t n) {
    const float* b = b_.data();
    for (index_t i = 0; i < n; ++i) {
      float* ai = a_.data() + i * Cp_;
      const batch bi(b[i]);
      for (index_t j = 0; j <= i; j += kW)  // may pass i, within the padded row; zeroed after
        (batch::load_aligned(ai + j) * simd::exp<Arch>(bi - batch::load_aligned(b + j))).store_aligned(ai + j);
    }
  }

  /// Prefetchers of the next chunk's rows of q, k, v and a unit-stride gk: rows of a BSHD tensor
  /// sit H rows apart, which the hardware prefetchers do not follow; without them the copies
  /// and the gate sums waited on DRAM for about a quarter of the gla time (T = 8192, H = 4).
  struct next_rows {
    tile::row_prefetcher q, k, v, g;
    void step(index_t rows) noexcept {
      q.step(rows), k.step(rows), v.step(rows), g.step(rows);
    }
  };

  /// The rows of the chunk at t1 of s (the next one computed).
  next_rows prefetch_next(const gla_segment& s, index_t t1) const {
    if (t1 >= s.T) return {};
    const index_t n = std::min(C_, s.T - t1);
    auto rows = [&](const float* x, index_t step, index_t floats) {
      return tile::row_prefetcher(x + t1 * step, step * index_t(sizeof(float)), n,
                                  floats * index_t(sizeof(float)));
    };
    next_rows r{rows(s.q, s.q_step, K_), rows(s.k, s.k_step, K_), rows(s.v, s.v_step, c_.V), {}};
    if (c_.gate == gla_gate::vector && s.g_dstride == 1) r.g = rows(s.g, s.g_step, K_);
    return r;
  }

  /// O [n x Vp] = qa S + A V, a row strip at a time over the keys up to its last row: straight
  /// into the output rows when they are V = Vp floats, else through ot.
  /// The next chunk's rows are prefetched a row per tile (in one burst they filled every
  /// miss buffer and stalled the core).
  void outputs(const gla_segment& s, index_t h, index_t t0, index_t n, next_rows* next) {
    const gla_term inter{{qa_.data(), Kp_, 1}, state(h), K_ * kP, kP};
    const gla_term intra{{a_.data(), Cp_, 1}, vc_.data(), Cp_ * kP, kP};
    float* o = direct_out_ ? s.out + t0 * s.out_step : ot_.data();
    const index_t ldo = direct_out_ ? s.out_step : Vp_;
    for (index_t p = 0; p < nvp_; ++p)
      mm::for_strips(n, [&](index_t r0, index_t nr) {
        mm::tile(nr, r0, p, inter, K_, intra, c_.causal ? r0 + nr : 0, o, kP, ldo, gla_start::assign, nullptr);
        if (next) next->step(1);
      });
    if (next) next->step(C_);
    if (!direct_out_) write_out(s, t0, n);
  }

  /// out rows t0 .. t0 + n from ot (divided by the normaliser column when asked).
  void write_out(const gla_segment& s, index_t t0, index_t n) const {
    for (index_t i = 0; i < n; ++i) {
      const float* o = ot_.data() + i * Vp_;
      float* dst = s.out + (t0 + i) * s.out_step;
      if (c_.normalize) {
        const float norm = o[c_.V] + 1e-10f;
        for (index_t j = 0; j < c_.V; ++j) dst[j] = o[j] / norm;
      } else {
        std::copy(o, o + c_.V, dst);
      }
    }
  }

  /// S [K x Vp] = decay(S) + kuᵀ [K x n] V [n x Vp].
  void update_state(index_t h, index_t n, gla_start start) {
    const gla_term t{{ku_.data(), 1, Kp_}, vc_.data(), Cp_ * kP, kP};
    for (index_t p = 0; p < nvp_; ++p)
      mm::for_strips(K_, [&](index_t r0, index_t nr) {
        mm::tile(nr, r0, p, t, n, t, 0, state(h), K_ * kP, kP, start, decay_);
      });
  }

  /// Chunk [t0, t0 + n) of head h (segment s); the rows at t1 of `after` are computed next.
  void chunk(const gla_segment& s, index_t h, index_t t0, index_t n, const gla_segment& after, index_t t1) {
    next_rows next = prefetch_next(after, t1);
    const gla_gate gate = c_.gate;
    const bool small_span = gate != gla_gate::none ? gate_sums(s, t0, n) : true;
    load_keys(s, t0, n, small_span, true);
    load_values(s, t0, n);
    if (gate == gla_gate::vector && !small_span) {
      scores_sub_chunks(n);
    } else {
      causal_scores(gate == gla_gate::none ? qa_.data() : qh_.data(), n);
      if (gate == gla_gate::scalar) decay_scores(n);
    }
    zero_upper(n);
    outputs(s, h, t0, n, &next);
    gla_start start = gla_start::add;
    if (gate == gla_gate::scalar) {
      std::fill(decay_, decay_ + K_, std::exp(b_[size(n - 1)]));
      start = gla_start::scale_rows;
    } else if (gate == gla_gate::vector) {
      const float* last = b_.data() + (n - 1) * Kp_;
      for_batches(Kw_, [&](index_t d) { simd::exp<Arch>(batch::load_aligned(last + d)).store_aligned(decay_ + d); });
      start = gla_start::scale_rows;
    }
    update_state(h, n, start);
  }

  /// Not causal (linear attention only): S_T = S_0 + Kᵀ V over every chunk, then O = (scale Q) S_T.
  void run_noncausal(const gla_segment& s, index_t h) {
    for (index_t t0 = 0; t0 < s.T; t0 += C_) {
      const index_t n = std::min(C_, s.T - t0);
      load_keys(s, t0, n, true, false);
      load_values(s, t0, n);
      update_state(h, n, gla_start::add);
    }
    for (index_t t0 = 0; t0 < s.T; t0 += C_) {
      const index_t n = std::min(C_, s.T - t0);
      load_keys(s, t0, n, true, false);
      outputs(s, h, t0, n, nullptr);
    }
  }

  gla_call c_;
  index_t K_, Kw_, Kp_, C_, Cp_, Vp_, nvp_;
  bool direct_out_;  // out rows hold exactly the Vp columns of O: written by the product itself
  // Chunk scratch, rows of Kp (keys) floats, panels of kP columns, aligned:
  index_t heads_ = 0;              // states held
  aligned_buffer<float> S_;        // the states, panels [K x kP]    [heads x K x Vp]
  aligned_buffer<float> qa_, qh_;  // inter-chunk and score queries  [C x Kp]
  aligned_buffer<float> ku_, kc_;  // state-update keys, k (strong decay only)   [C x Kp]
  aligned_buffer<float> kblk_;     // score keys of one panel, before the transpose  [kP x Kp]
  aligned_buffer<float> b_;        // cumulative gates [C x Kp] (gla) or [C] (simple_gla)
  aligned_buffer<float> kt_;       // score keys, panels [K x kP]    [K x Cp]
  aligned_buffer<float> a_;        // the causal scores A            [C x Cp]
  aligned_buffer<float> vc_;       // v (ones column), panels [Cp x kP]   [Cp x Vp]
  aligned_buffer<float> ot_;       // outputs, when not written in place  [C x Vp]
  aligned_buffer<float> sub_;      // queries of one sub-chunk block      [kSub x Kp]
  aligned_buffer<float> rows_;     // q, k rows padded to Kw when K is not a multiple of kW
  aligned_buffer<float> vec_;      // per-key vectors: span lo, hi, two factors, 0, decay  [6 x Kp]
  float* zero_;                    // Kp zeros (the cumulative gate before the chunk)
  float* decay_;                   // the state's row scales e^{b_n}
};

}  // namespace attnkit::detail
