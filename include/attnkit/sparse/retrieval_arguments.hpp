// SPDX-License-Identifier: Apache-2.0
// The argument checks of routing, LSH and landmark attention and of the functions that expose
// their clusters, buckets and blocks (DESIGN 1.4: everything checked before anything is written).
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

#include <attnkit/core/error.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/exact/arguments.hpp>
#include <attnkit/sparse/landmark_options.hpp>
#include <attnkit/sparse/lsh_options.hpp>
#include <attnkit/sparse/routing_options.hpp>

namespace attnkit::detail {

/// Checks q [B, Sq, Hq, D], k [B, Sk, Hkv, D], v [B, Sk, Hkv, Dv], out [B, Sq, Hq, Dv] (unit
/// innermost strides, Hq a multiple of Hkv), a finite scale and lse (empty or [B, Hq, Sq]) as
/// the exact module does; returns the sizes with the scale resolved.
inline attention_problem check_retrieval(std::string_view where, const tensor_view<const float, 4>& q,
                                         const tensor_view<const float, 4>& k,
                                         const tensor_view<const float, 4>& v,
                                         const tensor_view<float, 4>& out, float scale, bool causal,
                                         const tensor_view<float, 3>& lse) {
  require(std::isfinite(scale), where, "opt.scale", "a finite value (0 for 1/sqrt(D))", scale);
  attention_options opt;
  opt.scale = scale;
  opt.causal = causal;
  return check_attention(where, q, k, v, out, opt, lse);
}

/// Checks q and k alone (the functions that expose a selection read no v): q [B, Sq, Hq, D],
/// k [B, Sk, Hkv, D] with the same B and D, Hq a multiple of Hkv, unit innermost strides.
inline attention_problem check_query_keys(std::string_view where, const tensor_view<const float, 4>& q,
                                          const tensor_view<const float, 4>& k, float scale) {
  require(std::isfinite(scale), where, "opt.scale", "a finite value (0 for 1/sqrt(D))", scale);
  check_view(where, "q", q, true);
  check_view(where, "k", k, true);
  check_extent(where, "k", k, 0, q.extent(0), "the batch of q");
  check_extent(where, "k", k, 3, q.extent(3), "the head dim of q");
  attention_problem p;
  p.B = q.extent(0), p.Sq = q.extent(1), p.Hq = q.extent(2), p.D = q.extent(3);
  p.Sk = k.extent(1), p.Hkv = k.extent(2), p.Dv = p.D;
  require(p.D >= 1, where, "q", "extent(3) >= 1 (the head dim)", p.D);
  require(p.Hkv >= 1, where, "k", "extent(2) >= 1 (the kv heads)", p.Hkv);
  require(p.Hq % p.Hkv == 0, where, "q",
          "extent(2) a multiple of " + std::to_string(p.Hkv) + " (the kv heads of k)", p.Hq);
  p.scale = resolve_scale({}, p.D);
  if (scale != 0.0f) p.scale = scale;
  return p;
}

/// Requires an output view of the given extents (no broadcast).
template <class T, std::size_t R>
void check_output(std::string_view where, std::string_view name, const tensor_view<T, R>& view,
                  const std::array<index_t, R>& extents, const std::array<const char*, R>& what) {
  check_view(where, name, view, false);
  for (std::size_t r = 0; r < R; ++r) check_extent(where, name, view, r, extents[r], what[r]);
}

inline void check_routing_options(std::string_view where, const routing_options& opt) {
  require(opt.clusters >= 1 && opt.clusters <= (index_t{1} << 20), where, "opt.clusters",
          "in [1, 2^20]", opt.clusters);
  require(opt.iterations >= 0, where, "opt.iterations", ">= 0", opt.iterations);
}

inline void check_lsh_options(std::string_view where, const lsh_options& opt) {
  require(opt.buckets == 1 || (opt.buckets >= 2 && opt.buckets % 2 == 0 &&
                               opt.buckets <= (index_t{1} << 20)),
          where, "opt.buckets", "1 or an even number in [2, 2^20]", opt.buckets);
  require(opt.hashes >= 1 && opt.hashes <= 1024, where, "opt.hashes", "in [1, 1024]", opt.hashes);
}

/// The number of key blocks of a landmark call.
inline index_t landmark_block_count(index_t Sk, index_t block_size) {
  return (Sk + block_size - 1) / block_size;
}

/// Checks the options of a landmark call, and the summaries when given, against k's sizes.
inline void check_landmark_options(std::string_view where, const landmark_options& opt,
                                   const attention_problem& p) {
  require(opt.block_size >= 1, where, "opt.block_size", ">= 1", opt.block_size);
  require(opt.blocks >= 0, where, "opt.blocks", ">= 0", opt.blocks);
  if (!is_given(opt.summaries)) return;
  const auto& s = opt.summaries;
  check_view(where, "opt.summaries", s, true);
  check_extent(where, "opt.summaries", s, 0, p.B, "the batch of q");
  check_extent(where, "opt.summaries", s, 1, landmark_block_count(p.Sk, opt.block_size),
               "ceil(Sk / block_size), the key blocks");
  check_extent(where, "opt.summaries", s, 2, p.Hkv, "the kv heads of k");
  check_extent(where, "opt.summaries", s, 3, p.D, "the head dim of q");
}

}  // namespace attnkit::detail
