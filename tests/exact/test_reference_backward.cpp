// SPDX-License-Identifier: Apache-2.0
// reference::attention_backward against central finite differences of the double forward, per option.
#include <attnkit/exact/reference.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <ostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "exact/reference_support.hpp"
#include "support/random.hpp"
#include "support/tensor.hpp"
#include "support/tolerance.hpp"

namespace attnkit {
namespace {

using test::dims;
using test::owned_options;
using test::tensor;

/// Which terms the loss L = sum(dout * out) + sum(dlse * lse) has.
enum class loss_terms { out_and_lse, out_only, lse_only };

/// One finite-difference configuration: sizes, options and loss.
struct grad_case {
  std::string name;
  dims n;
  owned_options o;
  loss_terms terms = loss_terms::out_and_lse;
};

void PrintTo(const grad_case& c, std::ostream* os) { *os << c.name; }

/// The inputs of a backward check, all double except dlse (the backward's lse type is float).
struct grad_problem {
  dims n;
  tensor<double, 4> q, k, v, dout;
  tensor<float, 3> dlse;
  bool with_dlse;

  grad_problem(const dims& d, loss_terms terms, std::uint64_t seed)
      : n(d),
        q(test::random_tensor<double, 4>({d.B, d.Sq, d.Hq, d.D}, seed)),
        k(test::random_tensor<double, 4>({d.B, d.Sk, d.Hkv, d.D}, seed + 1)),
        v(test::random_tensor<double, 4>({d.B, d.Sk, d.Hkv, d.Dv}, seed + 2)),
        dout(test::random_tensor<double, 4>({d.B, d.Sq, d.Hq, d.Dv}, seed + 3)),
        dlse(test::random_tensor<float, 3>({d.B, d.Hq, d.Sq}, seed + 4)),
        with_dlse(terms != loss_terms::out_only) {
    if (terms == loss_terms::lse_only)
      for (double& x : dout.storage()) x = 0.0;
  }

  /// L = sum(dout * out) + sum(dlse * lse), lse terms over finite lse only (an empty row's lse is
  /// -inf or the sink, a constant either way).
  double loss(const attention_options& opt) const {
    tensor<double, 4> out({n.B, n.Sq, n.Hq, n.Dv});
    tensor<double, 3> lse({n.B, n.Hq, n.Sq});
    reference::attention<double>(q.cview(), k.cview(), v.cview(), out.view(), opt, lse.view());
    double L = 0.0;
    for (std::size_t e = 0; e < out.storage().size(); ++e) L += dout.storage()[e] * out.storage()[e];
    if (with_dlse)
      for (std::size_t e = 0; e < lse.storage().size(); ++e)
        if (std::isfinite(lse.storage()[e])) L += double(dlse.storage()[e]) * lse.storage()[e];
    return L;
  }

  struct grads {
    tensor<double, 4> dq, dk, dv;
  };

  grads backward(const attention_options& opt) const {
    tensor<double, 4> out({n.B, n.Sq, n.Hq, n.Dv});
    tensor<float, 3> lse({n.B, n.Hq, n.Sq});
    reference::attention<double>(q.cview(), k.cview(), v.cview(), out.view(), opt, lse.view());
    grads g{tensor<double, 4>(q.extents(), 99.0), tensor<double, 4>(k.extents(), 99.0),
            tensor<double, 4>(v.extents(), 99.0)};
    reference::attention_backward<double>(
        q.cview(), k.cview(), v.cview(), out.cview(), dout.cview(), lse.cview(), g.dq.view(),
        g.dk.view(), g.dv.view(), opt,
        with_dlse ? tensor_view<const float, 3>(dlse.cview()) : tensor_view<const float, 3>{});
    return g;
  }
};

/// Central differences of the loss in every element of x, against the analytic gradient g:
/// |fd - g| <= 1e-6 |g| + 1e-8 (the differences carry about 1e-9 of rounding and truncation).
/// The gradient must be large enough to mean something, or exactly 0 where `zero` says so.
void expect_matches_finite_differences(grad_problem& p, tensor<double, 4>& x,
                                       const tensor<double, 4>& g, const attention_options& opt,
                                       const char* name, bool zero = false) {
  constexpr double h = 1e-6;
  double worst = 0.0;
  for (std::size_t e = 0; e < x.storage().size(); ++e) {
    const double x0 = x.storage()[e];
    x.storage()[e] = x0 + h;
    const double up = p.loss(opt);
    x.storage()[e] = x0 - h;
    const double down = p.loss(opt);
    x.storage()[e] = x0;
    const double fd = (up - down) / (2 * h), an = g.storage()[e];
    EXPECT_NEAR(an, fd, 1e-6 * std::fabs(an) + 1e-8) << name << " element " << e;
    worst = std::max(worst, std::fabs(an));
  }
  if (zero) {
    EXPECT_EQ(worst, 0.0) << name;
  } else {
    EXPECT_GT(worst, 1e-3) << name << ": the gradient is too small to test anything";
  }
}

class ReferenceBackwardFiniteDifferences : public ::testing::TestWithParam<grad_case> {};

TEST_P(ReferenceBackwardFiniteDifferences, MatchesTheGradientOfTheForward) {
  const grad_case& c = GetParam();
  const attention_options opt = c.o.options();
  grad_problem p(c.n, c.terms, 4242);
  const auto g = p.backward(opt);
  expect_matches_finite_differences(p, p.q, g.dq, opt, "dq");
  expect_matches_finite_differences(p, p.k, g.dk, opt, "dk");
  // a loss of lse alone does not depend on v
  expect_matches_finite_differences(p, p.v, g.dv, opt, "dv", c.terms == loss_terms::lse_only);
}

std::vector<grad_case> grad_cases() {
  const dims base{2, 3, 5, 4, 2, 3, 2};
  const dims tall{2, 5, 3, 4, 2, 3, 2};  // Sq > Sk
  std::vector<grad_case> cases;
  auto add = [&](std::string name, dims n, auto&& set, loss_terms terms = loss_terms::out_and_lse) {
    grad_case c{std::move(name), n, {}, terms};
    set(c.o);
    cases.push_back(std::move(c));
  };
  auto none = [](owned_options&) {};
  auto all = [](owned_options& o) {
    o.scale = 0.7f;
    o.causal = true;
    o.window_left = 2;
    o.softcap = 1.5f;
    o.alibi_slopes = {0.5f, 0.25f, 0.125f, 0.0625f};
    o.sinks = {0.3f, -0.2f, 1.0f, 0.0f};
    o.bias.emplace(std::array<index_t, 4>{2, 4, 3, 5});
    test::fill_uniform(o.bias->view(), 17, -1.0, 1.0);
  };
  add("none", base, none);
  add("none_out_only", base, none, loss_terms::out_only);
  add("none_lse_only", base, none, loss_terms::lse_only);
  add("causal_bottom_right", base, [](owned_options& o) { o.causal = true; });
  add("causal_top_left", base, [](owned_options& o) {
    o.causal = true;
    o.align = alignment::top_left;
  });
  add("causal_bottom_right_empty_rows", tall, [](owned_options& o) { o.causal = true; });
  add("causal_top_left_tall", tall, [](owned_options& o) {
    o.causal = true;
    o.align = alignment::top_left;
  });
  add("window_1_1", base, [](owned_options& o) { o.window_left = o.window_right = 1; });
  add("window_2_0_top_left", base, [](owned_options& o) {
    o.window_left = 2;
    o.window_right = 0;
    o.align = alignment::top_left;
  });
  add("window_0_0_top_left_empty_rows", tall, [](owned_options& o) {
    o.window_left = o.window_right = 0;
    o.align = alignment::top_left;
  });
  add("softcap", base, [](owned_options& o) {
    o.scale = 2.0f;
    o.softcap = 1.5f;
  });
  add("alibi", base, [](owned_options& o) { o.alibi_slopes = {0.5f, 0.25f, 1.0f, 2.0f}; });
  add("bias", base, [](owned_options& o) {
    o.bias.emplace(std::array<index_t, 4>{2, 4, 3, 5});
    test::fill_uniform(o.bias->view(), 18, -2.0, 2.0);
  });
  add("bias_broadcast", base, [](owned_options& o) {
    o.bias.emplace(std::array<index_t, 4>{1, 4, 1, 5});
    test::fill_uniform(o.bias->view(), 19, -2.0, 2.0);
  });
  add("sinks", base, [](owned_options& o) { o.sinks = {0.5f, -1.0f, 2.0f, 0.0f}; });
  add("sinks_empty_rows", tall, [](owned_options& o) {
    o.causal = true;
    o.sinks = {0.5f, -1.0f, 2.0f, 0.0f};
  });
  add("mqa", {2, 3, 5, 4, 1, 3, 2}, none);
  add("mha", {2, 3, 5, 4, 4, 3, 2}, none);
  add("dv_greater_than_d", {1, 3, 4, 2, 1, 2, 5}, none);
  add("all", base, all);
  add("all_out_only", base, all, loss_terms::out_only);
  add("all_lse_only", base, all, loss_terms::lse_only);
  add("all_top_left_tall_mqa", {2, 5, 3, 4, 1, 3, 2}, [](owned_options& o) {
    o.scale = 1.3f;
    o.causal = true;
    o.align = alignment::top_left;
    o.window_left = 1;
    o.softcap = 2.0f;
    o.alibi_slopes = {0.5f, 0.25f, 0.125f, 0.0625f};
    o.sinks = {0.3f, -0.2f, 1.0f, 0.0f};
    o.bias.emplace(std::array<index_t, 4>{2, 1, 5, 3});
    test::fill_uniform(o.bias->view(), 20, -1.0, 1.0);
  });
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Options, ReferenceBackwardFiniteDifferences,
                         ::testing::ValuesIn(grad_cases()),
                         [](const ::testing::TestParamInfo<grad_case>& info) { return info.param.name; });

TEST(ReferenceBackward, EmptyRowsAndUnseenKeysGetExactlyZeroGradients) {
  // causal bottom_right, Sq = 5, Sk = 3 (o = -2): rows 0 and 1 see no key, so their dq is 0
  // even though dout and dlse are not. causal top_left, Sq = 2, Sk = 5: keys 2..4 are seen by
  // no row, so their dk and dv are 0.
  owned_options o;
  o.causal = true;
  grad_problem tall({2, 5, 3, 4, 2, 3, 2}, loss_terms::out_and_lse, 7);
  const auto g = tall.backward(o.options());
  for (index_t b = 0; b < 2; ++b)
    for (index_t i = 0; i < 5; ++i)
      for (index_t h = 0; h < 4; ++h)
        for (index_t d = 0; d < 3; ++d) {
          if (i < 2) {
            EXPECT_TRUE(test::is_positive_zero(g.dq(b, i, h, d)));
          } else {
            EXPECT_NE(g.dq(b, i, h, d), 0.0);
          }
        }
  o.align = alignment::top_left;
  grad_problem wide({2, 2, 5, 4, 2, 3, 2}, loss_terms::out_and_lse, 8);
  const auto w = wide.backward(o.options());
  for (index_t b = 0; b < 2; ++b)
    for (index_t j = 0; j < 5; ++j)
      for (index_t h = 0; h < 2; ++h) {
        for (index_t d = 0; d < 3; ++d) EXPECT_EQ(w.dk(b, j, h, d) == 0.0, j >= 2) << j;
        for (index_t d = 0; d < 2; ++d) EXPECT_EQ(w.dv(b, j, h, d) == 0.0, j >= 2) << j;
      }
}

TEST(ReferenceBackward, ZeroKeysGiveZeroQueryGradients) {
  // Sk = 0 with B = 2: dq = 0 everywhere; dk and dv are empty [2, 0, 2, D] (contiguous, so
  // stride(0) = 0 on a size-0 output, which must be accepted).
  grad_problem p({2, 3, 0, 4, 2, 3, 2}, loss_terms::out_and_lse, 9);
  grad_problem::grads g{tensor<double, 4>({1, 1, 1, 1}), {}, {}};
  ASSERT_NO_THROW(g = p.backward({}));
  for (const double x : g.dq.storage()) EXPECT_TRUE(test::is_positive_zero(x));
}

TEST(ReferenceBackward, AbsentDlseEqualsZeroDlse) {
  grad_problem with({2, 3, 5, 4, 2, 3, 2}, loss_terms::out_and_lse, 10);
  grad_problem without({2, 3, 5, 4, 2, 3, 2}, loss_terms::out_only, 10);
  for (float& x : with.dlse.storage()) x = 0.0f;
  owned_options o;
  o.causal = true;
  o.sinks = {0.1f, 0.2f, 0.3f, 0.4f};
  const auto a = with.backward(o.options()), b = without.backward(o.options());
  EXPECT_EQ(a.dq.storage(), b.dq.storage());
  EXPECT_EQ(a.dk.storage(), b.dk.storage());
  EXPECT_EQ(a.dv.storage(), b.dv.storage());
  // and dlse matters when given
  grad_problem nonzero({2, 3, 5, 4, 2, 3, 2}, loss_terms::out_and_lse, 10);
  EXPECT_NE(nonzero.backward(o.options()).dq.storage(), b.dq.storage());
}

TEST(ReferenceBackward, FloatGradientsMatchDouble) {
  // T = float reads float inputs and writes float gradients from double accumulation.
  const dims n{2, 7, 9, 4, 2, 5, 3};
  grad_problem p(n, loss_terms::out_and_lse, 11);
  for (auto* t : {&p.q, &p.k, &p.v, &p.dout})
    for (double& x : t->storage()) x = double(float(x));
  owned_options o;
  o.causal = true;
  o.softcap = 2.0f;
  const auto want = p.backward(o.options());
  auto q = test::convert<float>(p.q.cview()), k = test::convert<float>(p.k.cview()),
       v = test::convert<float>(p.v.cview()), dout = test::convert<float>(p.dout.cview());
  tensor<float, 4> out({n.B, n.Sq, n.Hq, n.Dv}), dq(q.extents()), dk(k.extents()), dv(v.extents());
  tensor<float, 3> lse({n.B, n.Hq, n.Sq});
  reference::attention<float>(q.cview(), k.cview(), v.cview(), out.view(), o.options(), lse.view());
  reference::attention_backward<float>(q.cview(), k.cview(), v.cview(), out.cview(), dout.cview(),
                                       lse.cview(), dq.view(), dk.view(), dv.view(), o.options(),
                                       p.dlse.cview());
  EXPECT_LT(test::max_abs_error(dq.cview(), want.dq.cview()), 1e-6);
  EXPECT_LT(test::max_abs_error(dk.cview(), want.dk.cview()), 1e-6);
  EXPECT_LT(test::max_abs_error(dv.cview(), want.dv.cview()), 1e-6);
}

TEST(ReferenceBackward, VarlenEqualsPerSequenceBackward) {
  // Sequences (len_q, len_k) = (3, 5), (0, 2), (4, 0), (2, 3); rows 9 of q and 10, 11 of k lie
  // outside every sequence: their gradients stay untouched. Each sequence's gradients must equal
  // a dense batch-1 backward of that sequence alone, bit for bit.
  const std::vector<std::int32_t> cu_q = {0, 3, 3, 7, 9}, cu_k = {0, 5, 7, 7, 10};
  const index_t total_q = 10, total_k = 12, Hq = 4, Hkv = 2, D = 3, Dv = 2;
  const double sentinel = 12345.0;
  auto q = test::random_tensor<double, 3>({total_q, Hq, D}, 1);
  auto k = test::random_tensor<double, 3>({total_k, Hkv, D}, 2);
  auto v = test::random_tensor<double, 3>({total_k, Hkv, Dv}, 3);
  auto dout = test::random_tensor<double, 3>({total_q, Hq, Dv}, 4);
  auto dlse = test::random_tensor<float, 2>({Hq, total_q}, 5);
  tensor<double, 3> out({total_q, Hq, Dv}), dq({total_q, Hq, D}, sentinel),
      dk({total_k, Hkv, D}, sentinel), dv({total_k, Hkv, Dv}, sentinel);
  tensor<float, 2> lse({Hq, total_q});
  owned_options o;
  o.causal = true;
  o.softcap = 2.0f;
  o.alibi_slopes = {0.5f, 0.25f, 1.0f, 2.0f};
  o.sinks = {0.5f, -1.0f, 2.0f, 0.0f};
  o.bias.emplace(std::array<index_t, 4>{4, Hq, 4, 5});
  test::fill_uniform(o.bias->view(), 6);
  const auto opt = o.options();
  reference::attention_varlen<double>(q.cview(), k.cview(), v.cview(), out.view(), cu_q, cu_k, opt,
                                      lse.view());
  reference::attention_varlen_backward<double>(q.cview(), k.cview(), v.cview(), out.cview(),
                                               dout.cview(), lse.cview(), dq.view(), dk.view(),
                                               dv.view(), cu_q, cu_k, opt, dlse.cview());
  for (index_t b = 0; b < 4; ++b) {
    SCOPED_TRACE("sequence " + std::to_string(b));
    const index_t lq = cu_q[b + 1] - cu_q[b], lk = cu_k[b + 1] - cu_k[b];
    const auto sq = test::unpack(q, cu_q, b), sk = test::unpack(k, cu_k, b),
               sv = test::unpack(v, cu_k, b), sdout = test::unpack(dout, cu_q, b);
    tensor<float, 3> slse({1, Hq, lq}), sdlse({1, Hq, lq});
    const auto slse_view = test::nonzero_strides(slse.view());
    for (index_t h = 0; h < Hq; ++h)
      for (index_t i = 0; i < lq; ++i) sdlse(0, h, i) = dlse(h, cu_q[b] + i);
    tensor<double, 4> sout({1, lq, Hq, Dv}), sdq(sq.extents()), sdk(sk.extents()), sdv(sv.extents());
    attention_options sopt = opt;
    sopt.bias = test::bias_of_segment(opt.bias, Hq, b, lq, lk);
    reference::attention<double>(sq.cview(), sk.cview(), sv.cview(), sout.view(), sopt, slse_view);
    reference::attention_backward<double>(sq.cview(), sk.cview(), sv.cview(), sout.cview(),
                                          sdout.cview(), slse_view, sdq.view(), sdk.view(),
                                          sdv.view(), sopt, sdlse.cview());
    EXPECT_EQ(test::unpack(dq, cu_q, b).storage(), sdq.storage());
    EXPECT_EQ(test::unpack(dk, cu_k, b).storage(), sdk.storage());
    EXPECT_EQ(test::unpack(dv, cu_k, b).storage(), sdv.storage());
  }
  for (index_t h = 0; h < Hq; ++h)
    for (index_t d = 0; d < D; ++d) EXPECT_EQ(dq(9, h, d), sentinel);
  for (index_t j = 10; j < 12; ++j)
    for (index_t h = 0; h < Hkv; ++h) {
      for (index_t d = 0; d < D; ++d) EXPECT_EQ(dk(j, h, d), sentinel);
      for (index_t d = 0; d < Dv; ++d) EXPECT_EQ(dv(j, h, d), sentinel);
    }
  // The sequence with no queries gives zero key gradients.
  for (index_t j = 5; j < 7; ++j)
    for (index_t d = 0; d < D; ++d) EXPECT_TRUE(test::is_positive_zero(dk(j, 0, d)));
}

}  // namespace
}  // namespace attnkit
