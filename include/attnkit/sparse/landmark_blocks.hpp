// SPDX-License-Identifier: Apache-2.0
// landmark_blocks: the key blocks each query of landmark_attention retrieves (its best-scoring
// blocks and its local block), exposed for tests and analysis.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <numeric>
#include <vector>

#include <attnkit/core/aligned_buffer.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/core/threads.hpp>
#include <attnkit/simd/arch.hpp>
#include <attnkit/sparse/landmark_options.hpp>
#include <attnkit/sparse/landmark_summaries.hpp>
#include <attnkit/sparse/nearest_center.hpp>
#include <attnkit/sparse/retrieval_arguments.hpp>

namespace attnkit {
namespace detail {

/// The last key query i may see: Sk - 1, or (causal, bottom-right) min(i + Sk - Sq, Sk - 1);
/// negative when it sees none.
inline index_t landmark_last_key(index_t i, index_t Sq, index_t Sk, bool causal) {
  return causal ? std::min(i + Sk - Sq, Sk - 1) : Sk - 1;
}

/// The block choice of one (batch, query head): picks[i * P + x], P > min(opt.blocks, blocks
/// before the local one), holds the
/// blocks query i attends to in ascending order, then -1. Query i's local block L is the block
/// of its last visible key; its candidates are the blocks before L (all of whose keys it sees),
/// scored by <q_i, summary> in fp32 on Arch (the scale does not change the ranking); the
/// opt.blocks best (ties to the lower block, NaN scores as -inf) and L are picked. A query that
/// sees no key picks nothing.
template <class Arch>
class landmark_selector {
 public:
  explicit landmark_selector(index_t D) : queries_(kChunk, D), s_(std::size_t(kChunk * kChunk)) {}

  void select(const tensor_view<const float, 4>& q, const tensor_view<const float, 4>& summaries,
              index_t b, index_t h, index_t hk, index_t Sk, const landmark_options& opt,
              index_t P, std::int32_t* picks) {
    const index_t Sq = q.extent(1), D = q.extent(3);
    const index_t nb = landmark_block_count(Sk, opt.block_size);
    std::fill(picks, picks + Sq * P, -1);
    rows_.resize(std::size_t(nb));
    for (index_t n = 0; n < nb; ++n) rows_[std::size_t(n)] = &summaries(b, n, hk, 0);
    scores_.resize(std::size_t(kChunk * nb));
    for (index_t i0 = 0; i0 < Sq; i0 += kChunk) {
      const index_t m = std::min(kChunk, Sq - i0);
      // Qᵀ: the chunk's queries as packed rows (zero rows past m); S: [blocks x m4]
      std::fill(queries_.rows.data(), queries_.rows.data() + queries_.rows.size(), 0.0f);
      for (index_t c = 0; c < m; ++c) std::copy_n(&q(b, i0 + c, h, 0), D, queries_.row(c));
      for (index_t n0 = 0; n0 < nb; n0 += kChunk) {
        const index_t nn = std::min(kChunk, nb - n0);
        tile::dot_rows<Arch>(nn, (m + 3) / 4 * 4, D, rows_.data() + n0, nullptr,
                             queries_.rows.data(), queries_.ld, s_.data(), kChunk);
        for (index_t t = 0; t < nn; ++t)
          for (index_t c = 0; c < m; ++c) scores_[std::size_t(c * nb + n0 + t)] = s_[std::size_t(t * kChunk + c)];
      }
      for (index_t c = 0; c < m; ++c)
        pick(scores_.data() + c * nb, landmark_last_key(i0 + c, Sq, Sk, opt.causal), opt,
             picks + (i0 + c) * P);
    }
  }

 private:
  static constexpr index_t kChunk = 64;

  void pick(const float* score, index_t last, const landmark_options& opt, std::int32_t* out) {
    if (last < 0) return;
    const index_t local = last / opt.block_size;
    const index_t take = std::min(opt.blocks, local);
    order_.resize(std::size_t(local));
    std::iota(order_.begin(), order_.end(), index_t{0});
    auto key = [&](index_t n) {
      return std::isnan(score[n]) ? -std::numeric_limits<float>::infinity() : score[n];
    };
    std::partial_sort(order_.begin(), order_.begin() + take, order_.end(), [&](index_t x, index_t y) {
      const float sx = key(x), sy = key(y);
      return sx != sy ? sx > sy : x < y;
    });
    order_.resize(std::size_t(take));
    std::sort(order_.begin(), order_.end());
    for (index_t x = 0; x < take; ++x) out[x] = static_cast<std::int32_t>(order_[std::size_t(x)]);
    out[take] = static_cast<std::int32_t>(local);
  }

  packed_centers<Arch> queries_;
  aligned_buffer<float> s_;
  std::vector<const float*> rows_;
  std::vector<float> scores_;
  std::vector<index_t> order_;
};

/// opt.summaries, or the block means computed into `storage`.
inline tensor_view<const float, 4> landmark_summary_view(const tensor_view<const float, 4>& k,
                                                         const landmark_options& opt,
                                                         std::vector<float>& storage) {
  if (is_given(opt.summaries)) return opt.summaries;
  const index_t B = k.extent(0), Hkv = k.extent(2), D = k.extent(3);
  const index_t nb = landmark_block_count(k.extent(1), opt.block_size);
  storage.resize(std::size_t(B * nb * Hkv * D));
  const tensor_view<float, 4> view(storage.data(), {B, nb, Hkv, D});
  landmark_summaries_unchecked(k, view, opt.block_size);
  return view;
}

}  // namespace detail

/// The blocks landmark_attention<Arch> retrieves: picks(b, h, i, :) holds, in ascending order,
/// the opt.blocks best-scoring blocks before query i's local block (the block of its last
/// visible key: the last block, or with opt.causal the block of key i + Sk - Sq) and the local
/// block itself, then -1 in the unused entries (fewer candidates than opt.blocks, or no visible
/// key). Block n holds keys [n block_size, (n + 1) block_size); its score is
/// <q_i, summary_n> with the summaries of opt.summaries or of landmark_summaries; ties go to the
/// lower block, NaN scores rank as -inf. Deterministic per Arch whatever the thread count.
/// @pre q [B, Sq, Hq, D], k [B, Sk, Hkv, D], Hq a multiple of Hkv, unit innermost strides;
///      picks [B, Hq, Sq, opt.blocks + 1]; checked, throwing attnkit::error before anything is
///      written.
/// Time O(B Hq Sq (Sk / block_size) D) plus O(B Sk Hkv D) for summaries not given.
template <class Arch = default_arch>
void landmark_blocks(tensor_view<const float, 4> q, tensor_view<const float, 4> k,
                     tensor_view<std::int32_t, 4> picks, const landmark_options& opt = {}) {
  constexpr auto where = "landmark_blocks";
  const auto p = detail::check_query_keys(where, q, k, opt.scale);
  detail::check_landmark_options(where, opt, p);
  detail::require(opt.blocks < std::numeric_limits<index_t>::max(), where, "opt.blocks",
                  "< the largest index (picks has opt.blocks + 1 entries per query)", opt.blocks);
  detail::check_output<std::int32_t, 4>(
      where, "picks", picks, {p.B, p.Hq, p.Sq, opt.blocks + 1},
      {"the batch of q", "the query heads of q", "the query length of q", "opt.blocks + 1"});
  std::vector<float> storage;
  const auto summaries = detail::landmark_summary_view(k, opt, storage);
  const index_t P = opt.blocks + 1;
  parallel_for(p.B * p.Hq, [&](index_t task, int) {
    const index_t b = task / p.Hq, h = task % p.Hq;
    detail::landmark_selector<Arch> sel(p.D);
    std::vector<std::int32_t> out(static_cast<std::size_t>(p.Sq * P));
    sel.select(q, summaries, b, h, h / (p.Hq / p.Hkv), p.Sk, opt, P, out.data());
    for (index_t i = 0; i < p.Sq; ++i)
      for (index_t x = 0; x < P; ++x) picks(b, h, i, x) = out[std::size_t(i * P + x)];
  });
}

}  // namespace attnkit
