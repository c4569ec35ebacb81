// Tags, lyrics file names and take letters of one song's files.
#include <fstream>
#include <iterator>

#include "setlist/manifest.hpp"
#include "setlist/output.hpp"

namespace setlist {

std::string take_label(int take) {
  std::string s;
  for (int n = take;; n = n / 26 - 1) {
    s.insert(s.begin(), static_cast<char>('A' + n % 26));
    if (n < 26) break;
  }
  return s;
}

TagInfo tag_info_for(const Manifest& m, const Song& song, const std::string& song_key,
                     const std::string& clip_id, int take) {
  TagInfo ti;
  ti.title = song.title + " (" + take_label(take) + ")";
  ti.artist = m.album.artist;
  ti.album = m.album.title;
  ti.track = song.track;
  ti.track_total = static_cast<int>(m.songs.size());
  for (auto& s : m.songs) ti.track_total = std::max(ti.track_total, s.track);
  ti.year = m.album.year;
  // An album genre is a deliberate choice; otherwise the song's first style tag.
  ti.genre = m.album.genre;
  if (ti.genre.empty()) {
    auto first = song.tags.substr(0, song.tags.find(','));
    auto b = first.find_first_not_of(" \t");
    auto e = first.find_last_not_of(" \t");
    if (b != std::string::npos) ti.genre = first.substr(b, e - b + 1);
  }
  if (song.lyrics) ti.lyrics = *song.lyrics;
  ti.clip_id = clip_id;
  ti.song_key = song_key;
  return ti;
}

std::filesystem::path lyrics_path_for(const std::filesystem::path& first_take) {
  auto p = first_take;
  auto stem = p.stem().string();
  if (stem.size() > 4 && stem.compare(stem.size() - 4, 4, " (A)") == 0)
    stem.resize(stem.size() - 4);
  p.replace_filename(stem + ".txt");
  return p;
}

std::string read_small_file(const std::filesystem::path& p, std::uintmax_t limit) {
  std::error_code ec;
  if (p.empty() || !std::filesystem::is_regular_file(p, ec) ||
      std::filesystem::file_size(p, ec) > limit || ec)
    return {};
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace setlist
