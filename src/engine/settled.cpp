// A finished album run again: see settled.hpp.
#include "engine/settled.hpp"

#include <sys/stat.h>

#include <boost/json.hpp>
#include <map>
#include <set>
#include <vector>

#include "common/hash.hpp"
#include "setlist/manifest.hpp"
#include "setlist/output.hpp"
#include "setlist/settings.hpp"
#include "setlist/state.hpp"

namespace setlist::engine {

namespace fs = std::filesystem;
namespace json = boost::json;

// With the album's cover the reports copy into OUT (a full run writes it again).
const char* const kSettledReports[] = {"report.html", "report.json", "junit.xml", "album.m3u8",
                                       "cover.jpg",   "cover.png",   nullptr};
const char* const kReportPages = "report-pages";

namespace {

constexpr const char* kMeta = "settled";

// Each part as name, length and bytes: no two different inputs hash alike.
void put(Sha256& h, std::string_view name, std::string_view value) {
  h.update(name);
  h.update(" " + std::to_string(value.size()) + "\n");
  h.update(value);
  h.update("\n");
}

struct Stat {
  std::int64_t bytes = -1, mtime_ns = 0;
  bool operator==(const Stat&) const = default;
};

Stat stat_of(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return {};
  return {static_cast<std::int64_t>(st.st_size),
          static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec};
}

// An absolute, normal form; the path as given when the working folder is gone.
std::string absolute_text(const fs::path& p) {
  std::error_code ec;
  auto a = fs::absolute(p, ec);
  return (ec ? p : a).lexically_normal().string();
}

}  // namespace

std::string settled_fingerprint(const Manifest& m, const RunOptions& o) {
  if (m.source_sha256.empty() || !o.regenerate.empty()) return {};
  Sha256 h;
  put(h, "format", "setlist settled 2");  // 2: no current take counts as found
  put(h, "program", o.program);
  put(h, "manifest", m.source_sha256);
  put(h, "manifest path", absolute_text(m.path));
  // What the manifest made setlist read besides itself.
  put(h, "cover", sha256_hex(m.album.cover_data));
  for (auto& s : m.songs)
    if (!s.lyrics_file.empty()) put(h, "lyrics " + s.id, s.lyrics.value_or(""));
  for (auto name : setting_names()) put(h, name, setting_value_text(o.settings, name));
  put(h, "out", absolute_text(o.out_dir));
  for (auto& id : o.only) put(h, "only", id);
  put(h, "shard", o.shard ? o.shard->label() : "");
  put(h, "keep_attempts", o.keep_attempts ? "1" : "0");
  put(h, "retry_failed", o.retry_failed ? "1" : "0");
  put(h, "resubmit_uncertain", o.resubmit_uncertain ? "1" : "0");
  put(h, "cost_per_request_given", o.cost_per_request_given ? "1" : "0");
  return h.hex_digest();
}

std::optional<RunSummary> settled_summary(StateStore& state, const fs::path& out_dir, const std::string& fingerprint) {
  if (fingerprint.empty()) return std::nullopt;
  auto text = state.meta(kMeta);
  if (!text || text->empty()) return std::nullopt;
  boost::system::error_code ec;
  auto v = json::parse(*text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  auto& o = v.as_object();
  auto str = [&](const char* k) -> std::string {
    auto* p = o.if_contains(k);
    return p && p->is_string() ? std::string(p->as_string()) : std::string();
  };
  auto num = [&](const char* k) -> std::int64_t {
    auto* p = o.if_contains(k);
    return p && p->is_int64() ? p->as_int64() : -1;
  };
  if (str("fingerprint") != fingerprint) return std::nullopt;
  if (num("changes") < 0 || num("changes") != state.changes()) return std::nullopt;
  auto* reports = o.if_contains("reports");
  if (!reports || !reports->is_array() || reports->as_array().empty()) return std::nullopt;
  for (auto& r : reports->as_array()) {
    if (!r.is_object()) return std::nullopt;
    auto& ro = r.as_object();
    auto* path = ro.if_contains("path");
    auto* bytes = ro.if_contains("bytes");
    auto* mtime = ro.if_contains("mtime_ns");
    if (!path || !path->is_string() || !bytes || !bytes->is_int64() || !mtime || !mtime->is_int64())
      return std::nullopt;
    auto now = stat_of(out_dir / std::string(path->as_string()));
    if (now.bytes != bytes->as_int64() || now.mtime_ns != mtime->as_int64()) return std::nullopt;
  }
  // Every file of the album, as recorded (a missing or changed one is
  // fetched again, tagged again: the full run does that). Setlist's own
  // files under .setlist/ are not the album's, and no run rewrites them.
  // A file the run that settled found changed and left so (a cover a player
  // rewrote) counts as long as it stays as that run found it; never a take
  // of a song's current attempt (record_settled).
  std::map<std::string, Stat> as_found;
  if (auto* a = o.if_contains("as_found"); a && a->is_array())
    for (auto& e : a->as_array())
      if (auto* eo = e.if_object())
        if (auto *p = eo->if_contains("path"), *b = eo->if_contains("bytes"), *m = eo->if_contains("mtime_ns");
            p && p->is_string() && b && b->is_int64() && m && m->is_int64())
          as_found[std::string(p->as_string())] = Stat{b->as_int64(), m->as_int64()};
  bool intact = true;
  std::set<std::string> real_folders;
  state.each_file([&](const FileRow& f) {
    if (!intact || f.path.rfind(".setlist/", 0) == 0 || file_intact(out_dir, f, real_folders)) return;
    auto it = as_found.find(f.path);
    intact = it != as_found.end() && !state_path_problem(out_dir, f.path, &real_folders) &&
             stat_of(out_dir / f.path) == it->second;
  });
  if (!intact) return std::nullopt;

  RunSummary s;
  s.unchanged = true;
  s.unchanged_since = num("ended_at");
  s.songs = static_cast<int>(num("songs"));
  s.complete = s.songs;
  s.not_selected = static_cast<int>(std::max<std::int64_t>(0, num("not_selected")));
  s.tokens_charged_to_date = num("tokens_to_date");
  s.flagged_total = static_cast<std::size_t>(std::max<std::int64_t>(0, num("flagged_total")));
  if (auto* fl = o.if_contains("flagged"); fl && fl->is_array())
    for (auto& f : fl->as_array())
      if (f.is_string()) s.flagged.emplace_back(f.as_string());
  if (s.songs < 0 || s.tokens_charged_to_date < 0) return std::nullopt;
  return s;
}

void record_settled(StateStore& state, const fs::path& out_dir, const std::string& fingerprint,
                    const RunSummary& s) {
  const bool settled = !fingerprint.empty() && s.ran && s.reports_written && !s.aborted && !s.interrupted &&
                       s.songs > 0 && s.complete == s.songs && !s.failed && !s.skipped && !s.uncertain && !s.pending;
  if (!settled) {
    if (auto old = state.meta(kMeta); old && !old->empty()) state.set_meta(kMeta, "");
    return;
  }
  json::object o;
  o["fingerprint"] = fingerprint;
  o["changes"] = state.changes();
  o["ended_at"] = s.ended_at;
  o["songs"] = s.songs;
  o["not_selected"] = s.not_selected;
  o["tokens_to_date"] = s.tokens_charged_to_date;
  o["flagged_total"] = static_cast<std::int64_t>(s.flagged_total);
  json::array flagged;
  for (std::size_t i = 0; i < s.flagged.size() && i < kSettledFlaggedShown; ++i) flagged.emplace_back(s.flagged[i]);
  o["flagged"] = std::move(flagged);
  json::array reports;
  std::vector<std::string> names;
  for (auto p = kSettledReports; *p; ++p) names.emplace_back(*p);
  // A large album's report pages (report.html is then their index).
  std::error_code ec;
  if (fs::is_directory(fs::symlink_status(out_dir / kReportPages, ec)))
    for (fs::directory_iterator it(out_dir / kReportPages, ec), end; !ec && it != end; it.increment(ec))
      names.push_back(std::string(kReportPages) + "/" + it->path().filename().string());
  for (auto& name : names) {
    auto st = stat_of(out_dir / name);
    if (st.bytes < 0) continue;
    reports.push_back(json::object{{"path", name}, {"bytes", st.bytes}, {"mtime_ns", st.mtime_ns}});
  }
  o["reports"] = std::move(reports);
  json::array as_found;
  std::set<std::string> real_folders;
  std::vector<FileRow> takes;  // audio found changed or missing: see below
  state.each_file([&](const FileRow& f) {
    if (f.path.rfind(".setlist/", 0) == 0 || file_intact(out_dir, f, real_folders)) return;
    if (state_path_problem(out_dir, f.path, &real_folders)) return;  // never counts (see settled_summary)
    if (f.kind == "audio") {
      takes.push_back(f);
      return;
    }
    auto st = stat_of(out_dir / f.path);
    as_found.push_back(json::object{{"path", f.path}, {"bytes", st.bytes}, {"mtime_ns", st.mtime_ns}});
  });
  // A take of a song's current attempt is never left changed or missing by
  // a run that completed the song (it fetches it again, free): one that is
  // so now changed after the run looked at it (deleted while the run was
  // ending). Taken "as found", every later run would skip it; left out, the
  // next run looks at every song and fetches it again. Earlier attempts'
  // takes (--keep-attempts) are never fetched again: those count as found.
  std::map<std::string, std::set<std::string>> current;  // song key -> its current attempt's clip ids
  for (auto& f : takes) {
    auto [it, fresh] = current.try_emplace(f.song_key);
    if (fresh)
      for (auto& c : state.attempt_clips(f.song_key)) it->second.insert(c.clip_id);
    if (it->second.count(f.clip_id)) continue;
    auto st = stat_of(out_dir / f.path);
    as_found.push_back(json::object{{"path", f.path}, {"bytes", st.bytes}, {"mtime_ns", st.mtime_ns}});
  }
  o["as_found"] = std::move(as_found);
  state.set_meta(kMeta, json::serialize(o));
}

}  // namespace setlist::engine
