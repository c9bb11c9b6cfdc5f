// SPDX-License-Identifier: Apache-2.0
// detail::select_top_keys: the positions of the k largest scores of a row, ties to the later
// position, the selection rule of topk_attention, sea_attention and probsparse_attention.
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/simd/arch.hpp>

namespace attnkit::detail {

/// The k-th largest of z[0 .. n) (1 <= k < n), using `work` (n elements) as scratch.
///
/// A plain std::nth_element over a 2048-key row took about 20 us on Zen 3, four times the
/// row's share of the logit GEMM at D = 64. So for long rows a strided sample of 256 scores
/// first gives a threshold t0 that about 3k scores reach (the sample's (3k 256 / n)-th largest);
/// only those are copied and selected among. The k-th largest of the survivors is the k-th
/// largest of the row whenever at least k survive; otherwise (rare: a count 3 sigma below its
/// mean, or a row of many equal scores) the full row is selected. The result never depends on
/// which path ran.
template <class S>
S kth_largest(const S* z, index_t n, index_t k, S* work) {
  constexpr index_t kSample = 256;
  if (n >= 4 * kSample && 12 * k <= n) {
    for (index_t t = 0; t < kSample; ++t) work[t] = z[t * n / kSample];
    const index_t r = std::max<index_t>(1, 3 * k * kSample / n);  // 1 <= r <= kSample / 4
    std::nth_element(work, work + (r - 1), work + kSample, std::greater<S>());
    const S t0 = work[r - 1];
    index_t kept = 0;
    for (index_t t = 0; t < n; ++t) {  // branch-free compaction of the scores >= t0
      work[kept] = z[t];
      kept += z[t] >= t0;
    }
    if (kept >= k) {
      std::nth_element(work, work + (k - 1), work + kept, std::greater<S>());
      return work[k - 1];
    }
  }
  std::copy(z, z + n, work);
  std::nth_element(work, work + (k - 1), work + n, std::greater<S>());
  return work[k - 1];
}

/// True when some z[t], t < n, is NaN.
template <class Arch>
bool any_nan(const float* z, index_t n) noexcept {
  using batch = xsimd::batch<float, Arch>;
  constexpr index_t w = static_cast<index_t>(batch::size);
  batch bad(0.0f);
  index_t t = 0;
  for (; t + w <= n; t += w) bad = bad | (batch::load_unaligned(z + t) - batch::load_unaligned(z + t));
  bool nan = !xsimd::all(bad == batch(0.0f));  // x - x is 0 for finite x, NaN for NaN and inf
  for (; t < n; ++t) nan |= std::isnan(z[t]);
  if (nan)  // an infinity also reached here: look again, exactly
    for (nan = false, t = 0; t < n; ++t) nan |= std::isnan(z[t]);
  return nan;
}

/// Writes to `picked` (ascending) the positions t < n of the min(k, n) largest z[t] and returns
/// how many it wrote. Among equal scores the later position wins (position n - 1 before
/// position 0), so the choice never depends on the platform or the selection algorithm.
/// @pre no z[t] is NaN (callers give such rows NaN outputs first); k >= 1; `work` holds n
///      floats, `ties` n indices of scratch. Time O(n) on average: after kth_largest, one
///      vector pass that looks at a lane only when its batch holds a score >= the threshold.
template <class Arch>
index_t select_top_keys(const float* z, index_t n, index_t k, index_t* picked, index_t* ties,
                        float* work) {
  using batch = xsimd::batch<float, Arch>;
  constexpr index_t w = static_cast<index_t>(batch::size);
  if (k >= n) {
    for (index_t t = 0; t < n; ++t) picked[t] = t;
    return n;
  }
  const float threshold = kth_largest(z, n, k, work);
  index_t above = 0, equal = 0;
  auto visit = [&](index_t t) {
    if (z[t] > threshold) picked[above++] = t;
    else if (z[t] == threshold) ties[equal++] = t;
  };
  index_t t = 0;
  for (; t + w <= n; t += w)
    if (xsimd::any(batch::load_unaligned(z + t) >= batch(threshold)))
      for (index_t l = 0; l < w; ++l) visit(t + l);
  for (; t < n; ++t) visit(t);
  // The last k - above positions holding the threshold complete the set, merged in order.
  std::copy(ties + equal - (k - above), ties + equal, picked + above);
  std::inplace_merge(picked, picked + above, picked + k);
  return k;
}

}  // namespace attnkit::detail
