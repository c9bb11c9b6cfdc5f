// SPDX-License-Identifier: Apache-2.0
// routing_options: the options of routing_attention (k-means clusters of queries and keys).
#pragma once

#include <cstdint>

#include <attnkit/core/tensor_view.hpp>

namespace attnkit {

/// Options of routing_attention and routing_clusters (Routing Transformer, arXiv 2003.05997).
/// Each (batch, query head) clusters its Sq queries and Sk keys together with seeded spherical
/// k-means; a query attends exactly to the keys of its own cluster.
struct routing_options {
  index_t clusters = 16;      ///< k of k-means, >= 1 (1: exact attention)
  index_t iterations = 4;     ///< Lloyd updates after the seeded initialisation, >= 0
  std::uint64_t seed = 0;     ///< picks the initial centroids
  bool causal = false;        ///< also only keys j <= i + Sk - Sq (bottom-right, as the exact module)
  float scale = 0.0f;         ///< 0: 1 / sqrt(D)
};

}  // namespace attnkit
