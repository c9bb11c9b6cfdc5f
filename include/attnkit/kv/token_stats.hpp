// SPDX-License-Identifier: Apache-2.0
// kv::token_stats, the per-position attention statistics of one (sequence, kv head) that the
// eviction policies rank.
#pragma once

#include <span>

namespace attnkit::kv {

/// Attention statistics of the L cached positions of one (sequence, kv head), each summed over
/// the query heads of its GQA group (the decode kernel's attention_sum output). A span is either
/// empty (absent) or holds one entry per position; a policy reads only the ones it needs (see
/// policy_inputs).
struct token_stats {
  /// Attention probabilities summed over every query so far (H2O, Keyformer).
  std::span<const float> accumulated{};
  /// Attention probabilities of the latest query (TOVA).
  std::span<const float> last{};
  /// Attention probabilities summed over an observation window of recent queries (SnapKV, ALISA).
  std::span<const float> window{};
};

}  // namespace attnkit::kv
