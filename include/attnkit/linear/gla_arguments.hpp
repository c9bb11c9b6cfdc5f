// SPDX-License-Identifier: Apache-2.0
// detail::check_gla_key_gate and check_gla_step: the checks of the gla key gate and of the
// one-token step calls, beside the family's shared checks in linear/arguments.hpp.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <attnkit/core/error.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/exact/arguments.hpp>
#include <attnkit/linear/arguments.hpp>
#include <attnkit/linear/linear_options.hpp>

namespace attnkit::detail {

/// Checks a per-key gate gk of q's extents ([B, T, H, K], [total, H, K] or [B, H, K]); any
/// strides.
template <std::size_t R, class G, class TQ>
void check_gla_key_gate(std::string_view where, const tensor_view<G, R>& gk,
                        const tensor_view<TQ, R>& q) {
  check_view(where, "gk", gk, false);
  for (std::size_t r = 0; r < R; ++r)
    check_extent(where, "gk", gk, r, q.extent(r), "extent(" + std::to_string(r) + ") of q");
}

/// Checks a one-token step: q, k [B, H, K], v, out [B, H, V], state [B, H, K, V] (required, an
/// output), opt.causal and no opt.normalize. Returns the sizes with N = T = B.
template <class TQ, class TK, class TV, class TO, class TS>
linear_problem check_gla_step(std::string_view where, const tensor_view<TQ, 3>& q,
                              const tensor_view<TK, 3>& k, const tensor_view<TV, 3>& v,
                              const tensor_view<TO, 3>& out, const tensor_view<TS, 4>& state,
                              const linear_options& opt, bool plain) {
  require(!opt.normalize, where, "opt.normalize",
          "false (a step carries no normaliser in its state)", "true");
  require(opt.causal, where, "opt.causal", "true (a step sees the tokens before it)", "false");
  linear_problem p = check_linear_qkv(where, q, k, v, out, opt);
  check_linear_options(where, opt, plain, true);
  p.N = p.T;
  require(is_given(state), where, "state", "a [B, H, K, V] state to update", "none");
  check_linear_state(where, "state", state, p);
  return p;
}

}  // namespace attnkit::detail
