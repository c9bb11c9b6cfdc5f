// SPDX-License-Identifier: Apache-2.0
// The low-rank module: Performer (FAVOR+), Linformer, Nyström and Scatterbrain attention, their
// options, sparse supports and double-precision references.
#pragma once

#include <attnkit/lowrank/linformer_attention.hpp>
#include <attnkit/lowrank/linformer_options.hpp>
#include <attnkit/lowrank/local_band_support.hpp>
#include <attnkit/lowrank/nystrom_attention.hpp>
#include <attnkit/lowrank/nystrom_options.hpp>
#include <attnkit/lowrank/performer_attention.hpp>
#include <attnkit/lowrank/performer_options.hpp>
#include <attnkit/lowrank/reference.hpp>
#include <attnkit/lowrank/scatterbrain_attention.hpp>
#include <attnkit/lowrank/scatterbrain_options.hpp>
#include <attnkit/lowrank/sparse_support.hpp>
