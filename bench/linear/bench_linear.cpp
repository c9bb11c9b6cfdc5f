// SPDX-License-Identifier: Apache-2.0
// linear_attention, simple_gla and gla, chunked against recurrent, and chunked gla against causal
// flash_attention at the same shape: B = 1, H = 4, K = V = D = 128, one thread, T = 1024 and 8192
// (issue 7: gla recurrent / chunked >= 2 and flash / chunked gla >= 5 at T = 8192). "vs
// baseline" of a chunked row is recurrent time / chunked time; of the gla-vs-flash family's
// chunked row, flash time / chunked time.
#include <attnkit/exact/flash.hpp>
#include <attnkit/linear/gla.hpp>
#include <attnkit/linear/linear_attention.hpp>
#include <attnkit/linear/simple_gla.hpp>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "support/registry.hpp"

namespace attnkit::bench {
namespace {

constexpr index_t kH = 4, kK = 128, kV = 128;

enum class kernel { linear, simple_gla, gla, flash };

/// Inputs as GLA sees them: q, k, v in [-1, 1), log gates in (-0.1, 0) (logsigmoid / 16 is
/// about that), per head for simple_gla, per key dim for gla.
struct gla_tensors {
  index_t T;
  std::vector<float> q, k, v, g, gk, out;

  explicit gla_tensors(index_t tokens)
      : T(tokens), q(std::size_t(T * kH * kK)), k(q.size()), v(std::size_t(T * kH * kV)),
        g(std::size_t(T * kH)), gk(q.size()), out(v.size()) {
    std::minstd_rand rng(13);
    auto uniform = [&] { return float(rng()) / float(std::minstd_rand::max()); };
    for (auto* x : {&q, &k, &v})
      for (auto& e : *x) e = 2.0f * uniform() - 1.0f;
    for (auto* x : {&g, &gk})
      for (auto& e : *x) e = -0.1f * uniform();
  }

  void run(kernel what, const linear_options& opt) {
    const tensor_view<const float, 4> qv(q.data(), {1, T, kH, kK}), kv(k.data(), {1, T, kH, kK}),
        vv(v.data(), {1, T, kH, kV}), gkv(gk.data(), {1, T, kH, kK});
    const tensor_view<const float, 3> gv(g.data(), {1, T, kH});
    const tensor_view<float, 4> ov(out.data(), {1, T, kH, kV});
    switch (what) {
      case kernel::linear: return linear_attention(qv, kv, vv, ov, opt);
      case kernel::simple_gla: return simple_gla(qv, kv, vv, gv, ov, opt);
      case kernel::gla: return gla(qv, kv, vv, gkv, ov, opt);
      case kernel::flash: {
        attention_options flash_opt;
        flash_opt.causal = true;
        return flash_attention(qv, kv, vv, ov, flash_opt);
      }
    }
  }
};

/// FLOPs of one call. Recurrent: per token and head a multiply and two FMAs per state element
/// (4 for linear attention: no decay). Chunked, per chunk of C = 64: the inter-chunk and state
/// GEMMs (2 C K V each) and the causal score and A V blocks, which run over the keys up to the
/// end of each 16-row block. Flash: 2 (D + Dv) per visible (query, key) pair.
double flops(kernel what, linear_mode mode, index_t T) {
  const double tokens = double(T * kH);
  if (what == kernel::flash) return double(T) * double(T + 1) / 2.0 * 2.0 * double(kK + kV) * kH;
  if (mode == linear_mode::recurrent) return tokens * double(kK * kV) * (what == kernel::linear ? 4.0 : 5.0);
  constexpr index_t C = 64;
  double per_chunk = 4.0 * double(C * kK * kV);
  for (index_t i1 = 16; i1 <= C; i1 += 16) per_chunk += 2.0 * 16.0 * double(i1) * double(kK + kV);
  return per_chunk * tokens / double(C);
}

void register_one(const std::string& family, kernel what, linear_mode mode, index_t T,
                  const std::string& baseline) {
  const bool chunked = mode == linear_mode::chunked;
  benchmark_spec spec{.family = family,
                      .variant = what == kernel::flash ? "flash-causal" : chunked ? "chunked" : "recurrent",
                      .shape = "B1 H4 T" + std::to_string(T) + " K128 V128",
                      .threads = 1,
                      .flops = flops(what, mode, T),
                      .items = double(T * kH),
                      .limit = limit_kind::compute,
                      .baseline = baseline};
  register_benchmark(spec, [what, T, mode](benchmark::State& state) {
    gla_tensors tensors(T);
    linear_options opt;
    opt.mode = mode;
    for (auto _ : state) tensors.run(what, opt);
  });
}

void register_linear(const suite_settings&) {
  using enum linear_mode;
  for (index_t T : {1024, 8192}) {
    for (auto [family, what] : {std::pair{"gla", kernel::gla}, std::pair{"simple_gla", kernel::simple_gla},
                                std::pair{"linear", kernel::linear}}) {
      register_one(family, what, recurrent, T, "");
      register_one(family, what, chunked, T, "recurrent");
    }
    register_one("gla-vs-flash", kernel::flash, chunked, T, "");
    register_one("gla-vs-flash", kernel::gla, chunked, T, "flash-causal");
  }
}

const bool kAdded = add_suite(register_linear);

}  // namespace
}  // namespace attnkit::bench
