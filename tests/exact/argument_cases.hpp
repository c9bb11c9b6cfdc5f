// SPDX-License-Identifier: Apache-2.0
// The machinery of the bad-input tables (DESIGN 1.4): argument storage, one spoiled argument per
// case, and the checks that the call throws, names the argument and writes nothing.
#pragma once

#include <array>
#include <cstddef>
#include <cstring>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <attnkit/core/error.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/exact/options.hpp>

namespace attnkit::test::argument_cases {

constexpr std::size_t kStorage = 2048;  // every view of a table, however mis-shaped, fits
constexpr float kInput = 0.25f, kSentinel = -777.0f;
inline const float kNaN = std::numeric_limits<float>::quiet_NaN();
inline const float kInf = std::numeric_limits<float>::infinity();

using shape4 = std::array<index_t, 4>;
using shape3 = std::array<index_t, 3>;
using shape2 = std::array<index_t, 2>;

/// Storage for one argument of element type T: inputs hold kInput, outputs kSentinel.
template <class T>
struct basic_buffer {
  std::vector<T> data;
  explicit basic_buffer(float fill) : data(kStorage, T(fill)) {}
  template <std::size_t R>
  tensor_view<const T, R> in(std::array<index_t, R> extents) const {
    return {data.data(), extents};
  }
  template <std::size_t R>
  tensor_view<const T, R> in(std::array<index_t, R> extents, std::array<index_t, R> strides) const {
    return {data.data(), extents, strides};
  }
  template <std::size_t R>
  tensor_view<T, R> io(std::array<index_t, R> extents) {
    return {data.data(), extents};
  }
  template <std::size_t R>
  tensor_view<T, R> io(std::array<index_t, R> extents, std::array<index_t, R> strides) {
    return {data.data(), extents, strides};
  }
  /// True when every element still holds the bits of T(kSentinel).
  bool untouched() const {
    const T sentinel(kSentinel);
    for (const T& x : data)
      if (std::memcmp(&x, &sentinel, sizeof(T)) != 0) return false;
    return true;
  }
};

using buffer = basic_buffer<float>;

/// b.in<R>(extents[, strides]) and b.io<R>(...) as free functions, for tables written inside
/// templates (no `.template` needed).
template <std::size_t R, class T>
tensor_view<const T, R> in(const basic_buffer<T>& b, std::array<index_t, R> extents) {
  return b.template in<R>(extents);
}
template <std::size_t R, class T>
tensor_view<const T, R> in(const basic_buffer<T>& b, std::array<index_t, R> extents,
                           std::array<index_t, R> strides) {
  return b.template in<R>(extents, strides);
}
template <std::size_t R, class T>
tensor_view<T, R> io(basic_buffer<T>& b, std::array<index_t, R> extents) {
  return b.template io<R>(extents);
}
template <std::size_t R, class T>
tensor_view<T, R> io(basic_buffer<T>& b, std::array<index_t, R> extents,
                     std::array<index_t, R> strides) {
  return b.template io<R>(extents, strides);
}

/// Options with storage for the per-head spans and the bias.
struct option_storage {
  std::vector<float> slopes, sinks;
  buffer bias{kInput};
  attention_options opt;
};

/// Calls `call`, which must throw attnkit::error (no other exception) whose message starts with
/// "attnkit::<where>: " and names argument `name` in quotes, the expected and the actual value.
template <class Call>
void expect_rejected(Call&& call, const std::string& where, const std::string& name) {
  try {
    call();
    ADD_FAILURE() << "no attnkit::error naming '" << name << "'";
  } catch (const error& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.rfind("attnkit::" + where + ": ", 0), 0u) << message;
    EXPECT_NE(message.find("'" + name + "'"), std::string::npos) << message;
    EXPECT_NE(message.find("expected"), std::string::npos) << message;
    EXPECT_NE(message.find("got"), std::string::npos) << message;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw something other than attnkit::error: " << e.what();
  } catch (...) {
    ADD_FAILURE() << "threw something that is not a std::exception";
  }
}

template <class Args>
struct bad_case {
  std::string label;
  std::string name;  // the argument the message must name
  std::function<void(Args&)> spoil;
};

/// Runs every case on fresh arguments: the call throws, names the argument, writes nothing.
/// Args: default-constructible valid arguments with kWhere, call() and outputs_untouched().
template <class Args>
void run_table(const std::vector<bad_case<Args>>& cases) {
  {
    Args valid;  // the unspoiled call succeeds and writes, so "untouched" below means something
    ASSERT_NO_THROW(valid.call());
    ASSERT_FALSE(valid.outputs_untouched());
  }
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    Args args;
    c.spoil(args);
    expect_rejected([&] { args.call(); }, Args::kWhere, c.name);
    EXPECT_TRUE(args.outputs_untouched());
  }
}

/// The option cases, shared by every entry point (Hq = 4 everywhere); Args has `os`.
template <class Args>
std::vector<bad_case<Args>> option_cases() {
  auto opt = [](auto set) { return [set](Args& a) { set(a.os); }; };
  return {
      {"scale NaN", "opt.scale", opt([](option_storage& o) { o.opt.scale = kNaN; })},
      {"scale +inf", "opt.scale", opt([](option_storage& o) { o.opt.scale = kInf; })},
      {"scale -inf", "opt.scale", opt([](option_storage& o) { o.opt.scale = -kInf; })},
      {"softcap negative", "opt.softcap", opt([](option_storage& o) { o.opt.softcap = -1.0f; })},
      {"softcap NaN", "opt.softcap", opt([](option_storage& o) { o.opt.softcap = kNaN; })},
      {"softcap inf", "opt.softcap", opt([](option_storage& o) { o.opt.softcap = kInf; })},
      {"window_left -2", "opt.window_left", opt([](option_storage& o) { o.opt.window_left = -2; })},
      {"window_right -5", "opt.window_right",
       opt([](option_storage& o) { o.opt.window_right = -5; })},
      {"alibi 3 slopes for 4 heads", "opt.alibi_slopes", opt([](option_storage& o) {
         o.slopes = {1, 2, 3};
         o.opt.alibi_slopes = o.slopes;
       })},
      {"alibi one slope per kv head", "opt.alibi_slopes", opt([](option_storage& o) {
         o.slopes = {1, 2};
         o.opt.alibi_slopes = o.slopes;
       })},
      {"alibi 5 slopes", "opt.alibi_slopes", opt([](option_storage& o) {
         o.slopes = {1, 2, 3, 4, 5};
         o.opt.alibi_slopes = o.slopes;
       })},
      {"one sink for 4 heads", "opt.sinks", opt([](option_storage& o) {
         o.sinks = {1};
         o.opt.sinks = o.sinks;
       })},
      {"8 sinks", "opt.sinks", opt([](option_storage& o) {
         o.sinks.assign(8, 0.0f);
         o.opt.sinks = o.sinks;
       })},
      {"alibi NaN slope", "opt.alibi_slopes", opt([](option_storage& o) {
         o.slopes = {1, 2, float(kNaN), 4};
         o.opt.alibi_slopes = o.slopes;
       })},
      {"alibi infinite slope", "opt.alibi_slopes", opt([](option_storage& o) {
         o.slopes = {1, float(kInf), 3, 4};
         o.opt.alibi_slopes = o.slopes;
       })},
      {"alibi -inf slope", "opt.alibi_slopes", opt([](option_storage& o) {
         o.slopes = {1, 2, 3, -float(kInf)};
         o.opt.alibi_slopes = o.slopes;
       })},
      {"NaN sink", "opt.sinks", opt([](option_storage& o) {
         o.sinks = {0, 0, 0, float(kNaN)};
         o.opt.sinks = o.sinks;
       })},
      {"+inf sink", "opt.sinks", opt([](option_storage& o) {
         o.sinks = {float(kInf), 0, 0, 0};
         o.opt.sinks = o.sinks;
       })},
  };
}

}  // namespace attnkit::test::argument_cases
