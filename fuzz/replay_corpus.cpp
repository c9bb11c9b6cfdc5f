// SPDX-License-Identifier: Apache-2.0
// Replays fuzz inputs through the flash harness without libFuzzer, so the committed corpus runs
// as an ordinary test with any compiler: `attnkit_fuzz_flash_replay <file or directory>...`.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "flash_harness.hpp"

namespace {

// The input being replayed, named by the SIGABRT handler: the harness reports a failure with
// abort(), and the report must say which corpus file to rerun.
std::string current_input;

extern "C" void name_failing_input(int) {
  // write(2) only: a signal handler must not allocate.
  constexpr char kPrefix[] = "attnkit fuzz replay: failing input ";
  [[maybe_unused]] auto n = write(2, kPrefix, sizeof(kPrefix) - 1);
  n = write(2, current_input.data(), current_input.size());
  n = write(2, "\n", 1);
  std::signal(SIGABRT, SIG_DFL);
  std::raise(SIGABRT);
}

std::vector<std::uint8_t> read_file(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::filesystem::path> inputs;
  for (int a = 1; a < argc; ++a) {
    const std::filesystem::path arg(argv[a]);
    if (std::filesystem::is_directory(arg)) {
      for (const auto& entry : std::filesystem::directory_iterator(arg))
        if (entry.is_regular_file()) inputs.push_back(entry.path());
    } else {
      inputs.push_back(arg);
    }
  }
  // An empty or mistyped corpus path must fail the test rather than pass it vacuously.
  if (inputs.empty()) {
    std::fprintf(stderr, "usage: %s <fuzz input file or directory>... (no inputs found)\n", argv[0]);
    return 2;
  }
  std::sort(inputs.begin(), inputs.end());  // a fixed order makes a failure reproducible
  std::signal(SIGABRT, name_failing_input);
  const auto start = std::chrono::steady_clock::now();
  for (const auto& path : inputs) {
    const auto bytes = read_file(path);
    current_input = path.string();
    attnkit::fuzz::check_flash(bytes.data(), bytes.size());
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("replayed %zu inputs in %.2f s\n", inputs.size(), seconds);
  return 0;
}
