// SPDX-License-Identifier: Apache-2.0
// The kv module: kv_cache (contiguous or paged; float, bf16, fp16, int8), its config and parts.
#pragma once

#include <attnkit/kv/block_allocator.hpp>
#include <attnkit/kv/elements.hpp>
#include <attnkit/kv/kv_cache.hpp>
#include <attnkit/kv/kv_cache_config.hpp>
#include <attnkit/kv/quantize.hpp>
