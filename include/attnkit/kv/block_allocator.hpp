// SPDX-License-Identifier: Apache-2.0
// detail::block_allocator, the free list of the blocks of a paged KV cache's pool.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <attnkit/core/error.hpp>
#include <attnkit/core/tensor_view.hpp>

namespace attnkit::detail {

/// Hands out the ids 0 .. num_blocks-1 of a pool of blocks, one at a time, and takes them back.
///
/// A fresh allocator hands out ascending ids; a released block is the next one handed out (a
/// stack: the most recently freed block is the most likely to still be in cache). Every
/// operation is O(1); ids are int32 because block tables are. Releasing a block that is not
/// allocated (a double free, an id out of range) throws attnkit::error and changes nothing.
class block_allocator {
 public:
  block_allocator() = default;

  /// @pre 0 <= num_blocks <= INT32_MAX (throws attnkit::error otherwise).
  explicit block_allocator(index_t num_blocks) {
    require(num_blocks >= 0 && num_blocks <= std::numeric_limits<std::int32_t>::max(),
            "block_allocator", "num_blocks", "0 <= num_blocks <= 2147483647 (int32 block ids)",
            num_blocks);
    free_.resize(static_cast<std::size_t>(num_blocks));
    for (std::size_t i = 0; i < free_.size(); ++i)
      free_[i] = static_cast<std::int32_t>(num_blocks - 1 - static_cast<index_t>(i));
    in_use_.assign(free_.size(), 0);
  }

  index_t num_blocks() const noexcept { return static_cast<index_t>(in_use_.size()); }
  index_t num_free() const noexcept { return static_cast<index_t>(free_.size()); }
  index_t num_used() const noexcept { return num_blocks() - num_free(); }
  bool is_allocated(std::int32_t block) const noexcept {
    return block >= 0 && block < num_blocks() && in_use_[static_cast<std::size_t>(block)] != 0;
  }

  /// Takes a free block. @pre num_free() > 0 (throws attnkit::error otherwise).
  std::int32_t allocate() {
    require(!free_.empty(), "block_allocator::allocate", "num_free()",
            "a free block in the pool of " + std::to_string(num_blocks()), 0);
    const std::int32_t block = free_.back();
    free_.pop_back();
    in_use_[static_cast<std::size_t>(block)] = 1;
    return block;
  }

  /// Returns an allocated block to the pool. @pre is_allocated(block) (throws attnkit::error).
  void release(std::int32_t block) {
    require(block >= 0 && block < num_blocks(), "block_allocator::release", "block",
            "an id in [0, " + std::to_string(num_blocks()) + ")", block);
    require(is_allocated(block), "block_allocator::release", "block",
            "an allocated block (not a free one: a double release?)", block);
    in_use_[static_cast<std::size_t>(block)] = 0;
    free_.push_back(block);
  }

 private:
  std::vector<std::int32_t> free_;    // a stack: back() is handed out next
  std::vector<std::uint8_t> in_use_;  // per block: 1 while allocated
};

}  // namespace attnkit::detail
