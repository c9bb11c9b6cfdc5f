// SPDX-License-Identifier: Apache-2.0
// detail::plan_query_blocks: the work list of the exact kernels, heaviest query blocks first.
#pragma once

#include <algorithm>
#include <vector>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/exact/options.hpp>
#include <attnkit/mask/key_range.hpp>

namespace attnkit::detail {

/// Queries [i0, i1) of sequence `seq`, with an estimate of their cost (visible query-key pairs
/// of the key range they visit).
struct query_block {
  index_t seq = 0, i0 = 0, i1 = 0, work = 0;
};

/// The query blocks of every sequence (lengths Sq[s], Sk[s]), sorted by decreasing work.
/// Handing the heaviest out first makes dynamic scheduling finish balanced: under a causal mask
/// the bottom blocks cost Sk/block_q times the top ones, and taken last they would leave one
/// thread working alone.
template <class Lengths>
std::vector<query_block> plan_query_blocks(const Lengths& lengths, const attention_options& opt,
                                           index_t block_q) {
  std::vector<query_block> blocks;
  for (index_t s = 0; s < static_cast<index_t>(lengths.size()); ++s) {
    const auto [Sq, Sk] = lengths[static_cast<std::size_t>(s)];
    const mask::key_range range(opt, Sq, Sk);
    for (index_t i0 = 0; i0 < Sq; i0 += block_q) {
      const index_t i1 = std::min(i0 + block_q, Sq);
      const index_t keys = std::max<index_t>(range.block_end(i1) - range.block_begin(i0), 0);
      blocks.push_back({s, i0, i1, keys * (i1 - i0)});
    }
  }
  std::stable_sort(blocks.begin(), blocks.end(),
                   [](const query_block& x, const query_block& y) { return x.work > y.work; });
  return blocks;
}

}  // namespace attnkit::detail
