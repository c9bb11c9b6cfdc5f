// SPDX-License-Identifier: Apache-2.0
// mask::key_range: which keys each query sees (causal, windows, alignment) and which key blocks a
// query block must visit, fully or partially masked, computed apart from any kernel.
#pragma once

#include <algorithm>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/exact/options.hpp>

namespace attnkit::mask {

/// How a key block relates to a query block: skipped, visited with masking, or visited plainly.
enum class block_kind { empty, partial, full };

/// The visibility rule of DESIGN 1.3 as intervals. With o the alignment offset, query i sees keys
/// [begin(i), end(i)) = [i + o - left, i + o + right + 1) clipped to [0, Sk), where an unbounded
/// side is infinite and causal bounds right by 0. Both ends are non-decreasing in i, and
/// consecutive rows overlap or touch, so a query block sees a contiguous key range and key j is
/// seen by the contiguous queries [j - o - right, j - o + left].
class key_range {
 public:
  key_range(const attention_options& opt, index_t Sq, index_t Sk)
      : Sq_(Sq), Sk_(Sk), offset_(opt.align == alignment::bottom_right ? Sk - Sq : 0),
        left_(saturate(opt.window_left, Sq, Sk)),
        right_(opt.causal ? (opt.window_right >= 0 ? std::min<index_t>(opt.window_right, 0) : 0)
                          : saturate(opt.window_right, Sq, Sk)) {}

  index_t Sq() const noexcept { return Sq_; }
  index_t Sk() const noexcept { return Sk_; }
  /// True when some query may not see some key: the masking code can be compiled out otherwise.
  bool bounded() const noexcept { return left_ >= 0 || right_ >= 0; }

  /// First key query i sees (may be >= end(i): the row is empty).
  index_t begin(index_t i) const noexcept {
    return left_ < 0 ? 0 : std::clamp<index_t>(i + offset_ - left_, 0, Sk_);
  }
  /// One past the last key query i sees.
  index_t end(index_t i) const noexcept {
    return right_ < 0 ? Sk_ : std::clamp<index_t>(i + offset_ + right_ + 1, 0, Sk_);
  }
  /// First query that sees key j (clipped to [0, Sq]).
  index_t first_query(index_t j) const noexcept {
    return right_ < 0 ? 0 : std::clamp<index_t>(j - offset_ - right_, 0, Sq_);
  }
  /// One past the last query that sees key j (clipped to [0, Sq]).
  index_t end_query(index_t j) const noexcept {
    return left_ < 0 ? Sq_ : std::clamp<index_t>(j - offset_ + left_ + 1, 0, Sq_);
  }

  /// The keys any query of [i0, i1) sees, as [first, last); empty when first >= last.
  index_t block_begin(index_t i0) const noexcept { return begin(i0); }
  index_t block_end(index_t i1) const noexcept { return i1 > 0 ? end(i1 - 1) : 0; }

  /// Classifies keys [j0, j1) for queries [i0, i1): full when every query sees every key.
  block_kind classify(index_t i0, index_t i1, index_t j0, index_t j1) const noexcept {
    if (i0 >= i1 || j0 >= j1 || block_end(i1) <= j0 || block_begin(i0) >= j1)
      return block_kind::empty;
    if (begin(i1 - 1) <= j0 && end(i0) >= j1) return block_kind::full;
    return block_kind::partial;
  }

 private:
  // A window of Sq + Sk or more bounds nothing (|i + o - j| < Sq + Sk for every pair), and a
  // smaller one keeps i + o +- window far from overflow: windows may be up to PTRDIFF_MAX.
  static index_t saturate(index_t window, index_t Sq, index_t Sk) noexcept {
    return window < 0 ? window : std::min<index_t>(window, Sq + Sk);
  }

  index_t Sq_, Sk_, offset_, left_, right_;
};

}  // namespace attnkit::mask
