// SPDX-License-Identifier: Apache-2.0
// Support of the linear_attention / simple_gla / gla tests: random problems, the double
// reference on double copies, the kernels on every arch, and the comparison; the checks every
// kernel of the three shares (varlen against dense calls, steps against the recurrence, bad
// arguments).
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <attnkit/core/error.hpp>
#include <attnkit/linear/gla.hpp>
#include <attnkit/linear/linear_attention.hpp>
#include <attnkit/linear/reference.hpp>
#include <attnkit/linear/simple_gla.hpp>
#include <attnkit/simd/arch.hpp>

#include "support/archs.hpp"
#include "support/random.hpp"
#include "support/tensor.hpp"
#include "support/tolerance.hpp"

namespace attnkit::test::gla_support {

/// The recurrence under test.
enum class kind { linear, simple, gla };

inline const char* name(kind w) {
  return w == kind::linear ? "linear" : w == kind::simple ? "simple_gla" : "gla";
}

struct dims {
  index_t B = 1, T = 1, H = 1, K = 8, V = 8;
};

/// Inputs of one call: q, k [B, T, H, K], v [B, T, H, V], the gate of `what` (g [B, T, H] or
/// gk [B, T, H, K], log decays), an initial state [B, H, K, V].
struct problem {
  kind what = kind::linear;
  dims n;
  tensor<float, 4> q, k, v, gk, s0;
  tensor<float, 3> g;
};

/// Random inputs: q, k in [qk_lo, qk_hi), v in [-1, 1), gates in [gate_lo, gate_hi), the
/// initial state in [-1, 1).
inline problem make_problem(kind what, dims n, std::uint64_t seed, double gate_lo = -1.0,
                            double gate_hi = 0.0, double qk_lo = -1.0, double qk_hi = 1.0) {
  problem p;
  p.what = what;
  p.n = n;
  p.q = random_tensor<float, 4>({n.B, n.T, n.H, n.K}, seed, qk_lo, qk_hi);
  p.k = random_tensor<float, 4>({n.B, n.T, n.H, n.K}, seed + 1, qk_lo, qk_hi);
  p.v = random_tensor<float, 4>({n.B, n.T, n.H, n.V}, seed + 2);
  p.g = random_tensor<float, 3>({n.B, n.T, n.H}, seed + 3, gate_lo, gate_hi);
  p.gk = random_tensor<float, 4>({n.B, n.T, n.H, n.K}, seed + 4, gate_lo, gate_hi);
  p.s0 = random_tensor<float, 4>({n.B, n.H, n.K, n.V}, seed + 5);
  return p;
}

/// Outputs of one call: out [B, T, H, V] and the final state [B, H, K, V].
template <class T>
struct result {
  tensor<T, 4> out, state;
};

/// The double reference on double copies of the inputs; with_state: the initial state is passed
/// and the final state is written (otherwise neither).
inline result<double> run_reference(const problem& p, const linear_options& opt, bool with_state) {
  const dims& n = p.n;
  result<double> r{tensor<double, 4>({n.B, n.T, n.H, n.V}), tensor<double, 4>({n.B, n.H, n.K, n.V})};
  const auto q = convert<double>(p.q.cview()), k = convert<double>(p.k.cview());
  const auto v = convert<double>(p.v.cview()), s0 = convert<double>(p.s0.cview());
  const tensor_view<const double, 4> initial = with_state ? s0.cview() : tensor_view<const double, 4>{};
  const tensor_view<double, 4> final_state = with_state ? r.state.view() : tensor_view<double, 4>{};
  if (p.what == kind::linear) {
    reference::linear_attention<double>(q.cview(), k.cview(), v.cview(), r.out.view(), opt, initial,
                                        final_state);
  } else if (p.what == kind::simple) {
    const auto g = convert<double>(p.g.cview());
    reference::simple_gla<double>(q.cview(), k.cview(), v.cview(), g.cview(), r.out.view(), opt,
                                  initial, final_state);
  } else {
    const auto gk = convert<double>(p.gk.cview());
    reference::gla<double>(q.cview(), k.cview(), v.cview(), gk.cview(), r.out.view(), opt, initial,
                           final_state);
  }
  return r;
}

/// The kernel of p.what on Arch; outputs start as NaN so that a missed element shows.
template <class Arch>
result<float> run_kernel(const problem& p, const linear_options& opt, bool with_state) {
  const dims& n = p.n;
  const float nan = std::nanf("");
  result<float> r{tensor<float, 4>({n.B, n.T, n.H, n.V}, nan), tensor<float, 4>({n.B, n.H, n.K, n.V}, nan)};
  const tensor_view<const float, 4> initial = with_state ? p.s0.cview() : tensor_view<const float, 4>{};
  const tensor_view<float, 4> final_state = with_state ? r.state.view() : tensor_view<float, 4>{};
  if (p.what == kind::linear)
    linear_attention<Arch>(p.q.cview(), p.k.cview(), p.v.cview(), r.out.view(), opt, initial, final_state);
  else if (p.what == kind::simple)
    simple_gla<Arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.g.cview(), r.out.view(), opt, initial,
                     final_state);
  else
    gla<Arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.gk.cview(), r.out.view(), opt, initial,
              final_state);
  return r;
}

/// The fp32 bound on the relative RMS error of a kernel against the double reference: the
/// kernels sum at most a few hundred products per element in fp32 (about 1e-7 each).
inline constexpr double kRmsLimit = 1e-5;

/// True when every element is finite.
template <class T, std::size_t R>
bool all_finite(const tensor_view<T, R>& x) {
  bool ok = true;
  for_each_index(x.extents(), [&](const auto& idx) { ok = ok && std::isfinite(double(at(x, idx))); });
  return ok;
}

/// Outputs (and with_state, final states) finite and within kRmsLimit of the reference.
inline void expect_close(const result<float>& got, const result<double>& want, bool with_state,
                         double limit = kRmsLimit) {
  EXPECT_TRUE(all_finite(got.out.cview())) << "out has a non-finite element";
  EXPECT_TRUE(within_rms_tolerance(got.out.cview(), want.out.cview(), limit)) << "out";
  if (!with_state) return;
  EXPECT_TRUE(all_finite(got.state.cview())) << "final_state has a non-finite element";
  EXPECT_TRUE(within_rms_tolerance(got.state.cview(), want.state.cview(), limit)) << "final_state";
}

/// f.template operator()<Arch>() for every compiled arch the CPU runs, traced by name.
template <class F>
void for_each_arch(F&& f) {
  tested_archs::for_each([&](auto arch) {
    using Arch = decltype(arch);
    if (!simd::cpu_supports<Arch>()) return;
    SCOPED_TRACE(std::string("arch ") + Arch::name());
    f.template operator()<Arch>();
  });
}

/// The kernel on every arch, chunked (each chunk size) and recurrent, with and without states,
/// against the double reference.
inline void expect_matches_reference(const problem& p, linear_options opt,
                                     std::initializer_list<index_t> chunks,
                                     double limit = kRmsLimit) {
  for (bool with_state : {false, true}) {
    if (with_state && opt.normalize) continue;
    SCOPED_TRACE(with_state ? "with states" : "without states");
    const auto want = run_reference(p, opt, with_state);
    for_each_arch([&]<class Arch>() {
      for (index_t c : chunks) {
        SCOPED_TRACE("chunked, chunk_size " + std::to_string(c));
        opt.mode = linear_mode::chunked;
        opt.chunk_size = c;
        expect_close(run_kernel<Arch>(p, opt, with_state), want, with_state, limit);
      }
      SCOPED_TRACE("recurrent");
      opt.mode = linear_mode::recurrent;
      expect_close(run_kernel<Arch>(p, opt, with_state), want, with_state, limit);
    });
  }
}

/// Token t of a [B, T, H, X] tensor as a [B, H, X] view.
inline tensor_view<const float, 3> token_rows(const tensor<float, 4>& x, index_t t) {
  const auto& e = x.extents();
  return tensor_view<const float, 3>(x.storage().data() + t * e[2] * e[3], {e[0], e[2], e[3]},
                                     {e[1] * e[2] * e[3], e[3], 1});
}

/// Token t of a gate [B, T, H] as a [B, H] view.
inline tensor_view<const float, 2> token_gates(const tensor<float, 3>& g, index_t t) {
  const auto& e = g.extents();
  return tensor_view<const float, 2>(g.storage().data() + t * e[2], {e[0], e[2]}, {e[1] * e[2], 1});
}

/// The step of p.what on Arch for token t of p into o [B, H, V], on state [B, H, K, V] in place.
template <class Arch>
void run_step(const problem& p, index_t t, const tensor_view<float, 3>& o, const tensor_view<float, 4>& state) {
  if (p.what == kind::linear)
    linear_attention_step<Arch>(token_rows(p.q, t), token_rows(p.k, t), token_rows(p.v, t), o, state);
  else if (p.what == kind::simple)
    simple_gla_step<Arch>(token_rows(p.q, t), token_rows(p.k, t), token_rows(p.v, t), token_gates(p.g, t),
                          o, state);
  else
    gla_step<Arch>(token_rows(p.q, t), token_rows(p.k, t), token_rows(p.v, t), token_rows(p.gk, t), o,
                   state);
}

/// T steps from p.s0 equal one recurrent call bit for bit (outputs and final state) on every arch,
/// and the reference within kRmsLimit.
inline void expect_steps_equal_recurrence(const problem& p) {
  const dims& n = p.n;
  const auto want = run_reference(p, {}, true);
  for_each_arch([&]<class Arch>() {
    linear_options opt;
    opt.mode = linear_mode::recurrent;
    const auto recurrent = run_kernel<Arch>(p, opt, true);
    auto state = p.s0;
    tensor<float, 4> out({n.B, n.T, n.H, n.V});
    for (index_t t = 0; t < n.T; ++t) {
      const tensor_view<float, 3> o(out.storage().data() + t * n.H * n.V, {n.B, n.H, n.V},
                                    {n.T * n.H * n.V, n.V, 1});
      run_step<Arch>(p, t, o, state.view());
    }
    EXPECT_EQ(out.storage(), recurrent.out.storage());
    EXPECT_EQ(state.storage(), recurrent.state.storage());
    EXPECT_TRUE(within_rms_tolerance(out.cview(), want.out.cview(), kRmsLimit));
  });
}

/// Packed sequences of cu (empty ones allowed) for `what`: q, k [total, H, K], v [total, H, V],
/// the gate g [total, H] or gk [total, H, K] (log decays in [-1, 0)), one initial state per
/// sequence [N, H, K, V].
struct varlen_problem {
  kind what = kind::linear;
  std::vector<std::int32_t> cu;
  index_t N = 0, total = 0, H = 0, K = 0, V = 0;
  tensor<float, 3> q, k, v, gk;
  tensor<float, 2> g;
  tensor<float, 4> s0;
};

inline varlen_problem make_varlen_problem(kind what, std::vector<std::int32_t> cu, index_t H, index_t K,
                                          index_t V) {
  varlen_problem p;
  p.what = what;
  p.N = static_cast<index_t>(cu.size()) - 1;
  p.total = cu.back();
  p.cu = std::move(cu);
  p.H = H, p.K = K, p.V = V;
  p.q = random_tensor<float, 3>({p.total, H, K}, 1);
  p.k = random_tensor<float, 3>({p.total, H, K}, 2);
  p.v = random_tensor<float, 3>({p.total, H, V}, 3);
  p.g = random_tensor<float, 2>({p.total, H}, 4, -1.0, 0.0);
  p.gk = random_tensor<float, 3>({p.total, H, K}, 4, -1.0, 0.0);
  p.s0 = random_tensor<float, 4>({p.N, H, K, V}, 5);
  return p;
}

/// Rows [t0, t0 + T) of a packed [total, H, X] tensor as a dense [1, T, H, X] view.
inline tensor_view<const float, 4> sequence_rows(const tensor<float, 3>& x, index_t t0, index_t T) {
  const auto& e = x.extents();
  return tensor_view<const float, 4>(x.storage().data() + t0 * e[1] * e[2], {1, T, e[1], e[2]});
}

/// Rows [t0, t0 + T) of a packed gate [total, H] as a dense [1, T, H] view.
inline tensor_view<const float, 3> sequence_rows(const tensor<float, 2>& g, index_t t0, index_t T) {
  const auto& e = g.extents();
  return tensor_view<const float, 3>(g.storage().data() + t0 * e[1], {1, T, e[1]});
}

/// The varlen call of p.what on Arch: out [total, H, V], final states s1 [N, H, K, V] from p.s0.
template <class Arch>
void run_varlen(const varlen_problem& p, const linear_options& opt, const tensor_view<float, 3>& out,
                const tensor_view<float, 4>& s1) {
  if (p.what == kind::linear)
    linear_attention<Arch>(p.q.cview(), p.k.cview(), p.v.cview(), out, p.cu, opt, p.s0.cview(), s1);
  else if (p.what == kind::simple)
    simple_gla<Arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.g.cview(), out, p.cu, opt, p.s0.cview(), s1);
  else
    gla<Arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.gk.cview(), out, p.cu, opt, p.s0.cview(), s1);
}

/// The dense call of p.what on Arch on rows [t0, t0 + T) alone: out [1, T, H, V], states
/// [1, H, K, V].
template <class Arch>
void run_dense_rows(const varlen_problem& p, index_t t0, index_t T, const linear_options& opt,
                    const tensor_view<float, 4>& out, const tensor_view<const float, 4>& s0,
                    const tensor_view<float, 4>& s1) {
  auto rows = [&](const auto& x) { return sequence_rows(x, t0, T); };
  if (p.what == kind::linear)
    linear_attention<Arch>(rows(p.q), rows(p.k), rows(p.v), out, opt, s0, s1);
  else if (p.what == kind::simple)
    simple_gla<Arch>(rows(p.q), rows(p.k), rows(p.v), rows(p.g), out, opt, s0, s1);
  else
    gla<Arch>(rows(p.q), rows(p.k), rows(p.v), rows(p.gk), out, opt, s0, s1);
}

/// On every arch, chunked (chunk 16) and recurrent, with opt's other fields: the varlen call
/// equals a dense call on each sequence alone, bit for bit (outputs and final states, with a
/// state per sequence).
inline void expect_varlen_equals_dense(const varlen_problem& p, linear_options opt) {
  const index_t N = p.N, H = p.H, K = p.K, V = p.V;
  for_each_arch([&]<class Arch>() {
    for (auto mode : {linear_mode::chunked, linear_mode::recurrent}) {
      opt.mode = mode;
      opt.chunk_size = 16;
      tensor<float, 3> out({p.total, H, V}, -1.0f);
      tensor<float, 4> s1({N, H, K, V}, -1.0f);
      run_varlen<Arch>(p, opt, out.view(), s1.view());
      for (index_t s = 0; s < N; ++s) {
        const index_t t0 = p.cu[std::size_t(s)], T = p.cu[std::size_t(s) + 1] - t0;
        tensor<float, 4> want_out({1, T, H, V}), want_s1({1, H, K, V});
        const tensor_view<const float, 4> s0_seq(p.s0.storage().data() + s * H * K * V, {1, H, K, V});
        run_dense_rows<Arch>(p, t0, T, opt, want_out.view(), s0_seq, want_s1.view());
        for (index_t t = 0; t < T; ++t)
          for (index_t h = 0; h < H; ++h)
            for (index_t j = 0; j < V; ++j) ASSERT_EQ(out(t0 + t, h, j), want_out(0, t, h, j));
        for (index_t h = 0; h < H; ++h)
          for (index_t i = 0; i < K; ++i)
            for (index_t j = 0; j < V; ++j) ASSERT_EQ(s1(s, h, i, j), want_s1(0, h, i, j));
      }
    }
  });
}

/// Expects `call` to throw attnkit::error whose message names 'argument'.
template <class F>
void expect_rejected(const char* argument, F&& call) {
  try {
    call();
    ADD_FAILURE() << "no attnkit::error for " << argument;
  } catch (const attnkit::error& e) {
    EXPECT_NE(std::string(e.what()).find(std::string("'") + argument + "'"), std::string::npos)
        << e.what();
  }
}

/// Every element of every tensor still holds `fill`: the rejected calls wrote nothing.
template <class... Tensors>
void expect_unwritten(float fill, const Tensors&... tensors) {
  auto check = [&](const auto& x) {
    for (float v : x.storage()) EXPECT_EQ(v, fill);
  };
  (check(tensors), ...);
}

}  // namespace attnkit::test::gla_support
