// SPDX-License-Identifier: Apache-2.0
// topk_attention (k = 64) and sea_attention (k = 64, rank 16) against flash_attention at the same
// shape in the same run: B = 1, H = 4, N = 2048, D = 64, one thread. "vs baseline" is flash time
// / this kernel's time.
#include <attnkit/exact/flash.hpp>
#include <attnkit/sparse/sea_attention.hpp>
#include <attnkit/sparse/topk_attention.hpp>

#include <string>

#include "support/attention_shape.hpp"
#include "support/attention_tensors.hpp"
#include "support/registry.hpp"

namespace attnkit::bench {
namespace {

constexpr index_t kTopK = 64, kRank = 16;

void register_topk(const suite_settings&) {
  const attention_shape shape{.B = 1, .Hq = 4, .Hkv = 4, .Sq = 2048, .Sk = 2048, .D = 64};
  const double rows = double(shape.B * shape.Hq * shape.Sq);
  const double pairs = rows * double(shape.Sk);
  auto spec = [&](std::string variant, double flops, std::string baseline) {
    benchmark_spec s = shape.spec(std::move(variant), 1, std::move(baseline));
    s.family = "topk";
    s.flops = flops;
    return s;
  };

  register_benchmark(spec("flash", shape.flops(), ""), [shape](benchmark::State& state) {
    attention_tensors tensors(shape);
    for (auto _ : state) flash_attention(tensors.q(), tensors.k(), tensors.v(), tensors.out());
  });

  // Flops: every logit (2 D per pair), then p v over the kept keys (2 D per kept key).
  register_benchmark(spec("topk-k" + std::to_string(kTopK),
                          2.0 * double(shape.D) * pairs + 2.0 * double(shape.D) * rows * double(kTopK),
                          "flash"),
                     [shape](benchmark::State& state) {
                       attention_tensors tensors(shape);
                       for (auto _ : state)
                         topk_attention(tensors.q(), tensors.k(), tensors.v(), tensors.out(), kTopK);
                     });

  // Flops: the estimate (2 rank per pair), the projections, exact logits and p v of kept keys.
  const double projections = 2.0 * double(shape.D * kRank) * double(shape.B * (shape.Hq * shape.Sq + shape.Hkv * shape.Sk));
  register_benchmark(spec("sea-k" + std::to_string(kTopK) + "-r" + std::to_string(kRank),
                          2.0 * double(kRank) * pairs + projections +
                              4.0 * double(shape.D) * rows * double(kTopK),
                          "flash"),
                     [shape](benchmark::State& state) {
                       attention_tensors tensors(shape);
                       const sea_options sea{.top_k = kTopK, .rank = kRank, .seed = 0};
                       for (auto _ : state)
                         sea_attention(tensors.q(), tensors.k(), tensors.v(), tensors.out(), sea);
                     });
}

const bool kAdded = add_suite(register_topk);

}  // namespace
}  // namespace attnkit::bench
