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
/// - Initialisation: seeded k-means++ on the sphere (seed_centroids); with more clusters than
///   distinct points the extra centroids repeat earlier ones and stay empty (ties go to the
///   lower index). A uniform (Forgy) start left two seeds in one of four well separated groups
///   in half of the seeds tried, which Lloyd steps cannot repair.
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
      : centers_(clusters, D), s_(std::size_t(64 * std::max<index_t>(centers_.m4, 4))),
        sums_(std::size_t(clusters * D)), counts_(std::size_t(clusters)) {}

  /// Clusters the n rows points[p] (D floats each) into out[p] in [0, clusters).
  void run(const float* const* points, index_t n, index_t iterations, std::uint64_t seed,
           std::int32_t* out) {
    const index_t D = centers_.D;
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
    seed_centroids(points, seed);
    assign(points, n, out);
    for (index_t it = 0; it < iterations; ++it) {
      update(points, out);
      previous_.assign(out, out + n);
      assign(points, n, out);
      if (std::equal(out, out + n, previous_.begin())) break;
    }
  }

 private:
  /// k-means++ (Arthur and Vassilvitskii 2007) on the sphere: the first centroid is a uniform
  /// pick among the clusterable points, each next one a pick with probability proportional to
  /// the squared chord distance 2 - 2 cos to the nearest centroid so far (draw c uses
  /// open_unit_interval(splitmix64_at(seed, c))). When every point coincides with a centroid,
  /// the remaining centroids repeat the last one (and stay empty: ties go to the lower index).
  void seed_centroids(const float* const* points, std::uint64_t seed) {
    const index_t C = centers_.m, D = centers_.D;
    const auto nv = static_cast<index_t>(valid_.size());
    rows_.resize(std::size_t(nv));
    scale_.resize(std::size_t(nv));
    for (index_t x = 0; x < nv; ++x) {
      rows_[std::size_t(x)] = points[valid_[std::size_t(x)]];
      scale_[std::size_t(x)] = static_cast<float>(inv_norm_[std::size_t(valid_[std::size_t(x)])]);
    }
    dist_.assign(std::size_t(nv), 4.0);
    packed_centers<Arch> one(1, D);
    index_t pick = static_cast<index_t>(splitmix64_at(seed, 0) % std::uint64_t(nv));
    for (index_t c = 0; c < C; ++c) {
      const index_t p = valid_[std::size_t(pick)];
      for (index_t d = 0; d < D; ++d)
        centers_.row(c)[d] = static_cast<float>(points[p][d] * inv_norm_[std::size_t(p)]);
      if (c + 1 == C) break;
      // cos of every point to the new centroid: S = [64 x 4], column 0 used
      std::copy_n(centers_.row(c), D, one.row(0));
      double total = 0;
      for (index_t x0 = 0; x0 < nv; x0 += 64) {
        const index_t nb = std::min<index_t>(64, nv - x0);
        tile::dot_rows<Arch>(nb, 4, D, rows_.data() + x0, scale_.data() + x0, one.rows.data(),
                             one.ld, s_.data(), 4);
        for (index_t t = 0; t < nb; ++t) {
          double& dist = dist_[std::size_t(x0 + t)];
          dist = std::min(dist, std::max(0.0, 2.0 - 2.0 * double(s_[std::size_t(t * 4)])));
          total += dist;
        }
      }
      if (!(total > 0)) continue;  // every point sits on a centroid: repeat this one
      double u = open_unit_interval(splitmix64_at(seed, std::uint64_t(c + 1))) * total;
      pick = nv - 1;
      for (index_t x = 0; x < nv; ++x) {
        u -= dist_[std::size_t(x)];
        if (u < 0 && dist_[std::size_t(x)] > 0) {
          pick = x;
          break;
        }
      }
      while (dist_[std::size_t(pick)] == 0 && pick > 0) --pick;
    }
  }

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
  std::vector<const float*> rows_;
  std::vector<float> scale_;
  std::vector<double> dist_;
};

}  // namespace attnkit::detail
