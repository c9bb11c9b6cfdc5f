#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds and runs attnkit's tests in three stages, stopping at the first that fails: every test
# (unit, header, package, example; preset "tests"), the unit tests and examples under
# AddressSanitizer + UndefinedBehaviorSanitizer (preset "asan"), and the threaded tests under
# ThreadSanitizer (preset "tsan"). The README's test command, which .ci/run calls. Extra
# arguments go to every stage's ctest (for example -R exact); ATTNKIT_TEST_STAGES picks stages
# (for example ATTNKIT_TEST_STAGES=tests for the quick, unsanitized run); ATTNKIT_TEST_SWEEP=1
# also runs the exhaustive grids (label sweep) that the test presets leave out.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
attnkit_require_packages "${attnkit_test_packages[@]}"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"

stages=(${ATTNKIT_TEST_STAGES:-tests asan tsan})
# The test presets exclude the label sweep; a -LE on the command line replaces that exclusion
# (with one that matches no label).
sweep=()
if [[ "${ATTNKIT_TEST_SWEEP:-0}" == 1 ]]; then sweep=(-LE '^$'); fi
for stage in "${stages[@]}"; do
  case "$stage" in
    tests | asan | tsan) ;;
    *) echo "attnkit: unknown stage '$stage' in ATTNKIT_TEST_STAGES (tests, asan, tsan)" >&2; exit 2 ;;
  esac
done

# One stage is one preset: configure, build, test. The commands are chained with && because
# set -e does not apply inside the `if !` below.
run_stage() {
  local preset=$1
  shift
  cmake --preset "$preset" && cmake --build --preset "$preset" &&
    ctest --preset "$preset" -j "$(nproc)" ${sweep[@]+"${sweep[@]}"} "$@"
}

summary=()
for stage in "${stages[@]}"; do
  echo "==> attnkit: stage '$stage'"
  start=$SECONDS
  if ! run_stage "$stage" "$@"; then
    echo "attnkit: stage '$stage' FAILED after $((SECONDS - start)) s" \
         "(rerun it alone: ATTNKIT_TEST_STAGES=$stage ./scripts/test.sh)" >&2
    exit 1
  fi
  summary+=("$stage $((SECONDS - start)) s")
  echo "==> attnkit: stage '$stage' passed in $((SECONDS - start)) s"
done
echo "==> attnkit: all stages passed (${summary[*]/%/;})"
