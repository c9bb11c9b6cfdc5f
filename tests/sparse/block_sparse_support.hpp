// SPDX-License-Identifier: Apache-2.0
// Support of the block-sparse tests: the kernels compiled once per arch (block_sparse_instances.cpp),
// random layouts, and the double / naive float oracles of a block-sparse problem.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include <attnkit/exact/arguments.hpp>
#include <attnkit/exact/options.hpp>
#include <attnkit/sparse/block_grid.hpp>
#include <attnkit/sparse/block_layout.hpp>
#include <attnkit/sparse/block_layout_storage.hpp>
#include <attnkit/sparse/reference_block_sparse.hpp>

#include "support/tensor.hpp"

namespace attnkit::test {

/// attnkit::block_sparse_attention<Arch, T>, compiled in block_sparse_instances.cpp for every
/// compiled arch (T = float) and the default arch (T = bf16).
template <class Arch, class T>
void block_sparse(tensor_view<const T, 4> q, tensor_view<const T, 4> k, tensor_view<const T, 4> v,
                  tensor_view<T, 4> out, const block_layout& layout,
                  const attention_options& opt = {}, tensor_view<float, 3> lse = {});

/// attnkit::flash_attention<Arch, float>, compiled there for every compiled arch.
template <class Arch>
void dense_flash(tensor_view<const float, 4> q, tensor_view<const float, 4> k,
                 tensor_view<const float, 4> v, tensor_view<float, 4> out,
                 const attention_options& opt = {}, tensor_view<float, 3> lse = {});

/// A layout of `heads` heads over `grid` with each cell visible with probability `density`,
/// deterministic in `seed`.
inline block_layout_storage random_layout(const block_grid& grid, index_t heads, double density,
                                          std::uint64_t seed) {
  block_layout_storage s(heads, grid);
  std::mt19937_64 rng(seed);
  std::bernoulli_distribution visible(density);
  for (auto& cell : s.cells) cell = visible(rng) ? 1 : 0;
  return s;
}

/// The oracles of one float problem: the double reference and the naive float implementation
/// of the same formula (DESIGN 4's tolerance).
struct block_sparse_oracle {
  tensor<double, 4> out;
  tensor<double, 3> lse;
  tensor<float, 4> naive_out;
  tensor<float, 3> naive_lse;
};

inline block_sparse_oracle make_block_sparse_oracle(const tensor<float, 4>& q,
                                                    const tensor<float, 4>& k,
                                                    const tensor<float, 4>& v,
                                                    const block_layout& layout,
                                                    const attention_options& opt) {
  const auto e = q.extents();
  const index_t Dv = v.extents()[3];
  block_sparse_oracle o{tensor<double, 4>({e[0], e[1], e[2], Dv}), tensor<double, 3>({e[0], e[2], e[1]}),
                        tensor<float, 4>({e[0], e[1], e[2], Dv}), tensor<float, 3>({e[0], e[2], e[1]})};
  const auto qd = convert<double>(q.cview()), kd = convert<double>(k.cview()),
             vd = convert<double>(v.cview());
  reference::block_sparse_attention<double>(qd.cview(), kd.cview(), vd.cview(), o.out.view(),
                                            layout, opt, o.lse.view());
  const auto p = attnkit::detail::check_attention("test", q.cview(), k.cview(), v.cview(),
                                                  o.naive_out.view(), opt, o.naive_lse.view());
  reference::detail::block_sparse_forward<float>(p, opt, layout, q.cview(), k.cview(), v.cview(),
                                                 o.naive_out.view(), o.naive_lse.view());
  return o;
}

}  // namespace attnkit::test
