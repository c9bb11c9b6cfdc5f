// SPDX-License-Identifier: Apache-2.0
// Tests of detail::plan_tasks: every query of every head of every sequence exactly once, in the
// promised order (heavier sequences first, head by head, heavier blocks first).
#include <attnkit/exact/schedule.hpp>

#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace attnkit::detail {
namespace {

TEST(Schedule, CoversEveryQueryOfEveryHeadOnce) {
  const std::vector<std::pair<index_t, index_t>> lengths = {{100, 40}, {0, 5}, {7, 0}, {300, 300}};
  attention_options opt;
  opt.causal = true;
  const index_t Hq = 3;
  const auto tasks = plan_tasks(lengths, Hq, opt, 64);
  for (std::size_t s = 0; s < lengths.size(); ++s)
    for (index_t h = 0; h < Hq; ++h) {
      std::vector<int> seen(static_cast<std::size_t>(lengths[s].first), 0);
      for (const auto& t : tasks)
        if (t.seq == index_t(s) && t.h == h) {
          ASSERT_LE(t.i1 - t.i0, 64);
          for (index_t i = t.i0; i < t.i1; ++i) ++seen[static_cast<std::size_t>(i)];
        }
      for (int n : seen) ASSERT_EQ(n, 1) << "sequence " << s << " head " << h;
    }
}

TEST(Schedule, HeavyFirstHeadByHead) {
  // Causal, Sq = Sk: the bottom query block sees the most keys and must come first in each head;
  // the longer sequence comes before the shorter one.
  const std::vector<std::pair<index_t, index_t>> lengths = {{128, 128}, {512, 512}};
  attention_options opt;
  opt.causal = true;
  const auto tasks = plan_tasks(lengths, 2, opt, 64);
  ASSERT_EQ(tasks.size(), 2u * (2 + 8));
  EXPECT_EQ(tasks.front().seq, 1);
  EXPECT_EQ(tasks.front().i0, 448);
  for (std::size_t n = 1; n < tasks.size(); ++n) {
    const auto& a = tasks[n - 1];
    const auto& b = tasks[n];
    if (a.seq == b.seq && a.h == b.h) {
      EXPECT_GT(a.i0, b.i0) << n;  // lighter blocks later
    }
    if (a.seq == b.seq) {
      EXPECT_LE(a.h, b.h) << n;  // head by head
    }
  }
  EXPECT_EQ(tasks.back().seq, 0);
}

}  // namespace
}  // namespace attnkit::detail
