// SPDX-License-Identifier: Apache-2.0
// detail::run_gla and the checked dense, varlen and step drivers behind linear_attention,
// simple_gla and gla: checks, segments, then the chunked or recurrent core over (sequence, head).
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/core/threads.hpp>
#include <attnkit/exact/arguments.hpp>
#include <attnkit/linear/arguments.hpp>
#include <attnkit/linear/gla_arguments.hpp>
#include <attnkit/linear/gla_chunked.hpp>
#include <attnkit/linear/gla_recurrent.hpp>
#include <attnkit/linear/gla_segment.hpp>
#include <attnkit/linear/linear_options.hpp>

namespace attnkit::detail {

/// Runs every segment on get_num_threads() threads, each thread with its own core (scratch
/// allocated on its first task). Recurrent: one (sequence, head) per task. Chunked: runs of
/// consecutive segments of equal length (the heads of a sequence), at most kMaxGroup and few
/// enough that every thread still gets two tasks, which the core runs interleaved chunk by chunk.
template <class Arch>
void run_gla(const gla_call& c, const std::vector<gla_segment>& segs) {
  if (c.mode != linear_mode::chunked) {
    std::vector<std::unique_ptr<gla_recurrent<Arch>>> cores(static_cast<std::size_t>(get_num_threads()));
    parallel_for(static_cast<index_t>(segs.size()), [&](index_t task, int slot) {
      auto& core = cores[static_cast<std::size_t>(slot)];
      if (!core) core = std::make_unique<gla_recurrent<Arch>>(c);
      core->run(segs[static_cast<std::size_t>(task)]);
    });
    return;
  }
  constexpr index_t kMaxGroup = 4;
  const index_t threads = get_num_threads();
  const index_t total = static_cast<index_t>(segs.size());
  const index_t group = std::clamp<index_t>(threads > 1 ? total / (2 * threads) : total, 1, kMaxGroup);
  std::vector<std::pair<index_t, index_t>> tasks;  // first segment, count
  for (index_t i = 0; i < total;) {
    index_t n = 1;
    while (n < group && i + n < total && segs[std::size_t(i + n)].T == segs[std::size_t(i)].T) ++n;
    tasks.emplace_back(i, n);
    i += n;
  }
  std::vector<std::unique_ptr<gla_chunked<Arch>>> cores(static_cast<std::size_t>(threads));
  parallel_for(static_cast<index_t>(tasks.size()), [&](index_t task, int slot) {
    auto& core = cores[static_cast<std::size_t>(slot)];
    if (!core) core = std::make_unique<gla_chunked<Arch>>(c);
    const auto [first, count] = tasks[std::size_t(task)];
    core->run(segs.data() + first, count);
  });
}

inline gla_call make_gla_call(gla_gate gate, const linear_problem& p, const linear_options& opt) {
  return {.gate = gate, .K = p.K, .V = p.V, .scale = p.scale, .causal = opt.causal,
          .normalize = opt.normalize, .mode = opt.mode, .chunk = opt.chunk_size};
}

/// Checks the gate of a call with q of rank RQ: none (g unused), g [.., H] or gk [.., H, K].
template <std::size_t RG, std::size_t RQ>
void check_gla_gate(std::string_view where, gla_gate gate, const tensor_view<const float, RG>& g,
                    const tensor_view<const float, RQ>& q) {
  if (gate == gla_gate::scalar) {
    if constexpr (RG + 1 == RQ) check_linear_gate(where, "g", g, q);
  } else if (gate == gla_gate::vector) {
    if constexpr (RG == RQ) check_gla_key_gate(where, g, q);
  }
}

/// A dense call (R = 4: [B, T, H, *]) or a varlen one (R = 3: [total, H, *] with cu_seqlens).
template <class Arch, std::size_t R, std::size_t RG>
void gla_forward(std::string_view where, gla_gate gate, const tensor_view<const float, R>& q,
                 const tensor_view<const float, R>& k, const tensor_view<const float, R>& v,
                 const tensor_view<const float, RG>& g, const tensor_view<float, R>& out,
                 std::span<const std::int32_t> cu_seqlens, const linear_options& opt,
                 const tensor_view<const float, 4>& initial_state,
                 const tensor_view<float, 4>& final_state) {
  constexpr bool packed = R == 3;
  linear_problem p = check_linear_qkv(where, q, k, v, out, opt);
  check_linear_options(where, opt, gate == gla_gate::none,
                       is_given(initial_state) || is_given(final_state));
  check_gla_gate(where, gate, g, q);
  if constexpr (packed) p.N = check_linear_cu_seqlens(where, cu_seqlens, p.T);
  check_linear_state(where, "initial_state", initial_state, p);
  check_linear_state(where, "final_state", final_state, p);
  const index_t T = p.T;
  auto begin = [&](index_t n) -> index_t { return packed ? cu_seqlens[std::size_t(n)] : 0; };
  auto length = [&](index_t n) -> index_t {
    return packed ? cu_seqlens[std::size_t(n) + 1] - cu_seqlens[std::size_t(n)] : T;
  };
  const auto segs = gla_segments(
      p.N, p.H, begin, length, gla_rows_of(q, packed, true), gla_rows_of(k, packed, true),
      gla_rows_of(v, packed, true), gla_rows_of(out, packed, true),
      gate == gla_gate::none ? gla_rows<const float>{} : gla_rows_of(g, packed, gate == gla_gate::vector),
      gla_state_rows(initial_state), gla_state_rows(final_state));
  run_gla<Arch>(make_gla_call(gate, p, opt), segs);
}

/// One token per (batch entry, head): q, k [B, H, K], v, out [B, H, V], g [B, H] or gk
/// [B, H, K], state [B, H, K, V] updated in place (read whole before it is written).
template <class Arch, std::size_t RG>
void gla_step(std::string_view where, gla_gate gate, const tensor_view<const float, 3>& q,
              const tensor_view<const float, 3>& k, const tensor_view<const float, 3>& v,
              const tensor_view<const float, RG>& g, const tensor_view<float, 3>& out,
              const tensor_view<float, 4>& state, const linear_options& opt) {
  const linear_problem p = check_gla_step(where, q, k, v, out, state, opt, gate == gla_gate::none);
  check_gla_gate(where, gate, g, q);
  auto begin = [](index_t n) { return n; };
  auto length = [](index_t) -> index_t { return 1; };
  const auto segs = gla_segments(
      p.N, p.H, begin, length, gla_rows_of(q, true, true), gla_rows_of(k, true, true),
      gla_rows_of(v, true, true), gla_rows_of(out, true, true),
      gate == gla_gate::none ? gla_rows<const float>{} : gla_rows_of(g, true, gate == gla_gate::vector),
      gla_state_rows(tensor_view<const float, 4>(state)), gla_state_rows(state));
  gla_call c = make_gla_call(gate, p, opt);
  c.mode = linear_mode::recurrent;
  run_gla<Arch>(c, segs);
}

}  // namespace attnkit::detail
