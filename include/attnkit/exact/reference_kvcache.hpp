// SPDX-License-Identifier: Apache-2.0
// reference::attention_with_kvcache: the double-precision oracle of flash_attention_with_kvcache
// (contiguous or paged caches of float, bf16, fp16 or int8, lengths per sequence or per kv head).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <type_traits>
#include <vector>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/core/threads.hpp>
#include <attnkit/exact/arguments.hpp>
#include <attnkit/exact/options.hpp>
#include <attnkit/exact/quantized_kv.hpp>
#include <attnkit/exact/reference.hpp>

namespace attnkit::reference {
namespace detail {

/// A K or V cache as the reference reads it: element (x, s, h, d) of `values`, times
/// scales(x, s, h) for int8, in double (exact for every element type).
template <class C>
struct cache_view {
  tensor_view<const C, 4> values;
  tensor_view<const float, 3> scales;  ///< int8 only

  double operator()(index_t x, index_t s, index_t h, index_t d) const {
    const double value = double(values(x, s, h, d));
    if constexpr (std::is_same_v<C, std::int8_t>) return double(scales(x, s, h)) * value;
    else return value;
  }
};

template <class C>
cache_view<C> as_cache_view(const tensor_view<const C, 4>& cache) {
  return {cache, {}};
}
inline cache_view<std::int8_t> as_cache_view(const quantized_kv& cache) {
  return {cache.values, cache.scales};
}

/// The first `len` tokens of kv head hk of sequence b, as dense rows [len, dim] of double: from
/// batch entry b of a contiguous cache, or through block_table(b, s / block_size) of a paged one.
/// Reads nothing past the length.
template <class C>
void gather_prefix(const cache_view<C>& cache, const tensor_view<const std::int32_t, 2>& table,
                   bool paged, index_t b, index_t hk, index_t len, std::vector<double>& rows) {
  const index_t dim = cache.values.extent(3), block = cache.values.extent(1);
  rows.resize(static_cast<std::size_t>(len * dim));
  for (index_t s = 0; s < len; ++s) {
    const index_t x = paged ? table(b, s / block) : b, row = paged ? s % block : s;
    for (index_t d = 0; d < dim; ++d) rows[static_cast<std::size_t>(s * dim + d)] = cache(x, row, hk, d);
  }
}

/// The decode attention of a checked problem: for each (sequence b, kv head hk) its query heads
/// attend, through forward(), to the gathered prefix of length len(b, hk) as a dense problem
/// with Sk = len, so causal and window offsets align each head to its own length.
template <class T, class C, class L>
void forward_kvcache(const attention_problem& p, const attention_options& opt,
                     tensor_view<const T, 4> q, const cache_view<C>& k, const cache_view<C>& v,
                     tensor_view<T, 4> out, std::span<const std::int32_t> cache_seqlens,
                     tensor_view<const std::int32_t, 2> block_table, tensor_view<L, 3> lse,
                     tensor_view<L, 3> attention_sum) {
  const index_t G = p.Hq / p.Hkv;
  const bool paged = attnkit::detail::is_given(block_table);
  const bool want_lse = attnkit::detail::is_given(lse);
  parallel_for(p.B * p.Hkv, [&](index_t task, int) {
    const index_t b = task / p.Hkv, hk = task % p.Hkv, h0 = hk * G;
    const index_t len = attnkit::detail::cache_length(cache_seqlens, p.B, p.Hkv, b, hk);
    // The group's problem: q [1, Sq, G, D], k [1, len, 1, D], v [1, len, 1, Dv].
    attention_problem s = p;
    s.B = 1;
    s.Sk = len;
    s.Hq = G;
    s.Hkv = 1;
    if (!p.bias.empty())
      s.bias = tensor_view<const float, 4>(p.bias.data() + b * p.bias.stride(0) + h0 * p.bias.stride(1),
                                           {1, G, p.Sq, len},
                                           {0, p.bias.stride(1), p.bias.stride(2), p.bias.stride(3)});
    attention_options o = opt;
    if (!opt.alibi_slopes.empty()) o.alibi_slopes = opt.alibi_slopes.subspan(std::size_t(h0), std::size_t(G));
    if (!opt.sinks.empty()) o.sinks = opt.sinks.subspan(std::size_t(h0), std::size_t(G));

    std::vector<double> qd(static_cast<std::size_t>(p.Sq * G * p.D)), kd, vd,
        od(static_cast<std::size_t>(p.Sq * G * p.Dv)), ld(static_cast<std::size_t>(G * p.Sq));
    for (index_t i = 0; i < p.Sq; ++i)
      for (index_t g = 0; g < G; ++g)
        for (index_t d = 0; d < p.D; ++d)
          qd[static_cast<std::size_t>((i * G + g) * p.D + d)] = double(widen(q(b, i, h0 + g, d)));
    gather_prefix(k, block_table, paged, b, hk, len, kd);
    gather_prefix(v, block_table, paged, b, hk, len, vd);
    const tensor_view<const double, 4> qg(qd.data(), {1, p.Sq, G, p.D});
    const tensor_view<const double, 4> kg(kd.data(), {1, len, 1, p.D});
    forward<double>(s, o, qg, kg, tensor_view<const double, 4>(vd.data(), {1, len, 1, p.Dv}),
                    tensor_view<double, 4>(od.data(), {1, p.Sq, G, p.Dv}),
                    tensor_view<double, 3>(ld.data(), {1, G, p.Sq}));
    if (attnkit::detail::is_given(attention_sum)) {  // the probabilities, summed over the group
      std::vector<double> sums(static_cast<std::size_t>(len), 0.0);
      row<double> r(len);
      for (index_t i = 0; i < p.Sq; ++i)
        for (index_t g = 0; g < G; ++g) {
          r.compute(s, o, qg, kg, 0, g, i);
          if (r.empty()) continue;
          for (index_t j = 0; j < len; ++j)
            if (r.seen[j]) sums[static_cast<std::size_t>(j)] += r.weight(j);
        }
      for (index_t j = 0; j < len; ++j)
        attention_sum(b, hk, j) = L(double(attention_sum(b, hk, j)) + sums[static_cast<std::size_t>(j)]);
    }
    for (index_t i = 0; i < p.Sq; ++i)
      for (index_t g = 0; g < G; ++g) {
        for (index_t d = 0; d < p.Dv; ++d)
          out(b, i, h0 + g, d) = T(od[static_cast<std::size_t>((i * G + g) * p.Dv + d)]);
        if (want_lse) lse(b, h0 + g, i) = L(ld[static_cast<std::size_t>(g * p.Sq + i)]);
      }
  });
}

/// Checks a call (Cache: a view of float, bf16, fp16 or double, or quantized_kv) and runs it.
template <class T, class Cache, class L>
void attention_with_kvcache(tensor_view<const T, 4> q, const Cache& k_cache, const Cache& v_cache,
                            tensor_view<T, 4> out, std::span<const std::int32_t> cache_seqlens,
                            const attention_options& opt,
                            tensor_view<const std::int32_t, 2> block_table, tensor_view<L, 3> lse,
                            tensor_view<L, 3> attention_sum) {
  constexpr std::string_view kWhere = "reference::attention_with_kvcache";
  const auto p = attnkit::detail::check_attention_kvcache(kWhere, q, k_cache, v_cache, out,
                                                          cache_seqlens, opt, block_table, lse);
  attnkit::detail::check_attention_sum(kWhere, attention_sum, p);
  forward_kvcache(p, opt, q, as_cache_view(k_cache), as_cache_view(v_cache), out, cache_seqlens,
                  block_table, lse, attention_sum);
}

}  // namespace detail

/// Attention of q [B, Sq, Hq, D] over the first cache_seqlens tokens of a KV cache, as DESIGN 1.3
/// states it with Sk = the length (so bottom_right aligns the last query with the last cached
/// token), accumulating in double: out [B, Sq, Hq, Dv] and, when given, lse [B, Hq, Sq]. The
/// oracle of flash_attention_with_kvcache.
/// - Contiguous cache: k_cache [B, S_cache, Hkv, D], v_cache [B, S_cache, Hkv, Dv].
/// - Paged cache (block_table [B, max_blocks] given): k_cache [num_blocks, block_size, Hkv, D],
///   v_cache [num_blocks, block_size, Hkv, Dv]; token s of sequence b is row s % block_size of
///   block block_table(b, s / block_size).
/// - cache_seqlens: B lengths (one per sequence), or B x Hkv, row-major [B][Hkv], when kv heads
///   hold different numbers of tokens; the query heads of kv head hk use its length, and their
///   causal and window offsets o = len - Sq follow it. Each length in [0, capacity] (S_cache, or
///   max_blocks x block_size); a length of 0 gives out = 0, lse = -inf (or the sink).
/// - opt.bias: [B, Hq, Sq, S] with S >= the longest length (S_cache fits every call), indexed by
///   cache position j < len; extent-1 dimensions broadcast.
/// - attention_sum [B, Hkv, S] (S >= the longest length), when given: attention_sum(b, hk, s) +=
///   the softmax weight of position s summed over the query heads of kv head hk and the Sq
///   queries, for s < the head's length (as flash_attention_with_kvcache states it).
/// Memory past each length, table entries and pages no length needs, and bias columns past each
/// length are never read (DESIGN 1.3 rule 6). C = double gives an exact oracle cache.
/// @pre unit innermost strides for q, the caches and out; checked (shapes, strides, head counts,
/// options, lengths, block table entries), throwing attnkit::error before anything is written.
/// Complexity O(B Hq Sq len (D + Dv)) time; O(Sq G (D + Dv) + len (D + Dv)) memory per thread
/// (the valid prefix of one kv head is copied into double rows).
template <element T, element C, class L = float>
void attention_with_kvcache(tensor_view<const std::type_identity_t<T>, 4> q,
                            tensor_view<const C, 4> k_cache, tensor_view<const C, 4> v_cache,
                            tensor_view<T, 4> out, std::span<const std::int32_t> cache_seqlens,
                            const attention_options& opt = {},
                            tensor_view<const std::int32_t, 2> block_table = {},
                            tensor_view<L, 3> lse = {}, tensor_view<L, 3> attention_sum = {}) {
  detail::attention_with_kvcache<T>(q, k_cache, v_cache, out, cache_seqlens, opt, block_table, lse,
                                    attention_sum);
}

/// attention_with_kvcache over int8 caches: element (x, s, h, d) stands for
/// scales(x, s, h) * values(x, s, h, d), dequantised exactly in double.
template <element T, class L = float>
void attention_with_kvcache(tensor_view<const std::type_identity_t<T>, 4> q,
                            const quantized_kv& k_cache, const quantized_kv& v_cache,
                            tensor_view<T, 4> out, std::span<const std::int32_t> cache_seqlens,
                            const attention_options& opt = {},
                            tensor_view<const std::int32_t, 2> block_table = {},
                            tensor_view<L, 3> lse = {}, tensor_view<L, 3> attention_sum = {}) {
  detail::attention_with_kvcache<T>(q, k_cache, v_cache, out, cache_seqlens, opt, block_table, lse,
                                    attention_sum);
}

}  // namespace attnkit::reference
