// SPDX-License-Identifier: Apache-2.0
// Example: a tiny one-layer decoder (random weights, greedy decoding) that prefills a prompt, then
// decodes token by token over attnkit::kv_cache with flash_attention_with_kvcache. With H2O
// eviction (statistics from the kernel's attention_sum output) the cache stays at a fixed budget;
// without eviction, the decoded attention outputs equal one causal flash_attention pass.
#include <attnkit/attnkit.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <span>
#include <vector>

using attnkit::index_t;
using attnkit::tensor_view;

namespace {
constexpr index_t M = 32, Hq = 4, Hkv = 2, D = 8, V = 64;  // model dim, heads, head dim, vocabulary

std::vector<float> randn(std::mt19937& rng, index_t n) {  // n draws of N(0, 1 / M)
  std::normal_distribution<float> normal(0.0f, 1.0f / std::sqrt(float(M)));
  std::vector<float> w(std::size_t(n), 0.0f);
  for (float& x : w) x = normal(rng);
  return w;
}

struct layer {  // embeddings E [V, M], projections Wq [Hq*D, M], Wk, Wv [Hkv*D, M], Wo [M, Hq*D]
  std::vector<float> E, Wq, Wk, Wv, Wo;
  explicit layer(std::mt19937 rng)
      : E(randn(rng, V * M)), Wq(randn(rng, Hq * D * M)), Wk(randn(rng, Hkv * D * M)),
        Wv(randn(rng, Hkv * D * M)), Wo(randn(rng, M * Hq * D)) {}
  static void matvec(const std::vector<float>& W, const float* x, index_t rows, index_t cols,
                     float* y) {
    for (index_t r = 0; r < rows; ++r) {
      y[r] = 0;
      for (index_t c = 0; c < cols; ++c) y[r] += W[r * cols + c] * x[c];
    }
  }
  void qkv(int token, float* q, float* k, float* v) const {  // q [Hq, D], k and v [Hkv, D]
    const float* x = &E[std::size_t(token) * M];
    matvec(Wq, x, Hq * D, M, q), matvec(Wk, x, Hkv * D, M, k), matvec(Wv, x, Hkv * D, M, v);
  }
  int next(int token, const float* o) const {  // residual, then tied-embedding logits, argmax
    float y[M], logits[V];
    matvec(Wo, o, M, Hq * D, y);
    for (index_t i = 0; i < M; ++i) y[i] += E[std::size_t(token) * M + i];
    matvec(E, y, V, M, logits);
    return int(std::max_element(logits, logits + V) - logits);
  }
};

struct run_result {
  std::vector<int> tokens;
  std::vector<float> attn;
  std::vector<index_t> lengths;
};

// Prefill `prompt`, then decode `steps` tokens. budget > 0: evict with H2O to stay within it.
run_result decode(const layer& L, const std::vector<int>& prompt, index_t steps, index_t budget) {
  // The capacity is the budget when evicting: an append past it would throw.
  const index_t cap = budget > 0 ? budget : index_t(prompt.size()) + steps;
  attnkit::kv_cache<float> cache({.batch = 1, .kv_heads = Hkv, .head_dim = D, .capacity = cap});
  std::vector<float> acc(Hkv * cap, 0.0f);  // attention accumulated per (kv head, cached position)
  attnkit::attention_options opt;
  opt.causal = true;  // matters for the prefill chunk; a single new query sees the whole cache
  run_result r{prompt, {}, {}};
  std::vector<int> chunk = prompt;  // step 0 processes the prompt, every later step one token
  for (index_t step = 0; step <= steps; ++step) {
    const index_t n = index_t(chunk.size());
    // 1. Make room: each kv head keeps its budget - n best positions by H2O's score (the 4
    //    newest always, then the highest accumulated attention); the statistic follows the
    //    tokens (compact, which also resets the freed positions to 0 for the tokens to come).
    for (index_t h = 0; budget > 0 && h < Hkv; ++h) {
      if (cache.length(0, h) + n <= budget) continue;
      std::span<float> stat(acc.data() + h * cap, std::size_t(cache.length(0, h)));
      const auto kept = attnkit::kv::evict(cache, 0, h, attnkit::kv::h2o{.recent = 4},
                                           {.accumulated = stat}, budget - n);
      attnkit::kv::compact(stat, kept);
    }
    // 2. Project the new tokens and append their keys and values to the cache.
    std::vector<float> q(n * Hq * D), k(n * Hkv * D), v(n * Hkv * D), o(n * Hq * D);
    for (index_t i = 0; i < n; ++i)
      L.qkv(chunk[i], &q[i * Hq * D], &k[i * Hkv * D], &v[i * Hkv * D]);
    cache.append(0, tensor_view<const float, 3>(k.data(), {n, Hkv, D}),
                 tensor_view<const float, 3>(v.data(), {n, Hkv, D}));
    // 3. Attend over the cache (per-head lengths from seqlens()); attention_sum adds each
    //    position's softmax weight into acc, which H2O reads.
    attnkit::flash_attention_with_kvcache(
        tensor_view<const float, 4>(q.data(), {1, n, Hq, D}), cache.keys(), cache.values(),
        tensor_view<float, 4>(o.data(), {1, n, Hq, D}), cache.seqlens(), opt, cache.block_table(),
        {}, tensor_view<float, 3>(acc.data(), {1, Hkv, cap}));
    r.attn.insert(r.attn.end(), o.begin(), o.end());
    r.lengths.push_back(cache.max_length(0));
    // 4. Greedy next token from the last position's output.
    chunk = {L.next(chunk.back(), &o[(n - 1) * Hq * D])};
    r.tokens.push_back(chunk[0]);
  }
  return r;
}
}  // namespace

int main() {
  const layer L(std::mt19937(5));
  const std::vector<int> prompt = {1, 7, 3, 42, 9, 9, 17, 30, 2, 55, 11, 8};
  const index_t steps = 40, budget = 16;

  // A. Eviction at a budget of 16 tokens per kv head: print the cache length after each step.
  const run_result evicted = decode(L, prompt, steps, budget);
  std::printf("cache length per step (budget %td):", budget);
  for (index_t len : evicted.lengths) std::printf(" %td", len);
  std::printf("\n");
  const bool flat = std::all_of(evicted.lengths.begin(), evicted.lengths.end(),
                                [&](index_t x) { return x <= budget; }) &&
                    evicted.lengths.back() == budget;

  // B. No eviction: the decoded outputs must equal one causal pass over the same tokens.
  const run_result full = decode(L, prompt, steps, 0);
  const index_t T = index_t(full.tokens.size()) - 1;  // the last token was generated, not processed
  std::vector<float> q(T * Hq * D), k(T * Hkv * D), v(T * Hkv * D), o(T * Hq * D);
  for (index_t t = 0; t < T; ++t)
    L.qkv(full.tokens[t], &q[t * Hq * D], &k[t * Hkv * D], &v[t * Hkv * D]);
  attnkit::attention_options causal;
  causal.causal = true;
  attnkit::flash_attention(tensor_view<const float, 4>(q.data(), {1, T, Hq, D}),
                           tensor_view<const float, 4>(k.data(), {1, T, Hkv, D}),
                           tensor_view<const float, 4>(v.data(), {1, T, Hkv, D}),
                           tensor_view<float, 4>(o.data(), {1, T, Hq, D}), causal);
  double err = 0;
  for (std::size_t i = 0; i < o.size(); ++i)
    err = std::max(err, double(std::abs(o[i] - full.attn[i])));
  std::printf("no eviction: %td tokens, max |decode - one causal pass| %.2e\n", T, err);

  if (!flat || !(err < 1e-5)) {
    std::fprintf(
        stderr, "FAILED: %s\n",
        !flat ? "the cache did not stay at its budget" : "decode differs from the causal pass");
    return 1;
  }
  std::printf("ok\n");
  return 0;
}
