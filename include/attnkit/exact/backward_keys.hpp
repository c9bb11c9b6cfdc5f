// SPDX-License-Identifier: Apache-2.0
// detail::backward_keys: the key side of the flash backward, one block of K and V rows copied
// to fp32 tiles, with the dK and dV accumulators of that block.
#pragma once

#include <algorithm>
#include <cstring>

#include <attnkit/core/aligned_buffer.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/exact/backward_queries.hpp>
#include <attnkit/tile/pack.hpp>

namespace attnkit::detail {

/// Up to kBlockK keys of one kv head: K [n x ldk()] (the A operand of Sᵀ = K Qsᵀ and the B
/// operand of dQ += dS K, so its rows are padded to whole panels with zeros), V [n x Dv], and
/// the fp32 sums dK [kBlockK x ldk()] (scale included, through Qs) and dV [kBlockK x ldv()].
template <class Arch, index_t kBlockK, index_t kCols>
class backward_keys {
 public:
  backward_keys(index_t D, index_t Dv)
      : D_(D), Dv_(Dv), ldk_(panel_ld<kCols>(D)), ldv_(panel_ld<kCols>(Dv)), k_(kBlockK * ldk_),
        v_(kBlockK * Dv), dk_(kBlockK * ldk_), dv_(kBlockK * ldv_) {}

  index_t ldk() const noexcept { return ldk_; }
  index_t ldv() const noexcept { return ldv_; }
  const float* k(index_t row) const { return k_.data() + row * ldk_; }
  const float* v(index_t row) const { return v_.data() + row * Dv_; }
  float* dk(index_t row) { return dk_.data() + row * ldk_; }
  float* dv(index_t row) { return dv_.data() + row * ldv_; }
  /// Whether every K and V value of the block is finite.
  bool finite() const noexcept { return finite_; }

  /// Copies rows [j0, j1) of k, v ([1, S, H, D] views, kv head hk) and zeroes the sums.
  template <class T>
  void load(const tensor_view<const T, 4>& k, const tensor_view<const T, 4>& v, index_t hk,
            index_t j0, index_t j1) {
    const index_t n = j1 - j0;
    finite_ = tile::copy_rows<Arch>(&k(0, j0, hk, 0), k.stride(1), n, D_, k_.data(), ldk_, n);
    finite_ = tile::copy_rows<Arch>(&v(0, j0, hk, 0), v.stride(1), n, Dv_, v_.data(), Dv_, n) &&
              finite_;
    std::memset(static_cast<void*>(dk_.data()), 0, std::size_t(n * ldk_) * sizeof(float));
    std::memset(static_cast<void*>(dv_.data()), 0, std::size_t(n * ldv_) * sizeof(float));
  }

  /// Writes the sums of rows [j0, j1) to dk and dv ([1, S, Hkv, D] views, kv head hk).
  template <class T>
  void store(const tensor_view<T, 4>& dk, const tensor_view<T, 4>& dv, index_t hk, index_t j0,
             index_t j1) const {
    for (index_t j = j0; j < j1; ++j) {
      const float* gk = dk_.data() + (j - j0) * ldk_;
      const float* gv = dv_.data() + (j - j0) * ldv_;
      T* k_row = &dk(0, j, hk, 0);
      T* v_row = &dv(0, j, hk, 0);
      for (index_t d = 0; d < D_; ++d) k_row[d] = T(gk[d]);
      for (index_t d = 0; d < Dv_; ++d) v_row[d] = T(gv[d]);
    }
  }

 private:
  index_t D_, Dv_, ldk_, ldv_;
  bool finite_ = true;
  aligned_buffer<float> k_, v_, dk_, dv_;
};

}  // namespace attnkit::detail
