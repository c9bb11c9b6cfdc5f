// SPDX-License-Identifier: Apache-2.0
// test::flash_backward and test::flash_varlen_backward: the exact-attention backward for the
// tests, declared here and compiled once in flash_backward_instances_<type>.cpp, so the test
// files do not each instantiate every kernel variant of every arch.
#pragma once

#include <attnkit/exact/flash_attention_backward.hpp>
#include <cstdint>
#include <span>

namespace attnkit::test {

/// attnkit::flash_attention_backward<Arch>, compiled in the instance files for every compiled
/// arch and T in {float, bf16, fp16}.
template <class Arch, class T>
void flash_backward(tensor_view<const T, 4> q, tensor_view<const T, 4> k, tensor_view<const T, 4> v,
                    tensor_view<const T, 4> out, tensor_view<const T, 4> dout,
                    tensor_view<const float, 3> lse, tensor_view<T, 4> dq, tensor_view<T, 4> dk,
                    tensor_view<T, 4> dv, const attention_options& opt = {},
                    tensor_view<const float, 3> dlse = {});

/// attnkit::flash_attention_varlen_backward<Arch>, compiled in the instance files like
/// flash_backward.
template <class Arch, class T>
void flash_varlen_backward(tensor_view<const T, 3> q, tensor_view<const T, 3> k,
                           tensor_view<const T, 3> v, tensor_view<const T, 3> out,
                           tensor_view<const T, 3> dout, tensor_view<const float, 2> lse,
                           tensor_view<T, 3> dq, tensor_view<T, 3> dk, tensor_view<T, 3> dv,
                           std::span<const std::int32_t> cu_seqlens_q,
                           std::span<const std::int32_t> cu_seqlens_k,
                           const attention_options& opt = {},
                           tensor_view<const float, 2> dlse = {});

}  // namespace attnkit::test
