// SPDX-License-Identifier: Apache-2.0
// detail::delta_forward and the checks of the delta-rule entry points: one driver for the dense,
// varlen and step calls of delta_rule and gated_delta_rule (detail::delta_call, delta_step).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/core/threads.hpp>
#include <attnkit/linear/arguments.hpp>
#include <attnkit/linear/delta_chunked.hpp>
#include <attnkit/linear/delta_recurrent.hpp>
#include <attnkit/linear/delta_segment.hpp>
#include <attnkit/linear/linear_options.hpp>

namespace attnkit::detail {

/// Checks a dense (R = 4: q, k [B, T, H, K], v, out [B, T, H, V], g, beta [B, T, H];
/// cu_seqlens unused) or varlen (R = 3: [total, H, *] and [total, H] with cu_seqlens) delta-rule
/// call (g null: not gated) and returns its sizes, N the number of sequences.
template <std::size_t R>
linear_problem check_delta(std::string_view where, const tensor_view<const float, R>& q,
                           const tensor_view<const float, R>& k, const tensor_view<const float, R>& v,
                           const tensor_view<const float, R - 1>* g,
                           const tensor_view<const float, R - 1>& beta, const tensor_view<float, R>& out,
                           std::span<const std::int32_t> cu_seqlens, const linear_options& opt,
                           const tensor_view<const float, 4>& initial_state,
                           const tensor_view<float, 4>& final_state) {
  auto p = check_linear_qkv(where, q, k, v, out, opt);
  if constexpr (R == 3) p.N = check_linear_cu_seqlens(where, cu_seqlens, p.T);
  check_linear_options(where, opt, false, is_given(initial_state) || is_given(final_state));
  if (g) check_linear_gate(where, "g", *g, q);
  check_linear_gate(where, "beta", beta, q);
  check_linear_state(where, "initial_state", initial_state, p);
  check_linear_state(where, "final_state", final_state, p);
  return p;
}

/// Checks a one-token step: q, k [B, H, K], v, out [B, H, V], g, beta [B, H] and the state
/// [B, H, K, V], which must be given. Returns the sizes with N = B and T = 1.
inline linear_problem check_delta_step(std::string_view where, const tensor_view<const float, 3>& q,
                                       const tensor_view<const float, 3>& k,
                                       const tensor_view<const float, 3>& v,
                                       const tensor_view<const float, 2>* g,
                                       const tensor_view<const float, 2>& beta,
                                       const tensor_view<float, 3>& out,
                                       const tensor_view<float, 4>& state, const linear_options& opt) {
  auto p = check_linear_qkv(where, q, k, v, out, opt);
  p.N = p.T;
  p.T = 1;
  check_linear_options(where, opt, false, true);
  if (g) check_linear_gate(where, "g", *g, q);
  check_linear_gate(where, "beta", beta, q);
  require(is_given(state), where, "state", "a state [B, H, K, V] to update in place",
          "an empty view");
  check_linear_state(where, "state", state, p);
  return p;
}

/// Runs every (sequence, head) of a checked call on get_num_threads() threads, in the mode of
/// opt (the step API passes recurrent). Scratch: one core per thread, made on its first task.
/// Recurrent: one (sequence, head) per task. Chunked: up to kMaxGroup heads of one sequence per
/// task, few enough that every thread still gets two tasks, run interleaved chunk by chunk.
template <class Arch>
void delta_forward(const linear_problem& p, const linear_options& opt, const delta_inputs& in) {
  const int threads = get_num_threads();
  if (opt.mode == linear_mode::recurrent) {
    std::vector<std::optional<delta_recurrent<Arch>>> cores(static_cast<std::size_t>(threads));
    parallel_for(p.N * p.H, [&](index_t task, int slot) {
      auto& core = cores[static_cast<std::size_t>(slot)];
      if (!core) core.emplace(p.K, p.V, p.scale);
      core->run(in.segment(task / p.H, task % p.H));
    });
    return;
  }
  // Chunks longer than the longest sequence only cost scratch: C x C buffers at C = 1024 take MiBs.
  index_t longest = in.T;
  for (std::size_t n = 1; n < in.cu_seqlens.size(); ++n)
    longest = std::max<index_t>(longest, in.cu_seqlens[n] - in.cu_seqlens[n - 1]);
  const index_t chunk = std::max<index_t>(1, std::min(opt.chunk_size, longest));
  constexpr index_t kMaxGroup = 4;
  const index_t group =
      std::clamp<index_t>(threads > 1 ? p.N * p.H / (2 * threads) : p.H, 1, std::min(kMaxGroup, p.H));
  const index_t per_sequence = (p.H + group - 1) / group;
  std::vector<std::optional<delta_chunked<Arch>>> cores(static_cast<std::size_t>(threads));
  parallel_for(p.N * per_sequence, [&](index_t task, int slot) {
    auto& core = cores[static_cast<std::size_t>(slot)];
    if (!core) core.emplace(p.K, p.V, chunk, p.scale);
    const index_t n = task / per_sequence, h0 = task % per_sequence * group;
    delta_segment segs[kMaxGroup];
    const index_t count = std::min(group, p.H - h0);
    for (index_t h = 0; h < count; ++h) segs[h] = in.segment(n, h0 + h);
    core->run(segs, count);
  });
}

/// A dense (R = 4) or varlen (R = 3, cu_seqlens) delta-rule call (g null: not gated): checked,
/// then run by delta_forward in the mode of opt.
template <class Arch, std::size_t R>
void delta_call(std::string_view where, const tensor_view<const float, R>& q,
                const tensor_view<const float, R>& k, const tensor_view<const float, R>& v,
                const tensor_view<const float, R - 1>* g, const tensor_view<const float, R - 1>& beta,
                const tensor_view<float, R>& out, std::span<const std::int32_t> cu_seqlens,
                const linear_options& opt, const tensor_view<const float, 4>& initial_state,
                const tensor_view<float, 4>& final_state) {
  const auto p = check_delta(where, q, k, v, g, beta, out, cu_seqlens, opt, initial_state, final_state);
  const tensor_view<const float, R - 1> gate = g ? *g : tensor_view<const float, R - 1>{};
  auto in = [&] {
    if constexpr (R == 3)
      return varlen_delta_inputs(q, k, v, gate, beta, out, cu_seqlens);
    else
      return dense_delta_inputs(q, k, v, gate, beta, out);
  }();
  in.initial_state = initial_state;
  in.final_state = final_state;
  delta_forward<Arch>(p, opt, in);
}

/// A one-token step (g null: not gated) on state in place: checked, then run recurrent.
template <class Arch>
void delta_step(std::string_view where, const tensor_view<const float, 3>& q,
                const tensor_view<const float, 3>& k, const tensor_view<const float, 3>& v,
                const tensor_view<const float, 2>* g, const tensor_view<const float, 2>& beta,
                const tensor_view<float, 3>& out, const tensor_view<float, 4>& state,
                const linear_options& opt) {
  const auto p = check_delta_step(where, q, k, v, g, beta, out, state, opt);
  linear_options recurrent = opt;
  recurrent.mode = linear_mode::recurrent;
  delta_forward<Arch>(p, recurrent,
                      step_delta_inputs(q, k, v, g ? *g : tensor_view<const float, 2>{}, beta, out, state));
}

}  // namespace attnkit::detail
