// SPDX-License-Identifier: Apache-2.0
// Example: one training step through exact attention. Forward with lse, a toy loss
// L = 1/2 sum (out - target)^2, flash_attention_backward for dL/dq, dL/dk, dL/dv, one SGD step on
// q that lowers the loss, and a gradient entry checked against a central finite difference.
#include <attnkit/attnkit.hpp>  // includes <attnkit/exact/flash_attention_backward.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

using attnkit::index_t;
using attnkit::tensor_view;

namespace {
const index_t B = 1, S = 19, Hq = 4, Hkv = 2, D = 16;  // small causal GQA self-attention

struct problem {
  std::vector<float> q, k, v, target;
  attnkit::attention_options opt;

  // Forward: out [B, S, Hq, D] and lse [B, Hq, S] (the backward needs the forward's lse).
  void forward(std::vector<float>& out, std::vector<float>& lse) const {
    out.assign(q.size(), 0.0f);
    lse.assign(B * Hq * S, 0.0f);
    attnkit::flash_attention(tensor_view<const float, 4>(q.data(), {B, S, Hq, D}),
                             tensor_view<const float, 4>(k.data(), {B, S, Hkv, D}),
                             tensor_view<const float, 4>(v.data(), {B, S, Hkv, D}),
                             tensor_view<float, 4>(out.data(), {B, S, Hq, D}), opt,
                             tensor_view<float, 3>(lse.data(), {B, Hq, S}));
  }
  // The toy loss, summed in double.
  double loss() const {
    std::vector<float> out, lse;
    forward(out, lse);
    double sum = 0;
    for (std::size_t n = 0; n < out.size(); ++n)
      sum += 0.5 * double(out[n] - target[n]) * double(out[n] - target[n]);
    return sum;
  }
};
}  // namespace

int main() {
  // 1. Random q, k, v and a random target for the output.
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  problem p;
  p.q.resize(B * S * Hq * D), p.k.resize(B * S * Hkv * D), p.v.resize(B * S * Hkv * D);
  p.target.resize(p.q.size());
  for (auto* x : {&p.q, &p.k, &p.v, &p.target})
    for (float& e : *x) e = normal(rng);
  p.opt.causal = true;

  // 2. Forward with lse, then dL/dout = out - target for this loss.
  std::vector<float> out, lse;
  p.forward(out, lse);
  std::vector<float> dout(out.size());
  for (std::size_t n = 0; n < out.size(); ++n) dout[n] = out[n] - p.target[n];

  // 3. Backward: the same options as the forward; dk, dv are summed over each GQA group.
  std::vector<float> dq(p.q.size()), dk(p.k.size()), dv(p.v.size());
  attnkit::flash_attention_backward(tensor_view<const float, 4>(p.q.data(), {B, S, Hq, D}),
                                    tensor_view<const float, 4>(p.k.data(), {B, S, Hkv, D}),
                                    tensor_view<const float, 4>(p.v.data(), {B, S, Hkv, D}),
                                    tensor_view<const float, 4>(out.data(), {B, S, Hq, D}),
                                    tensor_view<const float, 4>(dout.data(), {B, S, Hq, D}),
                                    tensor_view<const float, 3>(lse.data(), {B, Hq, S}),
                                    tensor_view<float, 4>(dq.data(), {B, S, Hq, D}),
                                    tensor_view<float, 4>(dk.data(), {B, S, Hkv, D}),
                                    tensor_view<float, 4>(dv.data(), {B, S, Hkv, D}), p.opt);

  // 4. Finite-difference check of the largest entry of dq and of dk: (L(x + e) - L(x - e)) / 2e.
  //    Its error is about e^2 (truncation) plus fp32 rounding / e: 1e-3 + 1% covers both; a wrong
  //    gradient (sign, scale, a dropped term) misses by far more.
  auto check = [&](const char* name, std::vector<float>& x, const std::vector<float>& grad) {
    const auto at =
        std::size_t(std::max_element(grad.begin(), grad.end(),
                                     [](float a, float b) { return std::abs(a) < std::abs(b); }) -
                    grad.begin());
    const float e = 1e-2f, saved = x[at];
    x[at] = saved + e;
    const double plus = p.loss();
    x[at] = saved - e;
    const double minus = p.loss();
    x[at] = saved;
    const double fd = (plus - minus) / (2.0 * double(e));
    std::printf("d%s[%zu]: backward %.6f  finite difference %.6f\n", name, at, grad[at], fd);
    return std::abs(fd - grad[at]) <= 1e-3 + 1e-2 * std::abs(fd);
  };
  const bool grads_ok = check("q", p.q, dq) && check("k", p.k, dk);

  // 5. One SGD step on q: q <- q - lr dq. For a small enough step the loss must fall.
  const double before = p.loss();
  const float lr = 0.1f;
  for (std::size_t n = 0; n < p.q.size(); ++n) p.q[n] -= lr * dq[n];
  const double after = p.loss();
  std::printf("loss before the step %.6f, after %.6f\n", before, after);

  if (!grads_ok || !(after < before)) {
    std::fprintf(stderr, "FAILED: %s\n",
                 grads_ok ? "the SGD step did not lower the loss"
                          : "a gradient disagrees with its finite difference");
    return 1;
  }
  std::printf("ok\n");
  return 0;
}
