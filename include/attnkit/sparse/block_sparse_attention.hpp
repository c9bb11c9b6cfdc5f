// SPDX-License-Identifier: Apache-2.0
// block_sparse_attention: exact softmax attention over the visible blocks of a block_layout, on
// the exact driver (detail::flash_forward) with the layout as its key visibility policy.
#pragma once

#include <span>
#include <type_traits>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/exact/arguments.hpp>
#include <attnkit/exact/flash.hpp>
#include <attnkit/exact/flash_forward.hpp>
#include <attnkit/exact/options.hpp>
#include <attnkit/exact/sequences.hpp>
#include <attnkit/simd/arch.hpp>
#include <attnkit/tile/tile_config.hpp>
#include <attnkit/sparse/block_layout.hpp>
#include <attnkit/sparse/block_layout_visibility.hpp>

namespace attnkit {

/// Block-sparse attention (the block-sparse FlashAttention of arXiv 2205.14135, section 3.3):
/// exact softmax attention in which query i of head h sees key j only when the layout shows
/// block (i / block_q, j / block_k) of head h (or of its only head) AND every mask of `opt`
/// lets the pair through; the logits, sinks and lse are those of flash_attention (DESIGN 1.3).
/// A query that sees no key gets out = 0 and lse = -inf (the sink's logit with sinks), never
/// NaN; a NaN or infinity in a hidden block reaches no output.
/// @pre q [B, Sq, Hq, D], k [B, Sk, Hkv, D], v [B, Sk, Hkv, Dv], out [B, Sq, Hq, Dv], lse empty
///      or [B, Hq, Sq]; Hq a multiple of Hkv, 1 <= D <= 512, unit innermost strides (any other
///      strides); layout.block_q, block_k >= 1 and layout.mask [1 or Hq, ceil(Sq / block_q),
///      ceil(Sk / block_k)] (any strides), the same for every batch entry. Checked, throwing
///      attnkit::error before anything is written.
/// Time: the driver (query blocks of 64 on AVX2 and AVX-512, 32 on SSE; key tiles of 96)
/// skips every tile that no visible layout block overlaps and narrows the others to the keys of
/// their visible blocks, so the work is O(B Hq (D + Dv) x visited pairs) plus a look at the
/// layout cells each tile overlaps. A tile in which hidden and visible blocks still mix after
/// narrowing (blocks smaller than the tiles, or rows of one query block that see different
/// blocks) is masked pair by pair; block_q a multiple of the query block avoids the latter.
/// A 3-block band of 64 x 64 blocks at N = 4096 (4.6% of the blocks) ran in 1.3-1.5x that
/// fraction of the dense time (bench/sparse/bench_block_sparse.cpp, one thread, Zen 3).
/// Memory and threads as flash_attention; the result does not depend on the thread count.
/// fp32 accumulation for every T (fp32, bf16, fp16 storage); the tests cover fp32 and bf16.
template <class Arch = default_arch, attention_element T>
void block_sparse_attention(tensor_view<const std::type_identity_t<T>, 4> q,
                            tensor_view<const std::type_identity_t<T>, 4> k,
                            tensor_view<const std::type_identity_t<T>, 4> v,
                            tensor_view<T, 4> out, const block_layout& layout,
                            const attention_options& opt = {}, tensor_view<float, 3> lse = {}) {
  constexpr auto where = "block_sparse_attention";
  const auto p = detail::check_attention(where, q, k, v, out, opt, lse);
  detail::require(p.D <= 512, where, "q", "extent(3) <= 512 (the head dim)", p.D);
  detail::check_block_layout(where, layout, p.Hq, p.Sq, p.Sk);
  const auto seqs = detail::dense_sequences<T>(q, k, v, out, lse);
  static_assert(tile::tile_config<Arch>::kCols <= detail::block_layout_visibility::kMaxCols,
                "block_layout_visibility::apply takes panels of at most kMaxCols queries: raise "
                "kMaxCols to the tile config's kCols.");
  detail::dispatch_flash_forward<Arch, T>(p, opt, seqs, detail::block_layout_visibility(layout, p.Sk));
}

}  // namespace attnkit
