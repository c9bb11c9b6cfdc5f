// SPDX-License-Identifier: Apache-2.0
// reference::attention_with_kvcache against reference::attention on each valid prefix: contiguous,
// paged with shuffled tables, per-head lengths, int8 and 16-bit caches, NaN past every length,
// and the bad-input table of its argument checks, which flash_attention_with_kvcache shares.
#include <attnkit/exact/kvcache.hpp>
#include <attnkit/exact/reference_kvcache.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <numeric>
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
#include "support/random.hpp"
#include "support/tensor.hpp"

namespace attnkit {
namespace {

using test::owned_options;
using test::tensor;

const float kNaNf = std::numeric_limits<float>::quiet_NaN();
constexpr float kUnwritten = 12345.0f;

/// A decode problem: q [B, Sq, Hq, D] and a contiguous cache [B, S_cache, Hkv, D | Dv] of
/// element C (random, or given by the test), lengths per sequence (B) or per kv head (B x Hkv).
template <class C = float>
struct kv_problem {
  index_t B, Sq, Hq, Hkv, D, Dv, S_cache;
  std::vector<std::int32_t> lens;
  tensor<float, 4> q;
  tensor<C, 4> k, v;

  kv_problem(index_t B_, index_t Sq_, index_t Hq_, index_t Hkv_, index_t D_, index_t Dv_,
             index_t S_cache_, std::vector<std::int32_t> lens_, std::uint64_t seed)
      : B(B_), Sq(Sq_), Hq(Hq_), Hkv(Hkv_), D(D_), Dv(Dv_), S_cache(S_cache_),
        lens(std::move(lens_)),
        q(test::random_tensor<float, 4>({B, Sq, Hq, D}, seed, -2.0, 2.0)),
        k(test::convert<C>(test::random_tensor<float, 4>({B, S_cache, Hkv, D}, seed + 1, -2.0, 2.0).cview())),
        v(test::convert<C>(test::random_tensor<float, 4>({B, S_cache, Hkv, Dv}, seed + 2).cview())) {}

  index_t G() const { return Hq / Hkv; }
  index_t len(index_t b, index_t hk) const {
    return lens[std::size_t(lens.size() == std::size_t(B) ? b : b * Hkv + hk)];
  }
  index_t longest(index_t b) const {
    index_t m = 0;
    for (index_t hk = 0; hk < Hkv; ++hk) m = std::max(m, len(b, hk));
    return m;
  }
};

/// p with its cache converted to To (exact for the widening conversions; NaN stays NaN).
template <class To, class From>
kv_problem<To> with_cache(const kv_problem<From>& p) {
  kv_problem<To> c(p.B, p.Sq, p.Hq, p.Hkv, p.D, p.Dv, 0, p.lens, 0);
  c.S_cache = p.S_cache;
  c.q = p.q;
  c.k = test::convert<To>(p.k.cview());
  c.v = test::convert<To>(p.v.cview());
  return c;
}

/// Writes NaN into every cache row past its length.
template <class C>
void poison_tails(kv_problem<C>& p) {
  for (index_t b = 0; b < p.B; ++b)
    for (index_t hk = 0; hk < p.Hkv; ++hk)
      for (index_t s = p.len(b, hk); s < p.S_cache; ++s) {
        for (index_t d = 0; d < p.D; ++d) p.k(b, s, hk, d) = C(kNaNf);
        for (index_t d = 0; d < p.Dv; ++d) p.v(b, s, hk, d) = C(kNaNf);
      }
}

/// The option sets every comparison runs: each option of DESIGN 1.3 alone, and some together.
/// The bias is [B, Hq, Sq, S_cache] with NaN in every column past the length of its head.
template <class C>
std::vector<std::pair<std::string, owned_options>> option_sets(const kv_problem<C>& p) {
  std::vector<std::pair<std::string, owned_options>> sets(10);
  sets[0].first = "no options";
  sets[1].first = "causal";
  sets[1].second.causal = true;
  sets[2].first = "causal top_left";
  sets[2].second.causal = true;
  sets[2].second.align = alignment::top_left;
  sets[3].first = "window (3, 1)";
  sets[3].second.window_left = 3;
  sets[3].second.window_right = 1;
  sets[4].first = "window (0, 0) top_left";
  sets[4].second.window_left = sets[4].second.window_right = 0;
  sets[4].second.align = alignment::top_left;
  sets[5].first = "softcap 2, scale 0.7";
  sets[5].second.softcap = 2.0f;
  sets[5].second.scale = 0.7f;
  sets[6].first = "alibi, causal";
  sets[6].second.causal = true;
  for (index_t h = 0; h < p.Hq; ++h) sets[6].second.alibi_slopes.push_back(0.25f * float(h + 1));
  sets[7].first = "sinks (one -inf)";
  for (index_t h = 0; h < p.Hq; ++h) sets[7].second.sinks.push_back(h == 1 ? -INFINITY : 0.5f * float(h));
  sets[8].first = "bias";
  sets[9].first = "bias, window (2, 0), sinks";
  sets[9].second.window_left = 2;
  sets[9].second.window_right = 0;
  sets[9].second.sinks = sets[7].second.sinks;
  for (std::size_t x : {std::size_t(8), std::size_t(9)}) {
    sets[x].second.bias = test::random_tensor<float, 4>({p.B, p.Hq, p.Sq, p.S_cache}, 900 + x, -2.0, 2.0);
    for (index_t b = 0; b < p.B; ++b)
      for (index_t h = 0; h < p.Hq; ++h)
        for (index_t i = 0; i < p.Sq; ++i)
          for (index_t j = p.len(b, h / p.G()); j < p.S_cache; ++j) (*sets[x].second.bias)(b, h, i, j) = kNaNf;
  }
  return sets;
}

/// out [B, Sq, Hq, Dv] and lse [B, Hq, Sq] of a call, pre-filled with kUnwritten.
template <class T = float>
struct result {
  tensor<T, 4> out;
  tensor<float, 3> lse;
  template <class C>
  explicit result(const kv_problem<C>& p)
      : out({p.B, p.Sq, p.Hq, p.Dv}, T(kUnwritten)), lse({p.B, p.Hq, p.Sq}, kUnwritten) {}
};

/// The oracle: for every (b, hk), reference::attention of the group's query heads over the first
/// len(b, hk) rows of the cache, a dense problem [1, Sq, G, D] x [1, len, 1, D].
template <class C>
result<float> prefix_oracle(const kv_problem<C>& p, const attention_options& opt) {
  result<float> r(p);
  const index_t G = p.G();
  for (index_t b = 0; b < p.B; ++b)
    for (index_t hk = 0; hk < p.Hkv; ++hk) {
      const index_t len = p.len(b, hk), h0 = hk * G;
      auto group = [&](const auto& x, index_t heads, index_t h) {
        const auto view = x.cview();
        using E = std::remove_const_t<typename std::remove_reference_t<decltype(view)>::element_type>;
        return tensor_view<const E, 4>(view.data() + b * view.stride(0) + h * view.stride(2),
                                       {1, view.extent(1), heads, view.extent(3)},
                                       {0, view.stride(1), view.stride(2), view.stride(3)});
      };
      auto prefix = [&](const tensor<C, 4>& x) {
        const auto view = group(x, 1, hk);
        tensor<double, 4> dense({1, len, 1, view.extent(3)});
        test::for_each_index(dense.extents(), [&](const auto& i) {
          test::at(dense.view(), i) = double(view(0, i[1], 0, i[3]));
        });
        return dense;
      };
      attention_options o = opt;
      if (!opt.alibi_slopes.empty()) o.alibi_slopes = opt.alibi_slopes.subspan(std::size_t(h0), std::size_t(G));
      if (!opt.sinks.empty()) o.sinks = opt.sinks.subspan(std::size_t(h0), std::size_t(G));
      if (!opt.bias.empty())
        o.bias = tensor_view<const float, 4>(&opt.bias(b, h0, 0, 0), {1, G, p.Sq, len},
                                             {0, opt.bias.stride(1), opt.bias.stride(2), opt.bias.stride(3)});
      const auto qd = test::convert<double>(group(p.q, G, h0));
      const auto kd = prefix(p.k), vd = prefix(p.v);
      tensor<double, 4> out({1, p.Sq, G, p.Dv});
      tensor<double, 3> lse({1, G, p.Sq});
      reference::attention<double>(qd.cview(), kd.cview(), vd.cview(), out.view(), o, lse.view());
      for (index_t i = 0; i < p.Sq; ++i)
        for (index_t g = 0; g < G; ++g) {
          for (index_t d = 0; d < p.Dv; ++d) r.out(b, i, h0 + g, d) = float(out(0, i, g, d));
          r.lse(b, h0 + g, i) = float(lse(0, g, i));
        }
    }
  return r;
}

/// reference::attention_with_kvcache on the contiguous cache of p.
template <class C>
result<float> contiguous(const kv_problem<C>& p, const attention_options& opt) {
  result<float> r(p);
  reference::attention_with_kvcache<float>(p.q.cview(), p.k.cview(), p.v.cview(), r.out.view(),
                                           p.lens, opt, {}, r.lse.view());
  return r;
}

/// True when a and b hold the same bits.
template <class T, std::size_t Rank>
::testing::AssertionResult same_bits(const tensor<T, Rank>& a, const tensor<T, Rank>& b) {
  index_t differ = 0;
  test::for_each_index(a.extents(), [&](const auto& idx) {
    differ += std::memcmp(&test::at(a.cview(), idx), &test::at(b.cview(), idx), sizeof(T)) != 0;
  });
  if (differ == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << differ << " elements differ";
}

void expect_same(const result<float>& got, const result<float>& want) {
  EXPECT_TRUE(same_bits(got.out, want.out)) << "out";
  EXPECT_TRUE(same_bits(got.lse, want.lse)) << "lse";
  EXPECT_EQ(test::count_non_finite(got.out.cview()), 0);
}

/// The problems the tests sweep: decode (Sq 1) and a few queries (Sq 4, more than some lengths),
/// lengths per sequence (full, partial, shorter than Sq, 0) or per kv head.
std::vector<kv_problem<float>> problems(bool per_head) {
  std::vector<kv_problem<float>> ps;
  for (index_t Sq : {1, 4}) {
    std::vector<std::int32_t> lens = per_head ? std::vector<std::int32_t>{11, 7, 2, 0, 5, 3}
                                              : std::vector<std::int32_t>{11, 6, 2, 0};
    const index_t B = per_head ? 3 : 4;
    ps.emplace_back(B, Sq, 4, 2, 5, 3, 11, lens, 100 + std::uint64_t(Sq));
    poison_tails(ps.back());
  }
  return ps;
}

TEST(ReferenceKvcache, ContiguousEqualsAttentionOnEachPrefix) {
  // With lengths per kv head, each head's queries align to its own length (o = len - Sq).
  for (bool per_head : {false, true})
    for (const auto& p : problems(per_head))
      for (const auto& [label, options] : option_sets(p)) {
        SCOPED_TRACE(std::string(per_head ? "per-head" : "per-sequence") + " lengths, Sq " +
                     std::to_string(p.Sq) + ", " + label);
        const auto opt = options.options();
        expect_same(contiguous(p, opt), prefix_oracle(p, opt));
      }
}

TEST(ReferenceKvcache, ContiguousEqualsAttentionOverTheWholeBatchEntry) {
  // The grouping above is the implementation's; here each sequence is one dense call over all
  // heads (lengths per sequence), the plain reading of "attention over the first len tokens".
  const auto p = problems(false)[1];
  for (const auto& [label, options] : option_sets(p)) {
    SCOPED_TRACE(label);
    const auto opt = options.options();
    const auto got = contiguous(p, opt);
    for (index_t b = 0; b < p.B; ++b) {
      const index_t len = p.len(b, 0);
      auto slice = [&](const tensor<float, 4>& x, index_t rows) {
        const auto view = x.cview();
        return tensor_view<const float, 4>(view.data() + b * view.stride(0),
                                           {1, rows, view.extent(2), view.extent(3)}, view.strides());
      };
      attention_options o = opt;
      if (!opt.bias.empty())
        o.bias = tensor_view<const float, 4>(&opt.bias(b, 0, 0, 0), {1, p.Hq, p.Sq, len}, opt.bias.strides());
      tensor<float, 4> out({1, p.Sq, p.Hq, p.Dv});
      tensor<float, 3> lse({1, p.Hq, p.Sq});
      reference::attention<float>(slice(p.q, p.Sq), slice(p.k, len), slice(p.v, len), out.view(), o, lse.view());
      test::for_each_index(out.extents(), [&](const auto& i) {
        EXPECT_EQ(got.out(b, i[1], i[2], i[3]), out(0, i[1], i[2], i[3]));
      });
      test::for_each_index(lse.extents(), [&](const auto& i) {
        EXPECT_EQ(got.lse(b, i[1], i[2]), lse(0, i[1], i[2]));
      });
    }
  }
}

TEST(ReferenceKvcache, EmptyRowsAreZeroWithMinusInfinityLse) {
  // Sequence 3 has no cached token; with causal bottom_right, the queries i < Sq - len of
  // sequence 2 (len 2, Sq 4) see nothing either.
  const auto p = problems(false)[1];
  ASSERT_EQ(p.len(3, 0), 0);
  ASSERT_EQ(p.len(2, 0), 2);
  attention_options opt;
  opt.causal = true;
  const auto r = contiguous(p, opt);
  for (index_t h = 0; h < p.Hq; ++h)
    for (index_t i = 0; i < p.Sq; ++i) {
      EXPECT_EQ(r.lse(3, h, i), -INFINITY);
      EXPECT_EQ(r.lse(2, h, i) == -INFINITY, i < 2) << i;
      for (index_t d = 0; d < p.Dv; ++d) {
        EXPECT_TRUE(test::is_positive_zero(r.out(3, i, h, d)));
        if (i < 2) {
          EXPECT_TRUE(test::is_positive_zero(r.out(2, i, h, d)));
        }
      }
    }
}

// ---- paged caches -------------------------------------------------------------------------------

/// A paged copy of a contiguous cache: blocks of `block` tokens at shuffled places of a pool with
/// two spare pages, NaN in the spare pages and in every row past a length; table entries past
/// the blocks a sequence needs hold -1 (never read).
template <class C>
struct paged {
  tensor<C, 4> k, v;
  tensor<std::int32_t, 2> table;
  tensor<float, 3> k_scales, v_scales;  // int8 only

  paged(const kv_problem<C>& p, index_t block, std::uint64_t seed) {
    const index_t max_blocks = (p.S_cache + block - 1) / block;
    index_t used = 0;
    for (index_t b = 0; b < p.B; ++b) used += (p.longest(b) + block - 1) / block;
    const index_t pool = used + 2;
    std::vector<std::int32_t> place(static_cast<std::size_t>(pool));
    std::iota(place.begin(), place.end(), 0);
    std::shuffle(place.begin(), place.end(), std::mt19937_64(seed));
    C garbage;
    if constexpr (std::is_same_v<C, std::int8_t>) garbage = 99;
    else garbage = C(kNaNf);
    k = tensor<C, 4>({pool, block, p.Hkv, p.D}, garbage);
    v = tensor<C, 4>({pool, block, p.Hkv, p.Dv}, garbage);
    k_scales = tensor<float, 3>({pool, block, p.Hkv}, kNaNf);
    v_scales = tensor<float, 3>({pool, block, p.Hkv}, kNaNf);
    table = tensor<std::int32_t, 2>({p.B, max_blocks}, -1);
    index_t next = 0;
    for (index_t b = 0; b < p.B; ++b)
      for (index_t t = 0; t < (p.longest(b) + block - 1) / block; ++t)
        table(b, t) = place[static_cast<std::size_t>(next++)];
    for (index_t b = 0; b < p.B; ++b)
      for (index_t hk = 0; hk < p.Hkv; ++hk)
        for (index_t s = 0; s < p.len(b, hk); ++s) {
          const index_t x = table(b, s / block), row = s % block;
          for (index_t d = 0; d < p.D; ++d) k(x, row, hk, d) = p.k(b, s, hk, d);
          for (index_t d = 0; d < p.Dv; ++d) v(x, row, hk, d) = p.v(b, s, hk, d);
        }
  }
};

TEST(ReferenceKvcache, PagedWithShuffledTablesEqualsContiguous) {
  for (bool per_head : {false, true})
    for (const auto& p : problems(per_head))
      for (index_t block : {1, 3, 4, 16}) {
        const paged<float> pg(p, block, 7 + std::uint64_t(block));
        for (const auto& [label, options] : option_sets(p)) {
          SCOPED_TRACE(std::string(per_head ? "per-head" : "per-sequence") + " lengths, Sq " +
                       std::to_string(p.Sq) + ", block " + std::to_string(block) + ", " + label);
          const auto opt = options.options();
          result<float> r(p);
          reference::attention_with_kvcache<float>(p.q.cview(), pg.k.cview(), pg.v.cview(),
                                                   r.out.view(), p.lens, opt, pg.table.cview(),
                                                   r.lse.view());
          expect_same(r, contiguous(p, opt));
        }
      }
}

// ---- element types of the cache -----------------------------------------------------------------

template <class C>
class ReferenceKvcacheHalf : public ::testing::Test {};
using half_types = ::testing::Types<bf16, fp16>;
TYPED_TEST_SUITE(ReferenceKvcacheHalf, half_types);

TYPED_TEST(ReferenceKvcacheHalf, SixteenBitCacheEqualsItsValuesInDouble) {
  for (const auto& p32 : problems(true)) {
    const auto p16 = with_cache<TypeParam>(p32);
    const auto pd = with_cache<double>(p16);  // the 16-bit values, exactly
    for (const auto& [label, options] : option_sets(p32)) {
      SCOPED_TRACE(label);
      const auto opt = options.options();
      expect_same(contiguous(p16, opt), contiguous(pd, opt));
      const paged<TypeParam> pg(p16, 3, 5);
      result<float> r(p16);
      reference::attention_with_kvcache<float>(p16.q.cview(), pg.k.cview(), pg.v.cview(),
                                               r.out.view(), p16.lens, opt, pg.table.cview(),
                                               r.lse.view());
      expect_same(r, contiguous(pd, opt));
    }
  }
}

/// An int8 copy of p's cache: random values in [-127, 127] with scales in [0.005, 0.02); the
/// scales past each length are NaN (never read). `dequantised` is the same cache in double.
struct int8_cache {
  kv_problem<std::int8_t> q8;
  tensor<float, 3> k_scales, v_scales;
  kv_problem<double> dequantised;

  int8_cache(const kv_problem<float>& p, std::uint64_t seed)
      : q8(p.B, p.Sq, p.Hq, p.Hkv, p.D, p.Dv, p.S_cache, p.lens, 0),
        k_scales(test::random_tensor<float, 3>({p.B, p.S_cache, p.Hkv}, seed, 0.005, 0.02)),
        v_scales(test::random_tensor<float, 3>({p.B, p.S_cache, p.Hkv}, seed + 1, 0.005, 0.02)),
        dequantised(with_cache<double>(p)) {
    q8.q = p.q;
    std::mt19937_64 rng(seed + 2);
    std::uniform_int_distribution<int> value(-127, 127);
    for (auto& x : q8.k.storage()) x = std::int8_t(value(rng));
    for (auto& x : q8.v.storage()) x = std::int8_t(value(rng));
    for (index_t b = 0; b < p.B; ++b)
      for (index_t s = 0; s < p.S_cache; ++s)
        for (index_t hk = 0; hk < p.Hkv; ++hk) {
          const bool valid = s < p.len(b, hk);
          if (!valid) k_scales(b, s, hk) = v_scales(b, s, hk) = kNaNf;
          for (index_t d = 0; d < p.D; ++d)
            dequantised.k(b, s, hk, d) = valid ? double(k_scales(b, s, hk)) * q8.k(b, s, hk, d) : kNaNf;
          for (index_t d = 0; d < p.Dv; ++d)
            dequantised.v(b, s, hk, d) = valid ? double(v_scales(b, s, hk)) * q8.v(b, s, hk, d) : kNaNf;
        }
  }
};

TEST(ReferenceKvcache, Int8EqualsTheDequantisedCache) {
  for (bool per_head : {false, true})
    for (const auto& p : problems(per_head)) {
      const int8_cache c(p, 300);
      // The paged int8 cache: values and scales moved to the pages of a shuffled table.
      paged<std::int8_t> pg(c.q8, 3, 11);
      for (index_t b = 0; b < p.B; ++b)
        for (index_t hk = 0; hk < p.Hkv; ++hk)
          for (index_t s = 0; s < p.len(b, hk); ++s) {
            pg.k_scales(pg.table(b, s / 3), s % 3, hk) = c.k_scales(b, s, hk);
            pg.v_scales(pg.table(b, s / 3), s % 3, hk) = c.v_scales(b, s, hk);
          }
      for (const auto& [label, options] : option_sets(p)) {
        SCOPED_TRACE(std::string(per_head ? "per-head" : "per-sequence") + " lengths, Sq " +
                     std::to_string(p.Sq) + ", " + label);
        const auto opt = options.options();
        const auto want = contiguous(c.dequantised, opt);
        result<float> r(p);
        reference::attention_with_kvcache<float>(p.q.cview(), quantized_kv{c.q8.k.cview(), c.k_scales.cview()},
                                                 quantized_kv{c.q8.v.cview(), c.v_scales.cview()},
                                                 r.out.view(), p.lens, opt, {}, r.lse.view());
        expect_same(r, want);
        result<float> rp(p);
        reference::attention_with_kvcache<float>(p.q.cview(), quantized_kv{pg.k.cview(), pg.k_scales.cview()},
                                                 quantized_kv{pg.v.cview(), pg.v_scales.cview()},
                                                 rp.out.view(), p.lens, opt, pg.table.cview(),
                                                 rp.lse.view());
        expect_same(rp, want);
      }
    }
}

TEST(ReferenceKvcache, DoubleOutputsAndBf16Queries) {
  // T = double keeps the oracle's precision; T = bf16 reads bf16 queries and rounds the result.
  const auto p = problems(true)[1];
  const auto pd = with_cache<double>(p);
  attention_options opt;
  opt.causal = true;
  tensor<double, 4> out({p.B, p.Sq, p.Hq, p.Dv});
  tensor<double, 3> lse({p.B, p.Hq, p.Sq});
  const auto qd = test::convert<double>(p.q.cview());
  reference::attention_with_kvcache<double>(qd.cview(), pd.k.cview(), pd.v.cview(), out.view(), p.lens,
                                            opt, {}, lse.view());
  const auto want = contiguous(pd, opt);
  EXPECT_TRUE(same_bits(test::convert<float>(out.cview()), want.out));
  EXPECT_TRUE(same_bits(test::convert<float>(lse.cview()), want.lse));

  const auto q16 = test::convert<bf16>(p.q.cview());
  auto p16q = pd;
  p16q.q = test::convert<float>(q16.cview());
  tensor<bf16, 4> out16({p.B, p.Sq, p.Hq, p.Dv});
  reference::attention_with_kvcache<bf16>(q16.cview(), pd.k.cview(), pd.v.cview(), out16.view(), p.lens, opt);
  EXPECT_TRUE(same_bits(out16, test::convert<bf16>(contiguous(p16q, opt).out.cview())));
}

// ---- bad input ----------------------------------------------------------------------------------

using namespace test::argument_cases;

/// A valid call: B 2, Sq 3, Hq 4, Hkv 2, D 3, Dv 2, lengths {5, 2}, lse [2, 4, 3]. Contiguous:
/// caches [2, 5, 2, D | Dv]. Paged: 4 blocks of 2 tokens, table {0, 1, 2; 3, -1, -1} (the -1
/// entries lie past what length 2 needs: never read, so valid). Int8: the same views over int8
/// storage (k and v give their extents and strides) with scales [.., .., 2].
/// kKernel: call flash_attention_with_kvcache instead of the reference (the same table holds).
template <bool kPaged, bool kInt8, bool kKernel = false>
struct kvcache_args {
  static constexpr bool kIsPaged = kPaged;
  static constexpr const char* kWhere =
      kKernel ? "flash_attention_with_kvcache" : "reference::attention_with_kvcache";
  buffer qb{kInput}, kb{kInput}, vb{kInput}, ob{test::argument_cases::kSentinel},
      lb{test::argument_cases::kSentinel}, ksb{kInput}, vsb{kInput};
  basic_buffer<std::int8_t> k8b{1.0f}, v8b{1.0f};
  option_storage os;
  std::vector<std::int32_t> lens = {5, 2}, table_storage = {0, 1, 2, 3, -1, -1};
  tensor_view<const float, 4> q = qb.in<4>({2, 3, 4, 3});
  tensor_view<const float, 4> k = kPaged ? kb.in<4>({4, 2, 2, 3}) : kb.in<4>({2, 5, 2, 3});
  tensor_view<const float, 4> v = kPaged ? vb.in<4>({4, 2, 2, 2}) : vb.in<4>({2, 5, 2, 2});
  tensor_view<const float, 3> k_scales = ksb.in<3>({k.extent(0), k.extent(1), 2});
  tensor_view<const float, 3> v_scales = vsb.in<3>({v.extent(0), v.extent(1), 2});
  tensor_view<const std::int32_t, 2> table =
      kPaged ? tensor_view<const std::int32_t, 2>(table_storage.data(), {2, 3})
             : tensor_view<const std::int32_t, 2>();
  tensor_view<float, 4> out = ob.io<4>({2, 3, 4, 2});
  tensor_view<float, 3> lse = lb.io<3>({2, 4, 3});

  void call() {
    if constexpr (kInt8) {
      auto values = [](const basic_buffer<std::int8_t>& b, const tensor_view<const float, 4>& x) {
        return tensor_view<const std::int8_t, 4>(x.data() ? b.data.data() : nullptr, x.extents(),
                                                 x.strides());
      };
      const quantized_kv kq{values(k8b, k), k_scales}, vq{values(v8b, v), v_scales};
      if constexpr (kKernel)
        flash_attention_with_kvcache(q, kq, vq, out, lens, os.opt, table, lse);
      else
        reference::attention_with_kvcache<float>(q, kq, vq, out, lens, os.opt, table, lse);
    } else if constexpr (kKernel) {
      flash_attention_with_kvcache(q, k, v, out, lens, os.opt, table, lse);
    } else {
      reference::attention_with_kvcache<float>(q, k, v, out, lens, os.opt, table, lse);
    }
  }
  bool outputs_untouched() const { return ob.untouched() && lb.untouched(); }
};

/// The cases of every layout (extents of k and v relative to the valid call's).
template <class A>
std::vector<bad_case<A>> common_cases() {
  using in4 = tensor_view<const float, 4>;
  std::vector<bad_case<A>> cases = {
      {"q innermost stride 2", "q", [](A& a) { a.q = a.qb.template in<4>({2, 3, 4, 3}, {72, 24, 6, 2}); }},
      {"q null", "q", [](A& a) { a.q = in4(nullptr, {2, 3, 4, 3}); }},
      {"Hq 3 not a multiple of Hkv 2", "q",
       [](A& a) {
         a.q = in<4>(a.qb, {2, 3, 3, 3});
         a.out = io<4>(a.ob, {2, 3, 3, 2});
         a.lse = io<3>(a.lb, {2, 3, 3});
       }},
      {"head dim 0", "q",
       [](A& a) {
         a.q = in<4>(a.qb, {2, 3, 4, 0});
         a.k = in<4>(a.kb, {a.k.extent(0), a.k.extent(1), 2, 0});
       }},
      {"k_cache head dim 4, q 3", "k_cache",
       [](A& a) { a.k = in<4>(a.kb, {a.k.extent(0), a.k.extent(1), 2, 4}); }},
      {"Hkv 0", "k_cache",
       [](A& a) {
         a.k = in<4>(a.kb, {a.k.extent(0), a.k.extent(1), 0, 3});
         a.v = in<4>(a.vb, {a.v.extent(0), a.v.extent(1), 0, 2});
       }},
      {"k_cache innermost stride 2", "k_cache",
       [](A& a) { a.k = in<4>(a.kb, a.k.extents(), {a.k.extent(1) * 12, 12, 6, 2}); }},
      {"k_cache null", "k_cache", [](A& a) { a.k = in4(nullptr, a.k.extents()); }},
      {"v_cache first extent one less", "v_cache",
       [](A& a) { a.v = in<4>(a.vb, {a.v.extent(0) - 1, a.v.extent(1), 2, 2}); }},
      {"v_cache second extent one more", "v_cache",
       [](A& a) { a.v = in<4>(a.vb, {a.v.extent(0), a.v.extent(1) + 1, 2, 2}); }},
      {"v_cache heads 1", "v_cache", [](A& a) { a.v = in<4>(a.vb, {a.v.extent(0), a.v.extent(1), 1, 2}); }},
      {"value head dim 0", "v_cache",
       [](A& a) {
         a.v = in<4>(a.vb, {a.v.extent(0), a.v.extent(1), 2, 0});
         a.out = io<4>(a.ob, {2, 3, 4, 0}, {24, 8, 2, 1});
       }},
      {"v_cache innermost stride 2", "v_cache",
       [](A& a) { a.v = in<4>(a.vb, a.v.extents(), {a.v.extent(1) * 8, 8, 4, 2}); }},
      {"v_cache null", "v_cache", [](A& a) { a.v = in4(nullptr, a.v.extents()); }},
      {"out batch 1", "out", [](A& a) { a.out = io<4>(a.ob, {1, 3, 4, 2}); }},
      {"out Sq 2", "out", [](A& a) { a.out = io<4>(a.ob, {2, 2, 4, 2}); }},
      {"out heads 2 (kv heads)", "out", [](A& a) { a.out = io<4>(a.ob, {2, 3, 2, 2}); }},
      {"out Dv 3", "out", [](A& a) { a.out = io<4>(a.ob, {2, 3, 4, 3}); }},
      {"out innermost stride 2", "out", [](A& a) { a.out = io<4>(a.ob, {2, 3, 4, 2}, {48, 16, 4, 2}); }},
      {"out head stride 0", "out", [](A& a) { a.out = io<4>(a.ob, {2, 3, 4, 2}, {24, 8, 0, 1}); }},
      {"out null", "out", [](A& a) { a.out = tensor_view<float, 4>(nullptr, {2, 3, 4, 2}); }},
      {"cache_seqlens empty", "cache_seqlens", [](A& a) { a.lens.clear(); }},
      {"cache_seqlens 1 for 2 sequences", "cache_seqlens", [](A& a) { a.lens = {5}; }},
      {"cache_seqlens 3 (neither B nor B x Hkv)", "cache_seqlens", [](A& a) { a.lens = {5, 2, 1}; }},
      {"cache_seqlens 5", "cache_seqlens", [](A& a) { a.lens = {5, 2, 1, 1, 1}; }},
      {"cache_seqlens negative", "cache_seqlens", [](A& a) { a.lens = {5, -1}; }},
      {"cache_seqlens past the capacity", "cache_seqlens", [](A& a) { a.lens = {7, 2}; }},
      {"cache_seqlens per head, one past the capacity", "cache_seqlens",
       [](A& a) { a.lens = {5, 0, 2, 7}; }},
      {"cache_seqlens per head, one negative", "cache_seqlens", [](A& a) { a.lens = {5, 0, -3, 1}; }},
      {"lse batch 1", "lse", [](A& a) { a.lse = io<3>(a.lb, {1, 4, 3}); }},
      {"lse heads 2", "lse", [](A& a) { a.lse = io<3>(a.lb, {2, 2, 3}); }},
      {"lse laid out [B, Sq, Hq]", "lse", [](A& a) { a.lse = io<3>(a.lb, {2, 3, 4}); }},
      {"lse query stride 0", "lse", [](A& a) { a.lse = io<3>(a.lb, {2, 4, 3}, {12, 3, 0}); }},
      {"lse null", "lse", [](A& a) { a.lse = tensor_view<float, 3>(nullptr, {2, 4, 3}); }},
      {"bias last extent 4 < longest length 5", "opt.bias",
       [](A& a) { a.os.opt.bias = in<4>(a.os.bias, {2, 4, 3, 4}); }},
      {"bias Sq 2", "opt.bias", [](A& a) { a.os.opt.bias = in<4>(a.os.bias, {2, 4, 2, 5}); }},
      {"bias heads 2 (kv heads)", "opt.bias", [](A& a) { a.os.opt.bias = in<4>(a.os.bias, {2, 2, 3, 5}); }},
      {"bias batch 3", "opt.bias", [](A& a) { a.os.opt.bias = in<4>(a.os.bias, {3, 4, 3, 5}); }},
      {"bias null", "opt.bias",
       [](A& a) { a.os.opt.bias = tensor_view<const float, 4>(nullptr, {2, 4, 3, 5}); }},
  };
  for (auto& c : option_cases<A>()) cases.push_back(std::move(c));
  if constexpr (!A::kIsPaged) {
    cases.push_back({"k_cache batch 1", "k_cache", [](A& a) { a.k = in<4>(a.kb, {1, 5, 2, 3}); }});
    cases.push_back({"k_cache and v_cache batch 3", "k_cache",
                     [](A& a) {
                       a.k = in<4>(a.kb, {3, 5, 2, 3});
                       a.v = in<4>(a.vb, {3, 5, 2, 2});
                     }});
  } else {
    using table = tensor_view<const std::int32_t, 2>;
    cases.push_back({"block_table batch 1", "block_table",
                     [](A& a) { a.table = table(a.table_storage.data(), {1, 3}); }});
    cases.push_back({"block_table batch 3", "block_table",
                     [](A& a) { a.table = table(a.table_storage.data(), {3, 2}); }});
    cases.push_back({"block_table null", "block_table", [](A& a) { a.table = table(nullptr, {2, 3}); }});
    cases.push_back({"a needed entry == num_blocks", "block_table", [](A& a) { a.table_storage[1] = 4; }});
    cases.push_back({"a needed entry negative", "block_table", [](A& a) { a.table_storage[3] = -1; }});
    cases.push_back({"a per-head length needs entry (1, 1), which is -1", "block_table",
                     [](A& a) { a.lens = {5, 1, 0, 3}; }});
    cases.push_back({"2 blocks of 2 hold 4 < 5 tokens", "cache_seqlens",
                     [](A& a) { a.table = table(a.table_storage.data(), {2, 2}, {3, 1}); }});
    cases.push_back({"block size 0", "k_cache",
                     [](A& a) {
                       a.k = in<4>(a.kb, {4, 0, 2, 3});
                       a.v = in<4>(a.vb, {4, 0, 2, 2});
                       a.lens = {0, 0};
                     }});
  }
  return cases;
}

/// The int8 cases: each common case with the cache names of the values, and the scales.
template <class A>
std::vector<bad_case<A>> int8_cases() {
  auto cases = common_cases<A>();
  for (auto& c : cases)
    if (c.name == "k_cache" || c.name == "v_cache") c.name += ".values";
  auto scales = [](A& a, bool key) -> tensor_view<const float, 3>& { return key ? a.k_scales : a.v_scales; };
  for (bool key : {true, false}) {
    const std::string name = key ? "k_cache.scales" : "v_cache.scales";
    for (std::size_t r = 0; r < 3; ++r)
      cases.push_back({name + " extent " + std::to_string(r) + " one more", name, [=](A& a) {
                         auto& s = scales(a, key);
                         auto e = s.extents();
                         ++e[r];
                         s = in<3>(key ? a.ksb : a.vsb, e);
                       }});
    cases.push_back({name + " null", name, [=](A& a) {
                       auto& s = scales(a, key);
                       s = tensor_view<const float, 3>(nullptr, s.extents());
                     }});
    cases.push_back({name + " absent", name, [=](A& a) { scales(a, key) = {}; }});
  }
  return cases;
}

TEST(ReferenceKvcacheArguments, ContiguousRejectsEachInvalidArgument) {
  run_table(common_cases<kvcache_args<false, false>>());
}
TEST(ReferenceKvcacheArguments, PagedRejectsEachInvalidArgument) {
  run_table(common_cases<kvcache_args<true, false>>());
}
TEST(ReferenceKvcacheArguments, Int8RejectsEachInvalidArgument) {
  run_table(int8_cases<kvcache_args<false, true>>());
}
TEST(ReferenceKvcacheArguments, PagedInt8RejectsEachInvalidArgument) {
  run_table(int8_cases<kvcache_args<true, true>>());
}

TEST(FlashKvcacheArguments, ContiguousRejectsEachInvalidArgument) {
  run_table(common_cases<kvcache_args<false, false, true>>());
}
TEST(FlashKvcacheArguments, PagedRejectsEachInvalidArgument) {
  run_table(common_cases<kvcache_args<true, false, true>>());
}
TEST(FlashKvcacheArguments, Int8RejectsEachInvalidArgument) {
  run_table(int8_cases<kvcache_args<false, true, true>>());
}
TEST(FlashKvcacheArguments, PagedInt8RejectsEachInvalidArgument) {
  run_table(int8_cases<kvcache_args<true, true, true>>());
}

template <class A>
class ReferenceKvcacheValidCalls : public ::testing::Test {};
using layouts = ::testing::Types<kvcache_args<false, false>, kvcache_args<true, false>,
                                 kvcache_args<false, true>, kvcache_args<true, true>,
                                 kvcache_args<false, false, true>, kvcache_args<true, false, true>,
                                 kvcache_args<false, true, true>, kvcache_args<true, true, true>>;
TYPED_TEST_SUITE(ReferenceKvcacheValidCalls, layouts);

TYPED_TEST(ReferenceKvcacheValidCalls, AcceptsValidEdgeCalls) {
  using A = TypeParam;
  const std::vector<std::pair<std::string, std::function<void(A&)>>> valid = {
      {"the base call (paged: -1 entries past what the lengths need)", [](A&) {}},
      {"lengths per kv head", [](A& a) { a.lens = {5, 3, 2, 0}; }},
      {"lengths per kv head for Hkv 1 (B entries either way)",
       [](A& a) {
         a.k = in<4>(a.kb, {a.k.extent(0), a.k.extent(1), 1, 3});
         a.v = in<4>(a.vb, {a.v.extent(0), a.v.extent(1), 1, 2});
         a.k_scales = in<3>(a.ksb, {a.k.extent(0), a.k.extent(1), 1});
         a.v_scales = in<3>(a.vsb, {a.v.extent(0), a.v.extent(1), 1});
       }},
      {"bias wider than the longest length",
       [](A& a) { a.os.opt.bias = in<4>(a.os.bias, {2, 4, 3, 9}); }},
      {"bias broadcast over keys", [](A& a) { a.os.opt.bias = in<4>(a.os.bias, {2, 4, 3, 1}); }},
      {"lse absent", [](A& a) { a.lse = {}; }},
      {"every length 0",
       [](A& a) {
         a.lens = {0, 0};
         std::fill(a.kb.data.begin(), a.kb.data.end(), kNaNf);
         std::fill(a.vb.data.begin(), a.vb.data.end(), kNaNf);
         std::fill(a.table_storage.begin(), a.table_storage.end(), -7);
       }},
      {"B 0",
       [](A& a) {
         a.q = in<4>(a.qb, {0, 3, 4, 3});
         a.out = io<4>(a.ob, {0, 3, 4, 2});
         a.lse = io<3>(a.lb, {0, 4, 3});
         a.lens.clear();
         if (a.table.data()) a.table = tensor_view<const std::int32_t, 2>(a.table_storage.data(), {0, 3});
         else {
           a.k = in<4>(a.kb, {0, 5, 2, 3});
           a.v = in<4>(a.vb, {0, 5, 2, 2});
           a.k_scales = in<3>(a.ksb, {0, 5, 2});
           a.v_scales = in<3>(a.vsb, {0, 5, 2});
         }
       }},
  };
  for (const auto& [label, make] : valid) {
    SCOPED_TRACE(label);
    A a;
    make(a);
    EXPECT_NO_THROW(a.call());
    if (label == "every length 0") {
      for (index_t x = 0; x < a.out.size(); ++x) EXPECT_EQ(a.ob.data[std::size_t(x)], 0.0f);
      for (index_t x = 0; x < a.lse.size(); ++x) EXPECT_EQ(a.lb.data[std::size_t(x)], -INFINITY);
    }
  }
}

}  // namespace
}  // namespace attnkit
