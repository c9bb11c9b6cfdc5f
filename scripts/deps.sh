# SPDX-License-Identifier: Apache-2.0
# Sourced by scripts/test.sh and scripts/bench.sh: makes sure the Debian packages attnkit builds
# with are present, installing them when run as root and otherwise saying what to install.

attnkit_packages=(cmake g++ libxsimd-dev libeigen3-dev libgtest-dev libbenchmark-dev)
# The tests' extras (scripts/test.sh only): Open MPI for the ring-attention example.
attnkit_test_packages=(libopenmpi-dev openmpi-bin)

# attnkit_require_packages [EXTRA...]: attnkit_packages and the EXTRA packages.
attnkit_require_packages() {
  local wanted=("${attnkit_packages[@]}" "$@")
  if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "attnkit: not a Debian system; make sure these are installed: ${wanted[*]}" >&2
    return 0
  fi
  local missing=() pkg
  for pkg in "${wanted[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$pkg")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "attnkit: missing Debian packages: ${missing[*]}" >&2
    echo "Install them with:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "attnkit: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends "${missing[@]}" ||
    { apt-get update && apt-get install -y --no-install-recommends "${missing[@]}"; }
}
