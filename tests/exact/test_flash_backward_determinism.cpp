// SPDX-License-Identifier: Apache-2.0
// Determinism of flash_attention_backward and flash_attention_varlen_backward: bitwise identical
// gradients across repeated calls and across thread counts (1, 2, 3).
#include <gtest/gtest.h>

#include <attnkit/core/threads.hpp>
#include <attnkit/exact/flash_attention_backward.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "exact/backward_support.hpp"

namespace attnkit::test {
namespace {

/// One dense problem with its options: several key blocks (Sk > 2 x 96) and query blocks
/// (Sq > 2 x 64), so that the dq of a query block is summed over key blocks that different
/// threads own, and the dk, dv of a kv head over the query heads of its group.
struct dense_case {
  std::string name;
  dims n;
  owned_options opt;
};

std::vector<dense_case> dense_cases() {
  const dims n{.B = 1, .Sq = 300, .Sk = 333, .Hq = 4, .Hkv = 2, .D = 64, .Dv = 64};
  const dims odd{.B = 2, .Sq = 201, .Sk = 419, .Hq = 3, .Hkv = 1, .D = 17, .Dv = 19};
  std::vector<dense_case> cases;
  auto add = [&](std::string name, const dims& d, auto edit) {
    owned_options o;
    edit(o, d);
    cases.push_back({std::move(name), d, std::move(o)});
  };
  add("plain", n, [](owned_options&, const dims&) {});
  add("causal", n, [](owned_options& o, const dims&) { o.causal = true; });
  add("causal_top_left", odd,
      [](owned_options& o, const dims&) { o.causal = true, o.align = alignment::top_left; });
  add("window_50_20_sinks_bias", odd, [](owned_options& o, const dims& d) {
    o.window_left = 50, o.window_right = 20;
    for (index_t h = 0; h < d.Hq; ++h) o.sinks.push_back(0.5f - 0.25f * float(h));
    o.bias = random_tensor<float, 4>({d.B, 1, d.Sq, d.Sk}, 17, -1.0, 1.0);
  });
  return cases;
}

/// The three gradients of one call as plain storages.
template <class T>
struct result {
  std::vector<T> dq, dk, dv;
};

template <class T>
result<T> run(const backward_problem<T>& p, const forward_state<T>& f, const attention_options& opt,
              int threads) {
  const thread_count scope(threads);
  auto g = run_backward<default_arch>(p, f, opt);
  return {std::move(g.dq.storage()), std::move(g.dk.storage()), std::move(g.dv.storage())};
}

template <class T>
void expect_same(const result<T>& a, const result<T>& b, const std::string& what) {
  EXPECT_TRUE(same_bits(a.dq, b.dq)) << "dq, " << what;
  EXPECT_TRUE(same_bits(a.dk, b.dk)) << "dk, " << what;
  EXPECT_TRUE(same_bits(a.dv, b.dv)) << "dv, " << what;
}

TEST(FlashBackwardDeterminism, ThreadCountAndRepetitionDoNotChangeTheBits) {
  const int saved = get_num_threads();
  for (const auto& c : dense_cases()) {
    SCOPED_TRACE(c.name);
    const auto p = random_backward_problem(c.n, 500, loss_terms::out_and_lse);
    const auto opt = c.opt.options();
    const auto f = flash_forward_state<default_arch>(p, opt);
    const auto one = run(p, f, opt, 1);
    expect_same(one, run(p, f, opt, 1), "1 thread twice");
    const auto two = run(p, f, opt, 2);
    expect_same(one, two, "1 vs 2 threads");
    expect_same(two, run(p, f, opt, 2), "2 threads twice");
    expect_same(one, run(p, f, opt, 3), "1 vs 3 threads");
  }
  EXPECT_EQ(get_num_threads(), saved);
}

TEST(FlashBackwardDeterminism, BF16ThreadCountDoesNotChangeTheBits) {
  const int saved = get_num_threads();
  const dims n{.B = 1, .Sq = 200, .Sk = 250, .Hq = 4, .Hkv = 1, .D = 64, .Dv = 64};
  const auto p = rounded<bf16>(random_backward_problem(n, 700));
  for (bool causal : {false, true}) {
    SCOPED_TRACE(causal ? "causal" : "plain");
    attention_options opt;
    opt.causal = causal;
    const auto f = flash_forward_state<default_arch>(p, opt);
    const auto one = run(p, f, opt, 1);
    expect_same(one, run(p, f, opt, 1), "1 thread twice");
    expect_same(one, run(p, f, opt, 2), "1 vs 2 threads");
    expect_same(one, run(p, f, opt, 3), "1 vs 3 threads");
  }
  EXPECT_EQ(get_num_threads(), saved);
}

TEST(FlashBackwardDeterminism, VarlenIsBitwiseIdenticalAcrossCallsAndThreadCounts) {
  const int saved = get_num_threads();
  const index_t Hq = 4, Hkv = 2, D = 40, total_q = 500, total_k = 560;
  const std::vector<std::int32_t> cu_q = {0, 200, 201, 201, 490}, cu_k = {0, 250, 300, 320, 550};
  const auto q = random_tensor<float, 3>({total_q, Hq, D}, 801);
  const auto k = random_tensor<float, 3>({total_k, Hkv, D}, 802);
  const auto v = random_tensor<float, 3>({total_k, Hkv, D}, 803);
  const auto dout = random_tensor<float, 3>({total_q, Hq, D}, 804);
  attention_options opt;
  opt.causal = true;
  tensor<float, 3> out({total_q, Hq, D});
  tensor<float, 2> lse({Hq, total_q});
  flash_varlen<default_arch, float>(q.cview(), k.cview(), v.cview(), out.view(), cu_q, cu_k, opt,
                                    lse.view());
  auto call = [&](int threads) {
    const thread_count scope(threads);
    tensor<float, 3> dq({total_q, Hq, D}, kGradSentinel), dk({total_k, Hkv, D}, kGradSentinel),
        dv({total_k, Hkv, D}, kGradSentinel);
    flash_varlen_backward<default_arch, float>(q.cview(), k.cview(), v.cview(), out.cview(),
                                               dout.cview(), lse.cview(), dq.view(), dk.view(),
                                               dv.view(), cu_q, cu_k, opt);
    return result<float>{dq.storage(), dk.storage(), dv.storage()};
  };
  const auto one = call(1);
  expect_same(one, call(1), "1 thread twice");
  const auto two = call(2);
  expect_same(one, two, "1 vs 2 threads");
  expect_same(two, call(2), "2 threads twice");
  expect_same(one, call(3), "1 vs 3 threads");
  EXPECT_EQ(get_num_threads(), saved);
}

}  // namespace
}  // namespace attnkit::test
