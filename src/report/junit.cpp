// junit.xml (one testsuite, one testcase per song) and the Markdown summary
// for GitHub Actions' GITHUB_STEP_SUMMARY.
#include <cstdio>

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

std::string render_junit(const ReportData& d) {
  int failures = 0, skipped = 0;
  double total = 0;
  for (auto& s : d.songs) {
    if (s.status == "skipped")
      ++skipped;
    else if (s.status != "complete")
      ++failures;
    total += song_seconds(s);
  }
  if (auto it = d.run.find("duration_s"); it != d.run.end() && it->value().is_double())
    total = it->value().get_double();
  std::string suite = d.album.title.empty() ? "setlist" : d.album.title;
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += "<testsuite name=\"" + xml_escape(suite) + "\" tests=\"" + std::to_string(d.songs.size()) +
         "\" failures=\"" + std::to_string(failures) + "\" errors=\"0\" skipped=\"" + std::to_string(skipped) +
         "\" time=\"" + seconds(total) + "\"";
  if (d.generated_at > 0) out += " timestamp=\"" + iso_time(d.generated_at) + "\"";
  out += ">\n";
  for (auto& s : d.songs) {
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
      continue;
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
  out += "</testsuite>\n";
  return out;
}

std::string render_step_summary(const ReportData& d) {
  std::string out = "### setlist: " + md_cell(d.album.title.empty() ? "album" : d.album.title) + "\n\n";
  std::string counts;
  for (auto& [status, n] : d.totals) counts += (counts.empty() ? "" : ", ") + std::to_string(n) + " " + status;
  out += std::to_string(d.songs.size()) + " songs" + (counts.empty() ? "" : ": " + counts) + "\n\n";
  out += "| # | song | status | reason |\n|---:|---|---|---|\n";
  for (auto& s : d.songs)
    out += "| " + std::to_string(s.track) + " | " + md_cell(s.title) + " | " + md_cell(s.status) + " | " +
           md_cell(s.status == "complete" ? "" : why(s)) + " |\n";
  out += "\n";
  // #19: the album's loudness and the takes the analysis flagged.
  if (d.album_loudness.lufs) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "Album loudness %.1f LUFS (ReplayGain %.2f dB) over %zu first takes.\n\n",
                  *d.album_loudness.lufs, kReplayGainReference - *d.album_loudness.lufs, d.album_loudness.takes);
    out += buf;
  }
  std::string flagged;
  for (auto& s : d.songs)
    for (auto& c : s.clips) {
      if (c.flags.empty() || !c.audio || !c.audio->exists) continue;
      std::string f;
      for (auto& x : c.flags) f += (f.empty() ? "" : ", ") + x;
      flagged += "- " + md_cell(take_title(s, c)) + ": " + md_cell(f) + "\n";
    }
  if (!flagged.empty()) out += "Flagged takes:\n\n" + flagged + "\n";
  return out;
}

}  // namespace setlist::report
