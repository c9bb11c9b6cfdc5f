// SPDX-License-Identifier: Apache-2.0
// flash_attention_backward compiled for the tests with float elements, every compiled arch (one
// file per element type, so the three build in parallel).
#include "exact/flash_backward_instances_impl.hpp"

namespace attnkit::test {

template void instantiate_flash_backward<float>();

}  // namespace attnkit::test
