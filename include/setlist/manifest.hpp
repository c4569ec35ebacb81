// Manifest: YAML album description -> validated Manifest.
// Owns parsing and validation; never touches the network or writes files.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace setlist {

// 1-based line and column in the manifest file (0 when unknown).
struct SourcePos {
  int line = 0;
  int column = 0;
};

struct Diagnostic {
  enum class Severity { error, warning };
  Severity severity = Severity::error;
  std::string file;     // as given by the user
  SourcePos pos;
  std::string path;     // key path, e.g. "songs[3].lyrics_file"
  std::string message;  // what is wrong
  std::string hint;     // how to fix it (may be empty)

  // "album.yaml:12:5: error: songs[3].lyrics_file: file not found (hint: ...)"
  std::string format() const;
};

struct Album {
  std::string title;
  std::string artist;
  std::optional<int> year;
  std::string genre;
  std::filesystem::path cover;  // absolute once loaded; empty when not given
  // The cover's bytes, read once when the manifest is loaded (inside its
  // folder or an --allow-path folder, at most kMaxCoverBytes): nothing reads
  // `cover` again, so a file swapped in later is never used.
  std::string cover_data;
  std::string description;
};

struct Song {
  std::string id;  // stable slug; derived from the title when not given
  std::string title;
  // Exactly one of lyrics / description is set after loading; lyrics_file
  // is read into `lyrics` and remembered in `lyrics_file`.
  std::optional<std::string> lyrics;
  std::optional<std::string> description;
  std::filesystem::path lyrics_file;
  std::string tags;           // a list in YAML is joined with ", "
  std::string negative_tags;  // used by flavors that support it
  bool make_instrumental = false;
  // Takes (clips) wanted; 0: not given, one generate request. Never part of
  // the payload: Provider::requests_for(song) says how many requests to send.
  int takes = 0;
  std::optional<std::chrono::milliseconds> length;  // models with a length field
  std::optional<long long> seed;                    // models with a seed (>= 0)
  std::string model;          // empty: the provider's default
  bool wait_audio = false;
  int track = 0;              // 1-based; defaults to position
  SourcePos pos;              // where the song's mapping starts
};

// A setting given in the manifest's `settings:` mapping, as text, with
// where it was written, so config layering can say where a value came from.
struct SettingValue {
  std::string value;
  SourcePos pos;
};

struct Manifest {
  std::filesystem::path path;  // the file loaded
  std::string source_sha256;   // of the file's bytes as loaded (load_manifest); empty when parsed from text
  Album album;
  std::vector<Song> songs;
  std::map<std::string, SettingValue> settings;
};

// Hands each song to `each`, in manifest order; the song lives during the call only.
using SongVisitor = std::function<void(const Song&)>;

// The songs of a manifest loaded without LoadOptions::keep_songs, read again
// one at a time from the text that was validated (the file is not read
// again; a lyrics_file is): each song exactly as Manifest::songs would hold
// it, id included. Memory stays that of the load, however many songs. Gives
// the first error met when the second read differs from the first (a
// lyrics_file changed meanwhile); the songs before it were handed out.
using SongReplay = std::function<std::optional<Diagnostic>(const SongVisitor& each)>;

struct LoadResult {
  std::optional<Manifest> manifest;  // set when there is no error
  std::vector<Diagnostic> diagnostics;
  // Set when there is no error and the songs were not kept (keep_songs false).
  SongReplay songs;

  bool ok() const { return manifest.has_value(); }
  std::size_t error_count() const;
  std::size_t warning_count() const;
};

// What the run will use besides the manifest, so validation checks the
// songs against the provider and model that will really be used. The CLI
// fills it from --provider/--model and SETLIST_PROVIDER/SETLIST_MODEL
// (effective_load_options() in settings.hpp); empty: the manifest's own
// `settings:` (else the built-in provider and its default model). A value
// that is not a known provider is ignored here (settings report it).
struct LoadOptions {
  // Folders besides the manifest's own that the files it names (lyrics_file,
  // album.cover) may be in (--allow-path DIR, repeatable).
  std::vector<std::filesystem::path> allow_paths;
  std::string provider;
  std::string provider_origin;  // "--provider", "SETLIST_PROVIDER": named in messages
  std::string model;
  std::string model_origin;
  // False: every song is checked, but Manifest::songs keeps only the first
  // song of each model (what settings layering looks at), for `validate`
  // and `plan`, whose memory then stays flat however many songs there are;
  // LoadResult::songs reads them all again, one at a time.
  bool keep_songs = true;
};

// The largest files a manifest may name (docs/manifest.md).
inline constexpr std::uintmax_t kMaxLyricsFileBytes = 64u << 10;
inline constexpr std::uintmax_t kMaxCoverBytes = 10u << 20;

// Loads and validates a manifest file; reports every problem in one pass.
LoadResult load_manifest(const std::filesystem::path& file);
LoadResult load_manifest(const std::filesystem::path& file, const LoadOptions& options);

// Same for text already in memory; `file_name` is used in diagnostics and
// `base_dir` resolves relative paths (lyrics_file, album.cover).
LoadResult parse_manifest(const std::string& text, const std::string& file_name,
                          const std::filesystem::path& base_dir);
LoadResult parse_manifest(const std::string& text, const std::string& file_name,
                          const std::filesystem::path& base_dir, const LoadOptions& options);

}  // namespace setlist
