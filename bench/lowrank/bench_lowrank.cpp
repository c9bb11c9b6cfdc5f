// SPDX-License-Identifier: Apache-2.0
// performer, linformer, nystrom and scatterbrain attention against flash_attention at the same
// shape: B = 1, H = 4, N = 2048, D = 64, one thread. "vs baseline" is flash time / method time.
#include <attnkit/exact/flash.hpp>
#include <attnkit/lowrank/linformer_attention.hpp>
#include <attnkit/lowrank/nystrom_attention.hpp>
#include <attnkit/lowrank/performer_attention.hpp>
#include <attnkit/lowrank/scatterbrain_attention.hpp>

#include <random>
#include <string>
#include <vector>

#include "support/registry.hpp"

namespace attnkit::bench {
namespace {

constexpr index_t kN = 2048, kH = 4, kD = 64;
/// The budgets: 256 random features (Performer, Scatterbrain), a band of 2 x 32 + 1 keys
/// (Scatterbrain), 256 projected keys (Linformer), 64 landmarks (Nyström).
constexpr index_t kFeatures = 256, kWindow = 32, kProjected = 256, kLandmarks = 64;

enum class method { flash, performer, linformer, nystrom, scatterbrain };

/// q, k, v in [-1, 1); Linformer's E = F = mean pooling over kProjected segments of the keys.
struct lowrank_tensors {
  std::vector<float> q, k, v, out, e;

  lowrank_tensors() : q(std::size_t(kN * kH * kD)), k(q.size()), v(q.size()), out(q.size()),
                      e(std::size_t(kProjected * kN), 0.0f) {
    std::minstd_rand rng(17);
    auto uniform = [&] { return 2.0f * float(rng()) / float(std::minstd_rand::max()) - 1.0f; };
    for (auto* x : {&q, &k, &v})
      for (auto& y : *x) y = uniform();
    const index_t width = kN / kProjected;
    for (index_t r = 0; r < kProjected; ++r)
      for (index_t j = r * width; j < (r + 1) * width; ++j) e[std::size_t(r * kN + j)] = 1.0f / float(width);
  }

  void run(method what) {
    const tensor_view<const float, 4> qv(q.data(), {1, kN, kH, kD}), kv(k.data(), {1, kN, kH, kD}),
        vv(v.data(), {1, kN, kH, kD});
    const tensor_view<float, 4> ov(out.data(), {1, kN, kH, kD});
    const tensor_view<const float, 2> ev(e.data(), {kProjected, kN});
    switch (what) {
      case method::flash: return flash_attention(qv, kv, vv, ov);
      case method::performer: return performer_attention(qv, kv, vv, ov, {.features = kFeatures});
      case method::linformer: return linformer_attention(qv, kv, vv, ev, ev, ov);
      case method::nystrom: return nystrom_attention(qv, kv, vv, ov, {.landmarks = kLandmarks});
      case method::scatterbrain:
        return scatterbrain_attention(qv, kv, vv, ov, {.features = kFeatures, .window = kWindow});
    }
  }
};

void register_lowrank(const suite_settings&) {
  const std::pair<method, const char*> methods[] = {
      {method::flash, "flash"},
      {method::performer, "performer-m256"},
      {method::linformer, "linformer-k256"},
      {method::nystrom, "nystrom-m64"},
      {method::scatterbrain, "scatterbrain-m256-w32"}};
  for (const auto& [what, name] : methods) {
    benchmark_spec spec{.family = "lowrank",
                        .variant = name,
                        .shape = "B1 H4 N" + std::to_string(kN) + " D64",
                        .threads = 1,
                        .items = double(kN * kH),
                        .limit = limit_kind::none,
                        .baseline = what == method::flash ? "" : "flash"};
    register_benchmark(spec, [what](benchmark::State& state) {
      lowrank_tensors tensors;
      for (auto _ : state) tensors.run(what);
    });
  }
}

const bool kAdded = add_suite(register_lowrank);

}  // namespace
}  // namespace attnkit::bench
