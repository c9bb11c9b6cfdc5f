// SPDX-License-Identifier: Apache-2.0
// flash_attention_backward over the exact sweep, beside flash_attention (the forward) of the same
// run: the ratio column is forward time / backward time.
#include <vector>

#include <attnkit/exact/flash.hpp>
#include <attnkit/exact/flash_attention_backward.hpp>

#include "support/attention_tensors.hpp"
#include "support/exact_sweep.hpp"
#include "support/registry.hpp"

namespace attnkit::bench {
namespace {

/// The backward's five products (S, dP, dV, dK, dQ) against the forward's two: 2.5 times the
/// forward's 4 D flops per visible pair.
benchmark_spec backward_spec(const attention_shape& shape, int threads) {
  benchmark_spec spec = shape.spec("flash-backward", threads, "flash");
  spec.flops *= 2.5;
  return spec;
}

void register_flash_backward(const suite_settings& settings) {
  for (const attention_shape& shape : exact_sweep(settings))
    for (int threads : kSweepThreads)
      register_benchmark(backward_spec(shape, threads), [shape](benchmark::State& state) {
        attention_tensors tensors(shape);
        attention_tensors grads(shape, 7);  // its q is dout (Dv = D), its k and v hold nothing
        const attention_options opt = shape.options();
        std::vector<float> lse(std::size_t(shape.B * shape.Hq * shape.Sq));
        const tensor_view<float, 3> lse_view(lse.data(), {shape.B, shape.Hq, shape.Sq});
        flash_attention(tensors.q(), tensors.k(), tensors.v(), tensors.out(), opt, lse_view);
        std::vector<float> dq(std::size_t(shape.B * shape.Sq * shape.Hq * shape.D));
        std::vector<float> dk(std::size_t(shape.B * shape.Sk * shape.Hkv * shape.D)), dv(dk.size());
        const tensor_view<float, 4> dq_view(dq.data(), {shape.B, shape.Sq, shape.Hq, shape.D});
        const tensor_view<float, 4> dk_view(dk.data(), {shape.B, shape.Sk, shape.Hkv, shape.D});
        const tensor_view<float, 4> dv_view(dv.data(), {shape.B, shape.Sk, shape.Hkv, shape.D});
        for (auto _ : state)
          flash_attention_backward(tensors.q(), tensors.k(), tensors.v(),
                                   tensor_view<const float, 4>(tensors.out()), grads.q(),
                                   tensor_view<const float, 3>(lse_view), dq_view, dk_view,
                                   dv_view, opt);
      });
}

const bool kAdded = add_suite(register_flash_backward);

}  // namespace
}  // namespace attnkit::bench
