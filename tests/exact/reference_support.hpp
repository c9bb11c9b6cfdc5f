// SPDX-License-Identifier: Apache-2.0
// Helpers shared by the tests of attnkit::reference: owning problems, options with storage, packing.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <type_traits>
#include <vector>

#include <gtest/gtest.h>

#include <attnkit/exact/options.hpp>
#include <attnkit/exact/reference.hpp>

#include "support/random.hpp"
#include "support/tensor.hpp"

namespace attnkit::test {

inline constexpr double kInf = std::numeric_limits<double>::infinity();
inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

/// The sizes of a dense problem, in DESIGN 1.2's vocabulary.
struct dims {
  index_t B = 1, Sq = 1, Sk = 1, Hq = 1, Hkv = 1, D = 1, Dv = 1;
};

/// The lse type the tests pair with an element type: double for the double oracle, else float.
template <class T>
using lse_type = std::conditional_t<std::is_same_v<T, double>, double, float>;

/// An owning dense problem in BSHD layout: inputs zero, outputs pre-filled with `sentinel`.
template <class T, class L = lse_type<T>>
struct dense_problem {
  static constexpr double kSentinel = 12345.0;

  dims n;
  tensor<T, 4> q, k, v, out;
  tensor<L, 3> lse;

  explicit dense_problem(const dims& d)
      : n(d),
        q({d.B, d.Sq, d.Hq, d.D}),
        k({d.B, d.Sk, d.Hkv, d.D}),
        v({d.B, d.Sk, d.Hkv, d.Dv}),
        out({d.B, d.Sq, d.Hq, d.Dv}, T(kSentinel)),
        lse({d.B, d.Hq, d.Sq}, L(kSentinel)) {}

  /// Fills q, k, v with uniform values in [lo, hi) from `seed`.
  void randomize(std::uint64_t seed, double lo = -1.0, double hi = 1.0) {
    fill_uniform(q.view(), seed, lo, hi);
    fill_uniform(k.view(), seed + 1, lo, hi);
    fill_uniform(v.view(), seed + 2, lo, hi);
  }

  void run(const attention_options& opt = {}) {
    reference::attention<T>(q.cview(), k.cview(), v.cview(), out.view(), opt, lse.view());
  }
};

/// attention_options together with the storage its spans and bias view point into. Build the
/// options with options() after the last change; the result lives as long as this object.
struct owned_options {
  float scale = 0.0f;
  bool causal = false;
  alignment align = alignment::bottom_right;
  index_t window_left = -1, window_right = -1;
  float softcap = 0.0f;
  std::vector<float> alibi_slopes, sinks;
  std::optional<tensor<float, 4>> bias;

  attention_options options() const {
    attention_options opt;
    opt.scale = scale;
    opt.causal = causal;
    opt.align = align;
    opt.window_left = window_left;
    opt.window_right = window_right;
    opt.softcap = softcap;
    opt.alibi_slopes = alibi_slopes;
    opt.sinks = sinks;
    if (bias) opt.bias = bias->cview();
    return opt;
  }
};

/// Sequence b of a packed tensor [total, H, D] copied into a dense [1, len, H, D] tensor.
template <class T>
tensor<T, 4> unpack(const tensor<T, 3>& packed, const std::vector<std::int32_t>& cu, index_t b) {
  const index_t len = cu[b + 1] - cu[b];
  tensor<T, 4> dense({1, len, packed.extents()[1], packed.extents()[2]});
  for_each_index(dense.extents(), [&](const auto& idx) {
    dense(0, idx[1], idx[2], idx[3]) = packed(cu[b] + idx[1], idx[2], idx[3]);
  });
  return dense;
}

/// The bias a dense call on sequence b sees: [1, Hq, len_q, len_k] at the local origin of a
/// varlen bias [B, Hq, >= max len_q, >= max len_k] (extent-1 dimensions broadcast).
inline tensor_view<const float, 4> bias_of_segment(const tensor_view<const float, 4>& bias,
                                                   index_t Hq, index_t b, index_t len_q,
                                                   index_t len_k) {
  auto stride_or_zero = [&](std::size_t r) { return bias.extent(r) == 1 ? 0 : bias.stride(r); };
  return tensor_view<const float, 4>(bias.data() + b * stride_or_zero(0), {1, Hq, len_q, len_k},
                                     {0, stride_or_zero(1), stride_or_zero(2), stride_or_zero(3)});
}

/// `view` with each zero stride made 1. A contiguous view with a zero extent has zero strides
/// outside that extent; the per-sequence oracles use this so that they do not depend on how
/// empty outputs are checked (ReferenceForward.ZeroQueriesAreAValidCall tests that).
template <class T, std::size_t Rank>
tensor_view<T, Rank> nonzero_strides(const tensor_view<T, Rank>& view) {
  auto strides = view.strides();
  for (auto& s : strides)
    if (s == 0) s = 1;
  return tensor_view<T, Rank>(view.data(), view.extents(), strides);
}

/// True when x is +0.0 exactly (not -0.0, not NaN).
template <class T>
bool is_positive_zero(T x) {
  const double d = double(x);
  return d == 0.0 && !std::signbit(d);
}

/// Counts the elements of a view that are not finite.
template <class T, std::size_t Rank>
index_t count_non_finite(const tensor_view<T, Rank>& view) {
  index_t n = 0;
  for_each_index(view.extents(), [&](const auto& idx) { n += !std::isfinite(double(at(view, idx))); });
  return n;
}

}  // namespace attnkit::test
