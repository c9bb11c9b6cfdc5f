// SPDX-License-Identifier: Apache-2.0
// kv::policy_inputs and the kv::eviction_policy concept: what a policy reads and the members
// kv::select calls.
#pragma once

#include <concepts>
#include <string_view>
#include <vector>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/kv/token_stats.hpp>

namespace attnkit::kv {

/// The inputs a policy reads: keys [L, D] and the token_stats spans. select checks that each one
/// a policy reads has L entries, so a policy never sees a short or absent input.
struct policy_inputs {
  bool keys = false;
  bool accumulated = false;
  bool last = false;
  bool window = false;
};

/// An eviction policy: a small struct with
/// - `static constexpr policy_inputs kInputs`, what it reads;
/// - `void check(std::string_view where) const`, which throws attnkit::error naming the invalid
///   field as "policy.<field>";
/// - `std::vector<index_t> select_unchecked(keys, stats, L, budget) const`, the ascending
///   positions it keeps, for 0 < budget < L and checked inputs (select handles the rest).
template <class P>
concept eviction_policy = requires(const P& policy, tensor_view<const float, 2> keys,
                                   const token_stats& stats, index_t n, std::string_view where) {
  { P::kInputs } -> std::convertible_to<policy_inputs>;
  policy.check(where);
  { policy.select_unchecked(keys, stats, n, n) } -> std::same_as<std::vector<index_t>>;
};

}  // namespace attnkit::kv
