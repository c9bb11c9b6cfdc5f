// SPDX-License-Identifier: Apache-2.0
// Wrappers for xsimd calls whose names changed across versions, so a newer xsimd is a one-file change.
#pragma once

#include <cstdint>

#include <attnkit/simd/arch.hpp>

namespace attnkit::simd {

/// An int32 lane mask as a float lane mask (xsimd 8: bool_cast; later: batch_bool_cast).
template <class Arch>
xsimd::batch_bool<float, Arch> float_mask(const xsimd::batch_bool<std::int32_t, Arch>& m) noexcept {
  return xsimd::bool_cast(m);
}

}  // namespace attnkit::simd
