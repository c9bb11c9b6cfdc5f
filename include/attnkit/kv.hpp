// SPDX-License-Identifier: Apache-2.0
// The kv module: kv_cache (contiguous or paged; float, bf16, fp16, int8), its config and parts,
// and the eviction policies applied per head (select, evict, budgets, ThinK channel pruning).
#pragma once

#include <attnkit/kv/adakv_budgets.hpp>
#include <attnkit/kv/alisa.hpp>
#include <attnkit/kv/block_allocator.hpp>
#include <attnkit/kv/compact.hpp>
#include <attnkit/kv/elements.hpp>
#include <attnkit/kv/evict.hpp>
#include <attnkit/kv/eviction_policy.hpp>
#include <attnkit/kv/gather_keys.hpp>
#include <attnkit/kv/h2o.hpp>
#include <attnkit/kv/keyformer.hpp>
#include <attnkit/kv/knorm.hpp>
#include <attnkit/kv/kv_cache.hpp>
#include <attnkit/kv/kv_cache_config.hpp>
#include <attnkit/kv/pyramid_budgets.hpp>
#include <attnkit/kv/quantize.hpp>
#include <attnkit/kv/random.hpp>
#include <attnkit/kv/select.hpp>
#include <attnkit/kv/snapkv.hpp>
#include <attnkit/kv/streaming_llm.hpp>
#include <attnkit/kv/think.hpp>
#include <attnkit/kv/token_stats.hpp>
#include <attnkit/kv/top_positions.hpp>
#include <attnkit/kv/tova.hpp>
