// The sound of the album in the reports (#19): analysis as JSON, and the
// pictures of report.html as inline SVG (no script, nothing fetched).
#include <boost/json/array.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "report/model.hpp"
#include "setlist/report.hpp"
#include "setlist/state.hpp"

namespace setlist::report {

namespace {
// Rounded so that the JSON shows the short decimal (x / 100, not x * 0.01).
double round_to(double v, double step) {
  const double per = std::round(1.0 / step);
  return std::round(v * per) / per;
}
// Appends v with two decimals (to_chars: a waveform has hundreds of points,
// and an album of 10,000 songs twenty thousand waveforms).
void append2(std::string& out, double v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, 2);
  out.append(buf, r.ptr);
}
}  // namespace

boost::json::value analysis_json(const ClipInfo& c) {
  if (!c.analysis) return nullptr;
  const AudioAnalysis& a = *c.analysis;
  boost::json::object o;
  o["integrated_lufs"] = a.integrated_lufs ? boost::json::value(round_to(*a.integrated_lufs, 0.01)) : nullptr;
  o["loudness_range_lu"] = round_to(a.loudness_range_lu, 0.01);
  o["true_peak_dbtp"] = a.true_peak ? boost::json::value(round_to(to_db(*a.true_peak), 0.01)) : nullptr;
  o["sample_peak_dbfs"] = round_to(to_db(a.sample_peak), 0.01);
  o["duration"] = round_to(a.duration_seconds, 0.001);
  o["sample_rate"] = a.sample_rate;
  o["channels"] = a.channels;
  o["longest_silence_s"] = round_to(a.longest_silence_seconds, 0.001);
  o["clipped_runs"] = a.clipped_runs;
  o["replaygain_track_gain_db"] =
      a.integrated_lufs ? boost::json::value(round_to(kReplayGainReference - *a.integrated_lufs, 0.01)) : nullptr;
  return o;
}

boost::json::array flags_json(const ClipInfo& c) {
  boost::json::array a;
  for (auto& f : c.flags) a.emplace_back(f);
  return a;
}

boost::json::object album_loudness_json(const ReportData& d) {
  const AlbumLoudness& al = d.album_loudness;
  boost::json::object o;
  o["takes"] = al.takes;
  o["over"] = "first take of every song";
  o["integrated_lufs"] = al.lufs ? boost::json::value(round_to(*al.lufs, 0.01)) : nullptr;
  o["peak"] = round_to(al.peak, 0.000001);
  o["replaygain_album_gain_db"] = al.lufs ? boost::json::value(round_to(kReplayGainReference - *al.lufs, 0.01)) : nullptr;
  std::uint64_t flagged = 0;
  for (auto& s : d.songs)
    for (auto& c : s.clips)
      if (!c.flags.empty() && c.audio && c.audio->exists) ++flagged;
  o["takes_flagged"] = flagged;
  return o;
}

// A waveform: one bar per peak point, mirrored around the middle.
std::string waveform_svg(const ClipInfo& c, std::string_view label) {
  if (!c.analysis) return {};
  const auto& w = c.analysis->waveform;
  const int width = 300, height = 48;
  const double mid = height / 2.0;
  std::string path;
  path.reserve(w.size() * 20);
  const double step = w.empty() ? 1.0 : static_cast<double>(width) / static_cast<double>(w.size());
  for (std::size_t i = 0; i < w.size(); ++i) {
    double v = std::clamp(static_cast<double>(w[i]), 0.0, 1.0) * (mid - 1);
    if (v < 0.5) v = 0.5;  // silence still shows as a line
    path += 'M';
    append2(path, static_cast<double>(i) * step + step / 2);
    path += ' ';
    append2(path, mid - v);
    path += 'V';
    append2(path, mid + v);
  }
  bool bad = !c.flags.empty();
  std::string s = "<svg class=\"waveform\" data-clip=\"" + html_escape(c.id) + "\" viewBox=\"0 0 " +
                  std::to_string(width) + " " + std::to_string(height) + "\" width=\"" + std::to_string(width) +
                  "\" height=\"" + std::to_string(height) + "\" role=\"img\" aria-label=\"Waveform of " +
                  html_escape(label) + "\"><rect width=\"100%\" height=\"100%\" rx=\"4\" class=\"wf-bg\"/>";
  s += "<path d=\"" + path + "\" stroke-width=\"" + num(std::max(0.6, step * 0.8), 2) + "\" class=\"wf" +
       std::string(bad ? " wf-bad" : "") + "\"/>";
  // full scale (clipping) marks
  s += "</svg>";
  return s;
}

std::string loudness_line(const ClipInfo& c) {
  if (!c.analysis) return {};
  const AudioAnalysis& a = *c.analysis;
  std::string s = "<div class=\"loudness\">";
  s += a.integrated_lufs ? num(*a.integrated_lufs) + " LUFS" : std::string("silent (no loudness)");
  s += " · LRA " + num(a.loudness_range_lu) + " LU";
  if (a.true_peak) s += " · peak " + num(to_db(*a.true_peak)) + " dBTP";
  s += " · " + num(a.duration_seconds) + " s decoded";
  if (a.integrated_lufs) s += " · ReplayGain " + num(kReplayGainReference - *a.integrated_lufs, 2) + " dB";
  for (auto& f : c.flags) s += " <span class=\"badge flag flag-" + html_escape(f) + "\">" + html_escape(f) + "</span>";
  s += "</div>";
  return s;
}

// The album's loudness per track (first takes): one bar per song from
// -40 LUFS up, the -18 LUFS ReplayGain reference and the album's loudness as lines.
std::string album_chart_svg(const ReportData& d) {
  std::vector<std::pair<int, const ClipInfo*>> bars;
  for (auto& s : d.songs)
    if (!s.clips.empty() && s.clips.front().analysis) bars.emplace_back(s.track, &s.clips.front());
  if (bars.empty()) return {};
  const double lo = -40, hi = 0;
  const int bw = 24, gap = 6, height = 140, left = 40, top = 10;
  const int width = left + static_cast<int>(bars.size()) * (bw + gap) + 10;
  const double plot = height - top - 20;
  auto y = [&](double lufs) { return top + plot * (hi - std::clamp(lufs, lo, hi)) / (hi - lo); };
  std::string s = "<svg class=\"album-loudness\" viewBox=\"0 0 " + std::to_string(width) + " " +
                  std::to_string(height) + "\" width=\"" + std::to_string(width) + "\" height=\"" +
                  std::to_string(height) + "\" role=\"img\" aria-label=\"Loudness per track\">";
  for (double g : {0.0, -10.0, -20.0, -30.0, -40.0})
    s += "<text x=\"" + std::to_string(left - 4) + "\" y=\"" + num(y(g) + 4) + "\" class=\"axis\" text-anchor=\"end\">" +
         num(g, 0) + "</text>";
  for (std::size_t i = 0; i < bars.size(); ++i) {
    const ClipInfo& c = *bars[i].second;
    double x = left + static_cast<double>(i) * (bw + gap) + gap;
    double l = c.analysis->integrated_lufs.value_or(lo);
    std::string title = "Track " + std::to_string(bars[i].first) + ": " +
                        (c.analysis->integrated_lufs ? num(l) + " LUFS" : std::string("silent"));
    s += "<rect class=\"bar" + std::string(c.flags.empty() ? "" : " bar-bad") + "\" data-track=\"" +
         std::to_string(bars[i].first) + "\" x=\"" + num(x) + "\" y=\"" + num(y(l)) + "\" width=\"" +
         std::to_string(bw) + "\" height=\"" + num(y(lo) - y(l)) + "\"><title>" + html_escape(title) + "</title></rect>";
    s += "<text x=\"" + num(x + bw / 2.0) + "\" y=\"" + std::to_string(height - 4) +
         "\" class=\"axis\" text-anchor=\"middle\">" + std::to_string(bars[i].first) + "</text>";
  }
  s += "<line class=\"ref\" x1=\"" + std::to_string(left) + "\" x2=\"" + std::to_string(width) + "\" y1=\"" +
       num(y(kReplayGainReference)) + "\" y2=\"" + num(y(kReplayGainReference)) + "\"><title>ReplayGain reference -18 LUFS</title></line>";
  if (d.album_loudness.lufs)
    s += "<line class=\"album\" x1=\"" + std::to_string(left) + "\" x2=\"" + std::to_string(width) + "\" y1=\"" +
         num(y(*d.album_loudness.lufs)) + "\" y2=\"" + num(y(*d.album_loudness.lufs)) + "\"><title>Album " +
         num(*d.album_loudness.lufs) + " LUFS</title></line>";
  s += "</svg>";
  return s;
}

}  // namespace setlist::report

namespace setlist {

std::vector<std::string> flagged_takes(StateStore& state) {
  std::vector<std::pair<int, std::string>> lines;
  for (auto& song : state.songs()) {
    auto analyses = state.analyses(song.key);
    if (analyses.empty()) continue;
    int take = 0;
    for (auto& c : state.attempt_clips(song.key)) {
      for (auto& a : analyses) {
        if (a.clip_id != c.clip_id || a.flags.empty()) continue;
        std::string flags;
        for (auto& f : a.flags) flags += (flags.empty() ? "" : ", ") + f;
        char num[16];
        std::snprintf(num, sizeof num, "%02d ", song.track);
        lines.emplace_back(song.track, num + song.title + " (" + report::take_letter(take) + "): " + flags);
      }
      ++take;
    }
  }
  std::stable_sort(lines.begin(), lines.end(), [](auto& a, auto& b) { return a.first < b.first; });
  std::vector<std::string> out;
  for (auto& l : lines) out.push_back(std::move(l.second));
  return out;
}

}  // namespace setlist
