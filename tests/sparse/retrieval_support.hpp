// SPDX-License-Identifier: Apache-2.0
// Shared plumbing of the routing, LSH and landmark tests: random problems in BSHD or strided
// BHSD storage, the double and naive-float oracles over a visibility, thread-count scopes.
#pragma once

#include <array>
#include <cmath>
#include <limits>
#include <vector>

#include <gtest/gtest.h>

#include <attnkit/core/threads.hpp>
#include <attnkit/exact/arguments.hpp>
#include <attnkit/exact/reference.hpp>
#include <attnkit/sparse/reference_retrieval.hpp>

#include "support/archs.hpp"
#include "support/random.hpp"
#include "support/tensor.hpp"
#include "support/tolerance.hpp"

namespace attnkit::test {

struct retrieval_dims {
  index_t B = 1, Sq = 1, Sk = 1, Hq = 1, Hkv = 1, D = 8, Dv = 8;
};

/// q, k, v of the sizes n: BSHD, or BHSD with 3 padding elements per row (strided views).
struct retrieval_problem {
  tensor<float, 4> q, k, v;
};

inline std::array<std::size_t, 4> order_of(bool bhsd) {
  return bhsd ? std::array<std::size_t, 4>{0, 2, 1, 3} : std::array<std::size_t, 4>{0, 1, 2, 3};
}

inline retrieval_problem make_problem(const retrieval_dims& n, std::uint64_t seed, bool bhsd = false,
                                      double range = 1.0) {
  const index_t pad = bhsd ? 3 : 0;
  retrieval_problem p{tensor<float, 4>({n.B, n.Sq, n.Hq, n.D}, order_of(bhsd), pad),
                      tensor<float, 4>({n.B, n.Sk, n.Hkv, n.D}, order_of(bhsd), pad),
                      tensor<float, 4>({n.B, n.Sk, n.Hkv, n.Dv}, order_of(bhsd), pad)};
  fill_uniform(p.q.view(), seed, -range, range);
  fill_uniform(p.k.view(), seed + 1, -range, range);
  fill_uniform(p.v.view(), seed + 2, -1.0, 1.0);
  return p;
}

/// An output (and lse) filled with a sentinel, in BSHD or BHSD storage.
struct retrieval_output {
  tensor<float, 4> out;
  tensor<float, 3> lse;
  retrieval_output(const retrieval_dims& n, bool bhsd = false)
      : out({n.B, n.Sq, n.Hq, n.Dv}, order_of(bhsd), bhsd ? 2 : 0, -777.0f),
        lse({n.B, n.Hq, n.Sq}, -777.0f) {}
};

/// The double oracle and the naive float one of a sparse kernel, from the kernel's own choice:
/// `reference(qd, kd, vd, out, lse)` runs a reference:: function in double, `naive(p, ...)` the
/// same visibility through reference::detail::masked_attention<float>.
struct retrieval_oracle {
  tensor<double, 4> out;
  tensor<double, 3> lse;
  tensor<float, 4> naive_out;
  tensor<float, 3> naive_lse;
};

/// Runs `fill(oracle)` and compares a kernel's out and lse with DESIGN 4's fp32 rule.
inline void expect_close(const retrieval_output& got, const retrieval_oracle& o) {
  EXPECT_TRUE(within_fp32_tolerance(got.out.cview(), o.naive_out.cview(), o.out.cview())) << "out";
  EXPECT_TRUE(within_fp32_tolerance(got.lse.cview(), o.naive_lse.cview(), o.lse.cview())) << "lse";
}

/// Bitwise equality of two float tensors (NaN equal to NaN).
template <std::size_t R>
bool same_bits(const tensor<float, R>& a, const tensor<float, R>& b) {
  bool same = true;
  for_each_index(a.extents(), [&](const auto& idx) {
    const float x = at(a.view(), idx), y = at(b.view(), idx);
    if (!(x == y || (std::isnan(x) && std::isnan(y)))) same = false;
  });
  return same;
}

/// Sets the thread count for a scope.
class thread_scope {
 public:
  explicit thread_scope(int n) : saved_(get_num_threads()) { set_num_threads(n); }
  ~thread_scope() { set_num_threads(saved_); }
  thread_scope(const thread_scope&) = delete;
  thread_scope& operator=(const thread_scope&) = delete;

 private:
  int saved_;
};

/// The double reference of exact attention (for the limits that must equal it).
inline retrieval_oracle exact_oracle(const retrieval_problem& p, bool causal, float scale = 0.0f) {
  const auto e = p.q.extents();
  const index_t Dv = p.v.extents()[3];
  retrieval_oracle o{tensor<double, 4>({e[0], e[1], e[2], Dv}), tensor<double, 3>({e[0], e[2], e[1]}),
                     tensor<float, 4>({e[0], e[1], e[2], Dv}), tensor<float, 3>({e[0], e[2], e[1]})};
  attention_options opt;
  opt.causal = causal;
  opt.scale = scale;
  const auto qd = convert<double>(p.q.cview()), kd = convert<double>(p.k.cview()),
             vd = convert<double>(p.v.cview());
  reference::attention<double>(qd.cview(), kd.cview(), vd.cview(), o.out.view(), opt, o.lse.view());
  const auto pr = attnkit::detail::check_attention("test", p.q.cview(), p.k.cview(), p.v.cview(),
                                                   o.naive_out.view(), opt, o.naive_lse.view());
  reference::detail::forward<float>(pr, opt, p.q.cview(), p.k.cview(), p.v.cview(),
                                    o.naive_out.view(), o.naive_lse.view());
  return o;
}

/// The oracle from a visibility predicate visible(b, h, i, j): double and naive float.
template <class Visible>
retrieval_oracle visibility_oracle(const retrieval_problem& p, float scale, const Visible& visible) {
  const auto e = p.q.extents();
  const index_t Dv = p.v.extents()[3];
  retrieval_oracle o{tensor<double, 4>({e[0], e[1], e[2], Dv}), tensor<double, 3>({e[0], e[2], e[1]}),
                     tensor<float, 4>({e[0], e[1], e[2], Dv}), tensor<float, 3>({e[0], e[2], e[1]})};
  attention_options opt;
  opt.scale = scale;
  const auto qd = convert<double>(p.q.cview()), kd = convert<double>(p.k.cview()),
             vd = convert<double>(p.v.cview());
  const auto pd = attnkit::detail::check_attention("test", qd.cview(), kd.cview(), vd.cview(),
                                                   o.out.view(), opt, o.lse.view());
  reference::detail::masked_attention<double>(pd, qd.cview(), kd.cview(), vd.cview(), o.out.view(),
                                              o.lse.view(), visible);
  reference::detail::masked_attention<float>(pd, p.q.cview(), p.k.cview(), p.v.cview(),
                                             o.naive_out.view(), o.naive_lse.view(), visible);
  return o;
}

/// Relative Frobenius error of out against the double exact attention.
inline double relative_error(const tensor<float, 4>& got, const tensor<double, 4>& want) {
  double num = 0, den = 0;
  for_each_index(got.extents(), [&](const auto& idx) {
    const double g = at(got.view(), idx), w = at(want.view(), idx);
    num += (g - w) * (g - w);
    den += w * w;
  });
  return std::sqrt(num / den);
}

}  // namespace attnkit::test
