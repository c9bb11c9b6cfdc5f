// SPDX-License-Identifier: Apache-2.0
// Poisoned buffers around flash_attention and flash_attention_varlen: outputs pre-filled with NaN,
// canaries around and between output rows, and NaN around and between the rows of every input.
#include <attnkit/exact/flash.hpp>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "exact/flash_support.hpp"

namespace attnkit::test {
namespace {

const float kNaNf = std::numeric_limits<float>::quiet_NaN();
constexpr float kCanary = -4242.0f;

/// A view of logical extents `extents` inside a larger buffer: dimensions stored in `order`
/// (order[0] outermost), the storage extent of dimension r being extents[r] + pad[r] (so the
/// innermost dimension's pad is a gap after every row, an outer one a run of unused rows or
/// blocks), with `guard` unused elements before and after it all. Every slot the view does not
/// cover holds `fill` until someone writes it.
template <class T, std::size_t Rank>
class padded {
 public:
  using extents_type = std::array<index_t, Rank>;

  padded(extents_type extents, std::array<std::size_t, Rank> order, extents_type pad,
         index_t guard, T fill)
      : extents_(extents), guard_(guard) {
    index_t stride = 1;
    for (std::size_t n = Rank; n-- > 0;) {
      const std::size_t r = order[n];
      strides_[r] = stride;
      stride *= extents[r] + pad[r];
    }
    storage_.assign(static_cast<std::size_t>(2 * guard + stride), fill);
    inside_.assign(storage_.size(), false);
    for_each_index(extents_, [&](const extents_type& idx) {
      index_t offset = guard_;
      for (std::size_t r = 0; r < Rank; ++r) offset += idx[r] * strides_[r];
      inside_[static_cast<std::size_t>(offset)] = true;
    });
  }

  tensor_view<T, Rank> view() { return {storage_.data() + guard_, extents_, strides_}; }
  tensor_view<const T, Rank> cview() const { return {storage_.data() + guard_, extents_, strides_}; }

  /// The number of slots outside the view whose bits differ from `fill`'s.
  index_t outside_changed(T fill) const {
    index_t changed = 0;
    for (std::size_t s = 0; s < storage_.size(); ++s)
      changed += !inside_[s] && std::memcmp(&storage_[s], &fill, sizeof(T)) != 0;
    return changed;
  }

  /// The number of slots outside the view (so that a test can tell there were canaries at all).
  index_t outside_count() const {
    index_t n = 0;
    for (bool in : inside_) n += !in;
    return n;
  }

 private:
  extents_type extents_;
  extents_type strides_{};
  index_t guard_;
  std::vector<T> storage_;
  std::vector<bool> inside_;
};

constexpr std::array<std::size_t, 4> kBSHD{0, 1, 2, 3}, kBHSD{0, 2, 1, 3};

/// Fills every element of `view` with NaN.
template <class T, std::size_t Rank>
void fill_nan(const tensor_view<T, Rank>& view) {
  for_each_index(view.extents(), [&](const auto& idx) { at(view, idx) = T(kNaNf); });
}

/// The number of elements that are NaN in `got` but not in `want`.
template <class T, class U, std::size_t Rank>
index_t new_nans(const tensor_view<T, Rank>& got, const tensor_view<U, Rank>& want) {
  index_t n = 0;
  for_each_index(got.extents(), [&](const auto& idx) {
    n += std::isnan(double(at(got, idx))) && !std::isnan(double(at(want, idx)));
  });
  return n;
}

/// DESIGN 4's rule for T: the fp32 rule against the naive float formula, or the RMS rule.
template <class T, std::size_t Rank>
::testing::AssertionResult matches(const tensor_view<const T, Rank>& got,
                                   const tensor_view<const float, Rank>& naive,
                                   const tensor_view<const double, Rank>& reference) {
  if constexpr (std::is_same_v<T, float>) return within_fp32_tolerance(got, naive, reference);
  else return within_rms_tolerance(got, reference);
}

// ---- dense ---------------------------------------------------------------------------------------

struct dense_case {
  std::string name;
  dims n;
  owned_options opt;
  std::array<std::size_t, 4> in_order = kBSHD, out_order = kBSHD;
};

std::vector<dense_case> dense_cases() {
  std::vector<dense_case> cases;
  auto add = [&](std::string name, dims n, auto edit, std::array<std::size_t, 4> in = kBSHD,
                 std::array<std::size_t, 4> out = kBHSD) {
    owned_options o;
    edit(o, n);
    cases.push_back({std::move(name), n, std::move(o), in, out});
  };
  auto none = [](owned_options&, const dims&) {};
  // Head dims 1, 17, 65 (generic kernel) and 64, 128 (fixed head dim); Sq and Sk off every block
  // size (query blocks of 32 / 64 / 16 columns per arch, key blocks of 96).
  add("d1_single", dims{.B = 1, .Sq = 1, .Sk = 1, .Hq = 1, .Hkv = 1, .D = 1, .Dv = 1}, none);
  add("d1_dense", dims{.B = 2, .Sq = 37, .Sk = 101, .Hq = 2, .Hkv = 2, .D = 1, .Dv = 1}, none,
      kBHSD, kBSHD);
  add("d17_gqa", dims{.B = 1, .Sq = 97, .Sk = 203, .Hq = 4, .Hkv = 2, .D = 17, .Dv = 17}, none);
  add("d17_causal_empty_rows",
      dims{.B = 2, .Sq = 70, .Sk = 33, .Hq = 2, .Hkv = 1, .D = 17, .Dv = 17},
      [](owned_options& o, const dims&) { o.causal = true; });
  add("d65_causal_top_left_window_sinks",
      dims{.B = 1, .Sq = 130, .Sk = 131, .Hq = 3, .Hkv = 1, .D = 65, .Dv = 65},
      [](owned_options& o, const dims& n) {
        o.causal = true, o.align = alignment::top_left, o.window_left = 40;
        for (index_t h = 0; h < n.Hq; ++h) o.sinks.push_back(0.3f * float(h) - 0.2f);
      },
      kBHSD, kBHSD);
  add("d65_dv17_alibi_bias", dims{.B = 2, .Sq = 33, .Sk = 97, .Hq = 2, .Hkv = 1, .D = 65, .Dv = 17},
      [](owned_options& o, const dims& n) {
        for (index_t h = 0; h < n.Hq; ++h) o.alibi_slopes.push_back(0.2f * float(h + 1));
        o.bias = random_tensor<float, 4>({n.B, n.Hq, n.Sq, n.Sk}, 77, -1.0, 1.0);
      });
  add("d64_causal_gqa", dims{.B = 1, .Sq = 100, .Sk = 100, .Hq = 4, .Hkv = 1, .D = 64, .Dv = 64},
      [](owned_options& o, const dims&) { o.causal = true; });
  add("d128_softcap", dims{.B = 1, .Sq = 65, .Sk = 97, .Hq = 1, .Hkv = 1, .D = 128, .Dv = 128},
      [](owned_options& o, const dims&) { o.softcap = 3.0f, o.scale = 0.5f; }, kBHSD, kBSHD);
  return cases;
}

/// q, k, v in padded buffers whose every other slot is NaN, so that a read outside the views
/// poisons the result (NaN propagates through every product and every max).
template <class T>
struct poisoned_inputs {
  padded<T, 4> q, k, v;
  poisoned_inputs(const dims& n, std::array<std::size_t, 4> order, std::uint64_t seed)
      : q({n.B, n.Sq, n.Hq, n.D}, order, {1, 1, 1, 5}, 37, T(kNaNf)),
        k({n.B, n.Sk, n.Hkv, n.D}, order, {1, 1, 1, 7}, 41, T(kNaNf)),
        v({n.B, n.Sk, n.Hkv, n.Dv}, order, {1, 1, 1, 3}, 43, T(kNaNf)) {
    fill_uniform(q.view(), seed, -1.0, 1.0);
    fill_uniform(k.view(), seed + 1, -1.0, 1.0);
    fill_uniform(v.view(), seed + 2, -1.0, 1.0);
  }
};

/// One dense case on Arch: NaN-poisoned inputs; out and lse pre-filled with NaN inside padded
/// buffers whose padding (before, after, between rows, between heads) holds a canary.
template <class Arch, class T>
void check_dense(const dense_case& c, const poisoned_inputs<T>& in, const dense_oracle& oracle) {
  SCOPED_TRACE(std::string("arch ") + Arch::name());
  const dims& n = c.n;
  padded<T, 4> out({n.B, n.Sq, n.Hq, n.Dv}, c.out_order, {1, 1, 1, 3}, 29, T(kCanary));
  padded<float, 3> lse({n.B, n.Hq, n.Sq}, {0, 1, 2}, {1, 1, 2}, 31, kCanary);
  ASSERT_GT(out.outside_count(), 0);
  fill_nan(out.view());
  fill_nan(lse.view());
  flash<Arch, T>(in.q.cview(), in.k.cview(), in.v.cview(), out.view(), c.opt.options(),
                           lse.view());
  EXPECT_EQ(new_nans(out.cview(), oracle.out.cview()), 0) << "out elements left NaN or poisoned";
  EXPECT_EQ(new_nans(lse.cview(), oracle.lse.cview()), 0) << "lse elements left NaN or poisoned";
  EXPECT_TRUE(matches<T>(out.cview(), oracle.naive_out.cview(), oracle.out.cview())) << "out";
  EXPECT_TRUE(matches<float>(lse.cview(), oracle.naive_lse.cview(), oracle.lse.cview())) << "lse";
  EXPECT_EQ(out.outside_changed(T(kCanary)), 0) << "out canaries overwritten";
  EXPECT_EQ(lse.outside_changed(kCanary), 0) << "lse canaries overwritten";
}

template <class T>
dense_oracle oracle_of(const poisoned_inputs<T>& in, const attention_options& opt) {
  return make_oracle(convert<T>(in.q.cview()), convert<T>(in.k.cview()), convert<T>(in.v.cview()),
                     opt);
}

TEST(FlashPoison, DenseEveryArchWritesEveryOutputAndNothingElse) {
  std::uint64_t seed = 100;
  for (const auto& c : dense_cases()) {
    SCOPED_TRACE(c.name);
    const poisoned_inputs<float> in(c.n, c.in_order, seed += 3);
    const auto oracle = oracle_of(in, c.opt.options());
    ASSERT_EQ(count_non_finite(oracle.out.cview()), 0);
    simd::compiled_archs::for_each([&](auto arch) {
      using Arch = decltype(arch);
      if (!simd::cpu_supports<Arch>()) return;
      check_dense<Arch>(c, in, oracle);
    });
  }
}

TEST(FlashPoison, DenseBF16WritesEveryOutputAndNothingElse) {
  std::uint64_t seed = 200;
  for (const auto& c : dense_cases()) {
    SCOPED_TRACE(c.name);
    const poisoned_inputs<bf16> in(c.n, c.in_order, seed += 3);
    check_dense<default_arch>(c, in, oracle_of(in, c.opt.options()));
  }
}

// ---- varlen --------------------------------------------------------------------------------------

struct varlen_case {
  std::string name;
  index_t Hq, Hkv, D, Dv, total_q, total_k;
  std::vector<std::int32_t> cu_q, cu_k;
  owned_options opt;
};

std::vector<varlen_case> varlen_cases() {
  std::vector<varlen_case> cases;
  // Sequences of lengths off the block sizes, an empty one, one with queries but no keys, and
  // rows after cu[B] that belong to no sequence.
  {
    varlen_case c{"d17_causal_gqa", 4, 2, 17, 17, 150, 330,
                  {0, 37, 37, 140, 141}, {0, 50, 120, 120, 321}, {}};
    c.opt.causal = true;
    cases.push_back(std::move(c));
  }
  {
    varlen_case c{"d65_window_sinks", 2, 1, 65, 65, 110, 140,
                  {0, 1, 66, 66, 105}, {0, 97, 98, 100, 133}, {}};
    c.opt.window_left = 20, c.opt.window_right = 7;
    c.opt.sinks = {0.5f, -1.0f};
    cases.push_back(std::move(c));
  }
  {
    varlen_case c{"d1_bias", 3, 3, 1, 1, 70, 90, {0, 33, 64}, {0, 45, 90}, {}};
    c.opt.bias = random_tensor<float, 4>({2, 3, 40, 50}, 91, -1.0, 1.0);
    cases.push_back(std::move(c));
  }
  {
    varlen_case c{"d64_causal", 2, 2, 64, 64, 200, 200, {0, 100, 197}, {0, 100, 197}, {}};
    c.opt.causal = true;
    cases.push_back(std::move(c));
  }
  return cases;
}

/// A packed varlen tensor [total, H, D] in a padded buffer that is NaN everywhere except the
/// rows of the sequences, which are random.
template <class T>
padded<T, 3> poisoned_packed(index_t total, index_t H, index_t D, const std::vector<std::int32_t>& cu,
                             std::uint64_t seed) {
  padded<T, 3> x({total, H, D}, {0, 1, 2}, {1, 1, 5}, 23, T(kNaNf));
  fill_nan(x.view());
  const auto v = x.view();
  const tensor_view<T, 3> rows(v.data(), {cu.back(), H, D}, v.strides());
  fill_uniform(rows, seed, -1.0, 1.0);
  return x;
}

/// Sequence b of a packed view as a [1, len, H, D] view.
template <class T>
tensor_view<T, 4> sequence_of(const tensor_view<T, 3>& x, const std::vector<std::int32_t>& cu,
                              index_t b) {
  return {x.data() + cu[b] * x.stride(0), {1, cu[b + 1] - cu[b], x.extent(1), x.extent(2)},
          {0, x.stride(0), x.stride(1), x.stride(2)}};
}

template <class Arch>
void check_varlen(const varlen_case& c, const padded<float, 3>& q, const padded<float, 3>& k,
                  const padded<float, 3>& v, const std::vector<dense_oracle>& oracles) {
  SCOPED_TRACE(std::string("arch ") + Arch::name());
  padded<float, 3> out({c.total_q, c.Hq, c.Dv}, {0, 1, 2}, {1, 1, 3}, 17, kCanary);
  padded<float, 2> lse({c.Hq, c.total_q}, {0, 1}, {1, 2}, 19, kCanary);
  // Rows inside a sequence start as NaN, rows after cu_q[B] keep the canary.
  const index_t used = c.cu_q.back();
  fill_nan(tensor_view<float, 3>(out.view().data(), {used, c.Hq, c.Dv}, out.view().strides()));
  fill_nan(tensor_view<float, 2>(lse.view().data(), {c.Hq, used}, lse.view().strides()));
  flash_varlen<Arch, float>(q.cview(), k.cview(), v.cview(), out.view(), c.cu_q, c.cu_k,
                                      c.opt.options(), lse.view());
  const auto o = out.cview();
  const auto l = lse.cview();
  for (index_t b = 0; b + 1 < static_cast<index_t>(c.cu_q.size()); ++b) {
    SCOPED_TRACE("sequence " + std::to_string(b));
    const auto ob = sequence_of(o, c.cu_q, b);
    const index_t len = ob.extent(1);
    const tensor_view<const float, 3> lb(l.data() + c.cu_q[b] * l.stride(1), {1, c.Hq, len},
                                         {0, l.stride(0), l.stride(1)});
    const auto& oracle = oracles[static_cast<std::size_t>(b)];
    EXPECT_EQ(new_nans(ob, oracle.out.cview()), 0) << "out elements left NaN or poisoned";
    EXPECT_EQ(new_nans(lb, oracle.lse.cview()), 0) << "lse elements left NaN or poisoned";
    EXPECT_TRUE(within_fp32_tolerance(ob, oracle.naive_out.cview(), oracle.out.cview())) << "out";
    EXPECT_TRUE(within_fp32_tolerance(lb, oracle.naive_lse.cview(), oracle.lse.cview())) << "lse";
  }
  // Rows outside every sequence, and the padding, still hold the canary.
  index_t outside_rows = 0;
  for (index_t i = used; i < c.total_q; ++i)
    for (index_t h = 0; h < c.Hq; ++h) {
      outside_rows += std::memcmp(&l(h, i), &kCanary, sizeof(float)) != 0;
      for (index_t d = 0; d < c.Dv; ++d)
        outside_rows += std::memcmp(&o(i, h, d), &kCanary, sizeof(float)) != 0;
    }
  EXPECT_EQ(outside_rows, 0) << "rows outside every sequence were written";
  EXPECT_EQ(out.outside_changed(kCanary), 0) << "out canaries overwritten";
  EXPECT_EQ(lse.outside_changed(kCanary), 0) << "lse canaries overwritten";
}

TEST(FlashPoison, VarlenEveryArchWritesEverySequenceRowAndNothingElse) {
  std::uint64_t seed = 300;
  for (const auto& c : varlen_cases()) {
    SCOPED_TRACE(c.name);
    ASSERT_LT(c.cu_q.back(), c.total_q);  // some rows lie outside every sequence
    const auto q = poisoned_packed<float>(c.total_q, c.Hq, c.D, c.cu_q, seed += 3);
    const auto k = poisoned_packed<float>(c.total_k, c.Hkv, c.D, c.cu_k, seed += 3);
    const auto v = poisoned_packed<float>(c.total_k, c.Hkv, c.Dv, c.cu_k, seed += 3);
    const attention_options opt = c.opt.options();
    std::vector<dense_oracle> oracles;
    for (index_t b = 0; b + 1 < static_cast<index_t>(c.cu_q.size()); ++b) {
      attention_options ob = opt;
      if (c.opt.bias)
        ob.bias = bias_of_segment(opt.bias, c.Hq, b, c.cu_q[b + 1] - c.cu_q[b],
                                  c.cu_k[b + 1] - c.cu_k[b]);
      oracles.push_back(make_oracle(convert<float>(sequence_of(q.cview(), c.cu_q, b)),
                                    convert<float>(sequence_of(k.cview(), c.cu_k, b)),
                                    convert<float>(sequence_of(v.cview(), c.cu_k, b)), ob));
      ASSERT_EQ(count_non_finite(oracles.back().out.cview()), 0);
    }
    simd::compiled_archs::for_each([&](auto arch) {
      using Arch = decltype(arch);
      if (!simd::cpu_supports<Arch>()) return;
      check_varlen<Arch>(c, q, k, v, oracles);
    });
  }
}

}  // namespace
}  // namespace attnkit::test
