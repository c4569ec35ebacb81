// Output: file names from the naming template, safe file names, atomic
// publication, tags. Never touches the network.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "setlist/result.hpp"

namespace setlist {

struct Manifest;
struct Song;

struct NameFields {
  std::string album;
  std::string artist;
  std::string title;
  std::string song_id;
  std::string clip_id;
  int track = 0;
  int take = 0;  // 0 -> "A", 1 -> "B"
};

// Renders a template such as "{track:02} - {title} ({take}).mp3". Every
// placeholder value is made safe (no separators), so only '/' written in the
// template itself makes folders; ".." components are refused. Returns a
// relative path or an error message.
Result<std::filesystem::path> render_name(std::string_view tmpl, const NameFields& f);

// Checks a template once, up front (unknown placeholder, absolute path, ..).
std::optional<std::string> check_template(std::string_view tmpl);

// One safe path component: separators, control characters and characters
// that trouble other systems replaced by '_', reserved names (".", "..",
// CON, NUL ...) prefixed, trimmed to 255 bytes at a UTF-8 boundary.
std::string safe_component(std::string_view s);

// A name not yet in `used` (adds " (2)", " (3)" ... before the extension);
// inserts the result into `used`.
std::filesystem::path unique_path(const std::filesystem::path& rel, std::set<std::string>& used);

// Fsyncs `tmp`, renames it to `final` and fsyncs the folder, so after a
// crash or a power cut the file is whole under its final name, or absent.
Status publish(const std::filesystem::path& tmp, const std::filesystem::path& final);
// Writes `data` to a temporary file beside `path`, fsyncs and publishes it.
Status write_file_atomic(const std::filesystem::path& path, std::string_view data);
// The same for text produced piece by piece: `produce` calls its argument
// with each piece, so a large file never has to be whole in memory.
using TextEmit = std::function<void(std::string_view)>;
Status write_file_atomic(const std::filesystem::path& path, const std::function<void(const TextEmit&)>& produce);
// Size and SHA-256 of a file on disk.
Result<std::pair<std::uint64_t, std::string>> file_digest(const std::filesystem::path& path);

// ID3v2.4 tags written into one take. No TagLib types here.
struct TagInfo {
  std::string title;  // with the take, e.g. "Neon Rain (A)"
  std::string artist;
  std::string album;
  int track = 0;
  int track_total = 0;
  std::optional<int> year;
  std::string genre;
  std::string lyrics;      // USLT; none when empty
  std::string cover_jpeg;  // APIC front cover bytes; none when empty
  std::string clip_id;     // TXXX SETLIST_CLIP_ID
  std::string song_key;    // TXXX SETLIST_SONG_KEY
};

// Replaces every tag of `mp3` with one ID3v2.4 tag holding `info` (ID3v1
// and APE tags are stripped). The file is rewritten in place: call it on a
// temporary file before publishing.
Status write_tags(const std::filesystem::path& mp3, const TagInfo& info);

// What a song's files are called and hold, beyond the naming template.
// The ID3 tag of take `take` (0 = A) of `song`.
TagInfo tag_info_for(const Manifest& m, const Song& song, const std::string& song_key, const std::string& clip_id,
                     int take);
// The lyrics beside the takes: "01 - Title (A).mp3" -> "01 - Title.txt".
std::filesystem::path lyrics_path_for(const std::filesystem::path& first_take);
// A take's letter: A, B, ... Z, then AA, AB ...
std::string take_label(int take);
// The whole of a small local file; empty when missing, not a regular file or
// larger than `limit`.
std::string read_small_file(const std::filesystem::path& p, std::uintmax_t limit = 16u << 20);

}  // namespace setlist
