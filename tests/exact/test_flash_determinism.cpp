// SPDX-License-Identifier: Apache-2.0
// Determinism of flash_attention and flash_attention_varlen: bitwise identical results across
// repeated calls and across thread counts.
#include <attnkit/core/threads.hpp>
#include <attnkit/exact/flash.hpp>

#include <cstdint>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "exact/flash_support.hpp"
#include "support/same_bits.hpp"
#include "support/thread_count.hpp"

namespace attnkit::test {
namespace {

/// One dense problem with its options; large enough (Sq 600, Hq 4: 40 query blocks of 64) that
/// the work is cut into different chunks for 1, 2 and 3 threads.
struct dense_case {
  std::string name;
  dims n;
  owned_options opt;
};

std::vector<dense_case> dense_cases() {
  const dims n{.B = 1, .Sq = 600, .Sk = 577, .Hq = 4, .Hkv = 2, .D = 64, .Dv = 64};
  const dims odd{.B = 2, .Sq = 301, .Sk = 419, .Hq = 3, .Hkv = 1, .D = 17, .Dv = 17};
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
  add("window_left_100", n, [](owned_options& o, const dims&) { o.window_left = 100; });
  add("window_50_20", odd, [](owned_options& o, const dims&) {
    o.window_left = 50, o.window_right = 20;
  });
  add("causal_window_left_70", n,
      [](owned_options& o, const dims&) { o.causal = true, o.window_left = 70; });
  add("alibi_sinks_bias", odd, [](owned_options& o, const dims& d) {
    for (index_t h = 0; h < d.Hq; ++h) o.alibi_slopes.push_back(0.1f * float(h + 1));
    for (index_t h = 0; h < d.Hq; ++h) o.sinks.push_back(0.5f - 0.25f * float(h));
    o.bias = random_tensor<float, 4>({d.B, 1, d.Sq, d.Sk}, 17, -1.0, 1.0);
  });
  return cases;
}

struct dense_result {
  std::vector<float> out, lse;
};

template <class T>
dense_result run_dense(const tensor<T, 4>& q, const tensor<T, 4>& k, const tensor<T, 4>& v,
                       const attention_options& opt, int threads) {
  const thread_count scope(threads);
  const auto e = q.extents();
  tensor<T, 4> out({e[0], e[1], e[2], v.extents()[3]}, T(-1.0f));
  tensor<float, 3> lse({e[0], e[2], e[1]}, -1.0f);
  flash<default_arch, T>(q.cview(), k.cview(), v.cview(), out.view(), opt, lse.view());
  dense_result r{std::vector<float>(out.storage().size()), lse.storage()};
  for (std::size_t i = 0; i < r.out.size(); ++i) r.out[i] = float(out.storage()[i]);
  return r;
}

TEST(FlashDeterminism, RepeatedCallsAreBitwiseIdentical) {
  const int saved = get_num_threads();
  for (const auto& c : dense_cases()) {
    SCOPED_TRACE(c.name);
    const auto p = random_problem(c.n, 500);
    const auto opt = c.opt.options();
    for (int threads : {1, 2}) {
      SCOPED_TRACE(std::to_string(threads) + " threads");
      const auto first = run_dense(p.q, p.k, p.v, opt, threads);
      const auto second = run_dense(p.q, p.k, p.v, opt, threads);
      EXPECT_TRUE(same_bits(first.out, second.out)) << "out";
      EXPECT_TRUE(same_bits(first.lse, second.lse)) << "lse";
    }
  }
  EXPECT_EQ(get_num_threads(), saved);
}

TEST(FlashDeterminism, ThreadCountDoesNotChangeTheBits) {
  // The kernel has no thread-count-dependent reduction: each output row is computed by one task
  // whose key blocks must not depend on how the queries are chunked into tasks.
  const int saved = get_num_threads();
  for (const auto& c : dense_cases()) {
    SCOPED_TRACE(c.name);
    const auto p = random_problem(c.n, 600);
    const auto opt = c.opt.options();
    const auto one = run_dense(p.q, p.k, p.v, opt, 1);
    for (int threads : {2, 3}) {
      SCOPED_TRACE(std::to_string(threads) + " threads");
      const auto many = run_dense(p.q, p.k, p.v, opt, threads);
      EXPECT_TRUE(same_bits(one.out, many.out)) << "out";
      EXPECT_TRUE(same_bits(one.lse, many.lse)) << "lse";
    }
  }
  EXPECT_EQ(get_num_threads(), saved);
}

TEST(FlashDeterminism, ThreadCountDoesNotChangeTheBitsBF16) {
  const int saved = get_num_threads();
  const dims n{.B = 1, .Sq = 600, .Sk = 577, .Hq = 4, .Hkv = 2, .D = 64, .Dv = 64};
  const auto p = random_problem(n, 700);
  const auto q = convert<bf16>(p.q.cview()), k = convert<bf16>(p.k.cview()),
             v = convert<bf16>(p.v.cview());
  for (bool causal : {false, true}) {
    SCOPED_TRACE(causal ? "causal" : "plain");
    attention_options opt;
    opt.causal = causal;
    const auto one = run_dense(q, k, v, opt, 1);
    const auto again = run_dense(q, k, v, opt, 1);
    const auto two = run_dense(q, k, v, opt, 2);
    EXPECT_TRUE(same_bits(one.out, again.out)) << "out, 1 thread twice";
    EXPECT_TRUE(same_bits(one.out, two.out)) << "out, 1 vs 2 threads";
    EXPECT_TRUE(same_bits(one.lse, two.lse)) << "lse, 1 vs 2 threads";
  }
  EXPECT_EQ(get_num_threads(), saved);
}

TEST(FlashDeterminism, VarlenIsBitwiseIdenticalAcrossCallsAndThreadCounts) {
  const int saved = get_num_threads();
  const index_t Hq = 4, Hkv = 2, D = 40, total_q = 700, total_k = 760;
  const std::vector<std::int32_t> cu_q = {0, 300, 301, 301, 690}, cu_k = {0, 250, 400, 420, 750};
  const auto q = random_tensor<float, 3>({total_q, Hq, D}, 801);
  const auto k = random_tensor<float, 3>({total_k, Hkv, D}, 802);
  const auto v = random_tensor<float, 3>({total_k, Hkv, D}, 803);
  for (const auto& [name, causal, left] :
       {std::tuple{"causal", true, index_t(-1)}, std::tuple{"window_left_90", false, index_t(90)}}) {
    SCOPED_TRACE(name);
    attention_options opt;
    opt.causal = causal;
    opt.window_left = left;
    auto run = [&](int threads) {
      const thread_count scope(threads);
      tensor<float, 3> out({total_q, Hq, D}, -1.0f);
      tensor<float, 2> lse({Hq, total_q}, -1.0f);
      flash_varlen<default_arch, float>(q.cview(), k.cview(), v.cview(), out.view(), cu_q, cu_k, opt,
                             lse.view());
      return dense_result{out.storage(), lse.storage()};
    };
    const auto one = run(1), again = run(1), two = run(2), two_again = run(2);
    EXPECT_TRUE(same_bits(one.out, again.out)) << "out, 1 thread twice";
    EXPECT_TRUE(same_bits(two.out, two_again.out)) << "out, 2 threads twice";
    EXPECT_TRUE(same_bits(one.out, two.out)) << "out, 1 vs 2 threads";
    EXPECT_TRUE(same_bits(one.lse, two.lse)) << "lse, 1 vs 2 threads";
  }
  EXPECT_EQ(get_num_threads(), saved);
}

}  // namespace
}  // namespace attnkit::test
