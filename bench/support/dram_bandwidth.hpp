// SPDX-License-Identifier: Apache-2.0
// measure_dram_bandwidth: how fast one or more threads stream-read a buffer far larger than L3.
#pragma once

#include <span>

namespace attnkit::bench {

/// Best of a few full reads of `buffer` split into one contiguous slice per thread (threads
/// started together), in GB/s summed over the threads. @pre buffer is already touched (its
/// pages exist) and many times the size of the last-level cache.
double measure_dram_bandwidth(std::span<const float> buffer, int threads);

}  // namespace attnkit::bench
