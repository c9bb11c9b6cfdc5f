// SPDX-License-Identifier: Apache-2.0
// The exact attention module: flash_attention (dense, varlen), options, argument checks and the
// double-precision reference.
#pragma once

#include <attnkit/exact/arguments.hpp>
#include <attnkit/exact/flash.hpp>
#include <attnkit/exact/options.hpp>
#include <attnkit/exact/reference.hpp>
