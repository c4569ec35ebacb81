// junit.xml (one testsuite, one testcase per song) and the Markdown summary
// (`report --format md`, GitHub Actions' GITHUB_STEP_SUMMARY).
#include <cmath>
#include <cstdio>
#include <optional>

#include "report/model.hpp"

namespace setlist::report {

namespace {

std::string seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", s < 0 ? 0.0 : s);
  return buf;
}

double song_seconds(const SongInfo& s) {
  if (s.submitted_at > 0 && s.completed_at >= s.submitted_at)
    return static_cast<double>(s.completed_at - s.submitted_at) / 1000.0;
  return 0.0;
}

std::string case_name(const SongInfo& s) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%02d - ", s.track);
  return buf + s.title;
}

std::string why(const SongInfo& s) {
  if (!s.reason.empty()) return s.reason;
  if (s.status == "pending" || s.status == "submitting" || s.status == "submitted")
    return "not finished (" + s.status + "): the run stopped before this song completed";
  return s.status;
}

// A Markdown table cell: one line, no table breaks, no raw HTML.
std::string md_cell(const std::string& raw) {
  std::string out;
  for (char c : valid_utf8(raw)) {
    switch (c) {
      case '|': out += "\\|"; break;
      case '\n':
      case '\r': out += ' '; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '`': out += "\\`"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace

void junit_begin(const ReportData& d, const Tally& t, TextOut& out) {
  double total = t.song_seconds;
  if (auto it = d.run.find("duration_s"); it != d.run.end() && it->value().is_double())
    total = it->value().get_double();
  std::string suite = d.album.title.empty() ? "setlist" : d.album.title;
  out += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += "<testsuite name=\"" + xml_escape(suite) + "\" tests=\"" + std::to_string(t.songs) + "\" failures=\"" +
         std::to_string(t.failures) + "\" errors=\"0\" skipped=\"" + std::to_string(t.skipped) + "\" time=\"" +
         seconds(total) + "\"";
  if (d.generated_at > 0) out += " timestamp=\"" + iso_time(d.generated_at) + "\"";
  out += ">\n";
}

void junit_song(const ReportData& d, const SongInfo& s, TextOut& out) {
  std::string suite = d.album.title.empty() ? "setlist" : d.album.title;
  out += "  <testcase classname=\"setlist." + xml_escape(suite) + "\" name=\"" + xml_escape(case_name(s)) +
         "\" time=\"" + seconds(song_seconds(s)) + "\"";
  // #19: each analysed take's loudness and flags as properties (a flag
  // informs; it does not fail the song).
  std::string props;
  for (auto& c : s.clips) {
    if (!c.analysis || !c.audio || !c.audio->exists) continue;
    std::string take = "take " + take_letter(c.take) + " ";
    char buf[32];
    if (c.analysis->integrated_lufs) {
      std::snprintf(buf, sizeof buf, "%.2f", *c.analysis->integrated_lufs);
      props += "      <property name=\"" + take + "loudness_lufs\" value=\"" + buf + "\"/>\n";
    }
    std::string flags;
    for (auto& f : c.flags) flags += (flags.empty() ? "" : ",") + f;
    props += "      <property name=\"" + take + "flags\" value=\"" + xml_escape(flags) + "\"/>\n";
  }
  if (s.status == "complete" && props.empty()) {
    out += "/>\n";
    return;
  }
  out += ">\n";
  if (!props.empty()) out += "    <properties>\n" + props + "    </properties>\n";
  if (s.status == "skipped") {
    out += "    <skipped message=\"" + xml_escape(why(s)) + "\"/>\n";
  } else if (s.status != "complete") {
    out += "    <failure type=\"" + xml_escape(s.status) + "\" message=\"" + xml_escape(why(s)) + "\">" +
           xml_escape(s.status + ": " + why(s)) + "</failure>\n";
  }
  out += "  </testcase>\n";
}

void junit_end(TextOut& out) { out += "</testsuite>\n"; }

std::string render_junit(const ReportData& d) {
  std::string s;
  TextEmit emit([&s](std::string_view p) { s += p; });
  {
    TextOut out(emit);
    Tally t = tally_of(d.songs);
    junit_begin(d, t, out);
    for (auto& song : d.songs) junit_song(d, song, out);
    junit_end(out);
  }
  return s;
}

// The Markdown summary: `setlist report OUT --format md` prints it, and a run
// appends it to $GITHUB_STEP_SUMMARY (docs/report.md, "Markdown summary").
namespace {
std::string fixed(const char* fmt, double v) {
  char buf[48];
  std::snprintf(buf, sizeof buf, fmt, v);
  return std::string(buf);
}
}  // namespace

void StepSummary::begin(const ReportData& d, const Tally& t, TextOut& out) {
  out += "### setlist: " + md_cell(d.album.title.empty() ? "album" : d.album.title);
  if (!d.album.artist.empty()) out += " \u2014 " + md_cell(d.album.artist);
  out += "\n\n";
  std::string counts;
  for (auto& [status, n] : d.totals) counts += (counts.empty() ? "" : ", ") + std::to_string(n) + " " + status;
  out += std::to_string(t.songs) + " songs" + (counts.empty() ? "" : ": " + counts) + "\n\n";
  // The cost, as the last run recorded it.
  auto number = [&](const char* k) -> std::optional<long long> {
    auto it = d.run.find(k);
    if (it == d.run.end() || !it->value().is_number()) return std::nullopt;
    return it->value().to_number<long long>();
  };
  if (auto to_date = number("tokens_charged_to_date")) {
    std::string line = "Cost: " + std::to_string(number("tokens_charged").value_or(0)) + " tokens by the last run, " +
                       std::to_string(*to_date) + " tokens for the album to date.";
    if (auto it = d.run.find("duration_s"); it != d.run.end() && it->value().is_number())
      line += " The last run took " + fixed("%.1f", it->value().to_number<double>()) + " s.";
    out += line + "\n\n";
  }
  if (d.album_loudness.lufs)
    out += "Album loudness " + fixed("%.1f", *d.album_loudness.lufs) + " LUFS (ReplayGain " +
           fixed("%.2f", kReplayGainReference - *d.album_loudness.lufs) + " dB) over " +
           std::to_string(d.album_loudness.takes) + " first takes.\n\n";
  out += "| # | song | status | takes | duration | loudness | flags | reason |\n|---:|---|---|---:|---|---|---|---|\n";
  failures_.clear();
  flagged_.clear();
}

void StepSummary::song(const SongInfo& s, TextOut& out) {
  int takes = 0;
  std::string durations, loudness, flags;
  for (auto& c : s.clips) {
    if (!c.audio || !c.audio->exists) continue;
    ++takes;
    const std::string letter = s.clips.size() > 1 ? " (" + take_letter(c.take) + ")" : "";
    std::optional<double> secs = c.analysis ? std::optional<double>(c.analysis->duration_seconds) : c.duration;
    if (secs) {
      long r = std::lround(*secs);
      char buf[32];
      std::snprintf(buf, sizeof buf, "%ld:%02ld", r / 60, r % 60);
      durations += (durations.empty() ? "" : ", ") + std::string(buf) + letter;
    }
    if (c.analysis)
      loudness += (loudness.empty() ? "" : ", ") +
                  (c.analysis->integrated_lufs ? fixed("%.1f LUFS", *c.analysis->integrated_lufs)
                                               : std::string("no level")) +
                  letter;
    for (auto& f : c.flags) flags += (flags.empty() ? "" : ", ") + f + letter;
  }
  out += "| " + std::to_string(s.track) + " | " + md_cell(s.title) + " | " + md_cell(s.status) + " | " +
         std::to_string(takes) + " | " + md_cell(durations) + " | " + md_cell(loudness) + " | " + md_cell(flags) +
         " | " + md_cell(s.status == "complete" ? "" : why(s)) + " |\n";
  if (s.status != "complete")
    failures_ += "- **" + std::to_string(s.track) + ". " + md_cell(s.title) + "** (" + md_cell(s.status) +
                 "): " + md_cell(why(s)) + "\n";
  // #19: the takes the analysis flagged.
  for (auto& c : s.clips) {
    if (c.flags.empty() || !c.audio || !c.audio->exists) continue;
    std::string f;
    for (auto& x : c.flags) f += (f.empty() ? "" : ", ") + x;
    flagged_ += "- " + md_cell(take_title(s, c)) + ": " + md_cell(f) + "\n";
  }
}

void StepSummary::end(const ReportData& d, TextOut& out) {
  out += "\n";
  if (!failures_.empty()) out += "Not complete:\n\n" + failures_ + "\n";
  if (!flagged_.empty()) out += "Flagged takes:\n\n" + flagged_ + "\n";
  if (!d.damaged.empty()) {
    out += "Damaged state (rows refused):\n\n";
    for (auto& m : d.damaged) out += "- " + md_cell(m) + "\n";
    out += "\n";
  }
}

std::string render_step_summary(const ReportData& d) {
  std::string s;
  TextEmit emit([&s](std::string_view p) { s += p; });
  {
    TextOut out(emit);
    StepSummary md;
    md.begin(d, tally_of(d.songs), out);
    for (auto& song : d.songs) md.song(song, out);
    md.end(d, out);
  }
  return s;
}

}  // namespace setlist::report
