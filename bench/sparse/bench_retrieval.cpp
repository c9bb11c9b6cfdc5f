// SPDX-License-Identifier: Apache-2.0
// routing_attention, lsh_attention and landmark_attention against flash_attention at the same
// shape in the same run (one thread): prefill at N = 2048 and decode with Sq = 1..16 queries.
// Each variant's relative error against flash on the benchmark's (uniform random) inputs is
// printed at registration.
#include <attnkit/exact/flash.hpp>
#include <attnkit/sparse/landmark_attention.hpp>
#include <attnkit/sparse/landmark_summaries.hpp>
#include <attnkit/sparse/lsh_attention.hpp>
#include <attnkit/sparse/routing_attention.hpp>

#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "support/attention_shape.hpp"
#include "support/attention_tensors.hpp"
#include "support/registry.hpp"

namespace attnkit::bench {
namespace {

/// The benchmark's spec in family "retrieval"; the sparse variants count no FLOPs (their work
/// depends on the data), so their line reads as time and speed-up over flash only.
benchmark_spec retrieval_spec(const attention_shape& shape, std::string variant, std::string baseline) {
  benchmark_spec s = shape.spec(std::move(variant), 1, std::move(baseline));
  s.family = "retrieval";
  if (!s.baseline.empty()) s.flops = 0, s.limit = limit_kind::none;
  return s;
}

/// ||out - flash|| / ||flash|| of a variant run once on the shape's tensors.
template <class Run>
double relative_error(const attention_shape& shape, Run&& run) {
  attention_tensors tensors(shape), exact(shape);
  flash_attention(exact.q(), exact.k(), exact.v(), exact.out(), shape.options());
  run(tensors);
  const auto got = tensors.out(), want = exact.out();
  double num = 0, den = 0;
  for (index_t i = 0; i < shape.Sq; ++i)
    for (index_t h = 0; h < shape.Hq; ++h)
      for (index_t d = 0; d < shape.D; ++d) {
        const double g = got(0, i, h, d), w = want(0, i, h, d);
        num += (g - w) * (g - w), den += w * w;
      }
  return std::sqrt(num / den);
}

template <class Run>
void add_variant(const attention_shape& shape, const std::string& variant, Run run) {
  std::printf("retrieval: %-22s %-28s relative error vs flash %.3f\n", variant.c_str(),
              shape.label().c_str(), relative_error(shape, run));
  register_benchmark(retrieval_spec(shape, variant, "flash"), [shape, run](benchmark::State& state) {
    attention_tensors tensors(shape);
    for (auto _ : state) run(tensors);
  });
}

void add_flash(const attention_shape& shape) {
  register_benchmark(retrieval_spec(shape, "flash", ""), [shape](benchmark::State& state) {
    attention_tensors tensors(shape);
    const attention_options opt = shape.options();
    for (auto _ : state) flash_attention(tensors.q(), tensors.k(), tensors.v(), tensors.out(), opt);
  });
}

void register_retrieval(const suite_settings& settings) {
  // Prefill: B1 H4 N2048 D64, full and causal.
  for (bool causal : {false, true}) {
    const attention_shape shape{.B = 1, .Hq = 4, .Hkv = 4, .Sq = 2048, .Sk = 2048, .D = 64, .causal = causal};
    add_flash(shape);
    for (index_t clusters : {8, 32}) {
      const routing_options opt{.clusters = clusters, .iterations = 4, .causal = causal};
      add_variant(shape, "routing-c" + std::to_string(clusters), [opt](attention_tensors<>& t) {
        routing_attention(t.q(), t.k(), t.v(), t.out(), opt);
      });
    }
    for (index_t hashes : {1, 4}) {
      const lsh_options opt{.buckets = 16, .hashes = hashes, .causal = causal};
      add_variant(shape, "lsh-b16x" + std::to_string(hashes), [opt](attention_tensors<>& t) {
        lsh_attention(t.q(), t.k(), t.v(), t.out(), opt);
      });
    }
  }
  // Decode: Sq new queries (causal, bottom-right) over Sk cached keys; landmark retrieves 4
  // blocks of 64 plus the local one, with the block means computed per call or cached.
  std::vector<index_t> lengths = {2048, 8192};
  if (settings.full) lengths.push_back(32768);
  for (index_t Sk : lengths)
    for (index_t Sq : {1, 4, 16}) {
      const attention_shape shape{.B = 1, .Hq = 4, .Hkv = 4, .Sq = Sq, .Sk = Sk, .D = 64, .causal = true};
      add_flash(shape);
      const landmark_options opt{.block_size = 64, .blocks = 4, .causal = true};
      add_variant(shape, "landmark-b64x4", [opt](attention_tensors<>& t) {
        landmark_attention(t.q(), t.k(), t.v(), t.out(), opt);
      });
      // The summaries of the cache, computed once outside the timed loop (a decode loop keeps
      // them beside the cache).
      attention_tensors probe(shape);
      auto summaries = std::make_shared<std::vector<float>>(std::size_t(Sk / 64 * 4 * 64));
      const tensor_view<float, 4> view(summaries->data(), {1, Sk / 64, 4, 64});
      landmark_summaries(probe.k(), view, 64);
      landmark_options cached = opt;
      cached.summaries = view;
      add_variant(shape, "landmark-b64x4-cached", [cached, summaries](attention_tensors<>& t) {
        landmark_attention(t.q(), t.k(), t.v(), t.out(), cached);
      });
    }
}

const bool kAdded = add_suite(register_retrieval);

}  // namespace
}  // namespace attnkit::bench
