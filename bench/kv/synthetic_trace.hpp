// SPDX-License-Identifier: Apache-2.0
// bench::synthetic_trace, the structured keys, values and queries on which the eviction-quality
// evaluation compares the kv policies (attention sinks, local windows, heavy hitters, topics).
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

#include <attnkit/core/tensor_view.hpp>

#include "support/normal_source.hpp"

namespace attnkit::bench {

/// One sequence of L prefill tokens over Hkv = 4 kv heads (Hq = 8 query heads, GQA groups of 2,
/// D = Dv = 64) and T evaluation queries after it, built from one seed.
///
/// The trace. Channels of each 64-wide key and query:
///   0        the sink channel;
///   1 .. 32  a rotary-style positional code (16 pairs);
///   33 .. 63 the content subspace (31 channels): topics, heavy-hitter directions, noise.
/// Every strength below is in logits (the kernel's scale 1 / sqrt(64) included), so a mix reads
/// as "how much more a query wants this key than a plain one":
/// - Attention sinks: keys 0 .. 3 hold 2 in channel 0 and every query 4 sink, so a sink's
///   logit rises by `sink` (0.125 x 2 x 4 sink); the sink keys carry nothing else, so their norm is
///   the smallest of the head (as Devoto et al. observe of real sinks, which knorm relies on).
/// - Local windows: query i and key j hold a * (cos, sin)(theta_m * position) in pair m,
///   theta_m = 64^(-m / 15), a^2 = local / 2, so their logit rises by
///   local * mean_m cos(theta_m (i - j)): local at distance 0, about half at 4, a fifth at 16,
///   within +-0.2 of zero beyond 64.
/// - Heavy hitters: 8 positions drawn in [8, L - 64) hold sqrt(8 heavy) times one of two
///   content directions (alternately) in place of the key noise, so their norm stays near a
///   plain key's; each query, prefill and evaluation alike, holds each direction with
///   probability 1/2 at the same size, so it raises the 4 hitters of that direction by `heavy`.
///   A statistic from one query (last) misses the hitters that query happened not to want.
/// - Topics: the L tokens form 8 segments of L / 8; segment g has a topic vector t_g and its keys
///   hold sqrt(8 topic) t_g. A prefill query holds the topic of its own segment; an evaluation
///   query holds sqrt(8 topic) ((1 - recall) t_7 + recall t_r), r = 1 + h for kv head h: the
///   decode shifts partly back to an earlier topic, which the statistics of the prefill's last
///   queries (window, last) do not see and the accumulated ones see only from that segment.
/// - Noise: keys add key_noise x N(0, 1) on the content channels, queries N(0, 1); values are
///   N(0, 1) on every channel. Each query head draws its own noise and heavy-hitter choice.
/// Directions are drawn per kv head (unit vectors in the content subspace). The four heads mix
/// the parts differently (`kMixes`), so the policies differ:
///   head 0  sinks and a sharp local window: StreamingLLM's case;
///   head 1  heavy hitters over a weaker window: H2O's case;
///   head 2  strong topics, the decode recalling segment 3 (of 0 .. 7) at 0.6: the prefill
///           statistics mislead;
///   head 3  every part weak and noisier keys: diffuse attention, no policy has an edge.
/// The T evaluation queries are independent draws of the next token's query, all at position
/// L, after every cached token.
struct synthetic_trace {
  static constexpr index_t kL = 1024;  ///< prefill tokens, all cached
  static constexpr index_t kT = 32;    ///< evaluation queries per query head
  static constexpr index_t kHkv = 4;
  static constexpr index_t kHq = 8;
  static constexpr index_t kD = 64;
  static constexpr index_t kDv = 64;
  static constexpr index_t kSinks = 4;
  static constexpr index_t kHeavyHitters = 8;
  static constexpr index_t kSegments = 8;

  /// A kv head's structure, strengths in logits (see above); key_noise is a standard deviation.
  struct head_mix {
    float sink, local, heavy, topic, recall, key_noise;
  };
  static constexpr std::array<head_mix, kHkv> kMixes{{
      {6.0f, 8.0f, 0.0f, 1.0f, 0.0f, 0.7f},
      {3.0f, 3.0f, 8.0f, 1.0f, 0.2f, 0.7f},
      {2.0f, 3.0f, 2.0f, 5.0f, 0.6f, 0.7f},
      {1.0f, 2.0f, 2.0f, 2.0f, 0.4f, 1.2f},
  }};

  std::vector<float> k;          ///< [L, Hkv, D], the layout kv_cache::append takes
  std::vector<float> v;          ///< [L, Hkv, Dv]
  std::vector<float> q_prefill;  ///< [L, Hq, D]: query i at position i
  std::vector<float> q_eval;     ///< [T, Hq, D]: every query at position L

  /// Keys of tokens [first, first + n), [n, Hkv, D].
  tensor_view<const float, 3> keys(index_t first, index_t n) const {
    return {k.data() + first * kHkv * kD, {n, kHkv, kD}};
  }
  /// Values of tokens [first, first + n), [n, Hkv, Dv].
  tensor_view<const float, 3> values(index_t first, index_t n) const {
    return {v.data() + first * kHkv * kDv, {n, kHkv, kDv}};
  }
  /// Prefill queries [first, first + n) as [1, n, Hq, D].
  tensor_view<const float, 4> prefill_queries(index_t first, index_t n) const {
    return {q_prefill.data() + first * kHq * kD, {1, n, kHq, kD}};
  }
  /// Every evaluation query, [1, T, Hq, D].
  tensor_view<const float, 4> eval_queries() const { return {q_eval.data(), {1, kT, kHq, kD}}; }

  /// The trace of `seed` (see the struct's comment).
  static synthetic_trace make(std::uint64_t seed) {
    constexpr index_t kContent = 33, kContentDim = kD - kContent, kPairs = 16;
    constexpr float kSinkKey = 2.0f;  // the sink keys' channel 0
    constexpr float kScale = 0.125f;  // 1 / sqrt(D)
    constexpr index_t kSegmentLength = kL / kSegments;
    normal_source rng(seed);
    synthetic_trace t;
    t.k.assign(static_cast<std::size_t>(kL * kHkv * kD), 0.0f);
    t.v.resize(static_cast<std::size_t>(kL * kHkv * kDv));
    t.q_prefill.assign(static_cast<std::size_t>(kL * kHq * kD), 0.0f);
    t.q_eval.assign(static_cast<std::size_t>(kT * kHq * kD), 0.0f);
    for (float& x : t.v) x = static_cast<float>(rng.normal());

    const auto unit_content = [&] {  // a random unit vector of the content subspace
      std::array<double, kContentDim> u{};
      double norm2 = 0.0;
      for (double& x : u) {
        x = rng.normal();
        norm2 += x * x;
      }
      for (double& x : u) x /= std::sqrt(norm2);
      return u;
    };
    const auto add_content = [](float* row, const std::array<double, kContentDim>& u, double c) {
      for (index_t d = 0; d < kContentDim; ++d)
        row[kContent + d] += static_cast<float>(c * u[static_cast<std::size_t>(d)]);
    };
    const auto add_position = [](float* row, double a, double position) {
      for (index_t m = 0; m < kPairs; ++m) {
        const double theta = std::pow(64.0, -static_cast<double>(m) / (kPairs - 1));
        row[1 + 2 * m] += static_cast<float>(a * std::cos(theta * position));
        row[2 + 2 * m] += static_cast<float>(a * std::sin(theta * position));
      }
    };

    for (index_t h = 0; h < kHkv; ++h) {
      const head_mix& mix = kMixes[static_cast<std::size_t>(h)];
      const double a = std::sqrt(mix.local / 2.0);
      const double heavy = std::sqrt(8.0 * mix.heavy), topic = std::sqrt(8.0 * mix.topic);
      const double sink_query = mix.sink / (kScale * kSinkKey);
      const std::array<std::array<double, kContentDim>, 2> heavy_dirs{unit_content(),
                                                                      unit_content()};
      std::array<std::array<double, kContentDim>, kSegments> topics;
      for (auto& u : topics) u = unit_content();
      std::vector<bool> hitter(static_cast<std::size_t>(kL), false);
      std::vector<int> hitter_dir(static_cast<std::size_t>(kL), 0);
      for (index_t n = 0; n < kHeavyHitters;) {
        const auto p = static_cast<std::size_t>(8 + rng.below(kL - 64 - 8));
        if (hitter[p] || p < kSinks) continue;
        hitter[p] = true;
        hitter_dir[p] = static_cast<int>(n++ % 2);
      }

      for (index_t j = 0; j < kL; ++j) {  // keys
        float* row = &t.k[static_cast<std::size_t>((j * kHkv + h) * kD)];
        if (j < kSinks) {
          row[0] = kSinkKey;
          continue;
        }
        add_position(row, a, static_cast<double>(j));
        add_content(row, topics[static_cast<std::size_t>(j / kSegmentLength)], topic);
        if (hitter[static_cast<std::size_t>(j)]) {  // the direction in place of the noise
          add_content(row,
                      heavy_dirs[static_cast<std::size_t>(hitter_dir[static_cast<std::size_t>(j)])],
                      heavy);
          continue;
        }
        for (index_t d = kContent; d < kD; ++d)
          row[d] += static_cast<float>(mix.key_noise * rng.normal());
      }

      // Queries of this kv head's group: the shared structure, each head's own draws.
      const auto fill_query = [&](float* row, double position,
                                  const std::array<double, kContentDim>& topic_vector) {
        row[0] = static_cast<float>(sink_query);
        add_position(row, a, position);
        add_content(row, topic_vector, topic);
        for (const auto& dir : heavy_dirs)
          if (rng.uniform() < 0.5) add_content(row, dir, heavy);
        for (index_t d = kContent; d < kD; ++d) row[d] += static_cast<float>(rng.normal());
      };
      std::array<double, kContentDim> recall_topic{};
      const auto& current = topics[kSegments - 1];
      const auto& earlier = topics[static_cast<std::size_t>(1 + h)];
      for (std::size_t d = 0; d < recall_topic.size(); ++d)
        recall_topic[d] = (1.0 - mix.recall) * current[d] + mix.recall * earlier[d];
      for (index_t g = 0; g < kHq / kHkv; ++g) {
        const index_t hq = h * (kHq / kHkv) + g;
        for (index_t i = 0; i < kL; ++i)
          fill_query(&t.q_prefill[static_cast<std::size_t>((i * kHq + hq) * kD)],
                     static_cast<double>(i), topics[static_cast<std::size_t>(i / kSegmentLength)]);
        for (index_t i = 0; i < kT; ++i)
          fill_query(&t.q_eval[static_cast<std::size_t>((i * kHq + hq) * kD)],
                     static_cast<double>(kL), recall_topic);
      }
    }
    return t;
  }
};

}  // namespace attnkit::bench
