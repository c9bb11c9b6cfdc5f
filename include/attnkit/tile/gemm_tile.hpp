// SPDX-License-Identifier: Apache-2.0
// tile::gemm_tile, the register-blocked micro-kernel behind both Sᵀ = K Qᵀ and Oᵀ += Vᵀ Pᵀ.
#pragma once

#include <utility>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/simd/arch.hpp>

namespace attnkit::tile {

/// Strided operand A of a micro-kernel: element (r, k) at data[r * row_stride + k * k_stride].
/// A is only ever read by scalar broadcast, so any strides work.
struct a_operand {
  const float* data;
  index_t row_stride;
  index_t k_stride;
};

/// C[kRows x kCols] (+)= A[kRows x K] B[K x kCols], kCols = kVecs fp32 batches, held in
/// registers for the whole K loop.
///
/// B row k is kCols contiguous, aligned floats at b + k * ldb; C row r at c + r * ldc (aligned).
/// Per k the kernel issues kRows broadcasts of A and kVecs loads of B for kRows * kVecs FMAs.
/// Register budget: kRows * kVecs accumulators + kVecs B batches + 1 broadcast: 6 x 2 takes 15 of
/// AVX2's 16 ymm, 6 x 4 takes 29 of AVX-512's 32 zmm. Measured alone on Zen 3 (AVX2, K = 128,
/// B in L1), 6 x 2 runs at 80-85% of the FMA peak, 4 x 3 and 3 x 4 at 55-65%.
template <class Arch, int kRows, int kVecs>
struct gemm_tile {
  using batch = xsimd::batch<float, Arch>;
  static constexpr index_t kWidth = static_cast<index_t>(batch::size);
  static constexpr index_t kCols = kVecs * kWidth;

  /// C = A B; C is not read. With col_max, also col_max = max(col_max, max over rows of C)
  /// lane by lane while C is still in registers (the online softmax's block maximum); a NaN
  /// in C wins the max.
  static void assign(index_t K, a_operand a, const float* b, index_t ldb, float* c, index_t ldc,
                     float* col_max = nullptr) noexcept {
    batch acc[kRows][kVecs];
    for (int r = 0; r < kRows; ++r)
      for (int v = 0; v < kVecs; ++v) acc[r][v] = batch(0.0f);
    accumulate(acc, K, a, b, ldb);
    store(acc, c, ldc);
    if (col_max == nullptr) return;
    for (int v = 0; v < kVecs; ++v) {
      batch m = batch::load_aligned(col_max + v * kWidth);
      for (int r = 0; r < kRows; ++r) m = xsimd::max(m, acc[r][v]);
      m.store_aligned(col_max + v * kWidth);
    }
  }

  /// C = C diag(col_scale) + A B: every row of C is first multiplied lane by lane by the
  /// kCols scales at col_scale (the online-softmax correction of each query column).
  static void update(index_t K, a_operand a, const float* b, index_t ldb, float* c, index_t ldc,
                     const float* col_scale) noexcept {
    batch scale[kVecs];
    for (int v = 0; v < kVecs; ++v) scale[v] = batch::load_aligned(col_scale + v * kWidth);
    batch acc[kRows][kVecs];
    for (int r = 0; r < kRows; ++r)
      for (int v = 0; v < kVecs; ++v)
        acc[r][v] = batch::load_aligned(c + r * ldc + v * kWidth) * scale[v];
    accumulate(acc, K, a, b, ldb);
    store(acc, c, ldc);
  }

 private:
  static void accumulate(batch (&acc)[kRows][kVecs], index_t K, a_operand a, const float* b,
                         index_t ldb) noexcept {
    for (index_t k = 0; k < K; ++k) {
      batch bk[kVecs];
      for (int v = 0; v < kVecs; ++v) bk[v] = batch::load_aligned(b + k * ldb + v * kWidth);
      const float* ak = a.data + k * a.k_stride;
      for (int r = 0; r < kRows; ++r) {
        const batch ar(ak[r * a.row_stride]);
        for (int v = 0; v < kVecs; ++v) acc[r][v] = xsimd::fma(ar, bk[v], acc[r][v]);
      }
    }
  }

  static void store(const batch (&acc)[kRows][kVecs], float* c, index_t ldc) noexcept {
    for (int r = 0; r < kRows; ++r)
      for (int v = 0; v < kVecs; ++v) acc[r][v].store_aligned(c + r * ldc + v * kWidth);
  }
};

/// C[rows x cols] (+)= A[rows x K] B[K x cols] for any rows and cols a multiple of kCols:
/// column panels outermost (each B panel stays in L1 while every row strip passes over it), row
/// strips of kRows inside. col_scale == nullptr: C = A B (and, with col_max, the running column
/// maxima of C, see gemm_tile::assign); otherwise C = C diag(col_scale) + A B.
///
/// Rows that do not fill a last strip go to tiles of at least 4 rows where possible (for
/// 128 rows: 20 x 6 + 4 + 4, not 21 x 6 + 2): a tile of r rows has r * kVecs independent FMA
/// chains, and with a 4-cycle FMA latency and 2 FMA ports fewer than 8 chains stall.
template <class Arch, int kRows, int kVecs>
void gemm(index_t rows, index_t cols, index_t K, a_operand a, const float* b, index_t ldb, float* c,
          index_t ldc, const float* col_scale, float* col_max = nullptr) noexcept {
  using full = gemm_tile<Arch, kRows, kVecs>;
  constexpr int kMinRows = 4 < kRows ? 4 : kRows;
  index_t strips = rows / kRows, tail = rows % kRows, split = 0;
  if (tail > 0 && tail < kMinRows && strips > 0) {  // one full strip + tail as two tiles
    --strips;
    split = kRows + tail;
    tail = 0;
  }
  for (index_t c0 = 0; c0 < cols; c0 += full::kCols) {
    const float* bp = b + c0;
    float* cp = c + c0;
    const float* sp = col_scale ? col_scale + c0 : nullptr;
    float* mp = col_max ? col_max + c0 : nullptr;
    auto tile_at = [&]<int kTileRows>(index_t r0) {
      using tile = gemm_tile<Arch, kTileRows, kVecs>;
      const a_operand ar{a.data + r0 * a.row_stride, a.row_stride, a.k_stride};
      if (sp) tile::update(K, ar, bp, ldb, cp + r0 * ldc, ldc, sp);
      else tile::assign(K, ar, bp, ldb, cp + r0 * ldc, ldc, mp);
    };
    auto short_tile = [&](index_t r0, index_t n) {  // 1 <= n < kRows rows
      [&]<int... kN>(std::integer_sequence<int, kN...>) {
        ((n == kN + 1 ? tile_at.template operator()<kN + 1>(r0) : void()), ...);
      }(std::make_integer_sequence<int, kRows - 1>{});
    };
    index_t r0 = 0;
    for (index_t s = 0; s < strips; ++s, r0 += kRows) tile_at.template operator()<kRows>(r0);
    if (split > 0) {
      short_tile(r0, split / 2);
      short_tile(r0 + split / 2, split - split / 2);
    } else if (tail > 0) {
      short_tile(r0, tail);
    }
  }
}

}  // namespace attnkit::tile
