// bench-report OUT: `setlist report OUT` in two measured steps (#20): the
// state's opening (its trust checks read the receipts journal) and the
// reports' writing, each with its CPU time (user + system) and the peak RSS
// after it, as JSON. Not a test: bench/RESULTS.md section C records it.
#include <malloc.h>
#include <sys/resource.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "setlist/report.hpp"
#include "setlist/state.hpp"

namespace {
double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return s(ru.ru_utime) + s(ru.ru_stime);
}
double peak_mib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;
}
// VmHWM, the peak RSS since the last reset_peak() (Linux 4.0+: clear_refs 5).
double hwm_mib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0;
}
void reset_peak() {
  malloc_trim(0);  // what the opening freed goes back to the system first
  std::ofstream("/proc/self/clear_refs") << "5";
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: bench-report OUT\n");
    return 2;
  }
  const std::filesystem::path out = argv[1];
  const double c0 = cpu_seconds(), m0 = peak_mib();
  auto st = setlist::open_album_state(out, false);
  if (!st || !st.value()) {
    std::fprintf(stderr, "bench-report: cannot open the state of %s\n", out.c_str());
    return 3;
  }
  const double c1 = cpu_seconds(), m1 = peak_mib();
  reset_peak();
  const double base = hwm_mib();
  auto w = setlist::write_reports(out, *st.value(), nullptr, nullptr);
  const double c2 = cpu_seconds(), m2 = hwm_mib();
  std::printf("{\"start_peak_mib\": %.1f, \"open_cpu_s\": %.3f, \"open_peak_mib\": %.1f, \"rss_before_reports_mib\": %.1f, "
              "\"reports_cpu_s\": %.3f, \"reports_peak_mib\": %.1f, \"ok\": %s}\n",
              m0, c1 - c0, m1, base, c2 - c1, m2, w ? "true" : "false");
  return w ? 0 : 3;
}
