// SPDX-License-Identifier: Apache-2.0
// detail::sea_projection: the seeded random orthogonal projection sea_attention estimates its
// scores with (a Johnson-Lindenstrauss map with orthonormal rows).
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include <attnkit/core/orthonormalise_rows.hpp>
#include <attnkit/core/splitmix64.hpp>
#include <attnkit/core/tensor_view.hpp>

namespace attnkit::detail {

/// P [rank x D], row-major: rank orthonormal directions (Gram-Schmidt on Gaussian rows drawn by
/// SplitMix64 + Box-Muller from `seed`, the same on every platform) scaled by sqrt(D / rank), so
/// that E[<P q, P k>] = <q, k> (the rows are uniformly random orthonormal directions) and for
/// rank = D, P is sqrt(1) times an orthogonal matrix: <P q, P k> = <q, k> up to rounding.
/// @pre 1 <= rank <= D. O(rank^2 D) time, in double, rounded to float once.
inline std::vector<float> sea_projection(index_t D, index_t rank, std::uint64_t seed) {
  std::vector<double> rows(static_cast<std::size_t>(rank * D));
  for (std::size_t x = 0; x < rows.size(); ++x) rows[x] = gaussian_at(seed, x);
  orthonormalise_rows(rows.data(), rank, D, /*passes=*/2);
  const double gain = std::sqrt(double(D) / double(rank));
  std::vector<float> out(rows.size());
  for (std::size_t x = 0; x < rows.size(); ++x) out[x] = static_cast<float>(gain * rows[x]);
  return out;
}

}  // namespace attnkit::detail
