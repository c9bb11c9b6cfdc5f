// SPDX-License-Identifier: Apache-2.0
// exact_sweep: the shapes and thread counts every exact-attention kernel is benchmarked at.
#pragma once

#include <array>
#include <vector>

#include "support/attention_shape.hpp"
#include "support/registry.hpp"

namespace attnkit::bench {

/// Thread counts of the sweep; the probe measures the limits at both.
inline constexpr std::array<int, 2> kSweepThreads = {1, 2};

/// B1 H8, D in {64, 128}, N = Sq = Sk in {512, 2048} (and 8192 with settings.full), causal and
/// not. Every exact kernel uses this list, so its rows meet the eigen baseline's rows of the
/// same family, shape and threads.
inline std::vector<attention_shape> exact_sweep(const suite_settings& settings) {
  std::vector<index_t> lengths = {512, 2048};
  if (settings.full) lengths.push_back(8192);
  std::vector<attention_shape> shapes;
  for (index_t D : {64, 128})
    for (index_t N : lengths)
      for (bool causal : {false, true})
        shapes.push_back({.B = 1, .Hq = 8, .Hkv = 8, .Sq = N, .Sk = N, .D = D, .causal = causal});
  return shapes;
}

}  // namespace attnkit::bench
