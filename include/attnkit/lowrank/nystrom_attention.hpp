// SPDX-License-Identifier: Apache-2.0
// nystrom_attention: softmax attention approximated through segment-mean landmarks and an
// iterative pseudo-inverse (Nyströmformer).
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/core/threads.hpp>
#include <attnkit/exact/flash.hpp>
#include <attnkit/lowrank/arguments.hpp>
#include <attnkit/lowrank/nystrom_options.hpp>
#include <attnkit/lowrank/nystrom_pinv.hpp>
#include <attnkit/simd/arch.hpp>

namespace attnkit {
namespace detail {

/// The first row of segment l when S rows are cut into m contiguous segments:
/// floor(l S / m). Segment l is [segment_begin(l), segment_begin(l + 1)), of floor(S / m) or
/// ceil(S / m) rows (never empty when m <= S).
constexpr index_t segment_begin(index_t l, index_t S, index_t m) noexcept { return l * S / m; }

/// y [B, m, Hy, D]: row l of head h is the mean of x's rows in segment l of head h / rep
/// (rep = 1: the heads of x; rep = G: each kv head repeated for its G query heads).
inline void segment_means(tensor_view<const float, 4> x, index_t m, index_t rep,
                          tensor_view<float, 4> y) {
  const index_t B = x.extent(0), S = x.extent(1), D = x.extent(3), Hy = y.extent(2);
  for (index_t b = 0; b < B; ++b)
    for (index_t h = 0; h < Hy; ++h)
      for (index_t l = 0; l < m; ++l) {
        const index_t lo = segment_begin(l, S, m), hi = segment_begin(l + 1, S, m);
        float* yr = &y(b, l, h, 0);
        std::fill_n(yr, D, 0.0f);
        for (index_t i = lo; i < hi; ++i) {
          const float* xr = &x(b, i, h / rep, 0);
          for (index_t d = 0; d < D; ++d) yr[d] += xr[d];
        }
        const float inv = 1.0f / static_cast<float>(hi - lo);
        for (index_t d = 0; d < D; ++d) yr[d] *= inv;
      }
}

}  // namespace detail

/// Nyström attention (Xiong et al., arXiv 2102.03902): with m = opt.landmarks,
///   out = softmax(s Q K~ᵀ) pinv(softmax(s Q~ K~ᵀ)) softmax(s Q~ Kᵀ) V
/// per batch entry and query head, where the landmarks Q~ [m, D] and K~ [m, D] are the means
/// of m contiguous segments of q and of k: segment l of S rows is rows [floor(l S / m),
/// floor((l + 1) S / m)), so segments differ by at most one row when m does not divide S
/// (the paper pads S to a multiple of m instead). pinv is the paper's iteration, opt.iterations
/// steps from z_0 = Aᵀ / (||A||_1 ||A||_inf) (detail::nystrom_pinv). With m = Sq = Sk the
/// landmarks are the rows themselves and the result is exact attention up to the
/// pseudo-inverse's residual. Not causal (landmarks average future tokens): opt.causal is rejected.
///
/// Computed as two flash_attention calls (W = softmax(s Q~ Kᵀ) V, then
/// out = softmax(s Q K~ᵀ) (pinv W)) around the m x m algebra, which runs in double. GQA: the
/// key landmarks of a kv head are shared by its query heads (Q~ is per query head).
/// @pre q [B, Sq, Hq, D], k [B, Sk, Hkv, D], v [B, Sk, Hkv, Dv], out [B, Sq, Hq, Dv], Hq a
///      multiple of Hkv, unit innermost strides (others free), D <= 512; opt.landmarks in
///      [1, min(Sq, Sk)] (any when Sq or Sk is 0), opt.iterations in [0, 1000]. Checked,
///      throwing attnkit::error before anything is written. Sk = 0 gives out = 0.
/// Complexity: O(B Hq m (Sq + Sk) (D + Dv)) in the two attentions, O(B Hq (m^2 D + 4 iterations
/// m^3 + m^2 Dv)) for the landmark algebra. Memory: O(B Hq m (D + Dv)) floats and m^2 doubles
/// per thread. Threads: get_num_threads().
template <class Arch = default_arch>
void nystrom_attention(tensor_view<const float, 4> q, tensor_view<const float, 4> k,
                       tensor_view<const float, 4> v, tensor_view<float, 4> out,
                       const nystrom_options& opt = {}) {
  constexpr auto where = "nystrom_attention";
  const auto p = detail::check_nystrom(where, q, k, v, out, opt);
  detail::require(p.D <= 512, where, "q", "extent(3) <= 512 (the head dim)", p.D);
  if (p.B == 0 || p.Sq == 0) return;
  if (p.Sk == 0) {  // no key: every row is 0 (DESIGN 1.3 rule 4)
    for (index_t b = 0; b < p.B; ++b)
      for (index_t i = 0; i < p.Sq; ++i)
        for (index_t h = 0; h < p.Hq; ++h) std::fill_n(&out(b, i, h, 0), p.Dv, 0.0f);
    return;
  }
  const index_t m = opt.landmarks, G = p.Hq / p.Hkv;
  std::vector<float> ql(std::size_t(p.B * m * p.Hq * p.D)), kl(ql.size()),
      w(std::size_t(p.B * m * p.Hq * p.Dv)), y(w.size());
  const tensor_view<float, 4> q_land(ql.data(), {p.B, m, p.Hq, p.D});  // Q~, per query head
  const tensor_view<float, 4> k_land(kl.data(), {p.B, m, p.Hq, p.D});  // K~, repeated per query head
  const tensor_view<float, 4> wv(w.data(), {p.B, m, p.Hq, p.Dv});      // softmax(s Q~ Kᵀ) V
  const tensor_view<float, 4> yv(y.data(), {p.B, m, p.Hq, p.Dv});      // pinv(A) W
  detail::segment_means(q, m, 1, q_land);
  detail::segment_means(k, m, G, k_land);
  attention_options exact;
  exact.scale = p.scale;
  flash_attention<Arch, float>(q_land, k, v, wv, exact);

  std::vector<std::vector<double>> scratch(std::size_t(2 * std::max(1, get_num_threads())));
  parallel_for(p.B * p.Hq, [&](index_t task, int slot) {
    const index_t b = task / p.Hq, h = task % p.Hq;
    std::vector<double>& s = scratch[std::size_t(2 * slot)];
    s.resize(std::size_t(2 * m * m));
    double* a = s.data();  // A = softmax(s Q~ K~ᵀ): [m x m]
    double* z = a + m * m;  // pinv(A)
    for (index_t i = 0; i < m; ++i) {
      double row_max = -std::numeric_limits<double>::infinity();
      for (index_t j = 0; j < m; ++j) {
        double x = 0;
        for (index_t d = 0; d < p.D; ++d) x += double(q_land(b, i, h, d)) * double(k_land(b, j, h, d));
        a[i * m + j] = double(p.scale) * x;
        row_max = std::max(row_max, a[i * m + j]);
      }
      double sum = 0;
      for (index_t j = 0; j < m; ++j) sum += (a[i * m + j] = std::exp(a[i * m + j] - row_max));
      for (index_t j = 0; j < m; ++j) a[i * m + j] /= sum;
    }
    detail::nystrom_pinv(m, a, opt.iterations, z, scratch[std::size_t(2 * slot + 1)]);
    for (index_t i = 0; i < m; ++i) {  // Y = pinv(A) W: [m x Dv]
      float* yr = &yv(b, i, h, 0);
      for (index_t d = 0; d < p.Dv; ++d) {
        double sum = 0;
        for (index_t j = 0; j < m; ++j) sum += z[i * m + j] * double(wv(b, j, h, d));
        yr[d] = static_cast<float>(sum);
      }
    }
  });
  flash_attention<Arch, float>(q, k_land, yv, out, exact);
}

}  // namespace attnkit
