// SPDX-License-Identifier: Apache-2.0
// Helpers of the top-k family's tests (topk, SEA, ProbSparse): random problems in BSHD or BHSD
// storage, double and naive-float oracles, a run on every arch the CPU has.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include <gtest/gtest.h>

#include <attnkit/core/threads.hpp>
#include <attnkit/simd/arch.hpp>

#include "exact/reference_support.hpp"
#include "support/archs.hpp"
#include "support/random.hpp"
#include "support/tensor.hpp"
#include "support/tolerance.hpp"

namespace attnkit::test {

/// Storage order of a [B, S, H, D] tensor: BSHD (FlashAttention) or BHSD (PyTorch).
inline std::array<std::size_t, 4> sparse_order(bool bhsd) {
  return bhsd ? std::array<std::size_t, 4>{0, 2, 1, 3} : std::array<std::size_t, 4>{0, 1, 2, 3};
}

/// Random q, k, v of sizes n; |q|, |k| < range, |v| < 1; rows padded by 3 unused elements.
struct sparse_problem {
  dims n;
  tensor<float, 4> q, k, v;

  sparse_problem(const dims& d, std::uint64_t seed, double range = 1.0, bool bhsd = false)
      : n(d),
        q({d.B, d.Sq, d.Hq, d.D}, sparse_order(bhsd), 3, -5.0f),
        k({d.B, d.Sk, d.Hkv, d.D}, sparse_order(bhsd), 3, -5.0f),
        v({d.B, d.Sk, d.Hkv, d.Dv}, sparse_order(bhsd), 3, -5.0f) {
    fill_uniform(q.view(), seed, -range, range);
    fill_uniform(k.view(), seed + 1, -range, range);
    fill_uniform(v.view(), seed + 2, -1.0, 1.0);
  }

  /// An output [B, Sq, Hq, Dv] filled with a sentinel, BSHD or BHSD.
  tensor<float, 4> make_out(bool bhsd = false) const {
    return tensor<float, 4>({n.B, n.Sq, n.Hq, n.Dv}, sparse_order(bhsd), 0, -777.0f);
  }
  tensor<float, 3> make_lse() const { return tensor<float, 3>({n.B, n.Hq, n.Sq}, -777.0f); }
};

/// Calls f(Arch) for every compiled arch this CPU runs, with a trace naming it.
template <class F>
void for_every_arch(F&& f) {
  tested_archs::for_each([&](auto arch) {
    using Arch = decltype(arch);
    if (!simd::cpu_supports<Arch>()) return;
    SCOPED_TRACE(std::string("arch ") + Arch::name());
    f(arch);
  });
}

/// Restores the thread count on scope exit.
struct thread_count_guard {
  int saved = get_num_threads();
  ~thread_count_guard() { set_num_threads(saved); }
};

/// True when every element of the two views is bitwise the same float (NaN equal to NaN).
template <std::size_t Rank>
bool identical(const tensor_view<const float, Rank>& a, const tensor_view<const float, Rank>& b) {
  bool same = true;
  for_each_index(a.extents(), [&](const auto& idx) {
    const float x = at(a, idx), y = at(b, idx);
    if (!(x == y || (std::isnan(x) && std::isnan(y)))) same = false;
  });
  return same;
}

}  // namespace attnkit::test
