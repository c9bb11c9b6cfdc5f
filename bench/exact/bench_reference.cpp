// SPDX-License-Identifier: Apache-2.0
// Exact-attention baselines: naive Eigen attention over the sweep, the double oracle at one shape.
#include <attnkit/exact/reference.hpp>

#include "support/attention_tensors.hpp"
#include "support/eigen_attention.hpp"
#include "support/exact_sweep.hpp"
#include "support/registry.hpp"

namespace attnkit::bench {
namespace {

// One baseline object for the file: the first (untimed, iteration-count) run at each size
// allocates its S buffers and every later run reuses them.
eigen_attention& eigen() {
  static eigen_attention baseline;
  return baseline;
}

void register_eigen(const attention_shape& shape, int threads) {
  register_benchmark(shape.spec("eigen", threads), [shape](benchmark::State& state) {
    attention_tensors tensors(shape);
    const attention_options opt = shape.options();
    for (auto _ : state) eigen()(tensors.q(), tensors.k(), tensors.v(), tensors.out(), opt);
  });
}

void register_exact_baselines(const suite_settings& settings) {
  for (const attention_shape& shape : exact_sweep(settings))
    for (int threads : kSweepThreads) register_eigen(shape, threads);

  // The oracle loops over pairs in double without blocking; one small shape is enough to show
  // how far it is from Eigen (and so why tests, not benchmarks, call it).
  const attention_shape small{.B = 1, .Hq = 2, .Hkv = 2, .Sq = 256, .Sk = 256, .D = 64};
  register_eigen(small, 1);
  register_benchmark(small.spec("reference", 1, "eigen"), [small](benchmark::State& state) {
    attention_tensors tensors(small);
    const attention_options opt = small.options();
    for (auto _ : state)
      reference::attention<float>(tensors.q(), tensors.k(), tensors.v(), tensors.out(), opt);
  });
}

const bool kAdded = add_suite(register_exact_baselines);

}  // namespace
}  // namespace attnkit::bench
