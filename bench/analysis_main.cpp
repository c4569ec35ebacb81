// bench-analysis: the CPU cost of decoding and measuring one take (#19).
// Writes a 4-minute MP3 (44.1 kHz stereo, a music-like mix of tones, a
// slow envelope and noise, through libsndfile/LAME) once, then runs
// analyze_audio on it N times with true peak (libebur128's over every sample,
// and ours over the chunks that can raise it) and without, and prints the
// CPU time (user + system, getrusage) per take as JSON. Not a test: no
// timed assertion anywhere; bench/RESULTS.md records what it printed.
#include <sndfile.h>
#include <sys/resource.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <unistd.h>
#include <filesystem>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include "setlist/analysis.hpp"

namespace fs = std::filesystem;

namespace {

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return s(ru.ru_utime) + s(ru.ru_stime);
}

bool write_song(const fs::path& p, double seconds) {
  SF_INFO info{};
  info.samplerate = 44100;
  info.channels = 2;
  info.format = SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III;
  SNDFILE* f = sf_open(p.c_str(), SFM_WRITE, &info);
  if (!f) return false;
  std::mt19937 rng(7);
  std::normal_distribution<double> noise(0.0, 0.05);
  const long total = static_cast<long>(seconds * info.samplerate);
  std::vector<float> buf(4096 * 2);
  const double tau = 2 * std::numbers::pi;
  for (long at = 0; at < total; at += 4096) {
    long n = std::min<long>(4096, total - at);
    for (long i = 0; i < n; ++i) {
      double t = static_cast<double>(at + i) / info.samplerate;
      double env = 0.55 + 0.4 * std::sin(tau * t / 17.0);
      double v = env * (0.3 * std::sin(tau * 110 * t) + 0.2 * std::sin(tau * 440 * t) + 0.1 * std::sin(tau * 1318.5 * t));
      buf[static_cast<std::size_t>(2 * i)] = static_cast<float>(v + noise(rng));
      buf[static_cast<std::size_t>(2 * i + 1)] = static_cast<float>(0.9 * v + noise(rng));
    }
    sf_writef_float(f, buf.data(), n);
  }
  sf_close(f);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  int runs = argc > 1 ? std::atoi(argv[1]) : 5;
  double seconds = argc > 2 ? std::atof(argv[2]) : 240;
  fs::path dir = fs::temp_directory_path() / ("bench-analysis-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto mp3 = dir / "song.mp3";
  double t0 = cpu_seconds();
  if (!write_song(mp3, seconds)) {
    std::fprintf(stderr, "bench-analysis: cannot encode MP3: %s\n", sf_strerror(nullptr));
    return 1;
  }
  double encode = cpu_seconds() - t0;
  double peak_db = 0;
  auto measure = [&](bool true_peak, bool fast, double& lufs) {
    setlist::AnalysisOptions opt;
    opt.true_peak = true_peak;
    opt.fast_true_peak = fast;
    double best = 1e9, sum = 0;
    for (int i = 0; i < runs; ++i) {
      double a = cpu_seconds();
      auto r = setlist::analyze_audio(mp3, opt);
      double cpu = cpu_seconds() - a;
      if (!r) {
        std::fprintf(stderr, "bench-analysis: %s\n", r.error().message.c_str());
        std::exit(1);
      }
      lufs = r->integrated_lufs.value_or(-200);
      if (r->true_peak) peak_db = 20 * std::log10(*r->true_peak);
      best = std::min(best, cpu);
      sum += cpu;
    }
    return std::make_pair(best, sum / runs);
  };
  double l1 = 0, l2 = 0, l3 = 0;
  auto with_tp = measure(true, false, l1);
  const double r128_peak_db = peak_db;
  auto fast_tp = measure(true, true, l3);
  const double fast_peak_db = peak_db;
  auto without_tp = measure(false, false, l2);
  std::printf(
      "{\"seconds_of_audio\": %.0f, \"mp3_bytes\": %ju, \"runs\": %d, \"encode_cpu_s\": %.3f,\n"
      " \"with_true_peak_libebur128\": {\"best_cpu_s\": %.3f, \"mean_cpu_s\": %.3f, \"true_peak_dbtp\": %.3f},\n"
      " \"with_true_peak_fast\": {\"best_cpu_s\": %.3f, \"mean_cpu_s\": %.3f, \"true_peak_dbtp\": %.3f},\n"
      " \"without_true_peak\": {\"best_cpu_s\": %.3f, \"mean_cpu_s\": %.3f},\n"
      " \"integrated_lufs\": %.2f}\n",
      seconds, static_cast<std::uintmax_t>(fs::file_size(mp3)), runs, encode, with_tp.first, with_tp.second,
      r128_peak_db, fast_tp.first, fast_tp.second, fast_peak_db, without_tp.first, without_tp.second, l1);
  std::error_code ec;
  fs::remove_all(dir, ec);
  return 0;
}
