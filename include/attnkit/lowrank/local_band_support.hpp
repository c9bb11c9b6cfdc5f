// SPDX-License-Identifier: Apache-2.0
// local_band_support: the sparse_support of a band of keys around each query's diagonal.
#pragma once

#include <algorithm>

#include <attnkit/core/error.hpp>
#include <attnkit/lowrank/sparse_support.hpp>

namespace attnkit {

/// Row i holds the keys j in [0, Sk) with |i + Sk - Sq - j| <= window (the diagonal aligned
/// bottom-right, as DESIGN 1.3 aligns causal masks; i = j when Sq == Sk); causal keeps
/// i + Sk - Sq - window <= j <= i + Sk - Sq. O(Sq (2 window + 1)) time and memory.
/// @pre Sq, Sk >= 0, window >= 0; throws attnkit::error otherwise.
inline sparse_support local_band_support(index_t Sq, index_t Sk, index_t window, bool causal = false) {
  detail::require(Sq >= 0, "local_band_support", "Sq", ">= 0", Sq);
  detail::require(Sk >= 0, "local_band_support", "Sk", ">= 0", Sk);
  detail::require(window >= 0, "local_band_support", "window", ">= 0", window);
  sparse_support s;
  s.rows = Sq;
  s.cols = Sk;
  s.row_begin.assign(std::size_t(Sq + 1), 0);
  s.keys.reserve(std::size_t(Sq * std::min(Sk, 2 * window + 1)));
  for (index_t i = 0; i < Sq; ++i) {
    const index_t diag = i + Sk - Sq;
    const index_t lo = std::max<index_t>(0, diag - window);
    const index_t hi = std::min<index_t>(Sk - 1, causal ? diag : diag + window);
    for (index_t j = lo; j <= hi; ++j) s.keys.push_back(j);
    s.row_begin[std::size_t(i + 1)] = static_cast<index_t>(s.keys.size());
  }
  return s;
}

}  // namespace attnkit
