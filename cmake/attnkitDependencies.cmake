# SPDX-License-Identifier: Apache-2.0
# Finds attnkit's dependencies; included by the project and by the installed package config.
# With find_dependency from the package config, find_package otherwise.

if(COMMAND find_dependency)
  find_dependency(xsimd 8)
  find_dependency(Threads)
else()
  find_package(xsimd 8 REQUIRED)
  find_package(Threads REQUIRED)
endif()

# Debian's xsimd 8.1 package exports its target with an `xtl` link dependency that its config
# never finds, so linking xsimd alone fails with "cannot find -lxtl". Use xtl's own package when
# it is installed; otherwise stand in an empty target (attnkit does not use xtl).
if(NOT TARGET xtl)
  find_package(xtl QUIET)
  if(NOT TARGET xtl)
    add_library(xtl INTERFACE IMPORTED GLOBAL)
  endif()
endif()
