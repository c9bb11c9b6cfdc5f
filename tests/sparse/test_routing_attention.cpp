// SPDX-License-Identifier: Apache-2.0
// Tests of routing_attention and routing_clusters on every compiled arch: the kernel against the
// double reference built from the same clusters (odd sizes, GQA, strided views, causal, groups
// of more than 64 queries), one cluster = exact attention, empty rows, determinism over threads
// and seeds, argument errors that leave the output untouched.
#include <attnkit/sparse/reference_retrieval.hpp>
#include <attnkit/sparse/routing_attention.hpp>
#include <attnkit/sparse/routing_clusters.hpp>

#include <cmath>
#include <limits>
#include <set>

#include <gtest/gtest.h>

#include "sparse/retrieval_support.hpp"

namespace attnkit::test {
namespace {

struct clusters {
  tensor<std::int32_t, 3> query, key;
};

template <class Arch>
clusters clusters_of(const retrieval_problem& p, const routing_options& opt) {
  const auto qe = p.q.extents();
  clusters c{tensor<std::int32_t, 3>({qe[0], qe[2], qe[1]}, -1),
             tensor<std::int32_t, 3>({qe[0], qe[2], p.k.extents()[1]}, -1)};
  routing_clusters<Arch>(p.q.cview(), p.k.cview(), c.query.view(), c.key.view(), opt);
  return c;
}

/// The kernel on every arch against the double reference from that arch's clusters.
template <class Arch>
void check_against_reference(const retrieval_dims& n, const routing_options& opt, bool bhsd,
                             std::uint64_t seed = 3) {
  const auto p = make_problem(n, seed, bhsd);
  const auto c = clusters_of<Arch>(p, opt);
  for_each_index(c.query.extents(), [&](const auto& idx) {
    ASSERT_GE(at(c.query.view(), idx), 0);
    ASSERT_LT(at(c.query.view(), idx), opt.clusters);
  });
  const index_t o = n.Sk - n.Sq;
  const auto oracle = visibility_oracle(p, opt.scale, [&](index_t b, index_t h, index_t i, index_t j) {
    return c.key(b, h, j) == c.query(b, h, i) && (!opt.causal || j <= i + o);
  });
  // The public reference is the same computation.
  tensor<double, 4> ref({n.B, n.Sq, n.Hq, n.Dv});
  tensor<double, 3> ref_lse({n.B, n.Hq, n.Sq});
  const auto qd = convert<double>(p.q.cview()), kd = convert<double>(p.k.cview()),
             vd = convert<double>(p.v.cview());
  reference::routing_attention<double, double>(qd.cview(), kd.cview(), vd.cview(), ref.view(),
                                               c.query.cview(), c.key.cview(), opt, ref_lse.view());
  EXPECT_EQ(max_abs_error(ref.cview(), oracle.out.cview()), 0.0);
  EXPECT_EQ(max_abs_error(ref_lse.cview(), oracle.lse.cview()), 0.0);

  retrieval_output got(n, bhsd);
  routing_attention<Arch>(p.q.cview(), p.k.cview(), p.v.cview(), got.out.view(), opt, got.lse.view());
  expect_close(got, oracle);
}

template <class Arch>
class RoutingAttention : public ::testing::Test {};
TYPED_TEST_SUITE(RoutingAttention, compiled_archs, arch_name);

TYPED_TEST(RoutingAttention, MatchesReferenceFromTheSameClusters) {
  using Arch = TypeParam;
  ATTNKIT_SKIP_UNLESS_CPU_SUPPORTS(Arch);
  const retrieval_dims n{.B = 2, .Sq = 37, .Sk = 53, .Hq = 4, .Hkv = 2, .D = 24, .Dv = 19};
  for (bool causal : {false, true})
    for (index_t k : {3, 5})
      for (bool bhsd : {false, true}) {
        SCOPED_TRACE(testing::Message() << "causal " << causal << " clusters " << k << " bhsd " << bhsd);
        check_against_reference<Arch>(n, {.clusters = k, .iterations = 3, .seed = 7, .causal = causal}, bhsd);
      }
}

// Two clusters over 150 queries and 170 keys: groups of more than 64 queries and more than one
// 64-key block per cluster; a scale; Sq > Sk causal, where the first rows see no key.
TYPED_TEST(RoutingAttention, LargeClustersScaleAndEmptyRows) {
  using Arch = TypeParam;
  ATTNKIT_SKIP_UNLESS_CPU_SUPPORTS(Arch);
  check_against_reference<Arch>({.B = 1, .Sq = 150, .Sk = 170, .Hq = 1, .Hkv = 1, .D = 17, .Dv = 33},
                                {.clusters = 2, .iterations = 2, .seed = 1, .causal = true, .scale = 0.6f},
                                false);
  const retrieval_dims n{.B = 1, .Sq = 41, .Sk = 23, .Hq = 2, .Hkv = 1, .D = 9, .Dv = 5};
  check_against_reference<Arch>(n, {.clusters = 4, .causal = true}, true);
  const auto p = make_problem(n, 5);
  retrieval_output got(n);
  routing_attention<Arch>(p.q.cview(), p.k.cview(), p.v.cview(), got.out.view(),
                          {.clusters = 4, .causal = true}, got.lse.view());
  for (index_t h = 0; h < n.Hq; ++h)
    for (index_t i = 0; i < n.Sq - n.Sk; ++i) {  // no visible key at all: DESIGN 1.3 rule 4
      EXPECT_EQ(got.lse(0, h, i), -std::numeric_limits<float>::infinity());
      for (index_t d = 0; d < n.Dv; ++d) EXPECT_EQ(got.out(0, i, h, d), 0.0f);
    }
}

TYPED_TEST(RoutingAttention, OneClusterIsExactAttention) {
  using Arch = TypeParam;
  ATTNKIT_SKIP_UNLESS_CPU_SUPPORTS(Arch);
  const retrieval_dims n{.B = 1, .Sq = 29, .Sk = 71, .Hq = 3, .Hkv = 1, .D = 16, .Dv = 16};
  const auto p = make_problem(n, 11, true);
  for (bool causal : {false, true}) {
    SCOPED_TRACE(causal ? "causal" : "full");
    retrieval_output got(n);
    routing_attention<Arch>(p.q.cview(), p.k.cview(), p.v.cview(), got.out.view(),
                            {.clusters = 1, .causal = causal}, got.lse.view());
    expect_close(got, exact_oracle(p, causal));
  }
}

// A NaN in the V row of a key: the rows that see it are NaN, every other row is exact.
TYPED_TEST(RoutingAttention, NaNReachesOnlyTheRowsThatSeeIt) {
  using Arch = TypeParam;
  ATTNKIT_SKIP_UNLESS_CPU_SUPPORTS(Arch);
  const retrieval_dims n{.B = 1, .Sq = 40, .Sk = 40, .Hq = 1, .Hkv = 1, .D = 8, .Dv = 8};
  auto p = make_problem(n, 21);
  p.v(0, 30, 0, 2) = std::numeric_limits<float>::quiet_NaN();
  const routing_options opt{.clusters = 2, .causal = true};
  const auto c = clusters_of<Arch>(p, opt);
  const auto oracle = visibility_oracle(p, 0.0f, [&](index_t b, index_t h, index_t i, index_t j) {
    return c.key(b, h, j) == c.query(b, h, i) && j <= i;
  });
  retrieval_output got(n);
  routing_attention<Arch>(p.q.cview(), p.k.cview(), p.v.cview(), got.out.view(), opt, got.lse.view());
  expect_close(got, oracle);
  index_t nan_rows = 0;
  for (index_t i = 0; i < n.Sq; ++i) nan_rows += std::isnan(got.out(0, i, 0, 2));
  EXPECT_GT(nan_rows, 0);
  EXPECT_LT(nan_rows, n.Sq);
}

TYPED_TEST(RoutingAttention, SameForOneAndTwoThreadsAndPerSeed) {
  using Arch = TypeParam;
  ATTNKIT_SKIP_UNLESS_CPU_SUPPORTS(Arch);
  const retrieval_dims n{.B = 2, .Sq = 45, .Sk = 61, .Hq = 4, .Hkv = 2, .D = 20, .Dv = 12};
  const auto p = make_problem(n, 31);
  const routing_options opt{.clusters = 6, .iterations = 5, .seed = 99};
  auto run = [&](int threads, const routing_options& o) {
    thread_scope scope(threads);
    retrieval_output got(n);
    routing_attention<Arch>(p.q.cview(), p.k.cview(), p.v.cview(), got.out.view(), o, got.lse.view());
    return got;
  };
  const auto one = run(1, opt), two = run(2, opt), again = run(2, opt);
  EXPECT_TRUE(same_bits(one.out, two.out));
  EXPECT_TRUE(same_bits(one.lse, two.lse));
  EXPECT_TRUE(same_bits(two.out, again.out));
  auto other = opt;
  other.seed = 100;
  EXPECT_FALSE(same_bits(one.out, run(1, other).out));
  // The clusters differ between the seeds (not merely the output).
  const auto a = clusters_of<Arch>(p, opt), b = clusters_of<Arch>(p, other);
  EXPECT_NE(a.key.storage(), b.key.storage());
}

TEST(RoutingAttentionArguments, RejectedBeforeAnyWrite) {
  const retrieval_dims n{.B = 1, .Sq = 5, .Sk = 7, .Hq = 2, .Hkv = 1, .D = 4, .Dv = 3};
  const auto p = make_problem(n, 1);
  auto expect_throw = [&](const routing_options& opt, const tensor_view<const float, 4>& k) {
    retrieval_output got(n);
    EXPECT_THROW(routing_attention(p.q.cview(), k, p.v.cview(), got.out.view(), opt, got.lse.view()),
                 error);
    for (float x : got.out.storage()) EXPECT_EQ(x, -777.0f);
    for (float x : got.lse.storage()) EXPECT_EQ(x, -777.0f);
  };
  expect_throw({.clusters = 0}, p.k.cview());
  expect_throw({.iterations = -1}, p.k.cview());
  expect_throw({.scale = std::numeric_limits<float>::quiet_NaN()}, p.k.cview());
  const tensor<float, 4> k3({1, 6, 1, 4});  // 6 keys, v has 7
  expect_throw({}, k3.cview());
  const tensor<float, 4> k_odd_heads({1, 7, 3, 4});  // Hq = 2 is no multiple of 3
  expect_throw({}, k_odd_heads.cview());
  tensor<std::int32_t, 3> qc({1, 2, 5}, -5), kc({1, 2, 6}, -5);  // key_cluster too short
  EXPECT_THROW(routing_clusters(p.q.cview(), p.k.cview(), qc.view(), kc.view()), error);
  for (auto x : qc.storage()) EXPECT_EQ(x, -5);
}

}  // namespace
}  // namespace attnkit::test
