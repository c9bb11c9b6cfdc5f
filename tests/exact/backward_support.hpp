// SPDX-License-Identifier: Apache-2.0
// Differential checking of flash_attention_backward: one problem, the forward's out and lse, the
// double reference gradients, the naive float gradients, and every compiled arch the CPU runs.
#pragma once

#include <gtest/gtest.h>

#include <attnkit/core/threads.hpp>
#include <attnkit/exact/arguments.hpp>
#include <attnkit/exact/reference.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "exact/flash_backward_instances.hpp"
#include "exact/flash_instances.hpp"
#include "exact/flash_support.hpp"
#include "exact/reference_support.hpp"
#include "support/random.hpp"
#include "support/same_bits.hpp"
#include "support/tensor.hpp"
#include "support/thread_count.hpp"
#include "support/tolerance.hpp"

namespace attnkit::test {

/// What the gradient tensors hold before a kernel writes them; padding keeps it.
inline constexpr float kGradSentinel = -777.0f;

/// The terms of the loss L = sum(dout * out) + sum(dlse * lse) whose gradients are taken.
enum class loss_terms { out, lse, out_and_lse };

/// The inputs of one dense backward problem of element type T: q, k, v, dout and, when the loss
/// has an lse term, dlse.
template <class T>
struct backward_problem {
  tensor<T, 4> q, k, v, dout;
  std::optional<tensor<float, 3>> dlse;

  tensor_view<const float, 3> dlse_view() const {
    return dlse ? dlse->cview() : tensor_view<const float, 3>{};
  }
  dims sizes() const {
    const auto e = q.extents();
    return {.B = e[0],
            .Sq = e[1],
            .Sk = k.extents()[1],
            .Hq = e[2],
            .Hkv = k.extents()[2],
            .D = e[3],
            .Dv = v.extents()[3]};
  }
};

/// Random q, k, v (as random_problem) and dout, |dout| <= 1, stored in layout `l` with `dout_pad`
/// unused elements after each dout row (a dout whose row stride exceeds Dv); dout = 0 when the
/// loss is of lse alone, dlse in [-1, 1) when the loss has an lse term.
inline backward_problem<float> random_backward_problem(const dims& n, std::uint64_t seed,
                                                       loss_terms terms = loss_terms::out,
                                                       layout l = layout::bshd,
                                                       index_t dout_pad = 0, double range = 1.0) {
  auto p = random_problem(n, seed, l, range);
  backward_problem<float> b{
      std::move(p.q), std::move(p.k), std::move(p.v),
      tensor<float, 4>({n.B, n.Sq, n.Hq, n.Dv}, storage_order(l), dout_pad, kGradSentinel),
      std::nullopt};
  if (terms == loss_terms::lse) {
    for_each_index(b.dout.extents(), [&](const auto& i) { at(b.dout.view(), i) = 0.0f; });
  } else {
    fill_uniform(b.dout.view(), seed + 3, -1.0, 1.0);
  }
  if (terms != loss_terms::out) b.dlse = random_tensor<float, 3>({n.B, n.Hq, n.Sq}, seed + 4);
  return b;
}

/// The problem with q, k, v and dout rounded to U (contiguous BSHD), dlse kept in float.
template <class U>
backward_problem<U> rounded(const backward_problem<float>& p) {
  return {convert<U>(p.q.cview()), convert<U>(p.k.cview()), convert<U>(p.v.cview()),
          convert<U>(p.dout.cview()), p.dlse};
}

/// The oracles of one backward problem: the double reference gradients and the naive float
/// implementation of the same formula (reference::detail::backward<float>), whose error sets
/// DESIGN 4's tolerance for gradients.
struct backward_oracle {
  tensor<double, 4> dq, dk, dv;
  tensor<float, 4> naive_dq, naive_dk, naive_dv;
};

template <class T>
backward_oracle make_backward_oracle(const backward_problem<T>& p, const attention_options& opt) {
  const dims n = p.sizes();
  backward_oracle o{tensor<double, 4>(p.q.extents()), tensor<double, 4>(p.k.extents()),
                    tensor<double, 4>(p.v.extents()), tensor<float, 4>(p.q.extents()),
                    tensor<float, 4>(p.k.extents()),  tensor<float, 4>(p.v.extents())};
  // Both oracles recompute the forward from q, k, v; out and lse are checked for shape only.
  const tensor<double, 4> out_d({n.B, n.Sq, n.Hq, n.Dv});
  const tensor<float, 4> out_f({n.B, n.Sq, n.Hq, n.Dv});
  const tensor<float, 3> lse({n.B, n.Hq, n.Sq});
  {
    const auto q = convert<double>(p.q.cview()), k = convert<double>(p.k.cview()),
               v = convert<double>(p.v.cview()), d = convert<double>(p.dout.cview());
    reference::attention_backward<double>(q.cview(), k.cview(), v.cview(), out_d.cview(), d.cview(),
                                          lse.cview(), o.dq.view(), o.dk.view(), o.dv.view(), opt,
                                          p.dlse_view());
  }
  const auto q = convert<float>(p.q.cview()), k = convert<float>(p.k.cview()),
             v = convert<float>(p.v.cview()), d = convert<float>(p.dout.cview());
  const auto prob = attnkit::detail::check_attention("test", q.cview(), k.cview(), v.cview(),
                                                     out_f.cview(), opt, lse.cview());
  reference::detail::backward<float>(prob, opt, q.cview(), k.cview(), v.cview(), d.cview(),
                                     o.naive_dq.view(), o.naive_dk.view(), o.naive_dv.view(),
                                     p.dlse_view());
  return o;
}

/// The forward's out and lse, which the backward takes as inputs.
template <class T>
struct forward_state {
  tensor<T, 4> out;
  tensor<float, 3> lse;
};

/// out and lse from flash_attention<Arch> (what a training step would hand the backward).
template <class Arch, class T>
forward_state<T> flash_forward_state(const backward_problem<T>& p, const attention_options& opt) {
  const dims n = p.sizes();
  forward_state<T> f{tensor<T, 4>({n.B, n.Sq, n.Hq, n.Dv}), tensor<float, 3>({n.B, n.Hq, n.Sq})};
  flash<Arch, T>(p.q.cview(), p.k.cview(), p.v.cview(), f.out.view(), opt, f.lse.view());
  return f;
}

/// out and lse from reference::attention (double, rounded to T and float).
template <class T>
forward_state<T> reference_forward_state(const backward_problem<T>& p,
                                         const attention_options& opt) {
  const dims n = p.sizes();
  forward_state<T> f{tensor<T, 4>({n.B, n.Sq, n.Hq, n.Dv}), tensor<float, 3>({n.B, n.Hq, n.Sq})};
  reference::attention<T>(p.q.cview(), p.k.cview(), p.v.cview(), f.out.view(), opt, f.lse.view());
  return f;
}

/// The three gradients a kernel wrote, in a storage layout with `pad` unused elements (holding
/// kGradSentinel) after each row.
template <class T>
struct gradients {
  tensor<T, 4> dq, dk, dv;
  index_t pad = 0;
};

/// Gradient tensors shaped as q, k, v, filled with kGradSentinel.
template <class T>
gradients<T> sentinel_gradients(const dims& n, layout l = layout::bshd, index_t pad = 0) {
  const auto order = storage_order(l);
  const T s(kGradSentinel);
  return {tensor<T, 4>({n.B, n.Sq, n.Hq, n.D}, order, pad, s),
          tensor<T, 4>({n.B, n.Sk, n.Hkv, n.D}, order, pad, s),
          tensor<T, 4>({n.B, n.Sk, n.Hkv, n.Dv}, order, pad, s), pad};
}

/// flash_attention_backward<Arch> on p with the forward state f, into fresh sentinel gradients.
template <class Arch, class T>
gradients<T> run_backward(const backward_problem<T>& p, const forward_state<T>& f,
                          const attention_options& opt, layout l = layout::bshd, index_t pad = 0) {
  auto g = sentinel_gradients<T>(p.sizes(), l, pad);
  flash_backward<Arch, T>(p.q.cview(), p.k.cview(), p.v.cview(), f.out.cview(), p.dout.cview(),
                          f.lse.cview(), g.dq.view(), g.dk.view(), g.dv.view(), opt, p.dlse_view());
  return g;
}

/// The number of elements of t's storage that hold T(kGradSentinel)'s bits.
template <class T>
index_t count_sentinels(const std::vector<T>& storage) {
  const T s(kGradSentinel);
  index_t n = 0;
  for (const T& x : storage) n += std::memcmp(&x, &s, sizeof(T)) == 0;
  return n;
}

/// Every element of the view was written and no padding slot was.
template <class T>
::testing::AssertionResult written_exactly(const tensor<T, 4>& t) {
  index_t in_view = 0;
  const T s(kGradSentinel);
  for_each_index(t.extents(), [&](const auto& i) {
    in_view += std::memcmp(&at(t.view(), i), &s, sizeof(T)) == 0;
  });
  index_t elements = 1;
  for (index_t e : t.extents()) elements *= e;
  const index_t padding = index_t(t.storage().size()) - elements;
  const index_t outside = count_sentinels(t.storage()) - in_view;
  if (in_view == 0 && outside == padding) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << in_view << " elements not written, " << padding - outside << " padding slots written";
}

/// DESIGN 4 on the three gradients: fp32 within 3x the naive float error + 1e-6 of the double
/// reference; bf16 / fp16 an RMS relative error below 1e-2. Also: every element written, no
/// padding slot touched.
template <class T>
void expect_gradients_match(const gradients<T>& g, const backward_oracle& o) {
  auto check = [&](const tensor<T, 4>& got, const tensor<float, 4>& naive,
                   const tensor<double, 4>& want, const char* name) {
    EXPECT_TRUE(written_exactly(got)) << name;
    if constexpr (std::is_same_v<T, float>) {
      EXPECT_TRUE(within_fp32_tolerance(got.cview(), naive.cview(), want.cview(), 3.0)) << name;
    } else {
      EXPECT_TRUE(within_rms_tolerance(got.cview(), want.cview())) << name;
    }
  };
  check(g.dq, o.naive_dq, o.dq, "dq");
  check(g.dk, o.naive_dk, o.dk, "dk");
  check(g.dv, o.naive_dv, o.dv, "dv");
}

/// Where the forward's out and lse come from.
enum class forward_source { flash, reference };

/// Runs flash_attention_backward<Arch> on p for every compiled arch the CPU supports, with out
/// and lse from flash_attention<Arch> (or the reference), gradients stored in layout `l` with
/// `pad`, and checks them against the oracle.
template <class T>
void check_backward_every_arch(const backward_problem<T>& p, const attention_options& opt,
                               const backward_oracle& oracle, layout l = layout::bshd,
                               index_t pad = 0, forward_source src = forward_source::flash) {
  simd::compiled_archs::for_each([&](auto arch) {
    using Arch = decltype(arch);
    if (!simd::cpu_supports<Arch>()) return;
    SCOPED_TRACE(std::string("arch ") + Arch::name());
    const auto f = src == forward_source::flash ? flash_forward_state<Arch>(p, opt)
                                                : reference_forward_state(p, opt);
    expect_gradients_match(run_backward<Arch>(p, f, opt, l, pad), oracle);
  });
}

/// One call: random float problem of sizes n, its oracle, every arch.
inline void check_backward(const dims& n, const attention_options& opt, std::uint64_t seed = 1,
                           loss_terms terms = loss_terms::out, layout in = layout::bshd,
                           layout grads = layout::bshd, index_t pad = 0) {
  const auto p = random_backward_problem(n, seed, terms, in, pad);
  check_backward_every_arch(p, opt, make_backward_oracle(p, opt), grads, pad);
}

/// DESIGN 1.3 rule 1: key j is visible from query i.
inline bool is_visible(const attention_options& opt, index_t Sq, index_t Sk, index_t i, index_t j) {
  const index_t o = opt.align == alignment::bottom_right ? Sk - Sq : 0;
  if (opt.causal && j > i + o) return false;
  if (opt.window_left >= 0 && j < i + o - opt.window_left) return false;
  if (opt.window_right >= 0 && j > i + o + opt.window_right) return false;
  return true;
}

}  // namespace attnkit::test
