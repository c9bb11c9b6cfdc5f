// SPDX-License-Identifier: Apache-2.0
// simd::exp against std::exp, and bf16/fp16 loads and stores against scalar loops, in L1.
//
// Every loop here runs in L1 (at most 16 KiB in and 16 KiB out), so DRAM bandwidth does not
// bound it, and exp mixes FMAs with rounding and integer work while the conversions are shifts
// and shuffles, so a fraction of the FMA peak would not be honest either: the rows have no
// limit. They report Gelem/s and GB/s of L1 traffic; the number to read is the speed-up over
// the scalar loop, which is compiled with the same flags (g++ -O3 vectorises the bf16 ones).
#include <cmath>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include <attnkit/core/bf16.hpp>
#include <attnkit/core/fp16.hpp>
#include <attnkit/simd/convert.hpp>
#include <attnkit/simd/exp.hpp>

#include "support/registry.hpp"

namespace attnkit::bench {
namespace {

using batch = xsimd::batch<float, default_arch>;
constexpr std::size_t kCount = 4096;

// Cache-line aligned, so that no run depends on where malloc put the arrays (with 16-byte
// alignment every other 32-byte access splits a line, and times varied by 2x between runs).
template <class T>
using buffer = std::vector<T, xsimd::aligned_allocator<T, 64>>;
static_assert(kCount % batch::size == 0, "kCount must be a multiple of every batch width.");

// Softmax arguments x - max: [-20, 0] covers every weight above 2e-9.
template <class T = float>
buffer<T> arguments() {
  buffer<T> x;
  for (std::size_t i = 0; i < kCount; ++i) x.push_back(T(-20.0f * float(i) / float(kCount)));
  return x;
}

// The output must be written every iteration: DoNotOptimize + ClobberMemory make it observable.
template <class T>
void keep(buffer<T>& y) {
  benchmark::DoNotOptimize(y.data());
  benchmark::ClobberMemory();
}

void exp_vector(benchmark::State& state) {
  const auto x = arguments();
  buffer<float> y(kCount);
  for (auto _ : state) {
    for (std::size_t i = 0; i < kCount; i += batch::size)
      simd::exp(batch::load_unaligned(&x[i])).store_unaligned(&y[i]);
    keep(y);
  }
}

void exp_scalar(benchmark::State& state) {
  const auto x = arguments();
  buffer<float> y(kCount);
  for (auto _ : state) {
    for (std::size_t i = 0; i < kCount; ++i) y[i] = std::exp(x[i]);
    keep(y);
  }
}

template <class T>
void load_vector(benchmark::State& state) {
  const auto x = arguments<T>();
  buffer<float> y(kCount);
  for (auto _ : state) {
    for (std::size_t i = 0; i < kCount; i += batch::size)
      simd::load<default_arch>(&x[i]).store_unaligned(&y[i]);
    keep(y);
  }
}

template <class T>
void load_scalar(benchmark::State& state) {
  const auto x = arguments<T>();
  buffer<float> y(kCount);
  for (auto _ : state) {
    for (std::size_t i = 0; i < kCount; ++i) y[i] = float(x[i]);
    keep(y);
  }
}

template <class T>
void store_vector(benchmark::State& state) {
  const auto x = arguments();
  buffer<T> y(kCount, T(0.0f));
  for (auto _ : state) {
    for (std::size_t i = 0; i < kCount; i += batch::size)
      simd::store<default_arch>(&y[i], batch::load_unaligned(&x[i]));
    keep(y);
  }
}

template <class T>
void store_scalar(benchmark::State& state) {
  const auto x = arguments();
  buffer<T> y(kCount, T(0.0f));
  for (auto _ : state) {
    for (std::size_t i = 0; i < kCount; ++i) y[i] = T(x[i]);
    keep(y);
  }
}

// "vector" is attnkit::simd on default_arch; "scalar" (std::exp, or the element types' own
// conversions) is its baseline.
void register_pair(const std::string& operation, double bytes_per_element, benchmark_body vector,
                   benchmark_body scalar) {
  const benchmark_spec spec{.family = "simd",
                            .variant = "scalar",
                            .shape = operation + " N" + std::to_string(kCount),
                            .bytes = bytes_per_element * kCount,
                            .items = kCount,
                            .limit = limit_kind::none,
                            .baseline = {}};
  register_benchmark(spec, std::move(scalar));
  benchmark_spec vector_spec = spec;
  vector_spec.variant = "vector";
  vector_spec.baseline = "scalar";
  register_benchmark(vector_spec, std::move(vector));
}

void register_simd(const suite_settings&) {
  register_pair("exp", 8, exp_vector, exp_scalar);
  register_pair("bf16 load", 6, load_vector<bf16>, load_scalar<bf16>);
  register_pair("bf16 store", 6, store_vector<bf16>, store_scalar<bf16>);
  register_pair("fp16 load", 6, load_vector<fp16>, load_scalar<fp16>);
  register_pair("fp16 store", 6, store_vector<fp16>, store_scalar<fp16>);
}

const bool kAdded = add_suite(register_simd);

}  // namespace
}  // namespace attnkit::bench
