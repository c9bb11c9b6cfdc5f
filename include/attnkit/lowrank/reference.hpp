// SPDX-License-Identifier: Apache-2.0
// reference::performer_attention, scatterbrain_attention, linformer_attention and
// nystrom_attention: each estimator computed literally in double from the same random features
// or landmarks as its kernel, the oracle of the low-rank tests.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/linear/performer_feature_map.hpp>
#include <attnkit/lowrank/arguments.hpp>
#include <attnkit/lowrank/local_band_support.hpp>
#include <attnkit/lowrank/nystrom_attention.hpp>
#include <attnkit/lowrank/nystrom_pinv.hpp>

namespace attnkit::reference {
namespace detail {

using attnkit::detail::attention_problem;

/// Double FAVOR+ features of one (batch, head): fq [Sq, m] per query head with their log row
/// factors a - |q'|^2 / 2, fk [Sk, m] per kv head and the key shift g (the same stabilisers as
/// the kernel, which cancel in every normalised output).
struct favor_double {
  index_t m = 0;
  std::vector<double> fq, log_factor, fk, g;  // [B, Hq, Sq, m], [B, Hq, Sq], [B, Hkv, Sk, m], [B, Hkv]
  const double* query(const attention_problem& p, index_t b, index_t h, index_t i) const {
    return fq.data() + ((b * p.Hq + h) * p.Sq + i) * m;
  }
  const double* key(const attention_problem& p, index_t b, index_t h, index_t j) const {
    return fk.data() + ((b * p.Hkv + h) * p.Sk + j) * m;
  }
};

inline favor_double favor(const attention_problem& p, tensor_view<const float, 4> q,
                          tensor_view<const float, 4> k, index_t features, std::uint64_t seed) {
  const performer_feature_map map(p.D, features, seed, true, p.scale);
  const std::vector<float>& w = map.directions();
  const double root = std::sqrt(double(p.scale)), s = double(p.scale);
  const index_t m = features;
  favor_double f;
  f.m = m;
  f.fq.resize(std::size_t(p.B * p.Hq * p.Sq * m));
  f.log_factor.resize(std::size_t(p.B * p.Hq * p.Sq));
  f.fk.resize(std::size_t(p.B * p.Hkv * p.Sk * m));
  f.g.resize(std::size_t(p.B * p.Hkv));
  auto project = [&](const tensor_view<const float, 4>& x, index_t b, index_t i, index_t h,
                     double* out) {  // out_l = sqrt(s) w_l . x; returns s |x|^2 / 2
    double norm = 0;
    for (index_t d = 0; d < p.D; ++d) norm += double(x(b, i, h, d)) * double(x(b, i, h, d));
    for (index_t l = 0; l < m; ++l) {
      double dot = 0;
      for (index_t d = 0; d < p.D; ++d) dot += double(w[std::size_t(l * p.D + d)]) * double(x(b, i, h, d));
      out[l] = root * dot;
    }
    return 0.5 * s * norm;
  };
  for (index_t b = 0; b < p.B; ++b) {
    for (index_t h = 0; h < p.Hq; ++h)
      for (index_t i = 0; i < p.Sq; ++i) {
        double* row = f.fq.data() + ((b * p.Hq + h) * p.Sq + i) * m;
        const double half = project(q, b, i, h, row);
        const double a = *std::max_element(row, row + m);
        for (index_t l = 0; l < m; ++l) row[l] = std::exp(row[l] - a);
        f.log_factor[std::size_t((b * p.Hq + h) * p.Sq + i)] = a - half;
      }
    for (index_t h = 0; h < p.Hkv; ++h) {
      double g = -std::numeric_limits<double>::infinity();
      double* rows = f.fk.data() + (b * p.Hkv + h) * p.Sk * m;
      for (index_t j = 0; j < p.Sk; ++j) {
        double* row = rows + j * m;
        const double half = project(k, b, j, h, row);
        for (index_t l = 0; l < m; ++l) g = std::max(g, row[l] -= half);
      }
      for (index_t x = 0; x < p.Sk * m; ++x) rows[x] = std::exp(rows[x] - g);
      f.g[std::size_t(b * p.Hkv + h)] = g;
    }
  }
  return f;
}

inline double dot(const double* a, const double* b, index_t n) {
  double sum = 0;
  for (index_t i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

/// out(b, i, h, :) = sum_j weight(j) v_j / sum_j weight(j) over the weights of one row, given as
/// logs (-inf: no weight); 0 when no weight is positive.
inline void weighted_row(const std::vector<double>& log_w, tensor_view<const float, 4> v,
                         index_t b, index_t hk, double* out, index_t Dv) {
  double top = -std::numeric_limits<double>::infinity();
  for (double x : log_w) top = std::max(top, x);
  std::fill_n(out, Dv, 0.0);
  if (!(top > -std::numeric_limits<double>::infinity())) return;
  double den = 0;
  for (std::size_t j = 0; j < log_w.size(); ++j) {
    const double w = std::exp(log_w[j] - top);
    den += w;
    for (index_t d = 0; d < Dv; ++d) out[d] += w * double(v(b, index_t(j), hk, d));
  }
  for (index_t d = 0; d < Dv; ++d) out[d] /= den;
}

}  // namespace detail

/// performer_attention's estimator in double with the same random features:
/// out_i = sum_j (phi(q_i) . phi(k_j)) v_j / sum_j phi(q_i) . phi(k_j) (causal: j <= i).
/// Same checks as the kernel. O(B (Hq Sq + Hkv Sk) m D + B Hq Sq Sk (m + Dv)).
inline void performer_attention(tensor_view<const float, 4> q, tensor_view<const float, 4> k,
                                tensor_view<const float, 4> v, tensor_view<double, 4> out,
                                const performer_options& opt = {}) {
  const auto p = attnkit::detail::check_performer("reference::performer_attention", q, k, v, out, opt);
  const auto f = detail::favor(p, q, k, opt.features, opt.seed);
  const index_t G = p.Hq / p.Hkv;
  for (index_t b = 0; b < p.B; ++b)
    for (index_t h = 0; h < p.Hq; ++h)
      for (index_t i = 0; i < p.Sq; ++i) {
        const index_t visible = opt.causal ? i + 1 : p.Sk;
        std::vector<double> log_w(static_cast<std::size_t>(visible));
        for (index_t j = 0; j < visible; ++j)
          log_w[std::size_t(j)] = std::log(detail::dot(f.query(p, b, h, i), f.key(p, b, h / G, j), f.m));
        detail::weighted_row(log_w, v, b, h / G, &out(b, i, h, 0), p.Dv);
      }
}

/// scatterbrain_attention's estimator in double with the same features and band: weight
/// e^{s q_i . k_j} on the band, phi(q_i) . phi(k_j) (unstabilised, in logs) off it.
inline void scatterbrain_attention(tensor_view<const float, 4> q, tensor_view<const float, 4> k,
                                   tensor_view<const float, 4> v, tensor_view<double, 4> out,
                                   const scatterbrain_options& opt = {}) {
  const auto p =
      attnkit::detail::check_scatterbrain("reference::scatterbrain_attention", q, k, v, out, opt);
  const auto f = detail::favor(p, q, k, opt.features, opt.seed);
  const auto band = local_band_support(p.Sq, p.Sk, opt.window, opt.causal);
  const index_t G = p.Hq / p.Hkv;
  for (index_t b = 0; b < p.B; ++b)
    for (index_t h = 0; h < p.Hq; ++h)
      for (index_t i = 0; i < p.Sq; ++i) {
        const index_t hk = h / G, visible = opt.causal ? i + 1 : p.Sk;
        const double log_f = f.log_factor[std::size_t((b * p.Hq + h) * p.Sq + i)] +
                             f.g[std::size_t(b * p.Hkv + hk)] - std::log(double(f.m));
        std::vector<double> log_w(static_cast<std::size_t>(visible));
        for (index_t j = 0; j < visible; ++j)
          log_w[std::size_t(j)] = log_f + std::log(detail::dot(f.query(p, b, h, i), f.key(p, b, hk, j), f.m));
        for (const index_t j : band.row(i)) {
          double x = 0;
          for (index_t d = 0; d < p.D; ++d) x += double(q(b, i, h, d)) * double(k(b, j, hk, d));
          log_w[std::size_t(j)] = double(p.scale) * x;
        }
        detail::weighted_row(log_w, v, b, hk, &out(b, i, h, 0), p.Dv);
      }
}

/// linformer_attention in double: softmax(s Q (E K)ᵀ) (F V).
inline void linformer_attention(tensor_view<const float, 4> q, tensor_view<const float, 4> k,
                                tensor_view<const float, 4> v, tensor_view<const float, 2> e,
                                tensor_view<const float, 2> f, tensor_view<double, 4> out,
                                const linformer_options& opt = {}) {
  const auto p =
      attnkit::detail::check_linformer("reference::linformer_attention", q, k, v, e, f, out, opt);
  const index_t P = e.extent(0), G = p.Hq / p.Hkv;
  std::vector<double> kp(std::size_t(P * p.D)), vp(std::size_t(P * p.Dv));
  for (index_t b = 0; b < p.B; ++b)
    for (index_t hk = 0; hk < p.Hkv; ++hk) {
      std::fill(kp.begin(), kp.end(), 0.0);
      std::fill(vp.begin(), vp.end(), 0.0);
      for (index_t r = 0; r < P; ++r)
        for (index_t j = 0; j < p.Sk; ++j) {
          for (index_t d = 0; d < p.D; ++d) kp[std::size_t(r * p.D + d)] += double(e(r, j)) * double(k(b, j, hk, d));
          for (index_t d = 0; d < p.Dv; ++d) vp[std::size_t(r * p.Dv + d)] += double(f(r, j)) * double(v(b, j, hk, d));
        }
      for (index_t h = hk * G; h < (hk + 1) * G; ++h)
        for (index_t i = 0; i < p.Sq; ++i) {
          std::vector<double> z(static_cast<std::size_t>(P));
          double top = -std::numeric_limits<double>::infinity(), den = 0;
          for (index_t r = 0; r < P; ++r) {
            double x = 0;
            for (index_t d = 0; d < p.D; ++d) x += double(q(b, i, h, d)) * kp[std::size_t(r * p.D + d)];
            top = std::max(top, z[std::size_t(r)] = double(p.scale) * x);
          }
          for (double& x : z) den += (x = std::exp(x - top));
          for (index_t d = 0; d < p.Dv; ++d) {
            double sum = 0;
            for (index_t r = 0; r < P; ++r) sum += z[std::size_t(r)] * vp[std::size_t(r * p.Dv + d)];
            out(b, i, h, d) = sum / den;
          }
        }
    }
}

/// nystrom_attention in double: the same segment-mean landmarks and pseudo-inverse iteration,
/// out = softmax(s Q K~ᵀ) (pinv(softmax(s Q~ K~ᵀ)) (softmax(s Q~ Kᵀ) V)).
inline void nystrom_attention(tensor_view<const float, 4> q, tensor_view<const float, 4> k,
                              tensor_view<const float, 4> v, tensor_view<double, 4> out,
                              const nystrom_options& opt = {}) {
  const auto p = attnkit::detail::check_nystrom("reference::nystrom_attention", q, k, v, out, opt);
  const index_t G = p.Hq / p.Hkv, m = opt.landmarks, D = p.D, Dv = p.Dv;
  if (p.Sk == 0) {
    for (index_t b = 0; b < p.B; ++b)
      for (index_t i = 0; i < p.Sq; ++i)
        for (index_t h = 0; h < p.Hq; ++h) std::fill_n(&out(b, i, h, 0), Dv, 0.0);
    return;
  }
  if (p.Sq == 0) return;
  // Row-softmax of s x yᵀ: [nx x ny], x and y row-major of D columns.
  auto softmax_rows = [&](const std::vector<double>& x, index_t nx, const std::vector<double>& y,
                          index_t ny) {
    std::vector<double> a(std::size_t(nx * ny));
    for (index_t i = 0; i < nx; ++i) {
      double top = -std::numeric_limits<double>::infinity(), den = 0;
      for (index_t j = 0; j < ny; ++j)
        top = std::max(top, a[std::size_t(i * ny + j)] =
                                double(p.scale) * detail::dot(&x[std::size_t(i * D)], &y[std::size_t(j * D)], D));
      for (index_t j = 0; j < ny; ++j) den += (a[std::size_t(i * ny + j)] = std::exp(a[std::size_t(i * ny + j)] - top));
      for (index_t j = 0; j < ny; ++j) a[std::size_t(i * ny + j)] /= den;
    }
    return a;
  };
  auto rows_of = [&](tensor_view<const float, 4> x, index_t b, index_t h) {
    std::vector<double> r(std::size_t(x.extent(1) * D));
    for (index_t i = 0; i < x.extent(1); ++i)
      for (index_t d = 0; d < D; ++d) r[std::size_t(i * D + d)] = x(b, i, h, d);
    return r;
  };
  auto means = [&](const std::vector<double>& x, index_t S) {
    std::vector<double> r(std::size_t(m * D), 0.0);
    for (index_t l = 0; l < m; ++l) {
      const index_t lo = attnkit::detail::segment_begin(l, S, m), hi = attnkit::detail::segment_begin(l + 1, S, m);
      for (index_t i = lo; i < hi; ++i)
        for (index_t d = 0; d < D; ++d) r[std::size_t(l * D + d)] += x[std::size_t(i * D + d)];
      for (index_t d = 0; d < D; ++d) r[std::size_t(l * D + d)] /= double(hi - lo);
    }
    return r;
  };
  std::vector<double> z(std::size_t(m * m)), scratch;
  for (index_t b = 0; b < p.B; ++b)
    for (index_t h = 0; h < p.Hq; ++h) {
      const auto qr = rows_of(q, b, h), kr = rows_of(k, b, h / G);
      const auto ql = means(qr, p.Sq), kl = means(kr, p.Sk);
      const auto f1 = softmax_rows(qr, p.Sq, kl, m), a = softmax_rows(ql, m, kl, m),
                 f3 = softmax_rows(ql, m, kr, p.Sk);
      attnkit::detail::nystrom_pinv(m, a.data(), opt.iterations, z.data(), scratch);
      std::vector<double> w(std::size_t(m * Dv), 0.0), y(std::size_t(m * Dv), 0.0);
      for (index_t l = 0; l < m; ++l)  // W = F3 V
        for (index_t j = 0; j < p.Sk; ++j)
          for (index_t d = 0; d < Dv; ++d) w[std::size_t(l * Dv + d)] += f3[std::size_t(l * p.Sk + j)] * double(v(b, j, h / G, d));
      for (index_t l = 0; l < m; ++l)  // Y = pinv(A) W
        for (index_t r = 0; r < m; ++r)
          for (index_t d = 0; d < Dv; ++d) y[std::size_t(l * Dv + d)] += z[std::size_t(l * m + r)] * w[std::size_t(r * Dv + d)];
      for (index_t i = 0; i < p.Sq; ++i)  // out = F1 Y
        for (index_t d = 0; d < Dv; ++d) {
          double sum = 0;
          for (index_t l = 0; l < m; ++l) sum += f1[std::size_t(i * m + l)] * y[std::size_t(l * Dv + d)];
          out(b, i, h, d) = sum;
        }
    }
}

}  // namespace attnkit::reference
