// SPDX-License-Identifier: Apache-2.0
// Tests of softmax::online_softmax on every compiled arch: blockwise updates equal one softmax in
// double, empty columns, sinks, NaN.
#include <attnkit/softmax/online_softmax.hpp>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include <attnkit/core/aligned_buffer.hpp>

#include "support/archs.hpp"

namespace attnkit {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

template <class Arch>
class OnlineSoftmax : public ::testing::Test {
 protected:
  void SetUp() override { ATTNKIT_SKIP_UNLESS_CPU_SUPPORTS(Arch); }
  static constexpr index_t kCols = 2 * simd::width<Arch>;
};
TYPED_TEST_SUITE(OnlineSoftmax, test::compiled_archs, test::arch_name);

// Feeds scores [rows x cols] to the state in blocks of `block` rows, accumulating
// o[c] = sum_j p[j][c] * value[j] as a caller would, and returns o * finish-scale and lse.
template <class Arch>
void run_blocks(const std::vector<float>& scores, index_t rows, index_t cols, index_t block,
                const std::vector<float>& value, std::vector<double>& out,
                std::vector<float>& lse, float sink = -kInf) {
  detail::aligned_buffer<float> m(cols), l(cols), alpha(cols), tile(block * cols);
  softmax::online_softmax<Arch> sm(m.data(), l.data(), alpha.data(), cols);
  sm.reset();
  std::vector<double> acc(cols, 0.0);
  for (index_t j0 = 0; j0 < rows; j0 += block) {
    const index_t n = std::min(block, rows - j0);
    for (index_t j = 0; j < n; ++j)
      for (index_t c = 0; c < cols; ++c) tile[j * cols + c] = scores[(j0 + j) * cols + c];
    sm.update(tile.data(), cols, n);
    for (index_t c = 0; c < cols; ++c) {
      acc[c] *= alpha[c];
      for (index_t j = 0; j < n; ++j) acc[c] += double(tile[j * cols + c]) * value[j0 + j];
    }
  }
  out.assign(cols, 0.0);
  lse.assign(cols, 0.0f);
  for (index_t c = 0; c < cols; ++c) out[c] = acc[c] * sm.finish(c, &lse[c], sink);
}

TYPED_TEST(OnlineSoftmax, BlocksEqualOneSoftmaxInDouble) {
  const index_t cols = TestFixture::kCols, rows = 157;
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> dist(-20.0f, 20.0f);
  std::vector<float> scores(rows * cols), value(rows);
  for (auto& s : scores) s = dist(rng);
  for (auto& v : value) v = dist(rng);
  // Rising scores in later rows force the running max to move (alpha < 1).
  for (index_t j = 100; j < rows; ++j) scores[j * cols] += 30.0f;
  for (index_t block : {index_t(1), index_t(16), index_t(64), rows}) {
    std::vector<double> out;
    std::vector<float> lse;
    run_blocks<TypeParam>(scores, rows, cols, block, value, out, lse);
    for (index_t c = 0; c < cols; ++c) {
      double m = -INFINITY, sum = 0.0, weighted = 0.0;
      for (index_t j = 0; j < rows; ++j) m = std::max(m, double(scores[j * cols + c]));
      for (index_t j = 0; j < rows; ++j) {
        const double e = std::exp(double(scores[j * cols + c]) - m);
        sum += e;
        weighted += e * value[j];
      }
      EXPECT_NEAR(out[c], weighted / sum, 1e-5 * 20) << "block " << block << " col " << c;
      EXPECT_NEAR(lse[c], m + std::log(sum), 1e-5 * std::fabs(m + std::log(sum)) + 1e-6);
    }
  }
}

TYPED_TEST(OnlineSoftmax, ColumnWithoutScoresGivesZeroAndMinusInfinity) {
  const index_t cols = TestFixture::kCols, rows = 10;
  std::vector<float> scores(rows * cols, 1.0f), value(rows, 2.0f);
  for (index_t j = 0; j < rows; ++j) scores[j * cols + 3] = -kInf;  // column 3 sees nothing
  std::vector<double> out;
  std::vector<float> lse;
  run_blocks<TypeParam>(scores, rows, cols, 4, value, out, lse);
  EXPECT_EQ(out[3], 0.0);
  EXPECT_EQ(lse[3], -kInf);
  EXPECT_NEAR(out[0], 2.0, 1e-6);
  EXPECT_NEAR(lse[0], 1.0 + std::log(10.0), 1e-5);
}

TYPED_TEST(OnlineSoftmax, SinkJoinsTheDenominatorOnly) {
  const index_t cols = TestFixture::kCols, rows = 2;
  // Column 0: logits 0 and ln 3 with values 1 and 5, sink ln 4: out = (1 + 15) / 8, lse = ln 8.
  std::vector<float> scores(rows * cols, -kInf), value = {1.0f, 5.0f};
  scores[0] = 0.0f;
  scores[cols] = std::log(3.0f);
  std::vector<double> out;
  std::vector<float> lse;
  run_blocks<TypeParam>(scores, rows, cols, 1, value, out, lse, std::log(4.0f));
  EXPECT_NEAR(out[0], 2.0, 1e-6);
  EXPECT_NEAR(lse[0], std::log(8.0f), 1e-6);
  // Column 1 saw no score: out 0, lse = the sink.
  EXPECT_EQ(out[1], 0.0);
  EXPECT_NEAR(lse[1], std::log(4.0f), 1e-7);
}

TYPED_TEST(OnlineSoftmax, NaNScoreReachesOnlyItsColumn) {
  const index_t cols = TestFixture::kCols, rows = 20;
  std::vector<float> scores(rows * cols, 0.5f), value(rows, 1.0f);
  scores[7 * cols + 2] = std::numeric_limits<float>::quiet_NaN();
  std::vector<double> out;
  std::vector<float> lse;
  run_blocks<TypeParam>(scores, rows, cols, 6, value, out, lse);
  for (index_t c = 0; c < cols; ++c) {
    EXPECT_EQ(std::isnan(out[c]), c == 2) << c;
    EXPECT_EQ(std::isnan(lse[c]), c == 2) << c;
  }
}

TYPED_TEST(OnlineSoftmax, PrecomputedBlockMaxGivesTheSameBits) {
  const index_t cols = TestFixture::kCols, rows = 33;
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> dist(-5.0f, 5.0f);
  detail::aligned_buffer<float> a(rows * cols), b(rows * cols), block_max(cols);
  for (index_t n = 0; n < rows * cols; ++n) a[n] = b[n] = dist(rng);
  for (index_t c = 0; c < cols; ++c) {
    block_max[c] = -kInf;
    for (index_t j = 0; j < rows; ++j) block_max[c] = std::max(block_max[c], a[j * cols + c]);
  }
  detail::aligned_buffer<float> m1(cols), l1(cols), al1(cols), m2(cols), l2(cols), al2(cols);
  softmax::online_softmax<TypeParam> s1(m1.data(), l1.data(), al1.data(), cols),
      s2(m2.data(), l2.data(), al2.data(), cols);
  s1.reset();
  s2.reset();
  s1.update(a.data(), cols, rows);
  s2.update(b.data(), cols, rows, block_max.data());
  for (index_t n = 0; n < rows * cols; ++n) ASSERT_EQ(a[n], b[n]);
  for (index_t c = 0; c < cols; ++c) {
    EXPECT_EQ(m1[c], m2[c]);
    EXPECT_EQ(l1[c], l2[c]);
  }
}

}  // namespace
}  // namespace attnkit
