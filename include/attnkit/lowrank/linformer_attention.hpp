// SPDX-License-Identifier: Apache-2.0
// linformer_attention: exact attention over keys and values projected along the sequence axis
// (Linformer).
#pragma once

#include <algorithm>
#include <vector>

#include <attnkit/core/aligned_buffer.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/core/threads.hpp>
#include <attnkit/exact/flash.hpp>
#include <attnkit/lowrank/arguments.hpp>
#include <attnkit/lowrank/linformer_options.hpp>
#include <attnkit/simd/arch.hpp>
#include <attnkit/tile/gemm_tile.hpp>
#include <attnkit/tile/tile_config.hpp>

namespace attnkit {
namespace detail {

/// y [B, P, H, Dx] = e [P, S] x [B, S, H, Dx] for every batch entry and head (one task each):
/// the head's rows of x packed into an aligned [S, Dx rounded up to the tile width] panel, then
/// one tile GEMM, E read in place as the broadcast operand.
template <class Arch>
void project_sequence(tensor_view<const float, 2> e, tensor_view<const float, 4> x,
                      tensor_view<float, 4> y) {
  using config = tile::tile_config<Arch>;
  const index_t B = x.extent(0), S = x.extent(1), H = x.extent(2), Dx = x.extent(3),
                P = e.extent(0), Dpad = (Dx + config::kCols - 1) / config::kCols * config::kCols;
  std::vector<aligned_buffer<float>> scratch(std::size_t(std::max(1, get_num_threads())));
  parallel_for(B * H, [&](index_t task, int slot) {
    const index_t b = task / H, h = task % H;
    aligned_buffer<float>& s = scratch[std::size_t(slot)];
    if (s.size() == 0) s = aligned_buffer<float>(std::size_t((S + P) * Dpad));
    float* panel = s.data();           // X: [S x Dpad], zero past Dx
    float* product = panel + S * Dpad;  // E X: [P x Dpad]
    for (index_t j = 0; j < S; ++j) {
      std::copy_n(&x(b, j, h, 0), Dx, panel + j * Dpad);
      std::fill(panel + j * Dpad + Dx, panel + (j + 1) * Dpad, 0.0f);
    }
    if (S == 0) std::fill_n(product, P * Dpad, 0.0f);
    else
      tile::gemm<Arch, config::kRows, config::kVecs>(P, Dpad, S, tile::a_operand{e.data(), e.stride(0), 1},
                                                     panel, Dpad, product, Dpad, nullptr);
    for (index_t r = 0; r < P; ++r) std::copy_n(product + r * Dpad, Dx, &y(b, r, h, 0));
  });
}

}  // namespace detail

/// Linformer attention (Wang et al., arXiv 2006.04768): out = softmax(s Q (E K)ᵀ) (F V) per batch
/// entry and head, with the sequence projections E, F [k_proj, Sk] given by the caller and shared
/// by every batch entry and head (the paper's "layerwise" sharing; call once per head with
/// sliced views for per-head projections). E K and F V are formed in fp32 (tile GEMMs), then
/// flash_attention (not causal, scale s = opt.scale or 1/sqrt(D)) attends to the k_proj
/// projected keys. E = F = the identity (k_proj = Sk) gives exact attention.
/// Linformer is not causal (a projected key mixes every position): opt.causal is rejected.
/// @pre q [B, Sq, Hq, D], k [B, Sk, Hkv, D], v [B, Sk, Hkv, Dv], out [B, Sq, Hq, Dv], Hq a
///      multiple of Hkv, e and f [k_proj, Sk] with k_proj >= 1, unit innermost strides (others
///      free), D <= 512. Checked, throwing attnkit::error before anything is written.
/// Complexity: O(B Hkv k_proj Sk (D + Dv)) for the projections, O(B Hq Sq k_proj (D + Dv)) for
/// the attention. Memory: B k_proj Hkv (D + Dv) floats. Threads: get_num_threads().
template <class Arch = default_arch>
void linformer_attention(tensor_view<const float, 4> q, tensor_view<const float, 4> k,
                         tensor_view<const float, 4> v, tensor_view<const float, 2> e,
                         tensor_view<const float, 2> f, tensor_view<float, 4> out,
                         const linformer_options& opt = {}) {
  constexpr auto where = "linformer_attention";
  const auto p = detail::check_linformer(where, q, k, v, e, f, out, opt);
  detail::require(p.D <= 512, where, "q", "extent(3) <= 512 (the head dim)", p.D);
  if (p.B == 0 || p.Sq == 0) return;
  const index_t P = e.extent(0);
  std::vector<float> kp(std::size_t(p.B * P * p.Hkv * p.D)), vp(std::size_t(p.B * P * p.Hkv * p.Dv));
  const tensor_view<float, 4> kv(kp.data(), {p.B, P, p.Hkv, p.D}), vv(vp.data(), {p.B, P, p.Hkv, p.Dv});
  detail::project_sequence<Arch>(e, k, kv);  // E K: [B, k_proj, Hkv, D]
  detail::project_sequence<Arch>(f, v, vv);  // F V: [B, k_proj, Hkv, Dv]
  attention_options exact;
  exact.scale = p.scale;
  flash_attention<Arch, float>(q, kv, vv, out, exact);
}

}  // namespace attnkit
