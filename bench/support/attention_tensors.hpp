// SPDX-License-Identifier: Apache-2.0
// attention_tensors: random q, k, v and an output buffer for one attention_shape.
#pragma once

#include <array>
#include <cstdint>
#include <random>
#include <vector>

#include <attnkit/core/tensor_view.hpp>

#include "support/attention_shape.hpp"

namespace attnkit::bench {

/// Contiguous [B, S, H, D] tensors of element type T: q, k, v uniform in [-1, 1], out zero.
template <class T = float>
class attention_tensors {
 public:
  explicit attention_tensors(const attention_shape& shape, std::uint32_t seed = 1)
      : q_extents_{shape.B, shape.Sq, shape.Hq, shape.D},
        kv_extents_{shape.B, shape.Sk, shape.Hkv, shape.D},
        q_(random(shape.B * shape.Sq * shape.Hq * shape.D, seed)),
        k_(random(shape.B * shape.Sk * shape.Hkv * shape.D, seed + 1)),
        v_(random(shape.B * shape.Sk * shape.Hkv * shape.D, seed + 2)),
        out_(q_.size(), T(0.0f)) {}

  tensor_view<const T, 4> q() const { return {q_.data(), q_extents_}; }
  tensor_view<const T, 4> k() const { return {k_.data(), kv_extents_}; }
  tensor_view<const T, 4> v() const { return {v_.data(), kv_extents_}; }
  tensor_view<T, 4> out() { return {out_.data(), q_extents_}; }

 private:
  // minstd: a few ns per value, so the setup Google Benchmark repeats per run stays cheap.
  static std::vector<T> random(index_t n, std::uint32_t seed) {
    std::minstd_rand rng(seed);
    std::vector<T> values;
    values.reserve(static_cast<std::size_t>(n));
    for (index_t i = 0; i < n; ++i)
      values.push_back(T(float(rng()) * (2.0f / float(std::minstd_rand::max())) - 1.0f));
    return values;
  }

  std::array<index_t, 4> q_extents_, kv_extents_;
  std::vector<T> q_, k_, v_, out_;
};

}  // namespace attnkit::bench
