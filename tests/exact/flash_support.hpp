// SPDX-License-Identifier: Apache-2.0
// Differential checking of flash_attention: one input, the double reference, the naive float
// formula, and every compiled arch the CPU runs (simdjson's "one input, every implementation").
#pragma once

#include <array>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <attnkit/exact/arguments.hpp>
#include <attnkit/exact/flash.hpp>
#include <attnkit/exact/reference.hpp>

#include "exact/flash_instances.hpp"
#include "exact/reference_support.hpp"
#include "support/archs.hpp"
#include "support/random.hpp"
#include "support/tensor.hpp"
#include "support/tolerance.hpp"

namespace attnkit::test {

/// Storage orders of a [B, S, H, D] tensor: FlashAttention's BSHD or PyTorch's BHSD.
enum class layout { bshd, bhsd };

inline std::array<std::size_t, 4> storage_order(layout l) {
  return l == layout::bshd ? std::array<std::size_t, 4>{0, 1, 2, 3}
                           : std::array<std::size_t, 4>{0, 2, 1, 3};
}

/// The oracles of one dense float problem: the double reference (out, lse) and the naive float
/// implementation of the same formula, which sets the tolerance (DESIGN 4).
struct dense_oracle {
  tensor<double, 4> out;
  tensor<double, 3> lse;
  tensor<float, 4> naive_out;
  tensor<float, 3> naive_lse;
};

template <class T>
dense_oracle make_oracle(const tensor<T, 4>& q, const tensor<T, 4>& k, const tensor<T, 4>& v,
                         const attention_options& opt) {
  const index_t B = q.extents()[0], Sq = q.extents()[1], Hq = q.extents()[2];
  const index_t Dv = v.extents()[3];
  dense_oracle o{tensor<double, 4>({B, Sq, Hq, Dv}), tensor<double, 3>({B, Hq, Sq}),
                 tensor<float, 4>({B, Sq, Hq, Dv}), tensor<float, 3>({B, Hq, Sq})};
  const auto qd = convert<double>(q.cview()), kd = convert<double>(k.cview()),
             vd = convert<double>(v.cview());
  reference::attention<double>(qd.cview(), kd.cview(), vd.cview(), o.out.view(), opt, o.lse.view());
  const auto qf = convert<float>(q.cview()), kf = convert<float>(k.cview()),
             vf = convert<float>(v.cview());
  const auto p = attnkit::detail::check_attention("test", qf.cview(), kf.cview(), vf.cview(),
                                                  o.naive_out.view(), opt, o.naive_lse.view());
  reference::detail::forward<float>(p, opt, qf.cview(), kf.cview(), vf.cview(), o.naive_out.view(),
                                    o.naive_lse.view());
  return o;
}

/// Runs flash_attention<Arch> on (q, k, v) for every compiled arch the CPU supports and checks
/// out and lse against the oracle with DESIGN 4's rule (float) or the RMS rule (bf16, fp16).
/// `out_layout` sets the storage order of the output.
template <class T>
void check_every_arch(const tensor<T, 4>& q, const tensor<T, 4>& k, const tensor<T, 4>& v,
                      const attention_options& opt, const dense_oracle& oracle,
                      layout out_layout = layout::bshd) {
  const auto e = q.extents();
  const index_t Dv = v.extents()[3];
  simd::compiled_archs::for_each([&](auto arch) {
    using Arch = decltype(arch);
    if (!simd::cpu_supports<Arch>()) return;
    SCOPED_TRACE(std::string("arch ") + Arch::name());
    tensor<T, 4> out({e[0], e[1], e[2], Dv}, storage_order(out_layout), 0, T(-777.0f));
    tensor<float, 3> lse({e[0], e[2], e[1]}, -777.0f);
    flash<Arch, T>(q.cview(), k.cview(), v.cview(), out.view(), opt, lse.view());
    if constexpr (std::is_same_v<T, float>) {
      EXPECT_TRUE(within_fp32_tolerance(out.cview(), oracle.naive_out.cview(), oracle.out.cview()))
          << "out";
      EXPECT_TRUE(within_fp32_tolerance(lse.cview(), oracle.naive_lse.cview(), oracle.lse.cview()))
          << "lse";
    } else {
      EXPECT_TRUE(within_rms_tolerance(out.cview(), oracle.out.cview())) << "out";
      EXPECT_TRUE(within_rms_tolerance(lse.cview(), oracle.lse.cview())) << "lse";
    }
  });
}

/// Random q, k, v of the sizes n in a storage layout; |q|, |k| <= range, |v| <= 1.
struct problem {
  tensor<float, 4> q, k, v;
};

inline problem random_problem(const dims& n, std::uint64_t seed, layout l = layout::bshd,
                       double range = 1.0) {
  problem p{tensor<float, 4>({n.B, n.Sq, n.Hq, n.D}, storage_order(l)),
            tensor<float, 4>({n.B, n.Sk, n.Hkv, n.D}, storage_order(l)),
            tensor<float, 4>({n.B, n.Sk, n.Hkv, n.Dv}, storage_order(l))};
  fill_uniform(p.q.view(), seed, -range, range);
  fill_uniform(p.k.view(), seed + 1, -range, range);
  fill_uniform(p.v.view(), seed + 2, -1.0, 1.0);
  return p;
}

/// DESIGN 4's bf16 / fp16 rule on a few shapes, causal and not: RMS relative error below 1e-2
/// against the double reference on the rounded inputs, every compiled arch.
template <class T>
void check_half_precision() {
  for (const dims& n : {dims{.B = 1, .Sq = 113, .Sk = 203, .Hq = 2, .Hkv = 1, .D = 64, .Dv = 64},
                        dims{.B = 2, .Sq = 65, .Sk = 97, .Hq = 1, .Hkv = 1, .D = 17, .Dv = 17},
                        dims{.B = 1, .Sq = 128, .Sk = 128, .Hq = 1, .Hkv = 1, .D = 128, .Dv = 128}}) {
    const auto p = random_problem(n, 31);
    const auto q = convert<T>(p.q.cview()), k = convert<T>(p.k.cview()), v = convert<T>(p.v.cview());
    for (bool causal : {false, true}) {
      attention_options opt;
      opt.causal = causal;
      check_every_arch(q, k, v, opt, make_oracle(q, k, v, opt));
    }
  }
}

}  // namespace attnkit::test
