// SPDX-License-Identifier: Apache-2.0
// The sparse-attention module: block-sparse attention on the exact driver with its layout
// builders, top-k and SEA, ProbSparse, routing, LSH and landmark retrieval, their options and
// double-precision references.
#pragma once

#include <attnkit/sparse/bigbird_layout.hpp>
#include <attnkit/sparse/block_grid.hpp>
#include <attnkit/sparse/block_layout.hpp>
#include <attnkit/sparse/block_layout_storage.hpp>
#include <attnkit/sparse/block_sparse_attention.hpp>
#include <attnkit/sparse/landmark_attention.hpp>
#include <attnkit/sparse/landmark_blocks.hpp>
#include <attnkit/sparse/landmark_options.hpp>
#include <attnkit/sparse/landmark_summaries.hpp>
#include <attnkit/sparse/local_band_layout.hpp>
#include <attnkit/sparse/longformer_layout.hpp>
#include <attnkit/sparse/lsh_attention.hpp>
#include <attnkit/sparse/lsh_buckets.hpp>
#include <attnkit/sparse/lsh_options.hpp>
#include <attnkit/sparse/probsparse_attention.hpp>
#include <attnkit/sparse/probsparse_options.hpp>
#include <attnkit/sparse/reference_block_sparse.hpp>
#include <attnkit/sparse/reference_probsparse.hpp>
#include <attnkit/sparse/reference_retrieval.hpp>
#include <attnkit/sparse/reference_topk.hpp>
#include <attnkit/sparse/routing_attention.hpp>
#include <attnkit/sparse/routing_clusters.hpp>
#include <attnkit/sparse/routing_options.hpp>
#include <attnkit/sparse/sea_attention.hpp>
#include <attnkit/sparse/sea_options.hpp>
#include <attnkit/sparse/strided_layout.hpp>
#include <attnkit/sparse/topk_attention.hpp>
