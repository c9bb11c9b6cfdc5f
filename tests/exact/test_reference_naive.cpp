// SPDX-License-Identifier: Apache-2.0
// The naive float forward, DESIGN 4's error yardstick, against the double reference, and the rule built on it.
#include <attnkit/exact/arguments.hpp>
#include <attnkit/exact/reference.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "exact/reference_support.hpp"
#include "support/random.hpp"
#include "support/tensor.hpp"
#include "support/tolerance.hpp"

namespace attnkit {
namespace {

using test::dims;

/// The double oracle and the naive float implementation of the same formula on the same inputs.
struct float_vs_double {
  test::dense_problem<float> naive;
  test::dense_problem<double> ref;

  float_vs_double(const dims& n, std::uint64_t seed, const attention_options& opt) : naive(n), ref(n) {
    naive.randomize(seed);
    ref.q = test::convert<double>(naive.q.cview());
    ref.k = test::convert<double>(naive.k.cview());
    ref.v = test::convert<double>(naive.v.cview());
    ref.run(opt);
    const auto p = attnkit::detail::check_attention("naive", naive.q.cview(), naive.k.cview(),
                                                    naive.v.cview(), naive.out.view(), opt,
                                                    naive.lse.view());
    reference::detail::forward<float>(p, opt, naive.q.cview(), naive.k.cview(), naive.v.cview(),
                                      naive.out.view(), naive.lse.view());
  }

  double out_error() const { return test::max_abs_error(naive.out.cview(), ref.out.cview()); }
  double lse_error() const { return test::max_abs_error(naive.lse.cview(), ref.lse.cview()); }
};

/// The tolerance rule accepts the naive result itself and rejects it once one element moves by
/// more than 2x the naive error + 1e-6, so a kernel check built on it can fail.
void expect_rule_is_sharp(const float_vs_double& r) {
  const auto naive = r.naive.out.cview();
  const auto ref = r.ref.out.cview();
  EXPECT_TRUE(test::within_fp32_tolerance(naive, naive, ref));
  auto perturbed = test::convert<float>(naive);
  const double bound = 2.0 * r.out_error() + 1e-6;
  perturbed.storage()[perturbed.storage().size() / 2] += float(2.0 * bound + 1e-5);
  EXPECT_FALSE(test::within_fp32_tolerance(perturbed.cview(), naive, ref));
  // A factor of 3 (gradients) and a larger absolute term loosen the same rule.
  EXPECT_TRUE(test::within_fp32_tolerance(naive, naive, ref, 3.0, 1e-6));
  EXPECT_TRUE(test::within_fp32_tolerance(perturbed.cview(), naive, ref, 2.0, 1.0));
}

using size_param = std::tuple<index_t, std::pair<index_t, index_t>>;

class NaiveFloat : public ::testing::TestWithParam<size_param> {};

TEST_P(NaiveFloat, IsCloseToTheDoubleReferenceAndCalibratesTheRule) {
  const auto [D, seq] = GetParam();
  const auto [Sq, Sk] = seq;
  const dims n{1, Sq, Sk, 2, 1, D, D};
  const float_vs_double r(n, 1000 + D * 7 + Sq, {});
  // |out| <= 1 with inputs in [-1, 1): a float computation stays within a few ulps of 1.
  EXPECT_LT(r.out_error(), 1e-5);
  EXPECT_LT(r.lse_error(), 1e-5);
  if (Sk == 1) {
    // one key: weight exactly 1 in float too, so out = v in both
    EXPECT_EQ(r.out_error(), 0.0);
  }
  if (Sq > 1 && Sk > 1) {
    // The naive path really computes in float: it differs from the double result rounded to
    // float, not only by that final rounding (else the rule would be about rounding alone).
    const auto rounded = test::convert<float>(r.ref.out.cview());
    EXPECT_GT(test::max_abs_error(r.naive.out.cview(), rounded.cview()), 0.0);
  }
  expect_rule_is_sharp(r);
}

std::string size_name(const ::testing::TestParamInfo<size_param>& info) {
  const index_t D = std::get<0>(info.param);
  const auto seq = std::get<1>(info.param);
  return "D" + std::to_string(D) + "_Sq" + std::to_string(seq.first) + "_Sk" +
         std::to_string(seq.second);
}

INSTANTIATE_TEST_SUITE_P(
    OddSizes, NaiveFloat,
    ::testing::Combine(::testing::Values(index_t(1), index_t(3), index_t(17), index_t(59)),
                       ::testing::Values(std::pair<index_t, index_t>{1, 1},
                                         std::pair<index_t, index_t>{1, 239},
                                         std::pair<index_t, index_t>{113, 203},
                                         std::pair<index_t, index_t>{239, 1})),
    size_name);

TEST(NaiveFloatMasks, IsCloseToTheDoubleReferenceUnderEveryOption) {
  // GQA (Hq 4, Hkv 2), D 17, Dv 5, every mask and modifier, including empty rows (causal
  // bottom_right with Sq > Sk): -inf lse rows agree exactly, the rest within float error.
  struct variant {
    const char* name;
    index_t Sq, Sk;
    test::owned_options o;
  };
  std::vector<variant> variants;
  auto add = [&](const char* name, index_t Sq, index_t Sk, auto&& set) {
    variant v{name, Sq, Sk, {}};
    set(v.o);
    variants.push_back(std::move(v));
  };
  add("plain", 37, 53, [](auto&) {});
  add("causal bottom_right", 37, 53, [](auto& o) { o.causal = true; });
  add("causal bottom_right, empty rows", 53, 37, [](auto& o) { o.causal = true; });
  add("causal top_left", 53, 37, [](auto& o) {
    o.causal = true;
    o.align = alignment::top_left;
  });
  add("window (5, 3)", 37, 53, [](auto& o) {
    o.window_left = 5;
    o.window_right = 3;
  });
  add("softcap", 37, 53, [](auto& o) {
    o.scale = 3.0f;
    o.softcap = 2.0f;
  });
  add("alibi", 37, 53, [](auto& o) { o.alibi_slopes = {0.5f, 0.25f, 0.125f, 0.0625f}; });
  add("bias", 37, 53, [](auto& o) {
    o.bias.emplace(std::array<index_t, 4>{2, 4, 37, 53});
    test::fill_uniform(o.bias->view(), 5, -2.0, 2.0);
  });
  add("sinks", 53, 37, [](auto& o) {
    o.causal = true;
    o.sinks = {0.5f, -1.0f, 2.0f, 0.0f};
  });
  for (const auto& v : variants) {
    SCOPED_TRACE(v.name);
    const dims n{2, v.Sq, v.Sk, 4, 2, 17, 5};
    const float_vs_double r(n, 77, v.o.options());
    EXPECT_LT(r.out_error(), 1e-5);
    EXPECT_LT(r.lse_error(), 1e-5);
    EXPECT_EQ(test::count_non_finite(r.naive.out.cview()), 0);
    expect_rule_is_sharp(r);
  }
}

TEST(NaiveFloatMasks, RuleTreatsNaNMismatchAsInfiniteError) {
  // A kernel that turns a NaN row into numbers (or a number into NaN) must fail the rule.
  const float_vs_double r({1, 4, 6, 1, 1, 3, 2}, 3, {});
  auto broken = test::convert<float>(r.naive.out.cview());
  broken(0, 1, 0, 0) = std::numeric_limits<float>::quiet_NaN();
  EXPECT_FALSE(test::within_fp32_tolerance(broken.cview(), r.naive.out.cview(), r.ref.out.cview()));
}

}  // namespace
}  // namespace attnkit
