// SPDX-License-Identifier: Apache-2.0
// detail::lsh_rotation: the seeded Gaussian rotations of angular LSH
// (Reformer, arXiv 2001.04451), the same numbers on every platform.
#pragma once

#include <cstdint>

#include <attnkit/core/splitmix64.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/sparse/nearest_center.hpp>

namespace attnkit::detail {

/// Round r's random rotation R_r [D, half] with i.i.d. N(0, 1) entries, stored transposed as
/// `half` packed centers (column c of R_r is center c): entry (d, c) is
/// gaussian_at(seed, (r D + d) half + c) (core/splitmix64.hpp, performer_feature_map's draw). One rotation per round, shared by every batch entry
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
