// SPDX-License-Identifier: Apache-2.0
// The definitions behind flash_backward_instances.hpp, included only by the
// flash_backward_instances_<type>.cpp files.
#pragma once

#include "exact/flash_backward_instances.hpp"

namespace attnkit::test {

template <class Arch, class T>
void flash_backward(tensor_view<const T, 4> q, tensor_view<const T, 4> k, tensor_view<const T, 4> v,
                    tensor_view<const T, 4> out, tensor_view<const T, 4> dout,
                    tensor_view<const float, 3> lse, tensor_view<T, 4> dq, tensor_view<T, 4> dk,
                    tensor_view<T, 4> dv, const attention_options& opt,
                    tensor_view<const float, 3> dlse) {
  flash_attention_backward<Arch, T>(q, k, v, out, dout, lse, dq, dk, dv, opt, dlse);
}

template <class Arch, class T>
void flash_varlen_backward(tensor_view<const T, 3> q, tensor_view<const T, 3> k,
                           tensor_view<const T, 3> v, tensor_view<const T, 3> out,
                           tensor_view<const T, 3> dout, tensor_view<const float, 2> lse,
                           tensor_view<T, 3> dq, tensor_view<T, 3> dk, tensor_view<T, 3> dv,
                           std::span<const std::int32_t> cu_seqlens_q,
                           std::span<const std::int32_t> cu_seqlens_k, const attention_options& opt,
                           tensor_view<const float, 2> dlse) {
  flash_attention_varlen_backward<Arch, T>(q, k, v, out, dout, lse, dq, dk, dv, cu_seqlens_q,
                                           cu_seqlens_k, opt, dlse);
}

/// Emits flash_backward<Arch, T> and flash_varlen_backward<Arch, T> for every compiled arch:
/// taking their addresses into volatile statics makes the compiler keep out-of-line
/// definitions, which the other test files link against.
template <class T>
void instantiate_flash_backward() {
  simd::compiled_archs::for_each([](auto arch) {
    using Arch = decltype(arch);
    static auto* volatile dense = &flash_backward<Arch, T>;
    static auto* volatile varlen = &flash_varlen_backward<Arch, T>;
    (void)dense;
    (void)varlen;
  });
}

}  // namespace attnkit::test
