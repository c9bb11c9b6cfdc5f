// SPDX-License-Identifier: Apache-2.0
// Tests of detail::aligned_buffer: size, alignment, moves.
#include <attnkit/core/aligned_buffer.hpp>

#include <cstdint>
#include <utility>

#include <gtest/gtest.h>

namespace attnkit::detail {
namespace {

TEST(AlignedBuffer, CacheLineAlignedForEverySize) {
  for (std::size_t n : {1u, 3u, 16u, 1000u, 4097u}) {
    aligned_buffer<float> b(n);
    EXPECT_EQ(b.size(), n);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(b.data()) % 64, 0u) << n;
    for (std::size_t i = 0; i < n; ++i) b[i] = float(i);  // the whole range is writable
    EXPECT_EQ(b[n - 1], float(n - 1));
  }
}

TEST(AlignedBuffer, EmptyAndMoved) {
  aligned_buffer<float> empty;
  EXPECT_EQ(empty.data(), nullptr);
  EXPECT_EQ(empty.size(), 0u);
  aligned_buffer<float> zero(0);
  EXPECT_EQ(zero.data(), nullptr);
  aligned_buffer<float> a(10);
  float* p = a.data();
  aligned_buffer<float> b = std::move(a);
  EXPECT_EQ(b.data(), p);
  EXPECT_EQ(b.size(), 10u);
}

}  // namespace
}  // namespace attnkit::detail
