// SPDX-License-Identifier: Apache-2.0
// Tests of mask::column_mods on every compiled arch: each column of a decode tile (a query
// position of one query head of a GQA group) against the scalar formula of DESIGN 1.3.
#include <attnkit/mask/column_mods.hpp>

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
class ColumnMods : public ::testing::Test {
 protected:
  void SetUp() override { ATTNKIT_SKIP_UNLESS_CPU_SUPPORTS(Arch); }
};
TYPED_TEST_SUITE(ColumnMods, test::compiled_archs, test::arch_name);

TYPED_TEST(ColumnMods, EveryColumnMatchesTheScalarFormula) {
  constexpr index_t w = simd::width<TypeParam>;
  const index_t B = 2, Hq = 6, G = 3, h0 = 3, Sq = 3, Sk = 41, b = 1;
  const index_t cols = (G * Sq + w - 1) / w * w, rows = 16, j0 = 25;  // keys 25 .. Sk - 1
  std::vector<float> bias(std::size_t(B * Hq * Sq * Sk));
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> dist(-3.0f, 3.0f);
  for (auto& x : bias) x = dist(rng);
  const tensor_view<const float, 4> bias_view(bias.data(), {B, Hq, Sq, Sk});
  std::vector<float> slopes(Hq);
  for (index_t h = 0; h < Hq; ++h) slopes[std::size_t(h)] = 0.05f * float(h + 1);
  for (bool causal : {false, true})
    for (bool with_mods : {false, true}) {
      attention_options opt;
      opt.causal = causal;
      opt.window_left = 12;
      if (with_mods) {
        opt.softcap = 2.0f;
        opt.alibi_slopes = slopes;
      }
      column_mods<TypeParam> mods(cols);
      mods.setup(opt, with_mods ? bias_view : tensor_view<const float, 4>(), b, h0, G, Sq, Sk);
      EXPECT_EQ(mods.modifies(), with_mods);
      detail::aligned_buffer<float> s(std::size_t(rows * cols));
      std::vector<float> raw(std::size_t(rows * cols));
      for (index_t n = 0; n < rows * cols; ++n) s[std::size_t(n)] = raw[std::size_t(n)] = dist(rng);
      mods.apply(s.data(), cols, rows, j0, true);
      const index_t o = Sk - Sq;
      for (index_t c = 0; c < G * Sq; ++c) {
        const index_t i = c % Sq, h = h0 + c / Sq;
        for (index_t r = 0; r < rows; ++r) {
          const index_t j = j0 + r;
          const bool visible = !(causal && j > i + o) && i + o - j <= 12;
          EXPECT_EQ(mods.sees(c, j), visible) << c << " " << j;
          double z = raw[std::size_t(r * cols + c)];
          if (with_mods) {
            z = 2.0 * std::tanh(z / 2.0) + bias_view(b, h, i, j) -
                slopes[std::size_t(h)] * std::abs(double(i + o - j));
          }
          const float got = s[std::size_t(r * cols + c)];
          if (!visible) EXPECT_EQ(got, -std::numeric_limits<float>::infinity()) << c << " " << j;
          else EXPECT_NEAR(got, z, 2e-6 * (1 + std::abs(z))) << c << " " << j;
        }
      }
      // The keys some column sees, and the ranges every column sees.
      EXPECT_EQ(mods.first(), Sk - Sq - 12);
      EXPECT_EQ(mods.last(), Sk);
      EXPECT_TRUE(mods.all_see(Sk - 12, Sk - Sq + 1));
      EXPECT_FALSE(mods.all_see(Sk - 16, Sk - Sq + 1));
    }
}

}  // namespace
}  // namespace attnkit::mask
