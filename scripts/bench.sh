#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds attnkit's benchmarks and runs the short default suite, printing one table of rates,
# fractions of this machine's measured limits and speed-ups over the baselines (the README's
# benchmark command), then the KV eviction-quality evaluation, which writes its table and plot to
# build/bench/eviction_quality.md and .svg. Extra arguments go to the benchmark binary (for
# example --full, or --report_md=report.md). Exits with the suite's status when it fails, else
# with the evaluation's.
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
exit $((status != 0 ? status : evaluation))
