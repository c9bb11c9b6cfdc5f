// SPDX-License-Identifier: Apache-2.0
// Tests of flash_attention_varlen_backward: each sequence equals the dense call on it bit for
// bit, empty sequences, rows outside every sequence untouched, and the packed result against
// reference::attention_varlen_backward.
#include <gtest/gtest.h>

#include <attnkit/exact/flash_attention_backward.hpp>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "exact/backward_support.hpp"

namespace attnkit::test {
namespace {

/// A packed problem: four sequences (q lengths 30, 0, 65, 1; k lengths 50, 20, 0, 71), one
/// with no query and one with no key; q rows 96 .. 99 and k rows 141 .. 149 lie outside every
/// sequence. dout rows are padded (a row stride larger than Dv).
struct packed_problem {
  static constexpr index_t Hq = 4, Hkv = 2, D = 24, Dv = 19, total_q = 100, total_k = 150;
  std::vector<std::int32_t> cu_q = {0, 30, 30, 95, 96}, cu_k = {0, 50, 70, 70, 141};
  tensor<float, 3> q = random_tensor<float, 3>({total_q, Hq, D}, 21);
  tensor<float, 3> k = random_tensor<float, 3>({total_k, Hkv, D}, 22);
  tensor<float, 3> v = random_tensor<float, 3>({total_k, Hkv, Dv}, 23);
  tensor<float, 3> dout{{total_q, Hq, Dv}, {0, 1, 2}, 3, kGradSentinel};
  tensor<float, 2> dlse = random_tensor<float, 2>({Hq, total_q}, 25);
  owned_options o;

  explicit packed_problem(int options) {
    fill_uniform(dout.view(), 24);
    if (options == 0) {
      o.causal = true;
      o.bias = random_tensor<float, 4>({4, Hq, 65, 71}, 26);
      for (index_t h = 0; h < Hq; ++h) o.sinks.push_back(0.1f * float(h));
    } else {
      o.window_left = 12, o.window_right = 3, o.softcap = 3.0f;
      for (index_t h = 0; h < Hq; ++h) o.alibi_slopes.push_back(0.2f * float(h + 1));
    }
  }
  index_t sequences() const { return index_t(cu_q.size()) - 1; }
};

/// Gradients of the packed problem, filled with the sentinel (rows outside every sequence keep it).
struct packed_gradients {
  tensor<float, 3> dq{{packed_problem::total_q, packed_problem::Hq, packed_problem::D},
                      kGradSentinel};
  tensor<float, 3> dk{{packed_problem::total_k, packed_problem::Hkv, packed_problem::D},
                      kGradSentinel};
  tensor<float, 3> dv{{packed_problem::total_k, packed_problem::Hkv, packed_problem::Dv},
                      kGradSentinel};
};

/// Rows [cu[b], cu[b+1]) of a packed [total, H, D] view as a dense [1, len, H, D] view.
template <class T>
tensor_view<T, 4> sequence_view(const tensor_view<T, 3>& packed,
                                const std::vector<std::int32_t>& cu, index_t b) {
  const index_t len = cu[b + 1] - cu[b];
  return tensor_view<T, 4>(packed.data() + cu[b] * packed.stride(0),
                           {1, len, packed.extent(1), packed.extent(2)},
                           {0, packed.stride(0), packed.stride(1), packed.stride(2)});
}

/// The lse (or dlse) columns of sequence b as a [1, Hq, len] view.
inline tensor_view<const float, 3> sequence_lse(const tensor_view<const float, 2>& lse,
                                                const std::vector<std::int32_t>& cu, index_t b) {
  const index_t len = cu[b + 1] - cu[b];
  return tensor_view<const float, 3>(lse.data() + cu[b] * lse.stride(1), {1, lse.extent(0), len},
                                     {0, lse.stride(0), lse.stride(1)});
}

TEST(FlashBackwardVarlen, EqualsDenseCallsPerSequenceBitForBit) {
  // Each sequence of a varlen call runs the same tiles as a dense call on that sequence alone
  // (with the varlen forward's out and lse columns), so the gradients agree exactly; the dense
  // call is checked against the reference elsewhere. Rows outside every sequence stay untouched.
  using P = packed_problem;
  for (int options : {0, 1}) {
    SCOPED_TRACE("options " + std::to_string(options));
    const P p(options);
    const auto opt = p.o.options();
    simd::compiled_archs::for_each([&](auto arch) {
      using Arch = decltype(arch);
      if (!simd::cpu_supports<Arch>()) return;
      SCOPED_TRACE(Arch::name());
      tensor<float, 3> out({P::total_q, P::Hq, P::Dv});
      tensor<float, 2> lse({P::Hq, P::total_q});
      flash_varlen<Arch, float>(p.q.cview(), p.k.cview(), p.v.cview(), out.view(), p.cu_q, p.cu_k,
                                opt, lse.view());
      packed_gradients g;
      flash_varlen_backward<Arch, float>(p.q.cview(), p.k.cview(), p.v.cview(), out.cview(),
                                         p.dout.cview(), lse.cview(), g.dq.view(), g.dk.view(),
                                         g.dv.view(), p.cu_q, p.cu_k, opt, p.dlse.cview());
      for (index_t b = 0; b < p.sequences(); ++b) {
        SCOPED_TRACE("sequence " + std::to_string(b));
        const index_t lq = p.cu_q[b + 1] - p.cu_q[b], lk = p.cu_k[b + 1] - p.cu_k[b];
        attention_options ob = opt;
        if (opt.bias.data() != nullptr) ob.bias = bias_of_segment(opt.bias, P::Hq, b, lq, lk);
        const dims n{
            .B = 1, .Sq = lq, .Sk = lk, .Hq = P::Hq, .Hkv = P::Hkv, .D = P::D, .Dv = P::Dv};
        auto want = sentinel_gradients<float>(n);
        flash_backward<Arch, float>(nonzero_strides(sequence_view(p.q.cview(), p.cu_q, b)),
                                    nonzero_strides(sequence_view(p.k.cview(), p.cu_k, b)),
                                    nonzero_strides(sequence_view(p.v.cview(), p.cu_k, b)),
                                    nonzero_strides(sequence_view(out.cview(), p.cu_q, b)),
                                    nonzero_strides(sequence_view(p.dout.cview(), p.cu_q, b)),
                                    nonzero_strides(sequence_lse(lse.cview(), p.cu_q, b)),
                                    want.dq.view(), want.dk.view(), want.dv.view(), ob,
                                    nonzero_strides(sequence_lse(p.dlse.cview(), p.cu_q, b)));
        auto expect_rows = [&](const tensor<float, 3>& got, const tensor<float, 4>& w,
                               const std::vector<std::int32_t>& cu, const char* name) {
          for_each_index(w.extents(), [&](const auto& i) {
            const float x = got(cu[b] + i[1], i[2], i[3]), y = w(0, i[1], i[2], i[3]);
            ASSERT_EQ(std::memcmp(&x, &y, sizeof(float)), 0)
                << name << " row " << i[1] << ": " << x << " vs " << y;
          });
        };
        expect_rows(g.dq, want.dq, p.cu_q, "dq");
        expect_rows(g.dk, want.dk, p.cu_k, "dk");
        expect_rows(g.dv, want.dv, p.cu_k, "dv");
        // A sequence without keys has dq = 0, one without queries dk = dv = 0.
        if (lk == 0) {
          for (float x : want.dq.storage()) {
            ASSERT_EQ(x, 0.0f);
          }
        }
        if (lq == 0) {
          for (float x : want.dk.storage()) {
            ASSERT_EQ(x, 0.0f);
          }
          for (float x : want.dv.storage()) {
            ASSERT_EQ(x, 0.0f);
          }
        }
      }
      auto expect_untouched = [](const tensor<float, 3>& t, index_t from, const char* name) {
        for (index_t r = from; r < t.extents()[0]; ++r)
          for (index_t h = 0; h < t.extents()[1]; ++h)
            for (index_t d = 0; d < t.extents()[2]; ++d)
              ASSERT_EQ(t(r, h, d), kGradSentinel)
                  << name << " row " << r << " outside every sequence";
      };
      expect_untouched(g.dq, p.cu_q.back(), "dq");
      expect_untouched(g.dk, p.cu_k.back(), "dk");
      expect_untouched(g.dv, p.cu_k.back(), "dv");
    });
  }
}

TEST(FlashBackwardVarlen, MatchesTheVarlenReference) {
  // The double reference::attention_varlen_backward, and the naive float formula run per
  // sequence the same way for the tolerance; outside rows hold the sentinel in all three.
  using P = packed_problem;
  for (int options : {0, 1}) {
    SCOPED_TRACE("options " + std::to_string(options));
    const P p(options);
    const auto opt = p.o.options();
    tensor<double, 3> dq({P::total_q, P::Hq, P::D}, kGradSentinel),
        dk({P::total_k, P::Hkv, P::D}, kGradSentinel),
        dv({P::total_k, P::Hkv, P::Dv}, kGradSentinel);
    {
      const auto q = convert<double>(p.q.cview()), k = convert<double>(p.k.cview()),
                 v = convert<double>(p.v.cview()), d = convert<double>(p.dout.cview());
      const tensor<double, 3> out({P::total_q, P::Hq, P::Dv});
      const tensor<float, 2> lse({P::Hq, P::total_q});
      reference::attention_varlen_backward<double>(q.cview(), k.cview(), v.cview(), out.cview(),
                                                   d.cview(), lse.cview(), dq.view(), dk.view(),
                                                   dv.view(), p.cu_q, p.cu_k, opt, p.dlse.cview());
    }
    packed_gradients naive;
    for (index_t b = 0; b < p.sequences(); ++b) {
      const index_t lq = p.cu_q[b + 1] - p.cu_q[b], lk = p.cu_k[b + 1] - p.cu_k[b];
      attention_options ob = opt;
      if (opt.bias.data() != nullptr) ob.bias = bias_of_segment(opt.bias, P::Hq, b, lq, lk);
      const auto q = nonzero_strides(sequence_view(p.q.cview(), p.cu_q, b));
      const auto k = nonzero_strides(sequence_view(p.k.cview(), p.cu_k, b));
      const auto v = nonzero_strides(sequence_view(p.v.cview(), p.cu_k, b));
      const tensor<float, 4> out({1, lq, P::Hq, P::Dv});
      const tensor<float, 3> lse({1, P::Hq, lq});
      const auto prob =
          attnkit::detail::check_attention("test", q, k, v, out.cview(), ob, lse.cview());
      reference::detail::backward<float>(prob, ob, q, k, v,
                                         nonzero_strides(sequence_view(p.dout.cview(), p.cu_q, b)),
                                         nonzero_strides(sequence_view(naive.dq.view(), p.cu_q, b)),
                                         nonzero_strides(sequence_view(naive.dk.view(), p.cu_k, b)),
                                         nonzero_strides(sequence_view(naive.dv.view(), p.cu_k, b)),
                                         nonzero_strides(sequence_lse(p.dlse.cview(), p.cu_q, b)));
    }
    simd::compiled_archs::for_each([&](auto arch) {
      using Arch = decltype(arch);
      if (!simd::cpu_supports<Arch>()) return;
      SCOPED_TRACE(Arch::name());
      tensor<float, 3> out({P::total_q, P::Hq, P::Dv});
      tensor<float, 2> lse({P::Hq, P::total_q});
      flash_varlen<Arch, float>(p.q.cview(), p.k.cview(), p.v.cview(), out.view(), p.cu_q, p.cu_k,
                                opt, lse.view());
      packed_gradients g;
      flash_varlen_backward<Arch, float>(p.q.cview(), p.k.cview(), p.v.cview(), out.cview(),
                                         p.dout.cview(), lse.cview(), g.dq.view(), g.dk.view(),
                                         g.dv.view(), p.cu_q, p.cu_k, opt, p.dlse.cview());
      EXPECT_TRUE(within_fp32_tolerance(g.dq.cview(), naive.dq.cview(), dq.cview(), 3.0)) << "dq";
      EXPECT_TRUE(within_fp32_tolerance(g.dk.cview(), naive.dk.cview(), dk.cview(), 3.0)) << "dk";
      EXPECT_TRUE(within_fp32_tolerance(g.dv.cview(), naive.dv.cview(), dv.cview(), 3.0)) << "dv";
    });
  }
}

TEST(FlashBackwardVarlen, OnlyEmptySequences) {
  // Every sequence empty on one side: dq = 0 where a sequence has queries and no key, dk = dv = 0
  // where it has keys and no query, nothing else written.
  const std::vector<std::int32_t> cu_q = {0, 0, 5, 5}, cu_k = {0, 7, 7, 7};
  const index_t Hq = 2, Hkv = 1, D = 8, total_q = 6, total_k = 9;
  const auto q = random_tensor<float, 3>({total_q, Hq, D}, 90);
  const auto k = random_tensor<float, 3>({total_k, Hkv, D}, 91);
  const auto v = random_tensor<float, 3>({total_k, Hkv, D}, 92);
  const auto dout = random_tensor<float, 3>({total_q, Hq, D}, 93);
  simd::compiled_archs::for_each([&](auto arch) {
    using Arch = decltype(arch);
    if (!simd::cpu_supports<Arch>()) return;
    SCOPED_TRACE(Arch::name());
    tensor<float, 3> out({total_q, Hq, D});
    tensor<float, 2> lse({Hq, total_q});
    flash_varlen<Arch, float>(q.cview(), k.cview(), v.cview(), out.view(), cu_q, cu_k, {},
                              lse.view());
    tensor<float, 3> dq({total_q, Hq, D}, kGradSentinel), dk({total_k, Hkv, D}, kGradSentinel),
        dv({total_k, Hkv, D}, kGradSentinel);
    flash_varlen_backward<Arch, float>(q.cview(), k.cview(), v.cview(), out.cview(), dout.cview(),
                                       lse.cview(), dq.view(), dk.view(), dv.view(), cu_q, cu_k);
    for (index_t r = 0; r < total_q; ++r)
      for (index_t h = 0; h < Hq; ++h)
        for (index_t d = 0; d < D; ++d)
          ASSERT_EQ(dq(r, h, d), r < 5 ? 0.0f : kGradSentinel) << "dq row " << r;
    for (index_t r = 0; r < total_k; ++r)
      for (index_t d = 0; d < D; ++d) {
        ASSERT_EQ(dk(r, 0, d), r < 7 ? 0.0f : kGradSentinel) << "dk row " << r;
        ASSERT_EQ(dv(r, 0, d), r < 7 ? 0.0f : kGradSentinel) << "dv row " << r;
      }
  });
}

}  // namespace
}  // namespace attnkit::test
