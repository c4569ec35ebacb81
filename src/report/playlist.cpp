// album.m3u8: every downloaded take in album order, paths relative to OUT.
#include <cmath>

#include "report/model.hpp"

namespace setlist::report {

std::string render_m3u8(const ReportData& d) {
  std::string out = "#EXTM3U\n";
  // Lines of an M3U file: a value must not break out of its line.
  auto one_line = [](std::string s) {
    for (auto& c : s)
      if (c == '\n' || c == '\r') c = ' ';
    return valid_utf8(s);
  };
  if (!d.album.title.empty()) out += "#PLAYLIST:" + one_line(d.album.title) + "\n";
  for (auto& s : d.songs)
    for (auto& c : s.clips) {
      if (!c.audio || !c.audio->exists) continue;
      long secs = c.duration ? std::lround(*c.duration) : -1;
      std::string who = d.album.artist.empty() ? std::string() : d.album.artist + " - ";
      out += "#EXTINF:" + std::to_string(secs) + "," + one_line(who + take_title(s, c)) + "\n";
      out += one_line(c.audio->path) + "\n";
    }
  return out;
}

}  // namespace setlist::report
