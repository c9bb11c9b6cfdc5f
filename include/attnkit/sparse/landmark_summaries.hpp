// SPDX-License-Identifier: Apache-2.0
// landmark_summaries: the mean key of every block of block_size keys, the landmark that
// landmark_attention scores each block by.
#pragma once

#include <algorithm>
#include <vector>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/core/threads.hpp>
#include <attnkit/exact/arguments.hpp>
#include <attnkit/sparse/retrieval_arguments.hpp>

namespace attnkit {
namespace detail {

/// summaries(b, n, hk, :) = the mean of k(b, j, hk, :) over the keys j of block n, for every
/// (batch, kv head); double sums. Checks nothing.
inline void landmark_summaries_unchecked(const tensor_view<const float, 4>& k,
                                         const tensor_view<float, 4>& summaries, index_t block_size) {
  const index_t B = k.extent(0), Sk = k.extent(1), Hkv = k.extent(2), D = k.extent(3);
  const index_t blocks = landmark_block_count(Sk, block_size);
  parallel_for(B * Hkv, [&](index_t task, int) {
    const index_t b = task / Hkv, hk = task % Hkv;
    std::vector<double> sum(static_cast<std::size_t>(D));
    for (index_t n = 0; n < blocks; ++n) {
      const index_t j0 = n * block_size, j1 = std::min(Sk, j0 + block_size);
      std::fill(sum.begin(), sum.end(), 0.0);
      for (index_t j = j0; j < j1; ++j) {
        const float* row = &k(b, j, hk, 0);
        for (index_t d = 0; d < D; ++d) sum[std::size_t(d)] += double(row[d]);
      }
      float* dst = &summaries(b, n, hk, 0);
      for (index_t d = 0; d < D; ++d) dst[d] = static_cast<float>(sum[std::size_t(d)] / double(j1 - j0));
    }
  });
}

}  // namespace detail

/// The landmarks of landmark_attention: summaries(b, n, hk, :) = the mean of the keys
/// [n block_size, min(Sk, (n + 1) block_size)) of kv head hk (the last block may be partial).
/// Computed once and passed as landmark_options::summaries, they spare a decode loop the pass
/// over k that landmark_attention otherwise makes per call (Landmark Attention, arXiv
/// 2305.16300, learns a landmark token per block; the mean key is its training-free stand-in).
/// @pre k [B, Sk, Hkv, D] with a unit innermost stride, block_size >= 1, summaries
///      [B, ceil(Sk / block_size), Hkv, D] with a unit innermost stride; checked, throwing
///      attnkit::error before anything is written.
/// Time O(B Sk Hkv D), sums in double, result in fp32.
inline void landmark_summaries(tensor_view<const float, 4> k, tensor_view<float, 4> summaries,
                               index_t block_size) {
  constexpr auto where = "landmark_summaries";
  detail::check_view(where, "k", k, true);
  detail::require(block_size >= 1, where, "block_size", ">= 1", block_size);
  detail::check_view(where, "summaries", summaries, true);
  detail::check_extent(where, "summaries", summaries, 0, k.extent(0), "the batch of k");
  detail::check_extent(where, "summaries", summaries, 1,
                       detail::landmark_block_count(k.extent(1), block_size),
                       "ceil(Sk / block_size), the key blocks");
  detail::check_extent(where, "summaries", summaries, 2, k.extent(2), "the kv heads of k");
  detail::check_extent(where, "summaries", summaries, 3, k.extent(3), "the head dim of k");
  detail::landmark_summaries_unchecked(k, summaries, block_size);
}

}  // namespace attnkit
