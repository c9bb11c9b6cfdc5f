// SPDX-License-Identifier: Apache-2.0
// performer_feature_map: FAVOR+ positive random features (Choromanski et al., Rethinking
// Attention with Performers, 2009.14794), an unbiased estimate of the softmax kernel.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include <attnkit/core/error.hpp>
#include <attnkit/core/orthonormalise_rows.hpp>
#include <attnkit/core/splitmix64.hpp>
#include <attnkit/core/tensor_view.hpp>

namespace attnkit {

/// phi(x)_i = exp(w_i . x' - |x'|^2 / 2) / sqrt(m) for i < m, x' = sqrt(s) x, with random w_i
/// drawn once by the constructor (seeded SplitMix64 + Box-Muller: the same features on every
/// platform). E[phi(q) . phi(k)] = exp(s q . k): the softmax kernel with s = scale, or 1/sqrt(D)
/// when scale is 0, so linear_attention(normalize = true, scale = 1) over phi(q), phi(k)
/// estimates softmax attention. Orthogonal (default): the w_i come in blocks of D mutually
/// orthogonal rows, each rescaled to the norm of an independent Gaussian vector, which lowers
/// the variance (the paper's ORF). Features are positive; very large |x| can overflow exp.
class performer_feature_map {
 public:
  /// For rows of D elements: `features` random features. Throws attnkit::error when D < 1 or
  /// features < 1.
  performer_feature_map(index_t D, index_t features, std::uint64_t seed, bool orthogonal = true,
                        float scale = 0.0f)
      : D_(D), m_(features), w_(std::size_t(D > 0 && features > 0 ? D * features : 0)) {
    detail::require(D >= 1, "performer_feature_map", "D", ">= 1", D);
    detail::require(features >= 1, "performer_feature_map", "features", ">= 1", features);
    root_scale_ = static_cast<float>(std::sqrt(scale != 0.0f ? double(scale) : 1.0 / std::sqrt(double(D))));
    std::uint64_t counter = 0;
    auto gaussian = [&] { return detail::gaussian_at(seed, counter++); };
    std::vector<double> block(std::size_t(D * D));
    for (index_t first = 0; first < m_; first += D) {
      const index_t rows = std::min(D, m_ - first);
      for (double& x : block) x = gaussian();
      if (orthogonal) detail::orthonormalise_rows(block.data(), rows, D);
      for (index_t r = 0; r < rows; ++r) {
        double norm = 1.0;
        if (orthogonal) {  // the norm of an independent Gaussian vector
          double sum = 0;
          for (index_t d = 0; d < D; ++d) {
            const double g = gaussian();
            sum += g * g;
          }
          norm = std::sqrt(sum);
        }
        for (index_t d = 0; d < D; ++d)
          w_[std::size_t((first + r) * D + d)] = static_cast<float>(norm * block[std::size_t(r * D + d)]);
      }
    }
  }

  /// The features per row of D_ elements; 0 (rejected by apply_feature_map) for another D.
  index_t dim(index_t D) const noexcept { return D == D_ ? m_ : 0; }
  /// The random directions, row-major [features, D].
  const std::vector<float>& directions() const noexcept { return w_; }

  void operator()(const float* x, index_t, float* out) const noexcept {
    double half_norm = 0;
    for (index_t d = 0; d < D_; ++d) half_norm += double(x[d]) * double(x[d]);
    half_norm *= 0.5 * double(root_scale_) * double(root_scale_);
    const double inv_root_m = 1.0 / std::sqrt(double(m_));
    for (index_t i = 0; i < m_; ++i) {
      const float* w = w_.data() + i * D_;
      double dot = 0;
      for (index_t d = 0; d < D_; ++d) dot += double(w[d]) * double(x[d]);
      out[i] = static_cast<float>(std::exp(double(root_scale_) * dot - half_norm) * inv_root_m);
    }
  }

 private:
  index_t D_, m_;
  std::vector<float> w_;
  float root_scale_ = 1.0f;
};

}  // namespace attnkit
