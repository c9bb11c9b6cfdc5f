// SPDX-License-Identifier: Apache-2.0
// Tests of the packing routines: row copies with zero padding, transposed column panels and
// their inverse, all touching nothing outside their ranges.
#include <attnkit/tile/pack.hpp>

#include <limits>
#include <vector>

#include <gtest/gtest.h>

#include <attnkit/core/bf16.hpp>
#include <attnkit/core/fp16.hpp>

#include "support/archs.hpp"

namespace attnkit {
namespace {

template <class Arch>
class Pack : public ::testing::Test {
 protected:
  void SetUp() override { ATTNKIT_SKIP_UNLESS_CPU_SUPPORTS(Arch); }
};
TYPED_TEST_SUITE(Pack, test::compiled_archs, test::arch_name);

template <class Arch, class T>
void check_copy_rows(index_t rows, index_t cols, index_t ld, index_t rows_pad) {
  const index_t stride = cols + 5;
  // Source rows separated by NaN: a read past a row's end would copy a NaN.
  std::vector<T> src(static_cast<std::size_t>(rows * stride + 1), T(std::numeric_limits<float>::quiet_NaN()));
  for (index_t r = 0; r < rows; ++r)
    for (index_t c = 0; c < cols; ++c) src[r * stride + c] = T(float(r * 100 + c) * 0.5f);
  std::vector<float> dst(static_cast<std::size_t>((rows_pad + 1) * ld), -7.0f);
  // The NaN between the rows are not copied, so every copied value is finite.
  ASSERT_TRUE(tile::copy_rows<Arch>(src.data(), stride, rows, cols, dst.data(), ld, rows_pad));
  for (index_t r = 0; r < rows_pad; ++r)
    for (index_t c = 0; c < ld; ++c) {
      const float want = r < rows && c < cols ? float(T(float(r * 100 + c) * 0.5f)) : 0.0f;
      ASSERT_EQ(dst[r * ld + c], want) << "rows " << rows << " cols " << cols << " at " << r << "," << c;
    }
  for (index_t c = 0; c < ld; ++c) ASSERT_EQ(dst[rows_pad * ld + c], -7.0f) << "wrote past rows_pad";
}

TYPED_TEST(Pack, CopyRowsConvertsPadsAndStaysInBounds) {
  for (index_t cols : {1, 3, 8, 17, 64, 65})
    for (index_t rows : {0, 1, 5}) {
      const index_t ld = cols + 9;
      check_copy_rows<TypeParam, float>(rows, cols, ld, rows + 2);
      check_copy_rows<TypeParam, bf16>(rows, cols, ld, rows);
      check_copy_rows<TypeParam, fp16>(rows, cols, ld, rows + 1);
    }
}

template <class Arch, class T>
void check_nonfinite_is_reported(float bad) {
  const index_t rows = 3;
  for (index_t cols : {1, 7, 8, 19, 64}) {
    std::vector<T> src(static_cast<std::size_t>(rows * cols), T(1.5f));
    std::vector<float> dst(static_cast<std::size_t>(rows * cols));
    for (index_t at = 0; at < rows * cols; ++at) {
      src[std::size_t(at)] = T(bad);
      EXPECT_FALSE(tile::copy_rows<Arch>(src.data(), cols, rows, cols, dst.data(), cols, rows))
          << bad << " at " << at << " of " << rows << " x " << cols;
      src[std::size_t(at)] = T(1.5f);
    }
    EXPECT_TRUE(tile::copy_rows<Arch>(src.data(), cols, rows, cols, dst.data(), cols, rows));
  }
}

TYPED_TEST(Pack, CopyRowsReportsEveryNonFiniteValue) {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    check_nonfinite_is_reported<TypeParam, float>(bad);
    check_nonfinite_is_reported<TypeParam, bf16>(bad);
    check_nonfinite_is_reported<TypeParam, fp16>(bad);
  }
}

TEST(Pack, TransposedPanelsRoundTrip) {
  constexpr index_t kPanel = 8;
  const index_t rows = 19, cols = 5, rows_pad = 24, stride = 7;
  std::vector<float> src(rows * stride);
  for (index_t r = 0; r < rows; ++r)
    for (index_t c = 0; c < cols; ++c) src[r * stride + c] = float(r * 10 + c);
  std::vector<float> packed(rows_pad * cols, -1.0f);
  tile::pack_transposed_panels<kPanel>(src.data(), stride, rows, cols, 2.0f, packed.data(), rows_pad);
  for (index_t r = 0; r < rows_pad; ++r)
    for (index_t c = 0; c < cols; ++c)
      ASSERT_EQ(packed[(r / kPanel) * cols * kPanel + c * kPanel + r % kPanel],
                r < rows ? 2.0f * float(r * 10 + c) : 0.0f);
  std::vector<float> scale(rows);
  for (index_t r = 0; r < rows; ++r) scale[r] = 0.5f;
  std::vector<float> back(rows * stride, -3.0f);
  tile::unpack_transposed_panels<kPanel>(packed.data(), scale.data(), rows, cols, back.data(), stride);
  for (index_t r = 0; r < rows; ++r) {
    for (index_t c = 0; c < cols; ++c) ASSERT_EQ(back[r * stride + c], float(r * 10 + c));
    for (index_t c = cols; c < stride; ++c) ASSERT_EQ(back[r * stride + c], -3.0f);
  }
}

}  // namespace
}  // namespace attnkit
