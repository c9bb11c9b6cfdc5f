// SPDX-License-Identifier: Apache-2.0
// Example: BASED (Arora et al., 2402.18668) from attnkit's parts. A BASED mixer pairs global
// linear attention through the second-order Taylor feature map (q and k first projected to a
// few features) with exact sliding-window softmax attention for the local detail. Both run in
// O(T) memory; the linear half is also a recurrence, so decoding keeps a fixed-size state.
#include <attnkit/attnkit.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

int main() {
  using attnkit::index_t;
  using attnkit::tensor_view;
  const index_t B = 1, T = 300, H = 2, D = 32, F = 8, window = 64;

  // Inputs of any origin: a deterministic pattern here. q, k, v [B, T, H, D].
  std::vector<float> q(B * T * H * D), k(q.size()), v(q.size());
  for (std::size_t n = 0; n < q.size(); ++n) {
    q[n] = std::sin(0.37f * float(n));
    k[n] = std::cos(0.11f * float(n));
    v[n] = float(n % 7) / 3.0f - 1.0f;
  }

  // 1. Project q and k to F features (a fixed projection here; learned in a model), then the
  //    Taylor map: phi(x) . phi(y) = 1 + z + z^2 / 2, z = x . y / sqrt(F), 1 + F + F^2 features.
  std::vector<float> qf(B * T * H * F), kf(qf.size());
  for (index_t row = 0; row < B * T * H; ++row)
    for (index_t f = 0; f < F; ++f) {
      float a = 0, b = 0;
      for (index_t d = 0; d < D; ++d) {
        const float p = std::cos(0.5f * float(f * D + d)) / std::sqrt(float(D));
        a += q[std::size_t(row * D + d)] * p;
        b += k[std::size_t(row * D + d)] * p;
      }
      qf[std::size_t(row * F + f)] = a;
      kf[std::size_t(row * F + f)] = b;
    }
  const attnkit::taylor_feature_map taylor;
  const index_t P = taylor.dim(F);
  std::vector<float> phi_q(B * T * H * P), phi_k(phi_q.size());
  attnkit::apply_feature_map(taylor, tensor_view<const float, 4>(qf.data(), {B, T, H, F}),
                             tensor_view<float, 4>(phi_q.data(), {B, T, H, P}));
  attnkit::apply_feature_map(taylor, tensor_view<const float, 4>(kf.data(), {B, T, H, F}),
                             tensor_view<float, 4>(phi_k.data(), {B, T, H, P}));

  // 2. Causal linear attention over the features, normalised: a softmax-like average of v
  //    with weights 1 + z + z^2 / 2 (scale 1: the map has scaled already).
  std::vector<float> global(B * T * H * D);
  attnkit::linear_options lin;
  lin.scale = 1.0f;
  lin.normalize = true;
  attnkit::linear_attention(tensor_view<const float, 4>(phi_q.data(), {B, T, H, P}),
                            tensor_view<const float, 4>(phi_k.data(), {B, T, H, P}),
                            tensor_view<const float, 4>(v.data(), {B, T, H, D}),
                            tensor_view<float, 4>(global.data(), {B, T, H, D}), lin);

  // 3. Exact softmax attention over the last `window` tokens (the window includes the token).
  std::vector<float> local(B * T * H * D);
  attnkit::attention_options sw;
  sw.causal = true;
  sw.window_left = window - 1;
  attnkit::flash_attention(tensor_view<const float, 4>(q.data(), {B, T, H, D}),
                           tensor_view<const float, 4>(k.data(), {B, T, H, D}),
                           tensor_view<const float, 4>(v.data(), {B, T, H, D}),
                           tensor_view<float, 4>(local.data(), {B, T, H, D}), sw);

  // 4. The mixer's output: the sum of the two (a model adds learned projections around it).
  std::vector<float> out(global.size());
  for (std::size_t n = 0; n < out.size(); ++n) out[n] = global[n] + local[n];

  // Check the linear half against its definition at the last token of head 0: the Taylor
  // weights of every earlier key, normalised.
  const index_t t = T - 1, h = 0;
  double den = 0;
  std::vector<double> num(std::size_t(D), 0.0);
  for (index_t s = 0; s <= t; ++s) {
    double z = 0;
    for (index_t f = 0; f < F; ++f)
      z += double(qf[std::size_t((t * H + h) * F + f)]) * double(kf[std::size_t((s * H + h) * F + f)]);
    z /= std::sqrt(double(F));
    const double w = 1.0 + z + z * z / 2.0;
    den += w;
    for (index_t d = 0; d < D; ++d) num[std::size_t(d)] += w * double(v[std::size_t((s * H + h) * D + d)]);
  }
  double worst = 0;
  for (index_t d = 0; d < D; ++d)
    worst = std::max(worst, std::abs(num[std::size_t(d)] / den - double(global[std::size_t((t * H + h) * D + d)])));
  std::printf("BASED mixer: T %td, %td Taylor features from %td projected dims, window %td\n", T, P, F, window);
  std::printf("last token, head 0: global %.4f  local %.4f  out %.4f (first dim)\n",
              global[std::size_t((t * H + h) * D)], local[std::size_t((t * H + h) * D)],
              out[std::size_t((t * H + h) * D)]);
  std::printf("linear half vs its definition: max error %.2e\n", worst);
  return worst < 1e-4 ? 0 : 1;
}
