// SPDX-License-Identifier: Apache-2.0
// The differential check behind the flash fuzzer: one decoded case, the double reference, the
// naive float formula and flash_attention on every compiled arch, abort() on any disagreement.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include <attnkit/core/error.hpp>
#include <attnkit/core/threads.hpp>
#include <attnkit/exact/arguments.hpp>
#include <attnkit/exact/flash.hpp>
#include <attnkit/exact/reference.hpp>
#include <attnkit/simd/arch.hpp>

#include "flash_input.hpp"
#include "support/tensor.hpp"

namespace attnkit::fuzz {

using test::at;
using test::for_each_index;
using test::tensor;

/// The part of check_flash that depends on the element type, one translation unit per type.
template <class T>
void run_case(const flash_case& c, byte_source& in);

extern template void run_case<float>(const flash_case&, byte_source&);
extern template void run_case<bf16>(const flash_case&, byte_source&);
extern template void run_case<fp16>(const flash_case&, byte_source&);

namespace detail {

/// Pre-filled into every output: exact in float, bf16 and fp16, and far from any output value
/// the decoded inputs can produce except through the +-1e3 / 1e4 specials, which no output
/// element lands on exactly.
inline constexpr float kSentinel = -768.0f;
inline constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
inline constexpr float kInf = std::numeric_limits<float>::infinity();

/// A number with enough digits to tell float neighbours apart.
inline std::string num(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", x);
  return buf;
}

[[noreturn]] inline void fail(const flash_case& c, const std::string& what) {
  std::fprintf(stderr, "attnkit fuzz: %s\n  case: %s\n", what.c_str(), describe(c).c_str());
  std::fflush(stderr);
  std::abort();
}

/// An explicit value byte as a tensor value. 0..239 are ordinary values in [-1.875, 1.86];
/// the rest are specials. Infinite inputs are never produced (see README: with an infinite
/// input whether an output is NaN depends on where float, but not double, underflows to 0,
/// so no oracle exists), except -inf in the bias, the usual way to mask, when NaN values are off.
inline float decode_value(std::uint8_t b, const flash_case& c, bool bias) {
  const bool half = c.element != element_kind::f32;
  // Half-precision cases keep the specials at 1e2: the kernel computes logits in fp32 and the
  // RMS rule has no float baseline to absorb fp32 rounding of logits of 1e8.
  const float big = half ? 100.0f : 1e4f, large = half ? 30.0f : 1e3f;
  if (b < 240) return float(int(b) - 120) / 64.0f;
  switch (b) {
    case 240: return 0.0f;
    case 241: return -0.0f;
    case 242: return big;
    case 243: return -big;
    case 244: return 1e-40f;  // subnormal
    case 245: return 1e-30f;
    case 246: return 100.0f;
    case 247: return -100.0f;
    case 248: return large;
    case 249: return -large;
    case 250: return 0x1p-20f;
    case 255: return bias && !c.nan_values ? -kInf : 7.0f;
    default:  // 251..254
      if (c.nan_values) return kNaN;
      return b == 251 ? 3.0f : b == 252 ? -3.0f : b == 253 ? 0.25f : -0.25f;
  }
}

inline float next_value(byte_source& in, const flash_case& c, bool bias) {
  return in.explicit_left() ? decode_value(in.byte(), c, bias) : in.random_value();
}

inline float next_slope(byte_source& in) {
  if (!in.explicit_left()) return in.random_value() / 4.0f;
  const std::uint8_t b = in.byte();
  if (b < 240) return float(int(b) - 120) / 64.0f;
  static constexpr float kSpecial[] = {0.0f, 8.0f, -8.0f, 1e3f, 1e-3f, -1e-3f, 0.5f, 0.0625f};
  return kSpecial[(b - 240) % std::size(kSpecial)];
}

inline float next_sink(byte_source& in) {
  if (!in.explicit_left()) return in.random_value() * 2.0f;
  const std::uint8_t b = in.byte();
  if (b < 240) return float(int(b) - 120) / 16.0f;
  if (b < 248) return -kInf;  // a sink that never wins
  static constexpr float kSpecial[] = {50.0f, -50.0f, 1e4f, -1e4f, 0.0f, 1e-3f, 20.0f, -20.0f};
  return kSpecial[b - 248];
}

/// The storage of one argument: logical extents, storage order (order[0] outermost) and the
/// unused elements after each innermost row.
template <std::size_t R>
struct layout {
  std::array<index_t, R> extents{};
  std::array<std::size_t, R> order{};
  index_t pad = 0;
};

template <std::size_t R>
std::array<std::size_t, R> sequence_major() {
  if constexpr (R == 4) return {0, 1, 2, 3};
  else return {0, 1, 2};
}
template <std::size_t R>
std::array<std::size_t, R> head_major() {
  if constexpr (R == 4) return {0, 2, 1, 3};
  else return {1, 0, 2};
}

/// The layouts of q, k, v, out and lse of a case, with the shape faults planted.
template <std::size_t R>
struct geometry {
  layout<R> q, k, v, out;
  layout<R - 1> lse;
};

template <std::size_t R>
geometry<R> make_geometry(const flash_case& c) {
  geometry<R> g;
  const auto in_order = c.in_bhsd ? head_major<R>() : sequence_major<R>();
  const auto out_order = c.out_bhsd ? head_major<R>() : sequence_major<R>();
  if constexpr (R == 4) {
    g.q.extents = {c.B, c.Sq, c.Hq, c.D};
    g.k.extents = {c.B, c.Sk, c.Hkv, c.D};
    g.v.extents = {c.B, c.Sk, c.Hkv, c.Dv};
    g.out.extents = {c.B, c.Sq, c.Hq, c.Dv};
    g.lse.extents = {c.B, c.Hq, c.Sq};
    g.lse.order = c.out_bhsd ? std::array<std::size_t, 3>{0, 2, 1} : std::array<std::size_t, 3>{0, 1, 2};
  } else {
    g.q.extents = {c.total_q, c.Hq, c.D};
    g.k.extents = {c.total_k, c.Hkv, c.D};
    g.v.extents = {c.total_k, c.Hkv, c.Dv};
    g.out.extents = {c.total_q, c.Hq, c.Dv};
    g.lse.extents = {c.Hq, c.total_q};
    g.lse.order = c.out_bhsd ? std::array<std::size_t, 2>{1, 0} : std::array<std::size_t, 2>{0, 1};
  }
  g.q.order = g.k.order = g.v.order = in_order;
  g.out.order = out_order;
  g.q.pad = g.k.pad = g.v.pad = g.out.pad = c.pad;
  constexpr std::size_t s = R - 3, h = R - 2, d = R - 1;
  switch (c.planted) {
    case fault::kv_heads_not_a_divisor: g.k.extents[h] = g.v.extents[h] = c.Hq + 1; break;
    case fault::v_heads: g.v.extents[h] += 1; break;
    case fault::v_length: g.v.extents[s] += 1; break;
    case fault::k_head_dim: g.k.extents[d] += 1; break;
    case fault::out_head_dim: g.out.extents[d] += 1; break;
    case fault::out_heads: g.out.extents[h] += 1; break;
    case fault::lse_extent: g.lse.extents[R - 2] += 1; break;
    case fault::head_dim_zero: g.q.extents[d] = g.k.extents[d] = 0; break;
    case fault::value_dim_zero: g.v.extents[d] = g.out.extents[d] = 0; break;
    case fault::q_inner_stride: g.q.pad += c.D; break;  // room for stride 2 within each row
    case fault::out_inner_stride: g.out.pad += c.Dv; break;
    case fault::k_batch: g.k.extents[0] += 1; break;
    case fault::v_batch: g.v.extents[0] += 1; break;
    case fault::out_batch: g.out.extents[0] += 1; break;
    case fault::no_kv_heads: g.k.extents[h] = g.v.extents[h] = 0; break;
    default: break;
  }
  return g;
}

/// The view a call receives of an argument: the tensor's own, or the planted stride / null fault.
template <class U, std::size_t R>
tensor_view<U, R> input_view(tensor<std::remove_const_t<U>, R>& t, const flash_case& c) {
  tensor_view<U, R> v = t.view();
  auto strides = v.strides();
  if (c.planted == fault::q_inner_stride) strides[R - 1] = 2;
  return {c.planted == fault::q_null ? nullptr : v.data(), v.extents(), strides};
}

template <class U, std::size_t R>
tensor_view<U, R> output_view(tensor<U, R>& t, const flash_case& c) {
  tensor_view<U, R> v = t.view();
  auto strides = v.strides();
  if (c.planted == fault::out_inner_stride) strides[R - 1] = 2;
  if (c.planted == fault::out_broadcast) strides[R - 3] = 0;
  return {v.data(), v.extents(), strides};
}

/// Rule 1 of DESIGN 1.3 for the harness's own bookkeeping. Windows are clamped to Sq + Sk + 1,
/// which changes nothing (|j - (i + o)| <= Sq + Sk) and keeps this arithmetic from overflowing.
inline bool visible(const flash_case& c, index_t i, index_t j, index_t Sq, index_t Sk) {
  const index_t o = c.align == alignment::bottom_right ? Sk - Sq : 0, diag = i + o;
  const index_t wl = std::min<index_t>(c.window_left, Sq + Sk + 1);
  const index_t wr = std::min<index_t>(c.window_right, Sq + Sk + 1);
  if (c.causal && j > diag) return false;
  if (wl >= 0 && j < diag - wl) return false;
  if (wr >= 0 && j > diag + wr) return false;
  return true;
}

/// The options of a case with their storage (slopes, sinks, bias), option faults planted.
struct owned_options {
  std::vector<float> slopes, sinks;
  std::optional<tensor<float, 4>> bias;
  attention_options opt;
};

/// Draws slopes, sinks and bias from `in`. Bias elements the reference never reads (outside
/// every sequence, or at a key the query does not see) are NaN, so a kernel that reads them or
/// lets them leak through its masking fails the comparison.
inline owned_options make_options(const flash_case& c, byte_source& in) {
  owned_options o;
  attention_options& opt = o.opt;
  opt.scale = c.scale;
  opt.causal = c.causal;
  opt.align = c.align;
  opt.window_left = c.window_left;
  opt.window_right = c.window_right;
  opt.softcap = c.softcap;
  const index_t n_slopes = c.planted == fault::alibi_count ? c.Hq + 1 : c.alibi ? c.Hq : 0;
  for (index_t h = 0; h < n_slopes; ++h) o.slopes.push_back(next_slope(in));
  const index_t n_sinks = c.planted == fault::sinks_count ? c.Hq + 1 : c.sinks ? c.Hq : 0;
  for (index_t h = 0; h < n_sinks; ++h) o.sinks.push_back(next_sink(in));

  if (c.bias) {
    // Dense: [B, Hq, Sq, Sk]; varlen: at least the longest lengths, here up to 3 more.
    std::array<index_t, 4> full = {c.B, c.Hq, c.Sq, c.Sk};
    if (c.varlen) full[2] += c.pad, full[3] += c.pad;
    std::array<index_t, 4> stored = full;
    for (int r = 0; r < 4; ++r)
      if (c.bias_broadcast[r]) stored[r] = 1;
    if (c.planted == fault::bias_heads) stored[1] = c.Hq + 1;
    if (c.planted == fault::bias_key_length) stored[3] = c.Sk + 2;
    const std::array<std::size_t, 4> order =
        c.bias_transposed ? std::array<std::size_t, 4>{0, 1, 3, 2} : std::array<std::size_t, 4>{0, 1, 2, 3};
    o.bias.emplace(stored, order, 0, kNaN);
    // An element is read when some (b, i, j) it stands for is a visible pair of a sequence.
    tensor<unsigned char, 4> read(stored, order, 0, 0);
    for (index_t b = 0; b < c.B; ++b) {
      const index_t lq = c.varlen ? c.cu_q[b + 1] - c.cu_q[b] : c.Sq;
      const index_t lk = c.varlen ? c.cu_k[b + 1] - c.cu_k[b] : c.Sk;
      for (index_t h = 0; h < c.Hq; ++h)
        for (index_t i = 0; i < lq; ++i)
          for (index_t j = 0; j < lk; ++j) {
            if (!visible(c, i, j, lq, lk)) continue;
            auto pick = [&](std::size_t r, index_t x) { return stored[r] == 1 ? 0 : x; };
            if (pick(0, b) < stored[0] && pick(1, h) < stored[1] && pick(2, i) < stored[2] &&
                pick(3, j) < stored[3])
              read(pick(0, b), pick(1, h), pick(2, i), pick(3, j)) = 1;
          }
    }
    for_each_index(stored, [&](const auto& idx) {
      const float x = next_value(in, c, true);
      if (at(read.view(), idx)) at(o.bias->view(), idx) = x;
    });
    tensor_view<const float, 4> bias = o.bias->cview();
    if (c.bias_stride_zero) {  // the same data seen at full extent with zero strides
      auto extents = bias.extents();
      auto strides = bias.strides();
      for (int r = 0; r < 4; ++r)
        if (c.bias_broadcast[r]) extents[r] = full[r], strides[r] = 0;
      bias = tensor_view<const float, 4>(bias.data(), extents, strides);
    }
    if (c.planted == fault::bias_null)
      bias = tensor_view<const float, 4>(nullptr, bias.extents(), bias.strides());
    opt.bias = bias;
  }

  switch (c.planted) {
    case fault::window_left_below_minus_one: opt.window_left = -2 - c.Sq; break;
    case fault::window_right_below_minus_one: opt.window_right = std::numeric_limits<index_t>::min(); break;
    case fault::sink_nan: o.sinks[0] = kNaN; break;
    case fault::sink_positive_infinity: o.sinks.back() = kInf; break;
    case fault::alibi_not_finite: o.slopes.back() = c.Hq % 2 ? kInf : kNaN; break;
    case fault::scale_nan: opt.scale = kNaN; break;
    case fault::scale_infinite: opt.scale = -kInf; break;
    case fault::softcap_negative: opt.softcap = -1.0f; break;
    case fault::softcap_infinite: opt.softcap = kInf; break;
    default: break;
  }
  opt.alibi_slopes = o.slopes;
  opt.sinks = o.sinks;
  return o;
}

/// q, k or v as float values in the argument's layout. Padding and rows outside every sequence
/// (varlen) are NaN: the reference never reads them, so neither may a kernel.
template <std::size_t R>
tensor<float, R> make_input(const layout<R>& l, index_t rows_used, const flash_case& c,
                            byte_source& in) {
  tensor<float, R> t(l.extents, l.order, l.pad, kNaN);
  for_each_index(l.extents, [&](const auto& idx) {
    const float x = next_value(in, c, false);
    if (R == 4 || idx[0] < rows_used) at(t.view(), idx) = x;
  });
  return t;
}

/// `from` converted element by element (padding included) to U through T, so that the double
/// reference and the naive float see exactly the values the kernel reads.
template <class U, class T, std::size_t R>
tensor<U, R> as_element(const tensor<float, R>& from, const layout<R>& l) {
  tensor<U, R> to(l.extents, l.order, l.pad);
  for (std::size_t n = 0; n < from.storage().size(); ++n)
    to.storage()[n] = U(float(T(from.storage()[n])));
  return to;
}

/// 1 where the reference writes: every logical element (dense) or the rows of some sequence
/// (varlen, `rows` = cu_q.back()); 0 on padding and rows outside every sequence. For lse the
/// rows are the last dimension.
template <std::size_t R>
tensor<unsigned char, R> written_mask(const layout<R>& l, index_t rows, bool varlen,
                                      std::size_t row_dim) {
  tensor<unsigned char, R> m(l.extents, l.order, l.pad, 0);
  for_each_index(l.extents, [&](const auto& idx) {
    at(m.view(), idx) = !varlen || idx[row_dim] < rows;
  });
  return m;
}

/// The logical index of storage position n, for messages.
template <class U, std::size_t R>
std::string index_of(const tensor<U, R>& t, std::size_t n) {
  std::string s = "storage[" + std::to_string(n) + "]";
  const auto view = t.view();
  for_each_index(t.extents(), [&](const auto& idx) {
    index_t off = 0;
    for (std::size_t r = 0; r < R; ++r) off += idx[r] * view.stride(r);
    if (off != index_t(n)) return;
    s = "[";
    for (std::size_t r = 0; r < R; ++r) s += std::to_string(idx[r]) + (r + 1 < R ? "," : "]");
  });
  return s;
}

/// Fails unless every element of `t` still holds the sentinel.
template <class U, std::size_t R>
void require_untouched(const flash_case& c, const tensor<U, R>& t, const std::string& what) {
  for (std::size_t n = 0; n < t.storage().size(); ++n)
    if (!(double(t.storage()[n]) == double(kSentinel)))
      fail(c, what + " " + index_of(t, n) + " was written (" + num(double(t.storage()[n])) +
                  ") by a call that threw");
}

/// The rounding any float evaluation of the formula makes, to first order, per output element.
/// A float logit z_j carries an error of about u |terms of z_j| (u = 2^-24; the terms are the
/// products of the dot, the bias, the ALiBi term and z itself, counted 4 times for tanh and the
/// exponent's argument), and out_i = sum_j w_j v_j moves by sum_j w_j (v_j - out_i) dz_j, lse
/// by sum_j w_j dz_j. With logits of 1e3-1e4 and near ties this irreducible error dominates, and
/// the naive float's own error, one random draw of it, is no stable yardstick: the first fuzz
/// runs found kernels at 2.2-2.9 x the naive float error with logits near 3000, from nothing
/// but a different summation order. In ordinary cases the allowance stays near 1e-7.
inline void rounding_allowance(tensor_view<const double, 4> q, tensor_view<const double, 4> k,
                               tensor_view<const double, 4> v, tensor_view<double, 4> out,
                               tensor_view<double, 3> lse,
                               const attnkit::detail::attention_problem& p,
                               const attention_options& opt) {
  constexpr double u = 0x1p-24;
  const index_t o = opt.align == alignment::bottom_right ? p.Sk - p.Sq : 0;
  reference::detail::row<double> r(p.Sk);
  std::vector<double> eps(p.Sk), mean(p.Dv);
  for (index_t b = 0; b < p.B; ++b)
    for (index_t h = 0; h < p.Hq; ++h) {
      const index_t hk = h / (p.Hq / p.Hkv);
      for (index_t i = 0; i < p.Sq; ++i) {
        r.compute(p, opt, q, k, b, h, i);
        std::fill(mean.begin(), mean.end(), 0.0);
        double lse_slack = 0.0;
        const bool rounded = !r.empty() && !r.has_nan;  // else out is 0 / NaN exactly
        for (index_t j = 0; rounded && j < p.Sk; ++j) {
          const double w = r.seen[j] ? r.weight(j) : 0.0;
          if (!(w > 0.0)) continue;
          double terms = 0.0;
          for (index_t d = 0; d < p.D; ++d) terms += std::fabs(q(b, i, h, d) * k(b, j, hk, d));
          terms *= std::fabs(double(p.scale));
          if (!p.bias.empty()) terms += std::fabs(double(p.bias(b, h, i, j)));
          if (!opt.alibi_slopes.empty())
            terms += std::fabs(double(opt.alibi_slopes[h]) * double(i + o - j));
          eps[j] = u * (terms + 4.0 * std::fabs(r.z[j]));
          lse_slack += w * eps[j];
          for (index_t d = 0; d < p.Dv; ++d) mean[d] += w * v(b, j, hk, d);
        }
        for (index_t d = 0; d < p.Dv; ++d) {
          // Capped at the spread of the visible values: out stays a convex combination of them
          // whatever the rounding of the logits does (with logits of 1e8 the first-order term
          // overshoots that by far).
          double slack = 0.0, spread = 0.0;
          for (index_t j = 0; rounded && j < p.Sk; ++j) {
            if (!r.seen[j]) continue;
            const double w = r.weight(j), dev = std::fabs(v(b, j, hk, d) - mean[d]);
            spread = std::max(spread, dev);
            if (w > 0.0) slack += w * dev * eps[j];
          }
          out(b, i, h, d) = std::min(slack, spread);
        }
        if (attnkit::detail::is_given(lse)) lse(b, h, i) = lse_slack;
      }
    }
}

/// rounding_allowance over every sequence of a valid case, in the layouts of out and lse.
template <std::size_t R>
void rounding_allowances(const flash_case& c, tensor_view<const double, R> q,
                         tensor_view<const double, R> k, tensor_view<const double, R> v,
                         tensor_view<double, R> out, tensor_view<double, R - 1> lse,
                         const attention_options& opt) {
  using namespace attnkit::detail;
  if (!c.with_lse) lse = {};
  if constexpr (R == 4) {
    rounding_allowance(q, k, v, out, lse, check_attention("fuzz allowance", q, k, v, out, opt, lse),
                       opt);
  } else {
    const auto p = check_attention_varlen("fuzz allowance", q, k, v, out, c.cu_q, c.cu_k, opt, lse);
    for (index_t b = 0; b < p.B; ++b)
      rounding_allowance(segment(q, c.cu_q, b), segment(k, c.cu_k, b), segment(v, c.cu_k, b),
                         segment(out, c.cu_q, b), segment_lse(lse, c.cu_q, b),
                         reference::detail::segment_problem(p, c.cu_q, c.cu_k, b), opt);
  }
}

/// Max |got - want| over the written positions, with the position; NaN against non-NaN or
/// unequal infinities count as infinite (equal infinities and NaN against NaN as 0).
struct max_error {
  double value = 0.0;
  std::size_t at = 0;
};

template <class G, class W, std::size_t R>
max_error max_abs_error(const tensor<G, R>& got, const tensor<W, R>& want,
                        const tensor<unsigned char, R>& mask) {
  max_error e;
  for (std::size_t n = 0; n < got.storage().size(); ++n) {
    if (!mask.storage()[n]) continue;
    const double g = double(got.storage()[n]), w = double(want.storage()[n]);
    double err = 0.0;
    if (std::isnan(g) || std::isnan(w)) err = std::isnan(g) == std::isnan(w) ? 0.0 : kInf;
    else if (g != w) err = std::fabs(g - w);  // inf against finite or -inf gives inf
    if (err > e.value || (std::isinf(err) && !std::isinf(e.value))) e = {err, n};
  }
  return e;
}

/// The checks every output of a successful call passes whatever the element type: nothing
/// written outside the valid positions, NaN exactly where the reference has NaN, infinities
/// (an lse of -inf) exactly where the reference has them.
template <class G, class W, std::size_t R>
void check_pattern(const flash_case& c, const std::string& what, const tensor<G, R>& got,
                   const tensor<W, R>& want, const tensor<unsigned char, R>& mask) {
  for (std::size_t n = 0; n < got.storage().size(); ++n) {
    const double g = double(got.storage()[n]), w = double(want.storage()[n]);
    if (!mask.storage()[n]) {
      if (!(g == double(kSentinel)))
        fail(c, what + " " + index_of(got, n) + " lies outside every valid row or in padding but was "
                    "written: " + num(g));
      continue;
    }
    if (std::isnan(g) != std::isnan(w))
      fail(c, what + " " + index_of(got, n) + ": NaN pattern differs: got " + num(g) +
                  ", reference " + num(w));
    if ((std::isinf(g) || std::isinf(w)) && g != w)
      fail(c, what + " " + index_of(got, n) + ": infinity differs: got " + num(g) +
                  ", reference " + num(w));
  }
}

/// DESIGN 4's float rule, element by element: |got - want| <= 2 x the naive float's max error
/// + 1e-6, plus two terms of the harness's: one float ulp of want (a float result is only as
/// close as the rounding of its own value; the naive float's lse of 3268, ulp 2.4e-4, landed a
/// quarter ulp off by chance in an early run) and the element's rounding_allowance.
template <class G, class N, class W, std::size_t R>
void check_float_rule(const flash_case& c, const std::string& what, const tensor<G, R>& got,
                      const tensor<N, R>& naive, const tensor<W, R>& want,
                      const tensor<double, R>& allowance, const tensor<unsigned char, R>& mask) {
  check_pattern(c, what, got, want, mask);
  const double base = max_abs_error(naive, want, mask).value;
  for (std::size_t n = 0; n < got.storage().size(); ++n) {
    const double g = double(got.storage()[n]), w = double(want.storage()[n]);
    if (!mask.storage()[n] || !std::isfinite(g) || !std::isfinite(w)) continue;  // checked above
    const double bound = 2.0 * base + 1e-6 + 0x1p-23 * std::fabs(w) + allowance.storage()[n];
    if (std::fabs(g - w) <= bound) continue;
    fail(c, what + " " + index_of(got, n) + ": error " + num(std::fabs(g - w)) + " (got " + num(g) +
                ", reference " + num(w) + ", naive float " + num(double(naive.storage()[n])) +
                ") exceeds 2 x the naive float error " + num(base) + " + 1e-6 + 1 ulp + the " +
                "rounding allowance " + num(allowance.storage()[n]) + " = " + num(bound));
  }
}

/// DESIGN 4's bf16 / fp16 rule: RMS relative error below 1e-2 over the finite positions,
/// relative to max(RMS of the reference, 1e-3). The floor judges outputs far below the half
/// types' resolution (a dominant sink leaves out ~1e-7, where fp16 keeps one digit) absolutely.
/// Each element's error counts beyond its rounding_allowance only (the kernel's fp32 logits).
template <class G, class W, std::size_t R>
void check_rms_rule(const flash_case& c, const std::string& what, const tensor<G, R>& got,
                    const tensor<W, R>& want, const tensor<double, R>& allowance,
                    const tensor<unsigned char, R>& mask) {
  check_pattern(c, what, got, want, mask);
  double err2 = 0.0, ref2 = 0.0;
  std::size_t count = 0;
  for (std::size_t n = 0; n < got.storage().size(); ++n) {
    const double g = double(got.storage()[n]), w = double(want.storage()[n]);
    if (!mask.storage()[n] || !std::isfinite(g) || !std::isfinite(w)) continue;
    const double excess = std::max(std::fabs(g - w) - allowance.storage()[n], 0.0);
    err2 += excess * excess;
    ref2 += w * w;
    ++count;
  }
  if (count == 0) return;
  const double scale = std::max(std::sqrt(ref2 / double(count)), 1e-3);
  const double e = std::sqrt(err2 / double(count)) / scale;
  if (e < 1e-2) return;
  fail(c, what + ": RMS relative error " + num(e) + " >= 1e-2");
}

/// What a call did: returned, or threw attnkit::error with `message`. Any other exception
/// escapes and libFuzzer reports it.
struct outcome {
  bool threw = false;
  std::string message;
};

template <class F>
outcome capture(F&& f) {
  try {
    f();
  } catch (const attnkit::error& e) {
    return {true, e.what()};
  }
  return {};
}

template <class Arch, class T, std::size_t R, class O, class L>
void call_flash(const flash_case& c, tensor_view<const T, R> q, tensor_view<const T, R> k,
                tensor_view<const T, R> v, tensor_view<O, R> out, const attention_options& opt,
                tensor_view<L, R - 1> lse, std::span<const std::int32_t> cu_q,
                std::span<const std::int32_t> cu_k) {
  if (!c.with_lse) lse = {};
  if constexpr (R == 4) flash_attention<Arch, T>(q, k, v, out, opt, lse);
  else flash_attention_varlen<Arch, T>(q, k, v, out, cu_q, cu_k, opt, lse);
}

template <std::size_t R>
void call_reference(const flash_case& c, tensor_view<const double, R> q,
                    tensor_view<const double, R> k, tensor_view<const double, R> v,
                    tensor_view<double, R> out, const attention_options& opt,
                    tensor_view<double, R - 1> lse, std::span<const std::int32_t> cu_q,
                    std::span<const std::int32_t> cu_k) {
  if (!c.with_lse) lse = {};
  if constexpr (R == 4) reference::attention<double, double>(q, k, v, out, opt, lse);
  else reference::attention_varlen<double, double>(q, k, v, out, cu_q, cu_k, opt, lse);
}

/// The naive float implementation of DESIGN 1.3 (reference::detail::forward<float>) on a valid
/// case: the float error it makes sets the tolerance of the kernel.
template <std::size_t R>
void call_naive(const flash_case& c, tensor_view<const float, R> q, tensor_view<const float, R> k,
                tensor_view<const float, R> v, tensor_view<float, R> out,
                const attention_options& opt, tensor_view<float, R - 1> lse,
                std::span<const std::int32_t> cu_q, std::span<const std::int32_t> cu_k) {
  if (!c.with_lse) lse = {};
  if constexpr (R == 4) {
    const auto p = attnkit::detail::check_attention("fuzz naive", q, k, v, out, opt, lse);
    reference::detail::forward<float>(p, opt, q, k, v, out, lse);
  } else {
    const auto p = attnkit::detail::check_attention_varlen("fuzz naive", q, k, v, out, cu_q, cu_k,
                                                           opt, lse);
    for (index_t b = 0; b < p.B; ++b)
      reference::detail::forward<float>(
          reference::detail::segment_problem(p, cu_q, cu_k, b), opt,
          attnkit::detail::segment(q, cu_q, b), attnkit::detail::segment(k, cu_k, b),
          attnkit::detail::segment(v, cu_k, b), attnkit::detail::segment(out, cu_q, b),
          attnkit::detail::segment_lse(lse, cu_q, b));
  }
}

/// Both calls threw on a planted fault: each message must name an argument (DESIGN 1.4).
inline void require_argument_message(const flash_case& c, const std::string& who,
                                     const std::string& message) {
  if (message.find("argument '") == std::string::npos)
    fail(c, who + " threw attnkit::error without naming an argument: " + message);
}

template <class T, std::size_t R>
void run_rank(const flash_case& c, byte_source& in) {
  const geometry<R> g = make_geometry<R>(c);
  owned_options options = make_options(c, in);
  const attention_options& opt = options.opt;
  const index_t rows_q = c.varlen ? c.cu_q.back() : 0, rows_k = c.varlen ? c.cu_k.back() : 0;
  const tensor<float, R> q = make_input(g.q, rows_q, c, in);
  const tensor<float, R> k = make_input(g.k, rows_k, c, in);
  const tensor<float, R> v = make_input(g.v, rows_k, c, in);

  // The sequence offsets the calls receive, with the varlen faults planted.
  std::vector<std::int32_t> cu_q = c.cu_q, cu_k = c.cu_k;
  switch (c.planted) {
    case fault::cu_q_start: cu_q[0] = 1; break;
    case fault::cu_k_past_end: cu_k.back() = static_cast<std::int32_t>(c.total_k + 1); break;
    case fault::cu_count: cu_k.push_back(cu_k.back()); break;
    case fault::cu_q_empty: cu_q.clear(); break;
    case fault::cu_q_decreasing: cu_q[1] = -1; break;
    default: break;
  }

  const auto out_mask = written_mask(g.out, rows_q, c.varlen, 0);
  const auto lse_mask = written_mask(g.lse, rows_q, c.varlen, R - 2);
  const bool planted = c.planted != fault::none;

  // The double reference on the values the kernel reads (rounded to T first).
  auto qd = as_element<double, T>(q, g.q), kd = as_element<double, T>(k, g.k),
       vd = as_element<double, T>(v, g.v);
  tensor<double, R> ref_out(g.out.extents, g.out.order, g.out.pad, kSentinel);
  tensor<double, R - 1> ref_lse(g.lse.extents, g.lse.order, 0, kSentinel);
  outcome ref;
  if (c.planted != fault::head_dim_too_large) {
    ref = capture([&] {
      call_reference<R>(c, input_view<const double>(qd, c), kd.cview(), vd.cview(),
                        output_view(ref_out, c), opt, ref_lse.view(), cu_q, cu_k);
    });
    if (planted && !ref.threw)
      fail(c, std::string("reference accepted the planted fault ") + name(c.planted));
    if (!planted && ref.threw) fail(c, "reference rejected a valid case: " + ref.message);
    if (ref.threw) {
      require_argument_message(c, "reference", ref.message);
      require_untouched(c, ref_out, "reference out");
      require_untouched(c, ref_lse, "reference lse");
    }
  }

  // The rounding allowances of a valid case.
  tensor<double, R> out_allowance(g.out.extents, g.out.order, g.out.pad, 0.0);
  tensor<double, R - 1> lse_allowance(g.lse.extents, g.lse.order, 0, 0.0);
  if (!planted)
    rounding_allowances<R>(c, qd.cview(), kd.cview(), vd.cview(), out_allowance.view(),
                           lse_allowance.view(), opt);

  // The naive float formula, only needed for the float rule.
  std::optional<tensor<float, R>> naive_out;
  std::optional<tensor<float, R - 1>> naive_lse;
  if (std::is_same_v<T, float> && !planted) {
    naive_out.emplace(g.out.extents, g.out.order, g.out.pad, kSentinel);
    naive_lse.emplace(g.lse.extents, g.lse.order, 0, kSentinel);
    call_naive<R>(c, q.cview(), k.cview(), v.cview(), naive_out->view(), opt, naive_lse->view(),
                  cu_q, cu_k);
  }

  auto qt = as_element<T, T>(q, g.q), kt = as_element<T, T>(k, g.k), vt = as_element<T, T>(v, g.v);
  simd::compiled_archs::for_each([&](auto arch) {
    using Arch = decltype(arch);
    if (!simd::cpu_supports<Arch>()) return;
    const std::string who = std::string("flash_attention<") + Arch::name() + ">";
    tensor<T, R> out(g.out.extents, g.out.order, g.out.pad, T(kSentinel));
    tensor<float, R - 1> lse(g.lse.extents, g.lse.order, 0, kSentinel);
    const outcome got = capture([&] {
      call_flash<Arch, T, R>(c, input_view<const T>(qt, c), kt.cview(), vt.cview(),
                             output_view(out, c), opt, lse.view(), cu_q, cu_k);
    });
    if (planted) {
      if (!got.threw) fail(c, who + " accepted the planted fault " + name(c.planted));
      require_argument_message(c, who, got.message);
      require_untouched(c, out, who + " out");
      require_untouched(c, lse, who + " lse");
      return;
    }
    if (got.threw) fail(c, who + " rejected a valid case: " + got.message);
    if constexpr (std::is_same_v<T, float>) {
      check_float_rule(c, who + " out", out, *naive_out, ref_out, out_allowance, out_mask);
      if (c.with_lse)
        check_float_rule(c, who + " lse", lse, *naive_lse, ref_lse, lse_allowance, lse_mask);
    } else {
      check_rms_rule(c, who + " out", out, ref_out, out_allowance, out_mask);
      if (c.with_lse) check_rms_rule(c, who + " lse", lse, ref_lse, lse_allowance, lse_mask);
    }
    if (!c.with_lse) require_untouched(c, lse, who + " lse (not passed)");
  });
}

}  // namespace detail

template <class T>
void run_case(const flash_case& c, byte_source& in) {
  if (c.varlen) detail::run_rank<T, 3>(c, in);
  else detail::run_rank<T, 4>(c, in);
}

/// Decodes one fuzz input and checks it; abort()s with a message on stderr on any disagreement.
/// The libFuzzer target and the corpus replay both call this.
inline void check_flash(const std::uint8_t* data, std::size_t size) {
  byte_source in(data, size);
  const flash_case c = decode_case(in);
  set_num_threads(c.threads);
  switch (c.element) {
    case element_kind::f32: return run_case<float>(c, in);
    case element_kind::bf16: return run_case<bf16>(c, in);
    case element_kind::fp16: return run_case<fp16>(c, in);
  }
}

}  // namespace attnkit::fuzz
