// SPDX-License-Identifier: Apache-2.0
// Tests of detail::query_block and detail::kv_block, the state and the K/V tiles of the flash
// kernel, on the default arch.
#include <attnkit/exact/kv_block.hpp>
#include <attnkit/exact/query_block.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include <gtest/gtest.h>

#include <attnkit/simd/arch.hpp>

namespace attnkit::detail {
namespace {

using arch = default_arch;
constexpr index_t kPanel = 2 * simd::width<arch>;
constexpr index_t kBlockQ = 2 * kPanel;

TEST(QueryBlock, PacksScaledQueriesIntoPanels) {
  const index_t D = 5, nq = kBlockQ - 3, stride = 9;
  std::vector<float> q(nq * stride);
  for (index_t i = 0; i < nq; ++i)
    for (index_t d = 0; d < D; ++d) q[i * stride + d] = float(i * 10 + d);
  query_block<arch, kBlockQ, kPanel> qb(D, 3);
  qb.start(q.data(), stride, nq, 0.5f);
  for (index_t i = 0; i < kBlockQ; ++i)
    for (index_t d = 0; d < D; ++d) {
      const index_t c = i / kPanel * kPanel;
      EXPECT_EQ(qb.q_panel(c)[d * kPanel + i % kPanel], i < nq ? 0.5f * float(i * 10 + d) : 0.0f);
    }
}

TEST(QueryBlock, NoKeysGivesZeroAndMinusInfinityOrTheSink) {
  const index_t D = 4, Dv = 3, nq = 5;
  std::vector<float> q(nq * D, 1.0f), out(nq * Dv, 9.0f), lse(nq, 9.0f);
  query_block<arch, kBlockQ, kPanel> qb(D, Dv);
  qb.start(q.data(), D, nq, 1.0f);
  qb.finish(-std::numeric_limits<float>::infinity(), out.data(), Dv, lse.data(), 1);
  for (float x : out) EXPECT_EQ(x, 0.0f);
  for (float x : lse) EXPECT_EQ(x, -std::numeric_limits<float>::infinity());
  qb.start(q.data(), D, nq, 1.0f);
  qb.finish(2.5f, out.data(), Dv, nullptr, 1);  // lse not wanted: nothing else written
  for (float x : out) EXPECT_EQ(x, 0.0f);
}

TEST(QueryBlock, FinishDividesTheAccumulatorsByTheSum) {
  // One key with score 0 for every query: l = 1 after the update; O = its value.
  const index_t D = 2, Dv = 3, nq = 3;
  std::vector<float> q(nq * D, 0.0f), out(nq * Dv, 0.0f), lse(nq, 0.0f);
  query_block<arch, kBlockQ, kPanel> qb(D, Dv);
  qb.start(q.data(), D, nq, 1.0f);
  std::vector<float, xsimd::aligned_allocator<float, 64>> scores(kPanel, 0.0f);
  auto sm = qb.panel_softmax(0);
  sm.update(scores.data(), kPanel, 1);
  for (index_t d = 0; d < Dv; ++d)
    for (index_t c = 0; c < kPanel; ++c) qb.o_panel(0)[d * kPanel + c] = float(d + 1) * scores[c];
  qb.finish(-std::numeric_limits<float>::infinity(), out.data(), Dv, lse.data(), 1);
  for (index_t i = 0; i < nq; ++i) {
    EXPECT_EQ(lse[i], 0.0f);
    for (index_t d = 0; d < Dv; ++d) EXPECT_EQ(out[i * Dv + d], float(d + 1));
  }
}

TEST(KvBlock, CopiesRowsAndPadsValueRows) {
  const index_t S = 10, H = 2, D = 3, Dv = 128;
  std::vector<float> k(S * H * D), v(S * H * Dv);
  for (std::size_t n = 0; n < k.size(); ++n) k[n] = float(n);
  for (std::size_t n = 0; n < v.size(); ++n) v[n] = -float(n);
  const tensor_view<const float, 4> kv_k(k.data(), {1, S, H, D}), kv_v(v.data(), {1, S, H, Dv});
  kv_block<arch, 8> block(D, Dv);
  EXPECT_EQ(block.ldv() % 16, 0);
  EXPECT_NE(block.ldv() * 4 / 64 % 2, 0) << "512-byte V rows must be padded to an odd line count";
  block.load(kv_k, kv_v, 1, 2, 7, 10, 3);
  for (int step = 0; step < 5; ++step) block.prefetch_step();  // more steps than planned is fine
  block.prefetch_rest();
  for (index_t r = 0; r < 5; ++r) {
    for (index_t d = 0; d < D; ++d) EXPECT_EQ(block.k(r)[d], kv_k(0, 2 + r, 1, d));
    for (index_t d = 0; d < Dv; ++d) EXPECT_EQ(block.v(r)[d], kv_v(0, 2 + r, 1, d));
    for (index_t d = Dv; d < block.ldv(); ++d) EXPECT_EQ(block.v(r)[d], 0.0f);
  }
}

}  // namespace
}  // namespace attnkit::detail
