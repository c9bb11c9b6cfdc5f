// SPDX-License-Identifier: Apache-2.0
// Tests of mask::apply_mask_and_mods on every compiled arch against the scalar formula of
// DESIGN 1.3, on transposed score tiles (keys x queries).
#include <attnkit/mask/score_mods.hpp>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include <attnkit/core/aligned_buffer.hpp>

#include "support/archs.hpp"

namespace attnkit::mask {
namespace {

template <class Arch>
class ScoreMods : public ::testing::Test {
 protected:
  void SetUp() override { ATTNKIT_SKIP_UNLESS_CPU_SUPPORTS(Arch); }
};
TYPED_TEST_SUITE(ScoreMods, test::compiled_archs, test::arch_name);

TYPED_TEST(ScoreMods, MatchTheScalarFormula) {
  constexpr index_t w = simd::width<TypeParam>;
  const index_t Sq = 45, Sk = 38, rows = 11, cols = 3 * w, j0 = 20, i0 = 40, Hq = 2, h = 1;
  std::vector<float> bias(2 * Hq * Sq * Sk);
  std::mt19937 rng(2);
  std::uniform_real_distribution<float> dist(-3.0f, 3.0f);
  for (auto& x : bias) x = dist(rng);
  const tensor_view<const float, 4> bias_view(bias.data(), {2, Hq, Sq, Sk});
  const std::vector<float> slopes = {0.5f, 0.125f};
  for (bool causal : {false, true})
    for (bool with_mods : {false, true}) {
      attention_options opt;
      opt.causal = causal;
      opt.window_left = 9;
      if (with_mods) {
        opt.softcap = 2.0f;
        opt.alibi_slopes = slopes;
      }
      const key_range range(opt, Sq, Sk);
      const score_mods mods = with_mods ? score_mods(opt, bias_view, 1, h, Sq, Sk) : score_mods();
      detail::aligned_buffer<float> s(rows * cols), col_max(cols);
      std::vector<float> raw(rows * cols);
      for (index_t n = 0; n < rows * cols; ++n) s[n] = raw[n] = dist(rng);
      apply_mask_and_mods<TypeParam>(s.data(), cols, rows, cols, j0, i0, Sq, range, true, mods,
                                     col_max.data());
      const index_t o = Sk - Sq;
      for (index_t c = 0; c < cols; ++c) {
        float want_max = -std::numeric_limits<float>::infinity();
        for (index_t r = 0; r < rows; ++r) {
          const index_t i = i0 + c, j = j0 + r;
          double z = raw[r * cols + c];
          if (with_mods) {
            z = 2.0 * std::tanh(z / 2.0);
            if (i < Sq) z += bias_view(1, h, i, j);
            z -= double(slopes[h]) * std::fabs(double(i + o - j));
          }
          const bool seen = range.begin(i) <= j && j < range.end(i) && i < Sq;
          const float got = s[r * cols + c];
          if (!seen && i < Sq) {
            ASSERT_EQ(got, -std::numeric_limits<float>::infinity()) << "r " << r << " c " << c;
          } else if (seen) {
            ASSERT_NEAR(got, z, 2e-6 * (1.0 + std::fabs(z))) << "r " << r << " c " << c;
          }
          want_max = std::max(want_max, got);
        }
        EXPECT_EQ(col_max[c], want_max) << c;
      }
    }
}

}  // namespace
}  // namespace attnkit::mask
