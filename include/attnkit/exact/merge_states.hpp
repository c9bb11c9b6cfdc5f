// SPDX-License-Identifier: Apache-2.0
// merge_attention_states: the combine of partial attention results computed over disjoint key
// ranges (split-KV decoding, sequence parallelism, cascade attention) through their lse.
#pragma once

#include <algorithm>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/core/threads.hpp>
#include <attnkit/exact/arguments.hpp>
#include <attnkit/exact/flash.hpp>  // attention_element
#include <attnkit/exact/merge_row.hpp>
#include <attnkit/simd/arch.hpp>

namespace attnkit {

/// Merges n partial attention states into one (the attention-state merge of flash-decoding and
/// FlashInfer, arXiv 2501.01005): for each row (b, i, h), with lse_s = partial_lse(s, b, h, i),
///   lse = log(sum_s exp(lse_s)),  out = sum_s exp(lse_s - lse) partial_out(s, b, i, h, :).
/// When each part is attention over a disjoint key range of one problem (normalised output and
/// its lse), the result is attention over the union of the ranges.
/// - A part with lse_s = -inf (it saw no key) weighs 0; its output is never read, so it may
///   hold garbage or NaN. A row whose parts are all -inf gets out = +0 exactly and lse = -inf.
/// - NaN propagates: a NaN lse_s makes the row's out and lse NaN, and a NaN in the output of a
///   part with a finite lse_s reaches out (DESIGN 1.3 rule 5). An lse_s of +inf gives NaN.
/// @pre partial_out [n, B, Sq, Hq, Dv] with n >= 1 and Dv >= 1, partial_lse [n, B, Hq, Sq],
///      out [B, Sq, Hq, Dv], lse empty or [B, Hq, Sq]; partial_out and out with unit innermost
///      stride (any other strides: BSHD, BHSD, ...), out and lse without zero strides; checked,
///      throwing attnkit::error before anything is written. n = 0 is rejected: a merge of
///      nothing is more likely a bug in the caller's split than an intended empty row.
/// Precision fp32, with the lse max-shift (no overflow for any finite lse): within a few ulp of
/// the double-precision formula for out and lse. Time O(n B Sq Hq Dv), vectorised over Dv;
/// threads over rows (get_num_threads()).
template <class Arch = default_arch, attention_element T>
void merge_attention_states(tensor_view<const float, 5> partial_out,
                            tensor_view<const float, 4> partial_lse, tensor_view<T, 4> out,
                            tensor_view<float, 3> lse = {}) {
  detail::check_merge_states("merge_attention_states", partial_out, partial_lse, out, lse);
  const index_t n = partial_out.extent(0), Sq = partial_out.extent(2),
                Hq = partial_out.extent(3), Dv = partial_out.extent(4);
  const index_t rows = partial_out.extent(1) * Sq * Hq;
  const bool want_lse = detail::is_given(lse);
  // About 32K multiply-adds per task, so that a task outweighs handing it to a thread.
  const index_t per_task = std::max<index_t>(1, (index_t{1} << 15) / (n * Dv));
  parallel_for((rows + per_task - 1) / per_task, [&](index_t task, int) {
    for (index_t r = task * per_task; r < std::min(rows, (task + 1) * per_task); ++r) {
      const index_t b = r / (Sq * Hq), i = r / Hq % Sq, h = r % Hq;
      const float* part = partial_out.data() + b * partial_out.stride(1) +
                          i * partial_out.stride(2) + h * partial_out.stride(3);
      const float* part_lse = partial_lse.data() + b * partial_lse.stride(1) +
                              h * partial_lse.stride(2) + i * partial_lse.stride(3);
      T* row = out.data() + b * out.stride(0) + i * out.stride(1) + h * out.stride(2);
      float* row_lse = want_lse ? &lse(b, h, i) : nullptr;
      detail::merge_row<Arch, T>(n, part, partial_out.stride(0), part_lse, partial_lse.stride(0),
                                 Dv, row, row_lse);
    }
  });
}

}  // namespace attnkit
