# SPDX-License-Identifier: Apache-2.0
# Settings shared by attnkit's own tests, benchmarks and examples (never by its users).

if(NOT CMAKE_BUILD_TYPE AND NOT CMAKE_CONFIGURATION_TYPES)
  set(CMAKE_BUILD_TYPE Release CACHE STRING "Build type" FORCE)
endif()

# Does -march=native enable AVX-512 on this machine?
include(CheckCXXSourceCompiles)
set(CMAKE_REQUIRED_FLAGS -march=native)
check_cxx_source_compiles("#ifndef __AVX512F__\n#error no AVX-512\n#endif\nint main() {}"
                          ATTNKIT_NATIVE_HAS_AVX512)
unset(CMAKE_REQUIRED_FLAGS)

# g++ 12 reports "'__Y' is used uninitialized" inside its own AVX-512 intrinsics
# (_mm512_undefined_ps and friends, GCC PR 105593), which -Werror turns into a failed build of
# any code that uses them, xsimd's included. Silence those two warnings for AVX-512 builds on
# GCC < 13 only.
function(attnkit_avx512_gcc12_workaround target)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    target_compile_options(${target} PRIVATE -Wno-uninitialized -Wno-maybe-uninitialized)
  endif()
endfunction()

# Sanitizers for attnkit's own tests, benchmarks and examples: a -fsanitize= list such as
# "address,undefined" or "thread" (the asan and tsan presets set it). Every report is fatal
# (-fno-sanitize-recover=all) and stacks stay readable (-fno-omit-frame-pointer); the
# optimisation level is the build type's.
set(ATTNKIT_SANITIZE "" CACHE STRING
    "Sanitizers for tests, benchmarks and examples (-fsanitize= list, e.g. address,undefined)")
if(ATTNKIT_SANITIZE MATCHES "thread" AND ATTNKIT_SANITIZE MATCHES "address|leak|memory")
  message(FATAL_ERROR "ATTNKIT_SANITIZE=${ATTNKIT_SANITIZE}: ThreadSanitizer cannot be combined "
                      "with Address-, Leak- or MemorySanitizer; configure a separate build.")
endif()

# attnkit_dev_target(<target>): warnings as errors, the ATTNKIT_SANITIZE sanitizers and, with
# ATTNKIT_NATIVE, code for this CPU.
function(attnkit_dev_target target)
  target_link_libraries(${target} PRIVATE attnkit::attnkit)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Werror)
  if(ATTNKIT_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=${ATTNKIT_SANITIZE}
                           -fno-sanitize-recover=all -fno-omit-frame-pointer)
    target_link_options(${target} PRIVATE -fsanitize=${ATTNKIT_SANITIZE})
    # Two archs (the best and sse2) instead of every compiled one: the sanitized build of the
    # per-arch test instances took most of the test command's time.
    target_compile_definitions(${target} PRIVATE ATTNKIT_FEW_ARCHS)
  endif()
  if(ATTNKIT_NATIVE)
    target_compile_options(${target} PRIVATE -march=native)
    if(ATTNKIT_NATIVE_HAS_AVX512)
      attnkit_avx512_gcc12_workaround(${target})
    endif()
  endif()
endfunction()
