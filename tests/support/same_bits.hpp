// SPDX-License-Identifier: Apache-2.0
// test::same_bits: bitwise equality of two storages, for the determinism tests.
#pragma once

#include <cstring>
#include <vector>

#include <gtest/gtest.h>

namespace attnkit::test {

/// Equal bits element by element over two whole storages, padding included (so -0.0 differs
/// from 0.0 and a NaN from another NaN's payload).
template <class T>
::testing::AssertionResult same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  if (a.size() != b.size()) return ::testing::AssertionFailure() << "sizes differ";
  std::size_t differing = 0, first = 0;
  for (std::size_t i = a.size(); i-- > 0;)
    if (std::memcmp(&a[i], &b[i], sizeof(T)) != 0) ++differing, first = i;
  if (differing == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << differing << " of " << a.size() << " elements differ; the first at " << first << ": "
         << float(a[first]) << " vs " << float(b[first]);
}

}  // namespace attnkit::test
