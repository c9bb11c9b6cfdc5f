# SPDX-License-Identifier: Apache-2.0
# Settings shared by attnkit's own tests, benchmarks and examples (never by its users).

if(NOT CMAKE_BUILD_TYPE AND NOT CMAKE_CONFIGURATION_TYPES)
  set(CMAKE_BUILD_TYPE Release CACHE STRING "Build type" FORCE)
endif()

# attnkit_dev_target(<target>): warnings as errors and, with ATTNKIT_NATIVE, code for this CPU.
function(attnkit_dev_target target)
  target_link_libraries(${target} PRIVATE attnkit::attnkit)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Werror)
  # g++ 12 warns "'__Y' may be used uninitialized" inside its own AVX-512 intrinsics (GCC PR
  # 105593); with -Werror that fails every AVX-512 build.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    target_compile_options(${target} PRIVATE -Wno-maybe-uninitialized)
  endif()
  if(ATTNKIT_NATIVE)
    target_compile_options(${target} PRIVATE -march=native)
  endif()
endfunction()
