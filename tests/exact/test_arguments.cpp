// SPDX-License-Identifier: Apache-2.0
// The argument checks of DESIGN 1.4 through the reference entry points: one invalid argument per call.
#include <attnkit/exact/arguments.hpp>
#include <attnkit/exact/reference.hpp>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <gtest/gtest.h>

#include "exact/argument_cases.hpp"

namespace attnkit {
namespace {

static_assert(std::is_base_of_v<std::invalid_argument, error>);

using namespace test::argument_cases;

// ---- reference::attention -----------------------------------------------------------------------

/// A valid dense call: B 2, Sq 3, Sk 4, Hq 4, Hkv 2, D 3, Dv 2, lse [2, 4, 3].
struct dense_args {
  static constexpr const char* kWhere = "reference::attention";
  buffer qb{kInput}, kb{kInput}, vb{kInput}, ob{kSentinel}, lb{kSentinel};
  option_storage os;
  tensor_view<const float, 4> q = qb.in<4>({2, 3, 4, 3}), k = kb.in<4>({2, 4, 2, 3}),
                              v = vb.in<4>({2, 4, 2, 2});
  tensor_view<float, 4> out = ob.io<4>({2, 3, 4, 2});
  tensor_view<float, 3> lse = lb.io<3>({2, 4, 3});

  void call() { reference::attention<float>(q, k, v, out, os.opt, lse); }
  bool outputs_untouched() const { return ob.untouched() && lb.untouched(); }
};

using dense_case = bad_case<dense_args>;

TEST(ArgumentChecks, ReferenceAttentionRejectsEachInvalidArgument) {
  std::vector<dense_case> cases = {
      {"k batch 1", "k", [](dense_args& a) { a.k = a.kb.in<4>({1, 4, 2, 3}); }},
      {"v batch 3", "v", [](dense_args& a) { a.v = a.vb.in<4>({3, 4, 2, 2}); }},
      {"v key length 5, k 4", "v", [](dense_args& a) { a.v = a.vb.in<4>({2, 5, 2, 2}); }},
      {"Hq 3 not a multiple of Hkv 2", "q",
       [](dense_args& a) {
         a.q = a.qb.in<4>({2, 3, 3, 3});
         a.out = a.ob.io<4>({2, 3, 3, 2});
         a.lse = a.lb.io<3>({2, 3, 3});
       }},
      {"Hkv 0", "k",
       [](dense_args& a) {
         a.k = a.kb.in<4>({2, 4, 0, 3});
         a.v = a.vb.in<4>({2, 4, 0, 2});
       }},
      {"v heads 1, k heads 2", "v", [](dense_args& a) { a.v = a.vb.in<4>({2, 4, 1, 2}); }},
      {"k head dim 4, q 3", "k", [](dense_args& a) { a.k = a.kb.in<4>({2, 4, 2, 4}); }},
      {"head dim 0", "q",
       [](dense_args& a) {
         a.q = a.qb.in<4>({2, 3, 4, 0});
         a.k = a.kb.in<4>({2, 4, 2, 0});
       }},
      {"value head dim 0", "v",
       [](dense_args& a) {
         a.v = a.vb.in<4>({2, 4, 2, 0});
         a.out = a.ob.io<4>({2, 3, 4, 0}, {24, 8, 2, 1});  // non-zero strides: see AcceptsValidEdgeCalls
       }},
      {"out batch 1", "out", [](dense_args& a) { a.out = a.ob.io<4>({1, 3, 4, 2}); }},
      {"out Sq 2", "out", [](dense_args& a) { a.out = a.ob.io<4>({2, 2, 4, 2}); }},
      {"out Hq 2", "out", [](dense_args& a) { a.out = a.ob.io<4>({2, 3, 2, 2}); }},
      {"out Dv 3", "out", [](dense_args& a) { a.out = a.ob.io<4>({2, 3, 4, 3}); }},
      {"q innermost stride 2", "q",
       [](dense_args& a) { a.q = a.qb.in<4>({2, 3, 4, 3}, {72, 24, 6, 2}); }},
      {"k innermost stride 2", "k",
       [](dense_args& a) { a.k = a.kb.in<4>({2, 4, 2, 3}, {48, 12, 6, 2}); }},
      {"v innermost stride 2", "v",
       [](dense_args& a) { a.v = a.vb.in<4>({2, 4, 2, 2}, {32, 8, 4, 2}); }},
      {"out innermost stride 2", "out",
       [](dense_args& a) { a.out = a.ob.io<4>({2, 3, 4, 2}, {48, 16, 4, 2}); }},
      {"out innermost stride 0", "out",
       [](dense_args& a) { a.out = a.ob.io<4>({2, 3, 4, 2}, {24, 8, 2, 0}); }},
      {"out batch stride 0", "out",
       [](dense_args& a) { a.out = a.ob.io<4>({2, 3, 4, 2}, {0, 8, 2, 1}); }},
      {"out head stride 0", "out",
       [](dense_args& a) { a.out = a.ob.io<4>({2, 3, 4, 2}, {24, 8, 0, 1}); }},
      {"q null", "q", [](dense_args& a) { a.q = tensor_view<const float, 4>(nullptr, {2, 3, 4, 3}); }},
      {"k null", "k", [](dense_args& a) { a.k = tensor_view<const float, 4>(nullptr, {2, 4, 2, 3}); }},
      {"v null", "v", [](dense_args& a) { a.v = tensor_view<const float, 4>(nullptr, {2, 4, 2, 2}); }},
      {"out null", "out", [](dense_args& a) { a.out = tensor_view<float, 4>(nullptr, {2, 3, 4, 2}); }},
      {"lse null", "lse", [](dense_args& a) { a.lse = tensor_view<float, 3>(nullptr, {2, 4, 3}); }},
      {"lse batch 1", "lse", [](dense_args& a) { a.lse = a.lb.io<3>({1, 4, 3}); }},
      {"lse heads 2", "lse", [](dense_args& a) { a.lse = a.lb.io<3>({2, 2, 3}); }},
      {"lse Sq 4", "lse", [](dense_args& a) { a.lse = a.lb.io<3>({2, 4, 4}); }},
      {"lse laid out [B, Sq, Hq]", "lse", [](dense_args& a) { a.lse = a.lb.io<3>({2, 3, 4}); }},
      {"lse stride 0", "lse", [](dense_args& a) { a.lse = a.lb.io<3>({2, 4, 3}, {12, 0, 1}); }},
      {"bias Sk 3", "opt.bias",
       [](dense_args& a) { a.os.opt.bias = a.os.bias.in<4>({2, 4, 3, 3}); }},
      {"bias Sk 5 (dense bias is exact)", "opt.bias",
       [](dense_args& a) { a.os.opt.bias = a.os.bias.in<4>({2, 4, 3, 5}); }},
      {"bias batch 3", "opt.bias",
       [](dense_args& a) { a.os.opt.bias = a.os.bias.in<4>({3, 4, 3, 4}); }},
      {"bias heads 2 (kv heads)", "opt.bias",
       [](dense_args& a) { a.os.opt.bias = a.os.bias.in<4>({2, 2, 3, 4}); }},
      {"bias Sq 2", "opt.bias",
       [](dense_args& a) { a.os.opt.bias = a.os.bias.in<4>({2, 4, 2, 4}); }},
      {"bias null", "opt.bias",
       [](dense_args& a) { a.os.opt.bias = tensor_view<const float, 4>(nullptr, {2, 4, 3, 4}); }},
  };
  for (auto& c : option_cases<dense_args>()) cases.push_back(std::move(c));
  run_table(cases);
}

TEST(ArgumentChecks, ReferenceAttentionAcceptsValidEdgeCalls) {
  // Each of these is valid and must not throw: broadcast bias (extent 1 and stride 0), any stride
  // where the extent is 1, null data where the size is 0, and size-0 outputs whose contiguous
  // strides are 0 (out [2, 0, 4, 2] has stride(0) = 0 yet no two elements to alias).
  std::vector<std::pair<std::string, std::function<void(dense_args&)>>> valid = {
      {"bias [1, 1, 1, 1]", [](dense_args& a) { a.os.opt.bias = a.os.bias.in<4>({1, 1, 1, 1}); }},
      {"bias [2, 1, 3, 1]", [](dense_args& a) { a.os.opt.bias = a.os.bias.in<4>({2, 1, 3, 1}); }},
      {"bias stride 0", [](dense_args& a) {
         a.os.opt.bias = a.os.bias.in<4>({2, 4, 3, 4}, {0, 0, 0, 1});
       }},
      {"head dim 1 with stride 2", [](dense_args& a) {
         a.q = a.qb.in<4>({2, 3, 4, 1}, {24, 8, 2, 2});
         a.k = a.kb.in<4>({2, 4, 2, 1}, {16, 4, 2, 2});
       }},
      {"out stride 0 on an extent-1 dimension", [](dense_args& a) {
         a.q = a.qb.in<4>({1, 3, 4, 3});
         a.k = a.kb.in<4>({1, 4, 2, 3});
         a.v = a.vb.in<4>({1, 4, 2, 2});
         a.out = a.ob.io<4>({1, 3, 4, 2}, {0, 8, 2, 1});
         a.lse = a.lb.io<3>({1, 4, 3}, {0, 3, 1});
       }},
      {"B 0 with null data", [](dense_args& a) {
         a.q = tensor_view<const float, 4>(nullptr, {0, 3, 4, 3});
         a.k = tensor_view<const float, 4>(nullptr, {0, 4, 2, 3});
         a.v = tensor_view<const float, 4>(nullptr, {0, 4, 2, 2});
         a.out = tensor_view<float, 4>(nullptr, {0, 3, 4, 2});
         a.lse = tensor_view<float, 3>(nullptr, {0, 4, 3});
       }},
      {"lse absent", [](dense_args& a) { a.lse = {}; }},
      {"Sq 0, contiguous out and lse", [](dense_args& a) {
         a.q = a.qb.in<4>({2, 0, 4, 3});
         a.out = a.ob.io<4>({2, 0, 4, 2});
         a.lse = a.lb.io<3>({2, 4, 0});
       }},
      {"Sk 0", [](dense_args& a) {
         a.k = a.kb.in<4>({2, 0, 2, 3});
         a.v = a.vb.in<4>({2, 0, 2, 2});
       }},
  };
  for (const auto& [label, make] : valid) {
    SCOPED_TRACE(label);
    dense_args a;
    make(a);
    EXPECT_NO_THROW(a.call());
  }
}

// ---- reference::attention_varlen ----------------------------------------------------------------

/// A valid varlen call: total_q 6, total_k 8, cu_q {0, 2, 2, 5}, cu_k {0, 3, 4, 7} (row 5 of q
/// and row 7 of k outside every sequence), Hq 4, Hkv 2, D 3, Dv 2, lse [4, 6].
struct varlen_args {
  static constexpr const char* kWhere = "reference::attention_varlen";
  buffer qb{kInput}, kb{kInput}, vb{kInput}, ob{kSentinel}, lb{kSentinel};
  option_storage os;
  std::vector<std::int32_t> cu_q = {0, 2, 2, 5}, cu_k = {0, 3, 4, 7};
  tensor_view<const float, 3> q = qb.in<3>({6, 4, 3}), k = kb.in<3>({8, 2, 3}), v = vb.in<3>({8, 2, 2});
  tensor_view<float, 3> out = ob.io<3>({6, 4, 2});
  tensor_view<float, 2> lse = lb.io<2>({4, 6});

  void call() { reference::attention_varlen<float>(q, k, v, out, cu_q, cu_k, os.opt, lse); }
  bool outputs_untouched() const { return ob.untouched() && lb.untouched(); }
};

using varlen_case = bad_case<varlen_args>;

TEST(ArgumentChecks, ReferenceAttentionVarlenRejectsEachInvalidArgument) {
  std::vector<varlen_case> cases = {
      {"cu_seqlens_q starts at 1", "cu_seqlens_q", [](varlen_args& a) { a.cu_q = {1, 2, 2, 5}; }},
      {"cu_seqlens_q decreasing", "cu_seqlens_q", [](varlen_args& a) { a.cu_q = {0, 3, 2, 5}; }},
      {"cu_seqlens_q beyond total_q", "cu_seqlens_q", [](varlen_args& a) { a.cu_q = {0, 2, 2, 7}; }},
      {"cu_seqlens_q empty", "cu_seqlens_q", [](varlen_args& a) { a.cu_q.clear(); }},
      {"cu_seqlens_k starts at 2", "cu_seqlens_k", [](varlen_args& a) { a.cu_k = {2, 3, 4, 7}; }},
      {"cu_seqlens_k decreasing", "cu_seqlens_k", [](varlen_args& a) { a.cu_k = {0, 3, 2, 7}; }},
      {"cu_seqlens_k beyond total_k", "cu_seqlens_k", [](varlen_args& a) { a.cu_k = {0, 3, 4, 9}; }},
      {"cu_seqlens_k empty", "cu_seqlens_k", [](varlen_args& a) { a.cu_k.clear(); }},
      {"cu_seqlens_k shorter than cu_seqlens_q", "cu_seqlens_k",
       [](varlen_args& a) { a.cu_k = {0, 3, 7}; }},
      {"cu_seqlens_k longer than cu_seqlens_q", "cu_seqlens_k",
       [](varlen_args& a) { a.cu_k = {0, 3, 4, 7, 8}; }},
      {"v total 7, k 8", "v", [](varlen_args& a) { a.v = a.vb.in<3>({7, 2, 2}); }},
      {"Hq 3 not a multiple of Hkv 2", "q",
       [](varlen_args& a) {
         a.q = a.qb.in<3>({6, 3, 3});
         a.out = a.ob.io<3>({6, 3, 2});
         a.lse = a.lb.io<2>({3, 6});
       }},
      {"k head dim 2, q 3", "k", [](varlen_args& a) { a.k = a.kb.in<3>({8, 2, 2}); }},
      {"out total 5", "out", [](varlen_args& a) { a.out = a.ob.io<3>({5, 4, 2}); }},
      {"out Dv 3", "out", [](varlen_args& a) { a.out = a.ob.io<3>({6, 4, 3}); }},
      {"q innermost stride 2", "q", [](varlen_args& a) { a.q = a.qb.in<3>({6, 4, 3}, {24, 6, 2}); }},
      {"out row stride 0", "out", [](varlen_args& a) { a.out = a.ob.io<3>({6, 4, 2}, {0, 2, 1}); }},
      {"k null", "k", [](varlen_args& a) { a.k = tensor_view<const float, 3>(nullptr, {8, 2, 3}); }},
      {"lse total 7", "lse", [](varlen_args& a) { a.lse = a.lb.io<2>({4, 7}); }},
      {"lse longest sequence only", "lse", [](varlen_args& a) { a.lse = a.lb.io<2>({4, 3}); }},
      {"lse heads 3", "lse", [](varlen_args& a) { a.lse = a.lb.io<2>({3, 6}); }},
      {"lse laid out [total_q, Hq]", "lse", [](varlen_args& a) { a.lse = a.lb.io<2>({6, 4}); }},
      {"bias batch 2 for 3 sequences", "opt.bias",
       [](varlen_args& a) { a.os.opt.bias = a.os.bias.in<4>({2, 4, 3, 3}); }},
      {"bias Sq 2 < longest 3", "opt.bias",
       [](varlen_args& a) { a.os.opt.bias = a.os.bias.in<4>({3, 4, 2, 3}); }},
      {"bias Sk 2 < longest 3", "opt.bias",
       [](varlen_args& a) { a.os.opt.bias = a.os.bias.in<4>({3, 4, 3, 2}); }},
      {"bias heads 2", "opt.bias",
       [](varlen_args& a) { a.os.opt.bias = a.os.bias.in<4>({3, 2, 3, 3}); }},
  };
  for (auto& c : option_cases<varlen_args>()) cases.push_back(std::move(c));
  run_table(cases);
}

TEST(ArgumentChecks, ReferenceAttentionVarlenAcceptsValidEdgeCalls) {
  std::vector<std::pair<std::string, std::function<void(varlen_args&)>>> valid = {
      {"bias larger than the longest sequences",
       [](varlen_args& a) { a.os.opt.bias = a.os.bias.in<4>({3, 4, 6, 8}); }},
      {"bias [1, 1, 1, 1]", [](varlen_args& a) { a.os.opt.bias = a.os.bias.in<4>({1, 1, 1, 1}); }},
      {"no sequences", [](varlen_args& a) { a.cu_q = a.cu_k = {0}; }},
      {"cu_seqlens ending exactly at the totals", [](varlen_args& a) {
         a.cu_q = {0, 2, 2, 6};
         a.cu_k = {0, 3, 4, 8};
       }},
  };
  for (const auto& [label, make] : valid) {
    SCOPED_TRACE(label);
    varlen_args a;
    make(a);
    EXPECT_NO_THROW(a.call());
  }
}

// ---- reference::attention_backward --------------------------------------------------------------

/// A valid backward call on the dense shapes, with lse [2, 4, 3] and dlse given.
struct backward_args {
  static constexpr const char* kWhere = "reference::attention_backward";
  buffer qb{kInput}, kb{kInput}, vb{kInput}, ob{kInput}, gb{kInput}, lb{kInput}, glb{kInput};
  buffer dqb{kSentinel}, dkb{kSentinel}, dvb{kSentinel};
  option_storage os;
  tensor_view<const float, 4> q = qb.in<4>({2, 3, 4, 3}), k = kb.in<4>({2, 4, 2, 3}),
                              v = vb.in<4>({2, 4, 2, 2}), out = ob.in<4>({2, 3, 4, 2}),
                              dout = gb.in<4>({2, 3, 4, 2});
  tensor_view<const float, 3> lse = lb.in<3>({2, 4, 3}), dlse = glb.in<3>({2, 4, 3});
  tensor_view<float, 4> dq = dqb.io<4>({2, 3, 4, 3}), dk = dkb.io<4>({2, 4, 2, 3}),
                        dv = dvb.io<4>({2, 4, 2, 2});

  void call() {
    reference::attention_backward<float>(q, k, v, out, dout, lse, dq, dk, dv, os.opt, dlse);
  }
  bool outputs_untouched() const { return dqb.untouched() && dkb.untouched() && dvb.untouched(); }
};

using backward_case = bad_case<backward_args>;

TEST(ArgumentChecks, ReferenceAttentionBackwardRejectsEachInvalidArgument) {
  std::vector<backward_case> cases = {
      {"lse absent", "lse", [](backward_args& a) { a.lse = {}; }},
      {"lse Sq 2", "lse", [](backward_args& a) { a.lse = a.lb.in<3>({2, 4, 2}); }},
      {"lse null", "lse", [](backward_args& a) { a.lse = tensor_view<const float, 3>(nullptr, {2, 4, 3}); }},
      {"dlse heads 2", "dlse", [](backward_args& a) { a.dlse = a.glb.in<3>({2, 2, 3}); }},
      {"dout Dv 3", "dout", [](backward_args& a) { a.dout = a.gb.in<4>({2, 3, 4, 3}); }},
      {"dout Sq 2", "dout", [](backward_args& a) { a.dout = a.gb.in<4>({2, 2, 4, 2}); }},
      {"dout innermost stride 2", "dout",
       [](backward_args& a) { a.dout = a.gb.in<4>({2, 3, 4, 2}, {48, 16, 4, 2}); }},
      {"dq head dim 2", "dq", [](backward_args& a) { a.dq = a.dqb.io<4>({2, 3, 4, 2}); }},
      {"dq heads 2", "dq", [](backward_args& a) { a.dq = a.dqb.io<4>({2, 3, 2, 3}); }},
      {"dq innermost stride 2", "dq",
       [](backward_args& a) { a.dq = a.dqb.io<4>({2, 3, 4, 3}, {72, 24, 6, 2}); }},
      {"dq batch stride 0", "dq",
       [](backward_args& a) { a.dq = a.dqb.io<4>({2, 3, 4, 3}, {0, 12, 3, 1}); }},
      {"dq null", "dq", [](backward_args& a) { a.dq = tensor_view<float, 4>(nullptr, {2, 3, 4, 3}); }},
      {"dk Sk 5", "dk", [](backward_args& a) { a.dk = a.dkb.io<4>({2, 5, 2, 3}); }},
      {"dk shaped as q", "dk", [](backward_args& a) { a.dk = a.dkb.io<4>({2, 3, 4, 3}); }},
      {"dk key stride 0", "dk",
       [](backward_args& a) { a.dk = a.dkb.io<4>({2, 4, 2, 3}, {24, 0, 3, 1}); }},
      {"dv head dim 3", "dv", [](backward_args& a) { a.dv = a.dvb.io<4>({2, 4, 2, 3}); }},
      {"dv heads 4", "dv", [](backward_args& a) { a.dv = a.dvb.io<4>({2, 4, 4, 2}); }},
      {"k batch 1", "k", [](backward_args& a) { a.k = a.kb.in<4>({1, 4, 2, 3}); }},
      {"out Dv 3", "out", [](backward_args& a) { a.out = a.ob.in<4>({2, 3, 4, 3}); }},
      {"bias Sk 3", "opt.bias",
       [](backward_args& a) { a.os.opt.bias = a.os.bias.in<4>({2, 4, 3, 3}); }},
  };
  for (auto& c : option_cases<backward_args>()) cases.push_back(std::move(c));
  run_table(cases);
}

TEST(ArgumentChecks, ReferenceAttentionBackwardAcceptsAbsentDlseAndEmptyKeys) {
  {
    backward_args a;
    a.dlse = {};
    EXPECT_NO_THROW(a.call());
  }
  {
    // Sk = 0: dk and dv are size-0 contiguous views [2, 0, 2, D] with stride(0) = 0.
    backward_args a;
    a.k = a.kb.in<4>({2, 0, 2, 3});
    a.v = a.vb.in<4>({2, 0, 2, 2});
    a.dk = a.dkb.io<4>({2, 0, 2, 3});
    a.dv = a.dvb.io<4>({2, 0, 2, 2});
    EXPECT_NO_THROW(a.call());
  }
}

// ---- reference::attention_varlen_backward -------------------------------------------------------

/// A valid varlen backward call on the varlen shapes, lse and dlse [4, 6].
struct varlen_backward_args {
  static constexpr const char* kWhere = "reference::attention_varlen_backward";
  buffer qb{kInput}, kb{kInput}, vb{kInput}, ob{kInput}, gb{kInput}, lb{kInput}, glb{kInput};
  buffer dqb{kSentinel}, dkb{kSentinel}, dvb{kSentinel};
  option_storage os;
  std::vector<std::int32_t> cu_q = {0, 2, 2, 5}, cu_k = {0, 3, 4, 7};
  tensor_view<const float, 3> q = qb.in<3>({6, 4, 3}), k = kb.in<3>({8, 2, 3}),
                              v = vb.in<3>({8, 2, 2}), out = ob.in<3>({6, 4, 2}),
                              dout = gb.in<3>({6, 4, 2});
  tensor_view<const float, 2> lse = lb.in<2>({4, 6}), dlse = glb.in<2>({4, 6});
  tensor_view<float, 3> dq = dqb.io<3>({6, 4, 3}), dk = dkb.io<3>({8, 2, 3}), dv = dvb.io<3>({8, 2, 2});

  void call() {
    reference::attention_varlen_backward<float>(q, k, v, out, dout, lse, dq, dk, dv, cu_q, cu_k,
                                                os.opt, dlse);
  }
  bool outputs_untouched() const { return dqb.untouched() && dkb.untouched() && dvb.untouched(); }
};

using varlen_backward_case = bad_case<varlen_backward_args>;

TEST(ArgumentChecks, ReferenceAttentionVarlenBackwardRejectsEachInvalidArgument) {
  std::vector<varlen_backward_case> cases = {
      {"cu_seqlens_k decreasing", "cu_seqlens_k",
       [](varlen_backward_args& a) { a.cu_k = {0, 3, 2, 7}; }},
      {"cu_seqlens_q beyond total_q", "cu_seqlens_q",
       [](varlen_backward_args& a) { a.cu_q = {0, 2, 2, 7}; }},
      {"lse absent", "lse", [](varlen_backward_args& a) { a.lse = {}; }},
      {"lse total 5", "lse", [](varlen_backward_args& a) { a.lse = a.lb.in<2>({4, 5}); }},
      {"dlse heads 2", "dlse", [](varlen_backward_args& a) { a.dlse = a.glb.in<2>({2, 6}); }},
      {"dout total 5", "dout", [](varlen_backward_args& a) { a.dout = a.gb.in<3>({5, 4, 2}); }},
      {"dq innermost stride 2", "dq",
       [](varlen_backward_args& a) { a.dq = a.dqb.io<3>({6, 4, 3}, {24, 6, 2}); }},
      {"dk total 7", "dk", [](varlen_backward_args& a) { a.dk = a.dkb.io<3>({7, 2, 3}); }},
      {"dv head stride 0", "dv",
       [](varlen_backward_args& a) { a.dv = a.dvb.io<3>({8, 2, 2}, {4, 0, 1}); }},
      {"out heads 2", "out", [](varlen_backward_args& a) { a.out = a.ob.in<3>({6, 2, 2}); }},
  };
  for (auto& c : option_cases<varlen_backward_args>()) cases.push_back(std::move(c));
  run_table(cases);
}

TEST(ArgumentChecks, MessageNamesExpectedAndActualValues) {
  // DESIGN 1.4: the message names the argument, the expected and the actual value.
  dense_args a;
  a.k = a.kb.in<4>({2, 4, 2, 5});
  try {
    a.call();
    FAIL() << "no error";
  } catch (const error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("'k'"), std::string::npos) << m;
    EXPECT_NE(m.find("3"), std::string::npos) << m;  // the head dim of q
    EXPECT_NE(m.find("got 5"), std::string::npos) << m;
  }
  dense_args s;
  s.os.sinks = {1.0f, 2.0f};
  s.os.opt.sinks = s.os.sinks;
  try {
    s.call();
    FAIL() << "no error";
  } catch (const error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("'opt.sinks'"), std::string::npos) << m;
    EXPECT_NE(m.find("4"), std::string::npos) << m;
    EXPECT_NE(m.find("got 2"), std::string::npos) << m;
  }
}

}  // namespace
}  // namespace attnkit
