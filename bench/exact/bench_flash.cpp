// SPDX-License-Identifier: Apache-2.0
// flash_attention over the exact sweep, beside the naive Eigen baseline of the same run.
#include <attnkit/exact/flash.hpp>

#include "support/attention_tensors.hpp"
#include "support/exact_sweep.hpp"
#include "support/registry.hpp"

namespace attnkit::bench {
namespace {

void register_flash(const suite_settings& settings) {
  for (const attention_shape& shape : exact_sweep(settings))
    for (int threads : kSweepThreads)
      register_benchmark(shape.spec("flash", threads, "eigen"), [shape](benchmark::State& state) {
        attention_tensors tensors(shape);
        const attention_options opt = shape.options();
        for (auto _ : state) flash_attention(tensors.q(), tensors.k(), tensors.v(), tensors.out(), opt);
      });
}

const bool kAdded = add_suite(register_flash);

}  // namespace
}  // namespace attnkit::bench
