// SPDX-License-Identifier: Apache-2.0
// detail::favor_attention: the FAVOR+ pipeline shared by performer_attention and
// scatterbrain_attention: stabilised features of every query and key row, then linear_attention
// over them.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include <attnkit/core/aligned_buffer.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/core/threads.hpp>
#include <attnkit/exact/arguments.hpp>
#include <attnkit/linear/linear_attention.hpp>
#include <attnkit/lowrank/favor_features.hpp>

namespace attnkit::detail {

/// The features of one call. T = max(Sq, Sk) rows per sequence (linear_attention takes queries
/// and keys of one length): rows past Sq (queries) or Sk (keys) are zero and add nothing.
struct favor_tensors {
  index_t T = 0, m = 0;
  std::vector<float> fq;          ///< [B, T, Hq, m] stabilised query features
  std::vector<float> fk;          ///< [B, T, Hkv, m] stabilised key features
  std::vector<float> log_factor;  ///< [B, Hq, Sq]: a(q) - |q'|^2 / 2 (see favor_features)
  std::vector<float> key_shift;   ///< [B, Hkv]: g
};

/// Features of q and k (one task per (batch, head) of each), in parallel.
template <class Arch>
favor_tensors favor_compute(const attention_problem& p, tensor_view<const float, 4> q,
                            tensor_view<const float, 4> k, const favor_features<Arch>& map) {
  favor_tensors t;
  t.T = std::max(p.Sq, p.Sk);
  t.m = map.features();
  t.fq.assign(std::size_t(p.B * t.T * p.Hq * t.m), 0.0f);
  t.fk.assign(std::size_t(p.B * t.T * p.Hkv * t.m), 0.0f);
  t.log_factor.assign(std::size_t(p.B * p.Hq * p.Sq), 0.0f);
  t.key_shift.assign(std::size_t(p.B * p.Hkv), 0.0f);
  std::vector<aligned_buffer<float>> scratch(std::size_t(std::max(1, get_num_threads())));
  const index_t query_tasks = p.B * p.Hq, tasks = query_tasks + p.B * p.Hkv;
  parallel_for(tasks, [&](index_t task, int slot) {
    aligned_buffer<float>& s = scratch[std::size_t(slot)];
    if (s.size() == 0) s = aligned_buffer<float>(map.scratch_size());
    if (task < query_tasks) {
      const index_t b = task / p.Hq, h = task % p.Hq;
      map.query_rows(p.Sq, q.data() + b * q.stride(0) + h * q.stride(2), q.stride(1), &t.fq[std::size_t(((b * t.T) * p.Hq + h) * t.m)],
                     p.Hq * t.m, &t.log_factor[std::size_t((b * p.Hq + h) * p.Sq)], s.data());
    } else {
      const index_t b = (task - query_tasks) / p.Hkv, h = (task - query_tasks) % p.Hkv;
      t.key_shift[std::size_t(b * p.Hkv + h)] =
          map.key_rows(p.Sk, k.data() + b * k.stride(0) + h * k.stride(2), k.stride(1),
                       &t.fk[std::size_t(((b * t.T) * p.Hkv + h) * t.m)], p.Hkv * t.m, s.data());
    }
  });
  return t;
}

/// out_i = sum_j (fq_i . fk_j) v_j over every key (causal: j <= i), divided by sum_j fq_i . fk_j
/// when `normalize`: linear_attention (scale 1) over the features, once per position of a query
/// head in its GQA group (each call covers every kv head with the matching query heads).
/// @pre v [B, T, Hkv, Dv'] and out [B, T, Hq, Dv'] with T = t.T rows, unit innermost strides.
template <class Arch>
void favor_linear(const attention_problem& p, favor_tensors& t, tensor_view<const float, 4> v,
                  tensor_view<float, 4> out, bool causal, bool normalize) {
  linear_options opt;
  opt.scale = 1.0f;
  opt.causal = causal;
  opt.normalize = normalize;
  const index_t G = p.Hq / p.Hkv, Dv = v.extent(3);
  for (index_t r = 0; r < G; ++r) {  // query heads r, G + r, 2 G + r, ...: one per kv head
    const tensor_view<const float, 4> fq(t.fq.data() + r * t.m, {p.B, t.T, p.Hkv, t.m},
                                         {t.T * p.Hq * t.m, p.Hq * t.m, G * t.m, 1});
    const tensor_view<const float, 4> fk(t.fk.data(), {p.B, t.T, p.Hkv, t.m});
    const tensor_view<float, 4> o(out.data() + r * out.stride(2), {p.B, t.T, p.Hkv, Dv},
                                  {out.stride(0), out.stride(1), G * out.stride(2), 1});
    linear_attention<Arch>(fq, fk, v, o, opt);
  }
}

}  // namespace attnkit::detail
