// SPDX-License-Identifier: Apache-2.0
// detail::query_block: the running state of one block of queries in the transposed flash kernel
// (Qᵀ in, online-softmax state, Oᵀ accumulators), from packing the queries to storing out and lse.
#pragma once

#include <cstring>
#include <limits>

#include <attnkit/core/aligned_buffer.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/softmax/online_softmax.hpp>
#include <attnkit/tile/pack.hpp>

namespace attnkit::detail {

/// kBlockQ queries of one head, as column panels of kPanel queries: Qᵀ [D x kBlockQ] scaled,
/// the softmax state (m, l, alpha) and Oᵀ [Dv x kBlockQ], each panel contiguous.
template <class Arch, index_t kBlockQ, index_t kPanel>
class query_block {
 public:
  query_block(index_t D, index_t Dv)
      : D_(D), Dv_(Dv), qt_(D * kBlockQ), ot_(Dv * kBlockQ), m_(kBlockQ), l_(kBlockQ),
        alpha_(kBlockQ), o_scale_(kBlockQ) {}

  /// Takes queries q[0 .. nq) (rows `stride` elements apart), scaled: no key seen yet.
  template <class T>
  void start(const T* q, index_t stride, index_t nq, float scale) {
    nq_ = nq;
    tile::pack_transposed_panels<kPanel>(q, stride, nq, D_, scale, qt_.data(), kBlockQ);
    std::memset(static_cast<void*>(ot_.data()), 0, ot_.size() * sizeof(float));
    softmax().reset();
  }

  /// Qᵀ of the panel of queries [c, c + kPanel): D rows of kPanel floats.
  const float* q_panel(index_t c) const { return qt_.data() + c * D_; }
  /// Oᵀ of the panel: Dv rows of kPanel floats.
  float* o_panel(index_t c) { return ot_.data() + c * Dv_; }
  /// The online softmax of the panel; its alpha() is the correction for o_panel(c).
  softmax::online_softmax<Arch> panel_softmax(index_t c) {
    return {m_.data() + c, l_.data() + c, alpha_.data() + c, kPanel};
  }
  const float* alpha(index_t c) const { return alpha_.data() + c; }

  /// Writes out[i] = Oᵀ column i / l_i (rows `out_stride` apart) and, when lse is not null,
  /// lse[i * lse_stride]; `sink` (or -inf) joins each denominator.
  template <class T>
  void finish(float sink, T* out, index_t out_stride, float* lse, index_t lse_stride) {
    const auto sm = softmax();
    for (index_t c = 0; c < nq_; ++c) {
      float row_lse;
      o_scale_[static_cast<std::size_t>(c)] = sm.finish(c, &row_lse, sink);
      if (lse) lse[c * lse_stride] = row_lse;
    }
    tile::unpack_transposed_panels<kPanel>(ot_.data(), o_scale_.data(), nq_, Dv_, out, out_stride);
  }

 private:
  softmax::online_softmax<Arch> softmax() {
    return {m_.data(), l_.data(), alpha_.data(), kBlockQ};
  }

  index_t D_, Dv_, nq_ = 0;
  aligned_buffer<float> qt_, ot_, m_, l_, alpha_, o_scale_;
};

}  // namespace attnkit::detail
