// SPDX-License-Identifier: Apache-2.0
// Tests of flash_attention_backward on every compiled arch against reference::attention_backward:
// the head-dim and shape grid, every option, GQA, Dv != D, layouts, a loss of lse, empty rows and
// unseen keys, non-finite inputs, bf16 and fp16.
#include <gtest/gtest.h>

#include <attnkit/exact/flash_attention_backward.hpp>
#include <cmath>
#include <limits>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "exact/backward_support.hpp"

namespace attnkit::test {
namespace {

using shape = std::pair<index_t, index_t>;

// "D64_Sq113_Sk203" (a stream, not string +: g++ 12 -O3 warns falsely on that, PR 105329).
std::string shape_name(const ::testing::TestParamInfo<std::tuple<index_t, shape>>& info) {
  std::ostringstream name;
  name << 'D' << std::get<0>(info.param) << "_Sq" << std::get<1>(info.param).first << "_Sk"
       << std::get<1>(info.param).second;
  return name.str();
}

// The forward's grid: head dims x (Sq, Sk), GQA 2:1, no options; dq, dk, dv each within 3x the
// naive float error of the double reference, with out and lse from flash_attention.
class FlashBackwardGrid : public ::testing::TestWithParam<std::tuple<index_t, shape>> {};

TEST_P(FlashBackwardGrid, MatchesReference) {
  const auto [D, s] = GetParam();
  check_backward({.B = 1, .Sq = s.first, .Sk = s.second, .Hq = 2, .Hkv = 1, .D = D, .Dv = D}, {});
}

INSTANTIATE_TEST_SUITE_P(Shapes, FlashBackwardGrid,
                         ::testing::Combine(::testing::Values(1, 3, 17, 24, 64, 65, 128),
                                            ::testing::Values(shape{1, 1}, shape{1, 239},
                                                              shape{113, 203}, shape{128, 217},
                                                              shape{239, 1}, shape{37, 53})),
                         shape_name);

// Every mask kind and score modifier.
struct option_case {
  const char* name;
  owned_options opt;
};

std::vector<option_case> option_cases(index_t B, index_t Hq, index_t Sq, index_t Sk) {
  std::vector<option_case> cases;
  auto add = [&](const char* name, auto edit) {
    owned_options o;
    edit(o);
    cases.push_back({name, std::move(o)});
  };
  add("none", [](owned_options&) {});
  add("causal_bottom_right", [](owned_options& o) { o.causal = true; });
  add("causal_top_left", [](owned_options& o) { o.causal = true, o.align = alignment::top_left; });
  add("window_16_8", [](owned_options& o) { o.window_left = 16, o.window_right = 8; });
  add("window_0_0", [](owned_options& o) { o.window_left = 0, o.window_right = 0; });
  add("window_left_only", [](owned_options& o) { o.window_left = 37; });
  add("window_right_only_top_left",
      [](owned_options& o) { o.window_right = 5, o.align = alignment::top_left; });
  add("causal_window_left", [](owned_options& o) { o.causal = true, o.window_left = 50; });
  add("windows_of_the_largest_index", [](owned_options& o) {
    o.window_left = std::numeric_limits<index_t>::max();
    o.window_right = std::numeric_limits<index_t>::max() - 1;
  });
  add("scale", [](owned_options& o) { o.scale = 0.37f; });
  add("negative_scale", [](owned_options& o) { o.scale = -0.5f; });
  add("softcap", [](owned_options& o) { o.softcap = 2.5f, o.scale = 3.0f; });
  add("alibi", [&](owned_options& o) {
    for (index_t h = 0; h < Hq; ++h) o.alibi_slopes.push_back(0.25f / float(h + 1));
  });
  add("alibi_causal", [&](owned_options& o) {
    o.causal = true;
    for (index_t h = 0; h < Hq; ++h) o.alibi_slopes.push_back(0.5f * float(h + 1));
  });
  add("bias_full", [&](owned_options& o) {
    o.bias = random_tensor<float, 4>({B, Hq, Sq, Sk}, 99, -2.0, 2.0);
  });
  add("bias_broadcast_extent_1", [&](owned_options& o) {
    o.bias = random_tensor<float, 4>({1, 1, 1, Sk}, 98, -2.0, 2.0);
  });
  add("sinks", [&](owned_options& o) {
    for (index_t h = 0; h < Hq; ++h) o.sinks.push_back(0.5f * float(h) - 0.3f);
  });
  add("sinks_causal_top_left", [&](owned_options& o) {
    o.causal = true, o.align = alignment::top_left;
    for (index_t h = 0; h < Hq; ++h) o.sinks.push_back(1.0f + float(h));
  });
  add("everything", [&](owned_options& o) {
    o.causal = true, o.window_left = 40, o.softcap = 4.0f, o.scale = 0.3f;
    o.bias = random_tensor<float, 4>({B, Hq, Sq, Sk}, 97, -1.0, 1.0);
    for (index_t h = 0; h < Hq; ++h) o.alibi_slopes.push_back(0.1f * float(h + 1));
    for (index_t h = 0; h < Hq; ++h) o.sinks.push_back(0.2f * float(h));
  });
  return cases;
}

struct option_shape {
  const char* name;
  dims n;
};

class FlashBackwardOptions : public ::testing::TestWithParam<option_shape> {};

TEST_P(FlashBackwardOptions, EveryKindMatchesReference) {
  const dims n = GetParam().n;
  for (const auto& c : option_cases(n.B, n.Hq, n.Sq, n.Sk)) {
    SCOPED_TRACE(c.name);
    check_backward(n, c.opt.options(), 7);
  }
}

// Sq < Sk and Sq > Sk (the two alignments differ), a generic and a fixed head dim, Dv != D;
// Sk = 97 leaves a last key block of one key.
INSTANTIATE_TEST_SUITE_P(
    Shapes, FlashBackwardOptions,
    ::testing::Values(
        option_shape{"D17_Sq113_Sk203",
                     {.B = 2, .Sq = 113, .Sk = 203, .Hq = 2, .Hkv = 1, .D = 17, .Dv = 17}},
        option_shape{"D64_Sq150_Sk97",
                     {.B = 1, .Sq = 150, .Sk = 97, .Hq = 2, .Hkv = 1, .D = 64, .Dv = 64}},
        option_shape{"D24_Dv19_Sq37_Sk53",
                     {.B = 2, .Sq = 37, .Sk = 53, .Hq = 4, .Hkv = 2, .D = 24, .Dv = 19}}),
    [](const ::testing::TestParamInfo<option_shape>& info) {
      return std::string(info.param.name);
    });

TEST(FlashBackward, BiasWithStrideZeroBroadcastOverQueriesAndHeads) {
  const dims n{.B = 2, .Sq = 70, .Sk = 90, .Hq = 3, .Hkv = 1, .D = 33, .Dv = 33};
  const auto row = random_tensor<float, 4>({2, 1, 1, 90}, 5, -3.0, 3.0);
  attention_options opt;
  opt.bias = tensor_view<const float, 4>(row.view().data(), {2, 3, 70, 90}, {90, 0, 0, 1});
  check_backward(n, opt);
}

TEST(FlashBackward, GroupedAndMultiQueryHeadsSumOverTheGroup) {
  owned_options causal;
  causal.causal = true;
  check_backward({.B = 2, .Sq = 77, .Sk = 150, .Hq = 4, .Hkv = 2, .D = 64, .Dv = 64}, {}, 11);
  check_backward({.B = 2, .Sq = 77, .Sk = 150, .Hq = 4, .Hkv = 1, .D = 40, .Dv = 40},
                 causal.options(), 12);
  check_backward({.B = 1, .Sq = 150, .Sk = 77, .Hq = 6, .Hkv = 3, .D = 17, .Dv = 17},
                 causal.options(), 13);
}

TEST(FlashBackward, ValueHeadDimDiffersFromKeyHeadDim) {
  owned_options causal;
  causal.causal = true;
  check_backward({.B = 1, .Sq = 100, .Sk = 120, .Hq = 2, .Hkv = 1, .D = 24, .Dv = 19}, {}, 14);
  check_backward({.B = 1, .Sq = 65, .Sk = 130, .Hq = 2, .Hkv = 2, .D = 64, .Dv = 128},
                 causal.options(), 15);
  check_backward({.B = 1, .Sq = 65, .Sk = 101, .Hq = 2, .Hkv = 1, .D = 128, .Dv = 3}, {}, 16);
  check_backward({.B = 1, .Sq = 40, .Sk = 61, .Hq = 1, .Hkv = 1, .D = 1, .Dv = 129}, {}, 17);
}

TEST(FlashBackward, LargeHeadDims) {
  check_backward({.B = 1, .Sq = 40, .Sk = 70, .Hq = 1, .Hkv = 1, .D = 256, .Dv = 256}, {}, 18);
  check_backward({.B = 1, .Sq = 20, .Sk = 30, .Hq = 1, .Hkv = 1, .D = 512, .Dv = 512}, {}, 19);
  check_backward({.B = 1, .Sq = 33, .Sk = 45, .Hq = 2, .Hkv = 1, .D = 80, .Dv = 96}, {}, 20);
  check_backward({.B = 1, .Sq = 33, .Sk = 45, .Hq = 2, .Hkv = 1, .D = 192, .Dv = 128}, {}, 21);
}

TEST(FlashBackward, BhsdInputsAndGradients) {
  owned_options o;
  o.causal = true;
  check_backward({.B = 2, .Sq = 90, .Sk = 130, .Hq = 4, .Hkv = 2, .D = 64, .Dv = 64}, o.options(),
                 22, loss_terms::out, layout::bhsd, layout::bhsd);
  check_backward({.B = 1, .Sq = 33, .Sk = 47, .Hq = 2, .Hkv = 1, .D = 19, .Dv = 19}, {}, 23,
                 loss_terms::out, layout::bhsd, layout::bshd);
  check_backward({.B = 1, .Sq = 33, .Sk = 47, .Hq = 2, .Hkv = 1, .D = 19, .Dv = 21}, {}, 24,
                 loss_terms::out, layout::bshd, layout::bhsd);
}

TEST(FlashBackward, NonContiguousDoutAndPaddedGradients) {
  // dout, dq, dk, dv rows 5 elements longer than their head dim (a view into a wider buffer):
  // the padding must be neither read as data nor written.
  owned_options o;
  o.causal = true;
  o.window_left = 30;
  for (const layout l : {layout::bshd, layout::bhsd}) {
    SCOPED_TRACE(l == layout::bshd ? "bshd" : "bhsd");
    check_backward({.B = 2, .Sq = 70, .Sk = 110, .Hq = 2, .Hkv = 1, .D = 24, .Dv = 19}, o.options(),
                   25, loss_terms::out_and_lse, l, l, 5);
    check_backward({.B = 1, .Sq = 70, .Sk = 110, .Hq = 2, .Hkv = 2, .D = 64, .Dv = 64}, {}, 26,
                   loss_terms::out, l, layout::bshd, 5);
  }
}

TEST(FlashBackward, ManyQueryAndKeyBlocks) {
  // Sq > 4 x 64 and Sk > 3 x 96: the dq of a query block is summed over several key blocks (in
  // turn), the dk, dv of a key block over several query blocks and both heads of the group.
  owned_options causal, window;
  causal.causal = true;
  window.window_left = 100, window.window_right = 7, window.align = alignment::top_left;
  const dims n{.B = 1, .Sq = 300, .Sk = 333, .Hq = 2, .Hkv = 1, .D = 64, .Dv = 64};
  check_backward(n, causal.options(), 28, loss_terms::out_and_lse);
  check_backward(n, window.options(), 29);
}

TEST(FlashBackward, LseFromTheReferenceForward) {
  // The backward only needs the forward's lse: the reference's (double, rounded to float) works
  // as well as flash_attention's.
  const dims n{.B = 1, .Sq = 90, .Sk = 130, .Hq = 2, .Hkv = 1, .D = 64, .Dv = 64};
  owned_options o;
  o.causal = true;
  o.sinks = {0.5f, -1.0f};
  const auto p = random_backward_problem(n, 27, loss_terms::out_and_lse);
  check_backward_every_arch(p, o.options(), make_backward_oracle(p, o.options()), layout::bshd, 0,
                            forward_source::reference);
}

// ---- a loss of lse ------------------------------------------------------------------------------

class FlashBackwardLoss : public ::testing::TestWithParam<loss_terms> {};

TEST_P(FlashBackwardLoss, LseTermsMatchReference) {
  // L = sum(dlse * lse) (dout = 0), or both terms: dS gains P * dlse.
  const loss_terms terms = GetParam();
  const dims n{.B = 1, .Sq = 100, .Sk = 150, .Hq = 4, .Hkv = 2, .D = 24, .Dv = 19};
  std::vector<owned_options> opts(4);
  opts[1].causal = true;
  opts[2].causal = true, opts[2].window_left = 20, opts[2].sinks = {0.1f, 0.2f, -0.4f, 1.0f};
  opts[3].softcap = 2.0f, opts[3].scale = 2.0f, opts[3].alibi_slopes = {0.1f, 0.2f, 0.3f, 0.4f};
  for (std::size_t c = 0; c < opts.size(); ++c) {
    SCOPED_TRACE("options " + std::to_string(c));
    const auto opt = opts[c].options();
    const auto p = random_backward_problem(n, 30 + c, terms);
    const auto oracle = make_backward_oracle(p, opt);
    check_backward_every_arch(p, opt, oracle);
    if (terms == loss_terms::lse) {
      // lse does not depend on v: dv is exactly zero.
      simd::compiled_archs::for_each([&](auto arch) {
        using Arch = decltype(arch);
        if (!simd::cpu_supports<Arch>()) return;
        const auto g = run_backward<Arch>(p, flash_forward_state<Arch>(p, opt), opt);
        for (float x : g.dv.storage()) ASSERT_EQ(x, 0.0f) << Arch::name();
      });
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Terms, FlashBackwardLoss,
                         ::testing::Values(loss_terms::lse, loss_terms::out_and_lse),
                         [](const ::testing::TestParamInfo<loss_terms>& info) {
                           return std::string(info.param == loss_terms::lse ? "LseOnly"
                                                                            : "OutAndLse");
                         });

// ---- empty rows and unseen keys -----------------------------------------------------------------

/// dq = 0 exactly for queries that see no key, dk = dv = 0 exactly for keys no query sees; and
/// the test means something: some of each exist, and the other rows are not all zero.
template <class T>
void expect_zero_where_nothing_is_visible(const gradients<T>& g, const dims& n,
                                          const attention_options& opt, const char* arch) {
  index_t empty_rows = 0, unseen_keys = 0;
  for (index_t i = 0; i < n.Sq; ++i) {
    bool any = false;
    for (index_t j = 0; j < n.Sk && !any; ++j) any = is_visible(opt, n.Sq, n.Sk, i, j);
    if (any) continue;
    ++empty_rows;
    for (index_t b = 0; b < n.B; ++b)
      for (index_t h = 0; h < n.Hq; ++h)
        for (index_t d = 0; d < n.D; ++d)
          ASSERT_EQ(float(g.dq(b, i, h, d)), 0.0f) << arch << " dq of empty row " << i;
  }
  for (index_t j = 0; j < n.Sk; ++j) {
    bool any = false;
    for (index_t i = 0; i < n.Sq && !any; ++i) any = is_visible(opt, n.Sq, n.Sk, i, j);
    if (any) continue;
    ++unseen_keys;
    for (index_t b = 0; b < n.B; ++b)
      for (index_t h = 0; h < n.Hkv; ++h) {
        for (index_t d = 0; d < n.D; ++d)
          ASSERT_EQ(float(g.dk(b, j, h, d)), 0.0f) << arch << " dk of unseen key " << j;
        for (index_t d = 0; d < n.Dv; ++d)
          ASSERT_EQ(float(g.dv(b, j, h, d)), 0.0f) << arch << " dv of unseen key " << j;
      }
  }
  EXPECT_GT(empty_rows + unseen_keys, 0) << "nothing to test";
}

TEST(FlashBackward, EmptyRowsAndUnseenKeysGetZeroGradients) {
  struct empty_case {
    const char* name;
    dims n;
    owned_options o;
  };
  std::vector<empty_case> cases;
  const dims tall{.B = 2, .Sq = 150, .Sk = 70, .Hq = 2, .Hkv = 1, .D = 24, .Dv = 19};
  const dims wide{.B = 1, .Sq = 70, .Sk = 230, .Hq = 2, .Hkv = 1, .D = 64, .Dv = 64};
  auto add = [&](const char* name, const dims& n, auto edit) {
    owned_options o;
    edit(o);
    cases.push_back({name, n, std::move(o)});
  };
  // Bottom-right causal, Sq > Sk: queries 0 .. Sq - Sk - 1 see no key.
  add("causal_bottom_right_tall", tall, [](owned_options& o) { o.causal = true; });
  // Top-left causal, Sq < Sk: keys Sq .. Sk - 1 are seen by no query.
  add("causal_top_left_wide", wide,
      [](owned_options& o) { o.causal = true, o.align = alignment::top_left; });
  // Bottom-right, Sq < Sk, left window 10: query i sees keys i + 150 .. Sk - 1, so keys
  // 0 .. 149 are seen by no query; window (0, 0): each query sees one key.
  add("window_left_only_wide", wide, [](owned_options& o) { o.window_left = 10; });
  add("window_0_0_wide", wide, [](owned_options& o) { o.window_left = 0, o.window_right = 0; });
  // Top-left, Sq > Sk, window (2, 3): queries 72 .. Sq - 1 see no key.
  add("window_2_3_tall_top_left", tall, [](owned_options& o) {
    o.window_right = 3, o.align = alignment::top_left, o.window_left = 2;
  });
  // Causal with a left window and sinks: an empty row's lse is the sink, its dq still 0.
  add("causal_window_left_tall_with_sinks", tall, [](owned_options& o) {
    o.causal = true, o.window_left = 5, o.sinks = {0.5f, 2.0f};
  });
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const auto opt = c.o.options();
    for (const loss_terms terms : {loss_terms::out, loss_terms::out_and_lse}) {
      const auto p = random_backward_problem(c.n, 40, terms);
      const auto oracle = make_backward_oracle(p, opt);
      simd::compiled_archs::for_each([&](auto arch) {
        using Arch = decltype(arch);
        if (!simd::cpu_supports<Arch>()) return;
        SCOPED_TRACE(Arch::name());
        const auto g = run_backward<Arch>(p, flash_forward_state<Arch>(p, opt), opt);
        expect_gradients_match(g, oracle);
        expect_zero_where_nothing_is_visible(g, c.n, opt, Arch::name());
      });
    }
  }
}

TEST(FlashBackward, SingleKeyGivesZeroQueryAndKeyGradients) {
  // One key: P = 1, so dS = P (dP - <dO, O>) = 0 in exact arithmetic (O = v): dq and dk are
  // zero up to rounding, dv = the sum of dout over the queries of the group.
  check_backward({.B = 2, .Sq = 37, .Sk = 1, .Hq = 2, .Hkv = 1, .D = 24, .Dv = 24}, {}, 41);
}

/// The backward's formula in naive float, for one problem without masks or modifiers: given the
/// forward's out and float lse, P = exp(z - lse), D = <dO, out> - dlse, dS = P (dP - D), and the
/// three products, summed in order. This, not a naive float forward recomputed from scratch, is
/// "the naive float implementation of the same formula" (DESIGN 4) of a kernel that takes lse:
/// both inherit lse's rounding, which dominates when the logits are huge.
backward_oracle naive_from_lse(const backward_problem<float>& p, const forward_state<float>& f,
                               const attention_options& opt, backward_oracle o) {
  const dims n = p.sizes();
  const float scale = opt.scale;
  for (auto* t : {&o.naive_dq, &o.naive_dk, &o.naive_dv})
    for (float& x : t->storage()) x = 0.0f;
  for (index_t i = 0; i < n.Sq; ++i) {
    float term = -(p.dlse ? p.dlse->cview()(0, 0, i) : 0.0f);
    for (index_t d = 0; d < n.Dv; ++d) term += p.dout.cview()(0, i, 0, d) * f.out.cview()(0, i, 0, d);
    for (index_t j = 0; j < n.Sk; ++j) {
      float z = 0.0f, dp = 0.0f;
      for (index_t d = 0; d < n.D; ++d) z += p.q.cview()(0, i, 0, d) * p.k.cview()(0, j, 0, d);
      for (index_t d = 0; d < n.Dv; ++d) dp += p.dout.cview()(0, i, 0, d) * p.v.cview()(0, j, 0, d);
      const float w = std::exp(scale * z - f.lse.cview()(0, 0, i)), ds = w * (dp - term);
      for (index_t d = 0; d < n.Dv; ++d) o.naive_dv.view()(0, j, 0, d) += w * p.dout.cview()(0, i, 0, d);
      for (index_t d = 0; d < n.D; ++d) {
        o.naive_dq.view()(0, i, 0, d) += scale * ds * p.k.cview()(0, j, 0, d);
        o.naive_dk.view()(0, j, 0, d) += scale * ds * p.q.cview()(0, i, 0, d);
      }
    }
  }
  return o;
}

/// Logits |q . k| * scale up to 1e4 (scale +-625 on |q|, |k| <= 1, D = 16): the backward's
/// gradients per arch, with the oracle (its naive float part: `same_formula` picks the naive
/// float backward from the forward's lse instead of the one that recomputes the forward).
template <class Check>
void for_huge_logits(Check check, bool same_formula = false) {
  const dims n{.B = 1, .Sq = 50, .Sk = 80, .Hq = 1, .Hkv = 1, .D = 16, .Dv = 16};
  for (const float scale : {1e4f / 16.0f, -1e4f / 16.0f}) {
    SCOPED_TRACE("scale " + std::to_string(scale));
    attention_options opt;
    opt.scale = scale;
    const auto p = random_backward_problem(n, 42, loss_terms::out_and_lse);
    const auto oracle = make_backward_oracle(p, opt);
    ASSERT_EQ(count_non_finite(oracle.dq.cview()), 0);
    simd::compiled_archs::for_each([&](auto arch) {
      using Arch = decltype(arch);
      if (!simd::cpu_supports<Arch>()) return;
      SCOPED_TRACE(Arch::name());
      const auto f = flash_forward_state<Arch>(p, opt);
      check(run_backward<Arch>(p, f, opt), same_formula ? naive_from_lse(p, f, opt, oracle) : oracle);
    });
  }
}

TEST(FlashBackward, HugeLogitsStayFinite) {
  // P recomputed as exp(s - lse) must stay in range: no overflow, no NaN.
  for_huge_logits([](const gradients<float>& g, const backward_oracle&) {
    EXPECT_EQ(count_non_finite(g.dq.cview()) + count_non_finite(g.dk.cview()) +
                  count_non_finite(g.dv.cview()),
              0);
  });
}

TEST(FlashBackward, HugeLogitsWithinTolerance) {
  // DESIGN 4's rule at the same extreme, against the naive float backward of the same formula:
  // P = exp(s - lse) from the forward's float lse, near 1e3 here, whose rounding (half an ulp,
  // 3e-5 to 6e-5) becomes a relative error of P in any backward that takes lse (FlashAttention's
  // and PyTorch's too); a naive float forward recomputed from scratch does not have it.
  for_huge_logits([](const gradients<float>& g, const backward_oracle& oracle) {
    expect_gradients_match(g, oracle);
  }, true);
}

// ---- non-finite inputs --------------------------------------------------------------------------

/// The kernel's NaNs are exactly the double reference's (which only ever touches visible
/// pairs).
template <class T>
::testing::AssertionResult same_nans(const tensor<T, 4>& got, const tensor<double, 4>& want) {
  index_t nans = 0, mismatches = 0;
  std::ostringstream first;
  for_each_index(got.extents(), [&](const auto& i) {
    const bool w = std::isnan(at(want.view(), i));
    nans += w;
    if (w == std::isnan(float(at(got.view(), i)))) return;
    if (mismatches++ < 4)
      first << " [" << i[0] << ", " << i[1] << ", " << i[2] << ", " << i[3]
            << "]: " << float(at(got.view(), i)) << " vs " << at(want.view(), i) << ";";
  });
  if (mismatches == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << mismatches << " elements differ in NaN-ness from the "
         << "reference (" << nans << " NaN there), first" << first.str();
}

/// Some but not all elements of the reference gradient are NaN: a NaN test means something.
::testing::AssertionResult some_nans(const tensor<double, 4>& want) {
  index_t nans = 0, total = 0;
  for (double x : want.storage()) nans += std::isnan(x), ++total;
  if (nans > 0 && nans < total) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << nans << " of " << total << " NaN: nothing to test";
}

/// Causal with a left window of 10 (Sq == Sk = 230): query i sees keys i - 10 .. i, so a NaN
/// planted in one row reaches a band of rows. Every NaN the kernel produces must be one the
/// reference (which skips masked pairs) produces, and the finite elements stay within the
/// tolerance. Masked entries inside a partial tile are where a kernel computing 0 x NaN, or
/// exp(-inf - NaN), would spread it to keys or queries that never meet the poisoned row.
template <class Poison>
void check_nan_stays_in_visible_pairs(Poison poison) {
  const dims n{.B = 1, .Sq = 230, .Sk = 230, .Hq = 2, .Hkv = 1, .D = 16, .Dv = 16};
  owned_options o;
  o.causal = true;
  o.window_left = 10;
  const auto opt = o.options();
  auto p = random_backward_problem(n, 50, loss_terms::out_and_lse);
  poison(p);
  const auto oracle = make_backward_oracle(p, opt);
  ASSERT_TRUE(some_nans(oracle.dq));
  ASSERT_TRUE(some_nans(oracle.dk));
  simd::compiled_archs::for_each([&](auto arch) {
    using Arch = decltype(arch);
    if (!simd::cpu_supports<Arch>()) return;
    SCOPED_TRACE(Arch::name());
    const auto g = run_backward<Arch>(p, flash_forward_state<Arch>(p, opt), opt);
    EXPECT_TRUE(same_nans(g.dq, oracle.dq)) << "dq";
    EXPECT_TRUE(same_nans(g.dk, oracle.dk)) << "dk";
    EXPECT_TRUE(same_nans(g.dv, oracle.dv)) << "dv";
    expect_gradients_match(g, oracle);  // the finite elements too
  });
}

constexpr float kNaNf = std::numeric_limits<float>::quiet_NaN();

// NaN in v: out (hence D_i = <dO_i, O_i>) is NaN in the rows that see the key.
TEST(FlashBackward, NaNInAValueReachesOnlyVisiblePairs) {
  check_nan_stays_in_visible_pairs([](backward_problem<float>& p) { p.v(0, 100, 0, 3) = kNaNf; });
}

// NaN in k: the forward's lse is NaN in the rows that see the key (P = exp(s - lse)).
TEST(FlashBackward, NaNInAKeyReachesOnlyVisiblePairs) {
  check_nan_stays_in_visible_pairs([](backward_problem<float>& p) { p.k(0, 100, 0, 5) = kNaNf; });
}

TEST(FlashBackward, NaNInAQueryReachesOnlyVisiblePairs) {
  check_nan_stays_in_visible_pairs([](backward_problem<float>& p) { p.q(0, 100, 1, 2) = kNaNf; });
}

TEST(FlashBackward, NaNInDoutReachesOnlyVisiblePairs) {
  check_nan_stays_in_visible_pairs(
      [](backward_problem<float>& p) { p.dout(0, 100, 0, 7) = kNaNf; });
}

TEST(FlashBackward, NaNInDlseReachesOnlyVisiblePairs) {
  check_nan_stays_in_visible_pairs(
      [](backward_problem<float>& p) { p.dlse.value()(0, 1, 100) = kNaNf; });
}

TEST(FlashBackward, NaNInAnUnseenKeyReachesNothing) {
  // Top-left causal, Sq < Sk: keys Sq .. Sk - 1 are seen by no query; NaN there (in k and v)
  // must not reach any gradient, and their own dk, dv are 0.
  const dims n{.B = 1, .Sq = 100, .Sk = 230, .Hq = 2, .Hkv = 1, .D = 16, .Dv = 16};
  owned_options o;
  o.causal = true;
  o.align = alignment::top_left;
  const auto opt = o.options();
  auto p = random_backward_problem(n, 51);
  p.k(0, 150, 0, 1) = std::numeric_limits<float>::quiet_NaN();
  p.v(0, 101, 0, 2) = std::numeric_limits<float>::quiet_NaN();
  p.k(0, 229, 0, 0) = std::numeric_limits<float>::infinity();
  const auto oracle = make_backward_oracle(p, opt);
  EXPECT_EQ(count_non_finite(oracle.dq.cview()) + count_non_finite(oracle.dk.cview()) +
                count_non_finite(oracle.dv.cview()),
            0);
  check_backward_every_arch(p, opt, oracle);
}

// ---- bf16 and fp16 ------------------------------------------------------------------------------

template <class T>
void check_half_precision_backward() {
  for (const dims& n : {dims{.B = 1, .Sq = 113, .Sk = 203, .Hq = 2, .Hkv = 1, .D = 64, .Dv = 64},
                        dims{.B = 2, .Sq = 65, .Sk = 97, .Hq = 1, .Hkv = 1, .D = 17, .Dv = 17},
                        dims{.B = 1, .Sq = 128, .Sk = 128, .Hq = 1, .Hkv = 1, .D = 128, .Dv = 128},
                        dims{.B = 1, .Sq = 50, .Sk = 77, .Hq = 4, .Hkv = 2, .D = 24, .Dv = 19}}) {
    for (bool causal : {false, true}) {
      SCOPED_TRACE(causal ? "causal" : "not causal");
      attention_options opt;
      opt.causal = causal;
      const auto p = rounded<T>(random_backward_problem(n, 60, loss_terms::out_and_lse));
      check_backward_every_arch(p, opt, make_backward_oracle(p, opt));
    }
  }
}

TEST(FlashBackward, BF16) { check_half_precision_backward<bf16>(); }

TEST(FlashBackward, FP16) { check_half_precision_backward<fp16>(); }

}  // namespace
}  // namespace attnkit::test
