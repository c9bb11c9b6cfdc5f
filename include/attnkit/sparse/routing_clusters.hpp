// SPDX-License-Identifier: Apache-2.0
// routing_clusters: the k-means cluster of every query and key of routing_attention, exposed so
// that its attention can be checked against a reference built from the same clusters.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/core/threads.hpp>
#include <attnkit/simd/arch.hpp>
#include <attnkit/sparse/kmeans.hpp>
#include <attnkit/sparse/retrieval_arguments.hpp>
#include <attnkit/sparse/routing_options.hpp>

namespace attnkit {
namespace detail {

/// Clusters the queries of head h and the keys of its kv head hk (batch b) together: out[i] for
/// query i < Sq, out[Sq + j] for key j. `points` is scratch.
template <class Arch>
void routing_assign(spherical_kmeans<Arch>& km, std::vector<const float*>& points,
                    const tensor_view<const float, 4>& q, const tensor_view<const float, 4>& k,
                    index_t b, index_t h, index_t hk, const routing_options& opt,
                    std::int32_t* out) {
  const index_t Sq = q.extent(1), Sk = k.extent(1);
  points.resize(std::size_t(Sq + Sk));
  for (index_t i = 0; i < Sq; ++i) points[std::size_t(i)] = &q(b, i, h, 0);
  for (index_t j = 0; j < Sk; ++j) points[std::size_t(Sq + j)] = &k(b, j, hk, 0);
  km.run(points.data(), Sq + Sk, opt.iterations, opt.seed, out);
}

}  // namespace detail

/// The clusters routing_attention<Arch> uses: query_cluster(b, h, i) and key_cluster(b, h, j)
/// in [0, opt.clusters) for query i and key j of query head h (keys are clustered per query
/// head, with its queries). Spherical k-means over the union of the head's queries and keys
/// (detail::spherical_kmeans: seeded k-means++ start, at most opt.iterations Lloyd steps,
/// stopping early when no assignment changes). Same Arch, seed and inputs give the same clusters
/// whatever the thread count; other archs may break near-ties differently (fp32 products).
/// @pre q [B, Sq, Hq, D], k [B, Sk, Hkv, D], Hq a multiple of Hkv, unit innermost strides;
///      query_cluster [B, Hq, Sq], key_cluster [B, Hq, Sk] (any strides, none 0); checked,
///      throwing attnkit::error before anything is written.
/// Time O(B Hq (iterations + 2) (Sq + Sk) clusters D).
template <class Arch = default_arch>
void routing_clusters(tensor_view<const float, 4> q, tensor_view<const float, 4> k,
                      tensor_view<std::int32_t, 3> query_cluster,
                      tensor_view<std::int32_t, 3> key_cluster, const routing_options& opt = {}) {
  constexpr auto where = "routing_clusters";
  const auto p = detail::check_query_keys(where, q, k, 0.0f);
  detail::check_routing_options(where, opt);
  detail::check_output<std::int32_t, 3>(where, "query_cluster", query_cluster, {p.B, p.Hq, p.Sq},
                                        {"the batch of q", "the query heads of q", "the query length of q"});
  detail::check_output<std::int32_t, 3>(where, "key_cluster", key_cluster, {p.B, p.Hq, p.Sk},
                                        {"the batch of q", "the query heads of q", "the key length of k"});
  std::vector<std::unique_ptr<detail::spherical_kmeans<Arch>>> km(static_cast<std::size_t>(get_num_threads()));
  std::vector<std::vector<const float*>> points(km.size());
  parallel_for(p.B * p.Hq, [&](index_t task, int slot) {
    auto& w = km[std::size_t(slot)];
    if (!w) w = std::make_unique<detail::spherical_kmeans<Arch>>(opt.clusters, p.D);
    const index_t b = task / p.Hq, h = task % p.Hq;
    std::vector<std::int32_t> a(static_cast<std::size_t>(p.Sq + p.Sk));
    detail::routing_assign(*w, points[std::size_t(slot)], q, k, b, h, h / (p.Hq / p.Hkv), opt, a.data());
    for (index_t i = 0; i < p.Sq; ++i) query_cluster(b, h, i) = a[std::size_t(i)];
    for (index_t j = 0; j < p.Sk; ++j) key_cluster(b, h, j) = a[std::size_t(p.Sq + j)];
  });
}

}  // namespace attnkit
