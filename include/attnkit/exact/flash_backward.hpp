// SPDX-License-Identifier: Apache-2.0
// detail::flash_backward: the tiled exact-attention backward (FlashAttention-2, arXiv 2307.08691,
// algorithm 2), deterministic and independent of the thread count, without float atomics.
#pragma once

#include <algorithm>
#include <cmath>
#include <memory>
#include <span>
#include <vector>

#include <attnkit/core/aligned_buffer.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/core/threads.hpp>
#include <attnkit/exact/arguments.hpp>
#include <attnkit/exact/backward_keys.hpp>
#include <attnkit/exact/backward_queries.hpp>
#include <attnkit/exact/backward_sequences.hpp>
#include <attnkit/mask/key_range.hpp>
#include <attnkit/mask/score_mods.hpp>
#include <attnkit/simd/exp.hpp>
#include <attnkit/tile/gemm_tile.hpp>
#include <attnkit/tile/tile_config.hpp>

namespace attnkit::detail {

/// The backward kernel. For a key block and a query block, transposed as in flash_forward
/// (keys are the rows of every score tile, queries the columns):
///   Sᵀ = K Qsᵀ, Pᵀ = exp(Sᵀ - lse)            (P recomputed from the forward's lse)
///   dPᵀ = V dOᵀ, dSᵀ = Pᵀ ∘ (dPᵀ - D)          (D_i = <dO_i, O_i> - dlse_i, computed once)
///   dV += Pᵀ dO, dK += dSᵀ Qs, dQ += dS K       (Qs = scale * Q, so dK needs no scale)
/// Five products, all tile::gemm calls. The work runs in three passes per batch of (sequence,
/// kv head) units: the query side of every query block is packed once (backward_queries);
/// then one task per key block keeps its dK, dV sums private and visits the query blocks in
/// order; last, each dQ is scaled and stored. A key block adds to a query block's dQ only after
/// every earlier key block has (backward_queries::wait_turn), so each gradient is summed in one
/// fixed order: the result does not depend on the thread count, and no float is added
/// atomically. Tasks are handed out in key-block order, so a waiting task waits on one that
/// is already running: no deadlock, and in steady state the threads form a pipeline.
template <class Arch, class T, index_t kD, class Config = tile::tile_config<Arch>>
class flash_backward {
  using config = Config;
  static constexpr index_t kBlockQ = config::kBlockQ;
  static constexpr index_t kBlockK = config::kBlockK;
  static constexpr index_t kCols = config::kCols;
  static constexpr index_t kWidth = config::kWidth;
  using queries = backward_queries<Arch, Config>;
  using keys = backward_keys<Arch, kBlockK, kCols>;
  using batch = xsimd::batch<float, Arch>;
  /// The packed query side of one batch of units stays below this many floats (256 MiB), or
  /// holds one unit when a single unit needs more.
  static constexpr index_t kWorkspaceFloats = index_t{1} << 26;

 public:
  flash_backward(const attention_problem& p, const attention_options& opt)
      : p_(p), opt_(opt), D_(kD > 0 ? kD : p.D) {}

  void run(std::span<const backward_sequence<T>> seqs) {
    const index_t group = p_.Hq / p_.Hkv;
    std::vector<unit> units;
    for (index_t s = 0; s < index_t(seqs.size()); ++s)
      for (index_t hk = 0; hk < p_.Hkv; ++hk) units.push_back({&seqs[std::size_t(s)], hk, 0});
    // Heaviest units first, so that a long sequence does not start last.
    std::stable_sort(units.begin(), units.end(), [](const unit& a, const unit& b) {
      return a.s->q.extent(1) * a.s->k.extent(1) > b.s->q.extent(1) * b.s->k.extent(1);
    });
    std::vector<std::unique_ptr<scratch>> scratches;
    for (int t = 0; t < get_num_threads(); ++t)
      scratches.push_back(std::make_unique<scratch>(D_, p_.Dv, opt_.softcap > 0.0f));
    const index_t budget =
        std::max<index_t>(kWorkspaceFloats / queries::floats_per_block(D_, p_.Dv), 1);
    for (std::size_t first = 0; first < units.size();) {
      std::size_t last = first;
      index_t blocks = 0;
      for (; last < units.size(); ++last) {
        const index_t n = group * blocks_of(units[last].s->q.extent(1), kBlockQ);
        if (last > first && blocks + n > budget) break;
        units[last].first_block = blocks;
        blocks += n;
      }
      run_units(std::span<const unit>(units.data() + first, last - first), blocks, scratches);
      first = last;
    }
  }

 private:
  struct unit {
    const backward_sequence<T>* s;
    index_t hk, first_block;  ///< kv head; its first block in the batch's backward_queries
  };

  struct scratch {
    keys kv;
    aligned_buffer<float> st, dpt, slope, col_max, ones;  // Pᵀ, dPᵀ then dSᵀ, softcap slope
    scratch(index_t D, index_t Dv, bool softcap)
        : kv(D, Dv), st(kBlockK * kBlockQ), dpt(kBlockK * kBlockQ),
          slope(softcap ? kBlockK * kBlockQ : 0), col_max(kBlockQ),
          ones(std::size_t(std::max({panel_ld<kCols>(D), panel_ld<kCols>(Dv), kBlockQ}))) {
      std::fill(ones.data(), ones.data() + ones.size(), 1.0f);
    }
  };

  static index_t blocks_of(index_t n, index_t block) { return (n + block - 1) / block; }

  /// The three passes over one batch of units whose query side takes `blocks` blocks.
  void run_units(std::span<const unit> units, index_t blocks,
                 std::vector<std::unique_ptr<scratch>>& scratches) const {
    const index_t group = p_.Hq / p_.Hkv;
    queries qside(blocks, D_, p_.Dv);
    struct block_ref {
      const unit* u;
      index_t h, qb;
    };
    struct key_task {
      const unit* u;
      index_t kb;
    };
    std::vector<block_ref> refs;
    std::vector<key_task> tasks;
    for (const unit& u : units) {
      const index_t nq = blocks_of(u.s->q.extent(1), kBlockQ);
      for (index_t h = u.hk * group; h < (u.hk + 1) * group; ++h)
        for (index_t qb = 0; qb < nq; ++qb) refs.push_back({&u, h, qb});
      for (index_t kb = 0; kb < blocks_of(u.s->k.extent(1), kBlockK); ++kb)
        tasks.push_back({&u, kb});
    }
    parallel_for(index_t(refs.size()), [&](index_t b, int) {
      const auto& [u, h, qb] = refs[std::size_t(b)];
      const backward_sequence<T>& s = *u->s;
      const index_t q0 = qb * kBlockQ, nq = std::min(kBlockQ, s.q.extent(1) - q0);
      qside.pack(b, nq, &s.q(0, q0, h, 0), s.q.stride(1), &s.out(0, q0, h, 0), s.out.stride(1),
                 &s.dout(0, q0, h, 0), s.dout.stride(1), &s.lse(0, h, q0),
                 is_given(s.dlse) ? &s.dlse(0, h, q0) : nullptr, s.lse.stride(2), p_.scale);
    });
    parallel_for(index_t(tasks.size()), [&](index_t t, int slot) {
      key_block(*tasks[std::size_t(t)].u, tasks[std::size_t(t)].kb, qside,
                *scratches[std::size_t(slot)]);
    });
    parallel_for(index_t(refs.size()), [&](index_t b, int) {
      const auto& [u, h, qb] = refs[std::size_t(b)];
      const backward_sequence<T>& s = *u->s;
      const index_t q0 = qb * kBlockQ, q1 = std::min(q0 + kBlockQ, s.q.extent(1));
      const float* acc = qside.dq(b);
      for (index_t i = q0; i < q1; ++i, acc += qside.ldq()) {
        T* row = &s.dq(0, i, h, 0);
        for (index_t d = 0; d < D_; ++d) row[d] = T(p_.scale * acc[d] + 0.0f);  // -0 to +0
      }
    });
  }

  /// Key block kb of unit u: every query block of every query head of the group, in order.
  void key_block(const unit& u, index_t kb, queries& qside, scratch& w) const {
    const backward_sequence<T>& s = *u.s;
    const index_t Sq = s.q.extent(1), Sk = s.k.extent(1), group = p_.Hq / p_.Hkv;
    const index_t j0 = kb * kBlockK, j1 = std::min(j0 + kBlockK, Sk), nq = blocks_of(Sq, kBlockQ);
    const mask::key_range range(opt_, Sq, Sk);
    w.kv.load(s.k, s.v, u.hk, j0, j1);
    for (index_t h = u.hk * group; h < (u.hk + 1) * group; ++h) {
      const mask::score_mods mods(opt_, p_.bias, s.bias_batch, h, Sq, Sk);
      for (index_t qb = 0; qb < nq; ++qb) {
        const index_t q0 = qb * kBlockQ, q1 = std::min(q0 + kBlockQ, Sq);
        if (range.classify(q0, q1, j0, j1) == mask::block_kind::empty) continue;
        const index_t b = u.first_block + (h - u.hk * group) * nq + qb;
        // The key blocks that visit this query block are consecutive, from the one holding
        // its first visible key: this many of them come before kb.
        const int before = int(kb - range.block_begin(q0) / kBlockK);
        visit(w, qside, b, before, q0, q1, j0, j1, range, mods);
      }
    }
    w.kv.store(s.dk, s.dv, u.hk, j0, j1);
  }

  /// Keys [j0, j1) (the loaded block) against queries [q0, q1) (query block b), the dQ update
  /// coming after `before` other key blocks.
  void visit(scratch& w, queries& qside, index_t b, int before, index_t q0, index_t q1, index_t j0,
             index_t j1, const mask::key_range& range, const mask::score_mods& mods) const {
    // Narrow to the keys some query sees and to the column panels of the queries that see them.
    const index_t jb = std::max(j0, range.block_begin(q0)), je = std::min(j1, range.block_end(q1));
    const index_t qa = std::max(q0, range.first_query(jb)), qz = std::min(q1, range.end_query(je - 1));
    if (jb >= je || qa >= qz) {
      qside.wait_turn(b, before);
      qside.pass_turn(b);
      return;
    }
    const index_t cb = (qa - q0) / kCols * kCols;
    const index_t ce = std::min(blocks_of(qz - q0, kCols) * kCols, kBlockQ), nc = ce - cb;
    const index_t row = jb - j0, nk = je - jb, Sq = range.Sq();
    const bool partial =
        range.classify(q0 + cb, std::min(q0 + ce, q1), jb, je) == mask::block_kind::partial;
    if (partial && !(qside.finite(b) && w.kv.finite())) {
      qside.wait_turn(b, before);
      visit_pairs(w, qside, b, q0, q1, jb, je, j0, range, mods);
      qside.pass_turn(b);
      return;
    }
    float* st = w.st.data();
    float* dpt = w.dpt.data();
    float* slope = mods.softcap > 0.0f ? w.slope.data() : nullptr;
    const index_t ldk = w.kv.ldk(), ldv = w.kv.ldv(), ldq = qside.ldq(), ldo = qside.ldo();
    constexpr int kRows = config::kRows, kVecs = config::kVecs;
    for (index_t c = cb; c < ce; c += kCols)  // Sᵀ = K Qsᵀ
      tile::gemm<Arch, kRows, kVecs>(nk, kCols, D_, {w.kv.k(row), ldk, 1}, qside.q_panel(b, c),
                                     kCols, st + c, kBlockQ, nullptr);
    if (partial || mods.any())
      mask::apply_mask_and_mods<Arch>(st + cb, kBlockQ, nk, nc, jb, q0 + cb, Sq, range, partial,
                                      mods, w.col_max.data(), slope ? slope + cb : nullptr);
    for (index_t c = cb; c < ce; c += kCols)  // dPᵀ = V dOᵀ
      tile::gemm<Arch, kRows, kVecs>(nk, kCols, p_.Dv, {w.kv.v(row), p_.Dv, 1},
                                     qside.dot_panel(b, c), kCols, dpt + c, kBlockQ, nullptr);
    probabilities(st, dpt, slope, nk, cb, ce, qside.lse(b), qside.row_term(b));
    const index_t Dp = blocks_of(D_, kCols) * kCols, Dvp = blocks_of(p_.Dv, kCols) * kCols;
    const float* ones = w.ones.data();
    // dV += Pᵀ dO and dK += dSᵀ Qs, summed over the queries of the panels [cb, ce).
    tile::gemm<Arch, kRows, kVecs>(nk, Dvp, nc, {st + cb, kBlockQ, 1}, qside.dout(b) + cb * ldo,
                                   ldo, w.kv.dv(row), ldv, ones);
    tile::gemm<Arch, kRows, kVecs>(nk, Dp, nc, {dpt + cb, kBlockQ, 1}, qside.qs(b) + cb * ldq, ldq,
                                   w.kv.dk(row), ldk, ones);
    // dQ += dS K, after the key blocks before this one.
    qside.wait_turn(b, before);
    tile::gemm<Arch, kRows, kVecs>(nc, Dp, nk, {dpt + cb, 1, kBlockQ}, w.kv.k(row), ldk,
                                   qside.dq(b) + cb * ldq, ldq, ones);
    qside.pass_turn(b);
  }

  /// Pᵀ = exp(Sᵀ - lse) in st and dSᵀ = Pᵀ ∘ (dPᵀ - D) (∘ the softcap's slope) in dpt, over rows
  /// [0, nk) and columns [cb, ce). A masked entry has P = 0 and gets dS = 0 exactly, whatever
  /// dP holds.
  static void probabilities(float* st, float* dpt, const float* slope, index_t nk, index_t cb,
                            index_t ce, const float* lse, const float* row_term) noexcept {
    for (index_t r = 0; r < nk; ++r) {
      float* s = st + r * kBlockQ;
      float* dp = dpt + r * kBlockQ;
      for (index_t c = cb; c < ce; c += kWidth) {
        const batch p = simd::exp<Arch>(batch::load_aligned(s + c) - batch::load_aligned(lse + c));
        batch ds = p * (batch::load_aligned(dp + c) - batch::load_aligned(row_term + c));
        if (slope) ds *= batch::load_aligned(slope + r * kBlockQ + c);
        p.store_aligned(s + c);
        xsimd::select(p == batch(0.0f), batch(0.0f), ds).store_aligned(dp + c);
      }
    }
  }

  /// The same updates pair by pair over the visible pairs only, for a partially masked tile
  /// with a non-finite input: a NaN or infinity must not reach, through a zero weight, the
  /// gradients of keys or queries that do not see it. Scalar; called with the dQ turn held.
  void visit_pairs(scratch& w, queries& qside, index_t b, index_t q0, index_t q1, index_t jb,
                   index_t je, index_t j0, const mask::key_range& range,
                   const mask::score_mods& mods) const {
    const index_t ldq = qside.ldq(), ldo = qside.ldo(), Dv = p_.Dv;
    for (index_t i = q0; i < q1; ++i) {
      const index_t c = i - q0;
      const float* qs = qside.qs(b) + c * ldq;
      const float* go = qside.dout(b) + c * ldo;
      float* dq = qside.dq(b) + c * ldq;
      const float lse = qside.lse(b)[c], term = qside.row_term(b)[c];
      for (index_t j = std::max(jb, range.begin(i)); j < std::min(je, range.end(i)); ++j) {
        const index_t r = j - j0;
        const float* k = w.kv.k(r);
        const float* v = w.kv.v(r);
        float z = 0.0f, dp = 0.0f, slope = 1.0f;
        for (index_t d = 0; d < D_; ++d) z += qs[d] * k[d];
        for (index_t d = 0; d < Dv; ++d) dp += go[d] * v[d];
        if (mods.softcap > 0.0f) {
          const float t = std::tanh(z / mods.softcap);
          z = mods.softcap * t;
          slope = 1.0f - t * t;
        }
        if (mods.bias) z += mods.bias[i * mods.bias_stride_i + j * mods.bias_stride_j];
        if (mods.slope != 0.0f) z -= mods.slope * float(std::abs(i + mods.offset - j));
        const float p = std::exp(z - lse), ds = p * (dp - term) * slope;
        float* gk = w.kv.dk(r);
        float* gv = w.kv.dv(r);
        for (index_t d = 0; d < Dv; ++d) gv[d] += p * go[d];
        for (index_t d = 0; d < D_; ++d) {
          gk[d] += ds * qs[d];
          dq[d] += ds * k[d];
        }
      }
    }
  }

  attention_problem p_;
  const attention_options& opt_;
  index_t D_;
};

}  // namespace attnkit::detail
