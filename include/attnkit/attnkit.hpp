// SPDX-License-Identifier: Apache-2.0
// The umbrella header: everything public in attnkit.
#pragma once

#include <attnkit/core.hpp>
#include <attnkit/exact.hpp>
#include <attnkit/kv.hpp>
#include <attnkit/linear.hpp>
#include <attnkit/lowrank.hpp>
#include <attnkit/simd.hpp>
#include <attnkit/sparse.hpp>
