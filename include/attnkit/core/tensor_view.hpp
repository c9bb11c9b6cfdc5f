// SPDX-License-Identifier: Apache-2.0
// tensor_view: the non-owning strided view of a rank-N array that every attnkit entry point takes.
#pragma once

#include <array>
#include <cassert>
#include <cstddef>
#include <string>
#include <type_traits>

#include <attnkit/core/error.hpp>

namespace attnkit {

using index_t = std::ptrdiff_t;

/// A non-owning view of `Rank`-dimensional data with strides counted in elements.
///
/// Stride 0 broadcasts a dimension; strides may be in any order, so PyTorch's `[B, H, S, D]`
/// storage is a `[B, S, H, D]` view with permuted strides. Element access is not bounds-checked
/// unless NDEBUG is undefined.
template <class T, std::size_t Rank>
class tensor_view {
  static_assert(Rank >= 1, "tensor_view needs a rank of at least 1; pass a pointer for a scalar.");

 public:
  using element_type = T;
  using value_type = std::remove_cv_t<T>;
  using extents_type = std::array<index_t, Rank>;

  static constexpr std::size_t rank() noexcept { return Rank; }

  /// The empty view: data() == nullptr, every extent and stride 0.
  tensor_view() noexcept = default;

  /// A contiguous row-major view. @pre every extent >= 0 (throws attnkit::error otherwise).
  tensor_view(T* data, extents_type extents) : data_(data), extents_(extents) {
    check_extents();
    index_t stride = 1;
    for (std::size_t r = Rank; r-- > 0;) {
      strides_[r] = stride;
      stride *= extents_[r];
    }
  }

  /// A strided view. @pre every extent >= 0 (throws attnkit::error otherwise).
  tensor_view(T* data, extents_type extents, extents_type strides)
      : data_(data), extents_(extents), strides_(strides) {
    check_extents();
  }

  /// The implicit conversion from a view of T to a view of const T.
  template <class U>
    requires(std::is_const_v<T> && std::is_same_v<const U, T>)
  tensor_view(const tensor_view<U, Rank>& other) noexcept  // NOLINT(google-explicit-constructor)
      : data_(other.data()), extents_(other.extents()), strides_(other.strides()) {}

  T* data() const noexcept { return data_; }
  index_t extent(std::size_t r) const { return extents_[r]; }
  index_t stride(std::size_t r) const { return strides_[r]; }
  const extents_type& extents() const noexcept { return extents_; }
  const extents_type& strides() const noexcept { return strides_; }

  /// The number of elements, the product of the extents.
  index_t size() const {
    index_t n = 1;
    for (index_t e : extents_) n *= e;
    return n;
  }
  bool empty() const { return size() == 0; }

  /// True when the strides are those of the contiguous row-major layout of the extents.
  bool is_contiguous() const {
    index_t expected = 1;
    for (std::size_t r = Rank; r-- > 0;) {
      if (extents_[r] != 1 && strides_[r] != expected) return false;
      expected *= extents_[r];
    }
    return true;
  }

  /// The offset in elements of an index tuple from data().
  template <class... I>
    requires(sizeof...(I) == Rank && (std::is_integral_v<I> && ...))
  index_t offset(I... i) const {
    const std::array<index_t, Rank> idx{static_cast<index_t>(i)...};
    index_t off = 0;
    for (std::size_t r = 0; r < Rank; ++r) {
      assert(idx[r] >= 0 && idx[r] < extents_[r] && "tensor_view index out of bounds");
      off += idx[r] * strides_[r];
    }
    return off;
  }

  template <class... I>
    requires(sizeof...(I) == Rank && (std::is_integral_v<I> && ...))
  T& operator()(I... i) const {
    return data_[offset(i...)];
  }

 private:
  void check_extents() const {
    for (std::size_t r = 0; r < Rank; ++r)
      detail::require(extents_[r] >= 0, "tensor_view", "extents[" + std::to_string(r) + "]",
                      ">= 0", extents_[r]);
  }

  T* data_ = nullptr;
  extents_type extents_{};
  extents_type strides_{};
};

/// The view `view` seen with extents `extents`: each dimension must already have that extent or
/// extent 1, which is then broadcast (stride 0). Throws attnkit::error naming `argument` otherwise.
template <class T, std::size_t Rank>
tensor_view<T, Rank> broadcast_to(const tensor_view<T, Rank>& view,
                                  const std::array<index_t, Rank>& extents,
                                  std::string_view argument = "view") {
  std::array<index_t, Rank> strides = view.strides();
  for (std::size_t r = 0; r < Rank; ++r) {
    if (view.extent(r) == extents[r]) continue;
    detail::require(view.extent(r) == 1, "broadcast_to", argument,
                    "extent(" + std::to_string(r) + ") == " + std::to_string(extents[r]) + " or 1",
                    view.extent(r));
    strides[r] = 0;
  }
  return tensor_view<T, Rank>(view.data(), extents, strides);
}

}  // namespace attnkit
