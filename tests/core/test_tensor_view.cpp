// SPDX-License-Identifier: Apache-2.0
// Tests of tensor_view: construction, strides, broadcast, const conversion, broadcast_to.
#include <attnkit/core/tensor_view.hpp>

#include <type_traits>
#include <vector>

#include <gtest/gtest.h>

namespace attnkit {
namespace {

TEST(TensorView, DefaultIsEmpty) {
  tensor_view<float, 3> v;
  EXPECT_EQ(v.data(), nullptr);
  for (std::size_t r = 0; r < 3; ++r) {
    EXPECT_EQ(v.extent(r), 0);
    EXPECT_EQ(v.stride(r), 0);
  }
  EXPECT_EQ(v.size(), 0);
  EXPECT_TRUE(v.empty());
  EXPECT_EQ(decltype(v)::rank(), 3u);
}

TEST(TensorView, ContiguousIsRowMajor) {
  std::vector<int> data(2 * 3 * 5);
  for (std::size_t n = 0; n < data.size(); ++n) data[n] = static_cast<int>(n);
  tensor_view<int, 3> v(data.data(), {2, 3, 5});
  EXPECT_EQ(v.stride(0), 15);
  EXPECT_EQ(v.stride(1), 5);
  EXPECT_EQ(v.stride(2), 1);
  EXPECT_EQ(v.size(), 30);
  EXPECT_FALSE(v.empty());
  EXPECT_TRUE(v.is_contiguous());
  EXPECT_EQ(v(1, 2, 3), 1 * 15 + 2 * 5 + 3);
  v(0, 1, 4) = -7;
  EXPECT_EQ(data[9], -7);
}

TEST(TensorView, PermutedStridesReadBhsdAsBshd) {
  // Storage [B=2, H=3, S=4, D=5]; the view is logical [B, S, H, D].
  const index_t B = 2, H = 3, S = 4, D = 5;
  std::vector<float> data(B * H * S * D);
  for (std::size_t n = 0; n < data.size(); ++n) data[n] = float(n);
  tensor_view<float, 4> bshd(data.data(), {B, S, H, D}, {H * S * D, D, S * D, 1});
  EXPECT_FALSE(bshd.is_contiguous());
  for (index_t b = 0; b < B; ++b)
    for (index_t s = 0; s < S; ++s)
      for (index_t h = 0; h < H; ++h)
        for (index_t d = 0; d < D; ++d)
          EXPECT_EQ(bshd(b, s, h, d), float(((b * H + h) * S + s) * D + d));
}

TEST(TensorView, StrideZeroBroadcasts) {
  std::vector<float> row = {1.0f, 2.0f, 3.0f};
  tensor_view<const float, 2> v(row.data(), {4, 3}, {0, 1});
  EXPECT_EQ(v.size(), 12);
  for (index_t i = 0; i < 4; ++i)
    for (index_t j = 0; j < 3; ++j) EXPECT_EQ(v(i, j), row[j]);
  EXPECT_FALSE(v.is_contiguous());
}

TEST(TensorView, ZeroExtentIsEmptyButKeepsData) {
  float x = 0.0f;
  tensor_view<float, 2> v(&x, {0, 7});
  EXPECT_TRUE(v.empty());
  EXPECT_EQ(v.data(), &x);
  EXPECT_EQ(v.extent(1), 7);
}

TEST(TensorView, NegativeExtentThrows) {
  float x = 0.0f;
  EXPECT_THROW((tensor_view<float, 2>(&x, {2, -1})), error);
  EXPECT_THROW((tensor_view<float, 2>(&x, {-3, 1}, {1, 1})), error);
}

TEST(TensorView, ConvertsToConstImplicitlyButNotBack) {
  static_assert(std::is_convertible_v<tensor_view<float, 2>, tensor_view<const float, 2>>);
  static_assert(!std::is_convertible_v<tensor_view<const float, 2>, tensor_view<float, 2>>);
  static_assert(!std::is_convertible_v<tensor_view<float, 2>, tensor_view<const double, 2>>);
  static_assert(!std::is_convertible_v<tensor_view<float, 2>, tensor_view<const float, 3>>);
  static_assert(std::is_trivially_copyable_v<tensor_view<float, 4>>);
  std::vector<float> data(6);
  tensor_view<float, 2> v(data.data(), {2, 3}, {1, 2});
  tensor_view<const float, 2> c = v;
  EXPECT_EQ(c.data(), v.data());
  EXPECT_EQ(c.extents(), v.extents());
  EXPECT_EQ(c.strides(), v.strides());
}

TEST(TensorView, OffsetMatchesStrides) {
  float x = 0.0f;
  tensor_view<float, 3> v(&x, {4, 5, 6}, {-30, 6, 1});
  EXPECT_EQ(v.offset(1, 2, 3), -30 + 12 + 3);
}

TEST(TensorView, BroadcastToSetsZeroStrides) {
  std::vector<float> data = {1.0f, 2.0f, 3.0f};
  tensor_view<const float, 3> v(data.data(), {1, 3, 1});
  auto b = broadcast_to(v, {4, 3, 2});
  EXPECT_EQ(b.extents(), (std::array<index_t, 3>{4, 3, 2}));
  EXPECT_EQ(b.stride(0), 0);
  EXPECT_EQ(b.stride(1), 1);
  EXPECT_EQ(b.stride(2), 0);
  EXPECT_EQ(b(3, 2, 1), 3.0f);
}

TEST(TensorView, BroadcastToRejectsMismatch) {
  std::vector<float> data(6);
  tensor_view<const float, 2> v(data.data(), {2, 3});
  try {
    (void)broadcast_to(v, {2, 4}, "bias");
    FAIL() << "expected attnkit::error";
  } catch (const error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("'bias'"), std::string::npos) << what;
    EXPECT_NE(what.find("extent(1) == 4 or 1"), std::string::npos) << what;
    EXPECT_NE(what.find("got 3"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace attnkit
