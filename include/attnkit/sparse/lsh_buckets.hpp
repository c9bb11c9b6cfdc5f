// SPDX-License-Identifier: Apache-2.0
// lsh_buckets: the angular-LSH bucket of every query and key in every hash round of
// lsh_attention (Reformer, arXiv 2001.04451), exposed for tests and analysis.
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include <attnkit/core/aligned_buffer.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/core/threads.hpp>
#include <attnkit/simd/arch.hpp>
#include <attnkit/sparse/lsh_options.hpp>
#include <attnkit/sparse/lsh_rotation.hpp>
#include <attnkit/sparse/nearest_center.hpp>
#include <attnkit/sparse/retrieval_arguments.hpp>

namespace attnkit {
namespace detail {

/// The hash functions of one call: round r maps a row x to argmax([x R_r ; -x R_r]) over
/// opt.buckets values (lsh_rotation draws R_r), or to 0 when opt.buckets = 1. x is not
/// normalised: a positive scale does not move the argmax, so this is the hash of x / |x| the
/// paper states. A row with a non-finite element hashes to 0. Read-only once built: the
/// threads share it.
template <class Arch>
class lsh_hasher {
 public:
  lsh_hasher(const lsh_options& opt, index_t D) : buckets_(opt.buckets), D_(D) {
    if (buckets_ > 1)
      for (index_t r = 0; r < opt.hashes; ++r)
        rotations_.push_back(lsh_rotation<Arch>(opt.seed, r, D, buckets_ / 2));
  }

  /// Scratch floats hash() needs.
  index_t scratch_size() const { return 64 * ((buckets_ / 2 + 3) / 4 * 4); }

  /// out[p] = the bucket of rows[p] (D floats) in round r, p < n.
  void hash(index_t r, const float* const* rows, index_t n, float* s, std::int32_t* out) const {
    if (buckets_ == 1) {
      std::fill(out, out + n, 0);
      return;
    }
    nearest_center<Arch>(rows, n, rotations_[std::size_t(r)], true, s, out);
    for (index_t p = 0; p < n; ++p)
      for (index_t d = 0; d < D_; ++d)
        if (!std::isfinite(rows[p][d])) {
          out[p] = 0;
          break;
        }
  }

 private:
  index_t buckets_, D_;
  std::vector<packed_centers<Arch>> rotations_;
};

}  // namespace detail

/// The buckets lsh_attention<Arch> uses: query_bucket(b, h, r, i) of query i of head h and
/// key_bucket(b, hk, r, j) of key j of kv head hk in hash round r, in [0, opt.buckets). Round r
/// hashes with the seeded Gaussian rotation R_r [D, buckets / 2] (detail::lsh_rotation; shared
/// by all batch entries and heads, by queries and keys): h(x) = argmax([x R_r ; -x R_r]) on
/// x / |x|, the first maximum winning ties. Deterministic per Arch and seed whatever the thread
/// count; other archs may break near-ties differently (fp32 products).
/// @pre q [B, Sq, Hq, D], k [B, Sk, Hkv, D], Hq a multiple of Hkv, unit innermost strides;
///      query_bucket [B, Hq, hashes, Sq], key_bucket [B, Hkv, hashes, Sk]; checked, throwing
///      attnkit::error before anything is written.
/// Time O(hashes (B Hq Sq + B Hkv Sk) D buckets / 2).
template <class Arch = default_arch>
void lsh_buckets(tensor_view<const float, 4> q, tensor_view<const float, 4> k,
                 tensor_view<std::int32_t, 4> query_bucket, tensor_view<std::int32_t, 4> key_bucket,
                 const lsh_options& opt = {}) {
  constexpr auto where = "lsh_buckets";
  const auto p = detail::check_query_keys(where, q, k, 0.0f);
  detail::check_lsh_options(where, opt);
  detail::check_output<std::int32_t, 4>(
      where, "query_bucket", query_bucket, {p.B, p.Hq, opt.hashes, p.Sq},
      {"the batch of q", "the query heads of q", "opt.hashes", "the query length of q"});
  detail::check_output<std::int32_t, 4>(
      where, "key_bucket", key_bucket, {p.B, p.Hkv, opt.hashes, p.Sk},
      {"the batch of q", "the kv heads of k", "opt.hashes", "the key length of k"});
  const detail::lsh_hasher<Arch> hasher(opt, p.D);
  // Tasks: (batch, query head) then (batch, kv head), each hashing its rows in every round.
  parallel_for(p.B * (p.Hq + p.Hkv), [&](index_t task, int) {
    const index_t b = task / (p.Hq + p.Hkv), x = task % (p.Hq + p.Hkv);
    const bool is_query = x < p.Hq;
    const index_t h = is_query ? x : x - p.Hq, n = is_query ? p.Sq : p.Sk;
    std::vector<const float*> rows(static_cast<std::size_t>(n));
    for (index_t t = 0; t < n; ++t) rows[std::size_t(t)] = is_query ? &q(b, t, h, 0) : &k(b, t, h, 0);
    detail::aligned_buffer<float> s(static_cast<std::size_t>(hasher.scratch_size()));
    std::vector<std::int32_t> code(static_cast<std::size_t>(n));
    for (index_t r = 0; r < opt.hashes; ++r) {
      hasher.hash(r, rows.data(), n, s.data(), code.data());
      for (index_t t = 0; t < n; ++t)
        (is_query ? query_bucket(b, h, r, t) : key_bucket(b, h, r, t)) = code[std::size_t(t)];
    }
  });
}

}  // namespace attnkit
