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
#include <attnkit/linear/gla_segment.hpp>
#include <attnkit/linear/gla_state.hpp>
#include <attnkit/simd/arch.hpp>
#include <attnkit/simd/exp.hpp>
#include <attnkit/simd/reduce.hpp>
#include <attnkit/tile/gemm_tile.hpp>
#include <attnkit/tile/pack.hpp>
#include <attnkit/tile/prefetch.hpp>

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
  static constexpr index_t kW = static_cast<index_t>(batch::size);
  /// Register tile 6 x kVecs batches: 16 columns on AVX2 (12 accumulators of 16 registers, the
  /// flash kernels' tile) and AVX-512, 8 on SSE; either divides every padded width (16).
  static constexpr int kRows = 6;
  static constexpr int kVecs = kW >= 16 ? 1 : 2;
  /// Rows of a score block: A is built and multiplied by V in row blocks of kSub, each over
  /// the columns j < its end only (the causal half of the work).
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
      : c_(c), K_(c.K), Kp_(gla_round_up(c.K, 16)), C_(c.chunk), Cp_(gla_round_up(c.chunk, 16)),
        state_(c.K, c.V, c.normalize), Vp_(state_.Vp), qs_(size(C_ * Kp_)), kc_(size(C_ * Kp_)),
        qt_(size(C_ * Kp_)), ku_(size(C_ * Kp_)), qh_(size(C_ * Kp_)),
        b_(size(std::max(C_ * Kp_, Cp_) + kW)), kt_(size(Kp_ * Cp_)), a_(size(C_ * Cp_)),
        vc_(size(C_ * Vp_)), ot_(size(C_ * Vp_)), ones_(size(Vp_)), col_(size(Vp_)),
        vec_(size(5 * Kp_)), zero_(vec_.data() + 4 * Kp_) {
    std::fill(ones_.data(), ones_.data() + Vp_, 1.0f);
    std::fill(zero_, zero_ + Kp_, 0.0f);
  }

  /// Every output and the final state of one segment.
  void run(const gla_segment& s) {
    state_.load(s);
    if (!c_.causal) {
      run_noncausal(s);
    } else {
      for (index_t t0 = 0; t0 < s.T; t0 += C_) chunk(s, t0, std::min(C_, s.T - t0));
    }
    state_.store(s);
  }

 private:
  static std::size_t size(index_t n) { return static_cast<std::size_t>(n); }

  template <class F>
  void for_batches(index_t n, F&& f) const {  // n a multiple of kW
    for (index_t i = 0; i < n; i += kW) f(i);
  }

  /// qs = scale q, kc = k ([n x Kp], zero past K); vc = v [n x Vp] with the ones column.
  void load_chunk(const gla_segment& s, index_t t0, index_t n, bool queries, bool keys) {
    if (queries) {
      tile::copy_rows<Arch, float>(s.q + t0 * s.q_step, s.q_step, n, K_, qs_.data(), Kp_, n);
      const batch f(c_.scale);
      for_batches(n * Kp_, [&](index_t i) { (batch::load_aligned(qs_.data() + i) * f).store_aligned(qs_.data() + i); });
    }
    if (!keys) return;
    tile::copy_rows<Arch, float>(s.k + t0 * s.k_step, s.k_step, n, K_, kc_.data(), Kp_, n);
    tile::copy_rows<Arch, float>(s.v + t0 * s.v_step, s.v_step, n, c_.V, vc_.data(), Vp_, n);
    if (c_.normalize)
      for (index_t i = 0; i < n; ++i) vc_[size(i * Vp_ + c_.V)] = 1.0f;
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

  void gemm(index_t rows, index_t cols, index_t depth, tile::a_operand a, const float* b,
            index_t ldb, float* c, index_t ldc, const float* col_scale) const {
    tile::gemm<Arch, kRows, kVecs>(rows, cols, depth, a, b, ldb, c, ldc, col_scale);
  }

  /// kt[d][j] = src[j][d] * (f ? f[d] : 1) for j < n, zero for j in [n, n rounded up to 16).
  void transpose_keys(const float* src, const float* f, index_t n) {
    for (index_t j = 0; j < n; ++j) {
      const float* r = src + j * Kp_;
      for (index_t d = 0; d < K_; ++d) kt_[size(d * Cp_ + j)] = f ? r[d] * f[d] : r[d];
    }
    for (index_t d = 0; d < K_; ++d)
      std::fill(kt_.data() + d * Cp_ + n, kt_.data() + d * Cp_ + gla_round_up(n, 16), 0.0f);
  }

  /// A row blocks of kSub: A[i][j] = qa_i . kt[:, j] for j < the block's end rounded up to 16.
  void causal_scores(const float* qa, index_t n) {
    for (index_t i0 = 0; i0 < n; i0 += kSub) {
      const index_t i1 = std::min(n, i0 + kSub);
      gemm(i1 - i0, gla_round_up(i1, 16), K_, {qa + i0 * Kp_, Kp_, 1}, kt_.data(), Cp_,
           a_.data() + i0 * Cp_, Cp_, nullptr);
    }
  }

  /// Zeroes A[i][j] for i < j < the end of i's row block (what the A V product reads).
  void zero_upper(index_t n) {
    for (index_t i = 0; i < n; ++i) {
      const index_t end = std::min(n, (i / kSub + 1) * kSub);
      std::fill(a_.data() + i * Cp_ + i + 1, a_.data() + i * Cp_ + end, 0.0f);
    }
  }

  /// The cumulative gates of the chunk and the decayed queries and keys: qt = qs ∘ e^{b},
  /// ku = kc ∘ e^{b_n - b}; returns whether the one-GEMM scores are safe (gla).
  bool gates(const gla_segment& s, index_t t0, index_t n) {
    float* b = b_.data();
    if (c_.gate == gla_gate::scalar) {
      float acc = 0.0f;
      for (index_t i = 0; i < n; ++i) b[i] = acc += std::max(s.g[(t0 + i) * s.g_step], kMinGate);
      std::fill(b + n, b + gla_round_up(n, 16) + kW, 0.0f);
      const float last = b[n - 1];
      for (index_t i = 0; i < n; ++i) {
        const batch fq(std::exp(b[i])), fk(std::exp(last - b[i]));
        for_batches(Kp_, [&](index_t d) {
          (batch::load_aligned(qs_.data() + i * Kp_ + d) * fq).store_aligned(qt_.data() + i * Kp_ + d);
          (batch::load_aligned(kc_.data() + i * Kp_ + d) * fk).store_aligned(ku_.data() + i * Kp_ + d);
        });
      }
      std::fill(col_.data(), col_.data() + Vp_, std::exp(last));
      return true;
    }
    // gla: b [n x Kp], the span of each key dim's cumulative gate (0 before the chunk included).
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
    const float* last = b + (n - 1) * Kp_;
    for (index_t i = 0; i < n; ++i)
      for_batches(Kp_, [&](index_t d) {
        const index_t at = i * Kp_ + d;
        const batch x = batch::load_aligned(b + at), bl = batch::load_aligned(last + d);
        (batch::load_aligned(qs_.data() + at) * simd::exp<Arch>(x)).store_aligned(qt_.data() + at);
        (batch::load_aligned(kc_.data() + at) * simd::exp<Arch>(bl - x)).store_aligned(ku_.data() + at);
      });
    batch span(0.0f);
    for_batches(Kp_, [&](index_t d) {
      span = xsimd::max(span, batch::load_aligned(hi + d) - batch::load_aligned(lo + d));
    });
    return simd::reduce_max(span) <= kMaxSpan;  // false for NaN gates: the direct path
  }

  /// gla scores when the span is small: qh = qt ∘ e^{-r}, kt = ku ∘ e^{r - b_n}, r = (lo + hi) / 2.
  void scores_one_gemm(index_t n) {
    const float* lo = vec_.data();
    const float* hi = lo + Kp_;
    float* fk = vec_.data() + 2 * Kp_;
    float* fq = fk + Kp_;
    const float* last = b_.data() + (n - 1) * Kp_;
    for_batches(Kp_, [&](index_t d) {
      const batch r = (batch::load_aligned(lo + d) + batch::load_aligned(hi + d)) * batch(0.5f);
      simd::exp<Arch>(-r).store_aligned(fq + d);
      simd::exp<Arch>(r - batch::load_aligned(last + d)).store_aligned(fk + d);
    });
    for (index_t i = 0; i < n; ++i)
      for_batches(Kp_, [&](index_t d) {
        const index_t at = i * Kp_ + d;
        (batch::load_aligned(qt_.data() + at) * batch::load_aligned(fq + d)).store_aligned(qh_.data() + at);
      });
    transpose_keys(ku_.data(), fk, n);
    causal_scores(qh_.data(), n);
    zero_upper(n);
  }

  /// gla scores under strong decay: sub-chunk blocks below the diagonal by GEMM about the
  /// cumulative gate before the row block, diagonal blocks directly.
  void scores_sub_chunks(index_t n) {
    const float* b = b_.data();
    float* tmp = vec_.data() + 2 * Kp_;
    for (index_t i0 = 0; i0 < n; i0 += kSub) {
      const index_t i1 = std::min(n, i0 + kSub);
      if (i0 > 0) {
        const float* ref = b + (i0 - 1) * Kp_;
        for (index_t i = i0; i < i1; ++i)  // qh_i = qs_i ∘ e^{b_i - ref}, exponent <= 0
          for_batches(Kp_, [&](index_t d) {
            const index_t at = i * Kp_ + d;
            const batch x = batch::load_aligned(b + at) - batch::load_aligned(ref + d);
            (batch::load_aligned(qs_.data() + at) * simd::exp<Arch>(x)).store_aligned(qh_.data() + at);
          });
        for (index_t j = 0; j < i0; ++j) {  // kt[:, j] = k_j ∘ e^{ref - b_j}, exponent <= 0
          for_batches(Kp_, [&](index_t d) {
            const index_t at = j * Kp_ + d;
            const batch x = batch::load_aligned(ref + d) - batch::load_aligned(b + at);
            (batch::load_aligned(kc_.data() + at) * simd::exp<Arch>(x)).store_aligned(tmp + d);
          });
          for (index_t d = 0; d < K_; ++d) kt_[size(d * Cp_ + j)] = tmp[d];
        }
        // A[I, 0 .. i0): [i1 - i0 x i0] = qh_I [.. x K] kt [K x i0]
        gemm(i1 - i0, i0, K_, {qh_.data() + i0 * Kp_, Kp_, 1}, kt_.data(), Cp_,
             a_.data() + i0 * Cp_, Cp_, nullptr);
      }
      for (index_t i = i0; i < i1; ++i) {  // the diagonal block, e^{b_i - b_j} with j <= i
        float* ai = a_.data() + i * Cp_;
        for (index_t j = i0; j <= i; ++j) {
          batch acc(0.0f);
          for_batches(Kp_, [&](index_t d) {
            const batch x = batch::load_aligned(b + i * Kp_ + d) - batch::load_aligned(b + j * Kp_ + d);
            acc = xsimd::fma(batch::load_aligned(qs_.data() + i * Kp_ + d) *
                                 batch::load_aligned(kc_.data() + j * Kp_ + d),
                             simd::exp<Arch>(x), acc);
          });
          ai[j] = simd::reduce_sum(acc);
        }
        std::fill(ai + i + 1, ai + i1, 0.0f);
      }
    }
  }

  /// simple_gla / linear scores: A = (qs kcᵀ) ∘ e^{b_i - b_j} below the diagonal, 0 above.
  void scores_scalar(index_t n) {
    transpose_keys(kc_.data(), nullptr, n);
    causal_scores(qs_.data(), n);
    if (c_.gate == gla_gate::scalar) {
      const float* b = b_.data();
      for (index_t i = 0; i < n; ++i) {
        float* ai = a_.data() + i * Cp_;
        const batch bi(b[i]);
        for (index_t j = 0; j <= i; j += kW)  // may pass i, within the padded row; zeroed below
          (batch::load_aligned(ai + j) * simd::exp<Arch>(bi - batch::load_aligned(b + j))).store_aligned(ai + j);
      }
    }
    zero_upper(n);
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

  next_rows prefetch_next(const gla_segment& s, index_t t0) const {
    const index_t t1 = t0 + C_;
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

  void chunk(const gla_segment& s, index_t t0, index_t n) {
    load_chunk(s, t0, n, true, true);
    next_rows next = prefetch_next(s, t0);
    const bool gated = c_.gate != gla_gate::none;
    const bool small_span = gated ? gates(s, t0, n) : true;
    const float* qt = gated ? qt_.data() : qs_.data();
    const float* ku = gated ? ku_.data() : kc_.data();
    float* S = state_.row(0);
    // O [n x Vp] = qt [n x K] S [K x Vp]: the inter-chunk part, with the state entering the chunk.
    gemm(n, Vp_, K_, {qt, Kp_, 1}, S, Vp_, ot_.data(), Vp_, nullptr);
    next.step(C_ / 2);
    if (c_.gate != gla_gate::vector) scores_scalar(n);
    else if (small_span) scores_one_gemm(n);
    else scores_sub_chunks(n);
    // O += A V, row block by row block over the keys up to the block's end.
    for (index_t i0 = 0; i0 < n; i0 += kSub) {
      const index_t i1 = std::min(n, i0 + kSub);
      gemm(i1 - i0, Vp_, i1, {a_.data() + i0 * Cp_, Cp_, 1}, vc_.data(), Vp_,
           ot_.data() + i0 * Vp_, Vp_, ones_.data());
    }
    next.step(C_);
    write_out(s, t0, n);
    // S [K x Vp] = decay(S) + kuᵀ [K x n] V [n x Vp]
    const float* decay = ones_.data();
    if (c_.gate == gla_gate::scalar) {
      decay = col_.data();
    } else if (c_.gate == gla_gate::vector) {
      const float* last = b_.data() + (n - 1) * Kp_;
      for (index_t d = 0; d < K_; ++d) {
        const batch f(std::exp(last[d]));
        for_batches(Vp_, [&](index_t j) {
          (batch::load_aligned(S + d * Vp_ + j) * f).store_aligned(S + d * Vp_ + j);
        });
      }
    }
    gemm(K_, Vp_, n, {ku, 1, Kp_}, vc_.data(), Vp_, S, Vp_, decay);
  }

  /// Not causal (linear attention only): S_T = S_0 + Kᵀ V over every chunk, then O = (scale Q) S_T.
  void run_noncausal(const gla_segment& s) {
    float* S = state_.row(0);
    for (index_t t0 = 0; t0 < s.T; t0 += C_) {
      const index_t n = std::min(C_, s.T - t0);
      load_chunk(s, t0, n, false, true);
      gemm(K_, Vp_, n, {kc_.data(), 1, Kp_}, vc_.data(), Vp_, S, Vp_, ones_.data());
    }
    for (index_t t0 = 0; t0 < s.T; t0 += C_) {
      const index_t n = std::min(C_, s.T - t0);
      load_chunk(s, t0, n, true, false);
      gemm(n, Vp_, K_, {qs_.data(), Kp_, 1}, S, Vp_, ot_.data(), Vp_, nullptr);
      write_out(s, t0, n);
    }
  }

  gla_call c_;
  index_t K_, Kp_, C_, Cp_;
  gla_state state_;
  index_t Vp_;
  // Chunk scratch, rows of Kp (keys) or Vp (values) floats, aligned:
  aligned_buffer<float> qs_, kc_;  // scale q, k                     [C x Kp]
  aligned_buffer<float> qt_, ku_;  // qs ∘ e^{b}, kc ∘ e^{b_n - b}   [C x Kp]
  aligned_buffer<float> qh_;       // queries of the gla scores      [C x Kp]
  aligned_buffer<float> b_;        // cumulative gates [C x Kp] (gla) or [C] (simple_gla)
  aligned_buffer<float> kt_;       // keys of the scores, transposed [Kp x Cp]
  aligned_buffer<float> a_;        // the causal scores A            [C x Cp]
  aligned_buffer<float> vc_, ot_;  // v (ones column), outputs       [C x Vp]
  aligned_buffer<float> ones_, col_;  // column scales: 1, e^{b_n} (simple_gla)   [Vp]
  aligned_buffer<float> vec_;      // per-key vectors: span lo, hi, two factors, 0  [5 x Kp]
  float* zero_;                    // Kp zeros (the cumulative gate before the chunk)
};

}  // namespace attnkit::detail
