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

boost::json::object album_loudness_json(const ReportData& d, const Tally& t) {
  const AlbumLoudness& al = d.album_loudness;
  boost::json::object o;
  o["takes"] = al.takes;
  o["over"] = "first take of every song";
  o["integrated_lufs"] = al.lufs ? boost::json::value(round_to(*al.lufs, 0.01)) : nullptr;
  o["peak"] = round_to(al.peak, 0.000001);
  o["replaygain_album_gain_db"] = al.lufs ? boost::json::value(round_to(kReplayGainReference - *al.lufs, 0.01)) : nullptr;
  o["takes_flagged"] = t.takes_flagged;
  return o;
}

// A waveform: one bar per peak point, mirrored around the middle. Drawn on
// a grid twice the displayed size in whole units (#20: "M13 40V56" rather
// than "M6.50 20.00V28.00": half the bytes, the same picture).
std::string waveform_svg(const ClipInfo& c, std::string_view label) {
  if (!c.analysis) return {};
  const auto& w = c.analysis->waveform;
  const int width = 300, height = 48, gw = 2 * width, gh = 2 * height;
  const int mid = gh / 2;
  std::string path;
  path.reserve(w.size() * 11);
  const double step = w.empty() ? 1.0 : static_cast<double>(gw) / static_cast<double>(w.size());
  char buf[16];
  auto put = [&](int v) {
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    path.append(buf, r.ptr);
  };
  for (std::size_t i = 0; i < w.size(); ++i) {
    int v = static_cast<int>(std::lround(std::clamp(static_cast<double>(w[i]), 0.0, 1.0) * (mid - 2)));
    if (v < 1) v = 1;  // silence still shows as a line
    path += 'M';
    put(static_cast<int>(std::lround(static_cast<double>(i) * step + step / 2)));
    path += ' ';
    put(mid - v);
    path += 'V';
    put(mid + v);
  }
  bool bad = !c.flags.empty();
  std::string s = "<svg class=\"waveform\" data-clip=\"" + html_escape(c.id) + "\" viewBox=\"0 0 " +
                  std::to_string(gw) + " " + std::to_string(gh) + "\" width=\"" + std::to_string(width) +
                  "\" height=\"" + std::to_string(height) + "\" role=\"img\" aria-label=\"Waveform of " +
                  html_escape(label) + "\"><rect width=\"100%\" height=\"100%\" rx=\"8\" class=\"wf-bg\"/>";
  s += "<path d=\"" + path + "\" stroke-width=\"" + num(std::max(1.2, step * 0.8), 1) + "\" class=\"wf" +
       std::string(bad ? " wf-bad" : "") + "\"/>";
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
// -40 LUFS up, the -18 LUFS ReplayGain reference and the album's loudness as
// lines. Beyond kPageSongs songs (#20) the bars are one path (flagged ones a
// second), a unit wide each, drawn to the page's width: 10,000 songs in ~150 KB.
std::string album_chart_svg(const ReportData& d, const Tally& t) {
  const auto& bars = t.chart;
  if (bars.empty()) return {};
  const double lo = -40, hi = 0;
  const bool dense = bars.size() > kPageSongs;
  const int bw = dense ? 2 : 24, gap = dense ? 0 : 6, height = 140, left = 40, top = 10;
  const int width = left + static_cast<int>(bars.size()) * (bw + gap) + 10;
  const double plot = height - top - 20;
  auto y = [&](double lufs) { return top + plot * (hi - std::clamp(lufs, lo, hi)) / (hi - lo); };
  std::string s = "<svg class=\"album-loudness" + std::string(dense ? " dense" : "") + "\" viewBox=\"0 0 " +
                  std::to_string(width) + " " + std::to_string(height) + "\"" +
                  (dense ? std::string(" preserveAspectRatio=\"none\" width=\"100%\"")
                         : " width=\"" + std::to_string(width) + "\"") +
                  " height=\"" + std::to_string(height) + "\" role=\"img\" aria-label=\"Loudness per track\">";
  for (double g : {0.0, -10.0, -20.0, -30.0, -40.0})
    s += "<text x=\"" + std::to_string(left - 4) + "\" y=\"" + num(y(g) + 4) + "\" class=\"axis\" text-anchor=\"end\">" +
         num(g, 0) + "</text>";
  if (dense) {
    std::string ok, bad;
    for (std::size_t i = 0; i < bars.size(); ++i) {
      double l = bars[i].lufs.value_or(lo);
      std::string& p = bars[i].flagged ? bad : ok;
      p += "M" + std::to_string(left + static_cast<int>(i) * bw + 1) + " " + num(y(l), 0) + "V" + num(y(lo), 0);
    }
    s += "<path class=\"bars\" stroke-width=\"" + std::to_string(bw) + "\" d=\"" + ok + "\"/>";
    if (!bad.empty()) s += "<path class=\"bars bars-bad\" stroke-width=\"" + std::to_string(bw) + "\" d=\"" + bad + "\"/>";
  } else {
    for (std::size_t i = 0; i < bars.size(); ++i) {
      double x = left + static_cast<double>(i) * (bw + gap) + gap;
      double l = bars[i].lufs.value_or(lo);
      std::string title = "Track " + std::to_string(bars[i].track) + ": " +
                          (bars[i].lufs ? num(l) + " LUFS" : std::string("silent"));
      s += "<rect class=\"bar" + std::string(bars[i].flagged ? " bar-bad" : "") + "\" data-track=\"" +
           std::to_string(bars[i].track) + "\" x=\"" + num(x) + "\" y=\"" + num(y(l)) + "\" width=\"" +
           std::to_string(bw) + "\" height=\"" + num(y(lo) - y(l)) + "\"><title>" + html_escape(title) +
           "</title></rect>";
      s += "<text x=\"" + num(x + bw / 2.0) + "\" y=\"" + std::to_string(height - 4) +
           "\" class=\"axis\" text-anchor=\"middle\">" + std::to_string(bars[i].track) + "</text>";
    }
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
