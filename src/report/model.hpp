// What every report shows, gathered once from state (and the manifest when
// there is one). Private to src/report and its tests.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "setlist/analysis.hpp"
#include "setlist/output.hpp"

namespace setlist {

struct Manifest;
struct RunSummary;
class StateStore;

namespace report {

// A number with `digits` decimals ("%.*f").
inline std::string num(double v, int digits = 1) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

struct FileInfo {
  std::string path;  // relative to OUT, '/'-separated
  std::uint64_t bytes = 0;
  std::string sha256;
  std::string source_sha256;
  bool exists = false;  // on disk now
};

struct ClipInfo {
  std::string id;
  int take = 0;  // 0 = A
  std::string status;
  std::optional<double> duration;  // seconds
  std::optional<long long> credits_used;
  std::string error_message;
  std::optional<FileInfo> audio;
  std::optional<FileInfo> cover;
  std::optional<FileInfo> clip_json;
  std::optional<FileInfo> lyrics;  // the words the API wrote for this take (description mode)
  std::string lyrics_text;
  std::optional<AudioAnalysis> analysis;  // #19: when the take was decoded and measured
  std::vector<std::string> flags;         // silent, clipped, short
};

struct SongInfo {
  std::string key;
  std::string id;
  std::string title;
  int track = 0;
  std::string status;
  std::string reason;
  int attempts = 0;
  std::int64_t created_at = 0;  // unix ms, 0 when unknown
  std::int64_t submitted_at = 0;
  std::int64_t completed_at = 0;
  std::int64_t updated_at = 0;
  std::optional<FileInfo> lyrics;  // the manifest's lyrics (per take ones: ClipInfo::lyrics)
  std::string lyrics_text;  // read from the lyrics file
  std::vector<ClipInfo> clips;  // the latest submission's clips, by take
  // Audio of earlier attempts still in the album folder (--keep-attempts).
  std::vector<FileInfo> earlier_takes;
  // Audio of earlier attempts and edited versions moved aside, found on disk
  // under .setlist/superseded/<key>/ (this key's and its song id's old keys).
  std::vector<FileInfo> superseded_takes;
};

// #19: one run on the run timeline (timeline.cpp), from state's timeline rows.
struct TimelineSpan {
  std::string phase;  // submit, generate, download, tag
  std::int64_t from = 0, to = 0;  // unix ms
};
struct TimelineMark {
  std::string kind;  // 429, retry
  std::int64_t at = 0, ms = 0;  // ms: the wait that followed
  std::string detail;
};
struct TimelineSong {
  std::string key;
  int track = 0;
  std::string title;
  std::string end;  // done, failed, or "" (still running when the run ended)
  std::vector<TimelineSpan> spans;
  std::vector<TimelineMark> marks;
};
struct TimelineRun {
  std::int64_t start_id = 0;        // the run's id in state (its start as it recorded it)
  std::int64_t start = 0, end = 0;  // unix ms
  int submits = 0, accepted = 0, throttled = 0, retries = 0;
  std::optional<double> rate;  // accepted generate requests per second, first send to last acceptance
  std::vector<TimelineSong> songs;   // manifest order
  std::vector<TimelineMark> marks;   // the run's own (the batch poller's 429s)
};

struct AlbumInfo {
  std::string title;
  std::string artist;
  std::optional<int> year;
  std::string genre;
  std::string description;
  std::string cover_source;  // the manifest's album.cover, absolute; may be empty. Never opened:
                             // it comes from state when there is no manifest (docs/security.md)
};

struct ReportData {
  AlbumInfo album;
  boost::json::object run;  // run_summary_json of this run or the last one; empty when none
  std::vector<SongInfo> songs;  // manifest order
  std::map<std::string, int> totals;  // songs by status
  std::string cover_data;  // the manifest's cover bytes (read when it was loaded); empty without a manifest
  std::vector<std::string> damaged;  // state rows refused (damaged_state_message), each once
  std::string cover;     // "cover.jpg" once written, else empty
  std::string playlist;  // "album.m3u8"
  // #19: over every song's first take (A) that was analysed; see docs/report.md.
  AlbumLoudness album_loudness;
  std::vector<TimelineRun> timeline;  // #19: every run that recorded one, oldest first
  std::int64_t generated_at = 0;
  // #18: the share of the album OUT holds (state meta `shard`, "I/N"; empty
  // for a whole album) and the album's identity (meta `manifest_hash`).
  std::string shard;
  std::string manifest_hash;
};

// What the album-wide parts of the reports need from every song (counts,
// the loudness chart), summed a song at a time: never every song at once.
struct ChartBar {
  int track = 0;
  std::optional<double> lufs;  // none: silent
  bool flagged = false;
};
struct Tally {
  std::size_t songs = 0;
  std::uint64_t takes_downloaded = 0;  // audio on disk
  std::uint64_t takes_flagged = 0;     // on disk and flagged
  double song_seconds = 0;             // generation times summed (junit's time without a run)
  int failures = 0, skipped = 0;       // junit: not complete (and not skipped), skipped
  std::vector<ChartBar> chart;         // each song's first take, when analysed
  void add(const SongInfo& s);
};
Tally tally_of(const std::vector<SongInfo>& songs);

// #20: report.html of a large album is paged. Up to kPageSongs songs it is
// one page as it always was; beyond, report.html holds the album (header,
// loudness chart, an index of every song, the run timelines' summaries)
// and report-pages/page-NNN.html the songs, kPageSongs per page, with their
// players, waveforms and lyrics.
inline constexpr std::size_t kPageSongs = 100;
inline constexpr const char* kPagesDir = "report-pages";
std::string page_name(std::size_t page);  // "page-001.html" (1-based)

// Gathers the album-wide data; remembers the album (from `manifest`) in state
// so that `setlist report` can rebuild without the manifest. Reads every song
// once, a group at a time, keeping only their tally (d.songs stays empty; the
// songs come from a SongCursor). `keys` receives the songs' keys in album order.
ReportData gather_head(const std::filesystem::path& out_dir, StateStore& state, const Manifest* manifest,
                       const RunSummary* run, Tally& tally, std::vector<std::string>& keys);

// The songs of `keys` read from state a group at a time, in order.
class SongCursor {
 public:
  // `details`: waveforms, lyrics text, covers' and earlier takes' files;
  // without them only what the tally needs (audio files, analyses, blocks).
  SongCursor(const std::filesystem::path& out_dir, StateStore& state, const std::vector<std::string>& keys,
             bool details);
  // The next `n` songs (fewer at the end); false when none is left.
  bool next(std::size_t n, std::vector<SongInfo>& out);
  // State rows refused (damaged_state_message), each once, of the songs read so far.
  std::vector<std::string> damaged;

 private:
  const std::filesystem::path& out_dir_;
  StateStore& state_;
  const std::vector<std::string>& keys_;
  bool details_;
  std::size_t at_ = 0;
  std::map<std::string, std::vector<std::string>> old_keys_;  // song id -> keys of superseded versions
};

// Renderers: pure functions of the data. The large ones write through
// `emit` piece by piece (a 10,000-song report is never whole in memory); the
// string forms collect the pieces.
void render_json(const ReportData& d, const TextEmit& emit);
void render_html(const ReportData& d, const TextEmit& emit);
std::string render_json(const ReportData& d);
std::string render_html(const ReportData& d);
std::string render_junit(const ReportData& d);
std::string render_m3u8(const ReportData& d);
std::string render_step_summary(const ReportData& d);

// Collects appended text and hands it to `emit` in pieces of about 64 KiB.
class TextOut {
 public:
  explicit TextOut(const TextEmit& emit) : emit_(emit) {}
  ~TextOut() { flush(); }
  TextOut(const TextOut&) = delete;
  TextOut& operator=(const TextOut&) = delete;
  TextOut& operator+=(std::string_view s) {
    buf_ += s;
    if (buf_.size() >= (64u << 10)) flush();
    return *this;
  }
  TextOut& operator+=(char c) { return *this += std::string_view(&c, 1); }
  void flush() {
    if (!buf_.empty()) emit_(buf_);
    buf_.clear();
  }

 private:
  const TextEmit& emit_;
  std::string buf_;
};

// The streaming pieces: begin once, then each song in album order, then end.
// `t` is the tally of every song (tally_of(d.songs) for a whole ReportData).
void json_begin(const ReportData& d, const Tally& t, TextOut& out);
void json_song(const SongInfo& s, bool first, TextOut& out);
void json_end(TextOut& out);
void junit_begin(const ReportData& d, const Tally& t, TextOut& out);
void junit_song(const ReportData& d, const SongInfo& s, TextOut& out);
void junit_end(TextOut& out);
void m3u8_begin(const ReportData& d, TextOut& out);
void m3u8_song(const ReportData& d, const SongInfo& s, TextOut& out);
class StepSummary {
 public:
  void begin(const ReportData& d, const Tally& t, TextOut& out);
  void song(const SongInfo& s, TextOut& out);
  void end(const ReportData& d, TextOut& out);

 private:
  std::string failures_, flagged_;
};
// report.html: `paged` (more than kPageSongs songs) or one page. One page:
// begin, song_card per song, end. Paged: begin, index_row per song, end; and
// each page from page_html.
void html_begin(const ReportData& d, const Tally& t, bool paged, TextOut& out);
void html_song_card(const SongInfo& s, std::string_view prefix, TextOut& out);
void html_end(const ReportData& d, bool paged, std::size_t pages, TextOut& out);
void html_index_row(const SongInfo& s, std::size_t page, TextOut& out);
// Page `page` (1-based) of `pages`: its songs' cards and their rows of each run's timeline.
std::string page_html(const ReportData& d, const std::vector<SongInfo>& songs, std::size_t page, std::size_t pages);

// The whole output of a streaming renderer as one string.
template <class Render>
std::string render_to_string(const ReportData& d, Render render) {
  std::string out;
  render(d, TextEmit([&out](std::string_view s) { out += s; }));
  return out;
}

// #19, the sound of the album (sound.cpp): the analysis of a take as JSON
// (null when none), its flags, the album's loudness; report.html's pictures.
boost::json::value analysis_json(const ClipInfo& c);
boost::json::array flags_json(const ClipInfo& c);
boost::json::object album_loudness_json(const ReportData& d, const Tally& t);
std::string waveform_svg(const ClipInfo& c, std::string_view label);
std::string loudness_line(const ClipInfo& c);
std::string album_chart_svg(const ReportData& d, const Tally& t);
// #19, the run timeline (timeline.cpp): built from state's rows; one SVG per run.
struct SongRef {
  std::string key;
  int track = 0;
  std::string title;
};
std::vector<TimelineRun> gather_timeline(StateStore& state, const std::vector<SongRef>& songs);
// `only`: when given, the rows of these songs alone (a page's), on the run's whole time axis.
std::string timeline_svg(const TimelineRun& run, std::size_t index, const std::set<std::string>* only = nullptr);
// #20: a run of many songs on the paged report.html: how many songs were in
// each phase over time (the rows are on the pages).
std::string timeline_load_svg(const TimelineRun& run, std::size_t index);
std::string timeline_caption(const TimelineRun& run, std::size_t index);

// Escaping shared by the renderers. Invalid UTF-8 becomes U+FFFD.
std::string valid_utf8(std::string_view s);
std::string html_escape(std::string_view s);
std::string xml_escape(std::string_view s);  // also drops characters XML 1.0 forbids
std::string url_path_escape(std::string_view rel_path);  // for src/href: keeps '/', %-encodes the rest
std::string iso_time(std::int64_t unix_ms);
std::string take_letter(int take);
// "Title (A)"
std::string take_title(const SongInfo& s, const ClipInfo& c);

}  // namespace report
}  // namespace setlist
