// SPDX-License-Identifier: Apache-2.0
// reference::prefix_attention: every prefix's softmax attention computed directly in double,
// O(T^2), the oracle of prefix_attention.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include <attnkit/core/tensor_view.hpp>

namespace attnkit::reference {

/// out[b, t, h, :] = sum_{s <= t} softmax_s(scale q[h] . k[b, s, h]) v[b, s, h, :] in double
/// (T = float or double); scale 0 means 1/sqrt(K); a prefix of -inf logits gives 0. Checks
/// nothing: the kernel's checks guard the same shapes. O(B H T^2 (K + V)).
template <class T>
void prefix_attention(tensor_view<const std::type_identity_t<T>, 2> q, tensor_view<const T, 4> k,
                      tensor_view<const T, 4> v, tensor_view<T, 4> out, double scale = 0.0) {
  const index_t B = k.extent(0), Tn = k.extent(1), H = k.extent(2), K = k.extent(3), V = v.extent(3);
  const double s = scale != 0.0 ? scale : 1.0 / std::sqrt(double(K));
  std::vector<double> z(static_cast<std::size_t>(Tn));
  for (index_t b = 0; b < B; ++b)
    for (index_t h = 0; h < H; ++h) {
      for (index_t t = 0; t < Tn; ++t) {
        double dot = 0;
        for (index_t d = 0; d < K; ++d) dot += double(q(h, d)) * double(k(b, t, h, d));
        z[std::size_t(t)] = s * dot;
      }
      for (index_t t = 0; t < Tn; ++t) {
        double m = -std::numeric_limits<double>::infinity();
        for (index_t u = 0; u <= t; ++u) m = std::max(m, z[std::size_t(u)]);
        for (index_t j = 0; j < V; ++j) {
          double num = 0, den = 0;
          if (m != -std::numeric_limits<double>::infinity())
            for (index_t u = 0; u <= t; ++u) {
              const double e = std::exp(z[std::size_t(u)] - m);
              num += e * double(v(b, u, h, j));
              den += e;
            }
          out(b, t, h, j) = T(den > 0 ? num / den : 0.0);
        }
      }
    }
}

}  // namespace attnkit::reference
