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
/// Time O((iterations + 2) n clusters D); products and centroid sums in fp32 on Arch
/// (deterministic per arch and seed), norms and the k-means++ distances in double.
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
      const double sq = dot(points[p], points[p], D);
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
    index_t pick = static_cast<index_t>(splitmix64_at(seed, 0) % std::uint64_t(nv));
    for (index_t c = 0; c < C; ++c) {
      const index_t p = valid_[std::size_t(pick)];
      for (index_t d = 0; d < D; ++d)
        centers_.row(c)[d] = static_cast<float>(points[p][d] * inv_norm_[std::size_t(p)]);
      if (c + 1 == C) break;
      // cos of every point to the new centroid: fp32 dot products, four points at a time
      double total = 0;
      alignas(64) float cos4[4];
      for (index_t x0 = 0; x0 < nv; x0 += 4) {
        const index_t nb = std::min<index_t>(4, nv - x0);
        dot4(rows_.data() + x0, nb, centers_.row(c), D, cos4);
        for (index_t t = 0; t < nb; ++t) {
          const double cos = double(cos4[t]) * double(scale_[std::size_t(x0 + t)]);
          double& dist = dist_[std::size_t(x0 + t)];
          dist = std::min(dist, std::max(0.0, 2.0 - 2.0 * cos));
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

  /// <x, y> over D floats, in fp32 on Arch.
  static float dot(const float* x, const float* y, index_t D) noexcept {
    using batch = xsimd::batch<float, Arch>;
    constexpr index_t w = static_cast<index_t>(batch::size);
    batch acc(0.0f);
    index_t d = 0;
    for (; d + w <= D; d += w) acc = xsimd::fma(batch::load_unaligned(x + d), batch::load_unaligned(y + d), acc);
    float sum = xsimd::hadd(acc);
    for (; d < D; ++d) sum += x[d] * y[d];
    return sum;
  }

  /// out[t] = <rows[t], y> for t < n <= 4 (y aligned): four independent FMA chains.
  static void dot4(const float* const* rows, index_t n, const float* y, index_t D, float* out) noexcept {
    using batch = xsimd::batch<float, Arch>;
    constexpr index_t w = static_cast<index_t>(batch::size);
    const float* r[4];
    for (index_t t = 0; t < 4; ++t) r[t] = rows[t < n ? t : 0];
    batch acc[4] = {batch(0.0f), batch(0.0f), batch(0.0f), batch(0.0f)};
    index_t d = 0;
    for (; d + w <= D; d += w) {
      const batch yv = batch::load_aligned(y + d);
      for (index_t t = 0; t < 4; ++t) acc[t] = xsimd::fma(batch::load_unaligned(r[t] + d), yv, acc[t]);
    }
    for (index_t t = 0; t < n; ++t) {
      out[t] = xsimd::hadd(acc[t]);
      for (index_t e = d; e < D; ++e) out[t] += r[t][e] * y[e];
    }
  }

  void assign(const float* const* points, index_t n, std::int32_t* out) {
    nearest_center<Arch>(points, n, centers_, false, s_.data(), out);
    for (index_t p = 0; p < n; ++p)
      if (inv_norm_[std::size_t(p)] == 0.0) out[p] = 0;
  }

  void update(const float* const* points, const std::int32_t* a) {
    const index_t C = centers_.m, D = centers_.D;
    std::fill(sums_.begin(), sums_.end(), 0.0f);
    std::fill(counts_.begin(), counts_.end(), 0);
    using batch = xsimd::batch<float, Arch>;
    constexpr index_t w = static_cast<index_t>(batch::size);
    for (index_t p : valid_) {  // fp32 sums: a few thousand unit vectors at most per cluster
      const index_t c = a[p];
      float* sum = sums_.data() + c * D;
      const float f = static_cast<float>(inv_norm_[std::size_t(p)]);
      index_t d = 0;
      for (; d + w <= D; d += w)
        xsimd::fma(batch(f), batch::load_unaligned(points[p] + d), batch::load_unaligned(sum + d))
            .store_unaligned(sum + d);
      for (; d < D; ++d) sum[d] += f * points[p][d];
      ++counts_[std::size_t(c)];
    }
    for (index_t c = 0; c < C; ++c) {
      if (counts_[std::size_t(c)] == 0) continue;
      const float* sum = sums_.data() + c * D;
      double sq = 0;
      for (index_t d = 0; d < D; ++d) sq += double(sum[d]) * double(sum[d]);
      if (!(sq > 0) || !std::isfinite(sq)) continue;
      const double inv = 1.0 / std::sqrt(sq);
      for (index_t d = 0; d < D; ++d) centers_.row(c)[d] = static_cast<float>(sum[d] * inv);
    }
  }

  packed_centers<Arch> centers_;
  aligned_buffer<float> s_;
  std::vector<float> sums_;
  std::vector<double> inv_norm_;
  std::vector<index_t> counts_, valid_;
  std::vector<std::int32_t> previous_;
  std::vector<const float*> rows_;
  std::vector<float> scale_;
  std::vector<double> dist_;
};

}  // namespace attnkit::detail
