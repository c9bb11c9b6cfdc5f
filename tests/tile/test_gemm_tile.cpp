// SPDX-License-Identifier: Apache-2.0
// Tests of tile::gemm (and the gemm_tile micro-kernel under it) on every compiled arch against
// a double product: strided A, every row count (tails and split tails), col_max, col_scale.
#include <attnkit/tile/gemm_tile.hpp>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include <attnkit/core/aligned_buffer.hpp>
#include <attnkit/tile/tile_config.hpp>

#include "support/archs.hpp"

namespace attnkit {
namespace {

template <class Arch>
class GemmTile : public ::testing::Test {
 protected:
  void SetUp() override { ATTNKIT_SKIP_UNLESS_CPU_SUPPORTS(Arch); }
};
TYPED_TEST_SUITE(GemmTile, test::compiled_archs, test::arch_name);

struct operands {
  index_t rows, cols, K, a_row_stride, a_k_stride, ldb, ldc;
  std::vector<float> a;
  detail::aligned_buffer<float> b, c;
};

operands make(index_t rows, index_t cols, index_t K, bool a_transposed, std::uint32_t seed) {
  operands o{rows, cols, K, a_transposed ? 1 : K + 3, a_transposed ? rows + 2 : 1, cols + 8,
             cols + 16, {}, detail::aligned_buffer<float>(K * (cols + 8)),
             detail::aligned_buffer<float>(rows * (cols + 16))};
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  o.a.resize(static_cast<std::size_t>(std::max(rows * o.a_row_stride + K * o.a_k_stride, index_t(1))));
  for (auto& x : o.a) x = dist(rng);
  for (std::size_t n = 0; n < o.b.size(); ++n) o.b[n] = dist(rng);
  for (std::size_t n = 0; n < o.c.size(); ++n) o.c[n] = dist(rng);
  return o;
}

double exact(const operands& o, index_t r, index_t c) {
  double s = 0.0;
  for (index_t k = 0; k < o.K; ++k)
    s += double(o.a[r * o.a_row_stride + k * o.a_k_stride]) * double(o.b[k * o.ldb + c]);
  return s;
}

TYPED_TEST(GemmTile, AssignMatchesDoubleForEveryRowCount) {
  using config = tile::tile_config<TypeParam>;
  const index_t cols = 2 * config::kCols, K = 37;
  for (bool transposed : {false, true})
    for (index_t rows = 1; rows <= 3 * config::kRows + 1; ++rows) {
      auto o = make(rows, cols, K, transposed, std::uint32_t(rows));
      const auto before = std::vector<float>(o.c.data(), o.c.data() + o.c.size());
      tile::gemm<TypeParam, config::kRows, config::kVecs>(
          rows, cols, K, {o.a.data(), o.a_row_stride, o.a_k_stride}, o.b.data(), o.ldb,
          o.c.data(), o.ldc, nullptr);
      for (index_t r = 0; r < rows; ++r) {
        for (index_t c = 0; c < cols; ++c)
          ASSERT_NEAR(o.c[r * o.ldc + c], exact(o, r, c), 1e-5) << "rows " << rows << " r " << r;
        for (index_t c = cols; c < o.ldc; ++c)  // columns past cols are not written
          ASSERT_EQ(o.c[r * o.ldc + c], before[r * o.ldc + c]);
      }
    }
}

TYPED_TEST(GemmTile, UpdateScalesColumnsThenAccumulates) {
  using config = tile::tile_config<TypeParam>;
  const index_t cols = config::kCols, K = 20, rows = 13;
  auto o = make(rows, cols, K, true, 99);
  detail::aligned_buffer<float> scale(cols);
  for (index_t c = 0; c < cols; ++c) scale[c] = 0.25f * float(c % 5);
  const auto before = std::vector<float>(o.c.data(), o.c.data() + o.c.size());
  tile::gemm<TypeParam, config::kRows, config::kVecs>(rows, cols, K,
                                                      {o.a.data(), o.a_row_stride, o.a_k_stride},
                                                      o.b.data(), o.ldb, o.c.data(), o.ldc,
                                                      scale.data());
  for (index_t r = 0; r < rows; ++r)
    for (index_t c = 0; c < cols; ++c)
      ASSERT_NEAR(o.c[r * o.ldc + c], double(before[r * o.ldc + c]) * scale[c] + exact(o, r, c),
                  1e-5);
}

TYPED_TEST(GemmTile, ColumnMaxIsTakenOverEveryRow) {
  using config = tile::tile_config<TypeParam>;
  const index_t cols = 2 * config::kCols, K = 9, rows = 2 * config::kRows + 3;
  auto o = make(rows, cols, K, false, 7);
  detail::aligned_buffer<float> col_max(cols);
  for (index_t c = 0; c < cols; ++c) col_max[c] = c == 1 ? 100.0f : -std::numeric_limits<float>::infinity();
  tile::gemm<TypeParam, config::kRows, config::kVecs>(rows, cols, K,
                                                      {o.a.data(), o.a_row_stride, o.a_k_stride},
                                                      o.b.data(), o.ldb, o.c.data(), o.ldc, nullptr,
                                                      col_max.data());
  for (index_t c = 0; c < cols; ++c) {
    float want = c == 1 ? 100.0f : -std::numeric_limits<float>::infinity();
    for (index_t r = 0; r < rows; ++r) want = std::max(want, o.c[r * o.ldc + c]);
    EXPECT_EQ(col_max[c], want) << c;  // the running maximum keeps a larger earlier value
  }
}

TYPED_TEST(GemmTile, NaNInAReachesItsRowOnly) {
  using config = tile::tile_config<TypeParam>;
  const index_t cols = config::kCols, K = 5, rows = config::kRows + 2;
  auto o = make(rows, cols, K, false, 11);
  o.a[3 * o.a_row_stride + 2] = std::numeric_limits<float>::quiet_NaN();
  tile::gemm<TypeParam, config::kRows, config::kVecs>(rows, cols, K,
                                                      {o.a.data(), o.a_row_stride, o.a_k_stride},
                                                      o.b.data(), o.ldb, o.c.data(), o.ldc, nullptr);
  for (index_t r = 0; r < rows; ++r)
    for (index_t c = 0; c < cols; ++c) ASSERT_EQ(std::isnan(o.c[r * o.ldc + c]), r == 3);
}

}  // namespace
}  // namespace attnkit
