// SPDX-License-Identifier: Apache-2.0
// detail::flash_forward: the tiled exact-attention forward (FlashAttention-2, arXiv 2307.08691),
// assembled from the tile, mask and softmax parts in the transposed formulation.
#pragma once

#include <algorithm>
#include <cstring>
#include <limits>
#include <span>
#include <utility>
#include <vector>

#include <attnkit/core/aligned_buffer.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/core/threads.hpp>
#include <attnkit/exact/arguments.hpp>
#include <attnkit/exact/schedule.hpp>
#include <attnkit/exact/sequences.hpp>
#include <attnkit/mask/key_range.hpp>
#include <attnkit/mask/score_mods.hpp>
#include <attnkit/softmax/online_softmax.hpp>
#include <attnkit/tile/gemm_tile.hpp>
#include <attnkit/tile/pack.hpp>
#include <attnkit/tile/prefetch.hpp>
#include <attnkit/tile/tile_config.hpp>

namespace attnkit::detail {

/// The forward kernel. Everything is computed transposed: for a block of queries (the columns)
///   Sᵀ = K Qᵀ         (keys x queries: K rows copied, Qᵀ packed once per query block)
///   Pᵀ = online softmax of Sᵀ down the columns (vertical max and sum, no horizontal reductions)
///   Oᵀ = Oᵀ diag(alpha) + Vᵀ Pᵀ   (head dims x queries)
/// so both products are gemm_tile calls whose B panel (Qᵀ, then Pᵀ) stays in L1 while K and V
/// rows stream past it, and no tile is ever transposed inside the key loop.
/// kD > 0 fixes the head dim at compile time; Config sets the tile and block sizes.
template <class Arch, class T, index_t kD, class Config = tile::tile_config<Arch>>
class flash_forward {
  using config = Config;
  static constexpr index_t kBlockQ = config::kBlockQ;
  static constexpr index_t kBlockK = config::kBlockK;
  static constexpr index_t kWidth = config::kWidth;

 public:
  flash_forward(const attention_problem& p, const attention_options& opt)
      : p_(p), opt_(opt), D_(kD > 0 ? kD : p.D),
        // V rows padded to an odd number of cache lines when the width is a multiple of 128
        // floats: the Oᵀ tile walks 6 floats down every V row, and 512-byte rows would map the
        // whole block onto 8 of the 64 L1 sets.
        ldv_((p.Dv + kWidth - 1) / kWidth * kWidth + (p.Dv % 128 == 0 ? 16 : 0)) {}

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
    std::vector<scratch> scratches(static_cast<std::size_t>(get_num_threads()));
    parallel_for(static_cast<index_t>(tasks.size()), [&](index_t task, int slot) {
      const attention_task& t = tasks[static_cast<std::size_t>(task)];
      scratch& w = scratches[static_cast<std::size_t>(slot)];
      if (w.kb.size() == 0) w = scratch(D_, p_.Dv, ldv_, per_chunk);
      run_chunk(seqs[static_cast<std::size_t>(t.seq)], t.h, t.i0, t.i1, w);
    });
  }

 private:
  /// The running state of one query block: Qᵀ, the output accumulators Oᵀ, the softmax state.
  struct block_state {
    aligned_buffer<float> qt, ot, m, l, alpha;
    block_state(index_t D, index_t Dv)
        : qt(D * kBlockQ), ot(Dv * kBlockQ), m(kBlockQ), l(kBlockQ), alpha(kBlockQ) {}
  };
  struct scratch {
    aligned_buffer<float> kb, vb, st, block_max, o_scale;
    std::vector<block_state> blocks;
    scratch() = default;
    scratch(index_t D, index_t Dv, index_t ldv, index_t n_blocks)
        : kb(kBlockK * D), vb(kBlockK * ldv), st(kBlockK * config::kCols), block_max(config::kCols),
          o_scale(kBlockQ) {
      for (index_t b = 0; b < n_blocks; ++b) blocks.emplace_back(D, Dv);
    }
  };

  /// Queries [i0, i1) of head h: the key loop is outermost, so each K, V block is copied once
  /// for all the query blocks of the chunk.
  void run_chunk(const sequence<T>& s, index_t h, index_t i0, index_t i1, scratch& w) const {
    const index_t Sq = s.q.extent(1), Sk = s.k.extent(1), D = D_, Dv = p_.Dv;
    const index_t hk = h / (p_.Hq / p_.Hkv);
    const index_t n_blocks = (i1 - i0 + kBlockQ - 1) / kBlockQ;
    const mask::key_range range(opt_, Sq, Sk);
    const mask::score_mods mods(opt_, p_.bias, s.bias_batch, h, Sq, Sk);
    for (index_t b = 0; b < n_blocks; ++b) {
      block_state& st = w.blocks[static_cast<std::size_t>(b)];
      const index_t q0 = i0 + b * kBlockQ, nq = std::min(kBlockQ, i1 - q0);
      softmax(st).reset();
      tile::pack_transposed_panels<config::kCols>(&s.q(0, q0, h, 0), s.q.stride(1), nq, D,
                                                  p_.scale, st.qt.data(), kBlockQ);
      std::memset(static_cast<void*>(st.ot.data()), 0, st.ot.size() * sizeof(float));
    }
    // Key blocks sit on a fixed grid of kBlockK: a query block then meets the same block
    // boundaries (and so the same rounding) whatever chunk it lands in, and the chunking depends
    // on the thread count.
    const index_t j_first = range.block_begin(i0), j_end = range.block_end(i1);
    for (index_t g0 = j_first / kBlockK * kBlockK; g0 < j_end; g0 += kBlockK) {
      const index_t j0 = std::max(g0, j_first);  // the first key copied
      const index_t j1 = std::min(g0 + kBlockK, j_end), nk = j1 - j0;
      if (range.classify(i0, i1, j0, j1) == mask::block_kind::empty) continue;
      tile::copy_rows<Arch>(&s.k(0, j0, hk, 0), s.k.stride(1), nk, D, w.kb.data(), D, nk);
      tile::copy_rows<Arch>(&s.v(0, j0, hk, 0), s.v.stride(1), nk, Dv, w.vb.data(), ldv_, nk);
      // The next block's rows, a slice per visited panel (kPanels per query block).
      const index_t next_rows = std::min(j1 + kBlockK, j_end) - j1;
      constexpr index_t kPanels = kBlockQ / config::kCols;
      const index_t slice = (next_rows + n_blocks * kPanels - 1) / (n_blocks * kPanels);
      tile::row_prefetcher next_k, next_v;
      if (next_rows > 0) {
        next_k = {&s.k(0, j1, hk, 0), s.k.stride(1) * index_t(sizeof(T)), next_rows, D * index_t(sizeof(T))};
        next_v = {&s.v(0, j1, hk, 0), s.v.stride(1) * index_t(sizeof(T)), next_rows, Dv * index_t(sizeof(T))};
      }
      for (index_t b = 0; b < n_blocks; ++b) {
        const index_t q0 = i0 + b * kBlockQ, q1 = std::min(q0 + kBlockQ, i1);
        // Only the keys this query block sees: under a causal mask the diagonal block of the
        // chunk shrinks to the block's own triangle.
        const index_t jb = std::max(j0, range.block_begin(q0));
        const index_t je = std::min(j1, range.block_end(q1));
        const auto kind = range.classify(q0, q1, jb, je);
        if (kind == mask::block_kind::empty) continue;
        visit(w, w.blocks[static_cast<std::size_t>(b)], jb - j0, je - jb, jb, q0, Sq, range,
              kind == mask::block_kind::partial, mods, [&] {
                next_k.step(slice);
                next_v.step(slice);
              });
      }
      next_k.finish();
      next_v.finish();
    }
    const float sink = opt_.sinks.empty() ? -std::numeric_limits<float>::infinity()
                                          : opt_.sinks[static_cast<std::size_t>(h)];
    for (index_t b = 0; b < n_blocks; ++b) {
      block_state& st = w.blocks[static_cast<std::size_t>(b)];
      const index_t q0 = i0 + b * kBlockQ, nq = std::min(kBlockQ, i1 - q0);
      const auto sm = softmax(st);
      for (index_t c = 0; c < nq; ++c) {
        float lse;
        w.o_scale[static_cast<std::size_t>(c)] = sm.finish(c, &lse, sink);
        if (!s.lse.empty()) s.lse(0, h, q0 + c) = lse;
      }
      tile::unpack_transposed_panels<config::kCols>(st.ot.data(), w.o_scale.data(), nq, Dv,
                                                    &s.out(0, q0, h, 0), s.out.stride(1));
    }
  }

  /// Keys [j, j + nk) (rows `row` .. of the copied K, V block) for one query block, one column
  /// panel of kCols queries at a time, so that the panel's scores go from the Sᵀ product through
  /// the mask and the softmax into the Oᵀ product while they are still in L1.
  template <class PanelHook>
  void visit(scratch& w, block_state& st, index_t row, index_t nk, index_t j, index_t q0,
             index_t Sq, const mask::key_range& range, bool partial, const mask::score_mods& mods,
             PanelHook&& on_panel) const {
    constexpr index_t kCols = config::kCols;
    const index_t D = D_;
    float* sp = w.st.data();  // Sᵀ, then Pᵀ, of one panel: [nk x kCols]
    float* block_max = w.block_max.data();
    const bool modified = partial || mods.any();
    for (index_t c = 0; c < kBlockQ; c += kCols) {
      on_panel();
      // Sᵀ = K Qᵀ, with the column maxima taken from the registers when nothing changes the
      // scores afterwards.
      if (!modified)
        for (index_t l = 0; l < kCols; ++l) block_max[l] = -std::numeric_limits<float>::infinity();
      tile::gemm<Arch, config::kRows, config::kVecs>(nk, kCols, D, {w.kb.data() + row * D, D, 1},
                                                     st.qt.data() + c * D, kCols, sp, kCols,
                                                     nullptr, modified ? nullptr : block_max);
      if (modified)
        mask::apply_mask_and_mods<Arch>(sp, kCols, nk, kCols, j, q0 + c, Sq, range, partial,
                                        mods, block_max);
      softmax::online_softmax<Arch>(st.m.data() + c, st.l.data() + c, st.alpha.data() + c, kCols)
          .update(sp, kCols, nk, block_max);
      // Oᵀ = Oᵀ diag(alpha) + Vᵀ Pᵀ
      tile::gemm<Arch, config::kRows, config::kVecs>(p_.Dv, kCols, nk,
                                                     {w.vb.data() + row * ldv_, 1, ldv_}, sp,
                                                     kCols, st.ot.data() + c * p_.Dv, kCols,
                                                     st.alpha.data() + c);
    }
  }

  static softmax::online_softmax<Arch> softmax(block_state& st) {
    return {st.m.data(), st.l.data(), st.alpha.data(), kBlockQ};
  }

  attention_problem p_;
  const attention_options& opt_;
  index_t D_, ldv_;
};

}  // namespace attnkit::detail
