#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds attnkit's benchmarks and runs the short default suite, printing one table of rates,
# fractions of this machine's measured limits and speed-ups over the baselines (the README's
# benchmark command), then the two quality evaluations, which write their tables and plots to
# build/bench/: KV eviction (eviction_quality.md, .svg) and sparse / low-rank attention
# (sparse_quality.md, .svg; about a minute). Extra arguments go to the benchmark binary (for
# example --full, or --report_md=report.md). Exits with the suite's status when it fails, else
# with the first failing evaluation's.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
attnkit_require_packages
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
cmake --preset bench
cmake --build --preset bench
status=0
build/bench/bench/attnkit_bench "$@" || status=$?
evaluation=0
build/bench/bench/attnkit_eviction_quality --md build/bench/eviction_quality.md \
  --svg build/bench/eviction_quality.svg || evaluation=$?
sparse=0
build/bench/bench/attnkit_sparse_quality --md build/bench/sparse_quality.md \
  --svg build/bench/sparse_quality.svg || sparse=$?
[[ $evaluation != 0 ]] || evaluation=$sparse
exit $((status != 0 ? status : evaluation))
