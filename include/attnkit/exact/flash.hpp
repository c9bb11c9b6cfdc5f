// SPDX-License-Identifier: Apache-2.0
// flash_attention and flash_attention_varlen: the public exact-attention forward, and the one
// place where runtime choices (head dim, score modifiers) become template arguments.
#pragma once

#include <cstdint>
#include <span>
#include <type_traits>

#include <attnkit/core/bf16.hpp>
#include <attnkit/core/fp16.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/exact/arguments.hpp>
#include <attnkit/exact/flash_forward.hpp>
#include <attnkit/exact/head_dim_dispatch.hpp>
#include <attnkit/exact/options.hpp>
#include <attnkit/exact/sequences.hpp>
#include <attnkit/simd/arch.hpp>
#include <attnkit/tile/tile_config.hpp>

namespace attnkit {

/// Element types of the exact kernels: fp32, or bf16 / fp16 storage with fp32 arithmetic.
template <class T>
concept attention_element =
    std::is_same_v<T, float> || std::is_same_v<T, bf16> || std::is_same_v<T, fp16>;

namespace detail {

/// Picks the compiled variant: head dims 64, 80, 96, 128, 192 and 256 get a kernel with the head
/// dim fixed at compile time, other dims (1..512) the general one. `vis` is the driver's key
/// visibility policy (every key for flash_attention; a block layout for block_sparse_attention).
template <class Arch, class T, class Visibility = all_keys_visible>
void dispatch_flash_forward(const attention_problem& p, const attention_options& opt,
                            std::span<const sequence<T>> seqs, const Visibility& vis = {}) {
  dispatch_head_dim(p.D, [&]<index_t kD>() {
    flash_forward<Arch, T, kD, tile::tile_config<Arch>, Visibility>(p, opt, vis).run(seqs);
  });
}

}  // namespace detail

/// Exact softmax attention, tiled (FlashAttention-2, arXiv 2307.08691): out [B, Sq, Hq, Dv] and,
/// when given, lse [B, Hq, Sq], with every option of attention_options (DESIGN 1.3).
/// @pre q [B, Sq, Hq, D], k [B, Sk, Hkv, D], v [B, Sk, Hkv, Dv] with Hq a multiple of Hkv,
///      1 <= D <= 512, unit innermost strides (any other strides: BSHD, BHSD, ...); checked,
///      throwing attnkit::error before anything is written.
/// Time O(B Hq Sq Sk (D + Dv)) over the visible pairs only; memory: per thread a few tiles
/// (about 100 KiB at D = 128), never Sq x Sk. Threads: get_num_threads(), split over
/// (batch, head, query block), heaviest first. fp32 accumulation for every T.
template <class Arch = default_arch, attention_element T>
void flash_attention(tensor_view<const std::type_identity_t<T>, 4> q,
                     tensor_view<const std::type_identity_t<T>, 4> k,
                     tensor_view<const std::type_identity_t<T>, 4> v, tensor_view<T, 4> out,
                     const attention_options& opt = {}, tensor_view<float, 3> lse = {}) {
  constexpr auto where = "flash_attention";
  const auto p = detail::check_attention(where, q, k, v, out, opt, lse);
  detail::require(p.D <= 512, where, "q", "extent(3) <= 512 (the head dim)", p.D);
  const auto seqs = detail::dense_sequences<T>(q, k, v, out, lse);
  detail::dispatch_flash_forward<Arch, T>(p, opt, seqs);
}

/// flash_attention over packed sequences: q [total_q, Hq, D], k [total_k, Hkv, D],
/// v [total_k, Hkv, Dv], out [total_q, Hq, Dv], lse [Hq, total_q]; sequence b is rows
/// [cu_seqlens_q[b], cu_seqlens_q[b+1]) of q and out and [cu_seqlens_k[b], cu_seqlens_k[b+1]) of
/// k and v (empty sequences allowed). A bias is indexed [b, h, i, j] with i, j local to the
/// sequence. Rows outside every sequence are neither read nor written.
template <class Arch = default_arch, attention_element T>
void flash_attention_varlen(tensor_view<const std::type_identity_t<T>, 3> q,
                            tensor_view<const std::type_identity_t<T>, 3> k,
                            tensor_view<const std::type_identity_t<T>, 3> v, tensor_view<T, 3> out,
                            std::span<const std::int32_t> cu_seqlens_q,
                            std::span<const std::int32_t> cu_seqlens_k,
                            const attention_options& opt = {}, tensor_view<float, 2> lse = {}) {
  constexpr auto where = "flash_attention_varlen";
  const auto p = detail::check_attention_varlen(where, q, k, v, out, cu_seqlens_q, cu_seqlens_k,
                                                opt, lse);
  detail::require(p.D <= 512, where, "q", "extent(2) <= 512 (the head dim)", p.D);
  const auto seqs = detail::varlen_sequences<T>(q, k, v, out, cu_seqlens_q, cu_seqlens_k, lse);
  detail::dispatch_flash_forward<Arch, T>(p, opt, seqs);
}

}  // namespace attnkit
