// SPDX-License-Identifier: Apache-2.0
// visible_keys: the contiguous range of keys a query row sees under causal and window masks.
#pragma once

#include <algorithm>

#include <attnkit/exact/options.hpp>

namespace attnkit::bench {

/// Keys [lo, hi) of a row; empty when lo == hi.
struct key_range {
  index_t lo = 0;
  index_t hi = 0;
};

/// The keys query row i sees under opt.causal, opt.window_left/right and opt.align (DESIGN
/// 1.3): the masks of attention_options always leave one contiguous range.
inline key_range visible_keys(const attention_options& opt, index_t Sq, index_t Sk, index_t i) {
  const index_t diag = i + (opt.align == alignment::bottom_right ? Sk - Sq : 0);
  index_t lo = 0, hi = Sk;
  if (opt.causal) hi = std::min(hi, diag + 1);
  if (opt.window_right >= 0) hi = std::min(hi, diag + opt.window_right + 1);
  if (opt.window_left >= 0) lo = std::max(lo, diag - opt.window_left);
  lo = std::min(lo, Sk);
  return {lo, std::clamp(hi, lo, Sk)};
}

}  // namespace attnkit::bench
