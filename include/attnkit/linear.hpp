// SPDX-License-Identifier: Apache-2.0
// The linear-attention module: linear, gated (simple_gla, gla) and delta-rule attention, their
// feature maps, prefix_attention (one query per head over every prefix), options, argument
// checks and double-precision references.
#pragma once

#include <attnkit/linear/arguments.hpp>
#include <attnkit/linear/delta_rule.hpp>
#include <attnkit/linear/feature_maps.hpp>
#include <attnkit/linear/gated_delta_rule.hpp>
#include <attnkit/linear/gla.hpp>
#include <attnkit/linear/linear_attention.hpp>
#include <attnkit/linear/linear_options.hpp>
#include <attnkit/linear/performer_feature_map.hpp>
#include <attnkit/linear/prefix_attention.hpp>
#include <attnkit/linear/reference.hpp>
#include <attnkit/linear/reference_prefix_attention.hpp>
#include <attnkit/linear/simple_gla.hpp>
