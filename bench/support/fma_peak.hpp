// SPDX-License-Identifier: Apache-2.0
// measure_fma_peak: the fp32 FMA rate of attnkit::default_arch on one or more threads.
#pragma once

#include <cstddef>

#include <attnkit/simd/arch.hpp>

namespace attnkit::bench {

/// Independent FMA chains the probe keeps in flight: latency (4 cycles on Zen 3 and on Xeons)
/// x 2 FMA ports needs at least 8; 12 of the 16 ymm registers on AVX2 and 24 of the 32 zmm on
/// AVX-512 leave slack for issue jitter and still fit with the two constant operands.
inline constexpr std::size_t kFmaAccumulators = simd::is_avx512<default_arch> ? 24 : 12;

/// Best of a few runs of kFmaAccumulators FMA chains on each of `threads` threads started
/// together, in GFLOP/s summed over the threads (an FMA counts 2 flops per lane). A run takes
/// about 16 ms on a 3 GHz AVX2 core.
double measure_fma_peak(int threads);

}  // namespace attnkit::bench
