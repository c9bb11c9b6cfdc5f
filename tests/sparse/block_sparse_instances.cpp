// SPDX-License-Identifier: Apache-2.0
// block_sparse_attention and flash_attention compiled once for the block-sparse tests, every
// compiled arch (declared in block_sparse_support.hpp).
#include <attnkit/core/bf16.hpp>
#include <attnkit/exact/flash.hpp>
#include <attnkit/sparse/block_sparse_attention.hpp>

#include "sparse/block_sparse_support.hpp"
#include "support/archs.hpp"

namespace attnkit::test {

template <class Arch, class T>
void block_sparse(tensor_view<const T, 4> q, tensor_view<const T, 4> k, tensor_view<const T, 4> v,
                  tensor_view<T, 4> out, const block_layout& layout, const attention_options& opt,
                  tensor_view<float, 3> lse) {
  block_sparse_attention<Arch, T>(q, k, v, out, layout, opt, lse);
}

template <class Arch>
void dense_flash(tensor_view<const float, 4> q, tensor_view<const float, 4> k,
                 tensor_view<const float, 4> v, tensor_view<float, 4> out,
                 const attention_options& opt, tensor_view<float, 3> lse) {
  flash_attention<Arch, float>(q, k, v, out, opt, lse);
}

namespace {

// Taking the addresses into volatile statics keeps out-of-line definitions for the test files.
[[maybe_unused]] const bool kInstantiated = [] {
  tested_archs::for_each([](auto arch) {
    using Arch = decltype(arch);
    static auto* volatile sparse = &block_sparse<Arch, float>;
    static auto* volatile dense = &dense_flash<Arch>;
    (void)sparse;
    (void)dense;
  });
  static auto* volatile half = &block_sparse<default_arch, bf16>;
  (void)half;
  return true;
}();

}  // namespace
}  // namespace attnkit::test
