// SPDX-License-Identifier: Apache-2.0
// The SIMD layer: arch selection, exp, reductions, bf16/fp16 conversions (the only xsimd user).
#pragma once

#include <attnkit/simd/arch.hpp>
#include <attnkit/simd/compat.hpp>
#include <attnkit/simd/convert.hpp>
#include <attnkit/simd/dot.hpp>
#include <attnkit/simd/exp.hpp>
#include <attnkit/simd/reduce.hpp>
