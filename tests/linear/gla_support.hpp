// SPDX-License-Identifier: Apache-2.0
// Support of the linear_attention / simple_gla / gla tests: random problems, the double
// reference on double copies, the kernels on every arch, and the comparison.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <string>

#include <gtest/gtest.h>

#include <attnkit/linear/gla.hpp>
#include <attnkit/linear/linear_attention.hpp>
#include <attnkit/linear/reference.hpp>
#include <attnkit/linear/simple_gla.hpp>
#include <attnkit/simd/arch.hpp>

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
  simd::compiled_archs::for_each([&](auto arch) {
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

}  // namespace attnkit::test::gla_support
