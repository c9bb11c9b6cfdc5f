// SPDX-License-Identifier: Apache-2.0
// detail::flash_forward: the tiled exact-attention forward (FlashAttention-2, arXiv 2307.08691),
// assembled from the tile, mask and softmax parts in the transposed formulation.
#pragma once

#include <algorithm>
#include <limits>
#include <memory>
#include <span>
#include <tuple>
#include <utility>
#include <vector>

#include <attnkit/core/aligned_buffer.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/core/threads.hpp>
#include <attnkit/exact/arguments.hpp>
#include <attnkit/exact/kv_block.hpp>
#include <attnkit/exact/query_block.hpp>
#include <attnkit/exact/schedule.hpp>
#include <attnkit/exact/sequences.hpp>
#include <attnkit/mask/key_range.hpp>
#include <attnkit/mask/score_mods.hpp>
#include <attnkit/tile/gemm_column_ranges.hpp>
#include <attnkit/tile/gemm_tile.hpp>
#include <attnkit/tile/tile_config.hpp>

namespace attnkit::detail {

/// The key visibility policy of flash_forward when only the options mask keys (flash_attention):
/// every key block the options let through is visited, and the driver compiles the layout
/// checks out. A policy with kAllVisible = false (block-sparse attention) provides, through
/// head(h), an object for query head h with
/// - classify(i0, i1, j0, j1): empty when no query of [i0, i1) sees a key of [j0, j1), full when
///   every one sees every one, else partial;
/// - apply<Arch>(s, lds, rows, cols, j0, i0, col_max): sets the transposed tile entries
///   s[r * lds + c] of the pairs (i0 + c, j0 + r) it hides to -inf and writes each column's
///   maximum to col_max (cols floats, aligned; a NaN wins);
/// - span(i0, i1, j0, j1): the smallest [first, second) within [j0, j1) holding every key some
///   query of [i0, i1) sees (first >= second: none), to which the driver narrows its tile;
/// - run_end(j): one past the last key of the run from j that every query sees or hides alike;
/// - sees(i, j): whether query i sees key j (i may be a padding column past the queries).
struct all_keys_visible {
  static constexpr bool kAllVisible = true;
  all_keys_visible head(index_t) const noexcept { return {}; }
};

/// The forward kernel. Everything is computed transposed: for a block of queries (the columns)
///   Sᵀ = K Qᵀ         (keys x queries: K rows copied, Qᵀ packed once per query block)
///   Pᵀ = online softmax of Sᵀ down the columns (vertical max and sum, no horizontal reductions)
///   Oᵀ = Oᵀ diag(alpha) + Vᵀ Pᵀ   (head dims x queries)
/// so both products are gemm_tile calls whose B panel (Qᵀ, then Pᵀ) stays in L1 while K and V
/// rows stream past it, and no tile is ever transposed inside the key loop.
/// kD > 0 fixes the head dim at compile time; Config sets the tile and block sizes; Visibility
/// hides key blocks beyond the options' masks (all_keys_visible: none), which are skipped, not
/// masked, so the time follows the visited blocks.
template <class Arch, class T, index_t kD, class Config = tile::tile_config<Arch>,
          class Visibility = all_keys_visible>
class flash_forward {
  using config = Config;
  static constexpr index_t kBlockQ = config::kBlockQ;
  static constexpr index_t kBlockK = config::kBlockK;
  static constexpr index_t kCols = config::kCols;
  static constexpr index_t kPanels = kBlockQ / kCols;
  using queries = query_block<Arch, kBlockQ, kCols>;
  using keys = kv_block<Arch, kBlockK>;
  using layout_head = decltype(std::declval<const Visibility&>().head(0));
  static constexpr bool kAllVisible = Visibility::kAllVisible;

 public:
  flash_forward(const attention_problem& p, const attention_options& opt, Visibility vis = {})
      : p_(p), opt_(opt), D_(kD > 0 ? kD : p.D), vis_(std::move(vis)) {}

  /// Runs every (sequence, head, query chunk) task on the thread pool.
  void run(std::span<const sequence<T>> seqs) {
    std::vector<std::pair<index_t, index_t>> lengths;
    for (const auto& s : seqs) lengths.emplace_back(s.q.extent(1), s.k.extent(1));
    // Chunks as large as kMaxBlocksPerChunk allows while leaving each thread four tasks.
    index_t q_blocks = 0;
    for (const auto& [Sq, Sk] : lengths) q_blocks += (Sq + kBlockQ - 1) / kBlockQ * p_.Hq;
    const index_t per_chunk = std::clamp<index_t>(q_blocks / (4 * get_num_threads()), 1,
                                                  config::kMaxBlocksPerChunk);
    const auto tasks = plan_tasks(lengths, p_.Hq, opt_, per_chunk * kBlockQ);
    std::vector<std::unique_ptr<scratch>> scratches(static_cast<std::size_t>(get_num_threads()));
    parallel_for(static_cast<index_t>(tasks.size()), [&](index_t task, int slot) {
      const attention_task& t = tasks[static_cast<std::size_t>(task)];
      auto& w = scratches[static_cast<std::size_t>(slot)];
      if (!w) w = std::make_unique<scratch>(D_, p_.Dv, per_chunk);
      run_chunk(seqs[static_cast<std::size_t>(t.seq)], t.h, t.i0, t.i1, *w);
    });
  }

 private:
  struct scratch {
    keys kv;
    aligned_buffer<float> st, block_max;  // one panel's Sᵀ (then Pᵀ) [kBlockK x kCols], maxima
    std::vector<queries> blocks;
    scratch(index_t D, index_t Dv, index_t n_blocks)
        : kv(D, Dv), st(kBlockK * kCols), block_max(kCols) {
      for (index_t b = 0; b < n_blocks; ++b) blocks.emplace_back(D, Dv);
    }
  };

  /// Queries [i0, i1) of head h: the key loop is outermost, so each K, V block is copied once
  /// for all the query blocks of the chunk.
  void run_chunk(const sequence<T>& s, index_t h, index_t i0, index_t i1, scratch& w) const {
    const index_t Sq = s.q.extent(1), hk = h / (p_.Hq / p_.Hkv);
    const index_t n_blocks = (i1 - i0 + kBlockQ - 1) / kBlockQ;
    const mask::key_range range(opt_, Sq, s.k.extent(1));
    const mask::score_mods mods(opt_, p_.bias, s.bias_batch, h, Sq, s.k.extent(1));
    [[maybe_unused]] const layout_head layout = vis_.head(h);
    for (index_t b = 0; b < n_blocks; ++b) {
      const index_t q0 = i0 + b * kBlockQ;
      w.blocks[std::size_t(b)].start(&s.q(0, q0, h, 0), s.q.stride(1), std::min(kBlockQ, i1 - q0),
                                     p_.scale);
    }
    // Key blocks sit on a fixed grid of kBlockK: a query block then meets the same block
    // boundaries (and so the same rounding) whatever chunk it lands in, and the chunking depends
    // on the thread count.
    const index_t j_first = range.block_begin(i0), j_end = range.block_end(i1);
    for (index_t g0 = j_first / kBlockK * kBlockK; g0 < j_end; g0 += kBlockK) {
      const index_t j0 = std::max(g0, j_first), j1 = std::min(g0 + kBlockK, j_end);
      if (range.classify(i0, i1, j0, j1) == mask::block_kind::empty) continue;
      if constexpr (!kAllVisible)
        if (layout.classify(i0, i1, j0, j1) == mask::block_kind::empty) continue;
      w.kv.load(s.k, s.v, hk, j0, j1, std::min(j1 + kBlockK, j_end), n_blocks * kPanels);
      for (index_t b = 0; b < n_blocks; ++b) {
        const index_t q0 = i0 + b * kBlockQ, q1 = std::min(q0 + kBlockQ, i1);
        // Only the keys this query block sees: under a causal mask the diagonal block of the
        // chunk shrinks to the block's own triangle, and a layout narrows it to its blocks.
        index_t jb = std::max(j0, range.block_begin(q0));
        index_t je = std::min(j1, range.block_end(q1));
        const layout_head* hides = nullptr;  // the layout, when it hides some pair of the tile
        if constexpr (!kAllVisible) {
          if (jb >= je) continue;
          std::tie(jb, je) = layout.span(q0, q1, jb, je);
          if (jb >= je) continue;
          if (layout.classify(q0, q1, jb, je) == mask::block_kind::partial) hides = &layout;
        }
        const auto kind = range.classify(q0, q1, jb, je);
        if (kind == mask::block_kind::empty) continue;
        visit(w, w.blocks[std::size_t(b)], jb - j0, je - jb, jb, q0, Sq, range,
              kind == mask::block_kind::partial, mods, hides);
      }
      w.kv.prefetch_rest();
    }
    const float sink = opt_.sinks.empty() ? -std::numeric_limits<float>::infinity()
                                          : opt_.sinks[std::size_t(h)];
    for (index_t b = 0; b < n_blocks; ++b) {
      const index_t q0 = i0 + b * kBlockQ;
      w.blocks[std::size_t(b)].finish(sink, &s.out(0, q0, h, 0), s.out.stride(1),
                                      s.lse.empty() ? nullptr : &s.lse(0, h, q0), s.lse.stride(2));
    }
  }

  /// Keys [j, j + nk) (rows `row` .. of the K, V block) for one query block, one column panel
  /// of kCols queries at a time, so that the panel's scores go from the Sᵀ product through the
  /// mask and the softmax into the Oᵀ product while they are still in L1. `partial`: the
  /// options hide some pair; `hides`: the layout does (null when it hides none).
  void visit(scratch& w, queries& qb, index_t row, index_t nk, index_t j, index_t q0, index_t Sq,
             const mask::key_range& range, bool partial, const mask::score_mods& mods,
             const layout_head* hides) const {
    float* sp = w.st.data();
    float* block_max = w.block_max.data();
    const bool masked = partial || mods.any();
    const bool modified = masked || (!kAllVisible && hides);
    for (index_t c = 0; c < kBlockQ; c += kCols) {
      w.kv.prefetch_step();
      // Sᵀ = K Qᵀ, with the column maxima taken from the registers when nothing changes the
      // scores afterwards.
      if (!modified) std::fill(block_max, block_max + kCols, -std::numeric_limits<float>::infinity());
      tile::gemm<Arch, config::kRows, config::kVecs>(nk, kCols, D_, {w.kv.k(row), D_, 1},
                                                     qb.q_panel(c), kCols, sp, kCols, nullptr,
                                                     modified ? nullptr : block_max);
      if (masked)
        mask::apply_mask_and_mods<Arch>(sp, kCols, nk, kCols, j, q0 + c, Sq, range, partial,
                                        mods, block_max);
      if constexpr (!kAllVisible)
        if (hides) hides->template apply<Arch>(sp, kCols, nk, kCols, j, q0 + c, block_max);
      qb.panel_softmax(c).update(sp, kCols, nk, block_max);
      // Oᵀ = Oᵀ diag(alpha) + Vᵀ Pᵀ
      const tile::a_operand vt{w.kv.v(row), 1, w.kv.ldv()};
      if ((partial || (!kAllVisible && hides)) && !w.kv.v_finite())
        masked_o_update(vt, nk, j, q0 + c, range, hides, sp, qb.o_panel(c), qb.alpha(c));
      else
        tile::gemm<Arch, config::kRows, config::kVecs>(p_.Dv, kCols, nk, vt, sp, kCols,
                                                       qb.o_panel(c), kCols, qb.alpha(c));
    }
  }

  /// The Oᵀ update of one panel (queries i0 ..) summed over each query's visible keys only,
  /// for a partially masked block with a non-finite V value: one product per run of keys that
  /// the layout shows or hides alike (the whole block without a layout), each over the
  /// options' key range of every query the run is shown to.
  void masked_o_update(tile::a_operand vt, index_t nk, index_t j, index_t i0,
                       const mask::key_range& range, const layout_head* hides, const float* pt,
                       float* ot, const float* alpha) const {
    index_t first[kCols], last[kCols];
    float ones[kCols];
    std::fill(ones, ones + kCols, 1.0f);
    for (index_t a = j, b; a < j + nk; a = b) {
      b = j + nk;
      if constexpr (!kAllVisible)
        if (hides) b = std::min(b, hides->run_end(a));
      for (index_t c = 0; c < kCols; ++c) {
        first[c] = std::clamp<index_t>(std::max(range.begin(i0 + c), a) - j, 0, nk);
        last[c] = std::clamp<index_t>(std::min(range.end(i0 + c), b) - j, 0, nk);
        if constexpr (!kAllVisible)
          if (hides && !hides->sees(i0 + c, a)) last[c] = first[c];
      }
      tile::gemm_column_ranges(p_.Dv, kCols, vt, pt, kCols, ot, kCols, a == j ? alpha : ones,
                               first, last);
    }
  }

  attention_problem p_;
  const attention_options& opt_;
  index_t D_;
  Visibility vis_;
};

}  // namespace attnkit::detail
