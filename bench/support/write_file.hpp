// SPDX-License-Identifier: Apache-2.0
// bench::write_file: a report file of the evaluation programs, written or reported as unwritable.
#pragma once

#include <fstream>
#include <iostream>
#include <string>

namespace attnkit::bench {

/// Writes the file at `path` through write(std::ostream&); nothing when `path` is empty. Returns
/// false, with a message on stderr, when the file cannot be written.
template <class Write>
bool write_file(const std::string& path, Write&& write) {
  if (path.empty()) return true;
  std::ofstream file(path);
  write(file);
  if (!file) {
    std::cerr << "cannot write " << path << '\n';
    return false;
  }
  return true;
}

}  // namespace attnkit::bench
