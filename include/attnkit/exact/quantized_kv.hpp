// SPDX-License-Identifier: Apache-2.0
// attnkit::quantized_kv: an int8 K or V cache with one fp32 scale per (token, kv head).
#pragma once

#include <cstdint>

#include <attnkit/core/tensor_view.hpp>

namespace attnkit {

/// An int8 cache, contiguous ([B, S_cache, Hkv, D]) or paged ([num_blocks, block_size, Hkv, D]),
/// with scales of the same first three dimensions: element (x, s, h, d) stands for
/// scales(x, s, h) * values(x, s, h, d). One scale per token and head keeps the dequantisation
/// out of the inner loops: it multiplies a whole dot product (K) or a softmax weight (V).
struct quantized_kv {
  tensor_view<const std::int8_t, 4> values;
  tensor_view<const float, 3> scales;
};

}  // namespace attnkit
