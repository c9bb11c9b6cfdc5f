// SPDX-License-Identifier: Apache-2.0
// The package consumer: includes attnkit, runs reference::attention on a case known by hand.
#include <attnkit/attnkit.hpp>

#include <cmath>
#include <cstdio>

int main() {
  // One query, two keys: logits 0 and ln 3 give weights 1/4 and 3/4, so out = 1/4 * 1 + 3/4 * 5.
  const float q[1] = {1.0f};
  const float k[2] = {0.0f, std::log(3.0f)};
  const float v[2] = {1.0f, 5.0f};
  float out[1] = {0.0f};
  float lse[1] = {0.0f};
  attnkit::attention_options opt;
  opt.scale = 1.0f;
  attnkit::reference::attention<float>(attnkit::tensor_view<const float, 4>(q, {1, 1, 1, 1}),
                                       attnkit::tensor_view<const float, 4>(k, {1, 2, 1, 1}),
                                       attnkit::tensor_view<const float, 4>(v, {1, 2, 1, 1}),
                                       attnkit::tensor_view<float, 4>(out, {1, 1, 1, 1}), opt,
                                       attnkit::tensor_view<float, 3>(lse, {1, 1, 1}));
  const bool ok = std::fabs(out[0] - 4.0f) < 1e-6f && std::fabs(lse[0] - std::log(4.0f)) < 1e-6f;
  std::printf("attnkit consumer: out %.7f (want 4), lse %.7f (want %.7f): %s\n", out[0], lse[0],
              std::log(4.0f), ok ? "ok" : "WRONG");
  return ok ? 0 : 1;
}
