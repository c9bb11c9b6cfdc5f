// SPDX-License-Identifier: Apache-2.0
// detail::gla_recurrent: linear attention, simple_gla and gla token by token for one (sequence,
// head) segment, the form decoding uses: the state in a padded scratch, vectorised over V.
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

namespace attnkit::detail {

/// Per token t: S = diag(e^{g_t}) S + k_t v_tᵀ (the decay a scalar for simple_gla, none for
/// linear attention), o_t = Sᵀ (scale q_t). One pass over S per token updates each row and adds
/// it into o_t at once (2 FMAs and a multiply per state element).
template <class Arch>
class gla_recurrent {
  using batch = xsimd::batch<float, Arch>;
  static constexpr index_t kW = static_cast<index_t>(batch::size);
  /// Column batches per pass: kBlock v batches and kBlock o accumulators stay in registers
  /// (8 of AVX2's 16) while the K rows of S stream through.
  static constexpr int kBlock = 4;

 public:
  explicit gla_recurrent(const gla_call& c)
      : c_(c), state_(c.K, c.V, c.normalize), Vp_(state_.Vp), q_(size(c.K)), k_(size(c.K)),
        e_(size(gla_round_up(c.K, kW))), v_(size(Vp_)), o_(size(Vp_)) {}

  /// Every output and the final state of one segment.
  void run(const gla_segment& s) {
    state_.load(s);
    for (index_t t = 0; t < s.T; ++t) token(s, t, c_.causal);
    if (!c_.causal)
      for (index_t t = 0; t < s.T; ++t) {
        load_query(s, t);
        pass<false, false, true>();
        write_out(s, t);
      }
    state_.store(s);
  }

 private:
  static std::size_t size(index_t n) { return static_cast<std::size_t>(n); }

  void load_query(const gla_segment& s, index_t t) {
    const float* q = s.q + t * s.q_step;
    for (index_t d = 0; d < c_.K; ++d) q_[size(d)] = c_.scale * q[d];
  }

  void token(const gla_segment& s, index_t t, bool output) {
    const float* k = s.k + t * s.k_step;
    const float* v = s.v + t * s.v_step;
    std::copy(k, k + c_.K, k_.data());
    std::copy(v, v + c_.V, v_.data());
    std::fill(v_.data() + c_.V, v_.data() + Vp_, 0.0f);
    if (c_.normalize) v_[size(c_.V)] = 1.0f;
    if (output) load_query(s, t);
    if (c_.gate == gla_gate::scalar) {
      std::fill(e_.data(), e_.data() + c_.K, std::exp(s.g[t * s.g_step]));
    } else if (c_.gate == gla_gate::vector) {
      const float* g = s.g + t * s.g_step;
      const index_t Kw = gla_round_up(c_.K, kW);
      for (index_t d = 0; d < c_.K; ++d) e_[size(d)] = g[d * s.g_dstride];
      std::fill(e_.data() + c_.K, e_.data() + Kw, 0.0f);
      for (index_t d = 0; d < Kw; d += kW)
        simd::exp<Arch>(batch::load_aligned(e_.data() + d)).store_aligned(e_.data() + d);
    }
    const bool decay = c_.gate != gla_gate::none;
    if (decay && output) pass<true, true, true>();
    else if (decay) pass<true, true, false>();
    else if (output) pass<false, true, true>();
    else pass<false, true, false>();
    if (output) write_out(s, t);
  }

  /// One sweep over S: rows decayed (kDecay) and updated (kUpdate), o = Sᵀ q (kOutput).
  template <bool kDecay, bool kUpdate, bool kOutput>
  void pass() {
    auto columns = [&]<int kB>(index_t j0) {
      batch v[kB], o[kB];
      for (int u = 0; u < kB; ++u) {
        v[u] = batch::load_aligned(v_.data() + j0 + u * kW);
        o[u] = batch(0.0f);
      }
      for (index_t d = 0; d < c_.K; ++d) {
        float* row = state_.row(d) + j0;
        const batch kd(k_[size(d)]), qd(q_[size(d)]);
        const batch ed(kDecay ? e_[size(d)] : 1.0f);
        for (int u = 0; u < kB; ++u) {
          batch x = batch::load_aligned(row + u * kW);
          if constexpr (kUpdate) {
            if constexpr (kDecay) x = xsimd::fma(kd, v[u], x * ed);
            else x = xsimd::fma(kd, v[u], x);
            x.store_aligned(row + u * kW);
          }
          if constexpr (kOutput) o[u] = xsimd::fma(qd, x, o[u]);
        }
      }
      if constexpr (kOutput)
        for (int u = 0; u < kB; ++u) o[u].store_aligned(o_.data() + j0 + u * kW);
    };
    index_t j0 = 0;
    for (; j0 + kBlock * kW <= Vp_; j0 += kBlock * kW) columns.template operator()<kBlock>(j0);
    for (; j0 < Vp_; j0 += kW) columns.template operator()<1>(j0);
  }

  void write_out(const gla_segment& s, index_t t) const {
    float* dst = s.out + t * s.out_step;
    if (c_.normalize) {
      const float norm = o_[size(c_.V)] + 1e-10f;
      for (index_t j = 0; j < c_.V; ++j) dst[j] = o_[size(j)] / norm;
    } else {
      std::copy(o_.data(), o_.data() + c_.V, dst);
    }
  }

  gla_call c_;
  gla_state state_;
  index_t Vp_;
  aligned_buffer<float> q_, k_, e_;  // scale q_t, k_t, e^{g_t} per key dim   [K]
  aligned_buffer<float> v_, o_;      // v_t (ones column), o_t               [Vp]
};

}  // namespace attnkit::detail
