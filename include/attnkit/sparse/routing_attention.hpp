// SPDX-License-Identifier: Apache-2.0
// routing_attention: each query attends exactly to the keys of its k-means cluster (Routing
// Transformer, arXiv 2003.05997).
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/core/threads.hpp>
#include <attnkit/exact/arguments.hpp>
#include <attnkit/simd/arch.hpp>
#include <attnkit/sparse/gathered_attention.hpp>
#include <attnkit/sparse/group_by.hpp>
#include <attnkit/sparse/kmeans.hpp>
#include <attnkit/sparse/retrieval_arguments.hpp>
#include <attnkit/sparse/routing_clusters.hpp>
#include <attnkit/sparse/routing_options.hpp>

namespace attnkit {
namespace detail {

/// One (batch, query head) at a time: cluster, group the queries and keys of each cluster by
/// position, then per cluster and group of up to 64 queries one gathered_attention pass over
/// the cluster's keys in place (causal: query i sees the cluster's keys j <= i + Sk - Sq, a
/// prefix of them).
template <class Arch>
void routing_forward(const attention_problem& p, const routing_options& opt,
                     const tensor_view<const float, 4>& q, const tensor_view<const float, 4>& k,
                     const tensor_view<const float, 4>& v, const tensor_view<float, 4>& out,
                     const tensor_view<float, 3>& lse) {
  using engine = gathered_attention<Arch>;
  struct scratch {
    spherical_kmeans<Arch> km;
    engine ga;
    std::vector<const float*> points, kr, vr, qr;
    std::vector<std::int32_t> assign;
    std::vector<index_t> kpos, visible;
    grouping qg, kg;
    scratch(const attention_problem& p, index_t clusters) : km(clusters, p.D), ga(p.D, p.Dv) {}
  };
  const index_t G = p.Hq / p.Hkv, o = p.Sk - p.Sq;
  const bool want_lse = is_given(lse);
  std::vector<std::unique_ptr<scratch>> scratches(static_cast<std::size_t>(get_num_threads()));
  parallel_for(p.B * p.Hq, [&](index_t task, int slot) {
    auto& w = scratches[std::size_t(slot)];
    if (!w) w = std::make_unique<scratch>(p, opt.clusters);
    const index_t b = task / p.Hq, h = task % p.Hq, hk = h / G;
    w->assign.resize(std::size_t(p.Sq + p.Sk));
    routing_assign(w->km, w->points, q, k, b, h, hk, opt, w->assign.data());
    w->qg.build(w->assign.data(), p.Sq, opt.clusters);
    w->kg.build(w->assign.data() + p.Sq, p.Sk, opt.clusters);
    // K, V rows and positions in cluster order.
    w->kr.resize(std::size_t(p.Sk)), w->vr.resize(std::size_t(p.Sk)), w->kpos.resize(std::size_t(p.Sk));
    for (index_t t = 0; t < p.Sk; ++t) {
      const index_t j = w->kg.order[std::size_t(t)];
      w->kr[std::size_t(t)] = &k(b, j, hk, 0);
      w->vr[std::size_t(t)] = &v(b, j, hk, 0);
      w->kpos[std::size_t(t)] = j;
    }
    w->qr.resize(std::size_t(engine::kMaxCols)), w->visible.resize(std::size_t(engine::kMaxCols));
    for (index_t c = 0; c < opt.clusters; ++c) {
      const index_t k0 = w->kg.start[std::size_t(c)], nk = w->kg.size(c);
      const index_t* qs = w->qg.begin(c);
      for (index_t q0 = 0; q0 < w->qg.size(c); q0 += engine::kMaxCols) {
        const index_t m = std::min(engine::kMaxCols, w->qg.size(c) - q0);
        for (index_t t = 0; t < m; ++t) {
          const index_t i = qs[q0 + t];
          w->qr[std::size_t(t)] = &q(b, i, h, 0);
          w->visible[std::size_t(t)] = visible_prefix(w->kpos.data() + k0, nk, opt.causal, i, o);
        }
        w->ga.start(m, w->qr.data(), p.scale);
        w->ga.visit(w->kr.data() + k0, w->vr.data() + k0, w->visible[std::size_t(m - 1)],
                    prefix_visibility{w->visible.data(), m});
        for (index_t t = 0; t < m; ++t) {
          const index_t i = qs[q0 + t];
          const float row_lse = w->ga.finish(t, &out(b, i, h, 0));
          if (want_lse) lse(b, h, i) = row_lse;
        }
      }
    }
  });
}

}  // namespace detail

/// Routing attention (Routing Transformer, arXiv 2003.05997): per (batch, query head), seeded
/// spherical k-means clusters the head's Sq queries and Sk keys together (routing_clusters
/// returns the clusters); query i attends with an exact softmax to the keys of its own cluster
/// and, when opt.causal, only to those with j <= i + Sk - Sq (bottom-right, as the exact
/// module). A query whose cluster holds no key it may see gets out = 0 and lse = -inf (the
/// exact module's empty-row rule, DESIGN 1.3). opt.clusters = 1 is exact attention.
/// out [B, Sq, Hq, Dv] and, when given, lse [B, Hq, Sq] (natural log).
/// @pre q [B, Sq, Hq, D], k [B, Sk, Hkv, D], v [B, Sk, Hkv, Dv], out [B, Sq, Hq, Dv], Hq a
///      multiple of Hkv, unit innermost strides (any others); checked, throwing attnkit::error
///      before anything is written.
/// Time O(B Hq ((iterations + 1) (Sq + Sk) clusters D + sum over clusters of
/// queries x keys x (D + Dv))), about Sq Sk (D + Dv) / clusters for balanced clusters; memory
/// O(Sq + Sk) per thread and a few tiles. fp32 only (products in fp32 on Arch, as flash).
/// Threads: one (batch, head) per task; results do not depend on the thread count.
template <class Arch = default_arch>
void routing_attention(tensor_view<const float, 4> q, tensor_view<const float, 4> k,
                       tensor_view<const float, 4> v, tensor_view<float, 4> out,
                       const routing_options& opt = {}, tensor_view<float, 3> lse = {}) {
  constexpr auto where = "routing_attention";
  const auto p = detail::check_retrieval(where, q, k, v, out, opt.scale, opt.causal, lse);
  detail::check_routing_options(where, opt);
  detail::routing_forward<Arch>(p, opt, q, k, v, out, lse);
}

}  // namespace attnkit
