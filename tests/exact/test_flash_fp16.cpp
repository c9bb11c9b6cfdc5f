// SPDX-License-Identifier: Apache-2.0
// flash_attention with fp16 inputs and outputs on every compiled arch (a file of its own: each
// element type instantiates every kernel variant, and separate files build in parallel).
#include <gtest/gtest.h>

#include "exact/flash_support.hpp"

namespace attnkit::test {
namespace {

TEST(FlashFP16, MatchesReferenceOnRoundedInputs) { check_half_precision<fp16>(); }

}  // namespace
}  // namespace attnkit::test
