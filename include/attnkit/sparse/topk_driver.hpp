// SPDX-License-Identifier: Apache-2.0
// detail::topk_driver: the shared loop of topk_attention and sea_attention: rank every visible
// key of a query block by a score tile, keep each row's top k, softmax exactly over those.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <utility>
#include <vector>

#include <attnkit/core/aligned_buffer.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/core/threads.hpp>
#include <attnkit/exact/arguments.hpp>
#include <attnkit/exact/options.hpp>
#include <attnkit/mask/key_range.hpp>
#include <attnkit/mask/score_mods.hpp>
#include <attnkit/sparse/key_panels.hpp>
#include <attnkit/sparse/select_top_keys.hpp>
#include <attnkit/sparse/softmax_over_keys.hpp>
#include <attnkit/tile/gemm_tile.hpp>
#include <attnkit/tile/tile_config.hpp>

namespace attnkit::detail {

/// Runs top-k attention over a checked problem. Ranking scores: with `projection` null, the
/// logits themselves (scale <q_i, k_j> through the modifiers); otherwise the estimate
/// scale <P q_i, P k_j> through the same modifiers, P = projection [rank x D] row-major, and the
/// kept keys' logits are then computed exactly. Tasks: (batch, query head, block of kBlockQ
/// queries), so results do not depend on the thread count.
template <class Arch>
class topk_driver {
 public:
  static constexpr index_t kBlockQ = 64;
  static constexpr index_t kCols = key_panels<Arch>::kCols;

  topk_driver(const attention_problem& p, const attention_options& opt, index_t top_k,
              tensor_view<const float, 4> q, tensor_view<const float, 4> k,
              tensor_view<const float, 4> v, tensor_view<float, 4> out, tensor_view<float, 3> lse,
              const float* projection = nullptr, index_t rank = 0)
      : p_(p), opt_(opt), top_k_(top_k), q_(q), k_(k), v_(v), out_(out), lse_(lse),
        projection_(projection), rank_(rank),
        Dk_(projection ? (rank + kCols - 1) / kCols * kCols : p.D), range_(opt, p.Sq, p.Sk) {}

  void run() {
    if (p_.B * p_.Hq * p_.Sq == 0) return;
    const index_t heads = p_.B * p_.Hkv;
    using config = tile::tile_config<Arch>;
    aligned_buffer<float> projected;  // P k for every key: [B * Hkv, Sk, Dk]
    if (projection_) {
      // Pᵀ as the B operand of the micro-kernel: [D x Dk], columns past the rank zero, so the
      // padded coordinates of P q and P k are 0 and add nothing to the estimate.
      projection_t_ = aligned_buffer<float>(static_cast<std::size_t>(p_.D * Dk_));
      for (index_t d = 0; d < p_.D; ++d)
        for (index_t c = 0; c < Dk_; ++c)
          projection_t_[static_cast<std::size_t>(d * Dk_ + c)] = c < rank_ ? projection_[c * p_.D + d] : 0.0f;
      projected = aligned_buffer<float>(static_cast<std::size_t>(heads * p_.Sk * Dk_));
      parallel_for(heads, [&](index_t x, int) {
        tile::gemm<Arch, config::kRows, config::kVecs>(
            p_.Sk, Dk_, p_.D, tile::a_operand{key(x / p_.Hkv, 0, x % p_.Hkv), k_.stride(1), 1},
            projection_t_.data(), Dk_, projected.data() + x * p_.Sk * Dk_, Dk_, nullptr);
      });
    }
    const key_panels<Arch> panels(heads, p_.Sk, Dk_, [&](index_t x) {
      if (projection_) return std::pair<const float*, index_t>(projected.data() + x * p_.Sk * Dk_, Dk_);
      return std::pair<const float*, index_t>(key(x / p_.Hkv, 0, x % p_.Hkv), k_.stride(1));
    });
    std::vector<scratch> slots(static_cast<std::size_t>(get_num_threads()));
    const index_t blocks = (p_.Sq + kBlockQ - 1) / kBlockQ;
    parallel_for(p_.B * p_.Hq * blocks, [&](index_t task, int slot) {
      const index_t blk = task % blocks, bh = task / blocks;
      block(panels, slots[static_cast<std::size_t>(slot)], bh / p_.Hq, bh % p_.Hq, blk * kBlockQ);
    });
  }

 private:
  struct scratch {
    aligned_buffer<float> qs, s, work, value, z, p;
    aligned_buffer<index_t> picked, ties, keys;
  };

  const float* key(index_t b, index_t j, index_t hk) const noexcept {
    return k_.data() + b * k_.stride(0) + j * k_.stride(1) + hk * k_.stride(2);
  }

  void ensure(scratch& w) const {
    if (w.qs.size() != 0) return;
    const index_t n = std::max<index_t>(p_.Sk, 1);
    const index_t lds = (p_.Sk + kCols - 1) / kCols * kCols + kCols;
    w.qs = aligned_buffer<float>(static_cast<std::size_t>(kBlockQ * Dk_));
    w.s = aligned_buffer<float>(static_cast<std::size_t>(kBlockQ * lds));
    w.work = aligned_buffer<float>(static_cast<std::size_t>(n));
    w.value = aligned_buffer<float>(static_cast<std::size_t>(n));
    w.z = aligned_buffer<float>(static_cast<std::size_t>(n));
    w.p = aligned_buffer<float>(static_cast<std::size_t>(n));
    w.picked = aligned_buffer<index_t>(static_cast<std::size_t>(n));
    w.ties = aligned_buffer<index_t>(static_cast<std::size_t>(n));
    w.keys = aligned_buffer<index_t>(static_cast<std::size_t>(n));
  }

  /// Queries [i0, min(i0 + kBlockQ, Sq)) of (b, h).
  void block(const key_panels<Arch>& panels, scratch& w, index_t b, index_t h, index_t i0) const {
    ensure(w);
    const index_t i1 = std::min(p_.Sq, i0 + kBlockQ), rows = i1 - i0;
    const index_t hk = h / (p_.Hq / p_.Hkv);
    const index_t kb = range_.block_begin(i0), ke = range_.block_end(i1);
    const index_t p0 = kb / kCols, p1 = kb < ke ? (ke + kCols - 1) / kCols : p0;
    const index_t lds = (p1 - p0) * kCols;
    if (p1 > p0) {
      // qs: [rows x Dk], scale q (or scale P q) per query row.
      if (projection_) {
        using config = tile::tile_config<Arch>;
        tile::gemm<Arch, config::kRows, config::kVecs>(rows, Dk_, p_.D,
                                                      tile::a_operand{query(b, i0, h), q_.stride(1), 1},
                                                      projection_t_.data(), Dk_, w.qs.data(), Dk_, nullptr);
        for (index_t x = 0; x < rows * Dk_; ++x) w.qs[static_cast<std::size_t>(x)] *= p_.scale;
      } else {
        for (index_t r = 0; r < rows; ++r) {
          const float* qi = query(b, i0 + r, h);
          float* dst = w.qs.data() + r * Dk_;
          for (index_t d = 0; d < p_.D; ++d) dst[d] = p_.scale * qi[d];
        }
      }
      panels.scores(b * p_.Hkv + hk, p0, p1, rows, w.qs.data(), Dk_, w.s.data(), lds);
    }
    const mask::score_mods mods(opt_, p_.bias, b, h, p_.Sq, p_.Sk);
    const float sink = opt_.sinks.empty() ? -std::numeric_limits<float>::infinity()
                                          : opt_.sinks[static_cast<std::size_t>(h)];
    const float* v0 = v_.data() + b * v_.stride(0) + hk * v_.stride(2);
    for (index_t i = i0; i < i1; ++i) {
      const index_t jb = range_.begin(i), n = std::max<index_t>(range_.end(i) - jb, 0);
      float* rank = w.s.data() + (i - i0) * lds + (jb - p0 * kCols);  // key jb + t at rank[t]
      if (mods.any())
        for (index_t t = 0; t < n; ++t) rank[t] = modify_score(mods, rank[t], i, jb + t);
      index_t kept = 0;
      const bool nan = any_nan<Arch>(rank, n);
      if (!nan) kept = select_top_keys<Arch>(rank, n, top_k_, w.picked.data(), w.ties.data(), w.value.data(), w.work.data());
      for (index_t t = 0; t < kept; ++t) w.keys[static_cast<std::size_t>(t)] = jb + w.picked[static_cast<std::size_t>(t)];
      if (projection_) {  // the kept keys' logits, exactly
        dot_keys<Arch>(query(b, i, h), key(b, 0, hk), k_.stride(1), w.keys.data(), kept, p_.D, p_.scale, w.z.data());
        if (mods.any())
          for (index_t t = 0; t < kept; ++t)
            w.z[static_cast<std::size_t>(t)] = modify_score(mods, w.z[static_cast<std::size_t>(t)], i, w.keys[static_cast<std::size_t>(t)]);
      } else {
        for (index_t t = 0; t < kept; ++t) w.z[static_cast<std::size_t>(t)] = rank[w.picked[static_cast<std::size_t>(t)]];
      }
      if (nan) {  // a NaN ranks first: it is always kept, and it makes the row NaN
        w.z[0] = std::numeric_limits<float>::quiet_NaN();
        kept = 1;
        w.keys[0] = jb;
      }
      float* o = out_.data() + b * out_.stride(0) + i * out_.stride(1) + h * out_.stride(2);
      const float l = softmax_over_keys<Arch>(kept, w.z.data(), w.keys.data(), sink, v0, v_.stride(1),
                                              p_.Dv, w.p.data(), o);
      if (!lse_.empty()) lse_(b, h, i) = l;
    }
  }

  const float* query(index_t b, index_t i, index_t h) const noexcept {
    return q_.data() + b * q_.stride(0) + i * q_.stride(1) + h * q_.stride(2);
  }

  attention_problem p_;
  const attention_options& opt_;
  index_t top_k_;
  tensor_view<const float, 4> q_, k_, v_;
  tensor_view<float, 4> out_;
  tensor_view<float, 3> lse_;
  const float* projection_;
  index_t rank_;
  index_t Dk_;  ///< columns of the score operands: D, or the rank rounded up to kCols
  aligned_buffer<float> projection_t_;
  mask::key_range range_;
};

}  // namespace attnkit::detail
