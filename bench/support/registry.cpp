// SPDX-License-Identifier: Apache-2.0
// The registry's storage: function-local statics, safe to use from static initialisers.
#include "support/registry.hpp"

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <utility>

#include <attnkit/core/threads.hpp>

namespace attnkit::bench {
namespace {

std::vector<suite>& suites() {
  static std::vector<suite> all;
  return all;
}

std::vector<benchmark_spec>& specs() {
  static std::vector<benchmark_spec> all;
  return all;
}

}  // namespace

bool add_suite(suite s) {
  suites().push_back(s);
  return true;
}

void register_suites(const suite_settings& settings) {
  for (suite s : suites()) s(settings);
}

void register_benchmark(const benchmark_spec& spec, benchmark_body body) {
  const std::string name = spec.name();
  if (std::any_of(specs().begin(), specs().end(),
                  [&](const benchmark_spec& s) { return s.name() == name; }))
    throw std::logic_error("attnkit::bench: benchmark '" + name + "' is registered twice");
  specs().push_back(spec);
  auto run = [spec, body = std::move(body)](benchmark::State& state) {
    set_num_threads(spec.threads);
    body(state);
    const auto iterations = static_cast<double>(state.iterations());
    if (spec.flops > 0)
      state.counters["FLOP/s"] =
          benchmark::Counter(spec.flops, benchmark::Counter::kIsIterationInvariantRate);
    if (spec.bytes > 0) state.SetBytesProcessed(static_cast<std::int64_t>(spec.bytes * iterations));
    if (spec.items > 0) state.SetItemsProcessed(static_cast<std::int64_t>(spec.items * iterations));
  };
  benchmark::RegisterBenchmark(name.c_str(), std::move(run))
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
}

const std::vector<benchmark_spec>& registered_specs() { return specs(); }

}  // namespace attnkit::bench
