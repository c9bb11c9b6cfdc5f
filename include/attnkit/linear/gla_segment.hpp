// SPDX-License-Identifier: Apache-2.0
// detail::gla_segment: one (sequence, head) of a linear / simple_gla / gla call as pointers and
// token strides, so that dense, varlen and one-token step calls share one kernel.
#pragma once

#include <cstddef>
#include <vector>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/linear/linear_options.hpp>

namespace attnkit::detail {

/// Which decay a gated linear recurrence applies to its state before each token.
enum class gla_gate {
  none,    ///< linear_attention: S_t = S_{t-1} + k_t v_tᵀ
  scalar,  ///< simple_gla: one log decay per token and head
  vector,  ///< gla: one log decay per token, head and key dim
};

/// The resolved, checked sizes and options every segment of a call shares.
struct gla_call {
  gla_gate gate = gla_gate::none;
  index_t K = 0, V = 0;
  float scale = 1.0f;
  bool causal = true;
  bool normalize = false;
  linear_mode mode = linear_mode::chunked;
  index_t chunk = 64;
};

/// One (sequence, head): token t of q is q + t * q_step (K contiguous floats), likewise k, v, out
/// (V floats). g: the scalar log gate of token t at g[t * g_step], or the vector gate of key d at
/// g[t * g_step + d * g_dstride] (nullptr for none). s0 / s1: the initial / final state [K, V]
/// at s[i * s_k + j * s_v] (nullptr: zero / not written).
struct gla_segment {
  index_t T = 0;
  const float* q = nullptr;
  index_t q_step = 0;
  const float* k = nullptr;
  index_t k_step = 0;
  const float* v = nullptr;
  index_t v_step = 0;
  float* out = nullptr;
  index_t out_step = 0;
  const float* g = nullptr;
  index_t g_step = 0, g_dstride = 0;
  const float* s0 = nullptr;
  index_t s0_k = 0, s0_v = 0;
  float* s1 = nullptr;
  index_t s1_k = 0, s1_v = 0;
};

/// How to find row (sequence n, token t of it, head h) of one operand: data + n * seq +
/// (begin(n) + t) * token + h * head, with `inner` the stride of the last dimension.
template <class T>
struct gla_rows {
  T* data = nullptr;
  index_t seq = 0, token = 0, head = 0, inner = 0;

  T* at(index_t n, index_t first_token, index_t h) const {
    return data == nullptr ? nullptr : data + n * seq + first_token * token + h * head;
  }
};

/// [B, T, H, X] (dense, rank 4) or [total, H, X] (packed, rank 3) rows; a gate [B, T, H] or
/// [total, H] has no inner dimension (inner = 0).
template <class T, std::size_t R>
gla_rows<T> gla_rows_of(const tensor_view<T, R>& x, bool packed, bool has_inner) {
  if (x.data() == nullptr && x.empty()) return {};
  const std::size_t t = packed ? 0 : 1;
  return {x.data(), packed ? 0 : x.stride(0), x.stride(t), x.stride(t + 1),
          has_inner && t + 2 < R ? x.stride(t + 2) : 0};
}

/// A state [N, H, K, V]: data + n * seq + h * head, rows K at stride token, V at inner.
template <class T>
gla_rows<T> gla_state_rows(const tensor_view<T, 4>& s) {
  if (s.data() == nullptr && s.empty()) return {};
  return {s.data(), s.stride(0), s.stride(2), s.stride(1), s.stride(3)};
}

/// The N x H segments of a call, sequence-major; sequence n spans tokens [begin(n), begin(n) +
/// length(n)) of the packed layout (dense: begin 0 and length T, `seq` strides select n).
template <class Begin, class Length>
std::vector<gla_segment> gla_segments(index_t N, index_t H, Begin begin, Length length,
                                      const gla_rows<const float>& q, const gla_rows<const float>& k,
                                      const gla_rows<const float>& v, const gla_rows<float>& out,
                                      const gla_rows<const float>& g,
                                      const gla_rows<const float>& s0, const gla_rows<float>& s1) {
  std::vector<gla_segment> segs;
  segs.reserve(static_cast<std::size_t>(N * H));
  for (index_t n = 0; n < N; ++n)
    for (index_t h = 0; h < H; ++h) {
      const index_t t0 = begin(n);
      gla_segment s;
      s.T = length(n);
      s.q = q.at(n, t0, h), s.q_step = q.token;
      s.k = k.at(n, t0, h), s.k_step = k.token;
      s.v = v.at(n, t0, h), s.v_step = v.token;
      s.out = out.at(n, t0, h), s.out_step = out.token;
      s.g = g.at(n, t0, h), s.g_step = g.token, s.g_dstride = g.inner;
      s.s0 = s0.at(n, 0, h), s.s0_k = s0.token, s.s0_v = s0.inner;
      s.s1 = s1.at(n, 0, h), s.s1_k = s1.token, s.s1_v = s1.inner;
      segs.push_back(s);
    }
  return segs;
}

}  // namespace attnkit::detail
