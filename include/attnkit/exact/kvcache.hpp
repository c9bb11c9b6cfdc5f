// SPDX-License-Identifier: Apache-2.0
// flash_attention_with_kvcache: attention of new queries over a contiguous or paged KV cache of
// float, bf16, fp16 or int8 elements (decoding, speculative decoding).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <type_traits>

#include <attnkit/core/bf16.hpp>
#include <attnkit/core/fp16.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/exact/arguments.hpp>
#include <attnkit/exact/cache_rows.hpp>
#include <attnkit/exact/decode_forward.hpp>
#include <attnkit/exact/flash.hpp>
#include <attnkit/exact/options.hpp>
#include <attnkit/exact/quantized_kv.hpp>
#include <attnkit/simd/arch.hpp>

namespace attnkit {

namespace detail {

/// The body of both public overloads: check, find the rows, run the decode kernel.
template <class Arch, class T, class Cache>
void flash_with_kvcache(const tensor_view<const T, 4>& q, const Cache& k_cache,
                        const Cache& v_cache, const tensor_view<T, 4>& out,
                        std::span<const std::int32_t> cache_seqlens, const attention_options& opt,
                        const tensor_view<const std::int32_t, 2>& block_table,
                        const tensor_view<float, 3>& lse,
                        const tensor_view<float, 3>& attention_sum) {
  constexpr std::string_view kWhere = "flash_attention_with_kvcache";
  const auto p = check_attention_kvcache(kWhere, q, k_cache, v_cache, out, cache_seqlens, opt,
                                         block_table, lse);
  check_attention_sum(kWhere, attention_sum, p);
  const auto rows = make_cache_rows(k_cache, v_cache, block_table);
  decode_forward<Arch, T, typename decltype(rows)::element>(p, opt, cache_seqlens, rows)
      .run(q, out, lse, attention_sum);
}

}  // namespace detail

/// Attention of q [B, Sq, Hq, D] over the first cache_seqlens tokens of a KV cache: out
/// [B, Sq, Hq, Dv] and, when given, lse [B, Hq, Sq], with every option of attention_options
/// (DESIGN 1.3; the queries are aligned to the cache length, Sk = the length).
/// - Contiguous cache: k_cache [B, S_cache, Hkv, D], v_cache [B, S_cache, Hkv, Dv].
/// - Paged cache (block_table [B, max_blocks] given): k_cache [num_blocks, block_size, Hkv, D];
///   token s of sequence b is row s % block_size of block block_table(b, s / block_size).
/// - cache_seqlens: B lengths, or B x Hkv (row-major) when kv heads hold different numbers of
///   tokens (eviction per head); 0 gives out = 0 and lse = -inf (or the sink).
/// Cache elements: float, bf16, fp16 (this overload), int8 with scales (the quantized_kv one).
/// Memory past each length and pages no length needs are never read.
/// Each K and V row is read once for all the query heads of its group; when the (sequence,
/// kv head) pairs are fewer than the threads can share, the keys are split across threads and
/// the partial results merged through the lse (flash-decoding). Checked, throwing
/// attnkit::error before anything is written.
///
/// attention_sum [B, Hkv, S] (S >= the longest length, unit innermost stride), when given,
/// receives the statistics of eviction policies (attnkit::kv::token_stats) from the same pass:
/// attention_sum(b, hk, s) += the softmax probability of position s (the sink, if any, in the
/// denominator), summed over the query heads of kv head hk's group and the Sq queries, for
/// every position s < the head's length; positions no query sees add 0, entries past each
/// length are not touched. Zero it before a call for the latest step's attention (TOVA), keep
/// adding for the attention accumulated over steps (H2O). It costs one extra pass over the
/// logits (not the cache) and a buffer of Hkv x G x Sq floats per cached position.
template <class Arch = default_arch, attention_element T, attention_element C>
void flash_attention_with_kvcache(tensor_view<const std::type_identity_t<T>, 4> q,
                                  tensor_view<const C, 4> k_cache, tensor_view<const C, 4> v_cache,
                                  tensor_view<T, 4> out, std::span<const std::int32_t> cache_seqlens,
                                  const attention_options& opt = {},
                                  tensor_view<const std::int32_t, 2> block_table = {},
                                  tensor_view<float, 3> lse = {},
                                  tensor_view<float, 3> attention_sum = {}) {
  detail::flash_with_kvcache<Arch, T>(q, k_cache, v_cache, out, cache_seqlens, opt, block_table,
                                      lse, attention_sum);
}

/// flash_attention_with_kvcache over int8 caches with one scale per token and head.
template <class Arch = default_arch, attention_element T>
void flash_attention_with_kvcache(tensor_view<const std::type_identity_t<T>, 4> q,
                                  const quantized_kv& k_cache, const quantized_kv& v_cache,
                                  tensor_view<T, 4> out, std::span<const std::int32_t> cache_seqlens,
                                  const attention_options& opt = {},
                                  tensor_view<const std::int32_t, 2> block_table = {},
                                  tensor_view<float, 3> lse = {},
                                  tensor_view<float, 3> attention_sum = {}) {
  detail::flash_with_kvcache<Arch, T>(q, k_cache, v_cache, out, cache_seqlens, opt, block_table,
                                      lse, attention_sum);
}

}  // namespace attnkit
