// SPDX-License-Identifier: Apache-2.0
// Example: causal grouped-query attention with the double-precision reference, on views of
// plain arrays in the [B, S, H, D] layout.
#include <attnkit/attnkit.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

int main() {
  using attnkit::index_t;
  const index_t B = 1, Sq = 4, Sk = 6, Hq = 4, Hkv = 2, D = 8;

  // Inputs of any origin: here a deterministic pattern.
  std::vector<float> q(B * Sq * Hq * D), k(B * Sk * Hkv * D), v(B * Sk * Hkv * D);
  for (std::size_t n = 0; n < q.size(); ++n) q[n] = std::sin(0.37f * float(n));
  for (std::size_t n = 0; n < k.size(); ++n) k[n] = std::cos(0.11f * float(n));
  for (std::size_t n = 0; n < v.size(); ++n) v[n] = float(n % 7) - 3.0f;
  std::vector<float> out(B * Sq * Hq * D), lse(B * Hq * Sq);

  // Query heads 0,1 read kv head 0 and heads 2,3 read kv head 1. With Sq < Sk, bottom-right
  // alignment lets the last query see every key and the first see keys 0..2.
  attnkit::attention_options opt;
  opt.causal = true;
  attnkit::reference::attention<float>({q.data(), {B, Sq, Hq, D}}, {k.data(), {B, Sk, Hkv, D}},
                                       {v.data(), {B, Sk, Hkv, D}}, {out.data(), {B, Sq, Hq, D}},
                                       opt, {lse.data(), {B, Hq, Sq}});

  for (index_t h = 0; h < Hq; ++h)
    std::printf("head %td: lse of the 4 queries %.4f %.4f %.4f %.4f\n", h, lse[h * Sq + 0],
                lse[h * Sq + 1], lse[h * Sq + 2], lse[h * Sq + 3]);
  // Every lse is finite: each query sees at least three keys.
  for (float x : lse)
    if (!std::isfinite(x)) return 1;
  return 0;
}
