// SPDX-License-Identifier: Apache-2.0
// Compile-only check of the AVX-512 code paths (built with AVX-512 flags even on machines without
// it, never run): every kernel template instantiated for each AVX-512 arch and element type.
#include <attnkit/attnkit.hpp>

namespace attnkit {

template <class Arch, class T>
void instantiate(tensor_view<const T, 4> x, tensor_view<T, 4> out, T* p, float* f) {
  flash_attention<Arch>(x, x, x, out);
  flash_attention_backward<Arch>(x, x, x, x, x, tensor_view<const float, 3>{}, out, out, out);
  merge_attention_states<Arch>(tensor_view<const float, 5>{}, tensor_view<const float, 4>{}, out);
  const auto b = simd::load<Arch>(p);
  simd::store(p, simd::exp<Arch>(b) + simd::exp_nonpositive<Arch>(b));
  f[0] = simd::reduce_max(b) + simd::reduce_sum(b);
}

template void instantiate<xsimd::avx512f, float>(tensor_view<const float, 4>, tensor_view<float, 4>, float*, float*);
template void instantiate<xsimd::avx512bw, float>(tensor_view<const float, 4>, tensor_view<float, 4>, float*, float*);
template void instantiate<xsimd::avx512bw, bf16>(tensor_view<const bf16, 4>, tensor_view<bf16, 4>, bf16*, float*);
template void instantiate<xsimd::avx512bw, fp16>(tensor_view<const fp16, 4>, tensor_view<fp16, 4>, fp16*, float*);

}  // namespace attnkit
