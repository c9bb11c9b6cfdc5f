// SPDX-License-Identifier: Apache-2.0
// detail::delta_segment and detail::delta_inputs: one (sequence, head) of a delta-rule call as
// pointers and token strides, shared by the dense, varlen and step entry points.
#pragma once

#include <cstdint>
#include <span>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/exact/arguments.hpp>

namespace attnkit::detail {

/// The rows of one (sequence, head): token t of q is q + t * q_stride (K contiguous floats), and
/// so on. g == nullptr: not gated (S' = S); s0 == nullptr: zero initial state; s1 == nullptr:
/// the final state is not written. States are [K, V] with element (i, j) at i * row + j * col.
struct delta_segment {
  index_t T = 0;
  const float* q = nullptr;
  const float* k = nullptr;
  const float* v = nullptr;
  const float* g = nullptr;
  const float* beta = nullptr;
  float* out = nullptr;
  index_t q_stride = 0, k_stride = 0, v_stride = 0, g_stride = 0, beta_stride = 0, out_stride = 0;
  const float* s0 = nullptr;
  index_t s0_row = 0, s0_col = 0;
  float* s1 = nullptr;
  index_t s1_row = 0, s1_col = 0;
};

/// One tensor of a call seen as (sequence n, token t, head h) -> data + n * seq + t * token +
/// h * head; varlen tensors have seq = 0 and tokens counted from cu_seqlens[n].
template <class T>
struct delta_operand {
  T* data = nullptr;
  index_t seq = 0, token = 0, head = 0;

  T* at(index_t n, index_t t, index_t h) const { return data + n * seq + t * token + h * head; }
};
/// Spelled out for compilers without C++20's aggregate deduction (clang before 17).
template <class T>
delta_operand(T*, index_t, index_t, index_t) -> delta_operand<T>;

/// A checked call: every tensor as a delta_operand, the optional states, and the sequence
/// lengths (dense: T tokens each; varlen: from cu_seqlens).
struct delta_inputs {
  delta_operand<const float> q, k, v, g, beta;
  delta_operand<float> out;
  tensor_view<const float, 4> initial_state;  ///< [N, H, K, V] or empty
  tensor_view<float, 4> final_state;          ///< [N, H, K, V] or empty
  index_t T = 0;                              ///< dense: tokens per sequence
  std::span<const std::int32_t> cu_seqlens;   ///< varlen: sequence n is [cu[n], cu[n + 1])

  delta_segment segment(index_t n, index_t h) const {
    const bool varlen = !cu_seqlens.empty();
    const index_t first = varlen ? cu_seqlens[std::size_t(n)] : 0;
    delta_segment s;
    s.T = varlen ? cu_seqlens[std::size_t(n) + 1] - first : T;
    if (s.T > 0) token_rows(s, n, first, h);
    if (is_given(initial_state) && !initial_state.empty()) {
      s.s0 = initial_state.data() + n * initial_state.stride(0) + h * initial_state.stride(1);
      s.s0_row = initial_state.stride(2), s.s0_col = initial_state.stride(3);
    }
    if (is_given(final_state) && !final_state.empty()) {
      s.s1 = final_state.data() + n * final_state.stride(0) + h * final_state.stride(1);
      s.s1_row = final_state.stride(2), s.s1_col = final_state.stride(3);
    }
    return s;
  }

 private:
  // Only for a non-empty sequence: the views of an empty call may be null.
  void token_rows(delta_segment& s, index_t n, index_t first, index_t h) const {
    s.q = q.at(n, first, h), s.q_stride = q.token;
    s.k = k.at(n, first, h), s.k_stride = k.token;
    s.v = v.at(n, first, h), s.v_stride = v.token;
    s.beta = beta.at(n, first, h), s.beta_stride = beta.token;
    s.out = out.at(n, first, h), s.out_stride = out.token;
    if (g.data != nullptr) s.g = g.at(n, first, h), s.g_stride = g.token;
  }
};

/// q, k, v, out [B, T, H, *] and g, beta [B, T, H] (g empty: not gated) as delta_operands.
inline delta_inputs dense_delta_inputs(const tensor_view<const float, 4>& q,
                                       const tensor_view<const float, 4>& k,
                                       const tensor_view<const float, 4>& v,
                                       const tensor_view<const float, 3>& g,
                                const tensor_view<const float, 3>& beta, const tensor_view<float, 4>& out) {
  auto op = [](auto& x) { return delta_operand{x.data(), x.stride(0), x.stride(1), x.stride(2)}; };
  delta_inputs in;
  in.q = op(q), in.k = op(k), in.v = op(v), in.out = op(out), in.beta = op(beta);
  if (is_given(g)) in.g = op(g);
  in.T = q.extent(1);
  return in;
}

/// q, k, v, out [total, H, *] and g, beta [total, H] (g empty: not gated) as delta_operands.
inline delta_inputs varlen_delta_inputs(const tensor_view<const float, 3>& q,
                                        const tensor_view<const float, 3>& k,
                                        const tensor_view<const float, 3>& v,
                                        const tensor_view<const float, 2>& g,
                                 const tensor_view<const float, 2>& beta, const tensor_view<float, 3>& out,
                                 std::span<const std::int32_t> cu_seqlens) {
  auto op = [](auto& x) { return delta_operand{x.data(), index_t{0}, x.stride(0), x.stride(1)}; };
  delta_inputs in;
  in.q = op(q), in.k = op(k), in.v = op(v), in.out = op(out), in.beta = op(beta);
  if (is_given(g)) in.g = op(g);
  in.cu_seqlens = cu_seqlens;
  return in;
}

/// The one-token step: q, k, v, out [B, H, *], g, beta [B, H] (g empty: not gated), and the
/// state [B, H, K, V] read and written in place: B sequences of one token.
inline delta_inputs step_delta_inputs(const tensor_view<const float, 3>& q,
                                      const tensor_view<const float, 3>& k,
                                      const tensor_view<const float, 3>& v,
                                      const tensor_view<const float, 2>& g,
                                      const tensor_view<const float, 2>& beta,
                                      const tensor_view<float, 3>& out, const tensor_view<float, 4>& state) {
  auto op = [](auto& x) { return delta_operand{x.data(), x.stride(0), index_t{0}, x.stride(1)}; };
  delta_inputs in;
  in.q = op(q), in.k = op(k), in.v = op(v), in.out = op(out), in.beta = op(beta);
  if (is_given(g)) in.g = op(g);
  in.T = 1;
  in.initial_state = state;
  in.final_state = state;
  return in;
}

}  // namespace attnkit::detail
