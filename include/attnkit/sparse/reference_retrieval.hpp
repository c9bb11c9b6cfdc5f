// SPDX-License-Identifier: Apache-2.0
// attnkit::reference::routing_attention, lsh_attention and landmark_attention: naive attention
// in double over the clusters, buckets or blocks a kernel chose, the oracles of the sparse tests.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/exact/arguments.hpp>
#include <attnkit/exact/reference.hpp>
#include <attnkit/sparse/landmark_options.hpp>
#include <attnkit/sparse/lsh_options.hpp>
#include <attnkit/sparse/retrieval_arguments.hpp>
#include <attnkit/sparse/routing_options.hpp>

namespace attnkit::reference {
namespace detail {

/// out_i = sum_j softmax(z)_j v_j over the keys visible(b, h, i, j) says, z = scale <q_i, k_j>,
/// lse_i = log sum_j exp(z_j), accumulating in Acc; a row with no visible key gets out = 0 and
/// lse = -inf, a NaN logit makes its row NaN (DESIGN 1.3 rules 4, 5). O(B Hq Sq Sk (D + Dv)).
/// Checks nothing.
template <class Acc, class T, class L, class Visible>
void masked_attention(const attnkit::detail::attention_problem& p, const tensor_view<const T, 4>& q,
                      const tensor_view<const T, 4>& k, const tensor_view<const T, 4>& v,
                      const tensor_view<T, 4>& out, const tensor_view<L, 3>& lse,
                      const Visible& visible) {
  const bool want_lse = attnkit::detail::is_given(lse);
  const index_t G = p.Hq / p.Hkv;
  constexpr Acc kNegInf = -std::numeric_limits<Acc>::infinity();
  std::vector<Acc> z(std::size_t(p.Sk)), acc(std::size_t(p.Dv));
  std::vector<char> seen(std::size_t(p.Sk));
  for (index_t b = 0; b < p.B; ++b)
    for (index_t h = 0; h < p.Hq; ++h)
      for (index_t i = 0; i < p.Sq; ++i) {
        const index_t hk = h / G;
        Acc m = kNegInf;
        bool has_nan = false;
        for (index_t j = 0; j < p.Sk; ++j) {
          seen[std::size_t(j)] = visible(b, h, i, j);
          if (!seen[std::size_t(j)]) continue;
          Acc dot = 0;
          for (index_t d = 0; d < p.D; ++d) dot += Acc(q(b, i, h, d)) * Acc(k(b, j, hk, d));
          const Acc s = Acc(p.scale) * dot;
          z[std::size_t(j)] = s;
          if (std::isnan(s)) has_nan = true;
          else if (s > m) m = s;
        }
        std::fill(acc.begin(), acc.end(), Acc(0));
        Acc row_lse = kNegInf;
        if (m != kNegInf || has_nan) {
          Acc sum = 0;
          for (index_t j = 0; j < p.Sk; ++j)
            if (seen[std::size_t(j)]) sum += std::exp(z[std::size_t(j)] - m);
          for (index_t j = 0; j < p.Sk; ++j) {
            if (!seen[std::size_t(j)]) continue;
            const Acc w = std::exp(z[std::size_t(j)] - m) / sum;
            for (index_t d = 0; d < p.Dv; ++d) acc[std::size_t(d)] += w * Acc(v(b, j, hk, d));
          }
          row_lse = m + std::log(sum);
        }
        for (index_t d = 0; d < p.Dv; ++d) out(b, i, h, d) = T(acc[std::size_t(d)]);
        if (want_lse) lse(b, h, i) = L(row_lse);
      }
}

/// The checks of q, k, v, out, lse shared by the references; returns the sizes.
template <class T, class L>
attnkit::detail::attention_problem check(const char* where, const tensor_view<const T, 4>& q,
                                         const tensor_view<const T, 4>& k,
                                         const tensor_view<const T, 4>& v,
                                         const tensor_view<T, 4>& out, float scale, bool causal,
                                         const tensor_view<L, 3>& lse) {
  attnkit::detail::require(std::isfinite(scale), where, "opt.scale", "a finite value", scale);
  attention_options opt;
  opt.scale = scale;
  opt.causal = causal;
  return attnkit::detail::check_attention(where, q, k, v, out, opt, lse);
}

/// Requires a selection view of the given extents.
template <std::size_t R>
void check_selection(const char* where, const char* name,
                     const tensor_view<const std::int32_t, R>& view,
                     const std::array<index_t, R>& extents) {
  attnkit::detail::check_view(where, name, view, false);
  for (std::size_t r = 0; r < R; ++r)
    attnkit::detail::check_extent(where, name, view, r, extents[r], "as the kernel's selection");
}

}  // namespace detail

/// routing_attention over given clusters, in double: query i of head h sees key j iff
/// key_cluster(b, h, j) == query_cluster(b, h, i) and, with opt.causal, j <= i + Sk - Sq. Only
/// opt.causal and opt.scale are read. With routing_clusters' output it is the oracle of
/// routing_attention.
/// @pre as routing_attention; query_cluster [B, Hq, Sq], key_cluster [B, Hq, Sk]. Checked.
/// O(B Hq Sq Sk (D + Dv)) time. T: float or double.
template <element T, class L = float>
void routing_attention(tensor_view<const std::type_identity_t<T>, 4> q,
                       tensor_view<const std::type_identity_t<T>, 4> k,
                       tensor_view<const std::type_identity_t<T>, 4> v, tensor_view<T, 4> out,
                       tensor_view<const std::int32_t, 3> query_cluster,
                       tensor_view<const std::int32_t, 3> key_cluster,
                       const routing_options& opt = {}, tensor_view<L, 3> lse = {}) {
  constexpr auto where = "reference::routing_attention";
  const auto p = detail::check(where, q, k, v, out, opt.scale, opt.causal, lse);
  detail::check_selection<3>(where, "query_cluster", query_cluster, {p.B, p.Hq, p.Sq});
  detail::check_selection<3>(where, "key_cluster", key_cluster, {p.B, p.Hq, p.Sk});
  const index_t o = p.Sk - p.Sq;
  detail::masked_attention<double>(p, q, k, v, out, lse, [&](index_t b, index_t h, index_t i, index_t j) {
    return key_cluster(b, h, j) == query_cluster(b, h, i) && (!opt.causal || j <= i + o);
  });
}

/// lsh_attention over given buckets, in double: query i of head h sees key j (of kv head hk)
/// iff query_bucket(b, h, r, i) == key_bucket(b, hk, r, j) for some round r and, with
/// opt.causal, j <= i + Sk - Sq; every visible key counts once. Only opt.hashes, opt.causal and
/// opt.scale are read.
/// @pre as lsh_attention; query_bucket [B, Hq, hashes, Sq], key_bucket [B, Hkv, hashes, Sk].
/// Checked. O(B Hq Sq Sk (D + Dv + hashes)) time. T: float or double.
template <element T, class L = float>
void lsh_attention(tensor_view<const std::type_identity_t<T>, 4> q,
                   tensor_view<const std::type_identity_t<T>, 4> k,
                   tensor_view<const std::type_identity_t<T>, 4> v, tensor_view<T, 4> out,
                   tensor_view<const std::int32_t, 4> query_bucket,
                   tensor_view<const std::int32_t, 4> key_bucket, const lsh_options& opt = {},
                   tensor_view<L, 3> lse = {}) {
  constexpr auto where = "reference::lsh_attention";
  const auto p = detail::check(where, q, k, v, out, opt.scale, opt.causal, lse);
  detail::check_selection<4>(where, "query_bucket", query_bucket, {p.B, p.Hq, opt.hashes, p.Sq});
  detail::check_selection<4>(where, "key_bucket", key_bucket, {p.B, p.Hkv, opt.hashes, p.Sk});
  const index_t o = p.Sk - p.Sq, G = p.Hq / p.Hkv;
  detail::masked_attention<double>(p, q, k, v, out, lse, [&](index_t b, index_t h, index_t i, index_t j) {
    if (opt.causal && j > i + o) return false;
    for (index_t r = 0; r < opt.hashes; ++r)
      if (query_bucket(b, h, r, i) == key_bucket(b, h / G, r, j)) return true;
    return false;
  });
}

/// landmark_attention over given blocks, in double: query i of head h sees key j iff block
/// j / opt.block_size is one of picks(b, h, i, :) (entries < 0 are unused) and, with
/// opt.causal, j <= i + Sk - Sq. Only opt.block_size, opt.causal and opt.scale are read.
/// @pre as landmark_attention; picks [B, Hq, Sq, P] for any P. Checked.
/// O(B Hq Sq Sk (D + Dv + P)) time. T: float or double.
template <element T, class L = float>
void landmark_attention(tensor_view<const std::type_identity_t<T>, 4> q,
                        tensor_view<const std::type_identity_t<T>, 4> k,
                        tensor_view<const std::type_identity_t<T>, 4> v, tensor_view<T, 4> out,
                        tensor_view<const std::int32_t, 4> picks, const landmark_options& opt = {},
                        tensor_view<L, 3> lse = {}) {
  constexpr auto where = "reference::landmark_attention";
  const auto p = detail::check(where, q, k, v, out, opt.scale, opt.causal, lse);
  attnkit::detail::require(opt.block_size >= 1, where, "opt.block_size", ">= 1", opt.block_size);
  detail::check_selection<4>(where, "picks", picks, {p.B, p.Hq, p.Sq, picks.extent(3)});
  const index_t o = p.Sk - p.Sq;
  detail::masked_attention<double>(p, q, k, v, out, lse, [&](index_t b, index_t h, index_t i, index_t j) {
    if (opt.causal && j > i + o) return false;
    for (index_t x = 0; x < picks.extent(3); ++x)
      if (picks(b, h, i, x) >= 0 && picks(b, h, i, x) == j / opt.block_size) return true;
    return false;
  });
}

}  // namespace attnkit::reference
