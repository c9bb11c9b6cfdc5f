// SPDX-License-Identifier: Apache-2.0
// detail::plan_tasks: the work list of the exact kernels, ordered for balance and cache reuse.
#pragma once

#include <algorithm>
#include <numeric>
#include <vector>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/exact/options.hpp>
#include <attnkit/mask/key_range.hpp>

namespace attnkit::detail {

/// Queries [i0, i1) of head h of sequence seq.
struct attention_task {
  index_t seq = 0, h = 0, i0 = 0, i1 = 0;
};

/// The tasks of a call over sequences of lengths (Sq[s], Sk[s]), Hq heads and query blocks of
/// `block_q`, in the order threads should take them:
/// - sequences by decreasing work, so a long sequence does not start last;
/// - within a sequence, head by head, so consecutive tasks read the same K and V rows, which
///   are still in the shared cache from the previous task (1-4% at N = 2048 on Zen 3);
/// - within a head, query blocks by decreasing work (the visible key range), so under a causal
///   mask the light top blocks come last and dynamic scheduling ends balanced instead of one
///   thread finishing the heaviest block alone.
template <class Lengths>
std::vector<attention_task> plan_tasks(const Lengths& lengths, index_t Hq,
                                       const attention_options& opt, index_t block_q) {
  struct block {
    index_t i0, i1, work;
  };
  std::vector<std::vector<block>> blocks(lengths.size());
  std::vector<index_t> total(lengths.size(), 0);
  for (std::size_t s = 0; s < lengths.size(); ++s) {
    const auto [Sq, Sk] = lengths[s];
    const mask::key_range range(opt, Sq, Sk);
    for (index_t i0 = 0; i0 < Sq; i0 += block_q) {
      const index_t i1 = std::min(i0 + block_q, Sq);
      const index_t keys = std::max<index_t>(range.block_end(i1) - range.block_begin(i0), 0);
      blocks[s].push_back({i0, i1, keys * (i1 - i0)});
      total[s] += keys * (i1 - i0);
    }
    std::stable_sort(blocks[s].begin(), blocks[s].end(),
                     [](const block& x, const block& y) { return x.work > y.work; });
  }
  std::vector<std::size_t> order(lengths.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t x, std::size_t y) { return total[x] > total[y]; });
  std::vector<attention_task> tasks;
  for (std::size_t s : order)
    for (index_t h = 0; h < Hq; ++h)
      for (const block& b : blocks[s]) tasks.push_back({static_cast<index_t>(s), h, b.i0, b.i1});
  return tasks;
}

}  // namespace attnkit::detail
