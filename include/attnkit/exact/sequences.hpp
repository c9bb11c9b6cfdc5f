// SPDX-License-Identifier: Apache-2.0
// detail::sequence and its builders: a dense batch or a packed varlen batch seen as a list of
// batch-1 views, so one kernel serves both (ByteTransformer-style padding-free varlen).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/exact/arguments.hpp>

namespace attnkit::detail {

/// One sequence of a call: batch-1 views [1, S, H, D], its lse [1, Hq, Sq] (or empty) and the
/// batch index of its bias.
template <class T>
struct sequence {
  tensor_view<const T, 4> q, k, v;
  tensor_view<T, 4> out;
  tensor_view<float, 3> lse;
  index_t bias_batch = 0;
};

/// Batch b of a [B, S, H, D] view as a [1, S, H, D] view.
template <class T>
tensor_view<T, 4> batch_slice(const tensor_view<T, 4>& x, index_t b) {
  return {x.data() + b * x.stride(0), {1, x.extent(1), x.extent(2), x.extent(3)}, x.strides()};
}

/// Rows [cu[b], cu[b+1]) of a varlen view [total, H, D] as a [1, len, H, D] view.
template <class T>
tensor_view<T, 4> segment(const tensor_view<T, 3>& x, std::span<const std::int32_t> cu, index_t b) {
  return {x.data() + cu[b] * x.stride(0), {1, cu[b + 1] - cu[b], x.extent(1), x.extent(2)},
          {0, x.stride(0), x.stride(1), x.stride(2)}};
}

/// Columns [cu[b], cu[b+1]) of a varlen lse [H, total] as a [1, H, len] view (empty stays empty).
template <class L>
tensor_view<L, 3> segment_lse(const tensor_view<L, 2>& lse, std::span<const std::int32_t> cu,
                              index_t b) {
  if (!is_given(lse)) return {};
  return {lse.data() + cu[b] * lse.stride(1), {1, lse.extent(0), cu[b + 1] - cu[b]},
          {0, lse.stride(0), lse.stride(1)}};
}

/// Batch b of a [B, H, S] lse view as [1, H, S] (empty stays empty).
template <class L>
tensor_view<L, 3> lse_slice(const tensor_view<L, 3>& lse, index_t b) {
  if (!is_given(lse)) return {};
  return {lse.data() + b * lse.stride(0), {1, lse.extent(1), lse.extent(2)}, lse.strides()};
}

/// The sequences of a checked dense call.
template <class T>
std::vector<sequence<T>> dense_sequences(const tensor_view<const T, 4>& q,
                                         const tensor_view<const T, 4>& k,
                                         const tensor_view<const T, 4>& v,
                                         const tensor_view<T, 4>& out,
                                         const tensor_view<float, 3>& lse) {
  std::vector<sequence<T>> seqs;
  for (index_t b = 0; b < q.extent(0); ++b)
    seqs.push_back({batch_slice(q, b), batch_slice(k, b), batch_slice(v, b), batch_slice(out, b),
                    lse_slice(lse, b), b});
  return seqs;
}

/// The sequences of a checked varlen call.
template <class T>
std::vector<sequence<T>> varlen_sequences(const tensor_view<const T, 3>& q,
                                          const tensor_view<const T, 3>& k,
                                          const tensor_view<const T, 3>& v,
                                          const tensor_view<T, 3>& out,
                                          std::span<const std::int32_t> cu_q,
                                          std::span<const std::int32_t> cu_k,
                                          const tensor_view<float, 2>& lse) {
  std::vector<sequence<T>> seqs;
  for (index_t b = 0; b + 1 < static_cast<index_t>(cu_q.size()); ++b)
    seqs.push_back({segment(q, cu_q, b), segment(k, cu_k, b), segment(v, cu_k, b),
                    segment(out, cu_q, b), segment_lse(lse, cu_q, b), b});
  return seqs;
}

}  // namespace attnkit::detail
