// SPDX-License-Identifier: Apache-2.0
// block_sparse_attention with a 3-block local band (64 x 64 blocks) against dense flash_attention
// at the same shape in the same run (issue 8: block-sparse time <= 2 x visited fraction x dense).
#include <attnkit/exact/flash.hpp>
#include <attnkit/sparse/block_sparse_attention.hpp>
#include <attnkit/sparse/local_band_layout.hpp>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>

#include "support/attention_shape.hpp"
#include "support/attention_tensors.hpp"
#include "support/registry.hpp"

namespace attnkit::bench {
namespace {

/// (query, key) pairs a layout shows, over its heads (each block counted with its real size),
/// times the query heads a broadcast layout serves.
double shown_pairs(const block_layout_storage& s, const block_grid& g, index_t Hq) {
  double pairs = 0;
  for (index_t h = 0; h < s.heads; ++h)
    for (index_t r = 0; r < s.rows; ++r)
      for (index_t c = 0; c < s.cols; ++c)
        if (s(h, r, c))
          pairs += double(std::min(g.block_q, g.Sq - r * g.block_q)) *
                   double(std::min(g.block_k, g.Sk - c * g.block_k));
  return pairs * double(s.heads == 1 ? Hq : 1);
}

void register_block_sparse(const suite_settings&) {
  const attention_shape shape{.B = 1, .Hq = 4, .Hkv = 4, .Sq = 4096, .Sk = 4096, .D = 128};
  const block_grid grid{.Sq = shape.Sq, .Sk = shape.Sk, .block_q = 64, .block_k = 64};
  auto layout = std::make_shared<const block_layout_storage>(local_band_layout(grid, 1));
  const double fraction = layout->visible_fraction();
  char variant[64];
  std::snprintf(variant, sizeof variant, "block-sparse-band3@%.1f%%", 100.0 * fraction);
  std::printf("sparse: a 3-block band of 64 x 64 blocks visits %.2f%% of the blocks at N = %td; "
              "target: block-sparse time <= 2 x %.4f x dense time, i.e. 'vs baseline' >= %.1f\n",
              100.0 * fraction, shape.Sq, fraction, 1.0 / (2.0 * fraction));

  benchmark_spec dense = shape.spec("flash-dense", 1);
  dense.family = "sparse";
  register_benchmark(dense, [shape](benchmark::State& state) {
    attention_tensors tensors(shape);
    for (auto _ : state) flash_attention(tensors.q(), tensors.k(), tensors.v(), tensors.out());
  });

  benchmark_spec sparse = shape.spec(variant, 1, "flash-dense");
  sparse.family = "sparse";
  sparse.flops = 4.0 * double(shape.D) * shown_pairs(*layout, grid, shape.Hq) * double(shape.B);
  register_benchmark(sparse, [shape, layout](benchmark::State& state) {
    attention_tensors tensors(shape);
    for (auto _ : state)
      block_sparse_attention(tensors.q(), tensors.k(), tensors.v(), tensors.out(), layout->layout());
  });
}

const bool kAdded = add_suite(register_block_sparse);

}  // namespace
}  // namespace attnkit::bench
