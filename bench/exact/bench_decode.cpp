// SPDX-License-Identifier: Apache-2.0
// flash_attention_with_kvcache: one new token over a long cache, Llama-style GQA (32 query heads,
// 8 kv heads, D = 128), for every cache element type. Decoding is memory-bound, so each rate is
// GB/s of cache read against the DRAM read bandwidth measured in the same run; int8 is also
// compared with fp16 (the halved traffic should show as a speed-up). The same kernel over a
// cache resident in L2 gives its arithmetic rate against the FMA peak: a long cache can be read
// no faster than that.
#include <attnkit/exact/kvcache.hpp>

#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <utility>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "support/registry.hpp"

namespace attnkit::bench {
namespace {

constexpr index_t kD = 128;

template <class C>
const char* cache_name() {
  if constexpr (std::is_same_v<C, float>) return "f32";
  else if constexpr (std::is_same_v<C, bf16>) return "bf16";
  else if constexpr (std::is_same_v<C, fp16>) return "fp16";
  else return "int8";
}

/// A contiguous cache [1, ctx, Hkv, D] of random values (int8: with per-token scales), q and out.
template <class C>
struct decode_tensors {
  index_t ctx, hq, hkv;
  std::vector<C> k, v;
  std::vector<float> k_scale, v_scale, q, out, attention_sum;
  std::vector<std::int32_t> lens;

  decode_tensors(index_t context, index_t hq, index_t hkv)
      : ctx(context), hq(hq), hkv(hkv), k(std::size_t(ctx * hkv * kD)), v(k.size()),
        k_scale(std::size_t(ctx * hkv), 1.0f / 127.0f), v_scale(k_scale), q(std::size_t(hq * kD)),
        out(q.size()), attention_sum(std::size_t(hkv * ctx)), lens{static_cast<std::int32_t>(ctx)} {
    std::minstd_rand rng(7);
    auto uniform = [&] { return float(rng()) * (2.0f / float(std::minstd_rand::max())) - 1.0f; };
    for (auto& x : q) x = uniform();
    for (std::size_t i = 0; i < k.size(); ++i) {
      if constexpr (std::is_same_v<C, std::int8_t>) {
        k[i] = static_cast<std::int8_t>(std::lround(127.0f * uniform()));
        v[i] = static_cast<std::int8_t>(std::lround(127.0f * uniform()));
      } else {
        k[i] = C(uniform());
        v[i] = C(uniform());
      }
    }
  }

  /// Bytes of cache one call reads: K and V rows (and the int8 scales).
  double bytes() const {
    double row = 2.0 * double(kD) * double(sizeof(C));
    if constexpr (std::is_same_v<C, std::int8_t>) row += 2.0 * sizeof(float);
    return row * double(ctx * hkv);
  }

  /// One call; with `stats`, also the attention statistics of the eviction policies.
  void run(const attention_options& opt, bool stats = false) {
    const tensor_view<float, 3> sums = stats ? tensor_view<float, 3>(attention_sum.data(), {1, hkv, ctx})
                                             : tensor_view<float, 3>();
    const tensor_view<const float, 4> qv(q.data(), {1, 1, hq, kD});
    const tensor_view<float, 4> ov(out.data(), {1, 1, hq, kD});
    const tensor_view<const C, 4> kv(k.data(), {1, ctx, hkv, kD}), vv(v.data(), {1, ctx, hkv, kD});
    if constexpr (std::is_same_v<C, std::int8_t>) {
      const quantized_kv kq{kv, {k_scale.data(), {1, ctx, hkv}}};
      const quantized_kv vq{vv, {v_scale.data(), {1, ctx, hkv}}};
      flash_attention_with_kvcache(qv, kq, vq, ov, lens, opt, {}, {}, sums);
    } else {
      flash_attention_with_kvcache<default_arch, float, C>(qv, kv, vv, ov, lens, opt, {}, {}, sums);
    }
  }
};

/// One benchmark: decoding one token over a cache of ctx positions, hq query and hkv kv heads.
/// A cache that fits in L2 measures the kernel's arithmetic (GFLOP/s against the FMA peak: two
/// FMAs per cached element and query head of its group), a long one the cache read (GB/s
/// against the DRAM read bandwidth).
template <class C>
void register_cache(index_t ctx, index_t hq, index_t hkv, int threads, bool in_cache,
                    bool stats = false) {
  const decode_tensors<C> probe(1, hq, hkv);
  benchmark_spec spec{.family = "decode",
                      .variant = std::string(cache_name<C>()) + (stats ? "+stats" : ""),
                      .shape = "B1 H" + std::to_string(hq) + ":" + std::to_string(hkv) + " ctx" +
                               std::to_string(ctx) + " D128" + (in_cache ? " in-L2" : ""),
                      .threads = threads,
                      .flops = in_cache ? 4.0 * double(hq * ctx * kD) : 0.0,
                      .bytes = probe.bytes() * double(ctx),
                      .limit = in_cache ? limit_kind::compute : limit_kind::memory,
                      .baseline = stats ? cache_name<C>()
                                  : std::is_same_v<C, std::int8_t> ? "fp16" : ""};
  register_benchmark(spec, [ctx, hq, hkv, stats](benchmark::State& state) {
    // Built once per type and shape (Google Benchmark calls a body several times, and a 32K
    // cache takes a moment to fill), shared by the thread counts.
    static std::map<std::pair<index_t, index_t>, std::unique_ptr<decode_tensors<C>>> caches;
    auto& tensors = caches[{ctx, hkv}];
    if (!tensors) tensors = std::make_unique<decode_tensors<C>>(ctx, hq, hkv);
    attention_options opt;
    opt.causal = true;
    for (auto _ : state) tensors->run(opt, stats);
  });
}

template <class C>
void register_type(index_t ctx, int threads) {
  register_cache<C>(ctx, 32, 8, threads, false);
}

void register_decode(const suite_settings&) {
  // Llama-style GQA (32 query heads over 8 kv heads) at 4K and 32K positions; at 32K the fp32
  // and bf16 calls also run with the attention statistics of eviction policies (attention_sum),
  // right after the same call without them.
  for (index_t ctx : {4096, 32768})
    for (int threads : {1, 2}) {
      const bool stats = ctx == 32768;
      register_type<float>(ctx, threads);
      if (stats) register_cache<float>(ctx, 32, 8, threads, false, true);
      register_type<bf16>(ctx, threads);
      if (stats) register_cache<bf16>(ctx, 32, 8, threads, false, true);
      register_type<fp16>(ctx, threads);
      register_type<std::int8_t>(ctx, threads);
    }
  // The arithmetic alone: one kv head's group of four over 384 positions (at most 384 KiB of
  // cache, resident in a 512 KiB L2), one thread.
  register_cache<float>(384, 4, 1, 1, true);
  register_cache<bf16>(384, 4, 1, 1, true);
  register_cache<fp16>(384, 4, 1, 1, true);
  register_cache<std::int8_t>(384, 4, 1, 1, true);
}

const bool kAdded = add_suite(register_decode);

}  // namespace
}  // namespace attnkit::bench
