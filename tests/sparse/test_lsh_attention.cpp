// SPDX-License-Identifier: Apache-2.0
// Tests of lsh_attention and lsh_buckets on every compiled arch: the kernel against the double
// reference over the union of the same buckets (each key once), one bucket = exact attention,
// rounds that are prefixes of each other, error falling with more rounds, NaN containment,
// determinism over threads and seeds, the shared Gaussian draw, argument errors.
#include <attnkit/linear/performer_feature_map.hpp>
#include <attnkit/sparse/lsh_attention.hpp>
#include <attnkit/sparse/lsh_buckets.hpp>
#include <attnkit/sparse/lsh_rotation.hpp>
#include <attnkit/sparse/reference_retrieval.hpp>

#include <cmath>
#include <limits>

#include <gtest/gtest.h>

#include "sparse/retrieval_support.hpp"

namespace attnkit::test {
namespace {

struct buckets {
  tensor<std::int32_t, 4> query, key;
};

template <class Arch>
buckets buckets_of(const retrieval_problem& p, const lsh_options& opt) {
  const auto qe = p.q.extents(), ke = p.k.extents();
  buckets c{tensor<std::int32_t, 4>({qe[0], qe[2], opt.hashes, qe[1]}, -1),
            tensor<std::int32_t, 4>({ke[0], ke[2], opt.hashes, ke[1]}, -1)};
  lsh_buckets<Arch>(p.q.cview(), p.k.cview(), c.query.view(), c.key.view(), opt);
  return c;
}

template <class Arch>
retrieval_oracle oracle_of(const retrieval_problem& p, const lsh_options& opt, const buckets& c) {
  const index_t Sq = p.q.extents()[1], Sk = p.k.extents()[1];
  const index_t G = p.q.extents()[2] / p.k.extents()[2];
  return visibility_oracle(p, opt.scale, [&](index_t b, index_t h, index_t i, index_t j) {
    if (opt.causal && j > i + Sk - Sq) return false;
    for (index_t r = 0; r < opt.hashes; ++r)
      if (c.query(b, h, r, i) == c.key(b, h / G, r, j)) return true;
    return false;
  });
}

template <class Arch>
void check_against_reference(const retrieval_dims& n, const lsh_options& opt, bool bhsd,
                             std::uint64_t seed = 3) {
  const auto p = make_problem(n, seed, bhsd);
  const auto c = buckets_of<Arch>(p, opt);
  for (auto x : c.query.storage()) ASSERT_TRUE(x >= 0 && x < opt.buckets);
  for (auto x : c.key.storage()) ASSERT_TRUE(x >= 0 && x < opt.buckets);
  const auto oracle = oracle_of<Arch>(p, opt, c);
  tensor<double, 4> ref({n.B, n.Sq, n.Hq, n.Dv});
  tensor<double, 3> ref_lse({n.B, n.Hq, n.Sq});
  const auto qd = convert<double>(p.q.cview()), kd = convert<double>(p.k.cview()),
             vd = convert<double>(p.v.cview());
  reference::lsh_attention<double, double>(qd.cview(), kd.cview(), vd.cview(), ref.view(),
                                           c.query.cview(), c.key.cview(), opt, ref_lse.view());
  EXPECT_EQ(max_abs_error(ref.cview(), oracle.out.cview()), 0.0);
  EXPECT_EQ(max_abs_error(ref_lse.cview(), oracle.lse.cview()), 0.0);
  retrieval_output got(n, bhsd);
  lsh_attention<Arch>(p.q.cview(), p.k.cview(), p.v.cview(), got.out.view(), opt, got.lse.view());
  expect_close(got, oracle);
}

template <class Arch>
class LshAttention : public ::testing::Test {};
TYPED_TEST_SUITE(LshAttention, compiled_archs, arch_name);

TYPED_TEST(LshAttention, MatchesReferenceOverTheUnionOfBuckets) {
  using Arch = TypeParam;
  ATTNKIT_SKIP_UNLESS_CPU_SUPPORTS(Arch);
  const retrieval_dims n{.B = 2, .Sq = 37, .Sk = 53, .Hq = 4, .Hkv = 2, .D = 24, .Dv = 19};
  for (bool causal : {false, true})
    for (index_t hashes : {1, 3}) {
      const index_t nb = hashes == 1 ? 4 : 8;
      SCOPED_TRACE(testing::Message() << "causal " << causal << " hashes " << hashes << " buckets " << nb);
      check_against_reference<Arch>(n, {.buckets = nb, .hashes = hashes, .seed = 5, .causal = causal},
                                    causal);
    }
  // Buckets of more than 64 queries and keys, a scale, Sq > Sk causal (empty first rows).
  check_against_reference<Arch>({.B = 1, .Sq = 160, .Sk = 150, .Hq = 1, .Hkv = 1, .D = 13, .Dv = 7},
                                {.buckets = 2, .hashes = 2, .seed = 9, .causal = true, .scale = 0.4f},
                                false);
}

TYPED_TEST(LshAttention, OneBucketIsExactAttention) {
  using Arch = TypeParam;
  ATTNKIT_SKIP_UNLESS_CPU_SUPPORTS(Arch);
  const retrieval_dims n{.B = 1, .Sq = 29, .Sk = 71, .Hq = 3, .Hkv = 1, .D = 16, .Dv = 16};
  const auto p = make_problem(n, 11, true);
  for (bool causal : {false, true})
    for (index_t hashes : {1, 4}) {
      SCOPED_TRACE(testing::Message() << "causal " << causal << " hashes " << hashes);
      retrieval_output got(n);
      lsh_attention<Arch>(p.q.cview(), p.k.cview(), p.v.cview(), got.out.view(),
                          {.buckets = 1, .hashes = hashes, .causal = causal}, got.lse.view());
      expect_close(got, exact_oracle(p, causal));
    }
}

// Round r's rotation depends on (seed, r) only: the buckets of 2 rounds are the first 2 of 6,
// so the keys a query sees only grow with the rounds, and the error against exact attention,
// averaged over seeds, does not grow.
TYPED_TEST(LshAttention, MoreRoundsSeeMoreAndErrNoMore) {
  using Arch = TypeParam;
  ATTNKIT_SKIP_UNLESS_CPU_SUPPORTS(Arch);
  const retrieval_dims n{.B = 1, .Sq = 48, .Sk = 64, .Hq = 2, .Hkv = 2, .D = 16, .Dv = 16};
  const auto p = make_problem(n, 17, false, 2.0);
  const auto few = buckets_of<Arch>(p, {.buckets = 8, .hashes = 2, .seed = 4});
  const auto many = buckets_of<Arch>(p, {.buckets = 8, .hashes = 6, .seed = 4});
  for (index_t h = 0; h < n.Hq; ++h)
    for (index_t r = 0; r < 2; ++r)
      for (index_t i = 0; i < n.Sq; ++i) ASSERT_EQ(few.query(0, h, r, i), many.query(0, h, r, i));
  const auto exact = exact_oracle(p, false);
  std::vector<double> mean;
  for (index_t hashes : {1, 2, 4, 8}) {
    double sum = 0;
    const int seeds = 6;
    for (int seed = 0; seed < seeds; ++seed) {
      retrieval_output got(n);
      lsh_attention<Arch>(p.q.cview(), p.k.cview(), p.v.cview(), got.out.view(),
                          {.buckets = 8, .hashes = hashes, .seed = std::uint64_t(seed)});
      sum += relative_error(got.out, exact.out);
    }
    mean.push_back(sum / seeds);
  }
  for (std::size_t x = 1; x < mean.size(); ++x) EXPECT_LE(mean[x], mean[x - 1]) << x;
  EXPECT_LT(mean.back(), 0.5 * mean.front());
}

TYPED_TEST(LshAttention, NaNReachesOnlyTheRowsThatSeeIt) {
  using Arch = TypeParam;
  ATTNKIT_SKIP_UNLESS_CPU_SUPPORTS(Arch);
  const retrieval_dims n{.B = 1, .Sq = 40, .Sk = 40, .Hq = 1, .Hkv = 1, .D = 8, .Dv = 8};
  auto p = make_problem(n, 23);
  p.v(0, 25, 0, 1) = std::numeric_limits<float>::quiet_NaN();
  const lsh_options opt{.buckets = 4, .hashes = 3, .seed = 2, .causal = true};
  const auto c = buckets_of<Arch>(p, opt);
  retrieval_output got(n);
  lsh_attention<Arch>(p.q.cview(), p.k.cview(), p.v.cview(), got.out.view(), opt, got.lse.view());
  expect_close(got, oracle_of<Arch>(p, opt, c));
  index_t nan_rows = 0;
  for (index_t i = 0; i < n.Sq; ++i) nan_rows += std::isnan(got.out(0, i, 0, 1));
  EXPECT_GT(nan_rows, 0);
  EXPECT_LT(nan_rows, n.Sq - 25);  // rows 25.. may see key 25; not all of them share a bucket
}

TYPED_TEST(LshAttention, SameForOneAndTwoThreadsAndPerSeed) {
  using Arch = TypeParam;
  ATTNKIT_SKIP_UNLESS_CPU_SUPPORTS(Arch);
  const retrieval_dims n{.B = 2, .Sq = 45, .Sk = 61, .Hq = 4, .Hkv = 2, .D = 20, .Dv = 12};
  const auto p = make_problem(n, 31);
  const lsh_options opt{.buckets = 6, .hashes = 3, .seed = 99};
  auto run = [&](int threads, const lsh_options& o) {
    thread_scope scope(threads);
    retrieval_output got(n);
    lsh_attention<Arch>(p.q.cview(), p.k.cview(), p.v.cview(), got.out.view(), o, got.lse.view());
    return got;
  };
  const auto one = run(1, opt), two = run(2, opt);
  EXPECT_TRUE(same_bits(one.out, two.out));
  EXPECT_TRUE(same_bits(one.lse, two.lse));
  auto other = opt;
  other.seed = 100;
  EXPECT_FALSE(same_bits(one.out, run(1, other).out));
  thread_scope scope(2);
  const auto a = buckets_of<Arch>(p, opt), b = buckets_of<Arch>(p, opt), c = buckets_of<Arch>(p, other);
  EXPECT_EQ(a.query.storage(), b.query.storage());
  EXPECT_NE(a.query.storage(), c.query.storage());
}

// The rotations draw the Gaussians performer_feature_map draws (its i.i.d. directions, a
// D x D block, are gaussian_at(seed, 0 ..)).
TEST(LshRotation, DrawsThePerformerGaussians) {
  const index_t D = 6;
  const performer_feature_map map(D, D, 1234, false);
  for (index_t t = 0; t < D * D; ++t)
    EXPECT_EQ(map.directions()[std::size_t(t)], static_cast<float>(detail::gaussian_at(1234, std::uint64_t(t))));
  const auto rot = detail::lsh_rotation<xsimd::sse2>(77, 2, D, 3);
  EXPECT_EQ(rot.row(1)[4], static_cast<float>(detail::gaussian_at(77, (2 * D + 4) * 3 + 1)));
}

TEST(LshAttentionArguments, RejectedBeforeAnyWrite) {
  const retrieval_dims n{.B = 1, .Sq = 5, .Sk = 7, .Hq = 2, .Hkv = 1, .D = 4, .Dv = 3};
  const auto p = make_problem(n, 1);
  auto expect_throw = [&](const lsh_options& opt) {
    retrieval_output got(n);
    EXPECT_THROW(lsh_attention(p.q.cview(), p.k.cview(), p.v.cview(), got.out.view(), opt, got.lse.view()),
                 error);
    for (float x : got.out.storage()) EXPECT_EQ(x, -777.0f);
    for (float x : got.lse.storage()) EXPECT_EQ(x, -777.0f);
  };
  expect_throw({.buckets = 3});
  expect_throw({.buckets = 0});
  expect_throw({.hashes = 0});
  expect_throw({.scale = std::numeric_limits<float>::infinity()});
  retrieval_output got(n);
  tensor<float, 3> lse({1, 2, 4}, -777.0f);
  EXPECT_THROW(lsh_attention(p.q.cview(), p.k.cview(), p.v.cview(), got.out.view(), {}, lse.view()), error);
  for (float x : got.out.storage()) EXPECT_EQ(x, -777.0f);
  tensor<std::int32_t, 4> qb({1, 2, 2, 5}, -5), kb({1, 2, 2, 7}, -5);  // key_bucket: Hkv is 1
  EXPECT_THROW(lsh_buckets(p.q.cview(), p.k.cview(), qb.view(), kb.view()), error);
  for (auto x : qb.storage()) EXPECT_EQ(x, -5);
}

}  // namespace
}  // namespace attnkit::test
