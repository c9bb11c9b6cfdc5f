// SPDX-License-Identifier: Apache-2.0
// eigen_attention: the naive exact-attention baseline of DESIGN 5 (GEMM, row softmax, GEMM).
#pragma once

#include <vector>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/exact/options.hpp>

namespace attnkit::bench {

/// Exact attention as a framework's unfused "math" path computes it: for each (b, h),
/// S = scale Q Kᵀ (an Eigen GEMM on the [B, S, H, D] memory in place), a softmax along each
/// row of S, then out = P V (a second GEMM). Every pair is computed, masked or not; masked keys
/// get weight 0. Runs the (b, h) pairs in parallel over attnkit::parallel_for.
///
/// Keep one object alive across calls: its per-thread S buffers are reused, so a timed call
/// allocates nothing once the sizes have been seen.
/// @pre fp32 q [B, Sq, Hq, D], k [B, Sk, Hkv, D], v [B, Sk, Hkv, Dv], out [B, Sq, Hq, Dv] with
///      unit innermost strides, Hq a multiple of Hkv (q head h reads kv head h / (Hq / Hkv)); of
///      the options only scale, causal, align and the windows (softcap, bias, ALiBi and sinks
///      throw attnkit::error). Memory: one Sq x Sk fp32 buffer per thread.
class eigen_attention {
 public:
  void operator()(tensor_view<const float, 4> q, tensor_view<const float, 4> k,
                  tensor_view<const float, 4> v, tensor_view<float, 4> out,
                  const attention_options& opt = {});

 private:
  std::vector<std::vector<float>> scores_;  // S, then P in place: [Sq x Sk] per thread slot
};

}  // namespace attnkit::bench
