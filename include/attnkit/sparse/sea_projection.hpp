// SPDX-License-Identifier: Apache-2.0
// detail::sea_projection: the seeded random orthogonal projection sea_attention estimates its
// scores with (a Johnson-Lindenstrauss map with orthonormal rows).
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>
#include <vector>

#include <attnkit/core/splitmix64.hpp>
#include <attnkit/core/tensor_view.hpp>

namespace attnkit::detail {

/// P [rank x D], row-major: rank orthonormal directions (Gram-Schmidt on Gaussian rows drawn by
/// SplitMix64 + Box-Muller from `seed`, the same on every platform) scaled by sqrt(D / rank), so
/// that E[<P q, P k>] = <q, k> (the rows are uniformly random orthonormal directions) and for
/// rank = D, P is sqrt(1) times an orthogonal matrix: <P q, P k> = <q, k> up to rounding.
/// @pre 1 <= rank <= D. O(rank^2 D) time, in double, rounded to float once.
inline std::vector<float> sea_projection(index_t D, index_t rank, std::uint64_t seed) {
  std::uint64_t counter = 0;
  auto gaussian = [&] {
    const double u1 = open_unit_interval(splitmix64_at(seed, counter++));
    const double u2 = open_unit_interval(splitmix64_at(seed, counter++));
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  };
  std::vector<double> rows(static_cast<std::size_t>(rank * D));
  for (double& x : rows) x = gaussian();
  for (index_t r = 0; r < rank; ++r) {  // modified Gram-Schmidt, twice for accuracy
    double* row = rows.data() + r * D;
    for (int pass = 0; pass < 2; ++pass) {
      for (index_t s = 0; s < r; ++s) {
        const double* prev = rows.data() + s * D;
        double dot = 0;
        for (index_t d = 0; d < D; ++d) dot += row[d] * prev[d];
        for (index_t d = 0; d < D; ++d) row[d] -= dot * prev[d];
      }
    }
    double norm = 0;
    for (index_t d = 0; d < D; ++d) norm += row[d] * row[d];
    norm = std::sqrt(norm);
    for (index_t d = 0; d < D; ++d) row[d] /= norm;
  }
  const double gain = std::sqrt(double(D) / double(rank));
  std::vector<float> out(rows.size());
  for (std::size_t x = 0; x < rows.size(); ++x) out[x] = static_cast<float>(gain * rows[x]);
  return out;
}

}  // namespace attnkit::detail
