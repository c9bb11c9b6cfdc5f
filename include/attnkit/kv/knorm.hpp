// SPDX-License-Identifier: Apache-2.0
// kv::knorm, the key-norm policy: the tokens whose keys have the lowest L2 norm.
#pragma once

#include <string_view>
#include <vector>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/kv/eviction_policy.hpp>
#include <attnkit/kv/token_stats.hpp>
#include <attnkit/kv/top_positions.hpp>

namespace attnkit::kv {

/// Key-norm eviction ("A Simple and Effective L2 Norm-Based Strategy for KV Cache Compression",
/// Devoto et al., arXiv 2406.11430; kvpress KnormPress): keep the positions whose keys have the
/// lowest L2 norm, which the paper finds draw the most attention. The score is -||k_i||^2 in
/// double, so a NaN key ranks last and an infinite one just before it; equal norms keep the
/// later position. Reads only the keys.
struct knorm {
  static constexpr policy_inputs kInputs{.keys = true};

  void check(std::string_view) const {}

  /// @pre 0 < budget < L; keys [L, D].
  std::vector<index_t> select_unchecked(const tensor_view<const float, 2>& keys, const token_stats&,
                                        index_t L, index_t budget) const {
    return detail::recent_plus_top(L, budget, 0, [&](index_t i) {
      double norm2 = 0.0;
      for (index_t d = 0; d < keys.extent(1); ++d) {
        const double x = keys(i, d);
        norm2 += x * x;
      }
      return -norm2;
    });
  }
};

}  // namespace attnkit::kv
