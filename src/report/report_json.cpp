// report.json and write_reports, which writes every album output from state.
// Field reference: docs/report.md.
#include <boost/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <functional>

#include "report/model.hpp"
#include "setlist/engine.hpp"
#include "setlist/manifest.hpp"
#include "setlist/output.hpp"
#include "setlist/report.hpp"
#include "setlist/shard.hpp"
#include "setlist/state.hpp"

namespace setlist {

namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

json::value time_or_null(std::int64_t unix_ms) {
  if (unix_ms <= 0) return nullptr;
  return json::string(report::iso_time(unix_ms));
}

json::object run_object(const RunSummary& r) {
  json::object o;
  o["started_at"] = time_or_null(r.started_at);
  o["ended_at"] = time_or_null(r.ended_at);
  o["duration_s"] = r.ended_at > r.started_at ? static_cast<double>(r.ended_at - r.started_at) / 1000.0 : 0.0;
  o["interrupted"] = r.interrupted;
  o["aborted"] = r.aborted;
  o["abort_reason"] = r.abort_reason;
  o["tokens_charged"] = r.tokens_charged;
  o["tokens_charged_to_date"] = r.tokens_charged_to_date;
  json::object req;
  for (auto& [k, v] : r.requests) req[k] = v;
  o["requests"] = std::move(req);
  o["retries"] = r.retries;
  o["throttled"] = r.throttled;
  // The key pool (#18): each key under its fingerprint, never the key.
  json::array keys;
  for (auto& k : r.keys) {
    json::object ko;
    ko["fingerprint"] = k.fingerprint;
    ko["generate_requests"] = k.generate;
    ko["poll_requests"] = k.poll;
    ko["throttled"] = k.throttled;
    ko["tokens_charged"] = k.tokens;
    ko["retired"] = k.retired.empty() ? json::value(nullptr) : json::value(k.retired);
    keys.push_back(std::move(ko));
  }
  o["keys"] = std::move(keys);
  json::object counts;
  counts["songs"] = r.songs;
  counts["complete"] = r.complete;
  counts["failed"] = r.failed;
  counts["skipped"] = r.skipped;
  counts["uncertain"] = r.uncertain;
  counts["pending"] = r.pending;
  counts["not_selected"] = r.not_selected;
  o["counts"] = std::move(counts);
  return o;
}

json::value file_or_null(const std::optional<report::FileInfo>& f, bool with_source) {
  if (!f) return nullptr;
  json::object o;
  o["path"] = f->path;
  o["bytes"] = f->bytes;
  o["sha256"] = f->sha256;
  if (with_source) o["source_sha256"] = f->source_sha256;
  o["exists"] = f->exists;
  return o;
}

std::string read_bytes(const fs::path& p) {
  std::error_code ec;
  if (!fs::is_regular_file(fs::symlink_status(p, ec))) return {};
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// OUT/cover.jpg: the manifest's album.cover, else the first song's cover.
// Rewritten only when its content would change. The cover's path kept in
// state (album.cover_source) is never opened: without a manifest, the copy
// an earlier run made in OUT stays as it is.
Status write_album_cover(const fs::path& out_dir, report::ReportData& d, StateStore& state,
                         const std::vector<std::string>& keys) {
  std::string bytes = d.cover_data;
  if (bytes.empty() && !d.album.cover_source.empty()) {
    for (const char* name : {"cover.jpg", "cover.png"}) {
      std::error_code ec;
      if (fs::is_regular_file(fs::symlink_status(out_dir / name, ec))) {
        d.cover = name;
        return Ok{};
      }
    }
  }
  // The first song's cover that is on disk (usually the first song's take A).
  report::SongCursor cursor(out_dir, state, keys, true);
  std::vector<report::SongInfo> group;
  while (bytes.empty() && cursor.next(8, group))
    for (std::size_t i = 0; bytes.empty() && i < group.size(); ++i)
      for (auto& c : group[i].clips)
        if (c.cover && c.cover->exists) {
          bytes = read_out_file(out_dir, c.cover->path);  // a row checked by the cursor, read without links
          if (!bytes.empty()) break;
        }
  // The API's covers are JPEG; a manifest's album.cover may be a PNG.
  std::string name = bytes.compare(0, 4, "\x89PNG") == 0 ? "cover.png" : "cover.jpg";
  auto dest = out_dir / name;
  if (bytes.empty()) {
    std::error_code ec;
    if (fs::is_regular_file(dest, ec)) d.cover = name;  // from an earlier run
    return Ok{};
  }
  if (read_bytes(dest) != bytes) {
    auto st = write_file_atomic(dest, bytes);
    if (!st) return st;
  }
  d.cover = name;
  return Ok{};
}

}  // namespace

std::string run_summary_json(const RunSummary& run) { return json::serialize(run_object(run)); }

namespace report {

void json_begin(const ReportData& d, const Tally& t, TextOut& out) {
  json::object root;
  root["schema_version"] = report_schema_version;
  root["generator"] = "setlist";
  root["generated_at"] = time_or_null(d.generated_at);
  json::object album;
  album["title"] = d.album.title;
  album["artist"] = d.album.artist;
  if (d.album.year)
    album["year"] = *d.album.year;
  else
    album["year"] = nullptr;
  album["genre"] = d.album.genre;
  album["cover"] = d.cover.empty() ? json::value(nullptr) : json::value(d.cover);
  album["playlist"] = d.playlist.empty() ? json::value(nullptr) : json::value(d.playlist);
  root["album"] = std::move(album);
  root["run"] = d.run.empty() ? json::value(nullptr) : json::value(d.run);
  if (auto s = shard_from_label(d.shard)) {
    json::object shard;
    shard["index"] = s->index;
    shard["count"] = s->count;
    root["shard"] = std::move(shard);
  } else {
    root["shard"] = nullptr;
  }
  root["manifest_hash"] = d.manifest_hash.empty() ? json::value(nullptr) : json::value(d.manifest_hash);
  if (!d.damaged.empty()) {
    json::array damaged;
    for (auto& m : d.damaged) damaged.push_back(json::string(m));
    root["damaged_state"] = std::move(damaged);
  }

  json::object totals;
  totals["songs"] = t.songs;
  for (const char* s : {"complete", "failed", "uncertain", "skipped", "pending", "submitting", "submitted"})
    totals[s] = 0;
  for (auto& [k, v] : d.totals) totals[k] = v;
  totals["takes_downloaded"] = t.takes_downloaded;
  root["totals"] = std::move(totals);
  root["loudness"] = album_loudness_json(d, t);
  // #20: where report.html's songs are: null when on report.html itself.
  if (t.songs > kPageSongs) {
    json::object pages;
    pages["folder"] = kPagesDir;
    pages["songs_per_page"] = kPageSongs;
    pages["count"] = (t.songs + kPageSongs - 1) / kPageSongs;
    root["html_pages"] = std::move(pages);
  } else {
    root["html_pages"] = nullptr;
  }

  // The songs last and one at a time: a DOM of the whole document would
  // take several times the file's size in memory at 10,000 songs.
  root["songs"] = json::array();
  std::string head = json::serialize(root);
  head.resize(head.size() - 2);  // "...,\"songs\":[" : drop the closing "]}"
  out += head;
}

void json_song(const SongInfo& s, bool first, TextOut& out) {
  json::object so;
  so["key"] = s.key;
  so["id"] = s.id;
  so["track"] = s.track;
  so["title"] = s.title;
  so["status"] = s.status;
  so["reason"] = s.reason;
  so["attempts"] = s.attempts;
  json::object t;
  t["created_at"] = time_or_null(s.created_at);
  t["submitted_at"] = time_or_null(s.submitted_at);
  t["completed_at"] = time_or_null(s.completed_at);
  t["updated_at"] = time_or_null(s.updated_at);
  if (s.submitted_at > 0 && s.completed_at >= s.submitted_at)
    t["generation_s"] = static_cast<double>(s.completed_at - s.submitted_at) / 1000.0;
  else
    t["generation_s"] = nullptr;
  so["timings"] = std::move(t);
  so["lyrics"] = file_or_null(s.lyrics, false);
  const bool api_lyrics =
      std::any_of(s.clips.begin(), s.clips.end(), [](const report::ClipInfo& c) { return c.lyrics.has_value(); });
  so["lyrics_source"] = s.lyrics ? json::value("manifest") : api_lyrics ? json::value("api") : json::value(nullptr);
  json::array clips;
  for (auto& c : s.clips) {
    json::object co;
    co["id"] = c.id;
    co["take"] = take_letter(c.take);
    co["status"] = c.status;
    if (c.duration)
      co["duration"] = *c.duration;
    else
      co["duration"] = nullptr;
    if (c.credits_used)
      co["credits_used"] = *c.credits_used;
    else
      co["credits_used"] = nullptr;
    co["error_message"] = c.error_message;
    co["audio"] = file_or_null(c.audio, true);
    co["cover"] = file_or_null(c.cover, false);
    co["clip_json"] = c.clip_json ? json::value(c.clip_json->path) : json::value(nullptr);
    co["lyrics"] = file_or_null(c.lyrics, false);
    co["analysis"] = analysis_json(c);
    co["flags"] = flags_json(c);
    clips.push_back(std::move(co));
  }
  so["clips"] = std::move(clips);
  json::array earlier;
  for (auto& f : s.earlier_takes) earlier.push_back(file_or_null(f, true));
  so["earlier_takes"] = std::move(earlier);
  json::array superseded;
  for (auto& f : s.superseded_takes) superseded.push_back(json::object{{"path", f.path}, {"bytes", f.bytes}});
  so["superseded_takes"] = std::move(superseded);
  if (!first) out += ',';
  out += json::serialize(so);
}

void json_end(TextOut& out) { out += "]}\n"; }

std::string render_json(const ReportData& d) {
  return render_to_string(d, static_cast<void (*)(const ReportData&, const TextEmit&)>(&render_json));
}

void render_json(const ReportData& d, const TextEmit& emit) {
  TextOut out(emit);
  json_begin(d, tally_of(d.songs), out);
  bool first = true;
  for (auto& s : d.songs) {
    json_song(s, first, out);
    first = false;
  }
  json_end(out);
}

}  // namespace report

namespace {

// Several files written at once, each atomically: `produce` gets one output
// per path. They are published innermost first (the last path first), each
// whole or not at all; the first failure is returned.
Status write_files_atomic(const std::vector<fs::path>& paths,
                          const std::function<void(std::vector<report::TextOut*>&)>& produce) {
  std::vector<report::TextOut*> outs;
  std::optional<Error> first_error;
  std::function<void(std::size_t)> level = [&](std::size_t i) {
    if (i == paths.size()) {
      produce(outs);
      for (auto* o : outs) o->flush();
      return;
    }
    bool entered = false;
    auto st = write_file_atomic(paths[i], [&](const TextEmit& emit) {
      entered = true;
      report::TextOut out(emit);
      outs.push_back(&out);
      level(i + 1);
      outs.pop_back();
    });
    if (!st && !first_error) first_error = st.error();
    if (!entered) {  // refused before it began (a link at its name): the others are still written
      const TextEmit discard([](std::string_view) {});
      report::TextOut out(discard);
      outs.push_back(&out);
      level(i + 1);
      outs.pop_back();
    }
  };
  level(0);
  if (first_error) return *first_error;
  return Ok{};
}

// OUT/report-pages/ as a real folder (never through a link); pages of a
// longer album removed. Ok(false) when OUT holds something else by that name.
Result<bool> pages_folder(const fs::path& out_dir, std::size_t pages) {
  const fs::path dir = out_dir / report::kPagesDir;
  std::error_code ec;
  auto st = fs::symlink_status(dir, ec);
  if (pages == 0 && !fs::exists(st)) return false;
  if (fs::exists(st) && !fs::is_directory(st)) {
    Error e;
    e.kind = ErrorKind::io;
    e.message = "refusing to write report pages into " + dir.string() + ": it is not a folder";
    return e;
  }
  if (!fs::exists(st) && !fs::create_directory(dir, ec)) {
    Error e;
    e.kind = ErrorKind::io;
    e.message = "cannot create " + dir.string() + ": " + ec.message();
    return e;
  }
  // Pages beyond the album's last one (it had more songs before): removed.
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    auto name = it->path().filename().string();
    unsigned n = 0;
    char tail[8] = {};
    if (std::sscanf(name.c_str(), "page-%u.%5s", &n, tail) == 2 && std::string(tail) == "html" &&
        name == report::page_name(n) && n > pages && it->is_regular_file(ec) && !it->is_symlink(ec))
      fs::remove(it->path(), ec);
  }
  return true;
}

// Every report, a group of songs at a time: the songs are read from state
// twice (once for the counts the files begin with, once for their details),
// and no more than one group's details is ever in memory.
Status write_all(const fs::path& out_dir, StateStore& state, const Manifest* manifest, const RunSummary* run,
                 std::vector<std::string>* damaged, std::string* markdown) {
  StateReadBatch batch(state);  // one read transaction for both passes
  report::Tally tally;
  std::vector<std::string> keys;
  auto d = report::gather_head(out_dir, state, manifest, run, tally, keys);
  if (damaged) *damaged = d.damaged;
  std::optional<Error> first_error;
  auto keep = [&](Status st) {
    if (!st && !first_error) first_error = st.error();
  };
  const bool paged = tally.songs > report::kPageSongs;
  const std::size_t pages = paged ? (tally.songs + report::kPageSongs - 1) / report::kPageSongs : 0;
  std::vector<fs::path> paths;
  bool pages_folder_ok = false;  // report-pages is a real folder of OUT (never a link: docs/security.md)
  const char* summary = std::getenv("GITHUB_STEP_SUMMARY");
  std::string md;
  const bool want_md = markdown || (summary && *summary);
  if (!markdown) {
    keep(write_album_cover(out_dir, d, state, keys));
    d.playlist = "album.m3u8";
    auto folder = pages_folder(out_dir, pages);
    if (!folder) keep(folder.error());
    pages_folder_ok = folder && *folder;
    paths = {out_dir / "report.json", out_dir / "report.html", out_dir / "junit.xml", out_dir / d.playlist};
  }
  TextEmit md_emit([&md](std::string_view p) { md += p; });
  report::TextOut md_out(md_emit);
  report::StepSummary step;
  keep(write_files_atomic(paths, [&](std::vector<report::TextOut*>& o) {
    const bool files = !paths.empty();
    if (files) {
      report::json_begin(d, tally, *o[0]);
      report::html_begin(d, tally, paged, *o[1]);
      report::junit_begin(d, tally, *o[2]);
      report::m3u8_begin(d, *o[3]);
    }
    if (want_md) step.begin(d, tally, md_out);
    report::SongCursor cursor(out_dir, state, keys, files);
    std::vector<report::SongInfo> group;
    bool first = true;
    std::size_t page = 0;
    while (cursor.next(report::kPageSongs, group)) {
      ++page;
      for (auto& s : group) {
        if (files) {
          report::json_song(s, first, *o[0]);
          if (paged)
            report::html_index_row(s, page, *o[1]);
          else
            report::html_song_card(s, "", *o[1]);
          report::junit_song(d, s, *o[2]);
          report::m3u8_song(d, s, *o[3]);
        }
        if (want_md) step.song(s, md_out);
        first = false;
      }
      if (files && paged && pages_folder_ok)
        keep(write_file_atomic(out_dir / report::kPagesDir / report::page_name(page),
                               report::page_html(d, group, page, pages)));
    }
    if (files) {
      report::json_end(*o[0]);
      report::html_end(d, paged, pages, *o[1]);
      report::junit_end(*o[2]);
    }
    if (want_md) step.end(d, md_out);
  }));
  md_out.flush();
  if (markdown) *markdown = std::move(md);
  // CI: GitHub Actions shows this Markdown on the run's page.
  if (!markdown && summary && *summary) {
    std::ofstream o(summary, std::ios::app | std::ios::binary);
    o << md;
    if (!o) {
      Error e;
      e.kind = ErrorKind::io;
      e.message = std::string("cannot append to GITHUB_STEP_SUMMARY file ") + summary;
      keep(e);
    }
  }
  if (first_error) return *first_error;
  return Ok{};
}

}  // namespace

std::string markdown_summary(const fs::path& out_dir, StateStore& state, std::vector<std::string>* damaged) {
  std::string md;
  (void)write_all(out_dir, state, nullptr, nullptr, damaged, &md);
  return md;
}

Status write_reports(const fs::path& out_dir, StateStore& state, const Manifest* manifest, const RunSummary* run,
                     std::vector<std::string>* damaged) {
  auto st = write_all(out_dir, state, manifest, run, damaged, nullptr);
  // The reports' folder fsyncs now, while the run still handles signals:
  // not at exit, where a Ctrl-C would find no handler.
  sync_published_folders();
  return st;
}

}  // namespace setlist
