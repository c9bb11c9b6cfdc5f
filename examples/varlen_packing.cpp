// SPDX-License-Identifier: Apache-2.0
// Example: three sequences of different lengths packed back to back (no padding) and attended in
// one flash_attention_varlen call, described by cu_seqlens; the result equals running
// flash_attention on each sequence alone.
#include <attnkit/attnkit.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

using attnkit::index_t;
using attnkit::tensor_view;

int main() {
  const index_t H = 4, Hkv = 2, D = 32;

  // 1. Three self-attention sequences of 13, 41 and 7 tokens. cu_seqlens holds the prefix sums
  //    of their lengths: sequence b is rows [cu[b], cu[b+1]) of the packed tensors.
  const std::vector<std::int32_t> lengths = {13, 41, 7};
  std::vector<std::int32_t> cu = {0};
  for (std::int32_t n : lengths) cu.push_back(cu.back() + n);
  const index_t total = cu.back();

  // 2. Packed tensors: q, out [total, H, D]; k, v [total, Hkv, D] (GQA works here too).
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> q(total * H * D), k(total * Hkv * D), v(total * Hkv * D);
  for (auto* x : {&q, &k, &v})
    for (float& e : *x) e = normal(rng);

  // 3. One call over every sequence. Causal masks apply per sequence: no token sees another
  //    sequence. Self-attention here, so the key offsets are the query offsets.
  attnkit::attention_options opt;
  opt.causal = true;
  std::vector<float> out(total * H * D), lse(H * total);
  attnkit::flash_attention_varlen(tensor_view<const float, 3>(q.data(), {total, H, D}),
                                  tensor_view<const float, 3>(k.data(), {total, Hkv, D}),
                                  tensor_view<const float, 3>(v.data(), {total, Hkv, D}),
                                  tensor_view<float, 3>(out.data(), {total, H, D}), cu, cu, opt,
                                  tensor_view<float, 2>(lse.data(), {H, total}));  // lse [H, total]

  // 4. Each sequence alone: a batch of one, [1, S, H, D], viewing its rows of the packed arrays.
  double worst = 0;
  for (std::size_t b = 0; b < lengths.size(); ++b) {
    const index_t S = lengths[b], row = cu[b];
    std::vector<float> out_b(S * H * D), lse_b(H * S);
    attnkit::flash_attention(tensor_view<const float, 4>(q.data() + row * H * D, {1, S, H, D}),
                             tensor_view<const float, 4>(k.data() + row * Hkv * D, {1, S, Hkv, D}),
                             tensor_view<const float, 4>(v.data() + row * Hkv * D, {1, S, Hkv, D}),
                             tensor_view<float, 4>(out_b.data(), {1, S, H, D}), opt,
                             tensor_view<float, 3>(lse_b.data(), {1, H, S}));
    // Compare with the packed result's rows for this sequence (out and lse).
    double err = 0;
    for (index_t n = 0; n < S * H * D; ++n)
      err = std::max(err, double(std::abs(out_b[n] - out[row * H * D + n])));
    for (index_t h = 0; h < H; ++h)
      for (index_t i = 0; i < S; ++i)
        err = std::max(err, double(std::abs(lse_b[h * S + i] - lse[h * total + row + i])));
    std::printf("sequence %zu (%td tokens, rows %td..%td): max |packed - alone| %.2e\n", b, S, row,
                row + S - 1, err);
    worst = std::max(worst, err);
  }

  // 5. Check. Both calls run the same kernel on the same rows, so they agree to fp32 rounding; a
  //    sequence leaking into its neighbour would give differences of order 1.
  if (!(worst < 1e-5)) {
    std::fprintf(stderr, "FAILED: packed and per-sequence results differ by %.2e\n", worst);
    return 1;
  }
  std::printf("ok: %td packed tokens, no padding\n", total);
  return 0;
}
