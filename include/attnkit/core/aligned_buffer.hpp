// SPDX-License-Identifier: Apache-2.0
// detail::aligned_buffer, the 64-byte aligned scratch array kernels allocate once per call and thread.
#pragma once

#include <cstddef>
#include <memory>
#include <new>

namespace attnkit::detail {

/// An owning, uninitialised array of `n` T aligned to a cache line (so aligned SIMD loads work
/// for every arch up to AVX-512).
template <class T>
class aligned_buffer {
 public:
  static constexpr std::size_t kAlignment = 64;

  aligned_buffer() = default;
  explicit aligned_buffer(std::size_t n)
      : data_(n == 0 ? nullptr
                     : static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(kAlignment)))),
        size_(n) {}

  T* data() const noexcept { return data_.get(); }
  std::size_t size() const noexcept { return size_; }
  T& operator[](std::size_t i) const noexcept { return data_[i]; }

 private:
  struct deleter {
    void operator()(T* p) const noexcept { ::operator delete(p, std::align_val_t(kAlignment)); }
  };
  std::unique_ptr<T[], deleter> data_;
  std::size_t size_ = 0;
};

}  // namespace attnkit::detail
