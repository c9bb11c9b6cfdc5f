// SPDX-License-Identifier: Apache-2.0
// Test support for flash_attention_with_kvcache: random caches with NaN past every length, paged
// copies with shuffled block tables, quantised copies, and the oracle on the valid prefixes.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include <attnkit/exact/arguments.hpp>
#include <attnkit/exact/quantized_kv.hpp>
#include <attnkit/exact/reference.hpp>
#include <attnkit/kv/quantize.hpp>

#include "exact/flash_support.hpp"
#include "exact/reference_support.hpp"
#include "support/random.hpp"
#include "support/tensor.hpp"

namespace attnkit::test {

inline constexpr float kGarbage = std::numeric_limits<float>::quiet_NaN();

/// q [B, Sq, Hq, D] and a contiguous cache [B, S_cache, Hkv, D] whose rows past each (sequence,
/// head) length hold NaN; lens has B or B x Hkv entries.
struct cache_problem {
  tensor<float, 4> q, k, v;
  std::vector<std::int32_t> lens;

  index_t len(index_t b, index_t hk) const {
    const auto Hkv = k.extents()[2];
    return lens.size() == std::size_t(k.extents()[0]) ? lens[std::size_t(b)]
                                                      : lens[std::size_t(b * Hkv + hk)];
  }
};

inline cache_problem random_cache(const dims& n, index_t S_cache, std::vector<std::int32_t> lens,
                                  std::uint64_t seed) {
  cache_problem p{random_tensor<float, 4>({n.B, n.Sq, n.Hq, n.D}, seed),
                  random_tensor<float, 4>({n.B, S_cache, n.Hkv, n.D}, seed + 1),
                  random_tensor<float, 4>({n.B, S_cache, n.Hkv, n.Dv}, seed + 2), std::move(lens)};
  for (index_t b = 0; b < n.B; ++b)
    for (index_t hk = 0; hk < n.Hkv; ++hk)
      for (index_t s = p.len(b, hk); s < S_cache; ++s) {
        for (index_t d = 0; d < n.D; ++d) p.k(b, s, hk, d) = kGarbage;
        for (index_t d = 0; d < n.Dv; ++d) p.v(b, s, hk, d) = kGarbage;
      }
  return p;
}

/// A paged copy of a contiguous cache: blocks of `block` tokens in a pool of shuffled order
/// with NaN in the unused pages and in every row past the lengths.
template <class C>
struct paged_cache {
  tensor<C, 4> k, v;
  tensor<std::int32_t, 2> table;
};

template <class C>
paged_cache<C> make_paged(const tensor<C, 4>& k, const tensor<C, 4>& v, index_t block,
                          std::uint64_t seed) {
  const auto e = k.extents();
  const index_t B = e[0], S = e[1], Hkv = e[2], D = e[3], Dv = v.extents()[3];
  const index_t per_seq = (S + block - 1) / block, spare = 3;
  const index_t blocks = B * per_seq + spare;
  std::vector<std::int32_t> order(static_cast<std::size_t>(blocks));
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), std::mt19937_64(seed));
  paged_cache<C> p{tensor<C, 4>({blocks, block, Hkv, D}, C(kGarbage)),
                   tensor<C, 4>({blocks, block, Hkv, Dv}, C(kGarbage)),
                   tensor<std::int32_t, 2>({B, per_seq + 1}, -1)};
  for (index_t b = 0; b < B; ++b)
    for (index_t t = 0; t < per_seq; ++t) {
      const std::int32_t x = order[std::size_t(b * per_seq + t)];
      p.table(b, t) = x;
      for (index_t r = 0; r < block && t * block + r < S; ++r)
        for (index_t h = 0; h < Hkv; ++h) {
          for (index_t d = 0; d < D; ++d) p.k(x, r, h, d) = k(b, t * block + r, h, d);
          for (index_t d = 0; d < Dv; ++d) p.v(x, r, h, d) = v(b, t * block + r, h, d);
        }
    }
  return p;
}

/// An int8 copy of a float cache, quantised as kv_cache does (detail::quantize_int8_row); the
/// NaN rows past the lengths get a NaN scale, so a kernel that read them would show it.
struct int8_cache {
  tensor<std::int8_t, 4> values;
  tensor<float, 3> scales;
  quantized_kv view() const { return {values.cview(), scales.cview()}; }
  /// The values the cache stands for, as float.
  tensor<float, 4> dequantized() const {
    const auto e = values.extents();
    tensor<float, 4> x(e);
    for (index_t a = 0; a < e[0]; ++a)
      for (index_t s = 0; s < e[1]; ++s)
        for (index_t h = 0; h < e[2]; ++h)
          for (index_t d = 0; d < e[3]; ++d) x(a, s, h, d) = scales(a, s, h) * float(values(a, s, h, d));
    return x;
  }
};

inline int8_cache quantize(const tensor<float, 4>& x) {
  const auto e = x.extents();
  int8_cache q{tensor<std::int8_t, 4>(e), tensor<float, 3>({e[0], e[1], e[2]})};
  for (index_t a = 0; a < e[0]; ++a)
    for (index_t s = 0; s < e[1]; ++s)
      for (index_t h = 0; h < e[2]; ++h)
        q.scales(a, s, h) = std::isnan(x(a, s, h, 0))
                                ? kGarbage
                                : detail::quantize_int8_row(
                                      e[3], [&](index_t d) { return x(a, s, h, d); }, &q.values(a, s, h, 0));
  return q;
}

/// The oracle of a decode call: for each (sequence, kv head) the valid prefix as a dense
/// batch-1 problem of the group's query heads, through the double reference and the naive float
/// formula. k, v: the values the cache stands for (contiguous).
inline dense_oracle kvcache_oracle(const tensor<float, 4>& q, const tensor<float, 4>& k,
                                   const tensor<float, 4>& v, const cache_problem& shape,
                                   const owned_options& o) {
  const auto e = q.extents();
  const index_t B = e[0], Sq = e[1], Hq = e[2], D = e[3], Hkv = k.extents()[2];
  const index_t Dv = v.extents()[3], G = Hq / Hkv;
  dense_oracle out{tensor<double, 4>({B, Sq, Hq, Dv}), tensor<double, 3>({B, Hq, Sq}),
                   tensor<float, 4>({B, Sq, Hq, Dv}), tensor<float, 3>({B, Hq, Sq})};
  for (index_t b = 0; b < B; ++b)
    for (index_t hk = 0; hk < Hkv; ++hk) {
      const index_t L = shape.len(b, hk);
      tensor<float, 4> qs({1, Sq, G, D}), ks({1, L, 1, D}), vs({1, L, 1, Dv});
      for_each_index(qs.extents(), [&](const auto& i) { qs(0, i[1], i[2], i[3]) = q(b, i[1], hk * G + i[2], i[3]); });
      for_each_index(ks.extents(), [&](const auto& i) { ks(0, i[1], 0, i[3]) = k(b, i[1], hk, i[3]); });
      for_each_index(vs.extents(), [&](const auto& i) { vs(0, i[1], 0, i[3]) = v(b, i[1], hk, i[3]); });
      owned_options g = o;
      g.alibi_slopes.clear();
      g.sinks.clear();
      for (index_t h = hk * G; h < (hk + 1) * G; ++h) {
        if (!o.alibi_slopes.empty()) g.alibi_slopes.push_back(o.alibi_slopes[std::size_t(h)]);
        if (!o.sinks.empty()) g.sinks.push_back(o.sinks[std::size_t(h)]);
      }
      if (o.bias) {
        tensor<float, 4> bs({1, G, Sq, L});
        for_each_index(bs.extents(), [&](const auto& i) {
          bs(0, i[1], i[2], i[3]) = (*o.bias)(b, hk * G + i[1], i[2], i[3]);
        });
        g.bias = bs;
      }
      const auto part = make_oracle(qs, ks, vs, g.options());
      for (index_t i = 0; i < Sq; ++i)
        for (index_t h = 0; h < G; ++h) {
          out.lse(b, hk * G + h, i) = part.lse(0, h, i);
          out.naive_lse(b, hk * G + h, i) = part.naive_lse(0, h, i);
          for (index_t d = 0; d < Dv; ++d) {
            out.out(b, i, hk * G + h, d) = part.out(0, i, h, d);
            out.naive_out(b, i, hk * G + h, d) = part.naive_out(0, i, h, d);
          }
        }
    }
  return out;
}

}  // namespace attnkit::test
