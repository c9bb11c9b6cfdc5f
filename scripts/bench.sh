#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds attnkit's benchmarks and runs the short default suite, printing one table of rates,
# fractions of this machine's measured limits and speed-ups over the baselines (the README's
# benchmark command). Extra arguments go to the benchmark binary (for example --full, or
# --report_md=report.md).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
attnkit_require_packages
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
cmake --preset bench
cmake --build --preset bench
exec build/bench/bench/attnkit_bench "$@"
