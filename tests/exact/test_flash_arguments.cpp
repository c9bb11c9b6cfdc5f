// SPDX-License-Identifier: Apache-2.0
// The argument checks of DESIGN 1.4 through flash_attention and flash_attention_varlen: one
// invalid argument per call for fp32 and bf16, and the valid edge calls that must not throw.
#include <attnkit/exact/flash.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "exact/argument_cases.hpp"
#include "exact/flash_instances.hpp"
#include "support/tensor.hpp"

namespace attnkit::test {
namespace {

using namespace argument_cases;

/// Every element of `view` was written: it no longer holds the sentinel's bits and is not NaN.
template <class T, std::size_t Rank>
::testing::AssertionResult all_written(const tensor_view<T, Rank>& view) {
  const T sentinel(kSentinel);
  index_t stale = 0, nan = 0;
  for_each_index(view.extents(), [&](const auto& idx) {
    const T& x = at(view, idx);
    stale += std::memcmp(&x, &sentinel, sizeof(T)) == 0;
    nan += std::isnan(float(x));
  });
  if (stale == 0 && nan == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << stale << " elements still hold the sentinel, " << nan
                                       << " are NaN";
}

// ---- flash_attention ----------------------------------------------------------------------------

/// A valid dense call: B 2, Sq 3, Sk 4, Hq 4, Hkv 2, D 3, Dv 2, lse [2, 4, 3].
template <class T>
struct dense_args {
  static constexpr const char* kWhere = "flash_attention";
  basic_buffer<T> qb{kInput}, kb{kInput}, vb{kInput}, ob{kSentinel};
  buffer lb{kSentinel};
  option_storage os;
  tensor_view<const T, 4> q = in<4>(qb, {2, 3, 4, 3}), k = in<4>(kb, {2, 4, 2, 3}),
                          v = in<4>(vb, {2, 4, 2, 2});
  tensor_view<T, 4> out = io<4>(ob, {2, 3, 4, 2});
  tensor_view<float, 3> lse = io<3>(lb, {2, 4, 3});

  void call() { flash<default_arch, T>(q, k, v, out, os.opt, lse); }
  bool outputs_untouched() const { return ob.untouched() && lb.untouched(); }
};

template <class T>
std::vector<bad_case<dense_args<T>>> dense_cases() {
  using A = dense_args<T>;
  using in4 = tensor_view<const T, 4>;
  std::vector<bad_case<A>> cases = {
      // Shapes.
      {"k batch 1", "k", [](A& a) { a.k = in<4>(a.kb, {1, 4, 2, 3}); }},
      {"v batch 3", "v", [](A& a) { a.v = in<4>(a.vb, {3, 4, 2, 2}); }},
      {"v key length 5, k 4", "v", [](A& a) { a.v = in<4>(a.vb, {2, 5, 2, 2}); }},
      {"v heads 1, k heads 2", "v", [](A& a) { a.v = in<4>(a.vb, {2, 4, 1, 2}); }},
      {"Hq 3 not a multiple of Hkv 2", "q",
       [](A& a) {
         a.q = in<4>(a.qb, {2, 3, 3, 3});
         a.out = io<4>(a.ob, {2, 3, 3, 2});
         a.lse = io<3>(a.lb, {2, 3, 3});
       }},
      {"Hq 2 fewer than Hkv 4", "q",
       [](A& a) {
         a.q = in<4>(a.qb, {2, 3, 2, 3});
         a.k = in<4>(a.kb, {2, 4, 4, 3});
         a.v = in<4>(a.vb, {2, 4, 4, 2});
         a.out = io<4>(a.ob, {2, 3, 2, 2});
         a.lse = io<3>(a.lb, {2, 2, 3});
       }},
      {"Hkv 0", "k",
       [](A& a) {
         a.k = in<4>(a.kb, {2, 4, 0, 3});
         a.v = in<4>(a.vb, {2, 4, 0, 2});
       }},
      {"k head dim 4, q 3", "k", [](A& a) { a.k = in<4>(a.kb, {2, 4, 2, 4}); }},
      {"k head dim 2, q 3", "k", [](A& a) { a.k = in<4>(a.kb, {2, 4, 2, 2}); }},
      {"head dim 0", "q",
       [](A& a) {
         a.q = in<4>(a.qb, {2, 3, 4, 0});
         a.k = in<4>(a.kb, {2, 4, 2, 0});
       }},
      {"value head dim 0", "v",
       [](A& a) {
         a.v = in<4>(a.vb, {2, 4, 2, 0});
         a.out = io<4>(a.ob, {2, 3, 4, 0}, {24, 8, 2, 1});
       }},
      {"head dim 513 > 512", "q",
       [](A& a) {
         a.q = in<4>(a.qb, {1, 1, 1, 513});
         a.k = in<4>(a.kb, {1, 2, 1, 513});
         a.v = in<4>(a.vb, {1, 2, 1, 2});
         a.out = io<4>(a.ob, {1, 1, 1, 2});
         a.lse = io<3>(a.lb, {1, 1, 1});
       }},
      {"out batch 1", "out", [](A& a) { a.out = io<4>(a.ob, {1, 3, 4, 2}); }},
      {"out Sq 2", "out", [](A& a) { a.out = io<4>(a.ob, {2, 2, 4, 2}); }},
      {"out Sq 4", "out", [](A& a) { a.out = io<4>(a.ob, {2, 4, 4, 2}); }},
      {"out Hq 2 (kv heads)", "out", [](A& a) { a.out = io<4>(a.ob, {2, 3, 2, 2}); }},
      {"out Dv 3 (the head dim of q)", "out", [](A& a) { a.out = io<4>(a.ob, {2, 3, 4, 3}); }},
      // Strides: unit innermost for q, k, v, out; no zero stride in an output.
      {"q innermost stride 2", "q", [](A& a) { a.q = in<4>(a.qb, {2, 3, 4, 3}, {72, 24, 6, 2}); }},
      {"k innermost stride 2", "k", [](A& a) { a.k = in<4>(a.kb, {2, 4, 2, 3}, {48, 12, 6, 2}); }},
      {"k innermost stride 0", "k", [](A& a) { a.k = in<4>(a.kb, {2, 4, 2, 3}, {24, 6, 3, 0}); }},
      {"v innermost stride 2", "v", [](A& a) { a.v = in<4>(a.vb, {2, 4, 2, 2}, {32, 8, 4, 2}); }},
      {"v innermost stride -1", "v", [](A& a) { a.v = in<4>(a.vb, {2, 4, 2, 2}, {16, 4, 2, -1}); }},
      {"out innermost stride 2", "out",
       [](A& a) { a.out = io<4>(a.ob, {2, 3, 4, 2}, {48, 16, 4, 2}); }},
      {"out innermost stride 0", "out",
       [](A& a) { a.out = io<4>(a.ob, {2, 3, 4, 2}, {24, 8, 2, 0}); }},
      {"out batch stride 0", "out", [](A& a) { a.out = io<4>(a.ob, {2, 3, 4, 2}, {0, 8, 2, 1}); }},
      {"out query stride 0", "out", [](A& a) { a.out = io<4>(a.ob, {2, 3, 4, 2}, {24, 0, 2, 1}); }},
      {"out head stride 0", "out", [](A& a) { a.out = io<4>(a.ob, {2, 3, 4, 2}, {24, 8, 0, 1}); }},
      {"lse batch stride 0", "lse", [](A& a) { a.lse = io<3>(a.lb, {2, 4, 3}, {0, 3, 1}); }},
      {"lse head stride 0", "lse", [](A& a) { a.lse = io<3>(a.lb, {2, 4, 3}, {12, 0, 1}); }},
      {"lse query stride 0", "lse", [](A& a) { a.lse = io<3>(a.lb, {2, 4, 3}, {12, 3, 0}); }},
      // Null data.
      {"q null", "q", [](A& a) { a.q = in4(nullptr, {2, 3, 4, 3}); }},
      {"k null", "k", [](A& a) { a.k = in4(nullptr, {2, 4, 2, 3}); }},
      {"v null", "v", [](A& a) { a.v = in4(nullptr, {2, 4, 2, 2}); }},
      {"out null", "out", [](A& a) { a.out = tensor_view<T, 4>(nullptr, {2, 3, 4, 2}); }},
      {"lse null", "lse", [](A& a) { a.lse = tensor_view<float, 3>(nullptr, {2, 4, 3}); }},
      // lse shape.
      {"lse batch 1", "lse", [](A& a) { a.lse = io<3>(a.lb, {1, 4, 3}); }},
      {"lse heads 2 (kv heads)", "lse", [](A& a) { a.lse = io<3>(a.lb, {2, 2, 3}); }},
      {"lse Sq 4", "lse", [](A& a) { a.lse = io<3>(a.lb, {2, 4, 4}); }},
      {"lse laid out [B, Sq, Hq]", "lse", [](A& a) { a.lse = io<3>(a.lb, {2, 3, 4}); }},
      // Bias not broadcastable to [B, Hq, Sq, Sk].
      {"bias Sk 3", "opt.bias", [](A& a) { a.os.opt.bias = in<4>(a.os.bias, {2, 4, 3, 3}); }},
      {"bias Sk 5 (a dense bias is exact)", "opt.bias",
       [](A& a) { a.os.opt.bias = in<4>(a.os.bias, {2, 4, 3, 5}); }},
      {"bias batch 3", "opt.bias", [](A& a) { a.os.opt.bias = in<4>(a.os.bias, {3, 4, 3, 4}); }},
      {"bias heads 2 (kv heads)", "opt.bias",
       [](A& a) { a.os.opt.bias = in<4>(a.os.bias, {2, 2, 3, 4}); }},
      {"bias Sq 2", "opt.bias", [](A& a) { a.os.opt.bias = in<4>(a.os.bias, {2, 4, 2, 4}); }},
      {"bias extent 0", "opt.bias", [](A& a) { a.os.opt.bias = in<4>(a.os.bias, {2, 4, 3, 0}); }},
      {"bias null", "opt.bias",
       [](A& a) { a.os.opt.bias = tensor_view<const float, 4>(nullptr, {2, 4, 3, 4}); }},
  };
  for (auto& c : option_cases<A>()) cases.push_back(std::move(c));
  return cases;
}

/// A valid varlen call: total_q 6, total_k 8, cu_q {0, 2, 2, 5}, cu_k {0, 3, 4, 7} (row 5 of q
/// and row 7 of k outside every sequence), Hq 4, Hkv 2, D 3, Dv 2, lse [4, 6].
template <class T>
struct varlen_args {
  static constexpr const char* kWhere = "flash_attention_varlen";
  basic_buffer<T> qb{kInput}, kb{kInput}, vb{kInput}, ob{kSentinel};
  buffer lb{kSentinel};
  option_storage os;
  std::vector<std::int32_t> cu_q = {0, 2, 2, 5}, cu_k = {0, 3, 4, 7};
  tensor_view<const T, 3> q = in<3>(qb, {6, 4, 3}), k = in<3>(kb, {8, 2, 3}),
                          v = in<3>(vb, {8, 2, 2});
  tensor_view<T, 3> out = io<3>(ob, {6, 4, 2});
  tensor_view<float, 2> lse = io<2>(lb, {4, 6});

  void call() { flash_varlen<default_arch, T>(q, k, v, out, cu_q, cu_k, os.opt, lse); }
  bool outputs_untouched() const { return ob.untouched() && lb.untouched(); }
};

template <class T>
std::vector<bad_case<varlen_args<T>>> varlen_cases() {
  using A = varlen_args<T>;
  using in3 = tensor_view<const T, 3>;
  std::vector<bad_case<A>> cases = {
      // cu_seqlens.
      {"cu_seqlens_q empty", "cu_seqlens_q", [](A& a) { a.cu_q.clear(); }},
      {"cu_seqlens_q starts at 1", "cu_seqlens_q", [](A& a) { a.cu_q = {1, 2, 2, 5}; }},
      {"cu_seqlens_q starts at -1", "cu_seqlens_q", [](A& a) { a.cu_q = {-1, 2, 2, 5}; }},
      {"cu_seqlens_q decreasing", "cu_seqlens_q", [](A& a) { a.cu_q = {0, 3, 2, 5}; }},
      {"cu_seqlens_q negative entry", "cu_seqlens_q", [](A& a) { a.cu_q = {0, -2, 2, 5}; }},
      {"cu_seqlens_q beyond total_q", "cu_seqlens_q", [](A& a) { a.cu_q = {0, 2, 2, 7}; }},
      {"cu_seqlens_q beyond total_q in the middle", "cu_seqlens_q",
       [](A& a) { a.cu_q = {0, 9, 9, 9}; }},
      {"cu_seqlens_k empty", "cu_seqlens_k", [](A& a) { a.cu_k.clear(); }},
      {"cu_seqlens_k starts at 2", "cu_seqlens_k", [](A& a) { a.cu_k = {2, 3, 4, 7}; }},
      {"cu_seqlens_k decreasing", "cu_seqlens_k", [](A& a) { a.cu_k = {0, 3, 2, 7}; }},
      {"cu_seqlens_k beyond total_k", "cu_seqlens_k", [](A& a) { a.cu_k = {0, 3, 4, 9}; }},
      {"cu_seqlens_k shorter than cu_seqlens_q", "cu_seqlens_k", [](A& a) { a.cu_k = {0, 3, 7}; }},
      {"cu_seqlens_k longer than cu_seqlens_q", "cu_seqlens_k",
       [](A& a) { a.cu_k = {0, 3, 4, 7, 8}; }},
      {"cu_seqlens_k a single 0 for three sequences", "cu_seqlens_k", [](A& a) { a.cu_k = {0}; }},
      // Shapes.
      {"v total 7, k 8", "v", [](A& a) { a.v = in<3>(a.vb, {7, 2, 2}); }},
      {"v heads 1, k 2", "v", [](A& a) { a.v = in<3>(a.vb, {8, 1, 2}); }},
      {"Hq 3 not a multiple of Hkv 2", "q",
       [](A& a) {
         a.q = in<3>(a.qb, {6, 3, 3});
         a.out = io<3>(a.ob, {6, 3, 2});
         a.lse = io<2>(a.lb, {3, 6});
       }},
      {"Hkv 0", "k",
       [](A& a) {
         a.k = in<3>(a.kb, {8, 0, 3});
         a.v = in<3>(a.vb, {8, 0, 2});
       }},
      {"k head dim 2, q 3", "k", [](A& a) { a.k = in<3>(a.kb, {8, 2, 2}); }},
      {"head dim 513 > 512", "q",
       [](A& a) {
         a.q = in<3>(a.qb, {2, 1, 513});
         a.k = in<3>(a.kb, {2, 1, 513});
         a.v = in<3>(a.vb, {2, 1, 2});
         a.out = io<3>(a.ob, {2, 1, 2});
         a.lse = io<2>(a.lb, {1, 2});
         a.cu_q = {0, 2};
         a.cu_k = {0, 2};
       }},
      {"out total 5", "out", [](A& a) { a.out = io<3>(a.ob, {5, 4, 2}); }},
      {"out heads 2", "out", [](A& a) { a.out = io<3>(a.ob, {6, 2, 2}); }},
      {"out Dv 3", "out", [](A& a) { a.out = io<3>(a.ob, {6, 4, 3}); }},
      // Strides.
      {"q innermost stride 2", "q", [](A& a) { a.q = in<3>(a.qb, {6, 4, 3}, {24, 6, 2}); }},
      {"k innermost stride 2", "k", [](A& a) { a.k = in<3>(a.kb, {8, 2, 3}, {12, 6, 2}); }},
      {"v innermost stride 2", "v", [](A& a) { a.v = in<3>(a.vb, {8, 2, 2}, {8, 4, 2}); }},
      {"out innermost stride 2", "out", [](A& a) { a.out = io<3>(a.ob, {6, 4, 2}, {16, 4, 2}); }},
      {"out row stride 0", "out", [](A& a) { a.out = io<3>(a.ob, {6, 4, 2}, {0, 2, 1}); }},
      {"out head stride 0", "out", [](A& a) { a.out = io<3>(a.ob, {6, 4, 2}, {8, 0, 1}); }},
      {"out innermost stride 0", "out", [](A& a) { a.out = io<3>(a.ob, {6, 4, 2}, {8, 2, 0}); }},
      {"lse head stride 0", "lse", [](A& a) { a.lse = io<2>(a.lb, {4, 6}, {0, 1}); }},
      {"lse row stride 0", "lse", [](A& a) { a.lse = io<2>(a.lb, {4, 6}, {6, 0}); }},
      // Null data.
      {"q null", "q", [](A& a) { a.q = in3(nullptr, {6, 4, 3}); }},
      {"k null", "k", [](A& a) { a.k = in3(nullptr, {8, 2, 3}); }},
      {"v null", "v", [](A& a) { a.v = in3(nullptr, {8, 2, 2}); }},
      {"out null", "out", [](A& a) { a.out = tensor_view<T, 3>(nullptr, {6, 4, 2}); }},
      {"lse null", "lse", [](A& a) { a.lse = tensor_view<float, 2>(nullptr, {4, 6}); }},
      // lse shape.
      {"lse total 7", "lse", [](A& a) { a.lse = io<2>(a.lb, {4, 7}); }},
      {"lse longest sequence only", "lse", [](A& a) { a.lse = io<2>(a.lb, {4, 3}); }},
      {"lse heads 3", "lse", [](A& a) { a.lse = io<2>(a.lb, {3, 6}); }},
      {"lse laid out [total_q, Hq]", "lse", [](A& a) { a.lse = io<2>(a.lb, {6, 4}); }},
      // Bias [B, Hq, >= longest q, >= longest k].
      {"bias batch 2 for 3 sequences", "opt.bias",
       [](A& a) { a.os.opt.bias = in<4>(a.os.bias, {2, 4, 3, 3}); }},
      {"bias Sq 2 < longest 3", "opt.bias",
       [](A& a) { a.os.opt.bias = in<4>(a.os.bias, {3, 4, 2, 3}); }},
      {"bias Sk 2 < longest 3", "opt.bias",
       [](A& a) { a.os.opt.bias = in<4>(a.os.bias, {3, 4, 3, 2}); }},
      {"bias heads 2", "opt.bias", [](A& a) { a.os.opt.bias = in<4>(a.os.bias, {3, 2, 3, 3}); }},
      {"bias null", "opt.bias",
       [](A& a) { a.os.opt.bias = tensor_view<const float, 4>(nullptr, {3, 4, 3, 3}); }},
  };
  for (auto& c : option_cases<A>()) cases.push_back(std::move(c));
  return cases;
}

// ---- the tables, for fp32 and a 16-bit storage type ---------------------------------------------

template <class T>
class FlashArguments : public ::testing::Test {};

using element_types = ::testing::Types<float, bf16>;
TYPED_TEST_SUITE(FlashArguments, element_types);

TYPED_TEST(FlashArguments, DenseRejectsEachInvalidArgument) { run_table(dense_cases<TypeParam>()); }

TYPED_TEST(FlashArguments, VarlenRejectsEachInvalidArgument) {
  run_table(varlen_cases<TypeParam>());
}

TYPED_TEST(FlashArguments, DenseAcceptsValidEdgeCalls) {
  using T = TypeParam;
  using A = dense_args<T>;
  const float ninf = -std::numeric_limits<float>::infinity();
  struct valid_case {
    std::string label;
    std::function<void(A&)> make;
    std::function<void(const A&)> check;  // what the call must have written
  };
  auto written = [](const A& a) {
    EXPECT_TRUE(all_written(a.out)) << "out";
    if (!a.lse.empty()) {
      EXPECT_TRUE(all_written(a.lse)) << "lse";
    }
  };
  auto nothing_written = [](const A& a) { EXPECT_TRUE(a.outputs_untouched()); };
  const std::vector<valid_case> valid = {
      {"the base call", [](A&) {}, written},
      {"B 0 with null data",
       [](A& a) {
         a.q = tensor_view<const T, 4>(nullptr, {0, 3, 4, 3});
         a.k = tensor_view<const T, 4>(nullptr, {0, 4, 2, 3});
         a.v = tensor_view<const T, 4>(nullptr, {0, 4, 2, 2});
         a.out = tensor_view<T, 4>(nullptr, {0, 3, 4, 2});
         a.lse = tensor_view<float, 3>(nullptr, {0, 4, 3});
       },
       nothing_written},
      {"B 0 with contiguous (zero-stride) views",
       [](A& a) {
         a.q = in<4>(a.qb, {0, 3, 4, 3});
         a.k = in<4>(a.kb, {0, 4, 2, 3});
         a.v = in<4>(a.vb, {0, 4, 2, 2});
         a.out = io<4>(a.ob, {0, 3, 4, 2});
         a.lse = io<3>(a.lb, {0, 4, 3});
       },
       nothing_written},
      {"Sq 0, contiguous out and lse",
       [](A& a) {
         a.q = in<4>(a.qb, {2, 0, 4, 3});
         a.out = io<4>(a.ob, {2, 0, 4, 2});
         a.lse = io<3>(a.lb, {2, 4, 0});
       },
       nothing_written},
      {"Sk 0: every row empty",
       [](A& a) {
         a.k = in<4>(a.kb, {2, 0, 2, 3});
         a.v = in<4>(a.vb, {2, 0, 2, 2});
       },
       [](const A& a) {
         for_each_index(a.out.extents(), [&](const auto& i) { EXPECT_EQ(float(at(a.out, i)), 0.0f); });
         for_each_index(a.lse.extents(), [&](const auto& i) { EXPECT_EQ(at(a.lse, i), -kInf); });
       }},
      {"Sk 0 with a sink: lse = sink",
       [](A& a) {
         a.k = in<4>(a.kb, {2, 0, 2, 3});
         a.v = in<4>(a.vb, {2, 0, 2, 2});
         a.os.sinks = {0.5f, 1.0f, 1.5f, 2.0f};
         a.os.opt.sinks = a.os.sinks;
       },
       [](const A& a) {
         for_each_index(a.out.extents(), [&](const auto& i) { EXPECT_EQ(float(at(a.out, i)), 0.0f); });
         for_each_index(a.lse.extents(),
                        [&](const auto& i) { EXPECT_EQ(at(a.lse, i), 0.5f * float(i[1] + 1)); });
       }},
      {"Hq = Hkv",
       [](A& a) {
         a.q = in<4>(a.qb, {2, 3, 2, 3});
         a.out = io<4>(a.ob, {2, 3, 2, 2});
         a.lse = io<3>(a.lb, {2, 2, 3});
       },
       written},
      {"multi-query: Hkv 1",
       [](A& a) {
         a.k = in<4>(a.kb, {2, 4, 1, 3});
         a.v = in<4>(a.vb, {2, 4, 1, 2});
       },
       written},
      {"head dim 512",
       [](A& a) {
         a.q = in<4>(a.qb, {1, 1, 1, 512});
         a.k = in<4>(a.kb, {1, 2, 1, 512});
         a.v = in<4>(a.vb, {1, 2, 1, 2});
         a.out = io<4>(a.ob, {1, 1, 1, 2});
         a.lse = io<3>(a.lb, {1, 1, 1});
       },
       written},
      {"lse absent", [](A& a) { a.lse = {}; }, written},
      {"lse with innermost stride 2", [](A& a) { a.lse = io<3>(a.lb, {2, 4, 3}, {24, 6, 2}); },
       written},
      {"head dim 1 with stride 2",
       [](A& a) {
         a.q = in<4>(a.qb, {2, 3, 4, 1}, {24, 8, 2, 2});
         a.k = in<4>(a.kb, {2, 4, 2, 1}, {16, 4, 2, 2});
       },
       written},
      {"out and lse stride 0 on extent-1 dimensions",
       [](A& a) {
         a.q = in<4>(a.qb, {1, 3, 4, 3});
         a.k = in<4>(a.kb, {1, 4, 2, 3});
         a.v = in<4>(a.vb, {1, 4, 2, 2});
         a.out = io<4>(a.ob, {1, 3, 4, 2}, {0, 8, 2, 1});
         a.lse = io<3>(a.lb, {1, 4, 3}, {0, 3, 1});
       },
       written},
      {"k and v broadcast over keys (stride 0)",
       [](A& a) {
         a.k = in<4>(a.kb, {2, 4, 2, 3}, {6, 0, 3, 1});
         a.v = in<4>(a.vb, {2, 4, 2, 2}, {4, 0, 2, 1});
       },
       written},
      {"bias [1, 1, 1, 1]", [](A& a) { a.os.opt.bias = in<4>(a.os.bias, {1, 1, 1, 1}); }, written},
      {"bias [2, 1, 3, 1]", [](A& a) { a.os.opt.bias = in<4>(a.os.bias, {2, 1, 3, 1}); }, written},
      {"bias [1, 4, 1, 4]", [](A& a) { a.os.opt.bias = in<4>(a.os.bias, {1, 4, 1, 4}); }, written},
      {"bias stride 0",
       [](A& a) { a.os.opt.bias = in<4>(a.os.bias, {2, 4, 3, 4}, {0, 0, 0, 1}); }, written},
      {"every sink -inf",
       [ninf](A& a) {
         a.os.sinks.assign(4, ninf);
         a.os.opt.sinks = a.os.sinks;
       },
       written},
      {"one sink -inf, the others finite",
       [ninf](A& a) {
         a.os.sinks = {0.0f, ninf, -3.0f, 2.0f};
         a.os.opt.sinks = a.os.sinks;
       },
       written},
      {"windows -1 and 0, negative scale, softcap",
       [](A& a) {
         a.os.opt.window_left = 0;
         a.os.opt.window_right = -1;
         a.os.opt.scale = -0.5f;
         a.os.opt.softcap = 1.0f;
       },
       written},
      {"alibi with zero and negative slopes",
       [](A& a) {
         a.os.slopes = {0.0f, -1.0f, 0.5f, 2.0f};
         a.os.opt.alibi_slopes = a.os.slopes;
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

TYPED_TEST(FlashArguments, VarlenAcceptsValidEdgeCalls) {
  using T = TypeParam;
  using A = varlen_args<T>;
  const float ninf = -std::numeric_limits<float>::infinity();
  /// Rows [cu_q[B], total_q) lie outside every sequence and must keep the sentinel; the others
  /// must be written.
  auto rows_written = [](const A& a) {
    const index_t end = a.cu_q.back();
    for_each_index(a.out.extents(), [&](const auto& i) {
      const bool inside = i[0] < end;
      EXPECT_EQ(float(at(a.out, i)) != float(T(kSentinel)), inside) << "out row " << i[0];
      EXPECT_FALSE(std::isnan(float(at(a.out, i)))) << "out row " << i[0];
    });
    if (a.lse.empty()) return;
    for_each_index(a.lse.extents(), [&](const auto& i) {
      EXPECT_EQ(at(a.lse, i) != kSentinel, i[1] < end) << "lse column " << i[1];
    });
  };
  struct valid_case {
    std::string label;
    std::function<void(A&)> make;
  };
  const std::vector<valid_case> valid = {
      {"the base call", [](A&) {}},
      {"no sequences", [](A& a) { a.cu_q = a.cu_k = {0}; }},
      {"total 0 with null data",
       [](A& a) {
         a.q = tensor_view<const T, 3>(nullptr, {0, 4, 3});
         a.k = tensor_view<const T, 3>(nullptr, {0, 2, 3});
         a.v = tensor_view<const T, 3>(nullptr, {0, 2, 2});
         a.out = tensor_view<T, 3>(nullptr, {0, 4, 2});
         a.lse = tensor_view<float, 2>(nullptr, {4, 0});
         a.cu_q = a.cu_k = {0, 0, 0};
       }},
      {"empty sequences: no queries, no keys, neither",
       [](A& a) {
         a.cu_q = {0, 0, 2, 2, 5, 5};  // queries 0, 2, 0, 3, 0
         a.cu_k = {0, 3, 3, 3, 7, 7};  // keys    3, 0, 0, 4, 0
       }},
      {"cu_seqlens ending exactly at the totals",
       [](A& a) {
         a.cu_q = {0, 2, 2, 6};
         a.cu_k = {0, 3, 4, 8};
       }},
      {"Hq = Hkv",
       [](A& a) {
         a.q = in<3>(a.qb, {6, 2, 3});
         a.out = io<3>(a.ob, {6, 2, 2});
         a.lse = io<2>(a.lb, {2, 6});
       }},
      {"lse absent", [](A& a) { a.lse = {}; }},
      {"bias larger than the longest sequences",
       [](A& a) { a.os.opt.bias = in<4>(a.os.bias, {3, 4, 6, 8}); }},
      {"bias [1, 1, 1, 1]", [](A& a) { a.os.opt.bias = in<4>(a.os.bias, {1, 1, 1, 1}); }},
      {"bias [3, 1, 1, 3]", [](A& a) { a.os.opt.bias = in<4>(a.os.bias, {3, 1, 1, 3}); }},
      {"every sink -inf",
       [ninf](A& a) {
         a.os.sinks.assign(4, ninf);
         a.os.opt.sinks = a.os.sinks;
       }},
  };
  for (const auto& c : valid) {
    SCOPED_TRACE(c.label);
    A a;
    c.make(a);
    ASSERT_NO_THROW(a.call());
    rows_written(a);
  }
}

TEST(FlashArgumentMessages, NameTheFunctionTheArgumentExpectedAndActual) {
  // DESIGN 1.4: the message names the function, the argument, the expected and the actual value.
  auto message = [](auto&& call) -> std::string {
    try {
      call();
    } catch (const error& e) {
      return e.what();
    }
    return "no error";
  };
  {
    dense_args<float> a;
    a.q = in<4>(a.qb, {1, 1, 1, 600});
    a.k = in<4>(a.kb, {1, 1, 1, 600});
    a.v = in<4>(a.vb, {1, 1, 1, 2});
    a.out = io<4>(a.ob, {1, 1, 1, 2});
    a.lse = io<3>(a.lb, {1, 1, 1});
    const std::string m = message([&] { a.call(); });
    EXPECT_EQ(m.rfind("attnkit::flash_attention: argument 'q'", 0), 0u) << m;
    EXPECT_NE(m.find("512"), std::string::npos) << m;
    EXPECT_NE(m.find("got 600"), std::string::npos) << m;
  }
  {
    varlen_args<float> a;
    a.cu_k = {0, 3, 4, 11};
    const std::string m = message([&] { a.call(); });
    EXPECT_EQ(m.rfind("attnkit::flash_attention_varlen: argument 'cu_seqlens_k'", 0), 0u) << m;
    EXPECT_NE(m.find("8"), std::string::npos) << m;  // total_k
    EXPECT_NE(m.find("got 11"), std::string::npos) << m;
  }
  {
    varlen_args<float> a;
    a.lse = io<2>(a.lb, {4, 3});
    const std::string m = message([&] { a.call(); });
    EXPECT_EQ(m.rfind("attnkit::flash_attention_varlen: argument 'lse'", 0), 0u) << m;
    EXPECT_NE(m.find("6"), std::string::npos) << m;  // total_q
    EXPECT_NE(m.find("got 3"), std::string::npos) << m;
  }
}

}  // namespace
}  // namespace attnkit::test
