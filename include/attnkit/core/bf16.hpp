// SPDX-License-Identifier: Apache-2.0
// attnkit::bf16, the bfloat16 storage type: 16 bits, fp32 arithmetic, round to nearest even.
#pragma once

#include <bit>
#include <cstdint>
#include <type_traits>

namespace attnkit {

/// bfloat16 (1 sign, 8 exponent, 7 mantissa bits): the upper half of an IEEE binary32.
/// Construction from float rounds to nearest even and keeps NaN a (quiet) NaN; conversion back
/// to float is exact. Arithmetic happens in float after the implicit conversion.
class bf16 {
 public:
  bf16() noexcept = default;
  constexpr explicit bf16(float value) noexcept : bits_(round(value)) {}
  constexpr operator float() const noexcept {  // NOLINT(google-explicit-constructor)
    return std::bit_cast<float>(static_cast<std::uint32_t>(bits_) << 16);
  }

  static constexpr bf16 from_bits(std::uint16_t bits) noexcept {
    bf16 h;
    h.bits_ = bits;
    return h;
  }
  constexpr std::uint16_t bits() const noexcept { return bits_; }

 private:
  static constexpr std::uint16_t round(float value) noexcept {
    const std::uint32_t x = std::bit_cast<std::uint32_t>(value);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u)  // NaN: truncate and force the quiet bit
      return static_cast<std::uint16_t>((x >> 16) | 0x0040u);
    const std::uint32_t lsb = (x >> 16) & 1u;
    return static_cast<std::uint16_t>((x + 0x7FFFu + lsb) >> 16);
  }

  std::uint16_t bits_;
};

static_assert(sizeof(bf16) == 2 && std::is_trivially_copyable_v<bf16>);

}  // namespace attnkit
