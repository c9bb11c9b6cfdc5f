// SPDX-License-Identifier: Apache-2.0
// Shared pieces of the low-rank tests: random problems (contiguous or BHSD-strided with padding),
// the exact double oracle, and the error measures.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include <gtest/gtest.h>

#include <attnkit/exact/reference.hpp>

#include "support/random.hpp"
#include "support/tensor.hpp"
#include "support/tolerance.hpp"

namespace attnkit::test::lowrank {

struct dims {
  index_t B = 1, Sq = 37, Sk = 53, Hq = 4, Hkv = 2, D = 24, Dv = 24;
};

constexpr float kSentinel = -777.0f;

/// q, k, v of `n` filled uniformly in [lo, hi); strided: stored BHSD with 3 floats of padding after
/// each row (a PyTorch-permuted layout).
struct problem {
  dims n;
  tensor<float, 4> q, k, v;

  problem(dims n_, std::uint64_t seed, double lo = -1.0, double hi = 1.0, bool strided = false)
      : n(n_),
        q(layout({n.B, n.Sq, n.Hq, n.D}, strided)),
        k(layout({n.B, n.Sk, n.Hkv, n.D}, strided)),
        v(layout({n.B, n.Sk, n.Hkv, n.Dv}, strided)) {
    fill_uniform(q.view(), seed, lo, hi);
    fill_uniform(k.view(), seed + 1, lo, hi);
    fill_uniform(v.view(), seed + 2, -1.0, 1.0);
  }

  static tensor<float, 4> layout(std::array<index_t, 4> e, bool strided) {
    return strided ? tensor<float, 4>(e, {0, 2, 1, 3}, 3, kSentinel) : tensor<float, 4>(e, kSentinel);
  }
  /// An output [B, Sq, Hq, Dv], strided like the inputs, holding kSentinel.
  tensor<float, 4> output(bool strided = false) const { return layout({n.B, n.Sq, n.Hq, n.Dv}, strided); }
  tensor<double, 4> reference_output() const { return tensor<double, 4>({n.B, n.Sq, n.Hq, n.Dv}); }

  /// Exact softmax attention in double (reference::attention on the inputs widened to double).
  tensor<double, 4> exact(const attention_options& opt = {}) const {
    const auto qd = convert<double>(q.cview()), kd = convert<double>(k.cview()), vd = convert<double>(v.cview());
    auto out = reference_output();
    reference::attention<double>(qd.cview(), kd.cview(), vd.cview(), out.view(), opt);
    return out;
  }
};

/// ||got - want|| / ||want|| over all elements (Frobenius): the error measure of the estimators.
template <class T>
double relative_error(const tensor<T, 4>& got, const tensor<double, 4>& want) {
  return rms_relative_error(got.cview(), want.cview());
}

/// The kernel against its own estimator in double (or against exact attention where the
/// estimator is exact): fp32 features, sums and exponentials. Measured on these tests: at most
/// 2e-7 against the estimators and 4.4e-7 in the exact limits (logits up to about 10), relative
/// to the output's largest magnitude; the bound is 1e-6 of it (8 ulps at 1).
inline ::testing::AssertionResult matches_estimator(const tensor<float, 4>& got,
                                                    const tensor<double, 4>& want) {
  double scale = 0;
  for (double x : want.storage()) scale = std::max(scale, std::fabs(x));
  const double err = max_abs_error(got.cview(), want.cview()), bound = 1e-6 * std::max(1.0, scale);
  if (err <= bound) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "max error " << err << " > " << bound;
}

/// True when every padding element of a strided output still holds kSentinel and none of its
/// logical elements does (the kernel wrote exactly the view).
inline bool wrote_exactly_the_view(const tensor<float, 4>& out) {
  std::size_t sentinels = 0;
  for (float x : out.storage()) sentinels += x == kSentinel;
  std::size_t logical = 1;
  for (index_t e : out.extents()) logical *= std::size_t(e);
  return sentinels == out.storage().size() - logical;
}

}  // namespace attnkit::test::lowrank
