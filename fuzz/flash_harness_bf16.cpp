// SPDX-License-Identifier: Apache-2.0
// The bf16 instantiation of the flash fuzz harness (one file per element type: each instantiates
// every kernel variant for every compiled arch, and separate files build in parallel).
#include "flash_harness.hpp"

namespace attnkit::fuzz {
template void run_case<bf16>(const flash_case&, byte_source&);
}  // namespace attnkit::fuzz
