// SPDX-License-Identifier: Apache-2.0
// delta_rule and gated_delta_rule, chunked (default C = 64, and C = 24) against recurrent (the
// baseline: "vs baseline" is recurrent time / chunked time), B = 1, H = 4, K = V = 128, one
// thread, T = 1024 and 8192 (issue 7: delta_rule recurrent / chunked >= 1.5 at T = 8192).
#include <attnkit/linear/delta_rule.hpp>
#include <attnkit/linear/gated_delta_rule.hpp>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "support/registry.hpp"

namespace attnkit::bench {
namespace {

constexpr index_t kH = 4, kK = 128, kV = 128;

/// Inputs as DeltaNet sees them: L2-normalised keys, beta in (0, 1), log gates in (-0.1, 0).
struct delta_tensors {
  index_t T;
  std::vector<float> q, k, v, g, beta, out;

  explicit delta_tensors(index_t tokens)
      : T(tokens), q(std::size_t(T * kH * kK)), k(q.size()), v(std::size_t(T * kH * kV)),
        g(std::size_t(T * kH)), beta(g.size()), out(v.size()) {
    std::minstd_rand rng(11);
    auto uniform = [&] { return float(rng()) / float(std::minstd_rand::max()); };
    for (auto& x : q) x = 2.0f * uniform() - 1.0f;
    for (auto& x : v) x = 2.0f * uniform() - 1.0f;
    for (std::size_t row = 0; row < k.size(); row += kK) {
      float norm = 0.0f;
      for (index_t i = 0; i < kK; ++i) norm += (k[row + i] = 2.0f * uniform() - 1.0f) * k[row + i];
      for (index_t i = 0; i < kK; ++i) k[row + i] /= std::sqrt(norm);
    }
    for (auto& x : g) x = -0.1f * uniform();
    for (auto& x : beta) x = 0.05f + 0.9f * uniform();
  }

  void run(bool gated, const linear_options& opt) {
    const tensor_view<const float, 4> qv(q.data(), {1, T, kH, kK}), kv(k.data(), {1, T, kH, kK}),
        vv(v.data(), {1, T, kH, kV});
    const tensor_view<const float, 3> gv(g.data(), {1, T, kH}), bv(beta.data(), {1, T, kH});
    const tensor_view<float, 4> ov(out.data(), {1, T, kH, kV});
    if (gated) gated_delta_rule(qv, kv, vv, gv, bv, ov, opt);
    else delta_rule(qv, kv, vv, bv, ov, opt);
  }
};

/// chunk == 0: recurrent; else chunked with chunks of `chunk` tokens.
void register_one(bool gated, index_t T, index_t chunk) {
  const bool chunked = chunk > 0;
  // FLOPs of the recurrence (3 K V FMAs per token and head) for both modes, so that GFLOP/s
  // compare like time does; the chunked form does about 1.1x that at C = 24, 1.3x at C = 64.
  benchmark_spec spec{.family = gated ? "gated_delta_rule" : "delta_rule",
                      .variant = !chunked         ? "recurrent"
                                 : chunk == 64 ? "chunked"
                                               : "chunked-c" + std::to_string(chunk),
                      .shape = "B1 H4 T" + std::to_string(T) + " K128 V128",
                      .threads = 1,
                      .flops = 6.0 * double(T * kH * kK * kV),
                      .items = double(T),
                      .limit = limit_kind::compute,
                      .baseline = chunked ? "recurrent" : ""};
  register_benchmark(spec, [gated, T, chunk](benchmark::State& state) {
    delta_tensors tensors(T);
    linear_options opt;
    if (chunk > 0) opt.chunk_size = chunk;
    else opt.mode = linear_mode::recurrent;
    for (auto _ : state) tensors.run(gated, opt);
  });
}

void register_delta(const suite_settings&) {
  for (bool gated : {false, true})
    for (index_t T : {1024, 8192}) {
      register_one(gated, T, 0);
      register_one(gated, T, 64);  // the default chunk_size
      register_one(gated, T, 24);  // the fastest of 16..64 in steps of 8 on Zen 3 (K = V = 128)
    }
}

const bool kAdded = add_suite(register_delta);

}  // namespace
}  // namespace attnkit::bench
