// SPDX-License-Identifier: Apache-2.0
// test::tensor, an owning array with tensor_view access, in any storage order, with padding.
#pragma once

#include <array>
#include <cstddef>
#include <numeric>
#include <vector>

#include <attnkit/core/tensor_view.hpp>

namespace attnkit::test {

/// An owning tensor whose logical extents are stored in the order `order` (order[0] outermost),
/// with `pad` unused elements after each innermost row, so views of it are strided like
/// PyTorch's permuted tensors. Unused elements hold `fill` and can be checked untouched.
template <class T, std::size_t Rank>
class tensor {
 public:
  using extents_type = std::array<index_t, Rank>;

  tensor() = default;
  explicit tensor(extents_type extents, T fill = T(0)) : tensor(extents, identity(), 0, fill) {}
  tensor(extents_type extents, std::array<std::size_t, Rank> order, index_t pad = 0,
         T fill = T(0))
      : extents_(extents) {
    index_t stride = 1;
    for (std::size_t n = Rank; n-- > 0;) {
      const std::size_t r = order[n];
      strides_[r] = stride;
      stride *= extents[r] + (n == Rank - 1 ? pad : 0);
    }
    storage_.assign(static_cast<std::size_t>(stride), fill);
  }

  tensor_view<T, Rank> view() { return {storage_.data(), extents_, strides_}; }
  tensor_view<const T, Rank> view() const { return {storage_.data(), extents_, strides_}; }
  tensor_view<const T, Rank> cview() const { return view(); }
  const extents_type& extents() const { return extents_; }
  std::vector<T>& storage() { return storage_; }
  const std::vector<T>& storage() const { return storage_; }

  template <class... I>
  T& operator()(I... i) {
    return view()(i...);
  }
  template <class... I>
  const T& operator()(I... i) const {
    return view()(i...);
  }

 private:
  static std::array<std::size_t, Rank> identity() {
    std::array<std::size_t, Rank> order;
    std::iota(order.begin(), order.end(), std::size_t{0});
    return order;
  }

  extents_type extents_{};
  extents_type strides_{};
  std::vector<T> storage_;
};

/// Calls f(idx) for every index tuple of `extents` (row-major), idx a std::array.
template <std::size_t Rank, class F>
void for_each_index(const std::array<index_t, Rank>& extents, F&& f) {
  for (index_t e : extents)
    if (e == 0) return;
  std::array<index_t, Rank> idx{};
  for (;;) {
    f(idx);
    std::size_t r = Rank;
    while (r-- > 0) {
      if (++idx[r] < extents[r]) break;
      idx[r] = 0;
      if (r == 0) return;
    }
  }
}

/// view(idx...) for an index array.
template <class T, std::size_t Rank>
T& at(const tensor_view<T, Rank>& view, const std::array<index_t, Rank>& idx) {
  return [&]<std::size_t... R>(std::index_sequence<R...>) -> T& {
    return view(idx[R]...);
  }(std::make_index_sequence<Rank>{});
}

/// A copy of `from` converted element by element to U (same extents, contiguous).
template <class U, class T, std::size_t Rank>
tensor<U, Rank> convert(const tensor_view<T, Rank>& from) {
  tensor<U, Rank> to(from.extents());
  for_each_index(from.extents(), [&](const auto& idx) { at(to.view(), idx) = U(at(from, idx)); });
  return to;
}

}  // namespace attnkit::test
