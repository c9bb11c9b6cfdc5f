# SPDX-License-Identifier: Apache-2.0
# Settings shared by attnkit's own tests, benchmarks and examples (never by its users).

if(NOT CMAKE_BUILD_TYPE AND NOT CMAKE_CONFIGURATION_TYPES)
  set(CMAKE_BUILD_TYPE Release CACHE STRING "Build type" FORCE)
endif()

# attnkit_dev_target(<target>): warnings as errors and, with ATTNKIT_NATIVE, code for this CPU.
function(attnkit_dev_target target)
  target_link_libraries(${target} PRIVATE attnkit::attnkit)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Werror)
  if(ATTNKIT_NATIVE)
    target_compile_options(${target} PRIVATE -march=native)
  endif()
endfunction()
