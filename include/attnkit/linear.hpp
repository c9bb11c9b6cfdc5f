// SPDX-License-Identifier: Apache-2.0
// The linear-attention module: linear, gated (simple_gla, gla) and delta-rule attention, their
// options, argument checks and double-precision reference recurrences.
#pragma once

#include <attnkit/linear/arguments.hpp>
#include <attnkit/linear/linear_options.hpp>
#include <attnkit/linear/reference.hpp>
