// SPDX-License-Identifier: Apache-2.0
// The definitions behind flash_instances.hpp, included only by the flash_instances_<type>.cpp files.
#pragma once

#include "exact/flash_instances.hpp"

namespace attnkit::test {

template <class Arch, class T>
void flash(tensor_view<const T, 4> q, tensor_view<const T, 4> k, tensor_view<const T, 4> v,
           tensor_view<T, 4> out, const attention_options& opt, tensor_view<float, 3> lse) {
  flash_attention<Arch, T>(q, k, v, out, opt, lse);
}

template <class Arch, class T>
void flash_varlen(tensor_view<const T, 3> q, tensor_view<const T, 3> k, tensor_view<const T, 3> v,
                  tensor_view<T, 3> out, std::span<const std::int32_t> cu_seqlens_q,
                  std::span<const std::int32_t> cu_seqlens_k, const attention_options& opt,
                  tensor_view<float, 2> lse) {
  flash_attention_varlen<Arch, T>(q, k, v, out, cu_seqlens_q, cu_seqlens_k, opt, lse);
}

/// Emits flash<Arch, T> and flash_varlen<Arch, T> for every compiled arch: taking their
/// addresses into volatile statics makes the compiler keep out-of-line definitions, which the
/// other test files link against.
template <class T>
void instantiate_flash() {
  simd::compiled_archs::for_each([](auto arch) {
    using Arch = decltype(arch);
    static auto* volatile dense = &flash<Arch, T>;
    static auto* volatile varlen = &flash_varlen<Arch, T>;
    (void)dense;
    (void)varlen;
  });
}

}  // namespace attnkit::test
