// SPDX-License-Identifier: Apache-2.0
// detail::delta_recurrent: the (gated) delta rule token by token over one (sequence, head), the
// form of decoding and of the one-token step API.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>

#include <attnkit/core/aligned_buffer.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/linear/delta_segment.hpp>
#include <attnkit/simd/arch.hpp>

namespace attnkit::detail {

/// The recurrent delta rule (DeltaNet, arXiv 2406.06484, eq. 1; gated: Gated DeltaNet, arXiv
/// 2412.06464) with one thread's scratch: the state S [K x ld] fp32, ld = V rounded up to the
/// batch width (pad columns stay zero), and the vectors a, b, u of V.
///
/// Per token t, with d = e^{g_t} (1 without gates), a = S_{t-1}ᵀ k_t and b = S_{t-1}ᵀ q_t:
///   u_t = beta_t (v_t - d a),   o_t = scale (d b + (k_t . q_t) u_t),   S_t = d S_{t-1} + k_t u_tᵀ,
/// which is the reference's order of operations with S_tᵀ q_t expanded. One pass over S per token
/// does both the update of token t and the products a, b of token t + 1 (3 FMAs per element, S
/// read and written once); at K = V = 128 the state is 64 KiB, which lives in L2.
template <class Arch>
class delta_recurrent {
  using batch = xsimd::batch<float, Arch>;
  static constexpr index_t kWidth = static_cast<index_t>(batch::size);
  /// Columns per pass block: 4 batches keep 8 independent a/b FMA chains in flight (4-cycle FMA
  /// latency, 2 FMA ports) next to the 4 update FMAs, 15 registers on AVX2.
  static constexpr int kBlockVecs = 4;

 public:
  delta_recurrent(index_t K, index_t V, float scale)
      : K_(K), V_(V), ld_((V + kWidth - 1) / kWidth * kWidth), scale_(scale),
        state_(std::size_t(K * ld_)), a_(std::size_t(ld_)), b_(std::size_t(ld_)),
        u_(std::size_t(ld_)) {
    std::fill_n(state_.data(), state_.size(), 0.0f);
    for (float* p : {a_.data(), b_.data(), u_.data()}) std::fill_n(p, ld_, 0.0f);
  }

  /// Runs the recurrence over every token of `s`, from s.s0 (zero when null) to s.s1 (when not
  /// null). s.s0 may equal s.s1 (the step API updates a state in place).
  void run(const delta_segment& s) {
    load_state(s);
    const bool gated = s.g != nullptr;
    if (s.T > 0) {
      if (s.s0 != nullptr) pass<false, true, false>(1.0f, nullptr, s.k, s.q);
      else std::fill_n(a_.data(), ld_, 0.0f), std::fill_n(b_.data(), ld_, 0.0f);
    }
    for (index_t t = 0; t < s.T; ++t) {
      const float d = gated ? std::exp(s.g[t * s.g_stride]) : 1.0f;
      token(s, t, d);
      const float* kt = s.k + t * s.k_stride;
      if (t + 1 < s.T) {
        const float* kn = kt + s.k_stride;
        const float* qn = s.q + (t + 1) * s.q_stride;
        if (gated) pass<true, true, true>(d, kt, kn, qn);
        else pass<true, true, false>(d, kt, kn, qn);
      } else if (s.s1 != nullptr) {
        if (gated) pass<true, false, true>(d, kt, nullptr, nullptr);
        else pass<true, false, false>(d, kt, nullptr, nullptr);
      }
    }
    if (s.s1 != nullptr)
      for (index_t i = 0; i < K_; ++i)
        for (index_t j = 0; j < V_; ++j) s.s1[i * s.s1_row + j * s.s1_col] = state_[std::size_t(i * ld_ + j)];
  }

 private:
  void load_state(const delta_segment& s) {
    for (index_t i = 0; i < K_; ++i) {
      float* row = state_.data() + i * ld_;
      for (index_t j = 0; j < V_; ++j) row[j] = s.s0 ? s.s0[i * s.s0_row + j * s.s0_col] : 0.0f;
      std::fill(row + V_, row + ld_, 0.0f);
    }
  }

  /// u_t and o_t from a and b (see the class comment); o_t goes to the output row.
  void token(const delta_segment& s, index_t t, float d) {
    const float* k = s.k + t * s.k_stride;
    const float* q = s.q + t * s.q_stride;
    const float* v = s.v + t * s.v_stride;
    float* o = s.out + t * s.out_stride;
    float kq = 0.0f;
    for (index_t i = 0; i < K_; ++i) kq += k[i] * q[i];
    const float beta = s.beta[t * s.beta_stride];
    for (index_t j = 0; j < V_; ++j) {
      const float u = beta * (v[j] - d * a_[std::size_t(j)]);
      u_[std::size_t(j)] = u;
      o[j] = scale_ * (d * b_[std::size_t(j)] + kq * u);
    }
  }

  /// One pass over S: with kUpdate S = d S + kt uᵀ (d only with kDecay), then with kDots
  /// a = Sᵀ kn and b = Sᵀ qn on the updated rows.
  template <bool kUpdate, bool kDots, bool kDecay>
  void pass(float decay, const float* kt, const float* kn, const float* qn) noexcept {
    auto block = [&]<int kVecs>(index_t j0) {
      batch u[kVecs], a[kVecs], b[kVecs];
      const batch d(decay);
      for (int c = 0; c < kVecs; ++c) {
        if constexpr (kUpdate) u[c] = batch::load_aligned(u_.data() + j0 + c * kWidth);
        if constexpr (kDots) a[c] = batch(0.0f), b[c] = batch(0.0f);
      }
      float* row = state_.data() + j0;
      for (index_t i = 0; i < K_; ++i, row += ld_) {
        batch ku, kx, qx;
        if constexpr (kUpdate) ku = batch(kt[i]);
        if constexpr (kDots) kx = batch(kn[i]), qx = batch(qn[i]);
        for (int c = 0; c < kVecs; ++c) {
          batch x = batch::load_aligned(row + c * kWidth);
          if constexpr (kUpdate) {
            if constexpr (kDecay) x = xsimd::fma(ku, u[c], x * d);
            else x = xsimd::fma(ku, u[c], x);
            x.store_aligned(row + c * kWidth);
          }
          if constexpr (kDots) {
            a[c] = xsimd::fma(kx, x, a[c]);
            b[c] = xsimd::fma(qx, x, b[c]);
          }
        }
      }
      if constexpr (kDots)
        for (int c = 0; c < kVecs; ++c) {
          a[c].store_aligned(a_.data() + j0 + c * kWidth);
          b[c].store_aligned(b_.data() + j0 + c * kWidth);
        }
    };
    index_t j0 = 0;
    for (; j0 + kBlockVecs * kWidth <= ld_; j0 += kBlockVecs * kWidth)
      block.template operator()<kBlockVecs>(j0);
    for (; j0 < ld_; j0 += kWidth) block.template operator()<1>(j0);
  }

  index_t K_, V_, ld_;
  float scale_;
  aligned_buffer<float> state_, a_, b_, u_;
};

}  // namespace attnkit::detail
