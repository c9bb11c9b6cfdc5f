// SPDX-License-Identifier: Apache-2.0
// Support of the delta_rule and gated_delta_rule tests: random problems (L2-normalised keys, beta
// in (0, 1), log gates), the double reference, kernel calls on any arch and the shared checks.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <attnkit/linear/delta_rule.hpp>
#include <attnkit/linear/gated_delta_rule.hpp>
#include <attnkit/linear/reference.hpp>

#include "support/archs.hpp"
#include "support/random.hpp"
#include "support/tensor.hpp"
#include "support/tolerance.hpp"

namespace attnkit::test {

/// fp32 kernels against the double reference: relative RMS error over a whole output. The
/// float recurrence rounds about T K times per element with errors that do not grow (the delta
/// rule with ||k||² beta <= 2 is non-expansive), so 1e-5 is two orders above fp32's 6e-8.
inline constexpr double kDeltaRms = 1e-5;

struct delta_dims {
  index_t B = 2, T = 65, H = 2, K = 16, V = 24;
};

/// How the random inputs are drawn.
struct delta_inputs_spec {
  bool gated = false;
  bool normalize_keys = true;  ///< L2-normalised keys (DeltaNet); else uniform in [-0.5, 0.5)
  double g_lo = -1.0, g_hi = 0.0;  ///< log gates uniform in [g_lo, g_hi)
};

/// One problem: inputs, both states, and outputs poisoned with a sentinel.
struct delta_problem {
  delta_dims n;
  bool gated = false;
  tensor<float, 4> q, k, v, s0;
  tensor<float, 3> g, beta;
};

inline delta_problem make_delta_problem(const delta_dims& n, const delta_inputs_spec& spec,
                                        std::uint64_t seed) {
  delta_problem p{n, spec.gated, random_tensor<float, 4>({n.B, n.T, n.H, n.K}, seed),
                  random_tensor<float, 4>({n.B, n.T, n.H, n.K}, seed + 1, spec.normalize_keys ? -1.0 : -0.5,
                                          spec.normalize_keys ? 1.0 : 0.5),
                  random_tensor<float, 4>({n.B, n.T, n.H, n.V}, seed + 2),
                  random_tensor<float, 4>({n.B, n.H, n.K, n.V}, seed + 3),
                  random_tensor<float, 3>({n.B, n.T, n.H}, seed + 4, spec.g_lo, spec.g_hi),
                  random_tensor<float, 3>({n.B, n.T, n.H}, seed + 5, 0.05, 0.95)};
  if (spec.normalize_keys)
    for (index_t b = 0; b < n.B; ++b)
      for (index_t t = 0; t < n.T; ++t)
        for (index_t h = 0; h < n.H; ++h) {
          double norm = 0;
          for (index_t i = 0; i < n.K; ++i) norm += double(p.k(b, t, h, i)) * p.k(b, t, h, i);
          for (index_t i = 0; i < n.K; ++i) p.k(b, t, h, i) = float(p.k(b, t, h, i) / std::sqrt(norm));
        }
  return p;
}

/// The outputs of one call.
struct delta_result {
  tensor<float, 4> out, final_state;
};

/// The double reference on double copies of the inputs, rounded to float.
inline delta_result delta_reference(const delta_problem& p, const linear_options& opt, bool initial) {
  const auto q = convert<double>(p.q.cview()), k = convert<double>(p.k.cview()),
             v = convert<double>(p.v.cview()), s0 = convert<double>(p.s0.cview());
  const auto g = convert<double>(p.g.cview()), beta = convert<double>(p.beta.cview());
  tensor<double, 4> out({p.n.B, p.n.T, p.n.H, p.n.V}), fin({p.n.B, p.n.H, p.n.K, p.n.V});
  const tensor_view<const double, 4> init = initial ? s0.cview() : tensor_view<const double, 4>{};
  if (p.gated)
    reference::gated_delta_rule<double>(q.cview(), k.cview(), v.cview(), g.cview(), beta.cview(),
                                        out.view(), opt, init, fin.view());
  else
    reference::delta_rule<double>(q.cview(), k.cview(), v.cview(), beta.cview(), out.view(), opt,
                                  init, fin.view());
  return {convert<float>(out.cview()), convert<float>(fin.cview())};
}

/// The kernel on Arch (gated per the problem), with or without the initial state.
template <class Arch>
delta_result delta_kernel(const delta_problem& p, const linear_options& opt, bool initial) {
  delta_result r{tensor<float, 4>({p.n.B, p.n.T, p.n.H, p.n.V}, 7.0f),
                 tensor<float, 4>({p.n.B, p.n.H, p.n.K, p.n.V}, 7.0f)};
  const tensor_view<const float, 4> init = initial ? p.s0.cview() : tensor_view<const float, 4>{};
  if (p.gated)
    gated_delta_rule<Arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.g.cview(), p.beta.cview(),
                           r.out.view(), opt, init, r.final_state.view());
  else
    delta_rule<Arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.beta.cview(), r.out.view(), opt, init,
                     r.final_state.view());
  return r;
}

/// "recurrent" or "chunk 16".
inline std::string mode_name(const linear_options& opt) {
  return opt.mode == linear_mode::recurrent ? "recurrent" : "chunk " + std::to_string(opt.chunk_size);
}

/// The modes every test runs: recurrent and chunked with chunks of 1, 7, 16 and 64.
inline std::vector<linear_options> delta_modes() {
  std::vector<linear_options> modes;
  linear_options o;
  o.mode = linear_mode::recurrent;
  modes.push_back(o);
  o.mode = linear_mode::chunked;
  for (index_t c : {1, 7, 16, 64}) {
    o.chunk_size = c;
    modes.push_back(o);
  }
  return modes;
}

/// Every mode on every arch the CPU runs equals the double reference (outputs and final state,
/// both finite), with and without the initial state.
inline void check_delta_every_arch(const delta_problem& p, const std::vector<linear_options>& modes,
                                   double limit = kDeltaRms) {
  for (bool initial : {false, true}) {
    const auto want = delta_reference(p, modes.front(), initial);
    tested_archs::for_each([&](auto arch) {
      using Arch = decltype(arch);
      if (!simd::cpu_supports<Arch>()) return;
      for (const auto& opt : modes) {
        const auto got = delta_kernel<Arch>(p, opt, initial);
        const std::string where = std::string(Arch::name()) + ", " + mode_name(opt) +
                                  (initial ? ", initial state" : ", zero state");
        EXPECT_TRUE(within_rms_tolerance(got.out.cview(), want.out.cview(), limit)) << where << " out";
        EXPECT_TRUE(within_rms_tolerance(got.final_state.cview(), want.final_state.cview(), limit))
            << where << " final_state";
        std::size_t bad = 0;
        for (float x : got.out.storage()) bad += !std::isfinite(x);
        for (float x : got.final_state.storage()) bad += !std::isfinite(x);
        EXPECT_EQ(bad, 0u) << where;
      }
    });
  }
}

/// Rows [begin, end) of a [B = 1, T, H, *] tensor as a [1, end - begin, H, *] copy.
template <std::size_t R>
tensor<float, R> token_slice(const tensor<float, R>& x, index_t begin, index_t end) {
  auto e = x.extents();
  e[1] = end - begin;
  tensor<float, R> y(e);
  for_each_index(e, [&](auto i) {
    auto j = i;
    j[1] += begin;
    at(y.view(), i) = at(x.cview(), j);
  });
  return y;
}

/// Varlen over the packed sequences cu_seqlens of a B = 1 problem equals one dense call per
/// sequence, bit for bit (the same core runs the same chunks), with per-sequence states; and the
/// dense calls equal the reference.
inline void check_delta_varlen(const delta_problem& p, const std::vector<std::int32_t>& cu,
                               const linear_options& opt) {
  const index_t N = static_cast<index_t>(cu.size()) - 1, T = p.n.T, H = p.n.H, K = p.n.K, V = p.n.V;
  auto packed = [&](const auto& x) {  // [1, T, H, D] -> [T, H, D] / [1, T, H] -> [T, H]
    auto v = x.cview();
    if constexpr (decltype(v)::rank() == 4)
      return tensor_view<const float, 3>(v.data(), {T, H, v.extent(3)}, {v.stride(1), v.stride(2), v.stride(3)});
    else
      return tensor_view<const float, 2>(v.data(), {T, H}, {v.stride(1), v.stride(2)});
  };
  const auto s0 = random_tensor<float, 4>({N, H, K, V}, 99);
  tested_archs::for_each([&](auto arch) {
    using Arch = decltype(arch);
    if (!simd::cpu_supports<Arch>()) return;
    tensor<float, 3> out({T, H, V}, 7.0f);
    tensor<float, 4> fin({N, H, K, V}, 7.0f);
    if (p.gated)
      gated_delta_rule<Arch>(packed(p.q), packed(p.k), packed(p.v), packed(p.g), packed(p.beta),
                             out.view(), cu, opt, s0.cview(), fin.view());
    else
      delta_rule<Arch>(packed(p.q), packed(p.k), packed(p.v), packed(p.beta), out.view(), cu, opt,
                       s0.cview(), fin.view());
    for (index_t n = 0; n < N; ++n) {
      delta_problem one{{1, cu[n + 1] - cu[n], H, K, V}, p.gated, token_slice(p.q, cu[n], cu[n + 1]),
                        token_slice(p.k, cu[n], cu[n + 1]), token_slice(p.v, cu[n], cu[n + 1]),
                        tensor<float, 4>({1, H, K, V}), token_slice(p.g, cu[n], cu[n + 1]),
                        token_slice(p.beta, cu[n], cu[n + 1])};
      for_each_index(one.s0.extents(), [&](auto i) { at(one.s0.view(), i) = s0(n, i[1], i[2], i[3]); });
      const auto want = delta_kernel<Arch>(one, opt, true);
      const auto ref = delta_reference(one, opt, true);
      EXPECT_TRUE(within_rms_tolerance(want.out.cview(), ref.out.cview(), kDeltaRms)) << Arch::name();
      for_each_index(want.out.extents(), [&](auto i) {
        ASSERT_EQ(out(cu[n] + i[1], i[2], i[3]), at(want.out.cview(), i))
            << Arch::name() << " sequence " << n << " token " << i[1];
      });
      for_each_index(one.s0.extents(), [&](auto i) {
        ASSERT_EQ(fin(n, i[1], i[2], i[3]), at(want.final_state.cview(), i)) << Arch::name() << " sequence " << n;
      });
    }
  });
}

/// The step API applied T times from the initial state equals the recurrent mode bit for bit
/// (the same token kernel), and the reference within tolerance.
inline void check_delta_steps(const delta_problem& p) {
  const index_t B = p.n.B, T = p.n.T, H = p.n.H, V = p.n.V;
  linear_options rec;
  rec.mode = linear_mode::recurrent;
  const auto ref = delta_reference(p, rec, true);
  tested_archs::for_each([&](auto arch) {
    using Arch = decltype(arch);
    if (!simd::cpu_supports<Arch>()) return;
    const auto want = delta_kernel<Arch>(p, rec, true);
    tensor<float, 4> state = p.s0;
    tensor<float, 4> out({B, T, H, V}, 7.0f);
    for (index_t t = 0; t < T; ++t) {
      auto row = [&](const auto& x) {  // token t of [B, T, H, D] as [B, H, D]
        auto v = x.cview();
        return tensor_view<const float, 3>(v.data() + t * v.stride(1), {B, H, v.extent(3)},
                                           {v.stride(0), v.stride(2), v.stride(3)});
      };
      auto gate = [&](const auto& x) {
        auto v = x.cview();
        return tensor_view<const float, 2>(v.data() + t * v.stride(1), {B, H}, {v.stride(0), v.stride(2)});
      };
      const tensor_view<float, 3> o(out.view().data() + t * out.view().stride(1), {B, H, V},
                                    {out.view().stride(0), out.view().stride(2), 1});
      if (p.gated)
        gated_delta_rule_step<Arch>(row(p.q), row(p.k), row(p.v), gate(p.g), gate(p.beta), o, state.view());
      else
        delta_rule_step<Arch>(row(p.q), row(p.k), row(p.v), gate(p.beta), o, state.view());
    }
    EXPECT_EQ(out.storage(), want.out.storage()) << Arch::name();
    EXPECT_EQ(state.storage(), want.final_state.storage()) << Arch::name();
    EXPECT_TRUE(within_rms_tolerance(out.cview(), ref.out.cview(), kDeltaRms)) << Arch::name();
    EXPECT_TRUE(within_rms_tolerance(state.cview(), ref.final_state.cview(), kDeltaRms)) << Arch::name();
  });
}

/// Expects `call` to throw attnkit::error whose message names `argument`.
template <class F>
void expect_rejected(F&& call, const std::string& argument) {
  try {
    call();
    ADD_FAILURE() << "no attnkit::error for " << argument;
  } catch (const error& e) {
    EXPECT_NE(std::string(e.what()).find("'" + argument + "'"), std::string::npos)
        << e.what() << " does not name " << argument;
  }
}

}  // namespace attnkit::test
