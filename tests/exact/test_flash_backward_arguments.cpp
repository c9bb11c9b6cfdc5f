// SPDX-License-Identifier: Apache-2.0
// The argument checks of DESIGN 1.4 through flash_attention_backward and
// flash_attention_varlen_backward: one invalid argument per call for fp32 and bf16 (the call
// throws attnkit::error naming it and leaves dq, dk, dv untouched), and the valid edge calls.
#include <gtest/gtest.h>

#include <attnkit/exact/flash_attention_backward.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "exact/argument_cases.hpp"
#include "exact/flash_backward_instances.hpp"
#include "support/tensor.hpp"

namespace attnkit::test {
namespace {

using namespace argument_cases;

// ---- flash_attention_backward -------------------------------------------------------------------

/// A valid dense call: B 2, Sq 3, Sk 4, Hq 4, Hkv 2, D 3, Dv 2, lse [2, 4, 3], no dlse.
template <class T>
struct dense_args {
  static constexpr const char* kWhere = "flash_attention_backward";
  basic_buffer<T> qb{kInput}, kb{kInput}, vb{kInput}, ob{kInput}, db{kInput};
  basic_buffer<T> dqb{kSentinel}, dkb{kSentinel}, dvb{kSentinel};
  buffer lb{kInput}, dlb{kInput};
  option_storage os;
  tensor_view<const T, 4> q = in<4>(qb, {2, 3, 4, 3}), k = in<4>(kb, {2, 4, 2, 3}),
                          v = in<4>(vb, {2, 4, 2, 2}), out = in<4>(ob, {2, 3, 4, 2}),
                          dout = in<4>(db, {2, 3, 4, 2});
  tensor_view<const float, 3> lse = in<3>(lb, {2, 4, 3}), dlse{};
  tensor_view<T, 4> dq = io<4>(dqb, {2, 3, 4, 3}), dk = io<4>(dkb, {2, 4, 2, 3}),
                    dv = io<4>(dvb, {2, 4, 2, 2});

  void call() {
    flash_backward<default_arch, T>(q, k, v, out, dout, lse, dq, dk, dv, os.opt, dlse);
  }
  bool outputs_untouched() const { return dqb.untouched() && dkb.untouched() && dvb.untouched(); }
};

template <class T>
std::vector<bad_case<dense_args<T>>> dense_cases() {
  using A = dense_args<T>;
  using in4 = tensor_view<const T, 4>;
  using io4 = tensor_view<T, 4>;
  std::vector<bad_case<A>> cases = {
      // lse: required, shaped [B, Hq, Sq].
      {"lse missing", "lse", [](A& a) { a.lse = {}; }},
      {"lse null", "lse",
       [](A& a) {
         a.lse = tensor_view<const float, 3>(nullptr, {2, 4, 3});
       }},
      {"lse batch 1", "lse",
       [](A& a) {
         a.lse = in<3>(a.lb, {1, 4, 3});
       }},
      {"lse heads 2 (kv heads)", "lse",
       [](A& a) {
         a.lse = in<3>(a.lb, {2, 2, 3});
       }},
      {"lse Sq 4", "lse",
       [](A& a) {
         a.lse = in<3>(a.lb, {2, 4, 4});
       }},
      {"lse laid out [B, Sq, Hq]", "lse",
       [](A& a) {
         a.lse = in<3>(a.lb, {2, 3, 4});
       }},
      // dlse: absent or shaped as lse.
      {"dlse Sq 4", "dlse",
       [](A& a) {
         a.dlse = in<3>(a.dlb, {2, 4, 4});
       }},
      {"dlse batch 1", "dlse",
       [](A& a) {
         a.dlse = in<3>(a.dlb, {1, 4, 3});
       }},
      {"dlse laid out [B, Sq, Hq]", "dlse",
       [](A& a) {
         a.dlse = in<3>(a.dlb, {2, 3, 4});
       }},
      {"dlse null", "dlse",
       [](A& a) {
         a.dlse = tensor_view<const float, 3>(nullptr, {2, 4, 3});
       }},
      // dout: shaped as out, unit innermost stride.
      {"dout batch 1", "dout",
       [](A& a) {
         a.dout = in<4>(a.db, {1, 3, 4, 2});
       }},
      {"dout Sq 2", "dout",
       [](A& a) {
         a.dout = in<4>(a.db, {2, 2, 4, 2});
       }},
      {"dout Hq 2", "dout",
       [](A& a) {
         a.dout = in<4>(a.db, {2, 3, 2, 2});
       }},
      {"dout Dv 3", "dout",
       [](A& a) {
         a.dout = in<4>(a.db, {2, 3, 4, 3});
       }},
      {"dout innermost stride 2", "dout",
       [](A& a) {
         a.dout = in<4>(a.db, {2, 3, 4, 2}, {48, 16, 4, 2});
       }},
      {"dout null", "dout",
       [](A& a) {
         a.dout = in4(nullptr, {2, 3, 4, 2});
       }},
      // dq, dk, dv: shaped as q, k, v, unit innermost strides, no zero strides.
      {"dq Sq 2", "dq",
       [](A& a) {
         a.dq = io<4>(a.dqb, {2, 2, 4, 3});
       }},
      {"dq heads 2", "dq",
       [](A& a) {
         a.dq = io<4>(a.dqb, {2, 3, 2, 3});
       }},
      {"dq head dim 2", "dq",
       [](A& a) {
         a.dq = io<4>(a.dqb, {2, 3, 4, 2});
       }},
      {"dq batch 1", "dq",
       [](A& a) {
         a.dq = io<4>(a.dqb, {1, 3, 4, 3});
       }},
      {"dq innermost stride 2", "dq",
       [](A& a) {
         a.dq = io<4>(a.dqb, {2, 3, 4, 3}, {72, 24, 6, 2});
       }},
      {"dq query stride 0", "dq",
       [](A& a) {
         a.dq = io<4>(a.dqb, {2, 3, 4, 3}, {36, 0, 3, 1});
       }},
      {"dq null", "dq",
       [](A& a) {
         a.dq = io4(nullptr, {2, 3, 4, 3});
       }},
      {"dk Sk 3", "dk",
       [](A& a) {
         a.dk = io<4>(a.dkb, {2, 3, 2, 3});
       }},
      {"dk heads 4 (query heads)", "dk",
       [](A& a) {
         a.dk = io<4>(a.dkb, {2, 4, 4, 3});
       }},
      {"dk head dim 2 (Dv)", "dk",
       [](A& a) {
         a.dk = io<4>(a.dkb, {2, 4, 2, 2});
       }},
      {"dk innermost stride 2", "dk",
       [](A& a) {
         a.dk = io<4>(a.dkb, {2, 4, 2, 3}, {48, 12, 6, 2});
       }},
      {"dk head stride 0", "dk",
       [](A& a) {
         a.dk = io<4>(a.dkb, {2, 4, 2, 3}, {24, 6, 0, 1});
       }},
      {"dk null", "dk",
       [](A& a) {
         a.dk = io4(nullptr, {2, 4, 2, 3});
       }},
      {"dv Sk 5", "dv",
       [](A& a) {
         a.dv = io<4>(a.dvb, {2, 5, 2, 2});
       }},
      {"dv head dim 3 (D)", "dv",
       [](A& a) {
         a.dv = io<4>(a.dvb, {2, 4, 2, 3});
       }},
      {"dv innermost stride 2", "dv",
       [](A& a) {
         a.dv = io<4>(a.dvb, {2, 4, 2, 2}, {32, 8, 4, 2});
       }},
      {"dv innermost stride 0", "dv",
       [](A& a) {
         a.dv = io<4>(a.dvb, {2, 4, 2, 2}, {16, 4, 2, 0});
       }},
      {"dv batch stride 0", "dv",
       [](A& a) {
         a.dv = io<4>(a.dvb, {2, 4, 2, 2}, {0, 4, 2, 1});
       }},
      {"dv null", "dv",
       [](A& a) {
         a.dv = io4(nullptr, {2, 4, 2, 2});
       }},
      // The forward's arguments.
      {"k batch 1", "k",
       [](A& a) {
         a.k = in<4>(a.kb, {1, 4, 2, 3});
       }},
      {"v key length 5, k 4", "v",
       [](A& a) {
         a.v = in<4>(a.vb, {2, 5, 2, 2});
       }},
      {"k head dim 2, q 3", "k",
       [](A& a) {
         a.k = in<4>(a.kb, {2, 4, 2, 2});
       }},
      {"out Dv 3", "out",
       [](A& a) {
         a.out = in<4>(a.ob, {2, 3, 4, 3});
       }},
      {"out Sq 2", "out",
       [](A& a) {
         a.out = in<4>(a.ob, {2, 2, 4, 2});
       }},
      {"q innermost stride 2", "q",
       [](A& a) {
         a.q = in<4>(a.qb, {2, 3, 4, 3}, {72, 24, 6, 2});
       }},
      {"v innermost stride 2", "v",
       [](A& a) {
         a.v = in<4>(a.vb, {2, 4, 2, 2}, {32, 8, 4, 2});
       }},
      {"Hq 3 not a multiple of Hkv 2", "q",
       [](A& a) {
         a.q = in<4>(a.qb, {2, 3, 3, 3});
         a.out = in<4>(a.ob, {2, 3, 3, 2});
         a.dout = in<4>(a.db, {2, 3, 3, 2});
         a.lse = in<3>(a.lb, {2, 3, 3});
         a.dq = io<4>(a.dqb, {2, 3, 3, 3});
       }},
      {"head dim 513 > 512", "q",
       [](A& a) {
         a.q = in<4>(a.qb, {1, 1, 1, 513});
         a.k = in<4>(a.kb, {1, 2, 1, 513});
         a.v = in<4>(a.vb, {1, 2, 1, 2});
         a.out = in<4>(a.ob, {1, 1, 1, 2});
         a.dout = in<4>(a.db, {1, 1, 1, 2});
         a.lse = in<3>(a.lb, {1, 1, 1});
         a.dq = io<4>(a.dqb, {1, 1, 1, 513});
         a.dk = io<4>(a.dkb, {1, 2, 1, 513});
         a.dv = io<4>(a.dvb, {1, 2, 1, 2});
       }},
      {"bias Sk 3", "opt.bias",
       [](A& a) {
         a.os.opt.bias = in<4>(a.os.bias, {2, 4, 3, 3});
       }},
      {"bias heads 2 (kv heads)", "opt.bias",
       [](A& a) {
         a.os.opt.bias = in<4>(a.os.bias, {2, 2, 3, 4});
       }},
  };
  for (auto& c : option_cases<A>()) cases.push_back(std::move(c));
  return cases;
}

// ---- flash_attention_varlen_backward ------------------------------------------------------------

/// A valid varlen call: total_q 6, total_k 8, cu_q {0, 2, 2, 5}, cu_k {0, 3, 4, 7}, Hq 4,
/// Hkv 2, D 3, Dv 2, lse [4, 6].
template <class T>
struct varlen_args {
  static constexpr const char* kWhere = "flash_attention_varlen_backward";
  basic_buffer<T> qb{kInput}, kb{kInput}, vb{kInput}, ob{kInput}, db{kInput};
  basic_buffer<T> dqb{kSentinel}, dkb{kSentinel}, dvb{kSentinel};
  buffer lb{kInput}, dlb{kInput};
  option_storage os;
  std::vector<std::int32_t> cu_q = {0, 2, 2, 5}, cu_k = {0, 3, 4, 7};
  tensor_view<const T, 3> q = in<3>(qb, {6, 4, 3}), k = in<3>(kb, {8, 2, 3}),
                          v = in<3>(vb, {8, 2, 2}), out = in<3>(ob, {6, 4, 2}),
                          dout = in<3>(db, {6, 4, 2});
  tensor_view<const float, 2> lse = in<2>(lb, {4, 6}), dlse{};
  tensor_view<T, 3> dq = io<3>(dqb, {6, 4, 3}), dk = io<3>(dkb, {8, 2, 3}),
                    dv = io<3>(dvb, {8, 2, 2});

  void call() {
    flash_varlen_backward<default_arch, T>(q, k, v, out, dout, lse, dq, dk, dv, cu_q, cu_k, os.opt,
                                           dlse);
  }
  bool outputs_untouched() const { return dqb.untouched() && dkb.untouched() && dvb.untouched(); }
};

template <class T>
std::vector<bad_case<varlen_args<T>>> varlen_cases() {
  using A = varlen_args<T>;
  std::vector<bad_case<A>> cases = {
      {"cu_seqlens_q empty", "cu_seqlens_q", [](A& a) { a.cu_q.clear(); }},
      {"cu_seqlens_q starts at 1", "cu_seqlens_q",
       [](A& a) {
         a.cu_q = {1, 2, 2, 5};
       }},
      {"cu_seqlens_q decreasing", "cu_seqlens_q",
       [](A& a) {
         a.cu_q = {0, 3, 2, 5};
       }},
      {"cu_seqlens_q beyond total_q", "cu_seqlens_q",
       [](A& a) {
         a.cu_q = {0, 2, 2, 7};
       }},
      {"cu_seqlens_k starts at 2", "cu_seqlens_k",
       [](A& a) {
         a.cu_k = {2, 3, 4, 7};
       }},
      {"cu_seqlens_k negative entry", "cu_seqlens_k",
       [](A& a) {
         a.cu_k = {0, -3, 4, 7};
       }},
      {"cu_seqlens_k beyond total_k", "cu_seqlens_k",
       [](A& a) {
         a.cu_k = {0, 3, 4, 9};
       }},
      {"cu_seqlens_k shorter than cu_seqlens_q", "cu_seqlens_k",
       [](A& a) {
         a.cu_k = {0, 3, 7};
       }},
      {"lse missing", "lse", [](A& a) { a.lse = {}; }},
      {"lse total 7", "lse",
       [](A& a) {
         a.lse = in<2>(a.lb, {4, 7});
       }},
      {"lse laid out [total_q, Hq]", "lse",
       [](A& a) {
         a.lse = in<2>(a.lb, {6, 4});
       }},
      {"dlse total 5", "dlse",
       [](A& a) {
         a.dlse = in<2>(a.dlb, {4, 5});
       }},
      {"dlse heads 2", "dlse",
       [](A& a) {
         a.dlse = in<2>(a.dlb, {2, 6});
       }},
      {"dout total 5", "dout",
       [](A& a) {
         a.dout = in<3>(a.db, {5, 4, 2});
       }},
      {"dout Dv 3", "dout",
       [](A& a) {
         a.dout = in<3>(a.db, {6, 4, 3});
       }},
      {"dout innermost stride 2", "dout",
       [](A& a) {
         a.dout = in<3>(a.db, {6, 4, 2}, {16, 4, 2});
       }},
      {"dq total 5", "dq",
       [](A& a) {
         a.dq = io<3>(a.dqb, {5, 4, 3});
       }},
      {"dq innermost stride 2", "dq",
       [](A& a) {
         a.dq = io<3>(a.dqb, {6, 4, 3}, {24, 6, 2});
       }},
      {"dq row stride 0", "dq",
       [](A& a) {
         a.dq = io<3>(a.dqb, {6, 4, 3}, {0, 3, 1});
       }},
      {"dk total 7", "dk",
       [](A& a) {
         a.dk = io<3>(a.dkb, {7, 2, 3});
       }},
      {"dk heads 1", "dk",
       [](A& a) {
         a.dk = io<3>(a.dkb, {8, 1, 3});
       }},
      {"dv head dim 3", "dv",
       [](A& a) {
         a.dv = io<3>(a.dvb, {8, 2, 3});
       }},
      {"dv innermost stride 2", "dv",
       [](A& a) {
         a.dv = io<3>(a.dvb, {8, 2, 2}, {8, 4, 2});
       }},
      {"out total 5", "out",
       [](A& a) {
         a.out = in<3>(a.ob, {5, 4, 2});
       }},
      {"head dim 513 > 512", "q",
       [](A& a) {
         a.q = in<3>(a.qb, {2, 1, 513});
         a.k = in<3>(a.kb, {2, 1, 513});
         a.v = in<3>(a.vb, {2, 1, 2});
         a.out = in<3>(a.ob, {2, 1, 2});
         a.dout = in<3>(a.db, {2, 1, 2});
         a.lse = in<2>(a.lb, {1, 2});
         a.dq = io<3>(a.dqb, {2, 1, 513});
         a.dk = io<3>(a.dkb, {2, 1, 513});
         a.dv = io<3>(a.dvb, {2, 1, 2});
         a.cu_q = {0, 2};
         a.cu_k = {0, 2};
       }},
      {"bias Sq 2 < longest 3", "opt.bias",
       [](A& a) {
         a.os.opt.bias = in<4>(a.os.bias, {3, 4, 2, 3});
       }},
  };
  for (auto& c : option_cases<A>()) cases.push_back(std::move(c));
  return cases;
}

// ---- the tables, for fp32 and a 16-bit storage type ---------------------------------------------

template <class T>
class FlashBackwardArguments : public ::testing::Test {};

using element_types = ::testing::Types<float, bf16>;
TYPED_TEST_SUITE(FlashBackwardArguments, element_types);

TYPED_TEST(FlashBackwardArguments, DenseRejectsEachInvalidArgument) {
  run_table(dense_cases<TypeParam>());
}

TYPED_TEST(FlashBackwardArguments, VarlenRejectsEachInvalidArgument) {
  run_table(varlen_cases<TypeParam>());
}

/// Every element of `view` holds exactly `value`.
template <class T, std::size_t Rank>
::testing::AssertionResult all_equal(const tensor_view<T, Rank>& view, float value) {
  index_t other = 0;
  for_each_index(view.extents(), [&](const auto& idx) { other += float(at(view, idx)) != value; });
  if (other == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << other << " elements differ from " << value;
}

/// Every element of `view` was written: it no longer holds the sentinel's bits, and is finite.
template <class T, std::size_t Rank>
::testing::AssertionResult all_written(const tensor_view<T, Rank>& view) {
  const T sentinel(kSentinel);
  index_t stale = 0, bad = 0;
  for_each_index(view.extents(), [&](const auto& idx) {
    const T& x = at(view, idx);
    stale += std::memcmp(&x, &sentinel, sizeof(T)) == 0;
    bad += !std::isfinite(float(x));
  });
  if (stale == 0 && bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << stale << " elements still hold the sentinel, " << bad << " are not finite";
}

TYPED_TEST(FlashBackwardArguments, DenseAcceptsValidEdgeCalls) {
  using T = TypeParam;
  using A = dense_args<T>;
  struct valid_case {
    std::string label;
    std::function<void(A&)> make;
    std::function<void(const A&)> check;  // what the call must have written
  };
  auto written = [](const A& a) {
    EXPECT_TRUE(all_written(a.dq)) << "dq";
    EXPECT_TRUE(all_written(a.dk)) << "dk";
    EXPECT_TRUE(all_written(a.dv)) << "dv";
  };
  const std::vector<valid_case> valid = {
      {"the base call", [](A&) {}, written},
      {"with dlse",
       [](A& a) {
         a.dlse = in<3>(a.dlb, {2, 4, 3});
       },
       written},
      {"B 0 with null data",
       [](A& a) {
         a.q = tensor_view<const T, 4>(nullptr, {0, 3, 4, 3});
         a.k = tensor_view<const T, 4>(nullptr, {0, 4, 2, 3});
         a.v = tensor_view<const T, 4>(nullptr, {0, 4, 2, 2});
         a.out = tensor_view<const T, 4>(nullptr, {0, 3, 4, 2});
         a.dout = tensor_view<const T, 4>(nullptr, {0, 3, 4, 2});
         a.lse = tensor_view<const float, 3>(nullptr, {0, 4, 3});
         a.dq = tensor_view<T, 4>(nullptr, {0, 3, 4, 3});
         a.dk = tensor_view<T, 4>(nullptr, {0, 4, 2, 3});
         a.dv = tensor_view<T, 4>(nullptr, {0, 4, 2, 2});
       },
       [](const A& a) { EXPECT_TRUE(a.outputs_untouched()); }},
      {"Sq 0: no query sees a key, dk = dv = 0",
       [](A& a) {
         a.q = in<4>(a.qb, {2, 0, 4, 3});
         a.out = in<4>(a.ob, {2, 0, 4, 2});
         a.dout = in<4>(a.db, {2, 0, 4, 2});
         a.lse = in<3>(a.lb, {2, 4, 0});
         a.dq = io<4>(a.dqb, {2, 0, 4, 3});
       },
       [](const A& a) {
         EXPECT_TRUE(all_equal(a.dk, 0.0f)) << "dk";
         EXPECT_TRUE(all_equal(a.dv, 0.0f)) << "dv";
       }},
      {"Sk 0: every row empty, dq = 0",
       [](A& a) {
         a.k = in<4>(a.kb, {2, 0, 2, 3});
         a.v = in<4>(a.vb, {2, 0, 2, 2});
         a.dk = io<4>(a.dkb, {2, 0, 2, 3});
         a.dv = io<4>(a.dvb, {2, 0, 2, 2});
       },
       [](const A& a) { EXPECT_TRUE(all_equal(a.dq, 0.0f)) << "dq"; }},
      {"multi-query: Hkv 1",
       [](A& a) {
         a.k = in<4>(a.kb, {2, 4, 1, 3});
         a.v = in<4>(a.vb, {2, 4, 1, 2});
         a.dk = io<4>(a.dkb, {2, 4, 1, 3});
         a.dv = io<4>(a.dvb, {2, 4, 1, 2});
       },
       written},
      {"head dim 512",
       [](A& a) {
         a.q = in<4>(a.qb, {1, 1, 1, 512});
         a.k = in<4>(a.kb, {1, 2, 1, 512});
         a.v = in<4>(a.vb, {1, 2, 1, 2});
         a.out = in<4>(a.ob, {1, 1, 1, 2});
         a.dout = in<4>(a.db, {1, 1, 1, 2});
         a.lse = in<3>(a.lb, {1, 1, 1});
         a.dq = io<4>(a.dqb, {1, 1, 1, 512});
         a.dk = io<4>(a.dkb, {1, 2, 1, 512});
         a.dv = io<4>(a.dvb, {1, 2, 1, 2});
       },
       written},
      {"lse and dlse with innermost stride 2",
       [](A& a) {
         a.lse = in<3>(a.lb, {2, 4, 3}, {24, 6, 2});
         a.dlse = in<3>(a.dlb, {2, 4, 3}, {24, 6, 2});
       },
       written},
      {"dout with a row stride larger than Dv",
       [](A& a) {
         a.dout = in<4>(a.db, {2, 3, 4, 2}, {60, 20, 5, 1});
       },
       written},
      {"k, v, out and dout broadcast with stride 0",
       [](A& a) {
         a.k = in<4>(a.kb, {2, 4, 2, 3}, {6, 0, 3, 1});
         a.v = in<4>(a.vb, {2, 4, 2, 2}, {4, 0, 2, 1});
         a.dout = in<4>(a.db, {2, 3, 4, 2}, {0, 0, 2, 1});
       },
       written},
      {"gradients with stride 0 on extent-1 dimensions",
       [](A& a) {
         a.q = in<4>(a.qb, {1, 3, 4, 3});
         a.k = in<4>(a.kb, {1, 4, 2, 3});
         a.v = in<4>(a.vb, {1, 4, 2, 2});
         a.out = in<4>(a.ob, {1, 3, 4, 2});
         a.dout = in<4>(a.db, {1, 3, 4, 2});
         a.lse = in<3>(a.lb, {1, 4, 3});
         a.dq = io<4>(a.dqb, {1, 3, 4, 3}, {0, 12, 3, 1});
         a.dk = io<4>(a.dkb, {1, 4, 2, 3}, {0, 6, 3, 1});
         a.dv = io<4>(a.dvb, {1, 4, 2, 2}, {0, 4, 2, 1});
       },
       written},
  };
  for (const auto& c : valid) {
    SCOPED_TRACE(c.label);
    A a;
    c.make(a);
    ASSERT_NO_THROW(a.call());
    c.check(a);
  }
}

TYPED_TEST(FlashBackwardArguments, VarlenWritesOnlyTheRowsOfItsSequences) {
  using T = TypeParam;
  varlen_args<T> a;
  ASSERT_NO_THROW(a.call());
  const float kSentinel = float(T(argument_cases::kSentinel));
  // q row 5 and k row 7 lie outside every sequence; sequence 1 has a key (row 3) but no query,
  // so dk = dv = 0 there.
  for (index_t r = 0; r < 6; ++r)
    for (index_t h = 0; h < 4; ++h)
      for (index_t d = 0; d < 3; ++d)
        EXPECT_EQ(float(a.dq(r, h, d)) == kSentinel, r == 5) << "dq row " << r;
  for (index_t r = 0; r < 8; ++r)
    for (index_t h = 0; h < 2; ++h) {
      for (index_t d = 0; d < 3; ++d) {
        EXPECT_EQ(float(a.dk(r, h, d)) == kSentinel, r == 7) << "dk row " << r;
        if (r == 3) {
          EXPECT_EQ(float(a.dk(r, h, d)), 0.0f);
        }
      }
      for (index_t d = 0; d < 2; ++d) {
        EXPECT_EQ(float(a.dv(r, h, d)) == kSentinel, r == 7) << "dv row " << r;
        if (r == 3) {
          EXPECT_EQ(float(a.dv(r, h, d)), 0.0f);
        }
      }
    }
}

}  // namespace
}  // namespace attnkit::test
