// SPDX-License-Identifier: Apache-2.0
// The core module: tensor_view, error, the bf16 and fp16 storage types, threads.
#pragma once

#include <attnkit/core/bf16.hpp>
#include <attnkit/core/error.hpp>
#include <attnkit/core/fp16.hpp>
#include <attnkit/core/splitmix64.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/core/thread_pool.hpp>
#include <attnkit/core/threads.hpp>
