// SPDX-License-Identifier: Apache-2.0
// The decoding of a fuzz input into one flash_attention problem: sizes, layout, options, fault.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/exact/options.hpp>

namespace attnkit::fuzz {

/// Reads a fuzz input front to back. Header bytes past the end read as 0, so every input, the
/// empty one included, decodes to a valid problem. Value bytes past the end come from a
/// xorshift generator seeded by the header, so a short input still fills large tensors, and
/// generated values stay ordinary (the special values need explicit bytes, which keeps them
/// occasional and under the fuzzer's control).
class byte_source {
 public:
  byte_source(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

  /// The next input byte, or 0 past the end.
  std::uint8_t header() { return pos_ < size_ ? data_[pos_++] : 0; }

  /// True while explicit input bytes remain.
  bool explicit_left() const { return pos_ < size_; }

  /// The next input byte, or a generated one past the end.
  std::uint8_t byte() { return pos_ < size_ ? data_[pos_++] : static_cast<std::uint8_t>(random()); }

  void seed(std::uint64_t s) { state_ = (s + 1) * 0x9E3779B97F4A7C15ull; }

  /// A generated uniform value in [-2, 2), the range of the ordinary explicit values.
  float random_value() { return float(double(random() >> 11) * 0x1p-53 * 4.0 - 2.0); }

 private:
  std::uint64_t random() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 7;
    state_ ^= state_ << 17;
    return state_;
  }

  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
  std::uint64_t state_ = 0x9E3779B97F4A7C15ull;
};

enum class element_kind { f32, bf16, fp16 };

/// One invalid argument the decoder can plant. Each is invalid whatever the other decoded
/// values are (the decoder raises sizes where a fault needs them, e.g. an output stride of 0
/// only aliases when the extent is at least 2), so both the kernel and the reference must throw.
enum class fault {
  none,
  // Options, both entry points.
  window_left_below_minus_one,
  window_right_below_minus_one,
  alibi_count,
  sinks_count,
  sink_nan,
  sink_positive_infinity,
  alibi_not_finite,
  scale_nan,
  scale_infinite,
  softcap_negative,
  softcap_infinite,
  bias_heads,
  bias_null,
  // Shapes and strides, both entry points.
  kv_heads_not_a_divisor,
  v_heads,
  v_length,
  k_head_dim,
  out_head_dim,
  out_heads,
  q_inner_stride,
  out_inner_stride,
  out_broadcast,
  lse_extent,
  q_null,
  head_dim_zero,
  value_dim_zero,
  head_dim_too_large,  // D = 513: flash_attention rejects it, the reference does not
  // Dense only.
  k_batch,
  v_batch,
  out_batch,
  no_kv_heads,
  bias_key_length,
  // Varlen only.
  cu_q_start,
  cu_k_past_end,
  cu_count,
  cu_q_empty,
  cu_q_decreasing,
};

inline const char* name(fault f) {
  static constexpr const char* kNames[] = {
      "none", "window_left_below_minus_one", "window_right_below_minus_one", "alibi_count",
      "sinks_count", "sink_nan", "sink_positive_infinity", "alibi_not_finite", "scale_nan",
      "scale_infinite", "softcap_negative", "softcap_infinite", "bias_heads", "bias_null",
      "kv_heads_not_a_divisor", "v_heads", "v_length", "k_head_dim", "out_head_dim", "out_heads",
      "q_inner_stride", "out_inner_stride", "out_broadcast", "lse_extent", "q_null",
      "head_dim_zero", "value_dim_zero", "head_dim_too_large", "k_batch", "v_batch", "out_batch",
      "no_kv_heads", "bias_key_length", "cu_q_start", "cu_k_past_end", "cu_count", "cu_q_empty",
      "cu_q_decreasing"};
  return kNames[static_cast<int>(f)];
}

/// Everything a fuzz input decides except the tensor values, which are drawn afterwards from
/// the same byte_source.
struct flash_case {
  element_kind element = element_kind::f32;
  bool varlen = false;
  bool in_bhsd = false;    ///< q, k, v stored head-major (PyTorch) instead of sequence-major
  bool out_bhsd = false;   ///< out head-major, lse sequence-major
  bool with_lse = false;
  bool nan_values = false; ///< some value bytes decode to NaN (see value_of)
  int threads = 1;
  index_t pad = 0;         ///< unused elements after each innermost row of q, k, v and out
  index_t B = 0, Sq = 0, Sk = 0, Hq = 1, Hkv = 1, D = 1, Dv = 1;
  std::vector<std::int32_t> cu_q, cu_k;  ///< varlen: sequence offsets (Sq, Sk are the longest)
  index_t total_q = 0, total_k = 0;      ///< varlen: rows of q and k, past cu_*.back() included
  bool causal = false;
  alignment align = alignment::bottom_right;
  index_t window_left = -1, window_right = -1;
  float scale = 0.0f, softcap = 0.0f;
  bool alibi = false, sinks = false;
  bool bias = false;
  std::array<bool, 4> bias_broadcast{};  ///< dims [B, Hq, Sq, Sk] of extent 1 in the bias
  bool bias_stride_zero = false;         ///< broadcast through stride 0 at full extent instead
  bool bias_transposed = false;          ///< bias stored [B, Hq, Sk, Sq]
  fault planted = fault::none;
};

namespace detail {

/// Sequence lengths: mostly 0..23 (0 and 1 included), sometimes up to 276 for multi-block tiles.
inline index_t decode_length(std::uint8_t h) { return h < 192 ? h % 24 : 24 + (h - 192) * 4; }

/// Head dims: any of 1..80, or one of the dims the kernel compiles specially and their neighbours.
inline index_t decode_dim(std::uint8_t h) {
  static constexpr index_t kDims[] = {64, 80, 96, 128, 1,  2,  3,  4,  8,  15, 16,  17,
                                      31, 32, 33, 47,  48, 63, 65, 79, 81, 127, 129, 192};
  return h < 160 ? 1 + h % 80 : kDims[(h - 160) % std::size(kDims)];
}

/// Windows: mostly unbounded (-1), else 0..55, else large values up to the index_t maximum.
inline index_t decode_window(std::uint8_t h) {
  constexpr index_t kMax = std::numeric_limits<index_t>::max();
  static constexpr index_t kLarge[] = {64,        96,      97,       128,      200,      1000,
                                       1 << 20,   1LL << 40, 1LL << 62, kMax / 2, kMax - 1, kMax,
                                       kMax - 300, 277,     300,      kMax / 4};
  if (h < 128) return -1;
  if (h < 240) return (h - 128) % 56;
  return kLarge[h - 240];
}

inline float decode_scale(std::uint8_t h) {
  static constexpr float kScales[] = {0.125f, 0.25f,  0.37f, 0.5f,  1.0f,  2.0f,  4.0f, 8.0f,
                                      -0.5f,  -1.0f,  -3.0f, 1e-3f, 1e-6f, 20.0f, 100.0f,
                                      625.0f, 1e3f,   -625.0f, 3.0f, 0.01f};
  return h < 128 ? 0.0f : kScales[(h - 128) % std::size(kScales)];
}

inline float decode_softcap(std::uint8_t h) {
  static constexpr float kCaps[] = {0.5f, 1.0f, 2.5f, 5.0f, 30.0f, 50.0f, 1e4f, 1e-3f};
  return h < 160 ? 0.0f : kCaps[(h - 160) % std::size(kCaps)];
}

}  // namespace detail

/// Largest B * Hq * Sq * Sk * (D + Dv) a case may reach. Every case runs the double reference,
/// the naive float and one kernel call per compiled arch (9 on AVX2), under ASan in the fuzzer;
/// 2^19 keeps the slowest cases near 50 ms there while still allowing several 64-query and
/// 96-key blocks at small head dims.
inline constexpr index_t kMaxWork = index_t(1) << 19;

/// The faults planted for each entry point: the shared ones, then each entry point's own.
inline constexpr fault kSharedFaults[] = {
    fault::window_left_below_minus_one, fault::window_right_below_minus_one, fault::alibi_count,
    fault::sinks_count, fault::sink_nan, fault::sink_positive_infinity, fault::alibi_not_finite,
    fault::scale_nan, fault::scale_infinite, fault::softcap_negative, fault::softcap_infinite,
    fault::bias_heads, fault::bias_null, fault::kv_heads_not_a_divisor, fault::v_heads,
    fault::v_length, fault::k_head_dim, fault::out_head_dim, fault::out_heads,
    fault::q_inner_stride, fault::out_inner_stride, fault::out_broadcast, fault::lse_extent,
    fault::q_null, fault::head_dim_zero, fault::value_dim_zero, fault::head_dim_too_large};

template <std::size_t N>
constexpr std::array<fault, std::size(kSharedFaults) + N> with_shared_faults(const fault (&own)[N]) {
  std::array<fault, std::size(kSharedFaults) + N> all{};
  std::size_t i = 0;
  for (fault f : kSharedFaults) all[i++] = f;
  for (fault f : own) all[i++] = f;
  return all;
}

inline constexpr auto kDenseFaults = with_shared_faults({fault::k_batch, fault::v_batch,
                                                         fault::out_batch, fault::no_kv_heads,
                                                         fault::bias_key_length});
inline constexpr auto kVarlenFaults =
    with_shared_faults({fault::cu_q_start, fault::cu_k_past_end, fault::cu_count,
                        fault::cu_q_empty, fault::cu_q_decreasing});

/// Decodes the header of a fuzz input. Byte by byte (past the end: 0):
///  0  bit 0 varlen, 1 q/k/v head-major, 2 out head-major, 3 lse, 4 two threads, 5 NaN values,
///     bits 6-7 element type (0, 1 float; 2 bf16; 3 fp16)
///  1  fault: < 224 none, else the ((byte - 224) mod n)-th fault of the entry point
///  2  B: < 16 gives 0, else 1..3 (varlen: the number of sequences)
///  3, 4  Sq, Sk (varlen: the longest lengths) via decode_length
///  5  Hkv = 1 + byte % 3, Hq = Hkv * (1 + byte / 3 % 3)
///  6, 7  D via decode_dim; Dv = D when byte 7 < 96, else decode_dim
///  8  bit 0 causal, 1 top-left, 2 alibi, 3 sinks, bits 4-5 row padding, 6 bias transposed,
///     7 bias broadcast through stride 0
///  9, 10  window_left, window_right via decode_window
///  11, 12  scale, softcap
///  13  bias: < 128 none, else bits 0-3 broadcast B, Hq, Sq, Sk
///  14, 15  the seed of generated values
///  varlen: two bytes per sequence (query and key length), then one each for the rows after the
///  last sequence of q and of k.
/// The sizes are then cut (longest length halved) until the work fits kMaxWork.
inline flash_case decode_case(byte_source& in) {
  flash_case c;
  const std::uint8_t mode = in.header();
  c.varlen = mode & 1;
  c.in_bhsd = mode & 2;
  c.out_bhsd = mode & 4;
  c.with_lse = mode & 8;
  c.threads = mode & 16 ? 2 : 1;
  c.nan_values = mode & 32;
  c.element = mode >> 6 == 2 ? element_kind::bf16
              : mode >> 6 == 3 ? element_kind::fp16
                               : element_kind::f32;
  const std::uint8_t fault_byte = in.header();
  if (fault_byte >= 224) {
    const std::size_t pick = fault_byte - 224u;
    c.planted = c.varlen ? kVarlenFaults[pick % kVarlenFaults.size()]
                         : kDenseFaults[pick % kDenseFaults.size()];
  }
  const std::uint8_t b = in.header();
  c.B = b < 16 ? 0 : 1 + b % 3;
  c.Sq = detail::decode_length(in.header());
  c.Sk = detail::decode_length(in.header());
  const std::uint8_t heads = in.header();
  c.Hkv = 1 + heads % 3;
  c.Hq = c.Hkv * (1 + heads / 3 % 3);
  c.D = detail::decode_dim(in.header());
  const std::uint8_t dv = in.header();
  c.Dv = dv < 96 ? c.D : detail::decode_dim(dv);
  const std::uint8_t flags = in.header();
  c.causal = flags & 1;
  c.align = flags & 2 ? alignment::top_left : alignment::bottom_right;
  c.alibi = flags & 4;
  c.sinks = flags & 8;
  c.pad = (flags >> 4) & 3;
  c.bias_transposed = flags & 64;
  c.bias_stride_zero = flags & 128;
  c.window_left = detail::decode_window(in.header());
  c.window_right = detail::decode_window(in.header());
  c.scale = detail::decode_scale(in.header());
  c.softcap = detail::decode_softcap(in.header());
  const std::uint8_t bias = in.header();
  c.bias = bias >= 128;
  for (int r = 0; r < 4; ++r) c.bias_broadcast[r] = (bias >> r) & 1;
  const std::uint8_t seed_lo = in.header(), seed_hi = in.header();
  in.seed(seed_lo | (seed_hi << 8));

  // Faults that need sizes or a present argument to be invalid get them here.
  switch (c.planted) {
    case fault::alibi_not_finite: c.alibi = true; break;
    case fault::sink_nan:
    case fault::sink_positive_infinity: c.sinks = true; break;
    case fault::bias_heads:
      c.bias = true;
      c.bias_broadcast[1] = false;
      break;
    case fault::bias_key_length:
      c.bias = true;
      c.bias_broadcast[3] = false;
      break;
    case fault::bias_null:  // a null pointer is only wrong for a non-empty view
      c.bias = true;
      c.B = std::max<index_t>(c.B, 1);
      c.Sq = std::max<index_t>(c.Sq, 1);
      c.Sk = std::max<index_t>(c.Sk, 1);
      break;
    case fault::q_inner_stride: c.D = std::max<index_t>(c.D, 2); break;
    case fault::out_inner_stride: c.Dv = std::max<index_t>(c.Dv, 2); break;
    case fault::out_broadcast:  // stride 0 aliases only along an extent of 2 or more
    case fault::q_null:
      c.B = std::max<index_t>(c.B, 1);
      c.Sq = std::max<index_t>(c.Sq, 2);
      break;
    case fault::lse_extent: c.with_lse = true; break;
    case fault::head_dim_too_large: c.D = 513; break;
    case fault::cu_q_decreasing: c.B = std::max<index_t>(c.B, 1); break;
    default: break;
  }

  // Bound the work (D = 0 and Dv = 0 faults count as 1 so the bound still holds).
  auto work = [&] {
    return std::max<index_t>(c.B, 1) * c.Hq * c.Sq * c.Sk *
           (std::max<index_t>(c.D, 1) + std::max<index_t>(c.Dv, 1));
  };
  const index_t min_q = c.planted == fault::out_broadcast || c.planted == fault::q_null ? 2 : 1;
  while (work() > kMaxWork) {
    if (c.Sq >= c.Sk) c.Sq = std::max(c.Sq / 2, min_q);
    else c.Sk = std::max<index_t>(c.Sk / 2, 1);
  }

  if (c.varlen) {
    const index_t longest_q = c.Sq, longest_k = c.Sk;
    c.cu_q.assign(1, 0);
    c.cu_k.assign(1, 0);
    c.Sq = c.Sk = 0;
    for (index_t s = 0; s < c.B; ++s) {
      index_t lq = in.header() % (longest_q + 1), lk = in.header() % (longest_k + 1);
      if (s == 0) {  // faults that need a non-empty view keep one row in the first sequence
        if (c.planted == fault::bias_null) lq = std::max<index_t>(lq, 1), lk = std::max<index_t>(lk, 1);
        if (c.planted == fault::out_broadcast || c.planted == fault::q_null) lq = std::max<index_t>(lq, 2);
      }
      c.cu_q.push_back(static_cast<std::int32_t>(c.cu_q.back() + lq));
      c.cu_k.push_back(static_cast<std::int32_t>(c.cu_k.back() + lk));
      c.Sq = std::max(c.Sq, lq);
      c.Sk = std::max(c.Sk, lk);
    }
    c.total_q = c.cu_q.back() + in.header() % 3;
    c.total_k = c.cu_k.back() + in.header() % 3;
  }
  return c;
}

/// A one-line description of a case, printed with every failure so it can be rebuilt by hand.
inline std::string describe(const flash_case& c) {
  std::ostringstream s;
  s << (c.varlen ? "flash_attention_varlen" : "flash_attention") << " "
    << (c.element == element_kind::f32 ? "float" : c.element == element_kind::bf16 ? "bf16" : "fp16")
    << " B=" << c.B << " Sq=" << c.Sq << " Sk=" << c.Sk << " Hq=" << c.Hq << " Hkv=" << c.Hkv
    << " D=" << c.D << " Dv=" << c.Dv << " q/k/v " << (c.in_bhsd ? "BHSD" : "BSHD") << " out "
    << (c.out_bhsd ? "BHSD" : "BSHD") << " pad=" << c.pad << " lse=" << c.with_lse
    << " threads=" << c.threads << " nan_values=" << c.nan_values;
  if (c.varlen) {
    s << " cu_q={";
    for (auto x : c.cu_q) s << x << ",";
    s << "} cu_k={";
    for (auto x : c.cu_k) s << x << ",";
    s << "} total_q=" << c.total_q << " total_k=" << c.total_k;
  }
  s << " causal=" << c.causal << " align=" << (c.align == alignment::top_left ? "top_left" : "bottom_right")
    << " window=(" << c.window_left << "," << c.window_right << ") scale=" << c.scale
    << " softcap=" << c.softcap << " alibi=" << c.alibi << " sinks=" << c.sinks
    << " bias=" << c.bias;
  if (c.bias)
    s << " (broadcast " << c.bias_broadcast[0] << c.bias_broadcast[1] << c.bias_broadcast[2]
      << c.bias_broadcast[3] << (c.bias_stride_zero ? " via stride 0" : " via extent 1")
      << (c.bias_transposed ? ", transposed" : "") << ")";
  s << " fault=" << name(c.planted);
  return s.str();
}

}  // namespace attnkit::fuzz
