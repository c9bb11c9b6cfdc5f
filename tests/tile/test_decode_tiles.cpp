// SPDX-License-Identifier: Apache-2.0
// Tests of the decode micro-kernels tile::dot_rows and tile::axpy_rows on every compiled arch
// against double sums: odd head dims (tails), key counts that are not a multiple of the keys per
// step, float / bf16 / fp16 / int8 rows, row scales, and nothing read past a row.
#include <attnkit/tile/axpy_rows.hpp>
#include <attnkit/tile/dot_rows.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include <attnkit/core/aligned_buffer.hpp>
#include <attnkit/core/bf16.hpp>
#include <attnkit/core/fp16.hpp>

#include "support/archs.hpp"

namespace attnkit {
namespace {

template <class Arch>
class DecodeTiles : public ::testing::Test {
 protected:
  void SetUp() override { ATTNKIT_SKIP_UNLESS_CPU_SUPPORTS(Arch); }
};
TYPED_TEST_SUITE(DecodeTiles, test::compiled_archs, test::arch_name);

constexpr index_t kWidth64 = 16;  // ld multiple of every batch width

index_t round_up(index_t x, index_t to) { return (x + to - 1) / to * to; }

// n rows of `cols` elements of C, each followed by NaN (or, for int8, by 127: a read past the
// row's end changes the result), as row pointers in shuffled order.
template <class C>
struct rows_of {
  std::vector<C> storage;
  std::vector<const C*> ptrs;
  std::vector<float> scale;
  rows_of(index_t n, index_t cols, bool scaled, std::uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    const index_t stride = cols + 16;
    const C pad = std::is_same_v<C, std::int8_t> ? C(127) : C(std::numeric_limits<float>::quiet_NaN());
    storage.assign(static_cast<std::size_t>(n * stride), pad);
    for (index_t j = 0; j < n; ++j) {
      for (index_t d = 0; d < cols; ++d) {
        if constexpr (std::is_same_v<C, std::int8_t>)
          storage[std::size_t(j * stride + d)] = static_cast<std::int8_t>(std::lround(dist(rng) * 127));
        else
          storage[std::size_t(j * stride + d)] = C(dist(rng));
      }
      scale.push_back(scaled ? 0.5f + float(j % 5) * 0.25f : 1.0f);
    }
    for (index_t j = n - 1; j >= 0; --j) ptrs.push_back(storage.data() + j * stride);  // reversed
  }
  double at(index_t j, index_t d) const { return double(float(ptrs[std::size_t(j)][d])); }
};

template <class Arch, class C>
void check_dot(index_t n, index_t m, index_t D, bool scaled) {
  const rows_of<C> k(n, D, scaled, 1);
  const index_t ldq = round_up(D, kWidth64), lds = round_up(m, kWidth64);
  detail::aligned_buffer<float> q(static_cast<std::size_t>(m * ldq)), s(static_cast<std::size_t>(n * lds));
  std::mt19937 rng(2);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (index_t r = 0; r < m; ++r)
    for (index_t d = 0; d < ldq; ++d) q[std::size_t(r * ldq + d)] = d < D ? dist(rng) : 0.0f;
  for (index_t x = 0; x < n * lds; ++x) s[std::size_t(x)] = -5.0f;
  tile::dot_rows<Arch>(n, m, D, k.ptrs.data(), scaled ? k.scale.data() : nullptr, q.data(), ldq,
                       s.data(), lds);
  for (index_t j = 0; j < n; ++j)
    for (index_t r = 0; r < lds; ++r) {
      const float got = s[std::size_t(j * lds + r)];
      if (r >= m) {
        ASSERT_EQ(got, -5.0f) << "wrote column " << r;
        continue;
      }
      double want = 0.0, mag = 0.0;
      for (index_t d = 0; d < D; ++d) {
        want += k.at(j, d) * q[std::size_t(r * ldq + d)];
        mag += std::abs(k.at(j, d) * q[std::size_t(r * ldq + d)]);
      }
      want *= k.scale[std::size_t(j)];
      mag *= k.scale[std::size_t(j)];
      ASSERT_NEAR(got, want, 1e-6 * mag + 1e-30) << "n " << n << " m " << m << " D " << D << " key " << j << " query " << r;
    }
}

template <class Arch, class C>
void check_axpy(index_t n, index_t m, index_t Dv, bool scaled) {
  const rows_of<C> v(n, Dv, scaled, 3);
  const index_t ldp = round_up(m, kWidth64), ldo = round_up(Dv, kWidth64);
  detail::aligned_buffer<float> p(static_cast<std::size_t>(std::max<index_t>(n, 1) * ldp)),
      o(static_cast<std::size_t>(m * ldo)), alpha(static_cast<std::size_t>(m));
  std::mt19937 rng(4);
  std::uniform_real_distribution<float> dist(0.0f, 1.0f);
  for (index_t x = 0; x < n * ldp; ++x) p[std::size_t(x)] = dist(rng);
  for (index_t r = 0; r < m; ++r) alpha[std::size_t(r)] = r % 3 == 0 ? 0.0f : dist(rng);
  for (index_t x = 0; x < m * ldo; ++x) o[std::size_t(x)] = x % ldo < Dv ? dist(rng) : 0.0f;
  std::vector<float> before(o.data(), o.data() + m * ldo);
  tile::axpy_rows<Arch>(n, m, Dv, v.ptrs.data(), scaled ? v.scale.data() : nullptr, p.data(), ldp,
                        alpha.data(), o.data(), ldo);
  for (index_t r = 0; r < m; ++r)
    for (index_t d = 0; d < Dv; ++d) {
      double want = double(alpha[std::size_t(r)]) * before[std::size_t(r * ldo + d)], mag = std::abs(want);
      for (index_t j = 0; j < n; ++j) {
        const double t = double(p[std::size_t(j * ldp + r)]) * v.scale[std::size_t(j)] * v.at(j, d);
        want += t;
        mag += std::abs(t);
      }
      ASSERT_NEAR(o[std::size_t(r * ldo + d)], want, 1e-6 * mag + 1e-30)
          << "n " << n << " m " << m << " Dv " << Dv << " query " << r << " d " << d;
    }
}

TYPED_TEST(DecodeTiles, DotRowsMatchesDoubleSums) {
  for (index_t D : {1, 3, 17, 64, 65, 128})
    for (index_t n : {1, 2, 5, 16, 19})
      for (index_t m : {4, 8, 12}) {
        check_dot<TypeParam, float>(n, m, D, false);
        check_dot<TypeParam, bf16>(n, m, D, false);
        check_dot<TypeParam, fp16>(n, m, D, true);
        check_dot<TypeParam, std::int8_t>(n, m, D, true);
      }
}

TYPED_TEST(DecodeTiles, AxpyRowsMatchesDoubleSums) {
  for (index_t Dv : {1, 3, 17, 33, 64, 65, 128})
    for (index_t n : {0, 1, 5, 16})
      for (index_t m : {4, 8}) {
        check_axpy<TypeParam, float>(n, m, Dv, false);
        check_axpy<TypeParam, bf16>(n, m, Dv, true);
        check_axpy<TypeParam, fp16>(n, m, Dv, false);
        check_axpy<TypeParam, std::int8_t>(n, m, Dv, true);
      }
}

}  // namespace
}  // namespace attnkit
