#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds and runs every test of attnkit (unit, header, package and example tests): the README's
# test command, which .ci/run calls. Extra arguments go to ctest (for example -R exact).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
attnkit_require_packages
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
cmake --preset tests
cmake --build --preset tests
ctest --preset tests -j "$(nproc)" "$@"
