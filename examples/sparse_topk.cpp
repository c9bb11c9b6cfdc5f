// SPDX-License-Identifier: Apache-2.0
// Example: sparse exact attention. block_sparse_attention with a local band and a BigBird layout
// (each query block sees a few key blocks), and topk_attention (each query keeps its top_k
// logits); their errors against exact causal attention on inputs with local structure, and
// top_k = every key giving exact attention back.
#include <attnkit/attnkit.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

using attnkit::index_t;
using attnkit::tensor_view;

namespace {
constexpr index_t B = 1, N = 160, Hq = 4, Hkv = 2, D = 32, blk = 16;
using in4 = tensor_view<const float, 4>;
using out4 = tensor_view<float, 4>;

// ||got - want|| / ||want||
double rel_error(const std::vector<float>& got, const std::vector<float>& want) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    num += double(got[i] - want[i]) * double(got[i] - want[i]);
    den += double(want[i]) * double(want[i]);
  }
  return std::sqrt(num / den);
}
}  // namespace

int main() {
  // 1. Inputs with locality: a latent per token and kv head that drifts slowly along the
  //    sequence (a random walk); keys are the latent, queries the latent of their kv head plus
  //    noise, so a query's largest logits are with nearby keys, as in text or audio models.
  std::mt19937 rng(4);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> q(B * N * Hq * D), k(B * N * Hkv * D), v(B * N * Hkv * D);
  for (index_t t = 0; t < N; ++t)
    for (index_t i = 0; i < Hkv * D; ++i)
      k[t * Hkv * D + i] = (t ? 0.9f * k[(t - 1) * Hkv * D + i] : 0.0f) + 0.6f * normal(rng);
  for (index_t t = 0; t < N; ++t)
    for (index_t h = 0; h < Hq; ++h)
      for (index_t d = 0; d < D; ++d)
        q[(t * Hq + h) * D + d] = k[(t * Hkv + h / (Hq / Hkv)) * D + d] + 0.3f * normal(rng);
  for (float& e : v) e = normal(rng);
  const in4 qv(q.data(), {B, N, Hq, D}), kv(k.data(), {B, N, Hkv, D}), vv(v.data(), {B, N, Hkv, D});

  // 2. Exact causal attention: what the sparse methods approximate.
  attnkit::attention_options opt;
  opt.causal = true;
  std::vector<float> exact(q.size()), out(q.size());
  attnkit::flash_attention(qv, kv, vv, out4(exact.data(), {B, N, Hq, D}), opt);

  // 3. Block layouts over blocks of 16 x 16 tokens (a 10 x 10 grid). Local band: each query block
  // sees its own
  //    and the previous key block (causal trims whole blocks; opt.causal masks inside them).
  //    BigBird: the band, plus key/query block 0 as global, plus 2 random blocks per row.
  const attnkit::block_grid grid{.Sq = N, .Sk = N, .block_q = blk, .block_k = blk};
  const auto band = attnkit::local_band_layout(grid, /*width=*/1, /*causal=*/true);
  const std::vector<index_t> global = {0};
  const auto bigbird =
      attnkit::bigbird_layout(grid, 1, global, /*random_blocks=*/2, /*seed=*/7, /*heads=*/1, true);
  bool ok = true;
  for (const auto* layout : {&band, &bigbird}) {
    attnkit::block_sparse_attention(qv, kv, vv, out4(out.data(), {B, N, Hq, D}), layout->layout(),
                                    opt);
    // The kernel must equal its double-precision definition on the same layout (fp32 rounding).
    std::vector<double> ref(out.size());
    std::vector<double> qd(q.begin(), q.end()), kd(k.begin(), k.end()), vd(v.begin(), v.end());
    attnkit::reference::block_sparse_attention<double>(
        {qd.data(), {B, N, Hq, D}}, {kd.data(), {B, N, Hkv, D}}, {vd.data(), {B, N, Hkv, D}},
        {ref.data(), {B, N, Hq, D}}, layout->layout(), opt);
    const double kernel_err = rel_error(out, std::vector<float>(ref.begin(), ref.end()));
    std::printf("%-10s %4.1f%% of the blocks: error vs exact %.3f, kernel vs its reference %.1e\n",
                layout == &band ? "band" : "bigbird", 100 * layout->visible_fraction(),
                rel_error(out, exact), kernel_err);
    ok = ok && kernel_err < 1e-5;
  }

  // 4. Top-k: exact softmax over each query's top_k visible keys. The error falls as top_k
  //    grows; top_k >= every key (N) is exact attention.
  double previous = 1e30;
  for (index_t top_k : {index_t(4), index_t(16), index_t(64), N}) {
    attnkit::topk_attention(qv, kv, vv, out4(out.data(), {B, N, Hq, D}), top_k, opt);
    const double err = rel_error(out, exact);
    std::printf("top_k %3td: error vs exact %.2e\n", top_k, err);
    ok = ok && err < previous && (top_k < N || err < 1e-5);
    previous = err;
  }
  if (!ok) {
    std::fprintf(
        stderr,
        "FAILED: a sparse kernel disagrees with its reference, or top-k did not converge\n");
    return 1;
  }
  std::printf("ok\n");
  return 0;
}
