// SPDX-License-Identifier: Apache-2.0
// detail::nystrom_pinv: the iterative Moore-Penrose pseudo-inverse of Nyströmformer, in double,
// and the small dense products it needs.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include <attnkit/core/tensor_view.hpp>

namespace attnkit::detail {

/// c [n x n] = a [n x n] b [n x n], row-major (i k j order: the inner loop runs along rows).
inline void square_product(index_t n, const double* a, const double* b, double* c) noexcept {
  std::fill_n(c, n * n, 0.0);
  for (index_t i = 0; i < n; ++i)
    for (index_t l = 0; l < n; ++l) {
      const double x = a[i * n + l];
      const double* br = b + l * n;
      double* cr = c + i * n;
      for (index_t j = 0; j < n; ++j) cr[j] += x * br[j];
    }
}

/// z [n x n] ~ pinv(a) by Nyströmformer's iteration (arXiv 2102.03902, eq. (16), after Razavi
/// et al.): z_0 = aᵀ / (||a||_1 ||a||_inf), then `iterations` times
///   z <- z (13 I - a z (15 I - a z (7 I - a z))) / 4.
/// Converges to pinv(a) when a's singular values are positive; each step costs 4 n^3 flops.
/// Double throughout; `scratch` is resized to 3 n^2.
inline void nystrom_pinv(index_t n, const double* a, index_t iterations, double* z,
                         std::vector<double>& scratch) {
  const std::size_t nn = std::size_t(n * n);
  double col_max = 0, row_max = 0;  // ||a||_1 (largest column sum) and ||a||_inf (largest row sum)
  for (index_t j = 0; j < n; ++j) {
    double sum = 0;
    for (index_t i = 0; i < n; ++i) sum += std::fabs(a[i * n + j]);
    col_max = std::max(col_max, sum);
  }
  for (index_t i = 0; i < n; ++i) {
    double sum = 0;
    for (index_t j = 0; j < n; ++j) sum += std::fabs(a[i * n + j]);
    row_max = std::max(row_max, sum);
  }
  const double init = col_max * row_max > 0 ? 1.0 / (col_max * row_max) : 0.0;
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < n; ++j) z[i * n + j] = a[j * n + i] * init;
  scratch.resize(3 * nn);
  double* az = scratch.data();
  double* t = az + nn;
  double* u = t + nn;
  auto diagonal_minus = [n](double c, const double* x, double* y) {  // y = c I - x
    for (index_t i = 0; i < n; ++i)
      for (index_t j = 0; j < n; ++j) y[i * n + j] = (i == j ? c : 0.0) - x[i * n + j];
  };
  for (index_t it = 0; it < iterations; ++it) {
    square_product(n, a, z, az);  // a z
    diagonal_minus(7.0, az, t);
    square_product(n, az, t, u);  // a z (7 I - a z)
    diagonal_minus(15.0, u, t);
    square_product(n, az, t, u);  // a z (15 I - a z (7 I - a z))
    diagonal_minus(13.0, u, t);
    square_product(n, z, t, u);
    for (std::size_t x = 0; x < nn; ++x) z[x] = 0.25 * u[x];
  }
}

}  // namespace attnkit::detail
