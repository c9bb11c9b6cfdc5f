// SPDX-License-Identifier: Apache-2.0
// attnkit::reference: naive O(Sq Sk) exact attention accumulating in double, the test oracle.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <type_traits>
#include <vector>

#include <attnkit/core/bf16.hpp>
#include <attnkit/core/fp16.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/core/threads.hpp>
#include <attnkit/exact/arguments.hpp>
#include <attnkit/exact/options.hpp>
#include <attnkit/exact/sequences.hpp>

namespace attnkit::reference {

/// Element types the reference reads and writes: the library's types and double (for oracles
/// and finite differences).
template <class T>
concept element = std::is_same_v<T, float> || std::is_same_v<T, double> ||
                  std::is_same_v<T, bf16> || std::is_same_v<T, fp16>;

namespace detail {

using attnkit::detail::attention_problem;

inline double widen(double x) { return x; }
inline float widen(float x) { return x; }
inline float widen(bf16 x) { return float(x); }
inline float widen(fp16 x) { return float(x); }

template <class Acc>
constexpr Acc kNegInf = -std::numeric_limits<Acc>::infinity();

/// The logits of one query row, computed literally as DESIGN 1.3 states them.
template <class Acc>
struct row {
  std::vector<Acc> z;        ///< final logits (visible keys only)
  std::vector<Acc> raw;      ///< scale * <q_i, k_j>, before the softcap
  std::vector<char> seen;    ///< visibility of each key
  Acc m = kNegInf<Acc>;      ///< max of the non-NaN logits and the sink
  Acc sink = kNegInf<Acc>;   ///< the sink logit, -inf without sinks
  bool has_nan = false;      ///< a visible logit (or the sink) is NaN
  Acc sum = 0;               ///< sum of exp(z - m), sink included
  bool empty() const { return m == kNegInf<Acc> && !has_nan; }
  Acc lse() const { return empty() ? sink : m + std::log(sum); }

  explicit row(index_t Sk) : z(Sk), raw(Sk), seen(Sk) {}

  template <class T>
  void compute(const attention_problem& p, const attention_options& opt,
               tensor_view<const T, 4> q, tensor_view<const T, 4> k, index_t b, index_t h,
               index_t i) {
    const index_t o = opt.align == alignment::bottom_right ? p.Sk - p.Sq : 0;
    const index_t diag = i + o;
    const index_t hk = h / (p.Hq / p.Hkv);
    const Acc scale = opt.scale != 0.0f ? Acc(opt.scale) : Acc(1) / std::sqrt(Acc(p.D));
    m = kNegInf<Acc>;
    has_nan = false;
    sink = opt.sinks.empty() ? kNegInf<Acc> : Acc(opt.sinks[h]);
    for (index_t j = 0; j < p.Sk; ++j) {
      bool visible = !(opt.causal && j > diag);
      // Differences of positions, never position +- window: a window may be up to PTRDIFF_MAX.
      if (opt.window_left >= 0 && diag - j > opt.window_left) visible = false;
      if (opt.window_right >= 0 && j - diag > opt.window_right) visible = false;
      seen[j] = visible;
      if (!visible) continue;
      Acc dot = 0;
      for (index_t d = 0; d < p.D; ++d) dot += Acc(widen(q(b, i, h, d))) * Acc(widen(k(b, j, hk, d)));
      Acc s = scale * dot;
      raw[j] = s;
      if (opt.softcap > 0.0f) s = Acc(opt.softcap) * std::tanh(s / Acc(opt.softcap));
      if (!p.bias.empty()) s += Acc(p.bias(b, h, i, j));
      if (!opt.alibi_slopes.empty()) s -= Acc(opt.alibi_slopes[h]) * Acc(std::abs(diag - j));
      z[j] = s;
      if (std::isnan(s)) has_nan = true;
      else if (s > m) m = s;
    }
    if (std::isnan(sink)) has_nan = true;
    else if (sink > m) m = sink;
    sum = opt.sinks.empty() || empty() ? Acc(0) : std::exp(sink - m);
    if (empty()) return;
    for (index_t j = 0; j < p.Sk; ++j)
      if (seen[j]) sum += std::exp(z[j] - m);
  }

  /// The softmax weight of key j (0 for invisible keys); valid after compute() on a non-empty row.
  Acc weight(index_t j) const { return seen[j] ? std::exp(z[j] - m) / sum : Acc(0); }
};

/// Forward over a checked problem: out [B, Sq, Hq, Dv], lse [B, Hq, Sq] when given.
template <class Acc, class T, class L>
void forward(const attention_problem& p, const attention_options& opt,
             tensor_view<const T, 4> q, tensor_view<const T, 4> k, tensor_view<const T, 4> v,
             tensor_view<T, 4> out, tensor_view<L, 3> lse) {
  const bool want_lse = attnkit::detail::is_given(lse);
  parallel_for(p.B * p.Hq, [&](index_t task, int) {
    const index_t b = task / p.Hq, h = task % p.Hq, hk = h / (p.Hq / p.Hkv);
    row<Acc> r(p.Sk);
    std::vector<Acc> acc(p.Dv);
    for (index_t i = 0; i < p.Sq; ++i) {
      r.compute(p, opt, q, k, b, h, i);
      std::fill(acc.begin(), acc.end(), Acc(0));
      if (!r.empty()) {
        for (index_t j = 0; j < p.Sk; ++j) {
          if (!r.seen[j]) continue;
          const Acc w = r.weight(j);
          for (index_t d = 0; d < p.Dv; ++d) acc[d] += w * Acc(widen(v(b, j, hk, d)));
        }
      }
      for (index_t d = 0; d < p.Dv; ++d) out(b, i, h, d) = T(acc[d]);
      if (want_lse) lse(b, h, i) = L(r.lse());
    }
  });
}

/// Backward over a checked problem; dlse (optional) is the gradient flowing into lse.
template <class Acc, class T, class DL>
void backward(const attention_problem& p, const attention_options& opt,
              tensor_view<const T, 4> q, tensor_view<const T, 4> k, tensor_view<const T, 4> v,
              tensor_view<const T, 4> dout, tensor_view<T, 4> dq, tensor_view<T, 4> dk,
              tensor_view<T, 4> dv, tensor_view<DL, 3> dlse) {
  const index_t group = p.Hq / p.Hkv;
  const bool with_dlse = attnkit::detail::is_given(dlse);
  const Acc scale = opt.scale != 0.0f ? Acc(opt.scale) : Acc(1) / std::sqrt(Acc(p.D));
  // One task per (batch, kv head): it owns dk, dv of that head and dq of its query heads.
  parallel_for(p.B * p.Hkv, [&](index_t task, int) {
    const index_t b = task / p.Hkv, hk = task % p.Hkv;
    row<Acc> r(p.Sk);
    std::vector<Acc> gk(p.Sk * p.D, Acc(0)), gv(p.Sk * p.Dv, Acc(0)), gq(p.D), o(p.Dv);
    for (index_t h = hk * group; h < (hk + 1) * group; ++h) {
      for (index_t i = 0; i < p.Sq; ++i) {
        r.compute(p, opt, q, k, b, h, i);
        std::fill(gq.begin(), gq.end(), Acc(0));
        if (!r.empty()) {
          std::fill(o.begin(), o.end(), Acc(0));
          for (index_t j = 0; j < p.Sk; ++j) {
            if (!r.seen[j]) continue;
            const Acc w = r.weight(j);
            for (index_t d = 0; d < p.Dv; ++d) o[d] += w * Acc(widen(v(b, j, hk, d)));
          }
          Acc row_term = 0;  // D_i = <dO_i, O_i>
          for (index_t d = 0; d < p.Dv; ++d) row_term += Acc(widen(dout(b, i, h, d))) * o[d];
          const Acc g_lse = with_dlse ? Acc(dlse(b, h, i)) : Acc(0);
          for (index_t j = 0; j < p.Sk; ++j) {
            if (!r.seen[j]) continue;
            const Acc w = r.weight(j);
            Acc dp = 0;
            for (index_t d = 0; d < p.Dv; ++d) {
              const Acc g = Acc(widen(dout(b, i, h, d)));
              dp += g * Acc(widen(v(b, j, hk, d)));
              gv[j * p.Dv + d] += w * g;
            }
            Acc ds = w * (dp - row_term + g_lse);
            if (opt.softcap > 0.0f) {
              const Acc t = std::tanh(r.raw[j] / Acc(opt.softcap));
              ds *= Acc(1) - t * t;
            }
            ds *= scale;
            for (index_t d = 0; d < p.D; ++d) {
              gq[d] += ds * Acc(widen(k(b, j, hk, d)));
              gk[j * p.D + d] += ds * Acc(widen(q(b, i, h, d)));
            }
          }
        }
        for (index_t d = 0; d < p.D; ++d) dq(b, i, h, d) = T(gq[d]);
      }
    }
    for (index_t j = 0; j < p.Sk; ++j) {
      for (index_t d = 0; d < p.D; ++d) dk(b, j, hk, d) = T(gk[j * p.D + d]);
      for (index_t d = 0; d < p.Dv; ++d) dv(b, j, hk, d) = T(gv[j * p.Dv + d]);
    }
  });
}

using attnkit::detail::segment;
using attnkit::detail::segment_lse;

/// The problem of sequence b of a checked varlen problem.
inline attention_problem segment_problem(const attention_problem& p,
                                         std::span<const std::int32_t> cu_q,
                                         std::span<const std::int32_t> cu_k, index_t b) {
  attention_problem s = p;
  s.B = 1;
  s.Sq = cu_q[b + 1] - cu_q[b];
  s.Sk = cu_k[b + 1] - cu_k[b];
  if (!p.bias.empty())
    s.bias = tensor_view<const float, 4>(p.bias.data() + b * p.bias.stride(0), {1, p.Hq, s.Sq, s.Sk},
                                         {0, p.bias.stride(1), p.bias.stride(2), p.bias.stride(3)});
  return s;
}

}  // namespace detail

/// Exact attention as DESIGN 1.3 states it, accumulating in double: out [B, Sq, Hq, Dv] and,
/// when given, lse [B, Hq, Sq] (natural log; -inf, or the sink, for a row with no visible key).
/// @pre q [B, Sq, Hq, D], k [B, Sk, Hkv, D], v [B, Sk, Hkv, Dv], Hq a multiple of Hkv, unit
///      innermost strides; checked, throwing attnkit::error before anything is written.
/// Complexity O(B Hq Sq Sk (D + Dv)) time, O(Sk + Dv) memory per thread. T = double gives a
/// double-precision oracle (pass a double lse to keep it).
template <element T, class L = float>
void attention(tensor_view<const std::type_identity_t<T>, 4> q,
               tensor_view<const std::type_identity_t<T>, 4> k,
               tensor_view<const std::type_identity_t<T>, 4> v, tensor_view<T, 4> out,
               const attention_options& opt = {}, tensor_view<L, 3> lse = {}) {
  const auto p = attnkit::detail::check_attention("reference::attention", q, k, v, out, opt, lse);
  detail::forward<double>(p, opt, q, k, v, out, lse);
}

/// attention() over packed sequences: q [total_q, Hq, D], k [total_k, Hkv, D],
/// v [total_k, Hkv, Dv], out [total_q, Hq, Dv], lse [Hq, total_q]; sequence b is rows
/// [cu_seqlens_q[b], cu_seqlens_q[b+1]) of q and out and [cu_seqlens_k[b], cu_seqlens_k[b+1]) of
/// k and v. A bias is indexed [b, h, i, j] with i, j local to the sequence (its extents 2 and 3
/// at least the longest lengths). Rows of q and out outside every sequence are not touched.
template <element T, class L = float>
void attention_varlen(tensor_view<const std::type_identity_t<T>, 3> q,
                      tensor_view<const std::type_identity_t<T>, 3> k,
                      tensor_view<const std::type_identity_t<T>, 3> v, tensor_view<T, 3> out,
                      std::span<const std::int32_t> cu_seqlens_q,
                      std::span<const std::int32_t> cu_seqlens_k, const attention_options& opt = {},
                      tensor_view<L, 2> lse = {}) {
  const auto p = attnkit::detail::check_attention_varlen("reference::attention_varlen", q, k, v,
                                                         out, cu_seqlens_q, cu_seqlens_k, opt, lse);
  for (index_t b = 0; b < p.B; ++b)
    detail::forward<double>(detail::segment_problem(p, cu_seqlens_q, cu_seqlens_k, b), opt,
                            detail::segment(q, cu_seqlens_q, b), detail::segment(k, cu_seqlens_k, b),
                            detail::segment(v, cu_seqlens_k, b),
                            detail::segment(out, cu_seqlens_q, b),
                            detail::segment_lse(lse, cu_seqlens_q, b));
}

/// The exact gradients of attention(): dq, dk, dv for the output gradient dout and, when given,
/// dlse, the gradient flowing into lse (an addition to FlashAttention's signature, so that a
/// loss of lse can be tested). GQA sums dk, dv over the query heads of each group.
///
/// The reference recomputes the probabilities and the output in double from q, k, v, so it is
/// exact up to double rounding whatever `out` and `lse` hold; those two are checked for shape
/// only and kept for signature parity with flash_attention_backward. The sink logits are
/// constants here (no gradient is returned for them).
template <element T>
void attention_backward(tensor_view<const std::type_identity_t<T>, 4> q,
                        tensor_view<const std::type_identity_t<T>, 4> k,
                        tensor_view<const std::type_identity_t<T>, 4> v,
                        tensor_view<const std::type_identity_t<T>, 4> out,
                        tensor_view<const std::type_identity_t<T>, 4> dout,
                        tensor_view<const float, 3> lse, tensor_view<T, 4> dq, tensor_view<T, 4> dk,
                        tensor_view<T, 4> dv, const attention_options& opt = {},
                        tensor_view<const float, 3> dlse = {}) {
  constexpr auto where = "reference::attention_backward";
  const auto p = attnkit::detail::check_attention(where, q, k, v, out, opt, lse);
  attnkit::detail::check_backward_extras<4>(where, q, k, v, out, dout, lse, dq, dk, dv, dlse);
  detail::backward<double>(p, opt, q, k, v, dout, dq, dk, dv, dlse);
}

/// attention_backward() over packed sequences (layouts as attention_varlen; lse and dlse
/// [Hq, total_q]). Rows outside every sequence are not touched.
template <element T>
void attention_varlen_backward(tensor_view<const std::type_identity_t<T>, 3> q,
                               tensor_view<const std::type_identity_t<T>, 3> k,
                               tensor_view<const std::type_identity_t<T>, 3> v,
                               tensor_view<const std::type_identity_t<T>, 3> out,
                               tensor_view<const std::type_identity_t<T>, 3> dout,
                               tensor_view<const float, 2> lse, tensor_view<T, 3> dq,
                               tensor_view<T, 3> dk, tensor_view<T, 3> dv,
                               std::span<const std::int32_t> cu_seqlens_q,
                               std::span<const std::int32_t> cu_seqlens_k,
                               const attention_options& opt = {},
                               tensor_view<const float, 2> dlse = {}) {
  constexpr auto where = "reference::attention_varlen_backward";
  const auto p = attnkit::detail::check_attention_varlen(where, q, k, v, out, cu_seqlens_q,
                                                         cu_seqlens_k, opt, lse);
  attnkit::detail::check_backward_extras<3>(where, q, k, v, out, dout, lse, dq, dk, dv, dlse);
  for (index_t b = 0; b < p.B; ++b)
    detail::backward<double>(
        detail::segment_problem(p, cu_seqlens_q, cu_seqlens_k, b), opt,
        detail::segment(q, cu_seqlens_q, b), detail::segment(k, cu_seqlens_k, b),
        detail::segment(v, cu_seqlens_k, b), detail::segment(dout, cu_seqlens_q, b),
        detail::segment(dq, cu_seqlens_q, b), detail::segment(dk, cu_seqlens_k, b),
        detail::segment(dv, cu_seqlens_k, b), detail::segment_lse(dlse, cu_seqlens_q, b));
}

}  // namespace attnkit::reference
