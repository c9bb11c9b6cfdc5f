// SPDX-License-Identifier: Apache-2.0
// Tests of flash_attention on every compiled arch against the double reference: the head-dim and
// shape grid of DESIGN 4, every mask kind, GQA, layouts, extremes, threads.
#include <attnkit/exact/flash.hpp>

#include <sys/resource.h>

#include <cmath>
#include <limits>
#include <sstream>
#include <string>
#include <tuple>

#include <gtest/gtest.h>

#include "exact/flash_support.hpp"

namespace attnkit::test {
namespace {

void check(const dims& n, const attention_options& opt, std::uint64_t seed = 1,
           layout in = layout::bshd, layout out = layout::bshd) {
  const auto p = random_problem(n, seed, in);
  check_every_arch(p.q, p.k, p.v, opt, make_oracle(p.q, p.k, p.v, opt), out);
}

// "D64_Sq113_Sk203" (a stream, not string +: g++ 12 -O3 warns falsely on that, PR 105329).
std::string shape_name(
    const ::testing::TestParamInfo<std::tuple<index_t, std::pair<index_t, index_t>>>& info) {
  std::ostringstream name;
  name << 'D' << std::get<0>(info.param) << "_Sq" << std::get<1>(info.param).first << "_Sk"
       << std::get<1>(info.param).second;
  return name.str();
}

// DESIGN 4's grid: head dims x (Sq, Sk), GQA 2:1, no options.
class FlashGrid : public ::testing::TestWithParam<std::tuple<index_t, std::pair<index_t, index_t>>> {};

TEST_P(FlashGrid, MatchesReference) {
  const auto [D, shape] = GetParam();
  check({.B = 1, .Sq = shape.first, .Sk = shape.second, .Hq = 2, .Hkv = 1, .D = D, .Dv = D}, {});
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, FlashGrid,
    ::testing::Combine(::testing::Values(1, 3, 17, 59, 64, 65, 111, 128, 129, 256),
                       ::testing::Values(std::pair<index_t, index_t>{1, 1}, std::pair<index_t, index_t>{1, 239},
                                         std::pair<index_t, index_t>{113, 203}, std::pair<index_t, index_t>{128, 217},
                                         std::pair<index_t, index_t>{239, 1})),
    shape_name);

// Every mask kind and modifier, on shapes with Sq < Sk, Sq > Sk and a fast-path and a generic
// head dim.
struct mask_case {
  const char* name;
  owned_options opt;
};

std::vector<mask_case> mask_cases(index_t Hq, index_t Sq, index_t Sk) {
  std::vector<mask_case> cases;
  auto add = [&](const char* name, auto edit) {
    owned_options o;
    edit(o);
    cases.push_back({name, std::move(o)});
  };
  add("causal_bottom_right", [](owned_options& o) { o.causal = true; });
  add("causal_top_left", [](owned_options& o) { o.causal = true, o.align = alignment::top_left; });
  add("window_16_8", [](owned_options& o) { o.window_left = 16, o.window_right = 8; });
  add("window_0_0", [](owned_options& o) { o.window_left = 0, o.window_right = 0; });
  add("window_left_only", [](owned_options& o) { o.window_left = 37; });
  add("window_right_only_top_left", [](owned_options& o) {
    o.window_right = 5, o.align = alignment::top_left;
  });
  add("causal_window_left", [](owned_options& o) { o.causal = true, o.window_left = 50; });
  add("windows_of_the_largest_index", [](owned_options& o) {
    o.window_left = std::numeric_limits<index_t>::max();
    o.window_right = std::numeric_limits<index_t>::max() - 1;
  });
  add("scale", [](owned_options& o) { o.scale = 0.37f; });
  add("softcap", [](owned_options& o) { o.softcap = 2.5f, o.scale = 3.0f; });
  add("alibi", [&](owned_options& o) {
    for (index_t h = 0; h < Hq; ++h) o.alibi_slopes.push_back(0.25f / float(h + 1));
  });
  add("alibi_causal", [&](owned_options& o) {
    o.causal = true;
    for (index_t h = 0; h < Hq; ++h) o.alibi_slopes.push_back(0.5f * float(h + 1));
  });
  add("bias_full", [&](owned_options& o) {
    o.bias = random_tensor<float, 4>({1, Hq, Sq, Sk}, 99, -2.0, 2.0);
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
    o.causal = true, o.window_left = 40, o.softcap = 4.0f;
    o.bias = random_tensor<float, 4>({1, Hq, Sq, Sk}, 97, -1.0, 1.0);
    for (index_t h = 0; h < Hq; ++h) o.alibi_slopes.push_back(0.1f * float(h + 1));
    for (index_t h = 0; h < Hq; ++h) o.sinks.push_back(0.2f * float(h));
  });
  return cases;
}

class FlashMasks
    : public ::testing::TestWithParam<std::tuple<index_t, std::pair<index_t, index_t>>> {};

TEST_P(FlashMasks, EveryKindMatchesReference) {
  const auto [D, shape] = GetParam();
  const dims n{.B = 2, .Sq = shape.first, .Sk = shape.second, .Hq = 2, .Hkv = 2, .D = D, .Dv = D};
  for (const auto& c : mask_cases(n.Hq, n.Sq, n.Sk)) {
    SCOPED_TRACE(c.name);
    check(n, c.opt.options());
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, FlashMasks,
    ::testing::Combine(::testing::Values(17, 64),
                       ::testing::Values(std::pair<index_t, index_t>{113, 203},
                                         std::pair<index_t, index_t>{203, 113},
                                         std::pair<index_t, index_t>{128, 217})),
    shape_name);

TEST(Flash, BiasWithStrideZeroBroadcastOverQueriesAndHeads) {
  const dims n{.B = 2, .Sq = 70, .Sk = 90, .Hq = 3, .Hkv = 1, .D = 33, .Dv = 33};
  const auto row = random_tensor<float, 4>({2, 1, 1, 90}, 5, -3.0, 3.0);
  attention_options opt;
  opt.bias = tensor_view<const float, 4>(row.view().data(), {2, 3, 70, 90}, {90, 0, 0, 1});
  check(n, opt);
}

TEST(Flash, GroupedAndMultiQueryHeads) {
  check({.B = 2, .Sq = 77, .Sk = 150, .Hq = 6, .Hkv = 3, .D = 64, .Dv = 64}, {});
  check({.B = 1, .Sq = 77, .Sk = 150, .Hq = 6, .Hkv = 1, .D = 40, .Dv = 40}, {});
}

TEST(Flash, ValueHeadDimDiffersFromKeyHeadDim) {
  check({.B = 1, .Sq = 100, .Sk = 120, .Hq = 2, .Hkv = 1, .D = 64, .Dv = 48}, {});
  check({.B = 1, .Sq = 65, .Sk = 201, .Hq = 2, .Hkv = 2, .D = 17, .Dv = 129}, {});
  check({.B = 1, .Sq = 65, .Sk = 201, .Hq = 1, .Hkv = 1, .D = 192, .Dv = 128}, {});
}

TEST(Flash, HeadDimsUpTo512) {
  check({.B = 1, .Sq = 40, .Sk = 70, .Hq = 1, .Hkv = 1, .D = 512, .Dv = 512}, {});
  check({.B = 1, .Sq = 40, .Sk = 70, .Hq = 1, .Hkv = 1, .D = 80, .Dv = 96}, {});
}

TEST(Flash, BhsdInputsAndOutputs) {
  owned_options o;
  o.causal = true;
  check({.B = 2, .Sq = 90, .Sk = 130, .Hq = 4, .Hkv = 2, .D = 64, .Dv = 64}, o.options(), 3,
        layout::bhsd, layout::bhsd);
  check({.B = 1, .Sq = 33, .Sk = 47, .Hq = 2, .Hkv = 1, .D = 19, .Dv = 19}, {}, 4, layout::bhsd,
        layout::bshd);
}

TEST(Flash, LongSequence) {
  owned_options o;
  o.causal = true;
  check({.B = 1, .Sq = 1023, .Sk = 1024, .Hq = 1, .Hkv = 1, .D = 128, .Dv = 128}, {});
  check({.B = 1, .Sq = 1023, .Sk = 1024, .Hq = 1, .Hkv = 1, .D = 59, .Dv = 59}, o.options());
}

TEST(Flash, SingleKeyReturnsItsValueExactly) {
  const dims n{.B = 2, .Sq = 37, .Sk = 1, .Hq = 2, .Hkv = 1, .D = 24, .Dv = 24};
  const auto p = random_problem(n, 8);
  simd::compiled_archs::for_each([&](auto arch) {
    using Arch = decltype(arch);
    if (!simd::cpu_supports<Arch>()) return;
    tensor<float, 4> out({n.B, n.Sq, n.Hq, n.Dv});
    flash<Arch, float>(p.q.cview(), p.k.cview(), p.v.cview(), out.view());
    for_each_index(out.extents(), [&](const auto& i) {
      ASSERT_EQ(out(i[0], i[1], i[2], i[3]), p.v(i[0], 0, 0, i[3])) << Arch::name();
    });
  });
}

TEST(Flash, HugeLogitsStayFinite) {
  // |q . k| * scale reaches 1e4: the max subtraction must keep every exp in range.
  const dims n{.B = 1, .Sq = 50, .Sk = 80, .Hq = 1, .Hkv = 1, .D = 16, .Dv = 16};
  auto p = random_problem(n, 9, layout::bshd, 1.0);
  attention_options opt;
  opt.scale = 1e4f / 16.0f;
  const auto oracle = make_oracle(p.q, p.k, p.v, opt);
  EXPECT_EQ(count_non_finite(oracle.out.cview()), 0);
  check_every_arch(p.q, p.k, p.v, opt, oracle);
  opt.scale = -opt.scale;
  check_every_arch(p.q, p.k, p.v, opt, make_oracle(p.q, p.k, p.v, opt));
}

TEST(Flash, RowsWithoutKeysGiveZeroAndMinusInfinity) {
  // Causal, bottom-right, Sq > Sk: queries 0 .. Sq - Sk - 1 see no key.
  const dims n{.B = 1, .Sq = 90, .Sk = 40, .Hq = 2, .Hkv = 1, .D = 32, .Dv = 32};
  const auto p = random_problem(n, 10);
  attention_options opt;
  opt.causal = true;
  simd::compiled_archs::for_each([&](auto arch) {
    using Arch = decltype(arch);
    if (!simd::cpu_supports<Arch>()) return;
    tensor<float, 4> out({n.B, n.Sq, n.Hq, n.Dv}, 5.0f);
    tensor<float, 3> lse({n.B, n.Hq, n.Sq}, 5.0f);
    flash<Arch, float>(p.q.cview(), p.k.cview(), p.v.cview(), out.view(), opt, lse.view());
    for (index_t h = 0; h < n.Hq; ++h)
      for (index_t i = 0; i < n.Sq; ++i) {
        const bool empty = i < n.Sq - n.Sk;
        EXPECT_EQ(empty, lse(0, h, i) == -std::numeric_limits<float>::infinity()) << i;
        for (index_t d = 0; d < n.Dv; ++d)
          if (empty) ASSERT_TRUE(is_positive_zero(out(0, i, h, d))) << Arch::name() << " row " << i;
          else ASSERT_TRUE(std::isfinite(out(0, i, h, d)));
      }
  });
}

TEST(Flash, NaNInAQueryReachesOnlyItsRow) {
  const dims n{.B = 1, .Sq = 70, .Sk = 90, .Hq = 1, .Hkv = 1, .D = 16, .Dv = 16};
  auto p = random_problem(n, 11);
  p.q(0, 33, 0, 5) = std::numeric_limits<float>::quiet_NaN();
  simd::compiled_archs::for_each([&](auto arch) {
    using Arch = decltype(arch);
    if (!simd::cpu_supports<Arch>()) return;
    tensor<float, 4> out({n.B, n.Sq, n.Hq, n.Dv});
    tensor<float, 3> lse({n.B, n.Hq, n.Sq});
    flash<Arch, float>(p.q.cview(), p.k.cview(), p.v.cview(), out.view(), {}, lse.view());
    for (index_t i = 0; i < n.Sq; ++i) {
      EXPECT_EQ(std::isnan(lse(0, 0, i)), i == 33) << Arch::name() << " row " << i;
      for (index_t d = 0; d < n.Dv; ++d)
        ASSERT_EQ(std::isnan(out(0, i, 0, d)), i == 33) << Arch::name() << " row " << i;
    }
  });
}

TEST(Flash, NaNInAKeyReachesTheRowsThatSeeIt) {
  // Causal: key 50 is seen by queries 50.. only (Sq == Sk); the others stay finite.
  const dims n{.B = 1, .Sq = 120, .Sk = 120, .Hq = 1, .Hkv = 1, .D = 16, .Dv = 16};
  auto p = random_problem(n, 12);
  p.k(0, 50, 0, 3) = std::numeric_limits<float>::quiet_NaN();
  attention_options opt;
  opt.causal = true;
  simd::compiled_archs::for_each([&](auto arch) {
    using Arch = decltype(arch);
    if (!simd::cpu_supports<Arch>()) return;
    tensor<float, 4> out({n.B, n.Sq, n.Hq, n.Dv});
    flash<Arch, float>(p.q.cview(), p.k.cview(), p.v.cview(), out.view(), opt);
    for (index_t i = 0; i < n.Sq; ++i)
      ASSERT_EQ(std::isnan(out(0, i, 0, 0)), i >= 50) << Arch::name() << " row " << i;
  });
}

TEST(Flash, NonFiniteValuesReachOnlyTheRowsThatSeeTheirKey) {
  // Causal with a left window of 10 (Sq == Sk): key j is seen by queries j .. j + 10. A masked
  // key's weight is 0, and 0 x NaN in a full product would reach every query of the tile.
  const dims n{.B = 1, .Sq = 150, .Sk = 150, .Hq = 1, .Hkv = 1, .D = 16, .Dv = 16};
  const auto clean = random_problem(n, 14);
  auto p = random_problem(n, 14);
  p.v(0, 50, 0, 3) = std::numeric_limits<float>::quiet_NaN();
  p.v(0, 70, 0, 5) = std::numeric_limits<float>::infinity();
  attention_options opt;
  opt.causal = true;
  opt.window_left = 10;
  simd::compiled_archs::for_each([&](auto arch) {
    using Arch = decltype(arch);
    if (!simd::cpu_supports<Arch>()) return;
    tensor<float, 4> out({n.B, n.Sq, n.Hq, n.Dv}), want({n.B, n.Sq, n.Hq, n.Dv});
    flash<Arch, float>(p.q.cview(), p.k.cview(), p.v.cview(), out.view(), opt);
    flash<Arch, float>(clean.q.cview(), clean.k.cview(), clean.v.cview(), want.view(), opt);
    for (index_t i = 0; i < n.Sq; ++i)
      for (index_t d = 0; d < n.Dv; ++d) {
        const bool nan = d == 3 && i >= 50 && i <= 60, inf = d == 5 && i >= 70 && i <= 80;
        ASSERT_EQ(std::isnan(out(0, i, 0, d)), nan) << Arch::name() << " row " << i << " d " << d;
        ASSERT_EQ(std::isinf(out(0, i, 0, d)), inf) << Arch::name() << " row " << i << " d " << d;
        if (!nan && !inf) {
          ASSERT_NEAR(out(0, i, 0, d), want(0, i, 0, d), 1e-5f) << Arch::name() << " row " << i;
        }
      }
  });
}

TEST(Flash, ThreadCountDoesNotChangeTheBits) {
  const dims n{.B = 2, .Sq = 300, .Sk = 250, .Hq = 3, .Hkv = 1, .D = 64, .Dv = 64};
  const auto p = random_problem(n, 13);
  owned_options o;
  o.causal = true;
  const auto opt = o.options();
  const int saved = get_num_threads();
  tensor<float, 4> one({n.B, n.Sq, n.Hq, n.Dv}), two({n.B, n.Sq, n.Hq, n.Dv});
  set_num_threads(1);
  flash<default_arch, float>(p.q.cview(), p.k.cview(), p.v.cview(), one.view(), opt);
  set_num_threads(2);
  flash<default_arch, float>(p.q.cview(), p.k.cview(), p.v.cview(), two.view(), opt);
  set_num_threads(saved);
  EXPECT_EQ(one.storage(), two.storage());
}

TEST(Flash, VarlenEqualsDenseCallsPerSequenceBitForBit) {
  // Each sequence of a varlen call runs the same tiles as a dense call on that sequence alone,
  // so the results agree exactly; dense calls are checked against the reference above.
  const index_t Hq = 4, Hkv = 2, D = 24, total_q = 100;
  const std::vector<std::int32_t> cu_q = {0, 30, 30, 95, 96}, cu_k = {0, 50, 70, 70, 141};
  const auto q = random_tensor<float, 3>({total_q, Hq, D}, 21);
  const auto k = random_tensor<float, 3>({141, Hkv, D}, 22);
  const auto v = random_tensor<float, 3>({141, Hkv, D}, 23);
  owned_options o;
  o.causal = true;
  o.bias = random_tensor<float, 4>({4, Hq, 65, 71}, 24);
  for (index_t h = 0; h < Hq; ++h) o.sinks.push_back(0.1f * float(h));
  const auto opt = o.options();
  simd::compiled_archs::for_each([&](auto arch) {
    using Arch = decltype(arch);
    if (!simd::cpu_supports<Arch>()) return;
    SCOPED_TRACE(Arch::name());
    tensor<float, 3> out({total_q, Hq, D}, 4242.0f);  // rows 96.. lie outside every sequence
    tensor<float, 2> lse({Hq, total_q}, 4242.0f);
    flash_varlen<Arch, float>(q.cview(), k.cview(), v.cview(), out.view(), cu_q, cu_k, opt,
                                 lse.view());
    for (index_t b = 0; b + 1 < static_cast<index_t>(cu_q.size()); ++b) {
      const auto qb = unpack(q, cu_q, b), kb = unpack(k, cu_k, b), vb = unpack(v, cu_k, b);
      const index_t lq = cu_q[b + 1] - cu_q[b], lk = cu_k[b + 1] - cu_k[b];
      tensor<float, 4> want({1, lq, Hq, D});
      tensor<float, 3> want_lse({1, Hq, lq});
      attention_options ob = opt;
      ob.bias = bias_of_segment(opt.bias, Hq, b, lq, lk);
      flash<Arch, float>(qb.cview(), kb.cview(), vb.cview(), want.view(), ob, want_lse.view());
      for_each_index(want.extents(), [&](const auto& i) {
        ASSERT_EQ(out(cu_q[b] + i[1], i[2], i[3]), want(0, i[1], i[2], i[3])) << "sequence " << b;
      });
      for (index_t h = 0; h < Hq; ++h)
        for (index_t i = 0; i < lq; ++i)
          ASSERT_EQ(lse(h, cu_q[b] + i), want_lse(0, h, i)) << "sequence " << b;
    }
    for (index_t i = 96; i < total_q; ++i)
      for (index_t h = 0; h < Hq; ++h) {
        EXPECT_EQ(lse(h, i), 4242.0f) << "lse of a row outside every sequence was written";
        for (index_t d = 0; d < D; ++d)
          ASSERT_EQ(out(i, h, d), 4242.0f) << "a row outside every sequence was written";
      }
  });
}

TEST(Flash, MemoryStaysLinearInTheSequenceLength) {
  // N = 8192: an Sq x Sk float score matrix would take 256 MiB; the kernel's scratch is a few
  // tiles per thread. ru_maxrss is the peak resident size, so its growth over the call bounds
  // everything the call allocated and touched.
  const index_t N = 8192, D = 64;
  const auto q = random_tensor<float, 4>({1, N, 1, D}, 41);
  const auto k = random_tensor<float, 4>({1, N, 1, D}, 42);
  tensor<float, 4> out({1, N, 1, D}, 1.0f);
  attention_options opt;
  opt.causal = true;
  auto peak_kib = [] {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss;
  };
  const long before = peak_kib();
  flash<default_arch, float>(q.cview(), k.cview(), k.cview(), out.view(), opt);
  EXPECT_LT(peak_kib() - before, 32 * 1024) << "KiB of peak memory added by one call";
  EXPECT_EQ(count_non_finite(out.cview()), 0);
}

TEST(Flash, InvalidCallsThrowAndWriteNothing) {
  tensor<float, 4> q({1, 4, 1, 520}), k({1, 4, 1, 520}), out({1, 4, 1, 520}, 3.0f);
  EXPECT_THROW((flash<default_arch, float>(q.cview(), k.cview(), k.cview(), out.view())), error);
  tensor<float, 4> q2({1, 4, 3, 8}), k2({1, 5, 2, 8}), out2({1, 4, 3, 8}, 3.0f);
  EXPECT_THROW((flash<default_arch, float>(q2.cview(), k2.cview(), k2.cview(), out2.view())), error);
  for (float x : out.storage()) ASSERT_EQ(x, 3.0f);
  for (float x : out2.storage()) ASSERT_EQ(x, 3.0f);
}

}  // namespace
}  // namespace attnkit::test
