// SPDX-License-Identifier: Apache-2.0
// The exact attention module: flash_attention (dense, varlen, over a KV cache) and its backward,
// merge_attention_states, options, argument checks and the double-precision references.
#pragma once

#include <attnkit/exact/arguments.hpp>
#include <attnkit/exact/flash.hpp>
#include <attnkit/exact/flash_attention_backward.hpp>
#include <attnkit/exact/kvcache.hpp>
#include <attnkit/exact/merge_states.hpp>
#include <attnkit/exact/options.hpp>
#include <attnkit/exact/reference.hpp>
#include <attnkit/exact/reference_kvcache.hpp>
