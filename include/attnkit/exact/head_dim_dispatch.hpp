// SPDX-License-Identifier: Apache-2.0
// detail::dispatch_head_dim: the one place where the runtime head dim of the exact kernels
// becomes a template argument.
#pragma once

#include <attnkit/core/tensor_view.hpp>

namespace attnkit::detail {

/// Calls f.template operator()<kD>(): kD = D for the head dims compiled with the dim fixed
/// (64, 80, 96, 128, 192 and 256, FlashAttention's tile dims and the common model dims), and
/// kD = 0, the general kernel, for any other D.
template <class F>
void dispatch_head_dim(index_t D, F&& f) {
  switch (D) {
    case 64: return f.template operator()<64>();
    case 80: return f.template operator()<80>();
    case 96: return f.template operator()<96>();
    case 128: return f.template operator()<128>();
    case 192: return f.template operator()<192>();
    case 256: return f.template operator()<256>();
    default: return f.template operator()<0>();
  }
}

}  // namespace attnkit::detail
