// SPDX-License-Identifier: Apache-2.0
// Example: how close the low-rank approximations get to exact attention. performer_attention
// (FAVOR+ random features) with more and more features, and scatterbrain_attention (the same
// features plus an exact local band), each against exact softmax attention (flash_attention).
#include <attnkit/attnkit.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

using attnkit::index_t;
using attnkit::tensor_view;

namespace {
constexpr index_t B = 1, N = 128, Hq = 4, Hkv = 2, D = 16;
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
  // 1. Inputs: keys drift slowly along the sequence (a random walk) and each query is its kv
  //    head's key plus noise: attention leans to nearby keys, with logits of order 1. Performer's
  //    estimates grow noisy fast as logits grow: with the walk's 0.2 below raised to 0.3, its
  //    error stays near 0.4 even with 1024 features.
  std::mt19937 rng(9);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> q(B * N * Hq * D), k(B * N * Hkv * D), v(B * N * Hkv * D);
  for (index_t t = 0; t < N; ++t)
    for (index_t i = 0; i < Hkv * D; ++i)
      k[t * Hkv * D + i] = (t ? 0.9f * k[(t - 1) * Hkv * D + i] : 0.0f) + 0.2f * normal(rng);
  for (index_t t = 0; t < N; ++t)
    for (index_t h = 0; h < Hq; ++h)
      for (index_t d = 0; d < D; ++d)
        q[(t * Hq + h) * D + d] = k[(t * Hkv + h / (Hq / Hkv)) * D + d] + 0.1f * normal(rng);
  for (float& e : v) e = normal(rng);
  const in4 qv(q.data(), {B, N, Hq, D}), kv(k.data(), {B, N, Hkv, D}), vv(v.data(), {B, N, Hkv, D});

  // 2. Exact (non-causal) softmax attention, the target.
  std::vector<float> exact(q.size()), out(q.size());
  attnkit::flash_attention(qv, kv, vv, out4(exact.data(), {B, N, Hq, D}));

  // 3. Performer with m random features, and Scatterbrain with the same features plus an exact
  //    band: the pairs within `window` positions of the diagonal are computed exactly, the rest
  //    from the features, at a cost of 2 window + 1 more keys per query. Both are random
  //    estimates, so the errors are averaged over 4 seeds (the error of one seed is noisy).
  //    Performer's falls as m grows (tending to 1/sqrt(m) as it gets small); Scatterbrain's is
  //    below it at every m, since the band holds the largest weights, which the features
  //    estimate worst.
  const index_t features[] = {32, 96, 256}, window = 16;
  double previous = 1e30;
  bool ok = true;
  for (index_t m : features) {
    double performer = 0, scatterbrain = 0;
    for (std::uint64_t seed = 1; seed <= 4; ++seed) {
      attnkit::performer_attention(qv, kv, vv, out4(out.data(), {B, N, Hq, D}),
                                   {.features = m, .seed = seed});
      performer += rel_error(out, exact) / 4;
      attnkit::scatterbrain_attention(qv, kv, vv, out4(out.data(), {B, N, Hq, D}),
                                      {.features = m, .seed = seed, .window = window});
      scatterbrain += rel_error(out, exact) / 4;
    }
    std::printf(
        "m = %4td features: performer %.4f   scatterbrain (window %td) %.4f   (mean relative "
        "error)\n",
        m, performer, window, scatterbrain);
    ok = ok && performer < previous && scatterbrain < performer;
    previous = performer;
  }

  // 4. A band covering every key makes each row exact: scatterbrain then equals exact attention.
  attnkit::scatterbrain_attention(qv, kv, vv, out4(out.data(), {B, N, Hq, D}),
                                  {.features = 16, .window = N});
  const double full_band = rel_error(out, exact);
  std::printf("scatterbrain window = N: relative error %.1e\n", full_band);
  ok = ok && full_band < 1e-5;

  if (!ok) {
    std::fprintf(stderr, "FAILED: an error trend printed above does not hold\n");
    return 1;
  }
  std::printf("ok\n");
  return 0;
}
