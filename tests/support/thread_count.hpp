// SPDX-License-Identifier: Apache-2.0
// test::thread_count: attnkit's thread count set for a scope and restored after it.
#pragma once

#include <attnkit/core/threads.hpp>

namespace attnkit::test {

/// Sets the thread count for a scope and restores the previous one after it.
class thread_count {
 public:
  explicit thread_count(int n) : saved_(get_num_threads()) { set_num_threads(n); }
  ~thread_count() { set_num_threads(saved_); }
  thread_count(const thread_count&) = delete;
  thread_count& operator=(const thread_count&) = delete;

 private:
  int saved_;
};

}  // namespace attnkit::test
