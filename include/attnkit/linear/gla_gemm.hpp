// SPDX-License-Identifier: Apache-2.0
// detail::gla_gemm: the register-blocked products of the chunked linear / gla core, on B and C
// operands stored in column panels of 16 floats (contiguous [depth x 16] blocks), with up to two
// products summed in registers and the state decay applied as a row scale on the way in.
#pragma once

#include <utility>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/simd/arch.hpp>
#include <attnkit/tile/gemm_tile.hpp>

namespace attnkit::detail {

/// How a tile starts: C = A B (assign), C += A B (add), C = diag(row_scale) C + A B (scale_rows).
enum class gla_start { assign, add, scale_rows };

/// One product term A [rows x depth] B [depth x 16 per panel]: panel p of B starts at
/// b + p * b_panel, its row k at + k * ldb (16 aligned floats). A is read by broadcast.
struct gla_term {
  tile::a_operand a{nullptr, 0, 0};
  const float* b = nullptr;
  index_t b_panel = 0, ldb = 0;
};

/// C panels of 16 columns: panel p, row r at c + p * c_panel + r * ldc (any alignment: C may be
/// the caller's output rows).
/// B panels keep a whole [128 x 16] operand in 128 consecutive lines (all 64 L1 sets) where a
/// row-major [128 x 128] one puts a panel's 256 lines into 16 sets of 8 ways.
template <class Arch>
struct gla_gemm {
  using batch = xsimd::batch<float, Arch>;
  static constexpr index_t kW = static_cast<index_t>(batch::size);
  static constexpr index_t kPanel = 16;
  static constexpr int kVecs = static_cast<int>(kPanel / kW);
  /// 6 x 2 on AVX2 (12 accumulators of 16 registers), 8 x 1 on AVX-512, 2 x 4 on SSE.
  static constexpr int kRows = kVecs == 1 ? 8 : kVecs == 2 ? 6 : 2;

  /// The row strips of `rows`: full strips of kRows, and a short remainder given as two tiles
  /// of at least 4 rows where possible (fewer than 8 FMA chains stall on 2 ports of latency 4).
  /// f(r0, nrows) for each.
  template <class F>
  static void for_strips(index_t rows, F&& f) {
    constexpr int kMin = 4 < kRows ? 4 : kRows;
    index_t strips = rows / kRows, tail = rows % kRows;
    index_t r0 = 0;
    if (tail > 0 && tail < kMin && strips > 0) {
      --strips;
      for (index_t s = 0; s < strips; ++s, r0 += kRows) f(r0, index_t(kRows));
      const index_t split = kRows + tail;
      f(r0, split / 2);
      f(r0 + split / 2, split - split / 2);
      return;
    }
    for (index_t s = 0; s < strips; ++s, r0 += kRows) f(r0, index_t(kRows));
    if (tail > 0) f(r0, tail);
  }

  /// Rows [r0, r0 + nrows) of panel p: C = start(C) + A1 B1 (depth d1) + A2 B2 (depth d2).
  static void tile(index_t nrows, index_t r0, index_t p, const gla_term& t1, index_t d1,
                   const gla_term& t2, index_t d2, float* c, index_t c_panel, index_t ldc,
                   gla_start start, const float* row_scale) noexcept {
    [&]<int... kN>(std::integer_sequence<int, kN...>) {
      ((nrows == kN + 1 ? run<kN + 1>(r0, p, t1, d1, t2, d2, c, c_panel, ldc, start, row_scale)
                        : void()),
       ...);
    }(std::make_integer_sequence<int, kRows>{});
  }

 private:
  template <int R>
  static void accumulate(batch (&acc)[R][kVecs], index_t r0, index_t p, const gla_term& t,
                         index_t depth) noexcept {
    const float* b = t.b + p * t.b_panel;
    const float* a = t.a.data + r0 * t.a.row_stride;
    const index_t rs = t.a.row_stride, ks = t.a.k_stride, ldb = t.ldb;
    for (index_t k = 0; k < depth; ++k) {
      batch bk[kVecs];
      for (int v = 0; v < kVecs; ++v) bk[v] = batch::load_aligned(b + k * ldb + v * kW);
      const float* ak = a + k * ks;
      for (int r = 0; r < R; ++r) {
        const batch ar(ak[r * rs]);
        for (int v = 0; v < kVecs; ++v) acc[r][v] = xsimd::fma(ar, bk[v], acc[r][v]);
      }
    }
  }

  template <int R>
  static void run(index_t r0, index_t p, const gla_term& t1, index_t d1, const gla_term& t2,
                  index_t d2, float* c, index_t c_panel, index_t ldc, gla_start start,
                  const float* row_scale) noexcept {
    float* cp = c + p * c_panel + r0 * ldc;
    batch acc[R][kVecs];
    for (int r = 0; r < R; ++r)
      for (int v = 0; v < kVecs; ++v) {
        if (start == gla_start::assign) {
          acc[r][v] = batch(0.0f);
        } else {
          acc[r][v] = batch::load_unaligned(cp + r * ldc + v * kW);
          if (start == gla_start::scale_rows) acc[r][v] *= batch(row_scale[r0 + r]);
        }
      }
    if (d1 > 0) accumulate<R>(acc, r0, p, t1, d1);
    if (d2 > 0) accumulate<R>(acc, r0, p, t2, d2);
    for (int r = 0; r < R; ++r)
      for (int v = 0; v < kVecs; ++v) acc[r][v].store_unaligned(cp + r * ldc + v * kW);
  }
};

}  // namespace attnkit::detail
