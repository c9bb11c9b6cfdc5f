// SPDX-License-Identifier: Apache-2.0
// detail::select_top_keys: the positions of the k largest scores of a row, ties to the later
// position, the selection rule of topk_attention, sea_attention and probsparse_attention.
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/simd/arch.hpp>

namespace attnkit::detail {

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

/// A value t0 that about `rank` of the m values x[0 .. m) reach, from a 64-bucket histogram over
/// [min, max]: the lower edge of the bucket in which the count from the top reaches `rank`, so
/// at least `rank` values are >= t0 (up to the rounding of the edge, which callers check).
/// -inf when the values are not all finite or all equal (every value passes).
inline float histogram_cut(const float* x, index_t m, index_t rank) noexcept {
  constexpr int kBuckets = 64;
  float lo = x[0], hi = x[0];
  for (index_t t = 1; t < m; ++t) lo = std::min(lo, x[t]), hi = std::max(hi, x[t]);
  if (!(std::isfinite(lo) && std::isfinite(hi) && lo < hi)) return -std::numeric_limits<float>::infinity();
  const float to_bucket = float(kBuckets) / (hi - lo);
  index_t count[kBuckets] = {};
  for (index_t t = 0; t < m; ++t) ++count[std::min(kBuckets - 1, static_cast<int>((x[t] - lo) * to_bucket))];
  index_t above = 0;
  int b = kBuckets - 1;
  for (; b > 0 && above + count[b] < rank; --b) above += count[b];
  return lo + float(b) / to_bucket;
}

/// Appends to (at, value) every position t < n with z[t] >= cut and its score, in position
/// order, and returns their count: batches with no such score are skipped, the others compacted
/// lane by lane without branches.
template <class Arch>
index_t keep_at_least(const float* z, index_t n, float cut, index_t* at, float* value) noexcept {
  using batch = xsimd::batch<float, Arch>;
  constexpr index_t w = static_cast<index_t>(batch::size);
  const batch threshold(cut);
  index_t m = 0, t = 0;
  auto keep = [&](index_t j) {
    at[m] = j;
    value[m] = z[j];
    m += z[j] >= cut;
  };
  for (; t + w <= n; t += w)
    if (xsimd::any(batch::load_unaligned(z + t) >= threshold))
      for (index_t l = 0; l < w; ++l) keep(t + l);
  for (; t < n; ++t) keep(t);
  return m;
}

/// Writes to `picked` (ascending) the positions t < n of the min(k, n) largest z[t] and returns
/// how many it wrote. Among equal scores the later position wins (position n - 1 before
/// position 0), so the choice never depends on the platform or the selection algorithm.
/// @pre no z[t] is NaN (callers give such rows NaN outputs first); k >= 1; `at` holds n
///      indices and `value`, `work` n floats of scratch.
///
/// Method, O(n) on average: a cut t0 that about 3k of the scores reach, from the histogram of a
/// strided sample of 256 (rows of 1024 and more); one vector pass keeps the scores >= t0
/// (-inf: all of them, also when fewer than k passed); the k-th largest of the kept ones, which
/// is the k-th largest of the row, from their own histogram and an nth_element inside one
/// bucket; the picks among the kept ones. A std::nth_element over a whole row of 2048 took
/// about 20 us on Zen 3, four times the row's share of the logit GEMM at D = 64.
template <class Arch>
index_t select_top_keys(const float* z, index_t n, index_t k, index_t* picked, index_t* at,
                        float* value, float* work) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  if (k >= n) {
    for (index_t t = 0; t < n; ++t) picked[t] = t;
    return n;
  }
  constexpr index_t kSample = 256;
  float cut = kNegInf;
  if (n >= 4 * kSample && 12 * k <= n) {
    for (index_t t = 0; t < kSample; ++t) work[t] = z[t * n / kSample];
    cut = histogram_cut(work, kSample, std::max<index_t>(1, 3 * k * kSample / n));
  }
  index_t m = 0;
  for (int pass = 0; pass < 2 && m < k; ++pass, cut = kNegInf) m = keep_at_least<Arch>(z, n, cut, at, value);
  // The k-th largest kept value: count the buckets from the top, then select inside one.
  float threshold;
  {
    constexpr int kBuckets = 64;
    float lo = value[0], hi = value[0];
    for (index_t t = 1; t < m; ++t) lo = std::min(lo, value[t]), hi = std::max(hi, value[t]);
    index_t need = k, size = 0;
    if (std::isfinite(lo) && std::isfinite(hi) && lo < hi) {
      const float to_bucket = float(kBuckets) / (hi - lo);
      auto bucket = [&](float x) { return std::min(kBuckets - 1, static_cast<int>((x - lo) * to_bucket)); };
      index_t count[kBuckets] = {};
      for (index_t t = 0; t < m; ++t) ++count[bucket(value[t])];
      int b = kBuckets - 1;
      for (; count[b] < need; --b) need -= count[b];
      for (index_t t = 0; t < m; ++t) {
        work[size] = value[t];
        size += bucket(value[t]) == b;
      }
    } else {
      std::copy(value, value + m, work);
      size = m;
    }
    std::nth_element(work, work + (need - 1), work + size, std::greater<float>());
    threshold = work[need - 1];
  }
  // Kept scores above the threshold, then the last (k - above) equal to it, in position order.
  index_t above = 0, equal = 0;
  for (index_t t = 0; t < m; ++t) {  // branch-free: about a third of the kept scores qualify
    const index_t j = at[t];           // read before at[equal], equal <= t, is written
    picked[above] = j;
    above += value[t] > threshold;
    at[equal] = j;
    equal += value[t] == threshold;
  }
  std::copy(at + equal - (k - above), at + equal, picked + above);
  std::inplace_merge(picked, picked + above, picked + k);
  return k;
}

}  // namespace attnkit::detail
