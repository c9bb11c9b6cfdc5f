// SPDX-License-Identifier: Apache-2.0
// reference::attention_varlen against per-sequence dense calls: local positions, empty segments, untouched rows.
#include <attnkit/exact/reference.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "exact/reference_support.hpp"
#include "support/random.hpp"
#include "support/tensor.hpp"
#include "support/tolerance.hpp"

namespace attnkit {
namespace {

using test::owned_options;
using test::tensor;

constexpr float kSentinel = 12345.0f;
const float kNaNf = std::numeric_limits<float>::quiet_NaN();

/// A packed problem of four sequences with (len_q, len_k) = (3, 5), (0, 2), (5, 0), (2, 6):
/// one without queries, one without keys, q longer than k and k longer than q. Rows 10, 11 of
/// q/out and 13, 14 of k/v lie outside every sequence; they hold NaN in the inputs (a read would
/// show) and the sentinel in out and lse (a write would show). The bias is [4, Hq, 6, 7], larger
/// than the longest lengths (5, 6), with NaN wherever a sequence's local (i, j) does not reach.
struct packed_problem {
  static constexpr index_t B = 4, total_q = 12, total_k = 15, Hq = 4, Hkv = 2, D = 3, Dv = 5;
  std::vector<std::int32_t> cu_q = {0, 3, 3, 8, 10}, cu_k = {0, 5, 7, 7, 13};
  tensor<float, 3> q, k, v, out;
  tensor<float, 2> lse;
  tensor<float, 4> bias;

  packed_problem()
      : q(test::random_tensor<float, 3>({total_q, Hq, D}, 1)),
        k(test::random_tensor<float, 3>({total_k, Hkv, D}, 2)),
        v(test::random_tensor<float, 3>({total_k, Hkv, Dv}, 3)),
        out({total_q, Hq, Dv}, kSentinel),
        lse({Hq, total_q}, kSentinel),
        bias({B, Hq, 6, 7}, kNaNf) {
    for (index_t r = cu_q[B]; r < total_q; ++r)
      for (index_t h = 0; h < Hq; ++h)
        for (index_t d = 0; d < D; ++d) q(r, h, d) = kNaNf;
    for (index_t r = cu_k[B]; r < total_k; ++r)
      for (index_t h = 0; h < Hkv; ++h) {
        for (index_t d = 0; d < D; ++d) k(r, h, d) = kNaNf;
        for (index_t d = 0; d < Dv; ++d) v(r, h, d) = kNaNf;
      }
    std::mt19937_64 rng(4);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (index_t b = 0; b < B; ++b)
      for (index_t h = 0; h < Hq; ++h)
        for (index_t i = 0; i < len_q(b); ++i)
          for (index_t j = 0; j < len_k(b); ++j) bias(b, h, i, j) = dist(rng);
  }

  index_t len_q(index_t b) const { return cu_q[b + 1] - cu_q[b]; }
  index_t len_k(index_t b) const { return cu_k[b + 1] - cu_k[b]; }

  void run(const attention_options& opt) {
    reference::attention_varlen<float>(q.cview(), k.cview(), v.cview(), out.view(), cu_q, cu_k, opt,
                                       lse.view());
  }

  /// Each sequence's rows of out and columns of lse equal a dense batch-1 call on copies of that
  /// sequence (with the bias at its local origin), bit for bit; the rows outside stay untouched.
  void expect_equals_per_sequence(const attention_options& opt) {
    for (index_t b = 0; b < B; ++b) {
      SCOPED_TRACE("sequence " + std::to_string(b));
      const auto sq = test::unpack(q, cu_q, b), sk = test::unpack(k, cu_k, b),
                 sv = test::unpack(v, cu_k, b);
      tensor<float, 4> sout({1, len_q(b), Hq, Dv}, -1.0f);
      tensor<float, 3> slse({1, Hq, len_q(b)}, -1.0f);
      attention_options sopt = opt;
      if (attnkit::detail::is_given(opt.bias))
        sopt.bias = test::bias_of_segment(opt.bias, Hq, b, len_q(b), len_k(b));
      reference::attention<float>(sq.cview(), sk.cview(), sv.cview(), sout.view(), sopt,
                                  test::nonzero_strides(slse.view()));
      EXPECT_EQ(test::unpack(out, cu_q, b).storage(), sout.storage());
      for (index_t h = 0; h < Hq; ++h)
        for (index_t i = 0; i < len_q(b); ++i) EXPECT_EQ(lse(h, cu_q[b] + i), slse(0, h, i));
    }
    EXPECT_EQ(test::count_non_finite(test::unpack(out, cu_q, 0).cview()), 0);
    for (index_t r = cu_q[B]; r < total_q; ++r) {
      for (index_t h = 0; h < Hq; ++h) {
        for (index_t d = 0; d < Dv; ++d) EXPECT_EQ(out(r, h, d), kSentinel) << "row " << r;
        EXPECT_EQ(lse(h, r), kSentinel) << "row " << r;
      }
    }
  }
};

struct option_case {
  const char* name;
  void (*set)(owned_options&);
};

void PrintTo(const option_case& c, std::ostream* os) { *os << c.name; }

const option_case kOptionCases[] = {
    {"none", [](owned_options&) {}},
    {"causal_bottom_right", [](owned_options& o) { o.causal = true; }},
    {"causal_top_left",
     [](owned_options& o) {
       o.causal = true;
       o.align = alignment::top_left;
     }},
    {"window_1_2",
     [](owned_options& o) {
       o.window_left = 1;
       o.window_right = 2;
     }},
    {"softcap",
     [](owned_options& o) {
       o.scale = 2.0f;
       o.softcap = 1.0f;
     }},
    {"alibi", [](owned_options& o) { o.alibi_slopes = {0.5f, 0.25f, 1.0f, 2.0f}; }},
    {"sinks", [](owned_options& o) { o.sinks = {0.5f, -1.0f, 2.0f, 0.0f}; }},
    {"all",
     [](owned_options& o) {
       o.scale = 0.8f;
       o.causal = true;
       o.window_left = 2;
       o.softcap = 3.0f;
       o.alibi_slopes = {0.5f, 0.25f, 1.0f, 2.0f};
       o.sinks = {0.5f, -1.0f, 2.0f, 0.0f};
     }},
};

class ReferenceVarlen : public ::testing::TestWithParam<option_case> {};

TEST_P(ReferenceVarlen, EqualsPerSequenceCalls) {
  packed_problem p;
  owned_options o;
  GetParam().set(o);
  p.run(o.options());
  p.expect_equals_per_sequence(o.options());
}

TEST_P(ReferenceVarlen, EqualsPerSequenceCallsWithBiasAtLocalPositions) {
  packed_problem p;
  owned_options o;
  GetParam().set(o);
  attention_options opt = o.options();
  opt.bias = p.bias.cview();
  p.run(opt);
  p.expect_equals_per_sequence(opt);
}

INSTANTIATE_TEST_SUITE_P(Options, ReferenceVarlen, ::testing::ValuesIn(kOptionCases),
                         [](const ::testing::TestParamInfo<option_case>& info) {
                           return std::string(info.param.name);
                         });

TEST(ReferenceVarlenSemantics, SequenceWithoutKeysHasEmptyRows) {
  // Sequence 2 has 5 queries and no keys: out 0, lse -inf (the sink with sinks).
  packed_problem p;
  p.run({});
  for (index_t r = 3; r < 8; ++r)
    for (index_t h = 0; h < p.Hq; ++h) {
      EXPECT_EQ(p.lse(h, r), -std::numeric_limits<float>::infinity());
      for (index_t d = 0; d < p.Dv; ++d) EXPECT_TRUE(test::is_positive_zero(p.out(r, h, d)));
    }
  owned_options o;
  o.sinks = {0.5f, -1.0f, 2.0f, 0.0f};
  p.run(o.options());
  for (index_t r = 3; r < 8; ++r)
    for (index_t h = 0; h < p.Hq; ++h) EXPECT_EQ(p.lse(h, r), o.sinks[h]);
}

TEST(ReferenceVarlenSemantics, CausalAlignsEachSequenceToItsOwnLengths) {
  // q = 0 so lse = ln(visible keys). Sequences (len_q, len_k) = (2, 4) and (1, 1); causal
  // bottom_right aligns each to its own lengths: rows of sequence 0 see 3 and 4 keys, the row of
  // sequence 1 sees its one key (lse 0). Aligning to the totals (o = 5 - 3 = 2) or letting a
  // row see keys of the other sequence would change these counts.
  const std::vector<std::int32_t> cu_q = {0, 2, 3}, cu_k = {0, 4, 5};
  tensor<double, 3> q({3, 1, 1}), k({5, 1, 1}), v({5, 1, 1}, 1.0), out({3, 1, 1});
  tensor<double, 2> lse({1, 3});
  attention_options opt;
  opt.causal = true;
  reference::attention_varlen<double>(q.cview(), k.cview(), v.cview(), out.view(), cu_q, cu_k, opt,
                                      lse.view());
  EXPECT_DOUBLE_EQ(lse(0, 0), std::log(3.0));
  EXPECT_DOUBLE_EQ(lse(0, 1), std::log(4.0));
  EXPECT_DOUBLE_EQ(lse(0, 2), 0.0);
  // top_left: rows of sequence 0 see 1 and 2 keys.
  opt.align = alignment::top_left;
  reference::attention_varlen<double>(q.cview(), k.cview(), v.cview(), out.view(), cu_q, cu_k, opt,
                                      lse.view());
  EXPECT_DOUBLE_EQ(lse(0, 0), 0.0);
  EXPECT_DOUBLE_EQ(lse(0, 1), std::log(2.0));
  EXPECT_DOUBLE_EQ(lse(0, 2), 0.0);
}

TEST(ReferenceVarlenSemantics, LseMayBeStridedAndIsOptional) {
  // lse stored [total_q, Hq] and viewed [Hq, total_q]; the result equals the contiguous one.
  packed_problem p;
  owned_options o;
  o.causal = true;
  p.run(o.options());
  const auto out = p.out.storage();
  tensor<float, 2> strided({p.Hq, p.total_q}, {1, 0}, 0, kSentinel);
  tensor<float, 3> out2({p.total_q, p.Hq, p.Dv}, kSentinel);
  reference::attention_varlen<float>(p.q.cview(), p.k.cview(), p.v.cview(), out2.view(), p.cu_q,
                                     p.cu_k, o.options(), strided.view());
  EXPECT_EQ(out2.storage(), out);
  EXPECT_EQ(test::max_abs_error(strided.cview(), p.lse.cview()), 0.0);
  tensor<float, 3> out3({p.total_q, p.Hq, p.Dv}, kSentinel);
  reference::attention_varlen<float>(p.q.cview(), p.k.cview(), p.v.cview(), out3.view(), p.cu_q,
                                     p.cu_k, o.options());
  EXPECT_EQ(out3.storage(), out);
}

TEST(ReferenceVarlenSemantics, BiasBroadcastsOverSequencesAndRows) {
  // bias [1, 1, 1, 7]: every sequence and row adds bias(j) at its local key j.
  packed_problem p;
  tensor<float, 4> bias({1, 1, 1, 7});
  test::fill_uniform(bias.view(), 5, -2.0, 2.0);
  attention_options opt;
  opt.bias = bias.cview();
  p.run(opt);
  p.expect_equals_per_sequence(opt);
  // and the bias matters
  const auto with_bias = p.out.storage();
  p.run({});
  EXPECT_NE(p.out.storage(), with_bias);
}

TEST(ReferenceVarlenSemantics, NoSequencesWritesNothing) {
  packed_problem p;
  const std::vector<std::int32_t> cu = {0};
  reference::attention_varlen<float>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view(), cu, cu,
                                     {}, p.lse.view());
  for (const float x : p.out.storage()) EXPECT_EQ(x, kSentinel);
  for (const float x : p.lse.storage()) EXPECT_EQ(x, kSentinel);
}

}  // namespace
}  // namespace attnkit
