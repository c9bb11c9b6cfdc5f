// SPDX-License-Identifier: Apache-2.0
// detail::kv_block: one block of K and V rows copied to contiguous fp32 tiles, with the next
// block's rows prefetched a slice at a time while this one computes.
#pragma once

#include <algorithm>

#include <attnkit/core/aligned_buffer.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/tile/pack.hpp>
#include <attnkit/tile/prefetch.hpp>

namespace attnkit::detail {

/// Up to kBlockK keys of one kv head: K [n x D] at k() and V [n x Dv] at v() with rows ldv()
/// apart. ldv pads the V rows to an odd number of cache lines when Dv is a multiple of 128
/// floats: the Oᵀ product walks 6 floats down every V row, and 512-byte rows would map the whole
/// block onto 8 of the 64 L1 sets.
template <class Arch, index_t kBlockK>
class kv_block {
 public:
  kv_block(index_t D, index_t Dv)
      : D_(D), Dv_(Dv), ldv_((Dv + kWidth - 1) / kWidth * kWidth + (Dv % 128 == 0 ? 16 : 0)),
        k_(kBlockK * D), v_(kBlockK * ldv_) {}

  const float* k(index_t row) const { return k_.data() + row * D_; }
  const float* v(index_t row) const { return v_.data() + row * ldv_; }
  index_t ldv() const noexcept { return ldv_; }
  /// Whether every V value of the block is finite: a NaN or infinity must not reach, through
  /// a zero weight, the queries that do not see its key.
  bool v_finite() const noexcept { return v_finite_; }

  /// Copies rows [j0, j1) of k, v ([1, S, H, D] views, kv head hk) and plans the prefetch of
  /// rows [j1, next_end), to be issued over `steps` calls of prefetch_step().
  template <class T>
  void load(const tensor_view<const T, 4>& k, const tensor_view<const T, 4>& v, index_t hk,
            index_t j0, index_t j1, index_t next_end, index_t steps) {
    const index_t n = j1 - j0;
    tile::copy_rows<Arch>(&k(0, j0, hk, 0), k.stride(1), n, D_, k_.data(), D_, n);
    v_finite_ = tile::copy_rows<Arch>(&v(0, j0, hk, 0), v.stride(1), n, Dv_, v_.data(), ldv_, n);
    const index_t next = std::max<index_t>(next_end - j1, 0);
    slice_ = (next + steps - 1) / std::max<index_t>(steps, 1);
    next_k_ = next_v_ = {};
    if (next == 0) return;
    const auto bytes = static_cast<index_t>(sizeof(T));
    next_k_ = {&k(0, j1, hk, 0), k.stride(1) * bytes, next, D_ * bytes};
    next_v_ = {&v(0, j1, hk, 0), v.stride(1) * bytes, next, Dv_ * bytes};
  }

  /// Prefetches the next slice of the next block's rows.
  void prefetch_step() {
    next_k_.step(slice_);
    next_v_.step(slice_);
  }
  /// Prefetches whatever of the next block is left.
  void prefetch_rest() {
    next_k_.finish();
    next_v_.finish();
  }

 private:
  static constexpr index_t kWidth = static_cast<index_t>(xsimd::batch<float, Arch>::size);
  index_t D_, Dv_, ldv_, slice_ = 0;
  bool v_finite_ = true;
  aligned_buffer<float> k_, v_;
  tile::row_prefetcher next_k_, next_v_;
};

}  // namespace attnkit::detail
