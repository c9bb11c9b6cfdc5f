// SPDX-License-Identifier: Apache-2.0
// Tests of the elementwise and Taylor feature maps and apply_feature_map: the formulas element
// by element, the kernel identity phi(q) . phi(k) of the Taylor map, strided rows, bad shapes.
#include <attnkit/linear/feature_maps.hpp>

#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "exact/argument_cases.hpp"
#include "support/random.hpp"
#include "support/tensor.hpp"

namespace attnkit::test {
namespace {

using argument_cases::expect_rejected;

TEST(FeatureMaps, ElementwiseMapsFollowTheirFormulas) {
  const std::vector<float> x = {-3.0f, -0.5f, 0.0f, 0.25f, 2.0f};
  std::vector<float> out(x.size());
  identity_feature_map{}(x.data(), 5, out.data());
  EXPECT_EQ(out, x);
  elu_feature_map{}(x.data(), 5, out.data());
  EXPECT_FLOAT_EQ(out[0], std::exp(-3.0f));
  EXPECT_FLOAT_EQ(out[1], std::exp(-0.5f));
  EXPECT_FLOAT_EQ(out[2], 1.0f);
  EXPECT_FLOAT_EQ(out[3], 1.25f);
  EXPECT_FLOAT_EQ(out[4], 3.0f);
  relu_feature_map{}(x.data(), 5, out.data());
  EXPECT_EQ(out, (std::vector<float>{0.0f, 0.0f, 0.0f, 0.25f, 2.0f}));
}

// phi(q) . phi(k) = 1 + z + z^2 / 2 with z = s q . k, for the default and an explicit scale.
TEST(FeatureMaps, TaylorMapGivesTheSecondOrderExpansionOfExp) {
  for (const index_t D : {1, 3, 16}) {
    for (const float scale : {0.0f, 0.7f}) {
      SCOPED_TRACE("D " + std::to_string(D) + " scale " + std::to_string(scale));
      const auto q = random_tensor<float, 1>({D}, 3 + D), k = random_tensor<float, 1>({D}, 5 + D);
      const taylor_feature_map map{scale};
      ASSERT_EQ(map.dim(D), 1 + D + D * D);
      std::vector<float> pq(std::size_t(map.dim(D))), pk(pq.size());
      map(&q(0), D, pq.data());
      map(&k(0), D, pk.data());
      double dot = 0, qk = 0;
      for (std::size_t f = 0; f < pq.size(); ++f) dot += double(pq[f]) * double(pk[f]);
      for (index_t d = 0; d < D; ++d) qk += double(q(d)) * double(k(d));
      const double s = scale != 0.0f ? double(scale) : 1.0 / std::sqrt(double(D));
      const double z = s * qk;
      EXPECT_NEAR(dot, 1.0 + z + z * z / 2.0, 1e-5 * (1.0 + std::abs(z) + z * z));
    }
  }
}

TEST(FeatureMaps, ApplyMapsEveryRowOfStridedViews) {
  // x [2, 3, 2, 4] with padded rows; out [2, 3, 2, 4] permuted.
  const tensor<float, 4> x({2, 3, 2, 4}, {0, 1, 2, 3}, 3, -9.0f);
  tensor<float, 4> xs = x;
  for_each_index(xs.extents(), [&](const auto& i) { xs(i[0], i[1], i[2], i[3]) = float(i[0] * 100 + i[1] * 10 + i[2]) - float(i[3]); });
  tensor<float, 4> out({2, 3, 2, 4}, {1, 0, 2, 3}, 2, 7.0f);
  apply_feature_map(relu_feature_map{}, xs.cview(), out.view());
  for_each_index(out.extents(), [&](const auto& i) {
    const float in = xs(i[0], i[1], i[2], i[3]);
    ASSERT_EQ(out(i[0], i[1], i[2], i[3]), in > 0 ? in : 0.0f);
  });
  for (std::size_t e = 0; e < out.storage().size(); ++e)  // padding untouched: 7 or a written value
    ASSERT_TRUE(out.storage()[e] == 7.0f || out.storage()[e] >= 0.0f);
}

TEST(FeatureMaps, ApplyRejectsBadShapesBeforeWriting) {
  const auto x = random_tensor<float, 3>({2, 3, 4}, 1);
  tensor<float, 3> wrong_rows({2, 2, 4}, 5.0f), wrong_features({2, 3, 5}, 5.0f);
  expect_rejected([&] { apply_feature_map(identity_feature_map{}, x.cview(), wrong_rows.view()); },
                  "apply_feature_map", "out");
  expect_rejected([&] { apply_feature_map(taylor_feature_map{}, x.cview(), wrong_features.view()); },
                  "apply_feature_map", "out");
  for (float e : wrong_rows.storage()) ASSERT_EQ(e, 5.0f);
  for (float e : wrong_features.storage()) ASSERT_EQ(e, 5.0f);
}

}  // namespace
}  // namespace attnkit::test
