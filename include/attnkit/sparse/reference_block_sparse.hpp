// SPDX-License-Identifier: Apache-2.0
// reference::block_sparse_attention: the exact reference with the block layout expanded to a
// per-pair visibility, accumulating in double; the test oracle of block-sparse attention.
#pragma once

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/core/threads.hpp>
#include <attnkit/exact/arguments.hpp>
#include <attnkit/exact/options.hpp>
#include <attnkit/exact/reference.hpp>
#include <attnkit/sparse/block_layout.hpp>

namespace attnkit::reference {
namespace detail {

/// Hides from a computed row the keys of the blocks that `cells` (row block of query i, any
/// column stride) hides, then recomputes its maximum, NaN flag and sum as row::compute does:
/// the row is then the exact reference's row under the combined visibility.
template <class Acc>
void hide_blocks(row<Acc>& r, const std::uint8_t* cells, index_t stride_c, index_t block_k,
                 bool with_sinks) {
  const index_t Sk = static_cast<index_t>(r.seen.size());
  r.m = kNegInf<Acc>;
  r.has_nan = false;
  for (index_t j = 0; j < Sk; ++j) {
    if (!r.seen[j]) continue;
    if (cells[(j / block_k) * stride_c] == 0) {
      r.seen[j] = 0;
      continue;
    }
    if (std::isnan(r.z[j])) r.has_nan = true;
    else if (r.z[j] > r.m) r.m = r.z[j];
  }
  if (std::isnan(r.sink)) r.has_nan = true;
  else if (r.sink > r.m) r.m = r.sink;
  r.sum = !with_sinks || r.empty() ? Acc(0) : std::exp(r.sink - r.m);
  if (r.empty()) return;
  for (index_t j = 0; j < Sk; ++j)
    if (r.seen[j]) r.sum += std::exp(r.z[j] - r.m);
}

/// detail::forward with every row restricted to its layout blocks (the layout checked).
template <class Acc, class T, class L>
void block_sparse_forward(const attention_problem& p, const attention_options& opt,
                          const block_layout& layout, tensor_view<const T, 4> q,
                          tensor_view<const T, 4> k, tensor_view<const T, 4> v,
                          tensor_view<T, 4> out, tensor_view<L, 3> lse) {
  const bool want_lse = attnkit::detail::is_given(lse);
  const auto& m = layout.mask;
  parallel_for(p.B * p.Hq, [&](index_t task, int) {
    const index_t b = task / p.Hq, h = task % p.Hq, hk = h / (p.Hq / p.Hkv);
    const std::uint8_t* head = m.data() + (m.extent(0) == 1 ? 0 : h * m.stride(0));
    row<Acc> r(p.Sk);
    std::vector<Acc> acc(p.Dv);
    for (index_t i = 0; i < p.Sq; ++i) {
      r.compute(p, opt, q, k, b, h, i);
      hide_blocks(r, head + (i / layout.block_q) * m.stride(1), m.stride(2), layout.block_k,
                  !opt.sinks.empty());
      std::fill(acc.begin(), acc.end(), Acc(0));
      if (!r.empty())
        for (index_t j = 0; j < p.Sk; ++j) {
          if (!r.seen[j]) continue;
          const Acc w = r.weight(j);
          for (index_t d = 0; d < p.Dv; ++d) acc[d] += w * Acc(widen(v(b, j, hk, d)));
        }
      for (index_t d = 0; d < p.Dv; ++d) out(b, i, h, d) = T(acc[d]);
      if (want_lse) lse(b, h, i) = L(r.lse());
    }
  });
}

}  // namespace detail

/// block_sparse_attention as its definition states it, accumulating in double: the exact
/// reference (DESIGN 1.3) in which key j is also hidden from query i of head h unless
/// layout.mask(h or 0, i / block_q, j / block_k) != 0. Rows with no visible key: out = 0,
/// lse = -inf (the sink with sinks).
/// @pre as block_sparse_attention (checked, attnkit::error before anything is written).
/// Complexity O(B Hq Sq Sk (D + Dv)) time: every pair is computed, then hidden or kept.
template <element T, class L = float>
void block_sparse_attention(tensor_view<const std::type_identity_t<T>, 4> q,
                            tensor_view<const std::type_identity_t<T>, 4> k,
                            tensor_view<const std::type_identity_t<T>, 4> v, tensor_view<T, 4> out,
                            const block_layout& layout, const attention_options& opt = {},
                            tensor_view<L, 3> lse = {}) {
  constexpr auto where = "reference::block_sparse_attention";
  const auto p = attnkit::detail::check_attention(where, q, k, v, out, opt, lse);
  attnkit::detail::check_block_layout(where, layout, p.Hq, p.Sq, p.Sk);
  detail::block_sparse_forward<double>(p, opt, layout, q, k, v, out, lse);
}

}  // namespace attnkit::reference
