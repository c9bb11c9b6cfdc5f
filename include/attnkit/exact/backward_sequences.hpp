// SPDX-License-Identifier: Apache-2.0
// detail::backward_sequence and its builders: the arguments of a dense or varlen backward call
// as a list of batch-1 views, so one backward kernel serves both.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/exact/sequences.hpp>

namespace attnkit::detail {

/// One sequence of a backward call: inputs and gradients as [1, S, H, D] views, lse and dlse
/// [1, Hq, Sq] (dlse may be empty), and the batch index of its bias.
template <class T>
struct backward_sequence {
  tensor_view<const T, 4> q, k, v, out, dout;
  tensor_view<const float, 3> lse, dlse;
  tensor_view<T, 4> dq, dk, dv;
  index_t bias_batch = 0;
};

/// The sequences of a checked dense backward call.
template <class T>
std::vector<backward_sequence<T>> dense_backward_sequences(
    const tensor_view<const T, 4>& q, const tensor_view<const T, 4>& k,
    const tensor_view<const T, 4>& v, const tensor_view<const T, 4>& out,
    const tensor_view<const T, 4>& dout, const tensor_view<const float, 3>& lse,
    const tensor_view<const float, 3>& dlse, const tensor_view<T, 4>& dq,
    const tensor_view<T, 4>& dk, const tensor_view<T, 4>& dv) {
  std::vector<backward_sequence<T>> seqs;
  for (index_t b = 0; b < q.extent(0); ++b)
    seqs.push_back({batch_slice(q, b), batch_slice(k, b), batch_slice(v, b), batch_slice(out, b),
                    batch_slice(dout, b), lse_slice(lse, b), lse_slice(dlse, b),
                    batch_slice(dq, b), batch_slice(dk, b), batch_slice(dv, b), b});
  return seqs;
}

/// The sequences of a checked varlen backward call.
template <class T>
std::vector<backward_sequence<T>> varlen_backward_sequences(
    const tensor_view<const T, 3>& q, const tensor_view<const T, 3>& k,
    const tensor_view<const T, 3>& v, const tensor_view<const T, 3>& out,
    const tensor_view<const T, 3>& dout, const tensor_view<const float, 2>& lse,
    const tensor_view<const float, 2>& dlse, const tensor_view<T, 3>& dq,
    const tensor_view<T, 3>& dk, const tensor_view<T, 3>& dv, std::span<const std::int32_t> cu_q,
    std::span<const std::int32_t> cu_k) {
  std::vector<backward_sequence<T>> seqs;
  for (index_t b = 0; b + 1 < static_cast<index_t>(cu_q.size()); ++b)
    seqs.push_back({segment(q, cu_q, b), segment(k, cu_k, b), segment(v, cu_k, b),
                    segment(out, cu_q, b), segment(dout, cu_q, b), segment_lse(lse, cu_q, b),
                    segment_lse(dlse, cu_q, b), segment(dq, cu_q, b), segment(dk, cu_k, b),
                    segment(dv, cu_k, b), b});
  return seqs;
}

}  // namespace attnkit::detail
