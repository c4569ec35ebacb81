#include "engine/analyze.hpp"

#include <cstdlib>
#include <string_view>

namespace setlist::engine {

FlagThresholds flag_thresholds(const Settings& s) {
  FlagThresholds t;
  t.silence_lufs = s.flag_silence_lufs;
  t.silence_stretch_s = static_cast<double>(s.flag_silence_stretch.count()) / 1000.0;
  t.clipped_runs = s.flag_clipped_runs;
  t.clipped_true_peak_db = s.flag_clipped_true_peak;
  t.short_fraction = s.flag_short_fraction;
  return t;
}

std::string join_flags(const std::vector<std::string>& flags) {
  std::string s;
  for (auto& f : flags) s += (s.empty() ? "" : ", ") + f;
  return s;
}

Result<AnalysisRow> analyze_take(const std::filesystem::path& file, const Settings& s, const Song& song,
                                 const std::string& song_key, const std::string& clip_id,
                                 const std::string& source_sha256) {
  // Bench only (bench/README.md, "A with analysis off"): the makespan without
  // decoding; the take is published untagged for loudness, as when analysis fails.
  static const bool bench_off = [] {
    const char* v = std::getenv("SETLIST_BENCH_NO_ANALYSIS");
    return v && std::string_view(v) == "1";
  }();
  if (bench_off) {
    Error e;
    e.kind = ErrorKind::invalid;
    e.message = "analysis off (SETLIST_BENCH_NO_ANALYSIS=1)";
    return e;
  }
  auto a = analyze_audio(file);
  if (!a) return a.error();
  AnalysisRow row;
  row.clip_id = clip_id;
  row.song_key = song_key;
  row.source_sha256 = source_sha256;
  std::optional<double> requested;
  if (song.length) requested = static_cast<double>(song.length->count()) / 1000.0;
  row.flags = flag_take(*a, flag_thresholds(s), requested);
  row.audio = std::move(*a);
  return row;
}

}  // namespace setlist::engine
