// SPDX-License-Identifier: Apache-2.0
// merge_attention_states on every compiled arch against the merge formula in double: odd sizes,
// -inf parts with garbage, NaN, 16-bit outputs, strided views, bad input, and split attention.
#include <attnkit/exact/merge_states.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <attnkit/core/bf16.hpp>
#include <attnkit/core/fp16.hpp>
#include <attnkit/exact/reference.hpp>

#include "exact/argument_cases.hpp"
#include "exact/reference_support.hpp"
#include "support/archs.hpp"
#include "support/random.hpp"
#include "support/tensor.hpp"
#include "support/tolerance.hpp"

namespace attnkit {
namespace {

using test::tensor;

constexpr float kInf = std::numeric_limits<float>::infinity();
const float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kSentinel = 12345.0f;

/// The sizes of a merge: n parts of out [B, Sq, Hq, Dv].
struct merge_dims {
  index_t n = 1, B = 1, Sq = 1, Hq = 1, Dv = 1;
};

/// Partial states with random outputs in [-1, 1) and lse in [lo, hi); outputs start at the
/// sentinel so that a test can see what was written.
struct partial_states {
  merge_dims n;
  tensor<float, 5> out;  // [n, B, Sq, Hq, Dv]
  tensor<float, 4> lse;  // [n, B, Hq, Sq]

  partial_states(const merge_dims& d, std::uint64_t seed, double lo = -8.0, double hi = 8.0)
      : n(d),
        out(test::random_tensor<float, 5>({d.n, d.B, d.Sq, d.Hq, d.Dv}, seed)),
        lse(test::random_tensor<float, 4>({d.n, d.B, d.Hq, d.Sq}, seed + 1, lo, hi)) {}
};

/// The merge of one row computed literally, in Acc (double: the oracle; float: the naive
/// implementation the tolerance rule compares against).
template <class Acc>
void merge_formula(const partial_states& p, index_t b, index_t i, index_t h, Acc* out, Acc& lse) {
  const Acc inf = std::numeric_limits<Acc>::infinity();
  Acc m = -inf;
  bool nan = false;
  for (index_t s = 0; s < p.n.n; ++s) {
    const Acc l = p.lse(s, b, h, i);
    nan |= std::isnan(l);
    if (l > m) m = l;
  }
  if (nan || m == -inf) {
    lse = nan ? Acc(kNaN) : -inf;
    for (index_t d = 0; d < p.n.Dv; ++d) out[d] = nan ? Acc(kNaN) : Acc(0);
    return;
  }
  Acc sum = 0;
  for (index_t s = 0; s < p.n.n; ++s) sum += std::exp(Acc(p.lse(s, b, h, i)) - m);
  lse = m + std::log(sum);
  for (index_t d = 0; d < p.n.Dv; ++d) out[d] = 0;
  for (index_t s = 0; s < p.n.n; ++s) {
    const Acc l = p.lse(s, b, h, i);
    if (l == -inf) continue;
    const Acc w = std::exp(l - lse);
    for (index_t d = 0; d < p.n.Dv; ++d) out[d] += w * Acc(p.out(s, b, i, h, d));
  }
}

/// merge_formula over every row: out [B, Sq, Hq, Dv], lse [B, Hq, Sq].
template <class Acc>
std::pair<tensor<Acc, 4>, tensor<Acc, 3>> merge_all(const partial_states& p) {
  tensor<Acc, 4> out({p.n.B, p.n.Sq, p.n.Hq, p.n.Dv});
  tensor<Acc, 3> lse({p.n.B, p.n.Hq, p.n.Sq});
  for (index_t b = 0; b < p.n.B; ++b)
    for (index_t i = 0; i < p.n.Sq; ++i)
      for (index_t h = 0; h < p.n.Hq; ++h)
        merge_formula<Acc>(p, b, i, h, &out(b, i, h, 0), lse(b, h, i));
  return {std::move(out), std::move(lse)};
}

/// The library's merge of p into fresh (sentinel-filled) contiguous tensors.
template <class Arch, class T = float>
std::pair<tensor<T, 4>, tensor<float, 3>> merge(const partial_states& p) {
  tensor<T, 4> out({p.n.B, p.n.Sq, p.n.Hq, p.n.Dv}, T(kSentinel));
  tensor<float, 3> lse({p.n.B, p.n.Hq, p.n.Sq}, kSentinel);
  merge_attention_states<Arch, T>(p.out.cview(), p.lse.cview(), out.view(), lse.view());
  return {std::move(out), std::move(lse)};
}

/// True when a and b hold the same bits (NaN equal to NaN of the same payload).
template <class T, class U, std::size_t Rank>
::testing::AssertionResult same_bits(const tensor<T, Rank>& a, const tensor<U, Rank>& b) {
  static_assert(sizeof(T) == sizeof(U));
  index_t differ = 0;
  test::for_each_index(a.extents(), [&](const auto& idx) {
    const T& x = test::at(a.view(), idx);
    const U& y = test::at(b.view(), idx);
    differ += std::memcmp(&x, &y, sizeof(T)) != 0;
  });
  if (differ == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << differ << " elements differ";
}

/// The library's merge of p is within DESIGN 4's fp32 tolerance of the formula in double.
template <class Arch>
void expect_matches_formula(const partial_states& p) {
  const auto [out, lse] = merge<Arch>(p);
  const auto [want_out, want_lse] = merge_all<double>(p);
  const auto [naive_out, naive_lse] = merge_all<float>(p);
  EXPECT_TRUE(test::within_fp32_tolerance(out.cview(), naive_out.cview(), want_out.cview()));
  EXPECT_TRUE(test::within_fp32_tolerance(lse.cview(), naive_lse.cview(), want_lse.cview()));
}

template <class Arch>
class MergeStates : public ::testing::Test {
 protected:
  void SetUp() override { ATTNKIT_SKIP_UNLESS_CPU_SUPPORTS(Arch); }
};
TYPED_TEST_SUITE(MergeStates, test::compiled_archs, test::arch_name);

TYPED_TEST(MergeStates, MatchesTheFormulaInDoubleOverOddSizes) {
  std::uint64_t seed = 10;
  for (index_t Dv : {1, 3, 17, 128, 129})
    for (index_t n : {1, 2, 5}) {
      SCOPED_TRACE("Dv " + std::to_string(Dv) + ", n " + std::to_string(n));
      expect_matches_formula<TypeParam>(partial_states({n, 2, 3, 3, Dv}, seed += 2));
    }
}

TYPED_TEST(MergeStates, OnePartIsCopiedExactly) {
  const partial_states p({1, 2, 5, 3, 37}, 20);
  const auto [out, lse] = merge<TypeParam>(p);
  test::for_each_index(out.extents(), [&](const auto& x) {
    EXPECT_EQ(test::at(out.cview(), x), p.out(0, x[0], x[1], x[2], x[3]));
  });
  test::for_each_index(lse.extents(),
                       [&](const auto& x) { EXPECT_EQ(test::at(lse.cview(), x), p.lse(0, x[0], x[1], x[2])); });
}

TYPED_TEST(MergeStates, MoreThanSixtyFourParts) {
  for (index_t n : {64, 65, 130}) {
    SCOPED_TRACE("n " + std::to_string(n));
    expect_matches_formula<TypeParam>(partial_states({n, 1, 2, 2, 33}, 30 + std::uint64_t(n)));
  }
}

TYPED_TEST(MergeStates, ExtremeLseNeitherOverflowsNorUnderflows) {
  for (float scale : {1e4f, 1e30f}) {
    partial_states p({5, 1, 3, 2, 19}, 40);
    for (float& l : p.lse.storage()) l *= scale;
    const auto [out, lse] = merge<TypeParam>(p);
    const auto [want_out, want_lse] = merge_all<double>(p);
    EXPECT_EQ(test::count_non_finite(out.cview()), 0);
    EXPECT_LE(test::max_abs_error(out.cview(), want_out.cview()), 1e-6);
    test::for_each_index(lse.extents(), [&](const auto& x) {
      const double want = test::at(want_lse.cview(), x);
      EXPECT_NEAR(test::at(lse.cview(), x), want, 1e-6 * std::fabs(want));
    });
  }
}

TYPED_TEST(MergeStates, MinusInfinityPartsAreNotRead) {
  // Parts 1 and 3 of every row saw no key: their outputs are NaN garbage. The merge must equal,
  // bit for bit, the merge of parts 0, 2, 4 alone.
  partial_states p({5, 2, 3, 2, 21}, 50);
  partial_states kept({3, 2, 3, 2, 21}, 50);
  test::for_each_index(p.lse.extents(), [&](const auto& x) {
    if (x[0] % 2 == 1) test::at(p.lse.view(), x) = -kInf;
    else test::at(kept.lse.view(), {x[0] / 2, x[1], x[2], x[3]}) = test::at(p.lse.cview(), x);
  });
  test::for_each_index(p.out.extents(), [&](const auto& x) {
    if (x[0] % 2 == 1) test::at(p.out.view(), x) = kNaN;
    else test::at(kept.out.view(), {x[0] / 2, x[1], x[2], x[3], x[4]}) = test::at(p.out.cview(), x);
  });
  const auto [out, lse] = merge<TypeParam>(p);
  const auto [want_out, want_lse] = merge<TypeParam>(kept);
  EXPECT_EQ(test::count_non_finite(out.cview()), 0);
  EXPECT_TRUE(same_bits(out, want_out));
  EXPECT_TRUE(same_bits(lse, want_lse));
}

TYPED_TEST(MergeStates, RowsWithEveryPartMinusInfinityAreZero) {
  partial_states p({3, 1, 4, 2, 17}, 60);
  // Row (i 1, h 0): every part -inf, outputs NaN. Row (i 2, h 1): a single finite part.
  for (index_t s = 0; s < 3; ++s) {
    p.lse(s, 0, 0, 1) = -kInf;
    if (s != 1) p.lse(s, 0, 1, 2) = -kInf;
    for (index_t d = 0; d < 17; ++d) {
      p.out(s, 0, 1, 0, d) = kNaN;
      if (s != 1) p.out(s, 0, 2, 1, d) = kNaN;
    }
  }
  const auto [out, lse] = merge<TypeParam>(p);
  for (index_t d = 0; d < 17; ++d) {
    EXPECT_TRUE(test::is_positive_zero(out(0, 1, 0, d))) << d;
    EXPECT_EQ(out(0, 2, 1, d), p.out(1, 0, 2, 1, d)) << d;
  }
  EXPECT_EQ(lse(0, 0, 1), -kInf);
  EXPECT_EQ(lse(0, 1, 2), p.lse(1, 0, 1, 2));
  EXPECT_EQ(test::count_non_finite(out.cview()), 0);
}

TYPED_TEST(MergeStates, NaNPropagates) {
  partial_states p({4, 1, 3, 2, 9}, 70);
  p.lse(2, 0, 1, 0) = kNaN;            // row (i 0, h 1): every element and the lse NaN
  p.out(3, 0, 1, 0, 4) = kNaN;         // row (i 1, h 0): element 4 NaN
  p.lse(0, 0, 0, 2) = -200.0f;         // row (i 2, h 0): part 0's weight underflows to 0 ...
  p.lse(1, 0, 0, 2) = 5.0f;
  p.out(0, 0, 2, 0, 7) = kNaN;         // ... and 0 x NaN is still NaN
  p.lse(1, 0, 1, 2) = kInf;            // row (i 2, h 1): an lse of +inf gives NaN
  for (index_t s = 1; s < 4; ++s) p.lse(s, 0, 1, 1) = -kInf;  // row (i 1, h 1): NaN and -inf
  p.lse(0, 0, 1, 1) = kNaN;
  const auto [out, lse] = merge<TypeParam>(p);
  for (index_t d = 0; d < 9; ++d) {
    EXPECT_TRUE(std::isnan(out(0, 0, 1, d))) << d;
    EXPECT_EQ(std::isnan(out(0, 1, 0, d)), d == 4) << d;
    EXPECT_EQ(std::isnan(out(0, 2, 0, d)), d == 7) << d;
    EXPECT_TRUE(std::isnan(out(0, 2, 1, d))) << d;
    EXPECT_TRUE(std::isnan(out(0, 1, 1, d))) << d;
  }
  EXPECT_TRUE(std::isnan(lse(0, 1, 0)));
  EXPECT_TRUE(std::isfinite(lse(0, 0, 1)));
  EXPECT_TRUE(std::isfinite(lse(0, 0, 2)));
  EXPECT_TRUE(std::isnan(lse(0, 1, 2)));
  EXPECT_TRUE(std::isnan(lse(0, 1, 1)));
  EXPECT_EQ(test::count_non_finite(out.cview()), 9 + 1 + 1 + 9 + 9);
}

TYPED_TEST(MergeStates, SixteenBitOutputsAreTheFp32ResultRounded) {
  for (index_t Dv : {1, 3, 17, 128, 129}) {
    SCOPED_TRACE("Dv " + std::to_string(Dv));
    partial_states p({3, 2, 2, 2, Dv}, 80 + std::uint64_t(Dv));
    p.lse(1, 1, 1, 0) = -kInf;
    const auto [out32, lse32] = merge<TypeParam, float>(p);
    const auto [want, want_lse] = merge_all<double>(p);
    const auto [out_bf16, lse_bf16] = merge<TypeParam, bf16>(p);
    const auto [out_fp16, lse_fp16] = merge<TypeParam, fp16>(p);
    EXPECT_TRUE(same_bits(out_bf16, test::convert<bf16>(out32.cview())));
    EXPECT_TRUE(same_bits(out_fp16, test::convert<fp16>(out32.cview())));
    EXPECT_TRUE(same_bits(lse_bf16, lse32));
    EXPECT_TRUE(same_bits(lse_fp16, lse32));
    EXPECT_TRUE(test::within_rms_tolerance(out_bf16.cview(), want.cview()));
    EXPECT_TRUE(test::within_rms_tolerance(out_fp16.cview(), want.cview(), 1e-3));
  }
}

TYPED_TEST(MergeStates, StridedViewsEqualContiguousOnes) {
  // BHSD-like storage: partial_out stored [n, B, Hq, Sq, Dv] with 3 padding floats per row,
  // partial_lse stored [B, Hq, Sq, n] (the parts innermost), out [B, Hq, Sq, Dv] padded and lse
  // [Sq, Hq, B]. Padding must stay untouched.
  const merge_dims d{3, 2, 5, 3, 19};
  const partial_states p(d, 90);
  tensor<float, 5> po(p.out.extents(), {0, 1, 3, 2, 4}, 3, kNaN);
  tensor<float, 4> pl(p.lse.extents(), {1, 2, 3, 0});
  test::for_each_index(po.extents(), [&](const auto& x) { test::at(po.view(), x) = test::at(p.out.cview(), x); });
  test::for_each_index(pl.extents(), [&](const auto& x) { test::at(pl.view(), x) = test::at(p.lse.cview(), x); });
  tensor<float, 4> out({d.B, d.Sq, d.Hq, d.Dv}, {0, 2, 1, 3}, 5, kSentinel);
  tensor<float, 3> lse({d.B, d.Hq, d.Sq}, {2, 1, 0}, 0, kSentinel);
  merge_attention_states<TypeParam>(po.cview(), pl.cview(), out.view(), lse.view());
  const auto [want_out, want_lse] = merge<TypeParam>(p);
  EXPECT_TRUE(same_bits(test::convert<float>(out.cview()), want_out));
  EXPECT_TRUE(same_bits(test::convert<float>(lse.cview()), want_lse));
  index_t sentinels = 0;
  for (float x : out.storage()) sentinels += x == kSentinel;
  EXPECT_EQ(sentinels, d.B * d.Hq * d.Sq * 5);
}

TYPED_TEST(MergeStates, LseIsOptional) {
  const partial_states p({3, 2, 3, 2, 20}, 100);
  tensor<float, 4> out({2, 3, 2, 20}, kSentinel);
  merge_attention_states<TypeParam>(p.out.cview(), p.lse.cview(), out.view());
  EXPECT_TRUE(same_bits(out, merge<TypeParam>(p).first));
}

TYPED_TEST(MergeStates, MergeRowIsTheRowKernel) {
  // detail::merge_row as the decode kernel calls it: parts m * ldo floats apart, lse m apart.
  const index_t n = 4, m = 3, ldo = 24, Dv = 21;
  std::vector<float> parts(std::size_t(n * m * ldo), kNaN), lses(std::size_t(n * m));
  test::fill_uniform(tensor_view<float, 1>(lses.data(), {n * m}), 110, -3.0, 3.0);
  for (index_t s = 0; s < n; ++s)
    for (index_t c = 0; c < m; ++c)
      test::fill_uniform(tensor_view<float, 1>(parts.data() + (s * m + c) * ldo, {Dv}), 111 + std::uint64_t(s * m + c));
  partial_states p({n, 1, 1, 1, Dv}, 0);
  for (index_t c = 0; c < m; ++c) {
    for (index_t s = 0; s < n; ++s) {
      p.lse(s, 0, 0, 0) = lses[std::size_t(s * m + c)];
      for (index_t d = 0; d < Dv; ++d) p.out(s, 0, 0, 0, d) = parts[std::size_t((s * m + c) * ldo + d)];
    }
    std::vector<float> out(Dv + 1, kSentinel);
    float lse = kSentinel;
    detail::merge_row<TypeParam, float>(n, parts.data() + c * ldo, m * ldo, lses.data() + c, m, Dv,
                                        out.data(), &lse);
    const auto [want_out, want_lse] = merge<TypeParam>(p);
    for (index_t d = 0; d < Dv; ++d) EXPECT_EQ(out[std::size_t(d)], want_out(0, 0, 0, d)) << d;
    EXPECT_EQ(out[std::size_t(Dv)], kSentinel);
    EXPECT_EQ(lse, want_lse(0, 0, 0));
    detail::merge_row<TypeParam, float>(n, parts.data() + c * ldo, m * ldo, lses.data() + c, m, Dv,
                                        out.data(), nullptr);  // no lse wanted
  }
}

// ---- split attention: attention over three key ranges, merged, is attention over all keys ------

TYPED_TEST(MergeStates, MergedKeyRangesEqualAttentionOverAllKeys) {
  const index_t B = 2, Sq = 5, Sk = 41, Hq = 4, Hkv = 2, D = 17, Dv = 13;
  const auto q = test::random_tensor<float, 4>({B, Sq, Hq, D}, 120, -2.0, 2.0);
  const auto k = test::random_tensor<float, 4>({B, Sk, Hkv, D}, 121, -2.0, 2.0);
  const auto v = test::random_tensor<float, 4>({B, Sk, Hkv, Dv}, 122);
  attention_options opt;
  opt.softcap = 3.0f;
  tensor<double, 4> want({B, Sq, Hq, Dv});
  tensor<double, 3> want_lse({B, Hq, Sq});
  const auto qd = test::convert<double>(q.cview()), kd = test::convert<double>(k.cview()),
             vd = test::convert<double>(v.cview());
  reference::attention<double>(qd.cview(), kd.cview(), vd.cview(), want.view(), opt, want_lse.view());
  // Key ranges [0, a), [a, b), [b, Sk), one of them empty in the second split.
  for (auto [a, c] : {std::pair<index_t, index_t>{13, 30}, {0, 22}, {7, 7}}) {
    SCOPED_TRACE("split at " + std::to_string(a) + ", " + std::to_string(c));
    const index_t cuts[4] = {0, a, c, Sk};
    tensor<float, 5> parts({3, B, Sq, Hq, Dv});
    tensor<float, 4> part_lse({3, B, Hq, Sq});
    for (index_t s = 0; s < 3; ++s) {
      const index_t len = cuts[s + 1] - cuts[s];
      auto range = [&](const tensor<float, 4>& x) {
        return tensor_view<const float, 4>(x.storage().data() + cuts[s] * x.cview().stride(1),
                                           {B, len, Hkv, x.extents()[3]}, x.cview().strides());
      };
      tensor_view<float, 4> out(&parts(s, 0, 0, 0, 0), {B, Sq, Hq, Dv});
      tensor_view<float, 3> lse(&part_lse(s, 0, 0, 0), {B, Hq, Sq});
      reference::attention<float>(q.cview(), range(k), range(v), out, opt, lse);
    }
    tensor<float, 4> out({B, Sq, Hq, Dv});
    tensor<float, 3> lse({B, Hq, Sq});
    merge_attention_states<TypeParam>(parts.cview(), part_lse.cview(), out.view(), lse.view());
    EXPECT_LE(test::max_abs_error(out.cview(), want.cview()), 2e-6);
    EXPECT_LE(test::max_abs_error(lse.cview(), want_lse.cview()), 4e-6);
  }
}

// ---- bad input ----------------------------------------------------------------------------------

using namespace test::argument_cases;

/// A valid call: n 3, B 2, Sq 3, Hq 2, Dv 4; lse [2, 2, 3].
template <class T>
struct merge_args {
  static constexpr const char* kWhere = "merge_attention_states";
  buffer pob{kInput}, plb{kInput}, lb{test::argument_cases::kSentinel};
  basic_buffer<T> ob{test::argument_cases::kSentinel};
  tensor_view<const float, 5> partial_out = in<5>(pob, {3, 2, 3, 2, 4});
  tensor_view<const float, 4> partial_lse = in<4>(plb, {3, 2, 2, 3});
  tensor_view<T, 4> out = io<4>(ob, {2, 3, 2, 4});
  tensor_view<float, 3> lse = io<3>(lb, {2, 2, 3});

  void call() { merge_attention_states<default_arch, T>(partial_out, partial_lse, out, lse); }
  bool outputs_untouched() const { return ob.untouched() && lb.untouched(); }
};

template <class T>
std::vector<bad_case<merge_args<T>>> merge_cases() {
  using A = merge_args<T>;
  return {
      // partial_out.
      {"no parts", "partial_out",
       [](A& a) {
         a.partial_out = in<5>(a.pob, {0, 2, 3, 2, 4});
         a.partial_lse = in<4>(a.plb, {0, 2, 2, 3});
       }},
      {"head dim 0", "partial_out",
       [](A& a) {
         a.partial_out = in<5>(a.pob, {3, 2, 3, 2, 0});
         a.out = io<4>(a.ob, {2, 3, 2, 0}, {6, 2, 1, 1});
       }},
      {"partial_out innermost stride 2", "partial_out",
       [](A& a) { a.partial_out = in<5>(a.pob, {3, 2, 3, 2, 4}, {96, 48, 16, 8, 2}); }},
      {"partial_out null", "partial_out",
       [](A& a) { a.partial_out = tensor_view<const float, 5>(nullptr, {3, 2, 3, 2, 4}); }},
      // partial_lse.
      {"partial_lse 2 parts for 3", "partial_lse",
       [](A& a) { a.partial_lse = in<4>(a.plb, {2, 2, 2, 3}); }},
      {"partial_lse batch 1", "partial_lse",
       [](A& a) { a.partial_lse = in<4>(a.plb, {3, 1, 2, 3}); }},
      {"partial_lse heads 3", "partial_lse",
       [](A& a) { a.partial_lse = in<4>(a.plb, {3, 2, 3, 3}); }},
      {"partial_lse Sq 2", "partial_lse",
       [](A& a) { a.partial_lse = in<4>(a.plb, {3, 2, 2, 2}); }},
      {"partial_lse laid out [n, B, Sq, Hq]", "partial_lse",
       [](A& a) { a.partial_lse = in<4>(a.plb, {3, 2, 3, 2}); }},
      {"partial_lse null", "partial_lse",
       [](A& a) { a.partial_lse = tensor_view<const float, 4>(nullptr, {3, 2, 2, 3}); }},
      // out.
      {"out batch 1", "out", [](A& a) { a.out = io<4>(a.ob, {1, 3, 2, 4}); }},
      {"out Sq 4", "out", [](A& a) { a.out = io<4>(a.ob, {2, 4, 2, 4}); }},
      {"out heads 1", "out", [](A& a) { a.out = io<4>(a.ob, {2, 3, 1, 4}); }},
      {"out Dv 5", "out", [](A& a) { a.out = io<4>(a.ob, {2, 3, 2, 5}); }},
      {"out innermost stride 2", "out",
       [](A& a) { a.out = io<4>(a.ob, {2, 3, 2, 4}, {48, 16, 8, 2}); }},
      {"out innermost stride 0", "out",
       [](A& a) { a.out = io<4>(a.ob, {2, 3, 2, 4}, {24, 8, 4, 0}); }},
      {"out batch stride 0", "out", [](A& a) { a.out = io<4>(a.ob, {2, 3, 2, 4}, {0, 8, 4, 1}); }},
      {"out query stride 0", "out", [](A& a) { a.out = io<4>(a.ob, {2, 3, 2, 4}, {24, 0, 4, 1}); }},
      {"out head stride 0", "out", [](A& a) { a.out = io<4>(a.ob, {2, 3, 2, 4}, {24, 8, 0, 1}); }},
      {"out null", "out", [](A& a) { a.out = tensor_view<T, 4>(nullptr, {2, 3, 2, 4}); }},
      // lse.
      {"lse batch 1", "lse", [](A& a) { a.lse = io<3>(a.lb, {1, 2, 3}); }},
      {"lse heads 1", "lse", [](A& a) { a.lse = io<3>(a.lb, {2, 1, 3}); }},
      {"lse Sq 4", "lse", [](A& a) { a.lse = io<3>(a.lb, {2, 2, 4}); }},
      {"lse laid out [B, Sq, Hq]", "lse", [](A& a) { a.lse = io<3>(a.lb, {2, 3, 2}); }},
      {"lse batch stride 0", "lse", [](A& a) { a.lse = io<3>(a.lb, {2, 2, 3}, {0, 3, 1}); }},
      {"lse query stride 0", "lse", [](A& a) { a.lse = io<3>(a.lb, {2, 2, 3}, {6, 3, 0}); }},
      {"lse null", "lse", [](A& a) { a.lse = tensor_view<float, 3>(nullptr, {2, 2, 3}); }},
  };
}

template <class T>
class MergeStatesArguments : public ::testing::Test {};
using element_types = ::testing::Types<float, bf16, fp16>;
TYPED_TEST_SUITE(MergeStatesArguments, element_types);

TYPED_TEST(MergeStatesArguments, RejectsEachInvalidArgument) {
  run_table(merge_cases<TypeParam>());
}

TYPED_TEST(MergeStatesArguments, AcceptsValidEdgeCalls) {
  using A = merge_args<TypeParam>;
  {
    A a;  // batch 0 with null data: nothing to write
    a.partial_out = tensor_view<const float, 5>(nullptr, {3, 0, 3, 2, 4});
    a.partial_lse = tensor_view<const float, 4>(nullptr, {3, 0, 2, 3});
    a.out = tensor_view<TypeParam, 4>(nullptr, {0, 3, 2, 4});
    a.lse = tensor_view<float, 3>(nullptr, {0, 2, 3});
    EXPECT_NO_THROW(a.call());
  }
  {
    A a;  // parts broadcast (stride 0 over n), lse absent
    a.partial_out = in<5>(a.pob, {3, 2, 3, 2, 4}, {0, 24, 8, 4, 1});
    a.partial_lse = in<4>(a.plb, {3, 2, 2, 3}, {0, 6, 3, 1});
    a.lse = {};
    EXPECT_NO_THROW(a.call());
    for (index_t x = 0; x < a.out.size(); ++x) EXPECT_EQ(float(a.ob.data[std::size_t(x)]), kInput);
  }
  {
    A a;  // lse with innermost stride 2
    a.lse = io<3>(a.lb, {2, 2, 3}, {12, 6, 2});
    EXPECT_NO_THROW(a.call());
    EXPECT_FLOAT_EQ(a.lb.data[0], kInput + std::log(3.0f));
  }
}

}  // namespace
}  // namespace attnkit
