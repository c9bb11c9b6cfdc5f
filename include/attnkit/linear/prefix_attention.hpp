// SPDX-License-Identifier: Apache-2.0
// prefix_attention: softmax attention of one query per head over every prefix of a sequence
// (Attention as an RNN, Feng et al., 2405.13956), by a parallel prefix scan in O(T).
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <attnkit/core/error.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/core/threads.hpp>
#include <attnkit/exact/arguments.hpp>

namespace attnkit {
namespace detail {

/// The softmax state of a run of keys: max logit m, u = sum e^{s - m}, w = sum e^{s - m} v.
/// Combining two runs is associative, which makes the prefix outputs w / u a scan.
struct prefix_state {
  float m = -std::numeric_limits<float>::infinity();
  double u = 0;
  std::vector<double> w;

  explicit prefix_state(index_t V) : w(std::size_t(V), 0.0) {}

  /// Adds one key with logit s and value row v.
  void add(float s, const float* v) {
    if (s == -std::numeric_limits<float>::infinity()) return;  // weighs 0
    rescale_to(std::isnan(s) || s > m ? s : m);
    const double e = std::exp(double(s) - double(m));
    u += e;
    for (std::size_t j = 0; j < w.size(); ++j) w[j] += e * double(v[j]);
  }
  /// this = this (+) other, the earlier run first.
  void add(const prefix_state& other) {
    if (other.m == -std::numeric_limits<float>::infinity() && !std::isnan(other.u)) return;
    rescale_to(std::isnan(other.m) || other.m > m ? other.m : m);
    const double f = std::exp(double(other.m) - double(m));
    u += f * other.u;
    for (std::size_t j = 0; j < w.size(); ++j) w[j] += f * other.w[j];
  }
  void rescale_to(float new_m) {
    if (new_m == m) return;
    const double f = m == -std::numeric_limits<float>::infinity() ? 0.0 : std::exp(double(m) - double(new_m));
    u *= f;
    for (double& x : w) x *= f;
    m = new_m;
  }
};

}  // namespace detail

/// out[b, t, h, :] = sum_{s <= t} softmax_s(scale q[h] . k[b, s, h]) v[b, s, h, :]: one query per
/// head (q [H, K], a learned token in Aaren) attending to every prefix of keys k [B, T, H, K],
/// values v [B, T, H, V]; out [B, T, H, V]. scale 0 means 1/sqrt(K). A prefix whose logits are
/// all -inf gives 0; NaN propagates. Computed as a scan over the associative softmax state
/// (max, sum, weighted sum): with fewer (sequence, head) pairs than threads the sequence is cut
/// into chunks whose states are scanned first, then every chunk resumes from its carry, so the
/// work stays O(B H T (K + V)) and spreads over the threads. Unit innermost strides; checked,
/// throwing attnkit::error before writing.
inline void prefix_attention(tensor_view<const float, 2> q, tensor_view<const float, 4> k,
                             tensor_view<const float, 4> v, tensor_view<float, 4> out,
                             float scale = 0.0f) {
  constexpr std::string_view kWhere = "prefix_attention";
  detail::check_view(kWhere, "q", q, true);
  detail::check_view(kWhere, "k", k, true);
  detail::check_view(kWhere, "v", v, true);
  detail::check_view(kWhere, "out", out, true);
  const index_t B = k.extent(0), T = k.extent(1), H = k.extent(2), K = k.extent(3), V = v.extent(3);
  detail::check_extent(kWhere, "q", q, 0, H, "the heads of k");
  detail::check_extent(kWhere, "q", q, 1, K, "the key dim of k");
  for (std::size_t r = 0; r < 3; ++r) {
    const std::string what = "extent(" + std::to_string(r) + ") of k";
    detail::check_extent(kWhere, "v", v, r, k.extent(r), what);
    detail::check_extent(kWhere, "out", out, r, k.extent(r), what);
  }
  detail::check_extent(kWhere, "out", out, 3, V, "the value dim of v");
  detail::require(std::isfinite(scale), kWhere, "scale", "a finite value (0 for 1/sqrt(K))", scale);
  if (B * T * H == 0) return;
  const float s = scale != 0.0f ? scale : detail::resolve_scale({}, K);

  // Chunks per (sequence, head): one when the pairs keep the threads busy.
  const index_t threads = get_num_threads(), pairs = B * H;
  const index_t chunks = pairs >= threads ? 1 : std::min(T, (2 * threads + pairs - 1) / pairs);
  const index_t per = (T + chunks - 1) / chunks;
  auto logit = [&](index_t b, index_t t, index_t h) {
    float dot = 0;
    for (index_t d = 0; d < K; ++d) dot += q(h, d) * k(b, t, h, d);
    return s * dot;
  };
  auto range = [&](index_t c) { return std::pair{c * per, std::min(T, (c + 1) * per)}; };
  // Pass 1 (split sequences only): each chunk's own state.
  std::vector<detail::prefix_state> carry;
  if (chunks > 1) {
    carry.assign(std::size_t(pairs * chunks), detail::prefix_state(V));
    parallel_for(pairs * chunks, [&](index_t task, int) {
      const index_t pair = task / chunks, c = task % chunks, b = pair / H, h = pair % H;
      auto& st = carry[std::size_t(task)];
      for (auto [t, end] = range(c); t < end; ++t) st.add(logit(b, t, h), &v(b, t, h, 0));
    });
    // The carries: each chunk's state becomes the state of every chunk before it.
    for (index_t pair = 0; pair < pairs; ++pair) {
      detail::prefix_state running(V);
      for (index_t c = 0; c < chunks; ++c) {
        auto& st = carry[std::size_t(pair * chunks + c)];
        detail::prefix_state own = std::move(st);
        st = running;
        running.add(own);
      }
    }
  }
  // Pass 2: every chunk scans from its carry and writes its outputs.
  parallel_for(pairs * chunks, [&](index_t task, int) {
    const index_t pair = task / chunks, c = task % chunks, b = pair / H, h = pair % H;
    detail::prefix_state st = chunks > 1 ? carry[std::size_t(task)] : detail::prefix_state(V);
    for (auto [t, end] = range(c); t < end; ++t) {
      st.add(logit(b, t, h), &v(b, t, h, 0));
      float* o = &out(b, t, h, 0);
      const bool empty = st.m == -std::numeric_limits<float>::infinity();
      for (index_t j = 0; j < V; ++j) o[j] = empty ? 0.0f : static_cast<float>(st.w[std::size_t(j)] / st.u);
    }
  });
}

}  // namespace attnkit
