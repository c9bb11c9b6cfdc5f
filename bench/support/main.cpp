// SPDX-License-Identifier: Apache-2.0
// main of every attnkit benchmark binary: probe the machine, register the suites, run, summarise.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include <benchmark/benchmark.h>

#include "support/machine_limits.hpp"
#include "support/registry.hpp"
#include "support/summary_reporter.hpp"
#include "support/write_table.hpp"

namespace {

using namespace attnkit::bench;

// Short by default: three repetitions of at least 0.2 s each keep the whole default run of
// attnkit_bench well under two minutes on two cores. The repetitions of all benchmarks are
// interleaved in random order, so a neighbour that takes a shared core for a few seconds spoils
// one repetition of several rows, which the median drops, rather than every repetition of one.
// Flags given on the command line come later and win.
constexpr const char* kDefaultFlags[] = {"--benchmark_min_time=0.2", "--benchmark_repetitions=3",
                                         "--benchmark_enable_random_interleaving=true",
                                         "--benchmark_display_aggregates_only=true"};

constexpr const char* kUsage =
    "attnkit benchmark flags (then Google Benchmark's own):\n"
    "  --full               add the long shapes (also ATTNKIT_BENCH_FULL=1)\n"
    "  --report_json=FILE   write the summary table as JSON\n"
    "  --report_md=FILE     write the summary table as Markdown\n"
    "  defaults: --benchmark_min_time=0.2 --benchmark_repetitions=3\n"
    "            --benchmark_enable_random_interleaving=true\n"
    "            --benchmark_display_aggregates_only=true\n\n";

struct command_line {
  bool full = false;
  std::string report_json, report_md;
  std::string color = "auto";       // the value of --benchmark_color, which we must apply ourselves
  std::vector<std::string> passed;  // argv[0], the defaults, then the flags Google Benchmark reads
};

command_line parse(int argc, char** argv) {
  command_line cl;
  const char* env = std::getenv("ATTNKIT_BENCH_FULL");
  cl.full = env != nullptr && std::strcmp(env, "0") != 0 && *env != '\0';
  cl.passed.assign({argv[0]});
  cl.passed.insert(cl.passed.end(), std::begin(kDefaultFlags), std::end(kDefaultFlags));
  for (int a = 1; a < argc; ++a) {
    const std::string_view arg = argv[a];
    if (arg == "--full") cl.full = true;
    else if (arg.starts_with("--report_json=")) cl.report_json = arg.substr(arg.find('=') + 1);
    else if (arg.starts_with("--report_md=")) cl.report_md = arg.substr(arg.find('=') + 1);
    else {
      if (arg.starts_with("--benchmark_color=")) cl.color = arg.substr(arg.find('=') + 1);
      if (arg == "--help") std::cout << kUsage;
      cl.passed.emplace_back(arg);
    }
  }
  return cl;
}

// Google Benchmark decides colour only for the reporter it creates itself; ours follows the
// same rule: on for a terminal unless --benchmark_color says otherwise.
benchmark::ConsoleReporter::OutputOptions console_options(const std::string& color) {
  bool on = color == "true" || color == "yes" || color == "1";
  if (color == "auto") {
    const char* term = std::getenv("TERM");
    on = isatty(STDOUT_FILENO) && term != nullptr && std::strcmp(term, "dumb") != 0;
  }
  return on ? benchmark::ConsoleReporter::OO_ColorTabular : benchmark::ConsoleReporter::OO_Tabular;
}

bool write_report(const std::string& path, const std::vector<result_row>& rows,
                  const machine_limits& limits, table_format format) {
  if (path.empty()) return true;
  std::ofstream file(path);
  write_table(file, rows, limits, format);
  file.close();
  if (!file) std::cerr << "attnkit_bench: cannot write " << path << '\n';
  return bool(file);
}

}  // namespace

int main(int argc, char** argv) {
  command_line cl = parse(argc, argv);
  std::vector<char*> args;
  for (auto& a : cl.passed) args.push_back(a.data());
  int count = static_cast<int>(args.size());
  benchmark::Initialize(&count, args.data());
  if (benchmark::ReportUnrecognizedArguments(count, args.data())) return 1;

  const machine_limits limits = probe_machine_limits();
  std::cout << "Machine limits (best of a few runs each):\n" << limits.summary() << "\n\n";
  std::cout.flush();

  register_suites({.full = cl.full});
  summary_reporter reporter(limits, console_options(cl.color));
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();

  const auto rows = reporter.rows();
  const bool json_ok = write_report(cl.report_json, rows, limits, table_format::json);
  const bool md_ok = write_report(cl.report_md, rows, limits, table_format::markdown);
  return json_ok && md_ok ? 0 : 1;
}
