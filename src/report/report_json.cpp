#include <boost/json.hpp>

#include <ctime>

#include "setlist/engine.hpp"
#include "setlist/manifest.hpp"
#include "setlist/output.hpp"
#include "setlist/report.hpp"
#include "setlist/state.hpp"

namespace setlist {

namespace json = boost::json;

namespace {

std::string iso_time(std::int64_t unix_ms) {
  if (unix_ms <= 0) return {};
  std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

json::value time_or_null(std::int64_t unix_ms) {
  if (unix_ms <= 0) return nullptr;
  return json::string(iso_time(unix_ms));
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
  json::object req;
  for (auto& [k, v] : r.requests) req[k] = v;
  o["requests"] = std::move(req);
  o["retries"] = r.retries;
  o["throttled"] = r.throttled;
  json::object counts;
  counts["songs"] = r.songs;
  counts["complete"] = r.complete;
  counts["failed"] = r.failed;
  counts["skipped"] = r.skipped;
  counts["uncertain"] = r.uncertain;
  counts["pending"] = r.pending;
  o["counts"] = std::move(counts);
  return o;
}

}  // namespace

std::string run_summary_json(const RunSummary& run) { return json::serialize(run_object(run)); }

Status write_reports(const std::filesystem::path& out_dir, StateStore& state, const Manifest* manifest,
                     const RunSummary* run) {
  json::object root;
  root["schema_version"] = report_schema_version;
  root["generator"] = "setlist";
  json::object album;
  if (manifest) {
    album["title"] = manifest->album.title;
    album["artist"] = manifest->album.artist;
  }
  root["album"] = std::move(album);

  if (run) {
    root["run"] = run_object(*run);
    state.set_meta("last_run", run_summary_json(*run));
  } else if (auto last = state.meta("last_run")) {
    json::error_code ec;
    auto v = json::parse(*last, ec);
    root["run"] = ec ? json::value(nullptr) : v;
  }

  // Songs in manifest order: the keys recorded by the last run.
  std::vector<std::string> keys;
  if (auto k = state.meta("manifest_keys")) {
    json::error_code ec;
    auto v = json::parse(*k, ec);
    if (!ec && v.is_array())
      for (auto& e : v.get_array())
        if (e.is_string()) keys.emplace_back(e.get_string());
  }
  json::array songs;
  for (auto& key : keys) {
    auto row = state.song(key);
    if (!row) continue;
    json::object s;
    s["key"] = row->key;
    s["id"] = row->song_id;
    s["track"] = row->track;
    s["title"] = row->title;
    s["status"] = row->status;
    s["reason"] = row->reason;
    s["attempts"] = row->attempts;
    s["submitted_at"] = time_or_null(row->submitted_at);
    s["completed_at"] = time_or_null(row->completed_at);
    auto files = state.files(key);
    json::array clips;
    auto all = state.clips(key);
    std::int64_t latest = 0;
    for (auto& c : all) latest = std::max(latest, c.submission_id);
    for (auto& c : all) {
      if (c.submission_id != latest) continue;  // earlier attempts' clips are history
      json::object co;
      co["id"] = c.clip_id;
      co["take"] = std::string(1, static_cast<char>('A' + c.take));
      co["status"] = c.status;
      if (c.duration)
        co["duration"] = *c.duration;
      else
        co["duration"] = nullptr;
      co["error_message"] = c.error_message;
      co["audio"] = nullptr;
      co["cover"] = nullptr;
      for (auto& f : files) {
        if (f.clip_id != c.clip_id) continue;
        json::object fo;
        fo["path"] = f.path;
        fo["bytes"] = f.bytes;
        fo["sha256"] = f.sha256;
        if (f.kind == "audio") {
          fo["source_sha256"] = f.source_sha256;
          co["audio"] = std::move(fo);
        } else if (f.kind == "cover") {
          co["cover"] = std::move(fo);
        }
      }
      clips.push_back(std::move(co));
    }
    s["clips"] = std::move(clips);
    songs.push_back(std::move(s));
  }
  root["songs"] = std::move(songs);
  return write_file_atomic(out_dir / "report.json", json::serialize(root) + "\n");
}

}  // namespace setlist
