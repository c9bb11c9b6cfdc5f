// SPDX-License-Identifier: Apache-2.0
// The libFuzzer entry point of the flash_attention differential fuzzer (see README.md).
#include <cstddef>
#include <cstdint>

#include "flash_harness.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  attnkit::fuzz::check_flash(data, size);
  return 0;
}
