// SPDX-License-Identifier: Apache-2.0
// flash_attention with bf16 inputs and outputs on every compiled arch (a file of its own: each
// element type instantiates every kernel variant, and separate files build in parallel).
#include <gtest/gtest.h>

#include "exact/flash_support.hpp"

namespace attnkit::test {
namespace {

TEST(FlashBF16, MatchesReferenceOnRoundedInputs) { check_half_precision<bf16>(); }

}  // namespace
}  // namespace attnkit::test
