// SPDX-License-Identifier: Apache-2.0
// Test support of the eviction policies: hand-built inputs, a brute-force ranking oracle
// and the list of every policy.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <attnkit/kv.hpp>

#include "exact/argument_cases.hpp"

namespace attnkit::test {

inline constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
inline constexpr float kInf = std::numeric_limits<float>::infinity();

using argument_cases::expect_rejected;

inline std::vector<index_t> iota_positions(index_t first, index_t last) {
  std::vector<index_t> v;
  for (index_t i = first; i < last; ++i) v.push_back(i);
  return v;
}

/// The union of two position lists, ascending.
inline std::vector<index_t> merged(std::vector<index_t> a, const std::vector<index_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  std::sort(a.begin(), a.end());
  return a;
}

/// The brute-force oracle of the shared ranking: the `count` positions of `candidates` ranked
/// first by a full sort (higher first, NaN last, ties to the later position), ascending.
template <class S>
std::vector<index_t> top_by_sort(const std::vector<S>& score, std::vector<index_t> candidates,
                                 index_t count) {
  std::sort(candidates.begin(), candidates.end(), [&](index_t a, index_t b) {
    const S x = score[std::size_t(a)], y = score[std::size_t(b)];
    if constexpr (std::is_floating_point_v<S>) {
      if (std::isnan(x) != std::isnan(y)) return std::isnan(y);
      if (std::isnan(x)) return a > b;
    }
    return x != y ? x > y : a > b;
  });
  candidates.resize(std::size_t(std::min<index_t>(count, index_t(candidates.size()))));
  std::sort(candidates.begin(), candidates.end());
  return candidates;
}

/// A selection is strictly ascending, within [0, L) and of min(budget, L) positions.
inline void expect_valid_selection(const std::vector<index_t>& kept, index_t L, index_t budget) {
  EXPECT_EQ(index_t(kept.size()), std::min(budget, L));
  for (std::size_t i = 0; i < kept.size(); ++i) {
    EXPECT_GE(kept[i], 0);
    EXPECT_LT(kept[i], L);
    if (i > 0) {
      EXPECT_LT(kept[i - 1], kept[i]);
    }
  }
}

/// A [L, D] row-major float matrix with its view.
struct matrix {
  index_t rows = 0, cols = 0;
  std::vector<float> data;
  matrix(index_t r, index_t c, float fill = 0.0f)
      : rows(r), cols(c), data(std::size_t(r * c), fill) {}
  float& operator()(index_t i, index_t j) { return data[std::size_t(i * cols + j)]; }
  tensor_view<const float, 2> view() const { return {data.data(), {rows, cols}}; }
};

}  // namespace attnkit::test
