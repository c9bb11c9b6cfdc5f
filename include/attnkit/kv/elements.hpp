// SPDX-License-Identifier: Apache-2.0
// The element types of the kv module: what kv_cache stores and what it accepts on append.
#pragma once

#include <cstdint>
#include <type_traits>

#include <attnkit/core/bf16.hpp>
#include <attnkit/core/fp16.hpp>

namespace attnkit {

/// Element types of new keys and values handed to kv_cache::append (const or not): fp32, or the
/// bf16 / fp16 storage types.
template <class T>
concept kv_input_element = std::is_same_v < std::remove_const_t<T>,
float > || std::is_same_v<std::remove_const_t<T>, bf16> ||
    std::is_same_v<std::remove_const_t<T>, fp16>;

/// Element types a kv_cache stores: the input types, or int8 quantised with one fp32 scale per
/// (token, kv head).
template <class C>
concept kv_cache_element =
    (kv_input_element<C> && !std::is_const_v<C>) || std::is_same_v<C, std::int8_t>;

}  // namespace attnkit
