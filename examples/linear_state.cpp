// SPDX-License-Identifier: Apache-2.0
// Example: the recurrent state of linear attention, GLA and DeltaNet carried across calls. Each
// kernel runs a sequence three ways: in one call; in two calls with the state handed over
// (final_state of the first is initial_state of the second); and token by token with its *_step
// function (what a decoder does). The three must agree.
#include <attnkit/attnkit.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

using attnkit::index_t;
using attnkit::tensor_view;

namespace {
constexpr index_t B = 1, T = 57, H = 2, K = 16, V = 12, half = 23;  // an odd split on purpose
std::vector<float> q(B * T * H * K), k(q.size()), gk(q.size()), v(B * T * H * V), beta(B * T * H);

// Views of tokens [t0, t1) (B = 1, so a time slice is contiguous rows).
template <class E = const float>
tensor_view<E, 4> rows(E* base, index_t t0, index_t t1, index_t d) {
  return {base + t0 * H * d, {B, t1 - t0, H, d}};
}

// Dense call of kernel `kind` (0 linear_attention, 1 gla, 2 delta_rule) over tokens [t0, t1).
void dense(int kind, index_t t0, index_t t1, float* out, tensor_view<const float, 4> init,
           tensor_view<float, 4> fin) {
  const auto qv = rows(q.data(), t0, t1, K), kv = rows(k.data(), t0, t1, K),
             vv = rows(v.data(), t0, t1, V);
  const auto ov = rows<float>(out + t0 * H * V, 0, t1 - t0, V);
  attnkit::linear_options opt;  // causal, chunked, scale 1/sqrt(K)
  opt.chunk_size = 16;          // (default 64) so that T = 57 spans several chunks, split mid-chunk
  if (kind == 0) attnkit::linear_attention(qv, kv, vv, ov, opt, init, fin);
  if (kind == 1) attnkit::gla(qv, kv, vv, rows(gk.data(), t0, t1, K), ov, opt, init, fin);
  if (kind == 2)
    attnkit::delta_rule(qv, kv, vv,
                        tensor_view<const float, 3>(beta.data() + t0 * H, {B, t1 - t0, H}), ov, opt,
                        init, fin);
}

// One decoding step of token t: state [B, H, K, V] updated in place, out [B, H, V].
void step(int kind, index_t t, float* out, tensor_view<float, 4> state) {
  const tensor_view<const float, 3> qt(&q[t * H * K], {B, H, K}), kt(&k[t * H * K], {B, H, K}),
      vt(&v[t * H * V], {B, H, V});
  const tensor_view<float, 3> ot(out + t * H * V, {B, H, V});
  if (kind == 0) attnkit::linear_attention_step(qt, kt, vt, ot, state);
  if (kind == 1)
    attnkit::gla_step(qt, kt, vt, tensor_view<const float, 3>(&gk[t * H * K], {B, H, K}), ot,
                      state);
  if (kind == 2)
    attnkit::delta_rule_step(qt, kt, vt, tensor_view<const float, 2>(&beta[t * H], {B, H}), ot,
                             state);
}

// max |a - b| / max |b|
double rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double d = 0, s = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    d = std::max(d, double(std::abs(a[i] - b[i]))), s = std::max(s, double(std::abs(b[i])));
  return d / s;
}
}  // namespace

int main() {
  // 1. Inputs. Keys are L2-normalised and beta in (0, 1) (DeltaNet's stable regime); GLA's
  //    gates are log decays per key channel, in [-0.3, -0.01] (decay e^g per token).
  std::mt19937 rng(2);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> uni(0.0f, 1.0f);
  for (auto* x : {&q, &k, &v})
    for (float& e : *x) e = normal(rng);
  for (index_t r = 0; r < B * T * H; ++r) {
    float norm = 0;
    for (index_t d = 0; d < K; ++d) norm += k[r * K + d] * k[r * K + d];
    for (index_t d = 0; d < K; ++d) k[r * K + d] /= std::sqrt(norm);
  }
  for (float& g : gk) g = -0.01f - 0.29f * uni(rng);
  for (float& b : beta) b = 0.1f + 0.8f * uni(rng);

  const char* names[] = {"linear_attention", "gla", "delta_rule"};
  bool ok = true;
  for (int kind = 0; kind < 3; ++kind) {
    std::vector<float> out1(v.size()), out2(v.size()), out3(v.size());
    std::vector<float> s1(B * H * K * V), s2(s1.size()),
        s3(s1.size(), 0.0f);  // states [B, H, K, V]
    const auto view = [](std::vector<float>& s) {
      return tensor_view<float, 4>(s.data(), {B, H, K, V});
    };

    // 2. One call over all T tokens, writing the final state.
    dense(kind, 0, T, out1.data(), {}, view(s1));
    // 3. Two calls: tokens [0, half) from a zero state, then [half, T) continuing from the state
    //    the first call wrote. The same buffer may be both initial and final state.
    dense(kind, 0, half, out2.data(), {}, view(s2));
    dense(kind, half, T, out2.data(), view(s2), view(s2));
    // 4. Token by token from a zero state, as a decoder generates.
    for (index_t t = 0; t < T; ++t) step(kind, t, out3.data(), view(s3));

    // 5. Compare outputs and final states with the single call (fp32: chunked and recurrent
    //    forms round differently, so agreement is to about 1e-6 of the values' scale).
    const double e2 = std::max(rel_diff(out2, out1), rel_diff(s2, s1));
    const double e3 = std::max(rel_diff(out3, out1), rel_diff(s3, s1));
    std::printf("%-16s two calls vs one: %.2e   token by token vs one: %.2e (relative)\n",
                names[kind], e2, e3);
    ok = ok && e2 < 1e-5 && e3 < 1e-5;
  }
  if (!ok) {
    std::fprintf(stderr, "FAILED: a split run differs from the single call by more than 1e-5\n");
    return 1;
  }
  std::printf("ok\n");
  return 0;
}
