// SPDX-License-Identifier: Apache-2.0
// Tests of performer_feature_map (FAVOR+): positive features, orthogonal blocks with Gaussian
// norms, determinism per seed, and phi(q) . phi(k) estimating exp(s q . k) within the Monte
// Carlo error, better with orthogonal features than without.
#include <attnkit/linear/feature_maps.hpp>
#include <attnkit/linear/performer_feature_map.hpp>

#include <cmath>
#include <numeric>
#include <vector>

#include <gtest/gtest.h>

#include "exact/argument_cases.hpp"
#include "support/random.hpp"
#include "support/tensor.hpp"

namespace attnkit::test {
namespace {

TEST(PerformerFeatureMap, OrthogonalBlocksAndDeterminism) {
  const index_t D = 8, m = 20;
  const performer_feature_map a(D, m, 42), b(D, m, 42), c(D, m, 43);
  EXPECT_EQ(a.directions(), b.directions());
  EXPECT_NE(a.directions(), c.directions());
  const auto& w = a.directions();
  for (index_t i = 0; i < m; ++i)
    for (index_t j = i + 1; j < m && j / D == i / D; ++j) {  // rows of one block are orthogonal
      double dot = 0;
      for (index_t d = 0; d < D; ++d) dot += double(w[std::size_t(i * D + d)]) * double(w[std::size_t(j * D + d)]);
      EXPECT_NEAR(dot, 0.0, 1e-4) << i << " " << j;
    }
  EXPECT_EQ(a.dim(D), m);
  EXPECT_EQ(a.dim(D + 1), 0);
}

// The mean of phi(q) . phi(k) over many seeds is exp(s q . k); each estimate is positive.
TEST(PerformerFeatureMap, EstimatesTheSoftmaxKernel) {
  const index_t D = 6, m = 64;
  const auto q = random_tensor<float, 1>({D}, 1, -0.8, 0.8), k = random_tensor<float, 1>({D}, 2, -0.8, 0.8);
  double qk = 0;
  for (index_t d = 0; d < D; ++d) qk += double(q(d)) * double(k(d));
  const double want = std::exp(qk / std::sqrt(double(D)));
  for (bool orthogonal : {true, false}) {
    SCOPED_TRACE(orthogonal ? "orthogonal" : "iid");
    const int seeds = 400;
    double sum = 0, sum2 = 0;
    for (int seed = 0; seed < seeds; ++seed) {
      const performer_feature_map map(D, m, std::uint64_t(seed) + (orthogonal ? 0 : 10000), orthogonal);
      std::vector<float> pq(static_cast<std::size_t>(m)), pk(static_cast<std::size_t>(m));
      map(&q(0), D, pq.data());
      map(&k(0), D, pk.data());
      for (float f : pq) ASSERT_GT(f, 0.0f);
      const double e = std::inner_product(pq.begin(), pq.end(), pk.begin(), 0.0);
      sum += e;
      sum2 += e * e;
    }
    const double mean = sum / seeds, sd = std::sqrt(sum2 / seeds - mean * mean);
    EXPECT_NEAR(mean, want, 4.0 * sd / std::sqrt(double(seeds)) + 1e-6);
    EXPECT_LT(sd, 0.25 * want);  // m = 64 features: a useful estimate, not noise
  }
}

TEST(PerformerFeatureMap, RejectsBadSizes) {
  using argument_cases::expect_rejected;
  expect_rejected([] { performer_feature_map(0, 4, 1); }, "performer_feature_map", "D");
  expect_rejected([] { performer_feature_map(4, 0, 1); }, "performer_feature_map", "features");
  const performer_feature_map map(4, 8, 1);
  const auto x = random_tensor<float, 2>({3, 5}, 1);
  tensor<float, 2> out({3, 8});
  expect_rejected([&] { apply_feature_map(map, x.cview(), out.view()); }, "apply_feature_map", "x");
}

}  // namespace
}  // namespace attnkit::test
