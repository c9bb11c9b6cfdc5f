// SPDX-License-Identifier: Apache-2.0
// detail::check_linear and friends: the argument checks of the linear-attention family, shared
// by the kernels and the references.
#pragma once

#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include <attnkit/core/error.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/exact/arguments.hpp>
#include <attnkit/linear/linear_options.hpp>

namespace attnkit::detail {

/// The sizes of a checked linear-attention call. N sequences of T tokens (dense: N = B; varlen:
/// N = cu_seqlens.size() - 1 and T = total tokens), H heads, key dim K, value dim V.
struct linear_problem {
  index_t N = 0, T = 0, H = 0, K = 0, V = 0;
  float scale = 0.0f;  ///< the resolved scale
};

/// Checks the options: a finite scale, chunk_size in [1, 1024]; causal = false and normalize only where
/// `plain` (linear_attention); normalize without states (the normaliser z is not part of the
/// [K, V] state).
inline void check_linear_options(std::string_view where, const linear_options& opt, bool plain,
                                 bool has_state) {
  require(std::isfinite(opt.scale), where, "opt.scale", "a finite value (0 for 1/sqrt(K))",
          opt.scale);
  require(opt.chunk_size >= 1 && opt.chunk_size <= 1024, where, "opt.chunk_size", "in [1, 1024]",
          opt.chunk_size);
  require(opt.mode == linear_mode::chunked || opt.mode == linear_mode::recurrent, where, "opt.mode",
          "linear_mode::chunked or linear_mode::recurrent", static_cast<int>(opt.mode));
  if (!plain) {
    require(opt.causal, where, "opt.causal", "true (a gated or delta-rule recurrence is causal)",
            "false");
    require(!opt.normalize, where, "opt.normalize",
            "false (normalisation belongs to linear_attention)", "true");
  }
  if (opt.normalize)
    require(!has_state, where, "opt.normalize",
            "false when initial_state or final_state is given (the normaliser is not part of the "
            "state)",
            "true");
}

/// Checks an optional state [N, H, K, V] (initial: any strides; final: an output).
template <class S>
void check_linear_state(std::string_view where, std::string_view name, const tensor_view<S, 4>& state,
                        const linear_problem& p) {
  if (!is_given(state)) return;
  check_view(where, name, state, false);
  check_extent(where, name, state, 0, p.N, "the sequences");
  check_extent(where, name, state, 1, p.H, "the heads of q");
  check_extent(where, name, state, 2, p.K, "the key dim of q");
  check_extent(where, name, state, 3, p.V, "the value dim of v");
}

/// Checks q, k [.., H, K], v, out [.., H, V] of rank R (4: [B, T, H, *]; 3: [total, H, *]) with
/// the same leading extents, unit innermost strides; returns the sizes (N = B or 1 for rank 3,
/// fixed by the caller for varlen).
template <std::size_t R, class TQ, class TK, class TV, class TO>
linear_problem check_linear_qkv(std::string_view where, const tensor_view<TQ, R>& q,
                                const tensor_view<TK, R>& k, const tensor_view<TV, R>& v,
                                const tensor_view<TO, R>& out, const linear_options& opt) {
  check_view(where, "q", q, true);
  check_view(where, "k", k, true);
  check_view(where, "v", v, true);
  check_view(where, "out", out, true);
  for (std::size_t r = 0; r + 1 < R; ++r) {
    const std::string what = "extent(" + std::to_string(r) + ") of q";
    check_extent(where, "k", k, r, q.extent(r), what);
    check_extent(where, "v", v, r, q.extent(r), what);
    check_extent(where, "out", out, r, q.extent(r), what);
  }
  check_extent(where, "k", k, R - 1, q.extent(R - 1), "the key dim of q");
  check_extent(where, "out", out, R - 1, v.extent(R - 1), "the value dim of v");
  linear_problem p;
  p.N = R == 4 ? q.extent(0) : 1;
  p.T = q.extent(R - 3);
  p.H = q.extent(R - 2);
  p.K = q.extent(R - 1);
  p.V = v.extent(R - 1);
  require(p.K >= 1, where, "q", "extent(" + std::to_string(R - 1) + ") >= 1 (the key dim)", p.K);
  require(p.V >= 1, where, "v", "extent(" + std::to_string(R - 1) + ") >= 1 (the value dim)", p.V);
  p.scale = opt.scale != 0.0f ? opt.scale : resolve_scale({}, p.K);
  return p;
}

/// Checks a per-token, per-head input (a gate g or beta) [B, T, H] (or [total, H]) against q.
template <std::size_t R, class G, class TQ>
void check_linear_gate(std::string_view where, std::string_view name, const tensor_view<G, R>& g,
                       const tensor_view<TQ, R + 1>& q) {
  check_view(where, name, g, false);
  for (std::size_t r = 0; r < R; ++r)
    check_extent(where, name, g, r, q.extent(r), "extent(" + std::to_string(r) + ") of q");
}

/// Checks cu_seqlens of a varlen call over `total` tokens: N + 1 >= 2 entries, starting at 0,
/// non-decreasing, ending at total. Returns N.
inline index_t check_linear_cu_seqlens(std::string_view where, std::span<const std::int32_t> cu,
                                       index_t total) {
  require(cu.size() >= 2, where, "cu_seqlens", "at least 2 entries (N + 1 for N sequences)",
          static_cast<index_t>(cu.size()));
  require(cu.front() == 0, where, "cu_seqlens", "entry 0 == 0", cu.front());
  for (std::size_t i = 1; i < cu.size(); ++i)
    require(cu[i] >= cu[i - 1], where, "cu_seqlens",
            "non-decreasing entries; entry " + std::to_string(i) + " >= " + std::to_string(cu[i - 1]),
            cu[i]);
  require(cu.back() == total, where, "cu_seqlens",
          "last entry == " + std::to_string(total) + " (the tokens of q)", cu.back());
  return static_cast<index_t>(cu.size()) - 1;
}

}  // namespace attnkit::detail
