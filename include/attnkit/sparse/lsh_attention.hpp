// SPDX-License-Identifier: Apache-2.0
// lsh_attention: each query attends exactly to the keys that share its angular-LSH bucket in at
// least one hash round (Reformer, arXiv 2001.04451).
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include <attnkit/core/aligned_buffer.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/core/threads.hpp>
#include <attnkit/exact/arguments.hpp>
#include <attnkit/exact/merge_row.hpp>
#include <attnkit/simd/arch.hpp>
#include <attnkit/sparse/gathered_attention.hpp>
#include <attnkit/sparse/group_by.hpp>
#include <attnkit/sparse/lsh_buckets.hpp>
#include <attnkit/sparse/lsh_options.hpp>
#include <attnkit/sparse/retrieval_arguments.hpp>

namespace attnkit {
namespace detail {

/// Round r's visibility within one bucket: column c (query i_c) sees key t (position j_t) of the
/// bucket when t is in its causal prefix and r is the first round in which i_c and j_t share a
/// bucket, so that a pair met in several rounds counts once.
struct lsh_visibility {
  const index_t* n;          ///< causal prefix per column
  index_t m;                 ///< columns
  index_t r;                 ///< the round
  const index_t* qpos;       ///< query positions per column
  const index_t* kpos;       ///< key positions of the bucket
  const std::int32_t* qb;    ///< query buckets [hashes, Sq]
  const std::int32_t* kb;    ///< key buckets [hashes, Sk]
  index_t Sq, Sk;
  std::int32_t* qcode;       ///< scratch: kMaxCols entries
  std::int32_t* kcode;       ///< scratch: kBlockK entries
  bool all(index_t, index_t t1) const { return r == 0 && (m == 0 || n[0] >= t1); }
  bool sees(index_t c, index_t t) const {
    if (t >= n[c]) return false;
    const index_t i = qpos[c], j = kpos[t];
    for (index_t e = 0; e < r; ++e)
      if (qb[e * Sq + i] == kb[e * Sk + j]) return false;
    return true;
  }
  /// The causal prefix, then per earlier round e a compare of the columns' and the keys'
  /// buckets, a loop over the columns that vectorises (per pair that is r compares, against
  /// D FMAs of the product).
  void mask(float* s, index_t lds, index_t t0, index_t nb) const noexcept {
    constexpr float kNegInf = -std::numeric_limits<float>::infinity();
    prefix_visibility{n, m}.mask(s, lds, t0, nb);
    for (index_t e = 0; e < r; ++e) {
      for (index_t c = 0; c < m; ++c) qcode[c] = qb[e * Sq + qpos[c]];
      for (index_t t = 0; t < nb; ++t) kcode[t] = kb[e * Sk + kpos[t0 + t]];
      for (index_t t = 0; t < nb; ++t) {
        float* row = s + t * lds;
        const std::int32_t key = kcode[t];
        for (index_t c = 0; c < m; ++c) row[c] = qcode[c] == key ? kNegInf : row[c];
      }
    }
  }
};

/// One (batch, query head) at a time: hash its queries and its kv head's keys in every round;
/// per round, per bucket and group of up to 64 queries, one gathered_attention pass over the
/// bucket's keys in place, ending in a partial state (out, lse) per query and round; the rounds
/// are merged through their lse (merge_row), which is exact because no pair counts twice.
template <class Arch>
void lsh_forward(const attention_problem& p, const lsh_options& opt,
                 const tensor_view<const float, 4>& q, const tensor_view<const float, 4>& k,
                 const tensor_view<const float, 4>& v, const tensor_view<float, 4>& out,
                 const tensor_view<float, 3>& lse) {
  using engine = gathered_attention<Arch>;
  const index_t R = opt.hashes, G = p.Hq / p.Hkv, o = p.Sk - p.Sq;
  const detail::lsh_hasher<Arch> hasher(opt, p.D);
  struct scratch {
    engine ga;
    aligned_buffer<float> s, part_out, part_lse;
    std::vector<const float*> qrows, krows, kr, vr, qr;
    std::vector<std::int32_t> qb, kb, qcode, kcode;
    std::vector<index_t> kpos, qpos, visible;
    grouping qg, kg;
    scratch(const attention_problem& p, index_t R, index_t s_size)
        : ga(p.D, p.Dv), s(std::size_t(s_size)),
          part_out(std::size_t(R > 1 ? R * p.Sq * p.Dv : 0)),
          part_lse(std::size_t(R > 1 ? R * p.Sq : 0)), qcode(std::size_t(engine::kMaxCols)),
          kcode(std::size_t(engine::kBlockK)) {}
  };
  const bool want_lse = is_given(lse);
  std::vector<std::unique_ptr<scratch>> scratches(static_cast<std::size_t>(get_num_threads()));
  parallel_for(p.B * p.Hq, [&](index_t task, int slot) {
    auto& w = scratches[std::size_t(slot)];
    if (!w) w = std::make_unique<scratch>(p, R, hasher.scratch_size());
    const index_t b = task / p.Hq, h = task % p.Hq, hk = h / G;
    w->qrows.resize(std::size_t(p.Sq)), w->krows.resize(std::size_t(p.Sk));
    for (index_t i = 0; i < p.Sq; ++i) w->qrows[std::size_t(i)] = &q(b, i, h, 0);
    for (index_t j = 0; j < p.Sk; ++j) w->krows[std::size_t(j)] = &k(b, j, hk, 0);
    w->qb.resize(std::size_t(R * p.Sq)), w->kb.resize(std::size_t(R * p.Sk));
    for (index_t r = 0; r < R; ++r) {
      hasher.hash(r, w->qrows.data(), p.Sq, w->s.data(), w->qb.data() + r * p.Sq);
      hasher.hash(r, w->krows.data(), p.Sk, w->s.data(), w->kb.data() + r * p.Sk);
    }
    w->kr.resize(std::size_t(p.Sk)), w->vr.resize(std::size_t(p.Sk)), w->kpos.resize(std::size_t(p.Sk));
    w->qr.resize(std::size_t(engine::kMaxCols)), w->qpos.resize(std::size_t(engine::kMaxCols));
    w->visible.resize(std::size_t(engine::kMaxCols));
    for (index_t r = 0; r < R; ++r) {
      w->qg.build(w->qb.data() + r * p.Sq, p.Sq, opt.buckets);
      w->kg.build(w->kb.data() + r * p.Sk, p.Sk, opt.buckets);
      for (index_t t = 0; t < p.Sk; ++t) {
        const index_t j = w->kg.order[std::size_t(t)];
        w->kr[std::size_t(t)] = w->krows[std::size_t(j)];
        w->vr[std::size_t(t)] = &v(b, j, hk, 0);
        w->kpos[std::size_t(t)] = j;
      }
      for (index_t g = 0; g < opt.buckets; ++g) {
        const index_t k0 = w->kg.start[std::size_t(g)], nk = w->kg.size(g);
        const index_t* qs = w->qg.begin(g);
        for (index_t q0 = 0; q0 < w->qg.size(g); q0 += engine::kMaxCols) {
          const index_t m = std::min(engine::kMaxCols, w->qg.size(g) - q0);
          for (index_t t = 0; t < m; ++t) {
            const index_t i = qs[q0 + t];
            w->qr[std::size_t(t)] = w->qrows[std::size_t(i)];
            w->qpos[std::size_t(t)] = i;
            w->visible[std::size_t(t)] = visible_prefix(w->kpos.data() + k0, nk, opt.causal, i, o);
          }
          w->ga.start(m, w->qr.data(), p.scale);
          const lsh_visibility vis{w->visible.data(), m, r, w->qpos.data(), w->kpos.data() + k0,
                                   w->qb.data(), w->kb.data(), p.Sq, p.Sk, w->qcode.data(),
                                   w->kcode.data()};
          w->ga.visit(w->kr.data() + k0, w->vr.data() + k0, w->visible[std::size_t(m - 1)], vis);
          for (index_t t = 0; t < m; ++t) {
            const index_t i = qs[q0 + t];
            if (R == 1) {
              const float row_lse = w->ga.finish(t, &out(b, i, h, 0));
              if (want_lse) lse(b, h, i) = row_lse;
            } else {
              w->part_lse[std::size_t(r * p.Sq + i)] =
                  w->ga.finish(t, w->part_out.data() + (r * p.Sq + i) * p.Dv);
            }
          }
        }
      }
    }
    if (R > 1)
      for (index_t i = 0; i < p.Sq; ++i)
        merge_row<Arch, float>(R, w->part_out.data() + i * p.Dv, p.Sq * p.Dv,
                               w->part_lse.data() + i, p.Sq, p.Dv, &out(b, i, h, 0),
                               want_lse ? &lse(b, h, i) : nullptr);
  });
}

}  // namespace detail

/// LSH attention (Reformer, arXiv 2001.04451): in each of opt.hashes rounds the queries of a
/// head and the keys of its kv head are hashed with the round's seeded angular LSH
/// (lsh_buckets returns the buckets); query i attends with an exact softmax to the union, over
/// the rounds, of the keys in its bucket, each key counted once, and when opt.causal only to
/// j <= i + Sk - Sq (bottom-right, as the exact module). Rounds are computed as partial softmax
/// states merged through their lse; a key met in several rounds is masked in every round but
/// the first that meets it, which gives the same result as the paper's duplicate correction
/// (subtracting log N_ij from the logit of a pair met in N_ij rounds). Unlike the paper, queries
/// and keys are separate rows (hashed with the same rotation) and a bucket is attended whole,
/// not in sorted chunks. A query with no key in its buckets gets out = 0, lse = -inf (DESIGN
/// 1.3 rule 4). opt.buckets = 1 is exact attention.
/// out [B, Sq, Hq, Dv] and, when given, lse [B, Hq, Sq] (natural log).
/// @pre q [B, Sq, Hq, D], k [B, Sk, Hkv, D], v [B, Sk, Hkv, Dv], out [B, Sq, Hq, Dv], Hq a
///      multiple of Hkv, unit innermost strides (any others); checked, throwing attnkit::error
///      before anything is written.
/// Time O(B Hq hashes ((Sq + Sk) D buckets / 2 + sum over buckets of queries x keys x
/// (D + Dv + hashes))), about hashes Sq Sk (D + Dv) / buckets for balanced buckets; memory
/// O(hashes Sq Dv) per thread. fp32 only. Threads: one (batch, head) per task; results do not
/// depend on the thread count.
template <class Arch = default_arch>
void lsh_attention(tensor_view<const float, 4> q, tensor_view<const float, 4> k,
                   tensor_view<const float, 4> v, tensor_view<float, 4> out,
                   const lsh_options& opt = {}, tensor_view<float, 3> lse = {}) {
  constexpr auto where = "lsh_attention";
  const auto p = detail::check_retrieval(where, q, k, v, out, opt.scale, opt.causal, lse);
  detail::check_lsh_options(where, opt);
  detail::lsh_forward<Arch>(p, opt, q, k, v, out, lse);
}

}  // namespace attnkit
