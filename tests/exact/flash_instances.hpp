// SPDX-License-Identifier: Apache-2.0
// test::flash and test::flash_varlen: flash_attention for the tests, declared here and compiled
// once in flash_instances_<type>.cpp, so the many test files do not each instantiate every kernel
// variant of every arch (that took most of the test build's time).
#pragma once

#include <cstdint>
#include <span>

#include <attnkit/exact/flash.hpp>

namespace attnkit::test {

/// attnkit::flash_attention<Arch>, compiled in the instance files for every compiled arch and
/// T in {float, bf16, fp16}.
template <class Arch, class T>
void flash(tensor_view<const T, 4> q, tensor_view<const T, 4> k, tensor_view<const T, 4> v,
           tensor_view<T, 4> out, const attention_options& opt = {}, tensor_view<float, 3> lse = {});

/// attnkit::flash_attention_varlen<Arch>, compiled in the instance files like flash.
template <class Arch, class T>
void flash_varlen(tensor_view<const T, 3> q, tensor_view<const T, 3> k, tensor_view<const T, 3> v,
                  tensor_view<T, 3> out, std::span<const std::int32_t> cu_seqlens_q,
                  std::span<const std::int32_t> cu_seqlens_k, const attention_options& opt = {},
                  tensor_view<float, 2> lse = {});

}  // namespace attnkit::test
