// SPDX-License-Identifier: Apache-2.0
// attnkit::error, the one exception type of the library, and the helpers that build its messages.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace attnkit {

/// Thrown by every public entry point for an invalid argument, before anything is written.
/// The message names the function, the argument, the expected and the actual value.
class error : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

namespace detail {

/// Builds "attnkit::<where>: argument '<argument>': expected <expected>, got <actual>" and throws it.
template <class Actual>
[[noreturn]] void throw_argument_error(std::string_view where, std::string_view argument,
                                       std::string_view expected, const Actual& actual) {
  std::ostringstream message;
  message << "attnkit::" << where << ": argument '" << argument << "': expected " << expected
          << ", got " << actual;
  throw error(message.str());
}

/// Throws unless `condition` holds; the message is only built on failure.
template <class Actual>
void require(bool condition, std::string_view where, std::string_view argument,
             std::string_view expected, const Actual& actual) {
  if (!condition) throw_argument_error(where, argument, expected, actual);
}

}  // namespace detail
}  // namespace attnkit
