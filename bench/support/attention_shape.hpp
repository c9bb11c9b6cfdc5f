// SPDX-License-Identifier: Apache-2.0
// attention_shape: the sizes of an exact-attention benchmark, its label, its work and its spec.
#pragma once

#include <sstream>
#include <string>
#include <utility>

#include <attnkit/exact/options.hpp>

#include "support/benchmark_spec.hpp"
#include <attnkit/mask/key_range.hpp>

namespace attnkit::bench {

/// One exact-attention problem, fp32, [B, S, H, D] layout, Dv = D.
struct attention_shape {
  index_t B = 1, Hq = 1, Hkv = 1, Sq = 1, Sk = 1, D = 64;
  bool causal = false;  ///< bottom-right aligned

  attention_options options() const {
    attention_options opt;
    opt.causal = causal;
    return opt;
  }

  /// (query, key) pairs the mask lets through, summed over batches and query heads.
  double visible_pairs() const {
    const mask::key_range keys(options(), Sq, Sk);
    double pairs = 0;
    for (index_t i = 0; i < Sq; ++i) pairs += double(std::max<index_t>(keys.end(i) - keys.begin(i), 0));
    return pairs * double(B * Hq);
  }

  /// 2 D flops for each q.k and 2 D for each p v over the visible pairs: 4 B Hq Sq Sk D without
  /// a mask (DESIGN 5). Kernels that compute masked pairs anyway get no credit for them.
  double flops() const { return 4.0 * double(D) * visible_pairs(); }

  /// The compulsory traffic: q, k, v read and out written once.
  double bytes() const {
    return double(sizeof(float)) * double(D) * double(2 * B * Sq * Hq + 2 * B * Sk * Hkv);
  }

  /// "B1 H8 N512 D64 causal"; GQA as "H8:2" (query:kv heads), Sq != Sk as "Sq1 Sk4096".
  std::string label() const {
    std::ostringstream s;
    s << 'B' << B << " H" << Hq;
    if (Hkv != Hq) s << ':' << Hkv;
    if (Sq == Sk) s << " N" << Sq;
    else s << " Sq" << Sq << " Sk" << Sk;
    s << " D" << D << (causal ? " causal" : "");
    return s.str();
  }

  /// The spec of `variant` at this shape in family "exact", bound by the FMA peak.
  benchmark_spec spec(std::string variant, int threads, std::string baseline = {}) const {
    return {.family = "exact",
            .variant = std::move(variant),
            .shape = label(),
            .threads = threads,
            .flops = flops(),
            .bytes = bytes(),
            .limit = limit_kind::compute,
            .baseline = std::move(baseline)};
  }
};

}  // namespace attnkit::bench
