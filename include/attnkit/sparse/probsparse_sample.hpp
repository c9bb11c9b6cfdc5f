// SPDX-License-Identifier: Apache-2.0
// detail::probsparse_plan: the sizes ProbSparse derives from its options (U, u, the visible keys
// of a query) and the seeded key sample of each query, shared by the kernel and its reference.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include <attnkit/core/splitmix64.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/sparse/probsparse_options.hpp>

namespace attnkit::detail {

/// c ceil(ln n), at least 1 (Informer's U and u; ln 1 = 0 would sample nothing).
inline index_t probsparse_count(index_t factor, index_t n) {
  const double c = n > 1 ? std::ceil(std::log(double(n))) : 0.0;
  return std::max<index_t>(1, factor * static_cast<index_t>(c));
}

/// The sizes of one checked call.
struct probsparse_plan {
  index_t Sq = 0, Sk = 0, U = 1, u = 1, offset = 0;
  bool causal = false;
  std::uint64_t seed = 0;

  probsparse_plan(const probsparse_options& opt, index_t Sq_, index_t Sk_)
      : Sq(Sq_), Sk(Sk_),
        U(opt.sample_keys > 0 ? opt.sample_keys : probsparse_count(opt.factor, Sk_)),
        u(std::min(Sq_, opt.active_queries > 0 ? opt.active_queries : probsparse_count(opt.factor, Sq_))),
        offset(opt.align == alignment::bottom_right ? Sk_ - Sq_ : 0), causal(opt.causal),
        seed(opt.seed) {}

  /// Query i sees keys [0, visible(i)).
  index_t visible(index_t i) const noexcept {
    return causal ? std::clamp<index_t>(i + offset + 1, 0, Sk) : Sk;
  }
  /// The number of sampled keys of query i: U draws, or every visible key when U >= visible(i).
  index_t samples(index_t i) const noexcept { return U >= visible(i) ? visible(i) : U; }
  /// Sampled key t < samples(i) of query i: key t itself when every key is used, else a draw
  /// uniform over [0, visible(i)) with replacement (as Informer's code), from (seed, i, t) only,
  /// so every batch entry and head shares the sample, as in Informer.
  index_t sample(index_t i, index_t t) const noexcept {
    const index_t n = visible(i);
    if (U >= n) return t;
    const double x = open_unit_interval(splitmix64_at(seed, static_cast<std::uint64_t>(i * U + t)));
    return std::min<index_t>(n - 1, static_cast<index_t>(x * double(n)));
  }
};

}  // namespace attnkit::detail
