// SPDX-License-Identifier: Apache-2.0
// The registry: suites added at start-up register their benchmarks, with metadata, from main.
#pragma once

#include <functional>
#include <vector>

#include <benchmark/benchmark.h>

#include "support/benchmark_spec.hpp"

namespace attnkit::bench {

/// What main tells the suites when it asks them to register.
struct suite_settings {
  bool full = false;  ///< --full or ATTNKIT_BENCH_FULL=1: add the long shapes
};

/// A module's registration function, run once by main after the flags are parsed.
using suite = void (*)(const suite_settings&);

/// The body of one benchmark: setup, then `for (auto _ : state)` around the measured call.
using benchmark_body = std::function<void(benchmark::State&)>;

/// Adds a suite; returns true so that a file can add its suite from a namespace-scope constant:
/// `const bool kAdded = add_suite(register_my_benchmarks);`.
bool add_suite(suite s);

/// Runs every added suite in the order they were added.
void register_suites(const suite_settings& settings);

/// Registers `body` with Google Benchmark under spec.name(), timed in real time. The wrapper
/// sets attnkit::set_num_threads(spec.threads) before the body and reports the FLOP/s, bytes/s
/// and items/s counters of the spec. Throws std::logic_error when the name is taken.
void register_benchmark(const benchmark_spec& spec, benchmark_body body);

/// Every registered spec, in registration order.
const std::vector<benchmark_spec>& registered_specs();

}  // namespace attnkit::bench
