// SPDX-License-Identifier: Apache-2.0
// detail::gaussian_at and detail::lsh_rotation: the seeded Gaussian rotations of angular LSH
// (Reformer, arXiv 2001.04451), the same numbers on every platform.
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>

#include <attnkit/core/splitmix64.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/sparse/nearest_center.hpp>

namespace attnkit::detail {

/// The index-th standard Gaussian of the stream `seed`: Box-Muller's cosine branch on the two
/// open-interval uniforms splitmix64_at(seed, 2 index) and (seed, 2 index + 1), the draw
/// performer_feature_map makes (its k-th Gaussian is gaussian_at(seed, k)).
inline double gaussian_at(std::uint64_t seed, std::uint64_t index) noexcept {
  const double u1 = open_unit_interval(splitmix64_at(seed, 2 * index));
  const double u2 = open_unit_interval(splitmix64_at(seed, 2 * index + 1));
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

/// Round r's random rotation R_r [D, half] with i.i.d. N(0, 1) entries, stored transposed as
/// `half` packed centers (column c of R_r is center c): entry (d, c) is
/// gaussian_at(seed, (r D + d) half + c). One rotation per round, shared by every batch entry
/// and head, and by queries and keys.
template <class Arch>
packed_centers<Arch> lsh_rotation(std::uint64_t seed, index_t round, index_t D, index_t half) {
  packed_centers<Arch> rot(half, D);
  for (index_t d = 0; d < D; ++d)
    for (index_t c = 0; c < half; ++c)
      rot.row(c)[d] = static_cast<float>(
          gaussian_at(seed, std::uint64_t((round * D + d) * half + c)));
  return rot;
}

}  // namespace attnkit::detail
