// SPDX-License-Identifier: Apache-2.0
// landmark_attention: block retrieval for decoding; each query attends exactly to the keys of
// its best-scoring key blocks and of its local block (Landmark Attention, arXiv 2305.16300).
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/core/threads.hpp>
#include <attnkit/exact/arguments.hpp>
#include <attnkit/simd/arch.hpp>
#include <attnkit/sparse/gathered_attention.hpp>
#include <attnkit/sparse/landmark_blocks.hpp>
#include <attnkit/sparse/landmark_options.hpp>
#include <attnkit/sparse/retrieval_arguments.hpp>

namespace attnkit {
namespace detail {

/// Column c sees key t of the gathered list when it picked the key's block and, causal, the key
/// is not after its last visible key.
struct landmark_visibility {
  const std::uint8_t* picked;  ///< [m x blocks]: block n picked by column c
  const index_t* last;         ///< last visible key per column
  const index_t* kpos;         ///< key positions of the list
  index_t m, blocks, block_size;
  bool sees(index_t c, index_t t) const {
    return picked[c * blocks + kpos[t] / block_size] && kpos[t] <= last[c];
  }
  bool all(index_t t0, index_t t1) const {
    for (index_t c = 0; c < m; ++c)
      for (index_t t = t0; t < t1; ++t)
        if (!sees(c, t)) return false;
    return true;
  }
  void mask(float* s, index_t lds, index_t t0, index_t nb) const noexcept {
    for (index_t t = 0; t < nb; ++t)
      for (index_t c = 0; c < m; ++c)
        if (!sees(c, t0 + t)) s[t * lds + c] = -std::numeric_limits<float>::infinity();
  }
};

/// One (batch, query head) at a time: pick every query's blocks (landmark_selector), then per
/// group of up to 64 queries one gathered_attention pass over the union of their blocks' keys,
/// in place, each query masked to its own blocks.
template <class Arch>
void landmark_forward(const attention_problem& p, const landmark_options& opt,
                      const tensor_view<const float, 4>& q, const tensor_view<const float, 4>& k,
                      const tensor_view<const float, 4>& v, const tensor_view<float, 4>& out,
                      const tensor_view<float, 3>& lse) {
  using engine = gathered_attention<Arch>;
  std::vector<float> storage;
  const auto summaries = landmark_summary_view(k, opt, storage);
  const index_t nb = landmark_block_count(p.Sk, opt.block_size);
  const index_t P = std::min(opt.blocks, nb) + 1, G = p.Hq / p.Hkv;
  struct scratch {
    engine ga;
    landmark_selector<Arch> sel;
    std::vector<std::int32_t> picks;
    std::vector<std::uint8_t> picked, in_union;
    std::vector<const float*> qr, kr, vr;
    std::vector<index_t> kpos, last;
    scratch(const attention_problem& p) : ga(p.D, p.Dv), sel(p.D) {}
  };
  const bool want_lse = is_given(lse);
  std::vector<std::unique_ptr<scratch>> scratches(static_cast<std::size_t>(get_num_threads()));
  parallel_for(p.B * p.Hq, [&](index_t task, int slot) {
    auto& w = scratches[std::size_t(slot)];
    if (!w) w = std::make_unique<scratch>(p);
    const index_t b = task / p.Hq, h = task % p.Hq, hk = h / G;
    w->picks.resize(std::size_t(p.Sq * P));
    w->sel.select(q, summaries, b, h, hk, p.Sk, opt, P, w->picks.data());
    w->qr.resize(std::size_t(engine::kMaxCols)), w->last.resize(std::size_t(engine::kMaxCols));
    for (index_t i0 = 0; i0 < p.Sq; i0 += engine::kMaxCols) {
      const index_t m = std::min(engine::kMaxCols, p.Sq - i0);
      w->picked.assign(std::size_t(m * nb), 0);
      w->in_union.assign(std::size_t(nb), 0);
      for (index_t c = 0; c < m; ++c) {
        const index_t i = i0 + c;
        w->qr[std::size_t(c)] = &q(b, i, h, 0);
        w->last[std::size_t(c)] = landmark_last_key(i, p.Sq, p.Sk, opt.causal);
        for (index_t x = 0; x < P; ++x) {
          const std::int32_t n = w->picks[std::size_t(i * P + x)];
          if (n < 0) break;
          w->picked[std::size_t(c * nb + n)] = 1;
          w->in_union[std::size_t(n)] = 1;
        }
      }
      w->kr.clear(), w->vr.clear(), w->kpos.clear();
      for (index_t n = 0; n < nb; ++n) {
        if (!w->in_union[std::size_t(n)]) continue;
        for (index_t j = n * opt.block_size; j < std::min(p.Sk, (n + 1) * opt.block_size); ++j) {
          w->kr.push_back(&k(b, j, hk, 0));
          w->vr.push_back(&v(b, j, hk, 0));
          w->kpos.push_back(j);
        }
      }
      w->ga.start(m, w->qr.data(), p.scale);
      const landmark_visibility vis{w->picked.data(), w->last.data(), w->kpos.data(), m, nb,
                                    opt.block_size};
      w->ga.visit(w->kr.data(), w->vr.data(), static_cast<index_t>(w->kr.size()), vis);
      for (index_t c = 0; c < m; ++c) {
        const float row_lse = w->ga.finish(c, &out(b, i0 + c, h, 0));
        if (want_lse) lse(b, h, i0 + c) = row_lse;
      }
    }
  });
}

}  // namespace detail

/// Landmark (block-retrieval) attention for decoding (Landmark Attention, arXiv 2305.16300;
/// RetrievalAttention, arXiv 2409.10516, in spirit): the keys are cut into blocks of
/// opt.block_size, each summarised by the mean of its keys (landmark_summaries, or
/// opt.summaries when given); query i scores the summaries of the blocks before its local block
/// (the block of its last visible key: the last, possibly partial, block, or with opt.causal
/// the block of key i + Sk - Sq), keeps the opt.blocks best, and attends with an exact softmax
/// over the keys of those blocks and of its local block, which it always keeps (the recent
/// context; landmark_blocks returns the choice). With opt.blocks >= the number of blocks this
/// is exact attention. A query that sees no key (causal, i + Sk - Sq < 0) gets out = 0 and
/// lse = -inf. Designed for few queries (decode, Sq <= 64 or so) over long keys; any Sq works.
/// out [B, Sq, Hq, Dv] and, when given, lse [B, Hq, Sq] (natural log).
/// @pre q [B, Sq, Hq, D], k [B, Sk, Hkv, D], v [B, Sk, Hkv, Dv], out [B, Sq, Hq, Dv], Hq a
///      multiple of Hkv, unit innermost strides (any others); opt.summaries empty or
///      [B, ceil(Sk / block_size), Hkv, D]; checked, throwing attnkit::error before anything
///      is written.
/// Time O(B Hq Sq (Sk / block_size) D) to score, O(B Hq Sq (blocks + 1) block_size (D + Dv))
/// to attend when the queries of a head agree on their blocks (a group of 64 queries visits the
/// union of its blocks, masked per query: with 16 queries that disagree the union approaches
/// all blocks, and at Sq = 16, Sk = 2048 this measured no faster than
/// flash_attention_with_kvcache), plus one pass over k when opt.summaries is empty. fp32 only.
/// Threads: one (batch, head) per task; results do not depend on the thread count.
template <class Arch = default_arch>
void landmark_attention(tensor_view<const float, 4> q, tensor_view<const float, 4> k,
                        tensor_view<const float, 4> v, tensor_view<float, 4> out,
                        const landmark_options& opt = {}, tensor_view<float, 3> lse = {}) {
  constexpr auto where = "landmark_attention";
  const auto p = detail::check_retrieval(where, q, k, v, out, opt.scale, opt.causal, lse);
  detail::check_landmark_options(where, opt, p);
  detail::landmark_forward<Arch>(p, opt, q, k, v, out, lse);
}

}  // namespace attnkit
