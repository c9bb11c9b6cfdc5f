// SPDX-License-Identifier: Apache-2.0
// Tests of attnkit::error and the detail::require / detail::throw_argument_error message helpers.
#include <attnkit/core/error.hpp>

#include <cstdint>
#include <ostream>
#include <stdexcept>
#include <string>
#include <type_traits>

#include <gtest/gtest.h>

namespace attnkit {
namespace {

// The message of the attnkit::error that `f` throws; fails the test if it throws nothing else.
template <class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const error& e) {
    return e.what();
  } catch (...) {
    ADD_FAILURE() << "threw something other than attnkit::error";
    return {};
  }
  ADD_FAILURE() << "threw nothing";
  return {};
}

// A streamable value that counts how often it is formatted.
struct counted {
  int value;
  int* formatted;
};
std::ostream& operator<<(std::ostream& os, const counted& c) {
  ++*c.formatted;
  return os << "counted(" << c.value << ")";
}

TEST(Error, DerivesFromInvalidArgument) {
  static_assert(std::is_base_of_v<std::invalid_argument, error>);
  static_assert(std::is_base_of_v<std::logic_error, error>);
  static_assert(std::is_nothrow_copy_constructible_v<error>);
  try {
    throw error("the message");
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "the message");
    EXPECT_NE(dynamic_cast<const error*>(&e), nullptr);
  }
  const error from_string(std::string("from a std::string"));
  EXPECT_STREQ(from_string.what(), "from a std::string");
}

TEST(Error, RequireDoesNothingWhenTheConditionHolds) {
  int formatted = 0;
  EXPECT_NO_THROW(detail::require(true, "flash_attention", "q", "rank 4", counted{3, &formatted}));
  EXPECT_EQ(formatted, 0) << "the message must only be built on failure";
  EXPECT_NO_THROW(detail::require(1 + 1 == 2, "f", "x", ">= 0", -1));
}

TEST(Error, RequireThrowsANamedMessageWhenTheConditionFails) {
  int formatted = 0;
  const std::string what = message_of([&] {
    detail::require(false, "flash_attention", "q", "rank 4", counted{3, &formatted});
  });
  EXPECT_EQ(formatted, 1);
  EXPECT_NE(what.find("flash_attention"), std::string::npos) << what;
  EXPECT_NE(what.find("'q'"), std::string::npos) << what;
  EXPECT_NE(what.find("rank 4"), std::string::npos) << what;
  EXPECT_NE(what.find("counted(3)"), std::string::npos) << what;
  EXPECT_EQ(what, "attnkit::flash_attention: argument 'q': expected rank 4, got counted(3)");
}

TEST(Error, RequireThrowsAttnkitErrorCatchableAsInvalidArgument) {
  EXPECT_THROW(detail::require(false, "f", "x", "y", 0), error);
  EXPECT_THROW(detail::require(false, "f", "x", "y", 0), std::invalid_argument);
}

TEST(Error, ThrowArgumentErrorFormatsTheDocumentedMessage) {
  // "attnkit::<where>: argument '<arg>': expected <expected>, got <actual>"
  EXPECT_EQ(message_of([] { detail::throw_argument_error("set_num_threads", "n", ">= 1", 0); }),
            "attnkit::set_num_threads: argument 'n': expected >= 1, got 0");
  EXPECT_EQ(message_of([] {
              detail::throw_argument_error("flash_attention_varlen", "cu_seqlens_q",
                                           "non-decreasing", std::string("[0, 5, 3]"));
            }),
            "attnkit::flash_attention_varlen: argument 'cu_seqlens_q': expected non-decreasing, "
            "got [0, 5, 3]");
  EXPECT_EQ(message_of([] {
              detail::throw_argument_error("merge_attention_states", "lse", "rank 3", "rank 2");
            }),
            "attnkit::merge_attention_states: argument 'lse': expected rank 3, got rank 2");
}

TEST(Error, ActualValuesOfEveryCommonTypeAreFormatted) {
  const std::ptrdiff_t negative = -123456789012;
  EXPECT_NE(message_of([&] {
              detail::throw_argument_error("f", "x", "e", negative);
            }).find("got -123456789012"),
            std::string::npos);
  EXPECT_NE(message_of([] { detail::throw_argument_error("f", "x", "e", 0.5); }).find("got 0.5"),
            std::string::npos);
  EXPECT_NE(message_of([] {
              detail::throw_argument_error("f", "x", "e", std::int32_t{-7});
            }).find("got -7"),
            std::string::npos);
  EXPECT_NE(message_of([] {
              detail::throw_argument_error("f", "x", "e", std::size_t{42});
            }).find("got 42"),
            std::string::npos);
}

TEST(Error, ArgumentNamesAndExpectationsMayBeBuiltAtRunTime) {
  // tensor_view builds "extents[2]" on the fly; string_view parameters must accept temporaries.
  const std::size_t r = 2;
  const std::string what = message_of([&] {
    detail::require(false, "tensor_view", "extents[" + std::to_string(r) + "]",
                    ">= " + std::to_string(0), -4);
  });
  EXPECT_EQ(what, "attnkit::tensor_view: argument 'extents[2]': expected >= 0, got -4");
}

}  // namespace
}  // namespace attnkit
