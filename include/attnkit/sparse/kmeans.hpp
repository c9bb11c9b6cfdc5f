// SPDX-License-Identifier: Apache-2.0
// detail::spherical_kmeans: seeded k-means on the unit sphere, the clustering of routing
// attention (Routing Transformer, arXiv 2003.05997).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include <attnkit/core/aligned_buffer.hpp>
#include <attnkit/core/splitmix64.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/sparse/nearest_center.hpp>

namespace attnkit::detail {

/// Spherical k-means (Lloyd's algorithm on x / |x|, centroids renormalised to unit length), the
/// clustering the Routing Transformer routes with. Reusable scratch; one object per thread.
///
/// - Points with a zero or non-finite norm are not clustered: they get cluster 0 and move no
///   centroid.
/// - Initialisation (Forgy): centroid c is the normalised clusterable point at position
///   perm[c mod n_valid] of a seeded partial Fisher-Yates shuffle (draw c uses
///   splitmix64_at(seed, c)); with more clusters than points the extra centroids repeat earlier
///   ones and stay empty (ties go to the lower index).
/// - Each of `iterations` steps assigns every point to its nearest centroid (largest cosine,
///   nearest_center) and moves each centroid to the normalised sum of its points (an empty
///   cluster keeps its centroid); a final assignment follows. A step that changes no assignment
///   ends the loop early (the rest would repeat it).
/// Time O((iterations + 1) n clusters D); the products in fp32 on Arch (deterministic per arch
/// and seed), the sums and norms in double.
template <class Arch>
class spherical_kmeans {
 public:
  spherical_kmeans(index_t clusters, index_t D)
      : centers_(clusters, D), s_(std::size_t(64 * centers_.m4)),
        sums_(std::size_t(clusters * D)), counts_(std::size_t(clusters)) {}

  /// Clusters the n rows points[p] (D floats each) into out[p] in [0, clusters).
  void run(const float* const* points, index_t n, index_t iterations, std::uint64_t seed,
           std::int32_t* out) {
    const index_t C = centers_.m, D = centers_.D;
    inv_norm_.assign(std::size_t(n), 0.0);
    valid_.clear();
    for (index_t p = 0; p < n; ++p) {
      double sq = 0;
      for (index_t d = 0; d < D; ++d) sq += double(points[p][d]) * double(points[p][d]);
      if (sq > 0 && std::isfinite(sq)) {
        inv_norm_[std::size_t(p)] = 1.0 / std::sqrt(sq);
        valid_.push_back(p);
      }
    }
    const auto nv = static_cast<index_t>(valid_.size());
    std::fill(out, out + n, 0);
    if (nv == 0) return;
    for (index_t c = 0; c < std::min(C, nv); ++c) {  // partial Fisher-Yates over the valid points
      const auto span = static_cast<std::uint64_t>(nv - c);
      const auto pick = c + static_cast<index_t>(splitmix64_at(seed, std::uint64_t(c)) % span);
      std::swap(valid_[std::size_t(c)], valid_[std::size_t(pick)]);
    }
    for (index_t c = 0; c < C; ++c) {
      const index_t p = valid_[std::size_t(c % nv)];
      for (index_t d = 0; d < D; ++d)
        centers_.row(c)[d] = static_cast<float>(points[p][d] * inv_norm_[std::size_t(p)]);
    }
    assign(points, n, out);
    for (index_t it = 0; it < iterations; ++it) {
      update(points, out);
      previous_.assign(out, out + n);
      assign(points, n, out);
      if (std::equal(out, out + n, previous_.begin())) break;
    }
  }

 private:
  void assign(const float* const* points, index_t n, std::int32_t* out) {
    nearest_center<Arch>(points, n, centers_, false, s_.data(), out);
    for (index_t p = 0; p < n; ++p)
      if (inv_norm_[std::size_t(p)] == 0.0) out[p] = 0;
  }

  void update(const float* const* points, const std::int32_t* a) {
    const index_t C = centers_.m, D = centers_.D;
    std::fill(sums_.begin(), sums_.end(), 0.0);
    std::fill(counts_.begin(), counts_.end(), 0);
    for (index_t p : valid_) {
      const index_t c = a[p];
      double* sum = sums_.data() + c * D;
      const double w = inv_norm_[std::size_t(p)];
      for (index_t d = 0; d < D; ++d) sum[d] += w * double(points[p][d]);
      ++counts_[std::size_t(c)];
    }
    for (index_t c = 0; c < C; ++c) {
      if (counts_[std::size_t(c)] == 0) continue;
      const double* sum = sums_.data() + c * D;
      double sq = 0;
      for (index_t d = 0; d < D; ++d) sq += sum[d] * sum[d];
      if (!(sq > 0) || !std::isfinite(sq)) continue;
      const double inv = 1.0 / std::sqrt(sq);
      for (index_t d = 0; d < D; ++d) centers_.row(c)[d] = static_cast<float>(sum[d] * inv);
    }
  }

  packed_centers<Arch> centers_;
  aligned_buffer<float> s_;
  std::vector<double> sums_, inv_norm_;
  std::vector<index_t> counts_, valid_;
  std::vector<std::int32_t> previous_;
};

}  // namespace attnkit::detail
