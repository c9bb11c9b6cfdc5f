// SPDX-License-Identifier: Apache-2.0
// The argument checks of the low-rank entry points (DESIGN 1.4), shared by the kernels and the
// double references.
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <string_view>

#include <attnkit/core/error.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/exact/arguments.hpp>
#include <attnkit/lowrank/linformer_options.hpp>
#include <attnkit/lowrank/nystrom_options.hpp>
#include <attnkit/lowrank/performer_options.hpp>
#include <attnkit/lowrank/scatterbrain_options.hpp>

namespace attnkit::detail {

/// Checks q [B, Sq, Hq, D], k [B, Sk, Hkv, D], v [B, Sk, Hkv, Dv], out [B, Sq, Hq, Dv] (unit
/// innermost strides, Hq a multiple of Hkv), a finite scale and, when `causal`, Sq == Sk.
/// Returns the sizes with the resolved scale.
template <class TQ, class TK, class TV, class TO>
attention_problem check_lowrank(std::string_view where, const tensor_view<TQ, 4>& q,
                                const tensor_view<TK, 4>& k, const tensor_view<TV, 4>& v,
                                const tensor_view<TO, 4>& out, float scale, bool causal) {
  attention_problem p;
  check_qkvo<4>(where, p, q, k, v, out);
  p.B = q.extent(0);
  p.Sq = q.extent(1);
  p.Sk = k.extent(1);
  require(std::isfinite(scale), where, "opt.scale", "a finite value (0 for 1/sqrt(D))", scale);
  p.scale = scale != 0.0f ? scale : static_cast<float>(1.0 / std::sqrt(double(p.D)));
  if (causal)
    require(p.Sq == p.Sk, where, "q",
            "extent(1) == " + std::to_string(p.Sk) + " (the key length of k: causal needs Sq == Sk)",
            p.Sq);
  return p;
}

/// The random-feature count: at least 1, at most 65536 (the features of one row live in scratch).
inline void check_features(std::string_view where, index_t features) {
  require(features >= 1 && features <= 65536, where, "opt.features", "in [1, 65536]", features);
}

template <class TQ, class TK, class TV, class TO>
attention_problem check_performer(std::string_view where, const tensor_view<TQ, 4>& q,
                                  const tensor_view<TK, 4>& k, const tensor_view<TV, 4>& v,
                                  const tensor_view<TO, 4>& out, const performer_options& opt) {
  const auto p = check_lowrank(where, q, k, v, out, opt.scale, opt.causal);
  check_features(where, opt.features);
  return p;
}

template <class TQ, class TK, class TV, class TO>
attention_problem check_scatterbrain(std::string_view where, const tensor_view<TQ, 4>& q,
                                     const tensor_view<TK, 4>& k, const tensor_view<TV, 4>& v,
                                     const tensor_view<TO, 4>& out, const scatterbrain_options& opt) {
  const auto p = check_lowrank(where, q, k, v, out, opt.scale, opt.causal);
  check_features(where, opt.features);
  require(opt.window >= 0, where, "opt.window", ">= 0", opt.window);
  return p;
}

/// Linformer: e, f [k_proj, Sk] with k_proj >= 1 and unit innermost strides; not causal.
template <class TQ, class TK, class TV, class TE, class TO>
attention_problem check_linformer(std::string_view where, const tensor_view<TQ, 4>& q,
                                  const tensor_view<TK, 4>& k, const tensor_view<TV, 4>& v,
                                  const tensor_view<TE, 2>& e, const tensor_view<TE, 2>& f,
                                  const tensor_view<TO, 4>& out, const linformer_options& opt) {
  require(!opt.causal, where, "opt.causal",
          "false (Linformer projects the key axis, which mixes every key into every row)", "true");
  const auto p = check_lowrank(where, q, k, v, out, opt.scale, false);
  check_view(where, "e", e, true);
  check_view(where, "f", f, true);
  require(e.extent(0) >= 1, where, "e", "extent(0) >= 1 (the projected length k_proj)", e.extent(0));
  check_extent(where, "e", e, 1, p.Sk, "the key length of k");
  check_extent(where, "f", f, 0, e.extent(0), "the projected length of e");
  check_extent(where, "f", f, 1, p.Sk, "the key length of k");
  return p;
}

/// Nyström: not causal, landmarks in [1, min(Sq, Sk)] (any count when Sq or Sk is 0),
/// iterations >= 0.
template <class TQ, class TK, class TV, class TO>
attention_problem check_nystrom(std::string_view where, const tensor_view<TQ, 4>& q,
                                const tensor_view<TK, 4>& k, const tensor_view<TV, 4>& v,
                                const tensor_view<TO, 4>& out, const nystrom_options& opt) {
  require(!opt.causal, where, "opt.causal",
          "false (segment-mean landmarks average over future tokens)", "true");
  const auto p = check_lowrank(where, q, k, v, out, opt.scale, false);
  require(opt.landmarks >= 1, where, "opt.landmarks", ">= 1", opt.landmarks);
  if (p.Sq > 0 && p.Sk > 0)
    require(opt.landmarks <= std::min(p.Sq, p.Sk), where, "opt.landmarks",
            "<= " + std::to_string(std::min(p.Sq, p.Sk)) + " (min(Sq, Sk): one row per segment at least)",
            opt.landmarks);
  require(opt.iterations >= 0 && opt.iterations <= 1000, where, "opt.iterations", "in [0, 1000]",
          opt.iterations);
  return p;
}

}  // namespace attnkit::detail
