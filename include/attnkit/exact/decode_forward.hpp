// SPDX-License-Identifier: Apache-2.0
// detail::decode_forward: attention of a few new queries over a KV cache (decoding), split over
// the keys when there are fewer (sequence, kv head) pairs than threads can share (flash-decoding),
// and merged through the lse.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include <attnkit/core/aligned_buffer.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/core/threads.hpp>
#include <attnkit/exact/arguments.hpp>
#include <attnkit/exact/cache_rows.hpp>
#include <attnkit/exact/merge_row.hpp>
#include <attnkit/mask/column_mods.hpp>
#include <attnkit/mask/key_range.hpp>
#include <attnkit/simd/exp.hpp>
#include <attnkit/softmax/online_softmax.hpp>
#include <attnkit/tile/axpy_rows.hpp>
#include <attnkit/tile/dot_rows.hpp>

namespace attnkit::detail {

/// The decode kernel. One task is a range of cached positions of one sequence, for every kv head
/// and all G x Sq queries of each head's group (the query heads at every new position), so each
/// K and V row is read from memory once per call, and in the cache's own order: a BSHD cache
/// holds the rows of all heads of a position together, and walking one head at a time would
/// stride a page per row. Per kv head the tile's columns are its queries:
///   Sᵀ = K Qᵀ (tile::dot_rows), masked and modified per column (mask::column_mods),
///   online softmax down the columns, O = diag(alpha) O + P V (tile::axpy_rows),
/// with the next key block's rows prefetched while the current one computes. Sequences too long
/// for the threads to share otherwise are split into position ranges, whose partial states
/// are merged through the lse (flash-decoding).
template <class Arch, class T, class C>
class decode_forward {
  using batch = xsimd::batch<float, Arch>;
  static constexpr index_t kWidth = static_cast<index_t>(batch::size);
  static constexpr index_t kBlockK = 64;         ///< keys per softmax update
  static constexpr index_t kPrefetchSlice = 16;  ///< next-block rows prefetched per slice
  static constexpr index_t kMinSplit = 1024;     ///< keys below which a split is not worth a merge
  static constexpr bool kInt8 = std::is_same_v<C, std::int8_t>;

 public:
  /// lens: B lengths, or B x Hkv (one per kv head).
  decode_forward(const attention_problem& p, const attention_options& opt,
                 std::span<const std::int32_t> lens, const cache_rows<C>& cache)
      : p_(p), opt_(opt), lens_(lens), cache_(cache), G_(p.Hq / p.Hkv), m_(G_ * p.Sq),
        m4_(round_up(m_, 4)), cols_(round_up(m_, kWidth)), ldq_(round_up(p.D, kWidth)),
        ldo_(round_up(p.Dv, kWidth)) {}

  /// attention_sum, when given, receives the attention statistics (see add_attention).
  void run(const tensor_view<const T, 4>& q, const tensor_view<T, 4>& out,
           const tensor_view<float, 3>& lse, const tensor_view<float, 3>& attention_sum) {
    plan();
    stats_ = !attention_sum.empty();
    if (stats_) keep_scores_of_every_sequence();
    // The splits of a split sequence write partial states (out normalised, lse) per (kv head,
    // column), merged afterwards; a sink joins the merge as one more part with out = 0.
    const index_t extra = opt_.sinks.empty() ? 0 : 1;
    std::vector<index_t> part_offset(seqs_.size(), -1);
    index_t total_parts = 0;
    for (std::size_t b = 0; b < seqs_.size(); ++b)
      if (seqs_[b].splits > 1) {
        part_offset[b] = total_parts;
        total_parts += seqs_[b].splits + extra;
      }
    const index_t part_rows = p_.Hkv * m_;  // rows of one part: (kv head, column)
    aligned_buffer<float> partial_out(static_cast<std::size_t>(total_parts * part_rows * ldo_));
    aligned_buffer<float> partial_lse(static_cast<std::size_t>(total_parts * part_rows));

    std::vector<std::unique_ptr<scratch>> scratches(static_cast<std::size_t>(get_num_threads()));
    parallel_for(static_cast<index_t>(tasks_.size()), [&](index_t t, int slot) {
      auto& w = scratches[static_cast<std::size_t>(slot)];
      if (!w) w = std::make_unique<scratch>(*this);
      const task& tk = tasks_[static_cast<std::size_t>(t)];
      run_task(q, tk, *w);
      const index_t part = part_offset[static_cast<std::size_t>(tk.b)];
      for (index_t hk = 0; hk < p_.Hkv; ++hk) {
        head_state& st = w->heads[std::size_t(hk)];
        if (part < 0) {  // the task holds all of the sequence's keys: out and lse, with the sink
          finish(st, hk, true, [&](index_t c, const float* o, float f, float row_lse) {
            const index_t h = hk * G_ + c / p_.Sq, i = c % p_.Sq;
            if (!lse.empty()) lse(tk.b, h, i) = row_lse;
            if (stats_) column_lse_[std::size_t((tk.b * p_.Hkv + hk) * m_ + c)] = row_lse;
            T* dst = &out(tk.b, i, h, 0);
            for (index_t d = 0; d < p_.Dv; ++d) dst[d] = T(o[d] * f);
          });
        } else {  // one split: the normalised partial state, without the sink
          const index_t row = ((part + tk.split) * p_.Hkv + hk) * m_;
          finish(st, hk, false, [&](index_t c, const float* o, float f, float row_lse) {
            partial_lse[std::size_t(row + c)] = row_lse;
            float* dst = partial_out.data() + (row + c) * ldo_;
            for (index_t d = 0; d < p_.Dv; ++d) dst[d] = o[d] * f;
          });
        }
      }
    });
    if (total_parts > 0) merge(part_offset, part_rows, extra, partial_out, partial_lse, out, lse);
    if (stats_) add_attention(attention_sum);
  }

 private:
  struct seq_plan {
    index_t first, last, splits;  ///< positions some kv head reads: [first, last)
  };
  struct task {
    index_t b, split, k0, k1;
  };

  /// The keys [j, j + n) of kv head hk that one step computes.
  struct step {
    index_t hk = 0, j = 0, n = 0;
  };

  /// Merges the parts of every split sequence into out, lse and (with statistics) the columns'
  /// lse.
  void merge(const std::vector<index_t>& part_offset, index_t part_rows, index_t extra,
             aligned_buffer<float>& partial_out, aligned_buffer<float>& partial_lse,
             const tensor_view<T, 4>& out, const tensor_view<float, 3>& lse) {
    std::vector<index_t> rows;  // (sequence, kv head) pairs to merge
    for (std::size_t b = 0; b < seqs_.size(); ++b)
      if (seqs_[b].splits > 1)
        for (index_t hk = 0; hk < p_.Hkv; ++hk) rows.push_back(static_cast<index_t>(b) * p_.Hkv + hk);
    parallel_for(static_cast<index_t>(rows.size()), [&](index_t t, int) {
      const index_t b = rows[std::size_t(t)] / p_.Hkv, hk = rows[std::size_t(t)] % p_.Hkv;
      const index_t first = part_offset[std::size_t(b)], n = seqs_[std::size_t(b)].splits + extra;
      for (index_t c = 0; c < m_; ++c) {
        const index_t h = hk * G_ + c / p_.Sq, i = c % p_.Sq;
        const index_t row = (first * p_.Hkv + hk) * m_ + c;  // part 0's row
        if (extra) {  // the sink part, after the splits
          const index_t sink_row = row + (n - 1) * part_rows;
          std::fill(partial_out.data() + sink_row * ldo_, partial_out.data() + sink_row * ldo_ + p_.Dv, 0.0f);
          partial_lse[std::size_t(sink_row)] = opt_.sinks[std::size_t(h)];
        }
        float* column_lse = stats_ ? column_lse_.data() + (b * p_.Hkv + hk) * m_ + c : nullptr;
        merge_row<Arch, T>(n, partial_out.data() + row * ldo_, part_rows * ldo_,
                           partial_lse.data() + row, part_rows, p_.Dv, &out(b, i, h, 0),
                           column_lse ? column_lse : lse.empty() ? nullptr : &lse(b, h, i));
        if (column_lse && !lse.empty()) lse(b, h, i) = *column_lse;
      }
    });
  }

  /// Statistics: room for the final logits of every (sequence, kv head, column, position) a
  /// step computes, the columns' lse, and the positions each kv head's steps cover.
  void keep_scores_of_every_sequence() {
    score_offset_.assign(seqs_.size(), 0);
    index_t total = 0;
    for (std::size_t b = 0; b < seqs_.size(); ++b) {
      score_offset_[b] = total;
      total += p_.Hkv * m_ * seqs_[b].last;
    }
    scores_ = aligned_buffer<float>(static_cast<std::size_t>(total));
    column_lse_ = aligned_buffer<float>(static_cast<std::size_t>(p_.B * p_.Hkv * m_));
    covered_.resize(static_cast<std::size_t>(p_.B * p_.Hkv));
    mask::column_mods<Arch> mods(cols_);
    for (index_t b = 0; b < p_.B; ++b)
      for (index_t hk = 0; hk < p_.Hkv; ++hk) {
        mods.setup(opt_, p_.bias, b, hk * G_, G_, p_.Sq, len(b, hk));
        covered_[std::size_t(b * p_.Hkv + hk)] = {mods.first(), mods.last()};
      }
  }

  /// The final logits of column c of (sequence b, kv head hk), by position.
  float* score_row(index_t b, index_t hk, index_t c) const noexcept {
    return scores_.data() + score_offset_[std::size_t(b)] + (hk * m_ + c) * seqs_[std::size_t(b)].last;
  }

  /// Keeps the final logits of a step (s: n keys x cols_ columns) for the statistics.
  void keep_scores(index_t b, const step& stp, const float* s) const noexcept {
    for (index_t c = 0; c < m_; ++c) {
      float* dst = score_row(b, stp.hk, c) + stp.j;
      for (index_t j = 0; j < stp.n; ++j) dst[j] = s[j * cols_ + c];
    }
  }

  /// attention_sum(b, hk, s) += the probabilities of position s summed over the columns of kv
  /// head hk (its query heads at every new position): exp(logit - the column's lse, sink
  /// included), over the positions its steps covered. A column with no visible key (lse -inf)
  /// and a masked position add nothing; NaN propagates to the positions its column sees.
  void add_attention(const tensor_view<float, 3>& attention_sum) const {
    parallel_for(p_.B * p_.Hkv, [&](index_t t, int) {
      const index_t b = t / p_.Hkv, hk = t % p_.Hkv;
      const auto [first, last] = covered_[std::size_t(t)];
      float* dst = &attention_sum(b, hk, 0);
      const float* column_lse = column_lse_.data() + t * m_;
      // A masked logit (-inf) adds 0 even to a column whose lse is NaN.
      constexpr float kNegInf = -std::numeric_limits<float>::infinity();
      index_t s = first;
      for (; s + kWidth <= last; s += kWidth) {
        batch sum(0.0f);
        for (index_t c = 0; c < m_; ++c) {
          if (column_lse[c] == kNegInf) continue;
          const batch z = batch::load_unaligned(score_row(b, hk, c) + s);
          sum += xsimd::select(z == batch(kNegInf), batch(0.0f), simd::exp<Arch>(z - batch(column_lse[c])));
        }
        (batch::load_unaligned(dst + s) + sum).store_unaligned(dst + s);
      }
      for (; s < last; ++s)
        for (index_t c = 0; c < m_; ++c) {
          const float z = score_row(b, hk, c)[s];
          if (column_lse[c] != kNegInf && z != kNegInf) dst[s] += std::exp(z - column_lse[c]);
        }
    });
  }


  static index_t round_up(index_t x, index_t to) { return (x + to - 1) / to * to; }

  /// The running state of one kv head's queries.
  struct head_state {
    aligned_buffer<float> q, m, l, alpha, o;
    mask::column_mods<Arch> mods;
    index_t len = 0;
    explicit head_state(const decode_forward& f)
        : q(std::size_t(f.m4_ * f.ldq_)), m(std::size_t(f.cols_)), l(std::size_t(f.cols_)),
          alpha(std::size_t(f.cols_)), o(std::size_t(f.m4_ * f.ldo_)), mods(f.cols_) {}
    softmax::online_softmax<Arch> softmax(index_t cols) {
      return {m.data(), l.data(), alpha.data(), cols};
    }
  };

  struct scratch {
    std::vector<head_state> heads;
    aligned_buffer<float> s, ks, vs;
    std::vector<const C*> kr, vr;  // row pointers of one block: current and next
    explicit scratch(const decode_forward& f)
        : s(static_cast<std::size_t>(kBlockK * f.cols_)), ks(2 * kBlockK), vs(2 * kBlockK),
          kr(2 * kBlockK), vr(2 * kBlockK) {
      for (index_t hk = 0; hk < f.p_.Hkv; ++hk) heads.emplace_back(f);
    }
  };

  index_t len(index_t b, index_t hk) const { return cache_length(lens_, p_.B, p_.Hkv, b, hk); }

  /// Per sequence the positions some kv head reads, and tasks: one per sequence unless the keys
  /// are long and there are threads to share them, then position ranges of equal size.
  void plan() {
    index_t total = 0;
    for (index_t b = 0; b < p_.B; ++b) {
      seq_plan sp{std::numeric_limits<index_t>::max(), 0, 1};
      for (index_t hk = 0; hk < p_.Hkv; ++hk) {
        const mask::key_range range(opt_, p_.Sq, len(b, hk));
        const index_t first = range.block_begin(0), last = range.block_end(p_.Sq);
        if (first < last) sp.first = std::min(sp.first, first), sp.last = std::max(sp.last, last);
      }
      if (sp.first >= sp.last) sp.first = sp.last = 0;
      seqs_.push_back(sp);
      total += sp.last - sp.first;
    }
    // One thread: no splits. Otherwise ranges of about total / (2 threads) keys, at least
    // kMinSplit, on the kBlockK grid.
    const index_t threads = get_num_threads();
    const index_t chunk =
        round_up(std::max(kMinSplit, (total + 2 * threads - 1) / (2 * threads)), kBlockK);
    for (index_t b = 0; b < p_.B; ++b) {
      seq_plan& sp = seqs_[std::size_t(b)];
      const index_t n = sp.last - sp.first;
      sp.splits = threads == 1 ? 1 : std::max<index_t>(1, (n + chunk - 1) / chunk);
      const index_t per = std::max<index_t>(round_up((n + sp.splits - 1) / sp.splits, kBlockK), 1);
      sp.splits = std::max<index_t>(1, (n + per - 1) / per);
      for (index_t s = 0; s < sp.splits; ++s)
        tasks_.push_back({b, s, sp.first + std::min(n, s * per), sp.first + std::min(n, (s + 1) * per)});
    }
  }

  /// Qᵀ rows of kv head hk (column c = g * Sq + i is query i of head hk * G + g, scaled;
  /// padding rows zero), its mask, an empty softmax and output.
  void start_head(const tensor_view<const T, 4>& q, index_t b, index_t hk, head_state& st) const {
    std::fill(st.q.data(), st.q.data() + st.q.size(), 0.0f);
    for (index_t c = 0; c < m_; ++c) {
      const T* src = &q(b, c % p_.Sq, hk * G_ + c / p_.Sq, 0);
      for (index_t d = 0; d < p_.D; ++d) st.q[std::size_t(c * ldq_ + d)] = p_.scale * float(src[d]);
    }
    std::fill(st.o.data(), st.o.data() + st.o.size(), 0.0f);
    st.len = len(b, hk);
    st.mods.setup(opt_, p_.bias, b, hk * G_, G_, p_.Sq, st.len);
    st.softmax(cols_).reset();
  }

  /// Steps in cache order: key block by key block, every kv head within a block, so that a
  /// BSHD cache is read sequentially; each step prefetches the next step's rows.
  void run_task(const tensor_view<const T, 4>& q, const task& tk, scratch& w) const {
    for (index_t hk = 0; hk < p_.Hkv; ++hk) start_head(q, tk.b, hk, w.heads[std::size_t(hk)]);
    // The step after (j0, hk): the next head of the block with keys to read, or the next block.
    auto next_step = [&](index_t j0, index_t hk) -> step {
      for (; j0 < tk.k1; j0 += kBlockK, hk = 0)
        for (; hk < p_.Hkv; ++hk) {
          const auto& mods = w.heads[std::size_t(hk)].mods;
          const index_t a = std::max(j0, mods.first());
          const index_t e = std::min({j0 + kBlockK, tk.k1, mods.last()});
          if (a < e) return {hk, a, e - a};
        }
      return {};
    };
    step cur = next_step(tk.k0, 0);
    index_t slot = 0;
    if (cur.n > 0) rows(tk.b, cur, slot, w);
    while (cur.n > 0) {
      const index_t j0 = cur.j - (cur.j - tk.k0) % kBlockK;  // the block of the step
      const step next = next_step(cur.hk + 1 < p_.Hkv ? j0 : j0 + kBlockK,
                                  cur.hk + 1 < p_.Hkv ? cur.hk + 1 : 0);
      if (next.n > 0) rows(tk.b, next, slot ^ 1, w);
      compute(tk.b, cur, slot, next.n, w);
      cur = next;
      slot ^= 1;
    }
  }

  /// Row pointers (and int8 scales) of a step into slot 0 or 1 of the scratch.
  void rows(index_t b, const step& st, index_t slot, scratch& w) const {
    const index_t at = slot * kBlockK;
    cache_.get(b, st.hk, st.j, st.n, w.kr.data() + at, w.vr.data() + at,
               kInt8 ? w.ks.data() + at : nullptr, kInt8 ? w.vs.data() + at : nullptr);
  }

  /// One step: scores, mask, softmax, output, while the next step's next_n rows (in the other
  /// slot) are prefetched a slice at a time.
  void compute(index_t b, const step& stp, index_t slot, index_t next_n, scratch& w) const {
    head_state& st = w.heads[std::size_t(stp.hk)];
    const index_t n = stp.n, at = slot * kBlockK, other = (slot ^ 1) * kBlockK;
    const C* const* kr = w.kr.data() + at;
    const C* const* vr = w.vr.data() + at;
    const float* ks = kInt8 ? w.ks.data() + at : nullptr;
    const float* vs = kInt8 ? w.vs.data() + at : nullptr;
    const index_t slices = (n + kPrefetchSlice - 1) / kPrefetchSlice;
    const index_t per_slice = (next_n + slices - 1) / slices;
    for (index_t r = 0, t = 0; r < n; r += kPrefetchSlice) {
      tile::dot_rows<Arch>(std::min(kPrefetchSlice, n - r), m4_, p_.D, kr + r, ks ? ks + r : nullptr,
                           st.q.data(), ldq_, w.s.data() + r * cols_, cols_);
      for (const index_t end = std::min(t + per_slice, next_n); t < end; ++t) {
        prefetch(w.kr[std::size_t(other + t)], p_.D);
        prefetch(w.vr[std::size_t(other + t)], p_.Dv);
      }
    }
    const bool mask = !st.mods.all_see(stp.j, stp.j + n);
    if (mask || st.mods.modifies()) st.mods.apply(w.s.data(), cols_, n, stp.j, mask);
    if (stats_) keep_scores(b, stp, w.s.data());
    st.softmax(cols_).update(w.s.data(), cols_, n);
    if (mask && !finite_rows(vr, n))
      masked_axpy(n, stp.j, vr, vs, st, w.s.data());
    else
      tile::axpy_rows<Arch>(n, m4_, p_.Dv, vr, vs, w.s.data(), cols_, st.alpha.data(),
                            st.o.data(), ldo_);
  }

  static void prefetch(const C* row, index_t n) noexcept {
    const char* bytes = reinterpret_cast<const char*>(row);
    const index_t size = n * static_cast<index_t>(sizeof(C));
    for (index_t x = 0; x < size; x += 64) __builtin_prefetch(bytes + x, 0, 2);
  }

  /// Whether every value of the V rows is finite (int8 always is).
  bool finite_rows(const C* const* rows, index_t n) const noexcept {
    if constexpr (kInt8) return true;
    for (index_t j = 0; j < n; ++j)
      for (index_t d = 0; d < p_.Dv; ++d)
        if (!std::isfinite(float(rows[j][d]))) return false;
    return true;
  }

  /// The O update over each column's visible keys only, for a partially masked block with a
  /// non-finite V value: a full product would add 0 x NaN to the columns that do not see it
  /// (DESIGN 1.3 rule 5). Scalar: it only runs on non-finite input.
  void masked_axpy(index_t n, index_t j0, const C* const* rows, const float* row_scale,
                   head_state& st, const float* p) const noexcept {
    for (index_t c = 0; c < m_; ++c) {
      float* o = st.o.data() + c * ldo_;
      for (index_t d = 0; d < p_.Dv; ++d) o[d] *= st.alpha[std::size_t(c)];
      for (index_t j = 0; j < n; ++j) {
        if (!st.mods.sees(c, j0 + j)) continue;
        const float weight = p[j * cols_ + c] * (row_scale ? row_scale[j] : 1.0f);
        for (index_t d = 0; d < p_.Dv; ++d) o[d] += weight * float(rows[j][d]);
      }
    }
  }

  /// Ends every query of kv head hk: write(c, o, f, lse) gets column c's output accumulator,
  /// the factor that normalises it (0 for no key) and its log-sum-exp, with the sink or not.
  template <class Write>
  void finish(head_state& st, index_t hk, bool with_sink, Write&& write) const {
    const auto sm = st.softmax(cols_);
    for (index_t c = 0; c < m_; ++c) {
      const index_t h = hk * G_ + c / p_.Sq;
      const float sink = with_sink && !opt_.sinks.empty() ? opt_.sinks[std::size_t(h)]
                                                          : -std::numeric_limits<float>::infinity();
      float row_lse;
      const float f = sm.finish(c, &row_lse, sink);
      write(c, st.o.data() + c * ldo_, f, row_lse);
    }
  }

  attention_problem p_;
  const attention_options& opt_;
  std::span<const std::int32_t> lens_;
  cache_rows<C> cache_;
  index_t G_, m_, m4_, cols_, ldq_, ldo_;
  std::vector<seq_plan> seqs_;
  std::vector<task> tasks_;
  // Statistics (attention_sum given): final logits, the columns' lse, covered positions.
  bool stats_ = false;
  aligned_buffer<float> scores_, column_lse_;
  std::vector<index_t> score_offset_;
  std::vector<std::pair<index_t, index_t>> covered_;
};

}  // namespace attnkit::detail
