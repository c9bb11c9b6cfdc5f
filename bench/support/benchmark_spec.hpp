// SPDX-License-Identifier: Apache-2.0
// benchmark_spec: what one benchmark measures, how much work it does and what it is compared with.
#pragma once

#include <algorithm>
#include <string>

namespace attnkit::bench {

/// The measured limit a benchmark's rate is a fraction of.
enum class limit_kind {
  compute,  ///< GFLOP/s against the FMA peak
  memory,   ///< GB/s against the DRAM read bandwidth
  none,     ///< neither is honest (in-cache loops, work that is not FMAs)
};

/// The metadata of one benchmark; its Google Benchmark name is derived from it.
struct benchmark_spec {
  std::string family;    ///< the kind of work, shared by comparable kernels: "exact", "simd"
  std::string variant;   ///< the implementation: "eigen", "reference", "flash"
  std::string shape;     ///< the problem, as the report prints it: "B1 H8 N512 D64 causal"
  int threads = 1;       ///< attnkit::set_num_threads during the run
  double flops = 0;      ///< floating-point operations per iteration (0: not counted)
  double bytes = 0;      ///< bytes moved per iteration (0: not counted)
  double items = 0;      ///< elements processed per iteration (0: not counted)
  limit_kind limit = limit_kind::none;  ///< the limit the rate is a fraction of
  std::string baseline;  ///< the variant of the same family, shape and threads to compare with

  /// "family/variant/shape/threads:N" with the spaces of the labels turned into '/', so that
  /// --benchmark_filter=exact/eigen/.*/N2048 works without shell quoting.
  std::string name() const {
    std::string n = family + '/' + variant + '/' + shape + "/threads:" + std::to_string(threads);
    std::replace(n.begin(), n.end(), ' ', '/');
    return n;
  }
};

}  // namespace attnkit::bench
