// SPDX-License-Identifier: Apache-2.0
// Tests of kv::gather_keys: one head's keys as floats, equal to what the views hold, for every
// element type and layout, after per-head compaction too.
#include <attnkit/kv/gather_keys.hpp>

#include <cstdint>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "kv/eviction_support.hpp"
#include "kv/kv_cache_support.hpp"

namespace attnkit {
namespace {

template <class C>
class GatherKeys : public testing::Test {};
using elements = testing::Types<float, bf16, fp16, std::int8_t>;
TYPED_TEST_SUITE(GatherKeys, elements);

TYPED_TEST(GatherKeys, RowsAreTheViewsRows) {
  using C = TypeParam;
  for (kv_layout layout : {kv_layout::contiguous, kv_layout::paged}) {
    kv_cache<C> cache = test::random_filled_cache<C>(
        {.batch = 2, .kv_heads = 3, .head_dim = 5, .value_dim = 2, .capacity = 13, .layout = layout,
         .block_size = 3},
        {4, 13}, 6);
    cache.remove(1, 2, std::vector<index_t>{0, 3, 7});
    for (index_t b = 0; b < 2; ++b)
      for (index_t h = 0; h < 3; ++h) {
        const std::vector<float> rows = kv::gather_keys(cache, b, h);
        const index_t L = cache.length(b, h);
        ASSERT_EQ(index_t(rows.size()), L * 5);
        for (index_t s = 0; s < L; ++s) {
          const test::stored_row row = test::read_row(cache, true, b, h, s);
          for (index_t d = 0; d < 5; ++d)
            EXPECT_EQ(rows[std::size_t(s * 5 + d)], float(row.values[std::size_t(d)]))
                << b << " " << h << " " << s << " " << d;
        }
      }
    test::expect_rejected([&] { kv::gather_keys(cache, 2, 0); }, "kv::gather_keys", "b");
    test::expect_rejected([&] { kv::gather_keys(cache, -1, 0); }, "kv::gather_keys", "b");
    test::expect_rejected([&] { kv::gather_keys(cache, 0, 3); }, "kv::gather_keys", "h");
  }
}

}  // namespace
}  // namespace attnkit
