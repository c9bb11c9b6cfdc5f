// SPDX-License-Identifier: Apache-2.0
// Seeded random fills for test tensors.
#pragma once

#include <cstdint>
#include <random>

#include "support/tensor.hpp"

namespace attnkit::test {

/// Fills every element of `view` with a uniform value in [lo, hi), deterministic in `seed`.
template <class T, std::size_t Rank>
void fill_uniform(const tensor_view<T, Rank>& view, std::uint64_t seed, double lo = -1.0,
                  double hi = 1.0) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  for_each_index(view.extents(), [&](const auto& idx) { at(view, idx) = T(dist(rng)); });
}

/// A tensor of the given extents filled by fill_uniform.
template <class T, std::size_t Rank>
tensor<T, Rank> random_tensor(const std::array<index_t, Rank>& extents, std::uint64_t seed,
                              double lo = -1.0, double hi = 1.0) {
  tensor<T, Rank> t(extents);
  fill_uniform(t.view(), seed, lo, hi);
  return t;
}

}  // namespace attnkit::test
