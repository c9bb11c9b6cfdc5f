// SPDX-License-Identifier: Apache-2.0
// attnkit::fp16, the IEEE binary16 storage type: 16 bits, fp32 arithmetic, round to nearest even.
#pragma once

#include <bit>
#include <cstdint>
#include <type_traits>

namespace attnkit {

/// IEEE 754 binary16 (1 sign, 5 exponent, 10 mantissa bits), subnormals included.
/// Construction from float rounds to nearest even (overflow gives infinity, NaN stays a quiet
/// NaN with its sign and top payload bits); conversion back to float is exact.
class fp16 {
 public:
  fp16() noexcept = default;
  constexpr explicit fp16(float value) noexcept : bits_(round(value)) {}
  constexpr operator float() const noexcept {  // NOLINT(google-explicit-constructor)
    return std::bit_cast<float>(widen(bits_));
  }

  static constexpr fp16 from_bits(std::uint16_t bits) noexcept {
    fp16 h;
    h.bits_ = bits;
    return h;
  }
  constexpr std::uint16_t bits() const noexcept { return bits_; }

 private:
  // Rounds the integer `m` shifted right by `shift` bits to nearest, ties to even.
  static constexpr std::uint32_t shift_round(std::uint32_t m, std::uint32_t shift) noexcept {
    const std::uint32_t kept = m >> shift;
    const std::uint32_t rest = m & ((1u << shift) - 1u);
    const std::uint32_t half = 1u << (shift - 1u);
    return kept + ((rest > half || (rest == half && (kept & 1u))) ? 1u : 0u);
  }

  static constexpr std::uint16_t round(float value) noexcept {
    const std::uint32_t x = std::bit_cast<std::uint32_t>(value);
    const std::uint32_t sign = (x >> 16) & 0x8000u;
    const std::uint32_t ax = x & 0x7FFFFFFFu;
    std::uint32_t h;
    if (ax > 0x7F800000u) {  // NaN: keep the top 9 payload bits, set the quiet bit
      h = 0x7E00u | ((ax >> 13) & 0x3FFu);
    } else if (ax >= 0x477FF000u) {  // >= 65520 = halfway between 65504 and 2^16: infinity
      h = 0x7C00u;
    } else if (ax >= 0x38800000u) {  // >= 2^-14: normal; rebias the exponent from 127 to 15
      h = shift_round(ax, 13) - (112u << 10);
    } else if (ax >= 0x33000000u) {  // [2^-25, 2^-14): subnormal, in units of 2^-24
      const std::uint32_t e = ax >> 23;
      h = shift_round((ax & 0x7FFFFFu) | 0x800000u, 126u - e);
    } else {  // below 2^-25 (2^-25 itself ties to the even 0 above): signed zero
      h = 0;
    }
    return static_cast<std::uint16_t>(sign | h);
  }

  static constexpr std::uint32_t widen(std::uint16_t h) noexcept {
    const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
    std::uint32_t e = (h >> 10) & 0x1Fu;
    std::uint32_t m = h & 0x3FFu;
    if (e == 0x1Fu) return sign | 0x7F800000u | (m << 13);  // infinity, NaN with its payload
    if (e != 0) return sign | ((e + 112u) << 23) | (m << 13);
    if (m == 0) return sign;
    e = 113;  // subnormal: normalise m * 2^-24
    while ((m & 0x400u) == 0) {
      m <<= 1;
      --e;
    }
    return sign | (e << 23) | ((m & 0x3FFu) << 13);
  }

  std::uint16_t bits_;
};

static_assert(sizeof(fp16) == 2 && std::is_trivially_copyable_v<fp16>);

}  // namespace attnkit
