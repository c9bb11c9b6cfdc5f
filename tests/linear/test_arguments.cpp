// SPDX-License-Identifier: Apache-2.0
// The option checks every linear-family entry point shares (linear/arguments.hpp), through the
// reference and each kernel: scale, chunk size, causal and normalize where they do not apply.
#include <attnkit/linear.hpp>

#include <limits>
#include <string>

#include <gtest/gtest.h>

#include "exact/argument_cases.hpp"
#include "support/random.hpp"
#include "support/tensor.hpp"

namespace attnkit::test {
namespace {

using argument_cases::expect_rejected;

constexpr index_t B = 1, T = 5, H = 2, K = 4, V = 3;

struct inputs {
  tensor<float, 4> q = random_tensor<float, 4>({B, T, H, K}, 1), k = random_tensor<float, 4>({B, T, H, K}, 2),
                   v = random_tensor<float, 4>({B, T, H, V}, 3), gk = random_tensor<float, 4>({B, T, H, K}, 4, -1.0, 0.0);
  tensor<float, 3> g = random_tensor<float, 3>({B, T, H}, 5, -1.0, 0.0), beta = random_tensor<float, 3>({B, T, H}, 6, 0.0, 1.0);
  tensor<float, 4> out = tensor<float, 4>({B, T, H, V}, -7.0f);
  tensor<float, 4> state = tensor<float, 4>({B, H, K, V}, 0.0f);
};

/// Calls every entry point with `opt` (and a final state when `with_state`), expecting each to
/// reject `name` and leave out untouched.
void expect_every_entry_rejects(const linear_options& opt, bool with_state, const std::string& name,
                                bool gated_only = false) {
  inputs in;
  const tensor_view<float, 4> fs = with_state ? in.state.view() : tensor_view<float, 4>();
  if (!gated_only) {
    expect_rejected([&] { linear_attention(in.q.cview(), in.k.cview(), in.v.cview(), in.out.view(), opt, {}, fs); },
                    "linear_attention", name);
    expect_rejected([&] { reference::linear_attention<float>(in.q.cview(), in.k.cview(), in.v.cview(), in.out.view(), opt, {}, fs); },
                    "reference::linear_attention", name);
  }
  expect_rejected([&] { simple_gla(in.q.cview(), in.k.cview(), in.v.cview(), in.g.cview(), in.out.view(), opt, {}, fs); },
                  "simple_gla", name);
  expect_rejected([&] { gla(in.q.cview(), in.k.cview(), in.v.cview(), in.gk.cview(), in.out.view(), opt, {}, fs); },
                  "gla", name);
  expect_rejected([&] { delta_rule(in.q.cview(), in.k.cview(), in.v.cview(), in.beta.cview(), in.out.view(), opt, {}, fs); },
                  "delta_rule", name);
  expect_rejected([&] {
    gated_delta_rule(in.q.cview(), in.k.cview(), in.v.cview(), in.g.cview(), in.beta.cview(), in.out.view(), opt, {}, fs);
  }, "gated_delta_rule", name);
  for (float x : in.out.storage()) ASSERT_EQ(x, -7.0f);
}

TEST(LinearArguments, NonFiniteScaleIsRejectedEverywhere) {
  for (float scale : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    linear_options opt;
    opt.scale = scale;
    expect_every_entry_rejects(opt, false, "opt.scale");
  }
}

TEST(LinearArguments, ChunkSizeOutOfRangeIsRejectedEverywhere) {
  for (index_t chunk : {index_t{0}, index_t{-3}, index_t{1025}}) {
    linear_options opt;
    opt.chunk_size = chunk;
    expect_every_entry_rejects(opt, false, "opt.chunk_size");
  }
}

TEST(LinearArguments, CausalAndNormalizeBelongToLinearAttention) {
  linear_options not_causal;
  not_causal.causal = false;
  expect_every_entry_rejects(not_causal, false, "opt.causal", true);
  linear_options normalized;
  normalized.normalize = true;
  expect_every_entry_rejects(normalized, false, "opt.normalize", true);
  // linear_attention normalises, but not with a state (the normaliser is not part of it).
  inputs in;
  expect_rejected([&] {
    linear_attention(in.q.cview(), in.k.cview(), in.v.cview(), in.out.view(), normalized, {}, in.state.view());
  }, "linear_attention", "opt.normalize");
}

TEST(LinearArguments, PrefixAttentionRejectsANonFiniteScale) {
  const auto q = random_tensor<float, 2>({H, K}, 1);
  inputs in;
  expect_rejected([&] {
    prefix_attention(q.cview(), in.k.cview(), in.v.cview(), in.out.view(), std::numeric_limits<float>::quiet_NaN());
  }, "prefix_attention", "scale");
  for (float x : in.out.storage()) ASSERT_EQ(x, -7.0f);
}

}  // namespace
}  // namespace attnkit::test
