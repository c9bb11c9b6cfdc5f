// SPDX-License-Identifier: Apache-2.0
// Tests of kv::select's contract over every policy: budgets 0, 1, L-1, L, 2L on odd L, how L is
// found, which inputs are checked and how (attnkit::error naming the input), determinism.
#include <attnkit/kv.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "kv/eviction_support.hpp"

namespace attnkit {
namespace {

using test::expect_rejected;
using test::iota_positions;

static_assert(kv::eviction_policy<kv::streaming_llm> && kv::eviction_policy<kv::h2o> &&
              kv::eviction_policy<kv::tova> && kv::eviction_policy<kv::snapkv> &&
              kv::eviction_policy<kv::keyformer> && kv::eviction_policy<kv::alisa> &&
              kv::eviction_policy<kv::knorm> && kv::eviction_policy<kv::random>);
static_assert(!kv::eviction_policy<kv::think>, "think prunes channels, not positions");

/// Random inputs of L positions: keys [L, 3] and all three statistics (non-negative).
struct inputs {
  test::matrix keys;
  std::vector<float> accumulated, last, window;
  inputs(index_t L, std::uint64_t seed) : keys(L, 3) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> dist(0.0f, 1.0f);
    for (float& x : keys.data) x = dist(rng) - 0.5f;
    for (index_t i = 0; i < L; ++i) {
      accumulated.push_back(dist(rng));
      last.push_back(dist(rng));
      window.push_back(dist(rng));
    }
  }
  kv::token_stats stats() const { return {accumulated, last, window}; }
};

template <class P>
class SelectContract : public testing::Test {};

using policies = testing::Types<kv::streaming_llm, kv::h2o, kv::tova, kv::snapkv, kv::keyformer,
                                kv::alisa, kv::knorm, kv::random>;
TYPED_TEST_SUITE(SelectContract, policies);

/// Policies with fields that make every budget exercise both parts of their rule.
template <class P>
P sample_policy() {
  if constexpr (std::is_same_v<P, kv::streaming_llm>) return {.sinks = 2};
  if constexpr (std::is_same_v<P, kv::h2o> || std::is_same_v<P, kv::alisa>) return {.recent = 2};
  if constexpr (std::is_same_v<P, kv::snapkv>) return {.window = 2, .kernel = 3};
  if constexpr (std::is_same_v<P, kv::keyformer>) return {.recent = 2, .temperature = 0.5f};
  if constexpr (std::is_same_v<P, kv::random>) return {.seed = 99};
  return P{};
}

TYPED_TEST(SelectContract, BudgetsZeroOneAlmostAllAllAndTwice) {
  const TypeParam policy = sample_policy<TypeParam>();
  for (index_t L : {7, 13}) {
    const inputs in(L, std::uint64_t(L));
    for (index_t budget : {index_t{0}, index_t{1}, L - 1, L, 2 * L}) {
      SCOPED_TRACE(testing::Message() << "L " << L << " budget " << budget);
      const auto kept = kv::select(policy, in.keys.view(), in.stats(), budget);
      test::expect_valid_selection(kept, L, budget);
      if (budget >= L) {
        EXPECT_EQ(kept, iota_positions(0, L));
      }
      // The same call again gives the same answer (seeded policies included).
      EXPECT_EQ(kv::select(policy, in.keys.view(), in.stats(), budget), kept);
    }
  }
}

TYPED_TEST(SelectContract, EmptyInputsSelectNothing) {
  const TypeParam policy = sample_policy<TypeParam>();
  for (index_t budget : {0, 1, 5})
    EXPECT_TRUE(kv::select(policy, tensor_view<const float, 2>{}, {}, budget).empty());
}

TYPED_TEST(SelectContract, NegativeBudgetIsRejected) {
  const inputs in(7, 1);
  for (index_t budget : {-1, -100})
    expect_rejected(
        [&] { kv::select(sample_policy<TypeParam>(), in.keys.view(), in.stats(), budget); },
        "kv::select", "budget");
}

TYPED_TEST(SelectContract, EveryInputMustHaveLEntriesOrNoneWhenIgnored) {
  constexpr kv::policy_inputs needs = TypeParam::kInputs;
  const TypeParam policy = sample_policy<TypeParam>();
  const inputs in(7, 2);
  const std::vector<float> short_span(6, 0.5f);
  const test::matrix short_keys(6, 3);
  // One input shorter than the others: always an error, read or not.
  expect_rejected([&] { kv::select(policy, short_keys.view(), in.stats(), 3); }, "kv::select", "keys");
  expect_rejected(
      [&] {
        kv::select(policy, in.keys.view(), {short_span, in.last, in.window}, 3);
      },
      "kv::select", "stats.accumulated");
  expect_rejected(
      [&] {
        kv::select(policy, in.keys.view(), {in.accumulated, short_span, in.window}, 3);
      },
      "kv::select", "stats.last");
  expect_rejected(
      [&] {
        kv::select(policy, in.keys.view(), {in.accumulated, in.last, short_span}, 3);
      },
      "kv::select", "stats.window");
  // One input absent: an error exactly when the policy reads it.
  const auto absent = [&](const std::string& name, bool needed, auto&& call) {
    SCOPED_TRACE(name);
    if (needed)
      expect_rejected(call, "kv::select", name);
    else
      test::expect_valid_selection(call(), 7, 3);
  };
  absent("keys", needs.keys, [&] { return kv::select(policy, {}, in.stats(), 3); });
  absent("stats.accumulated", needs.accumulated, [&] {
    return kv::select(policy, in.keys.view(), {{}, in.last, in.window}, 3);
  });
  absent("stats.last", needs.last, [&] {
    return kv::select(policy, in.keys.view(), {in.accumulated, {}, in.window}, 3);
  });
  absent("stats.window", needs.window, [&] {
    return kv::select(policy, in.keys.view(), {in.accumulated, in.last, {}}, 3);
  });
  // Even a budget >= L, which needs no ranking, checks its inputs.
  expect_rejected([&] { kv::select(policy, short_keys.view(), in.stats(), 100); }, "kv::select",
               "keys");
}

TYPED_TEST(SelectContract, KeysWithNullDataAreRejected) {
  const inputs in(7, 3);
  const tensor_view<const float, 2> null_keys(nullptr, {7, 3});
  expect_rejected([&] { kv::select(sample_policy<TypeParam>(), null_keys, in.stats(), 3); },
               "kv::select", "keys");
}

TEST(Select, LIsTheLongestInputSoStatelessPoliciesTakeItFromAnyInput) {
  const std::vector<float> five(5, 1.0f);
  const test::matrix keys(5, 2);
  const kv::streaming_llm policy{.sinks = 1};
  const std::vector<index_t> expected = {0, 3, 4};
  EXPECT_EQ(kv::select(policy, keys.view(), {}, 3), expected);
  EXPECT_EQ(kv::select(policy, {}, {.last = five}, 3), expected);
  EXPECT_EQ(kv::select(policy, {}, {.window = five}, 3), expected);
  EXPECT_EQ(kv::select(policy, {}, {.accumulated = five}, 3), expected);
  // Keys of D = 0 still count their L rows.
  const test::matrix no_channels(5, 0);
  EXPECT_EQ(kv::select(policy, no_channels.view(), {}, 3), expected);
  EXPECT_EQ(kv::select(kv::knorm{}, no_channels.view(), {}, 2), (std::vector<index_t>{3, 4}));
}

}  // namespace
}  // namespace attnkit
