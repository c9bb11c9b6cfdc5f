// SPDX-License-Identifier: Apache-2.0
// The argument checks of the exact attention entry points (DESIGN 1.4): shapes, strides, options.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include <attnkit/core/error.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/exact/options.hpp>
#include <attnkit/exact/quantized_kv.hpp>

namespace attnkit::detail {

/// The sizes of a checked exact-attention call and its options in resolved form. For varlen
/// calls B is the number of sequences and Sq, Sk are the longest query and key lengths.
struct attention_problem {
  index_t B = 0, Sq = 0, Sk = 0, Hq = 0, Hkv = 0, D = 0, Dv = 0;
  float scale = 0.0f;                ///< opt.scale, or 1 / sqrt(D) when that is 0
  tensor_view<const float, 4> bias;  ///< opt.bias with extent-1 dimensions at stride 0, or empty
};

/// True when the caller passed the optional view (a default-constructed view means "absent").
template <class T, std::size_t Rank>
bool is_given(const tensor_view<T, Rank>& view) {
  return view.data() != nullptr || view.extents() != typename tensor_view<T, Rank>::extents_type{};
}

/// Non-null data when there are elements, a unit innermost stride when asked, and for outputs
/// (non-const T) no zero stride, which would make two elements share memory.
template <class T, std::size_t Rank>
void check_view(std::string_view where, std::string_view name, const tensor_view<T, Rank>& view,
                bool unit_innermost) {
  require(view.data() != nullptr || view.empty(), where, name,
          "non-null data for a non-empty view", "nullptr");
  if (unit_innermost && view.extent(Rank - 1) > 1)
    require(view.stride(Rank - 1) == 1, where, name,
            "stride(" + std::to_string(Rank - 1) + ") == 1", view.stride(Rank - 1));
  if constexpr (!std::is_const_v<T>) {
    if (view.empty()) return;  // nothing to alias; a contiguous view of size 0 has 0 strides
    for (std::size_t r = 0; r < Rank; ++r)
      if (view.extent(r) > 1)
        require(view.stride(r) != 0, where, name,
                "stride(" + std::to_string(r) + ") != 0 (an output cannot broadcast)", 0);
  }
}

/// Requires view.extent(r) == expected; `what` says where the expected value comes from.
template <class T, std::size_t Rank>
void check_extent(std::string_view where, std::string_view name, const tensor_view<T, Rank>& view,
                  std::size_t r, index_t expected, std::string_view what) {
  require(view.extent(r) == expected, where, name,
          "extent(" + std::to_string(r) + ") == " + std::to_string(expected) + " (" +
              std::string(what) + ")",
          view.extent(r));
}

/// The checks of the scalar and per-head options, shared by dense and varlen calls.
inline void check_options(std::string_view where, const attention_options& opt, index_t Hq) {
  require(std::isfinite(opt.scale), where, "opt.scale", "a finite value (0 for 1/sqrt(D))",
          opt.scale);
  require(std::isfinite(opt.softcap) && opt.softcap >= 0.0f, where, "opt.softcap",
          "a finite value >= 0 (0 for off)", opt.softcap);
  require(opt.window_left >= -1, where, "opt.window_left", ">= -1 (-1 for unbounded)",
          opt.window_left);
  require(opt.window_right >= -1, where, "opt.window_right", ">= -1 (-1 for unbounded)",
          opt.window_right);
  require(opt.alibi_slopes.empty() || static_cast<index_t>(opt.alibi_slopes.size()) == Hq, where,
          "opt.alibi_slopes", "size 0 or " + std::to_string(Hq) + " (one per query head)",
          opt.alibi_slopes.size());
  require(opt.sinks.empty() || static_cast<index_t>(opt.sinks.size()) == Hq, where, "opt.sinks",
          "size 0 or " + std::to_string(Hq) + " (one per query head)", opt.sinks.size());
  for (std::size_t h = 0; h < opt.alibi_slopes.size(); ++h)
    require(std::isfinite(opt.alibi_slopes[h]), where, "opt.alibi_slopes",
            "finite slopes; slope " + std::to_string(h) + " finite", opt.alibi_slopes[h]);
  for (std::size_t h = 0; h < opt.sinks.size(); ++h)  // -inf is a sink that is never chosen
    require(!std::isnan(opt.sinks[h]) && opt.sinks[h] != HUGE_VALF, where, "opt.sinks",
            "finite or -inf logits; sink " + std::to_string(h) + " finite or -inf", opt.sinks[h]);
}

/// opt.bias with each extent-1 dimension broadcast (stride 0); each other extent must equal
/// `extents[r]` or, where `at_least[r]`, be at least that (varlen: the longest sequence).
inline tensor_view<const float, 4> check_bias(std::string_view where,
                                              const tensor_view<const float, 4>& bias,
                                              const std::array<index_t, 4>& extents,
                                              const std::array<bool, 4>& at_least) {
  if (!is_given(bias)) return {};
  check_view(where, "opt.bias", bias, false);
  std::array<index_t, 4> strides = bias.strides();
  std::array<index_t, 4> shape = bias.extents();
  static constexpr const char* kNames[4] = {"B", "Hq", "Sq", "Sk"};
  for (std::size_t r = 0; r < 4; ++r) {
    const index_t e = bias.extent(r);
    if (e == 1 && extents[r] != 1) {
      strides[r] = 0;
      shape[r] = extents[r];
      continue;
    }
    const bool ok = at_least[r] ? e >= extents[r] : e == extents[r];
    require(ok, where, "opt.bias",
            "extent(" + std::to_string(r) + ") " + (at_least[r] ? ">= " : "== ") +
                std::to_string(extents[r]) + " (" + kNames[r] + ") or 1 (broadcast)",
            e);
  }
  return tensor_view<const float, 4>(bias.data(), shape, strides);
}

/// The checks every q, k, v, out of rank R share (heads and head dims innermost): v has the kv
/// heads of k, k the head dim of q, head dims and kv heads >= 1, Hq a multiple of Hkv, out the
/// extents of q but for v's head dim. Fills the head counts and head dims of `p`. `k_name` and
/// `v_name` are how messages name k and v.
template <std::size_t R, class TQ, class TK, class TV, class TO>
void check_heads(std::string_view where, attention_problem& p, const tensor_view<TQ, R>& q,
                 std::string_view k_name, const tensor_view<TK, R>& k, std::string_view v_name,
                 const tensor_view<TV, R>& v, const tensor_view<TO, R>& out) {
  constexpr std::size_t h = R - 2, d = R - 1;
  const std::string of_k = " of " + std::string(k_name);
  p.Hq = q.extent(h);
  p.Hkv = k.extent(h);
  p.D = q.extent(d);
  p.Dv = v.extent(d);
  check_extent(where, v_name, v, h, p.Hkv, "the kv heads" + of_k);
  check_extent(where, k_name, k, d, p.D, "the head dim of q");
  require(p.D >= 1, where, "q", "extent(" + std::to_string(d) + ") >= 1 (the head dim)", p.D);
  require(p.Dv >= 1, where, v_name, "extent(" + std::to_string(d) + ") >= 1 (the head dim)", p.Dv);
  require(p.Hkv >= 1, where, k_name, "extent(" + std::to_string(h) + ") >= 1 (the kv heads)", p.Hkv);
  require(p.Hq % p.Hkv == 0, where, "q",
          "extent(" + std::to_string(h) + ") a multiple of " + std::to_string(p.Hkv) +
              " (the kv heads" + of_k + ")",
          p.Hq);
  for (std::size_t r = 0; r + 1 < R; ++r) check_extent(where, "out", out, r, q.extent(r), "as q");
  check_extent(where, "out", out, d, p.Dv, "the head dim of " + std::string(v_name));
}

/// Checks q, k, v, out of rank R (4: [B, S, H, D]; 3: varlen [total, H, D]) against each other
/// and fills the head counts and head dims of `p`.
template <std::size_t R, class TQ, class TK, class TV, class TO>
void check_qkvo(std::string_view where, attention_problem& p, const tensor_view<TQ, R>& q,
                const tensor_view<TK, R>& k, const tensor_view<TV, R>& v,
                const tensor_view<TO, R>& out) {
  check_view(where, "q", q, true);
  check_view(where, "k", k, true);
  check_view(where, "v", v, true);
  check_view(where, "out", out, true);
  if constexpr (R == 4) {
    check_extent(where, "k", k, 0, q.extent(0), "the batch of q");
    check_extent(where, "v", v, 0, q.extent(0), "the batch of q");
  }
  check_extent(where, "v", v, R - 3, k.extent(R - 3), "the key length of k");
  check_heads(where, p, q, "k", k, "v", v, out);
}

/// Checks an optional lse [B, Hq, Sq] (any strides; none 0 where the extent exceeds 1); `of`
/// names the argument the sizes come from.
template <class L>
void check_lse(std::string_view where, const tensor_view<L, 3>& lse, index_t B, index_t Hq,
               index_t Sq, std::string_view of) {
  if (!is_given(lse)) return;
  const std::string from = " of " + std::string(of);
  check_view(where, "lse", lse, false);
  check_extent(where, "lse", lse, 0, B, "the batch" + from);
  check_extent(where, "lse", lse, 1, Hq, "the query heads" + from);
  check_extent(where, "lse", lse, 2, Sq, "the query length" + from);
}

inline float resolve_scale(const attention_options& opt, index_t D) {
  return opt.scale != 0.0f ? opt.scale : static_cast<float>(1.0 / std::sqrt(double(D)));
}

/// Checks a dense call (q [B, Sq, Hq, D], k [B, Sk, Hkv, D], v [B, Sk, Hkv, Dv],
/// out [B, Sq, Hq, Dv], lse empty or [B, Hq, Sq]) and returns its sizes.
template <class TQ, class TK, class TV, class TO, class L>
attention_problem check_attention(std::string_view where, const tensor_view<TQ, 4>& q,
                                  const tensor_view<TK, 4>& k, const tensor_view<TV, 4>& v,
                                  const tensor_view<TO, 4>& out, const attention_options& opt,
                                  const tensor_view<L, 3>& lse) {
  attention_problem p;
  check_qkvo<4>(where, p, q, k, v, out);
  p.B = q.extent(0);
  p.Sq = q.extent(1);
  p.Sk = k.extent(1);
  check_options(where, opt, p.Hq);
  p.scale = resolve_scale(opt, p.D);
  p.bias = check_bias(where, opt.bias, {p.B, p.Hq, p.Sq, p.Sk}, {false, false, false, false});
  check_lse(where, lse, p.B, p.Hq, p.Sq, "q");
  return p;
}

/// Checks cu_seqlens (size B+1, starts at 0, non-decreasing, last <= total) and returns the
/// longest sequence.
inline index_t check_cu_seqlens(std::string_view where, std::string_view name,
                                std::span<const std::int32_t> cu, index_t total) {
  require(!cu.empty(), where, name, "size B+1 >= 1", cu.size());
  require(cu[0] == 0, where, name, "cu[0] == 0", cu[0]);
  index_t longest = 0;
  for (std::size_t b = 1; b < cu.size(); ++b) {
    require(cu[b] >= cu[b - 1], where, name,
            "non-decreasing values; cu[" + std::to_string(b) + "] >= " + std::to_string(cu[b - 1]),
            cu[b]);
    longest = std::max<index_t>(longest, cu[b] - cu[b - 1]);
  }
  require(cu.back() <= total, where, name,
          "cu[B] <= " + std::to_string(total) + " (the total length of the tensor)", cu.back());
  return longest;
}

/// Checks a varlen call (q [total_q, Hq, D], k [total_k, Hkv, D], v [total_k, Hkv, Dv],
/// out [total_q, Hq, Dv], cu_seqlens of size B+1, lse empty or [Hq, total_q]).
template <class TQ, class TK, class TV, class TO, class L>
attention_problem check_attention_varlen(std::string_view where, const tensor_view<TQ, 3>& q,
                                         const tensor_view<TK, 3>& k, const tensor_view<TV, 3>& v,
                                         const tensor_view<TO, 3>& out,
                                         std::span<const std::int32_t> cu_seqlens_q,
                                         std::span<const std::int32_t> cu_seqlens_k,
                                         const attention_options& opt,
                                         const tensor_view<L, 2>& lse) {
  attention_problem p;
  check_qkvo<3>(where, p, q, k, v, out);
  p.Sq = check_cu_seqlens(where, "cu_seqlens_q", cu_seqlens_q, q.extent(0));
  p.Sk = check_cu_seqlens(where, "cu_seqlens_k", cu_seqlens_k, k.extent(0));
  require(cu_seqlens_k.size() == cu_seqlens_q.size(), where, "cu_seqlens_k",
          "size " + std::to_string(cu_seqlens_q.size()) + " (the size of cu_seqlens_q)",
          cu_seqlens_k.size());
  p.B = static_cast<index_t>(cu_seqlens_q.size()) - 1;
  check_options(where, opt, p.Hq);
  p.scale = resolve_scale(opt, p.D);
  p.bias = check_bias(where, opt.bias, {p.B, p.Hq, p.Sq, p.Sk}, {false, false, true, true});
  if (is_given(lse)) {
    check_view(where, "lse", lse, false);
    check_extent(where, "lse", lse, 0, p.Hq, "the query heads of q");
    check_extent(where, "lse", lse, 1, q.extent(0), "the total query length of q");
  }
  return p;
}

/// Requires `view` to have the extents of `like` (gradients, dout).
template <class T, class U, std::size_t Rank>
void check_same_extents(std::string_view where, std::string_view name,
                        const tensor_view<T, Rank>& view, const tensor_view<U, Rank>& like,
                        std::string_view like_name) {
  for (std::size_t r = 0; r < Rank; ++r)
    check_extent(where, name, view, r, like.extent(r), like_name);
}

/// Checks the extra arguments of a backward call: lse given, dout shaped as out, dq/dk/dv
/// shaped as q/k/v with unit innermost strides; dlse empty or shaped as lse.
template <std::size_t R, class T, class G, class L, class DL>
void check_backward_extras(std::string_view where, const tensor_view<const T, R>& q,
                           const tensor_view<const T, R>& k, const tensor_view<const T, R>& v,
                           const tensor_view<const T, R>& out, const tensor_view<const T, R>& dout,
                           const tensor_view<L, R - 1>& lse, const tensor_view<G, R>& dq,
                           const tensor_view<G, R>& dk, const tensor_view<G, R>& dv,
                           const tensor_view<DL, R - 1>& dlse) {
  require(is_given(lse), where, "lse", "the log-sum-exp of the forward pass", "an empty view");
  check_view(where, "dout", dout, true);
  check_view(where, "dq", dq, true);
  check_view(where, "dk", dk, true);
  check_view(where, "dv", dv, true);
  check_same_extents(where, "dout", dout, out, "the extents of out");
  check_same_extents(where, "dq", dq, q, "the extents of q");
  check_same_extents(where, "dk", dk, k, "the extents of k");
  check_same_extents(where, "dv", dv, v, "the extents of v");
  if (is_given(dlse)) {
    check_view(where, "dlse", dlse, false);
    check_same_extents(where, "dlse", dlse, lse, "the extents of lse");
  }
}

/// Checks a merge_attention_states call: partial_out [n, B, Sq, Hq, Dv] with n >= 1 and Dv >= 1,
/// partial_lse [n, B, Hq, Sq], out [B, Sq, Hq, Dv], lse empty or [B, Hq, Sq]; unit innermost
/// strides for partial_out and out.
template <class TO, class L>
void check_merge_states(std::string_view where, const tensor_view<const float, 5>& partial_out,
                        const tensor_view<const float, 4>& partial_lse,
                        const tensor_view<TO, 4>& out, const tensor_view<L, 3>& lse) {
  check_view(where, "partial_out", partial_out, true);
  check_view(where, "partial_lse", partial_lse, false);
  check_view(where, "out", out, true);
  const index_t n = partial_out.extent(0), B = partial_out.extent(1), Sq = partial_out.extent(2),
                Hq = partial_out.extent(3), Dv = partial_out.extent(4);
  require(n >= 1, where, "partial_out", "extent(0) >= 1 (at least one partial state)", n);
  require(Dv >= 1, where, "partial_out", "extent(4) >= 1 (the head dim)", Dv);
  check_extent(where, "partial_lse", partial_lse, 0, n, "the parts of partial_out");
  check_extent(where, "partial_lse", partial_lse, 1, B, "the batch of partial_out");
  check_extent(where, "partial_lse", partial_lse, 2, Hq, "the query heads of partial_out");
  check_extent(where, "partial_lse", partial_lse, 3, Sq, "the query length of partial_out");
  check_extent(where, "out", out, 0, B, "the batch of partial_out");
  check_extent(where, "out", out, 1, Sq, "the query length of partial_out");
  check_extent(where, "out", out, 2, Hq, "the query heads of partial_out");
  check_extent(where, "out", out, 3, Dv, "the head dim of partial_out");
  check_lse(where, lse, B, Hq, Sq, "partial_out");
}

/// The number of cached tokens of sequence b for kv head hk: cache_seqlens holds B lengths (one
/// per sequence) or B x Hkv (row-major [B][Hkv], one per sequence and kv head).
inline index_t cache_length(std::span<const std::int32_t> cache_seqlens, index_t B, index_t Hkv,
                            index_t b, index_t hk) {
  const bool per_head = static_cast<index_t>(cache_seqlens.size()) != B;
  return cache_seqlens[static_cast<std::size_t>(per_head ? b * Hkv + hk : b)];
}

/// The checks of a KV-cache call on the element views of its caches (`k_name`, `v_name`: how
/// messages name them). Contiguous: k [B, S_cache, Hkv, D], v [B, S_cache, Hkv, Dv]. Paged
/// (block_table [B, max_blocks] given): k [num_blocks, block_size, Hkv, D], v alike. Every length
/// in [0, capacity] (S_cache, or max_blocks x block_size), and the table entries of the blocks
/// the lengths need in [0, num_blocks); the entries past those are never read, so not checked.
/// The bias is [B, Hq, Sq, >= the longest length] (or broadcast), indexed by cache position.
template <class TQ, class C, class TO, class L>
attention_problem check_kvcache_views(std::string_view where, std::string_view k_name,
                                      std::string_view v_name, const tensor_view<TQ, 4>& q,
                                      const tensor_view<C, 4>& k, const tensor_view<C, 4>& v,
                                      const tensor_view<TO, 4>& out,
                                      std::span<const std::int32_t> cache_seqlens,
                                      const attention_options& opt,
                                      const tensor_view<const std::int32_t, 2>& block_table,
                                      const tensor_view<L, 3>& lse) {
  attention_problem p;
  check_view(where, "q", q, true);
  check_view(where, k_name, k, true);
  check_view(where, v_name, v, true);
  check_view(where, "out", out, true);
  p.B = q.extent(0);
  p.Sq = q.extent(1);
  const bool paged = is_given(block_table);
  const std::string k_of = " of " + std::string(k_name);
  if (!paged) check_extent(where, k_name, k, 0, p.B, "the batch of q");
  check_extent(where, v_name, v, 0, k.extent(0), (paged ? "the blocks" : "the batch") + k_of);
  check_extent(where, v_name, v, 1, k.extent(1), (paged ? "the block size" : "the capacity") + k_of);
  check_heads(where, p, q, k_name, k, v_name, v, out);

  const index_t block = k.extent(1);
  if (paged) {
    check_view(where, "block_table", block_table, false);
    check_extent(where, "block_table", block_table, 0, p.B, "the batch of q");
    require(block >= 1, where, k_name, "extent(1) >= 1 (the block size of a paged cache)", block);
  }
  const index_t capacity = paged ? block_table.extent(1) * block : block;
  const auto count = static_cast<index_t>(cache_seqlens.size());
  require(count == p.B || count == p.B * p.Hkv, where, "cache_seqlens",
          "size " + std::to_string(p.B) + " (one length per sequence) or " +
              std::to_string(p.B * p.Hkv) + " (one per sequence and kv head)",
          count);
  for (index_t x = 0; x < count; ++x) {
    const index_t len = cache_seqlens[static_cast<std::size_t>(x)];
    require(len >= 0 && len <= capacity, where, "cache_seqlens",
            "lengths in [0, " + std::to_string(capacity) + "] (the capacity of the cache); entry " +
                std::to_string(x) + " in range",
            len);
    p.Sk = std::max(p.Sk, len);
  }
  if (paged) {
    for (index_t b = 0; b < p.B; ++b) {
      index_t longest = 0;
      for (index_t hk = 0; hk < p.Hkv; ++hk)
        longest = std::max(longest, cache_length(cache_seqlens, p.B, p.Hkv, b, hk));
      for (index_t t = 0; t < (longest + block - 1) / block; ++t) {
        const index_t entry = block_table(b, t);
        require(entry >= 0 && entry < k.extent(0), where, "block_table",
                "block indices in [0, " + std::to_string(k.extent(0)) + ") (the blocks" + k_of +
                    ") for the blocks a length needs; entry (" + std::to_string(b) + ", " +
                    std::to_string(t) + ") in range",
                entry);
      }
    }
  }

  check_options(where, opt, p.Hq);
  p.scale = resolve_scale(opt, p.D);
  p.bias = check_bias(where, opt.bias, {p.B, p.Hq, p.Sq, p.Sk}, {false, false, false, true});
  check_lse(where, lse, p.B, p.Hq, p.Sq, "q");
  return p;
}

/// Checks a flash_attention_with_kvcache call over float, bf16 or fp16 caches (q [B, Sq, Hq, D],
/// out [B, Sq, Hq, Dv], lse empty or [B, Hq, Sq]; the caches, lengths, block table and bias as
/// check_kvcache_views says) and returns its sizes, with Sk the longest length.
template <class TQ, class C, class TO, class L>
attention_problem check_attention_kvcache(std::string_view where, const tensor_view<TQ, 4>& q,
                                          const tensor_view<C, 4>& k_cache,
                                          const tensor_view<C, 4>& v_cache,
                                          const tensor_view<TO, 4>& out,
                                          std::span<const std::int32_t> cache_seqlens,
                                          const attention_options& opt,
                                          const tensor_view<const std::int32_t, 2>& block_table,
                                          const tensor_view<L, 3>& lse) {
  return check_kvcache_views(where, "k_cache", "v_cache", q, k_cache, v_cache, out, cache_seqlens,
                             opt, block_table, lse);
}

/// Checks an optional attention_sum [B, Hkv, S] of a KV-cache call: S at least the longest
/// length (p.Sk), a unit innermost stride, no broadcast.
template <class L>
void check_attention_sum(std::string_view where, const tensor_view<L, 3>& attention_sum,
                         const attention_problem& p) {
  if (!is_given(attention_sum)) return;
  check_view(where, "attention_sum", attention_sum, true);
  check_extent(where, "attention_sum", attention_sum, 0, p.B, "the batch of q");
  check_extent(where, "attention_sum", attention_sum, 1, p.Hkv, "the kv heads of the cache");
  require(attention_sum.extent(2) >= p.Sk, where, "attention_sum",
          "extent(2) >= " + std::to_string(p.Sk) + " (the longest cache length)",
          attention_sum.extent(2));
}

/// check_attention_kvcache over int8 caches: the values as a float cache's elements, and scales
/// with the first three extents of the values (one scale per token and kv head).
template <class TQ, class TO, class L>
attention_problem check_attention_kvcache(std::string_view where, const tensor_view<TQ, 4>& q,
                                          const quantized_kv& k_cache, const quantized_kv& v_cache,
                                          const tensor_view<TO, 4>& out,
                                          std::span<const std::int32_t> cache_seqlens,
                                          const attention_options& opt,
                                          const tensor_view<const std::int32_t, 2>& block_table,
                                          const tensor_view<L, 3>& lse) {
  const auto p = check_kvcache_views(where, "k_cache.values", "v_cache.values", q, k_cache.values,
                                     v_cache.values, out, cache_seqlens, opt, block_table, lse);
  const auto check_scales = [&](std::string_view name, const quantized_kv& cache,
                                std::string_view values_name) {
    check_view(where, name, cache.scales, false);
    for (std::size_t r = 0; r < 3; ++r)
      check_extent(where, name, cache.scales, r, cache.values.extent(r),
                   "extent(" + std::to_string(r) + ") of " + std::string(values_name));
  };
  check_scales("k_cache.scales", k_cache, "k_cache.values");
  check_scales("v_cache.scales", v_cache, "v_cache.values");
  return p;
}

}  // namespace attnkit::detail
