// SPDX-License-Identifier: Apache-2.0
// eigen_attention: Eigen maps over the strided heads, two GEMMs, an Eigen-vectorised softmax.
#include "support/eigen_attention.hpp"

#include <Eigen/Core>

#include <attnkit/core/threads.hpp>
#include <attnkit/exact/arguments.hpp>

#include <attnkit/mask/key_range.hpp>

namespace attnkit::bench {
namespace {

using row_major = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
// One head of a [B, S, H, D] tensor: S rows of D floats, H * D apart.
using head_map = Eigen::Map<row_major, Eigen::Unaligned, Eigen::OuterStride<>>;
using const_head_map = Eigen::Map<const row_major, Eigen::Unaligned, Eigen::OuterStride<>>;

template <class Map, class T>
Map head(const tensor_view<T, 4>& x, index_t b, index_t h) {
  return Map(x.data() + b * x.stride(0) + h * x.stride(2), x.extent(1), x.extent(3),
             Eigen::OuterStride<>(x.stride(1)));
}

}  // namespace

void eigen_attention::operator()(tensor_view<const float, 4> q, tensor_view<const float, 4> k,
                                 tensor_view<const float, 4> v, tensor_view<float, 4> out,
                                 const attention_options& opt) {
  constexpr auto where = "bench::eigen_attention";
  const auto p =
      attnkit::detail::check_attention(where, q, k, v, out, opt, tensor_view<float, 3>{});
  attnkit::detail::require(opt.softcap == 0.0f && opt.bias.empty() && opt.alibi_slopes.empty() &&
                               opt.sinks.empty(),
                           where, "opt", "no softcap, bias, ALiBi or sinks (the naive baseline "
                           "masks only)", "one of them set");
  scores_.resize(static_cast<std::size_t>(get_num_threads()));
  const mask::key_range range(opt, p.Sq, p.Sk);
  parallel_for(p.B * p.Hq, [&](index_t task, int slot) {
    const index_t b = task / p.Hq, h = task % p.Hq, hk = h / (p.Hq / p.Hkv);
    auto& buffer = scores_[static_cast<std::size_t>(slot)];
    buffer.resize(static_cast<std::size_t>(p.Sq * p.Sk));
    Eigen::Map<row_major> s(buffer.data(), p.Sq, p.Sk);  // S, then P: [Sq x Sk]
    s.noalias() =
        p.scale * (head<const_head_map>(q, b, h) * head<const_head_map>(k, b, hk).transpose());
    for (index_t i = 0; i < p.Sq; ++i) {
      auto row = s.row(i);
      const index_t lo = range.begin(i), hi = std::max(range.end(i), lo);
      // Weight 0 outside the visible range is what exp(-inf) would give, without the exps.
      row.head(lo).setZero();
      row.tail(p.Sk - hi).setZero();
      if (lo == hi) continue;
      auto z = row.segment(lo, hi - lo);
      z.array() = (z.array() - z.maxCoeff()).exp();
      z *= 1.0f / z.sum();
    }
    head<head_map>(out, b, h).noalias() = s * head<const_head_map>(v, b, hk);
  });
}

}  // namespace attnkit::bench
