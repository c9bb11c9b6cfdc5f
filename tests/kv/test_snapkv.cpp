// SPDX-License-Identifier: Apache-2.0
// Tests of kv::snapkv: the observation window kept, the prefix ranked by pooled window
// statistics (centred, zero-padded, the window not pooled in), NaN, the field checks.
#include <attnkit/kv/snapkv.hpp>

#include <vector>

#include <gtest/gtest.h>

#include <attnkit/kv/select.hpp>

#include "kv/eviction_support.hpp"

namespace attnkit {
namespace {

using test::kNaN;
using V = std::vector<index_t>;

V run(kv::snapkv policy, const std::vector<float>& window, index_t budget) {
  return kv::select(policy, {}, {.window = window}, budget);
}

// L 9, window 2 (positions 7, 8), prefix 0..6. Pooled sums over kernel 3: {0,3,3,3,0,1,1}
// (position 6 does not pool the 5 of position 7: the window is not part of the prefix).
const std::vector<float> kNine = {0, 0, 3, 0, 0, 0, 1, 5, 5};

TEST(Snapkv, WindowPlusPooledPrefix) {
  const kv::snapkv policy{.window = 2, .kernel = 3};
  EXPECT_EQ(run(policy, kNine, 0), V{});
  EXPECT_EQ(run(policy, kNine, 1), V{8});
  EXPECT_EQ(run(policy, kNine, 2), (V{7, 8}));
  EXPECT_EQ(run(policy, kNine, 3), (V{3, 7, 8}));  // 1, 2, 3 tie at 3: the later wins
  EXPECT_EQ(run(policy, kNine, 5), (V{1, 2, 3, 7, 8}));
  EXPECT_EQ(run(policy, kNine, 6), (V{1, 2, 3, 6, 7, 8}));
  EXPECT_EQ(run(policy, kNine, 8), (V{1, 2, 3, 4, 5, 6, 7, 8}));  // L - 1 drops 0
  EXPECT_EQ(run(policy, kNine, 9), test::iota_positions(0, 9));
  EXPECT_EQ(run(policy, kNine, 18), test::iota_positions(0, 9));
}

TEST(Snapkv, KernelOneIsNoPooling) {
  EXPECT_EQ(run({.window = 2, .kernel = 1}, kNine, 3), (V{2, 7, 8}));
  EXPECT_EQ(run({.window = 2, .kernel = 1}, kNine, 4), (V{2, 6, 7, 8}));
}

TEST(Snapkv, WindowStatisticsOfTheWindowItselfAreNotRead) {
  std::vector<float> other = kNine;
  other[7] = 100.0f;
  other[8] = kNaN;
  for (index_t budget = 0; budget <= 9; ++budget)
    EXPECT_EQ(run({.window = 2, .kernel = 3}, other, budget),
              run({.window = 2, .kernel = 3}, kNine, budget));
}

TEST(Snapkv, EdgesArePaddedWithZerosCountedInTheAverage) {
  // Prefix 0..9 (window 2). Pooled sums: position 0 and 1 get 3 (1.0 each), 6 and 7 get 4.
  // Dividing position 0 by its 2 real neighbours instead would give it 1.5 and rank it first.
  const std::vector<float> stats = {3, 0, 0, 0, 0, 0, 2, 2, 0, 0, 9, 9};
  EXPECT_EQ(run({.window = 2, .kernel = 3}, stats, 4), (V{6, 7, 10, 11}));
  EXPECT_EQ(run({.window = 2, .kernel = 3}, stats, 5), (V{1, 6, 7, 10, 11}));
  EXPECT_EQ(run({.window = 2, .kernel = 3}, stats, 6), (V{0, 1, 6, 7, 10, 11}));
}

TEST(Snapkv, AKernelWiderThanThePrefixPoolsEverything) {
  // Every prefix position pools the whole prefix: all tie, the latest win.
  const std::vector<float> stats = {5, 0, 0, 1, 9};
  EXPECT_EQ(run({.window = 1, .kernel = 101}, stats, 3), (V{2, 3, 4}));
}

TEST(Snapkv, WindowOfZeroOrOfEverything) {
  // window 0: the whole sequence is the prefix.
  EXPECT_EQ(run({.window = 0, .kernel = 1}, kNine, 2), (V{7, 8}));
  EXPECT_EQ(run({.window = 0, .kernel = 3}, kNine, 1), V{7});  // 7 pools 1 + 5 + 5 = 11
  // window >= L: the newest `budget`.
  EXPECT_EQ(run({.window = 64}, kNine, 4), test::iota_positions(5, 9));
}

TEST(Snapkv, NanSpreadsToItsNeighboursAndRanksLast) {
  std::vector<float> stats = kNine;
  stats[4] = kNaN;  // pooled 3, 4, 5 become NaN
  // Pooled: {0, 3, 3, NaN, NaN, NaN, 1}.
  EXPECT_EQ(run({.window = 2, .kernel = 3}, stats, 5), (V{1, 2, 6, 7, 8}));
  EXPECT_EQ(run({.window = 2, .kernel = 3}, stats, 6), (V{0, 1, 2, 6, 7, 8}));
  EXPECT_EQ(run({.window = 2, .kernel = 3}, stats, 7), (V{0, 1, 2, 5, 6, 7, 8}));
}

TEST(Snapkv, DefaultsAreTheReferenceImplementations) {
  EXPECT_EQ(kv::snapkv{}.window, 64);
  EXPECT_EQ(kv::snapkv{}.kernel, 5);
}

TEST(Snapkv, BadFieldsAreRejected) {
  test::expect_rejected([&] { run({.window = -1}, kNine, 3); }, "kv::select", "policy.window");
  for (index_t kernel : {0, -3, 2, 4})
    test::expect_rejected([&] { run({.window = 2, .kernel = kernel}, kNine, 3); }, "kv::select",
                       "policy.kernel");
}

}  // namespace
}  // namespace attnkit
