// album.m3u8: every downloaded take in album order, paths relative to OUT.
#include <cmath>

#include "report/model.hpp"

namespace setlist::report {

namespace {
// Lines of an M3U file: a value must not break out of its line.
std::string one_line(std::string s) {
  for (auto& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return valid_utf8(s);
}
}  // namespace

void m3u8_begin(const ReportData& d, TextOut& out) {
  out += "#EXTM3U\n";
  if (!d.album.title.empty()) out += "#PLAYLIST:" + one_line(d.album.title) + "\n";
}

void m3u8_song(const ReportData& d, const SongInfo& s, TextOut& out) {
  std::string who = d.album.artist.empty() ? std::string() : d.album.artist + " - ";
  for (auto& c : s.clips) {
    if (!c.audio || !c.audio->exists) continue;
    long secs = c.duration ? std::lround(*c.duration) : -1;
    out += "#EXTINF:" + std::to_string(secs) + "," + one_line(who + take_title(s, c)) + "\n";
    out += one_line(c.audio->path) + "\n";
  }
  for (auto& f : s.earlier_takes) {  // --keep-attempts: after the current takes
    if (!f.exists) continue;
    out += "#EXTINF:-1," + one_line(who + s.title + " (earlier attempt)") + "\n";
    out += one_line(f.path) + "\n";
  }
}

std::string render_m3u8(const ReportData& d) {
  std::string s;
  TextEmit emit([&s](std::string_view p) { s += p; });
  {
    TextOut out(emit);
    m3u8_begin(d, out);
    for (auto& song : d.songs) m3u8_song(d, song, out);
  }
  return s;
}

}  // namespace setlist::report
