// SPDX-License-Identifier: Apache-2.0
// Tests of kv::keyformer: temperature 0 is h2o, the documented score (log accumulated plus
// seeded Gumbel noise), the noise's distribution, determinism per seed, the field checks.
#include <attnkit/kv/keyformer.hpp>

#include <cmath>
#include <random>
#include <set>
#include <vector>

#include <gtest/gtest.h>

#include <attnkit/kv/h2o.hpp>
#include <attnkit/kv/select.hpp>

#include "kv/eviction_support.hpp"

namespace attnkit {
namespace {

using test::iota_positions;
using test::kNaN;
using V = std::vector<index_t>;

V run(kv::keyformer policy, const std::vector<float>& accumulated, index_t budget) {
  return kv::select(policy, {}, {.accumulated = accumulated}, budget);
}

TEST(Keyformer, TemperatureZeroIsH2o) {
  std::mt19937_64 rng(8);
  const std::vector<float> palette = {0.0f, 0.25f, 0.25f, 1.0f, 3.5f, 1e-30f, 1e-45f, 7e3f};
  for (index_t L : {7, 13, 40}) {
    std::vector<float> acc(static_cast<std::size_t>(L));
    for (float& x : acc) x = palette[rng() % palette.size()];
    for (index_t recent : {0, 2, 5})
      for (index_t budget : {index_t{0}, index_t{1}, L / 2, L - 1, L, 2 * L})
        EXPECT_EQ(run({.recent = recent, .temperature = 0.0f, .seed = 3}, acc, budget),
                  kv::select(kv::h2o{.recent = recent}, {}, {.accumulated = acc}, budget))
            << L << " " << recent << " " << budget;
  }
}

TEST(Keyformer, ScoreIsLogAccumulatedPlusTemperatureTimesGumbel) {
  const kv::keyformer policy{.recent = 0, .temperature = 0.7f, .seed = 1234};
  for (index_t i : {0, 1, 12, 1000}) {
    const double u = detail::open_unit_interval(detail::splitmix64_at(1234, std::uint64_t(i)));
    ASSERT_GT(u, 0.0);
    ASSERT_LT(u, 1.0);
    const double expected = std::log(double(0.3f)) + double(0.7f) * -std::log(-std::log(u));
    EXPECT_DOUBLE_EQ(policy.score(i, 0.3f), expected);
  }
  // And select ranks exactly by it.
  std::mt19937_64 rng(2);
  std::uniform_real_distribution<float> dist(0.01f, 1.0f);
  std::vector<float> acc(13);
  for (float& x : acc) x = dist(rng);
  std::vector<double> score;
  for (index_t i = 0; i < 13; ++i) score.push_back(policy.score(i, acc[std::size_t(i)]));
  for (index_t budget : {1, 6, 12})
    EXPECT_EQ(run(policy, acc, budget), test::top_by_sort(score, iota_positions(0, 13), budget));
  // With recent newest kept outside the ranking.
  const kv::keyformer with_recent{.recent = 3, .temperature = 0.7f, .seed = 1234};
  EXPECT_EQ(
      run(with_recent, acc, 6),
      test::merged(test::top_by_sort(score, iota_positions(0, 10), 3), iota_positions(10, 13)));
}

TEST(Keyformer, NoiseIsStandardGumbel) {
  // Mean: the Euler-Mascheroni constant; variance pi^2 / 6.
  const kv::keyformer policy{.temperature = 1.0f, .seed = 77};
  const int n = 200000;
  double sum = 0.0, sum2 = 0.0;
  for (int i = 0; i < n; ++i) {
    const double g = policy.score(i, 1.0f);  // log 1 = 0
    sum += g;
    sum2 += g * g;
  }
  const double mean = sum / n, variance = sum2 / n - mean * mean;
  EXPECT_NEAR(mean, 0.5772156649, 0.015);  // standard error 0.0029
  EXPECT_NEAR(variance, 1.6449340668, 0.04);
}

TEST(Keyformer, NoiseDependsOnTheSeedOnly) {
  const std::vector<float> flat(13, 0.5f);
  std::set<V> seen;
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    const kv::keyformer policy{.temperature = 1.0f, .seed = seed};
    const V kept = run(policy, flat, 4);
    EXPECT_EQ(run(policy, flat, 4), kept);
    seen.insert(kept);
  }
  EXPECT_GT(seen.size(), 10u);  // equal attention: the noise decides, differently per seed
}

TEST(Keyformer, NanAndNegativeAttentionRankLastZeroJustBefore) {
  const std::vector<float> acc = {kNaN, -1.0f, 0.0f, 0.5f, 0.25f, 0.0f, 0.125f};
  const kv::keyformer policy{.temperature = 0.0f};
  EXPECT_EQ(run(policy, acc, 3), (V{3, 4, 6}));
  EXPECT_EQ(run(policy, acc, 5), (V{2, 3, 4, 5, 6}));     // log 0 = -inf, above NaN
  EXPECT_EQ(run(policy, acc, 6), (V{1, 2, 3, 4, 5, 6}));  // NaN scores: the later first
}

TEST(Keyformer, BadFieldsAreRejected) {
  const std::vector<float> acc(7, 1.0f);
  test::expect_rejected([&] { run({.recent = -1}, acc, 3); }, "kv::select", "policy.recent");
  for (float t : {-0.5f, kNaN, test::kInf, -test::kInf})
    test::expect_rejected([&] { run({.temperature = t}, acc, 3); }, "kv::select",
                       "policy.temperature");
}

}  // namespace
}  // namespace attnkit
