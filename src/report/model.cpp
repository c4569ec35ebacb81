#include "report/model.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <ctime>
#include <fstream>
#include <set>

#include "setlist/engine.hpp"
#include "setlist/manifest.hpp"
#include "setlist/report.hpp"
#include "setlist/state.hpp"

namespace setlist::report {

namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

FileInfo file_info(const fs::path& out_dir, const FileRow& f) {
  FileInfo fi;
  fi.path = f.path;
  fi.bytes = f.bytes;
  fi.sha256 = f.sha256;
  fi.source_sha256 = f.source_sha256;
  std::error_code ec;
  fi.exists = fs::is_regular_file(fs::symlink_status(out_dir / f.path, ec));  // a link is not the file
  return fi;
}

json::object album_json(const Album& a) {
  json::object o;
  o["title"] = a.title;
  o["artist"] = a.artist;
  if (a.year)
    o["year"] = *a.year;
  else
    o["year"] = nullptr;
  o["genre"] = a.genre;
  o["description"] = a.description;
  o["cover_source"] = a.cover.empty() ? std::string() : a.cover.string();
  return o;
}

std::string str(const json::object& o, const char* k) {
  auto it = o.find(k);
  return it != o.end() && it->value().is_string() ? std::string(it->value().get_string()) : std::string();
}

AlbumInfo album_from_json(const json::object& o) {
  AlbumInfo a;
  a.title = str(o, "title");
  a.artist = str(o, "artist");
  if (auto it = o.find("year"); it != o.end() && it->value().is_int64()) a.year = static_cast<int>(it->value().get_int64());
  a.genre = str(o, "genre");
  a.description = str(o, "description");
  a.cover_source = str(o, "cover_source");
  return a;
}

bool is_audio_name(const fs::path& p) {
  auto ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".mp3" || ext == ".wav";
}

// The audio files under OUT/.setlist/superseded/<key prefix>/ (attempt-N/,
// changed/, an old version's files): real folders and regular files only,
// links never followed; sorted by path.
void add_superseded(const fs::path& out_dir, const std::string& key, std::vector<FileInfo>& found) {
  std::error_code ec;
  const fs::path top = out_dir / ".setlist" / "superseded";
  const fs::path dir = top / key.substr(0, 16);
  if (!fs::is_directory(fs::symlink_status(top, ec)) || !fs::is_directory(fs::symlink_status(dir, ec))) return;
  std::vector<FileInfo> here;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (!it->is_regular_file(ec) || it->is_symlink(ec) || !is_audio_name(it->path())) continue;
    FileInfo fi;
    fi.path = fs::relative(it->path(), out_dir, ec).generic_string();
    fi.bytes = it->file_size(ec);
    fi.exists = true;
    if (!fi.path.empty() && here.size() < 1000) here.push_back(std::move(fi));
  }
  std::sort(here.begin(), here.end(), [](auto& a, auto& b) { return a.path < b.path; });
  for (auto& f : here) found.push_back(std::move(f));
}

}  // namespace

namespace {

// The album, the run and the song keys: what every report starts from.
ReportData gather_album(StateStore& state, const Manifest* manifest, const RunSummary* run,
                        std::vector<std::string>& keys) {
  ReportData d;
  d.generated_at = unix_millis_now();
  // The album: from the manifest (and remembered), else as remembered.
  if (manifest) {
    auto o = album_json(manifest->album);
    state.set_meta("album", json::serialize(o));
    d.album = album_from_json(o);
    d.cover_data = manifest->album.cover_data;
  } else if (auto a = state.meta("album")) {
    json::error_code ec;
    auto v = json::parse(*a, ec);
    if (!ec && v.is_object()) d.album = album_from_json(v.get_object());
  }

  if (run) {
    auto text = run_summary_json(*run);
    state.set_meta("last_run", text);
    d.run = json::parse(text).as_object();
  } else if (auto last = state.meta("last_run")) {
    json::error_code ec;
    auto v = json::parse(*last, ec);
    if (!ec && v.is_object()) d.run = v.get_object();
  }

  d.shard = state.meta("shard").value_or("");
  d.manifest_hash = state.meta("manifest_hash").value_or("");

  // Songs in manifest order: the keys recorded by the last run.
  keys.clear();
  if (auto k = state.meta("manifest_keys")) {
    json::error_code ec;
    auto v = json::parse(*k, ec);
    if (!ec && v.is_array())
      for (auto& e : v.get_array())
        if (e.is_string()) keys.emplace_back(e.get_string());
  }
  return d;
}

void add_damaged(std::vector<std::string>& damaged, const std::string& msg) {
  if (std::find(damaged.begin(), damaged.end(), msg) == damaged.end()) damaged.push_back(msg);
}

}  // namespace

void Tally::add(const SongInfo& s) {
  ++songs;
  if (s.status == "skipped")
    ++skipped;
  else if (s.status != "complete")
    ++failures;
  if (s.submitted_at > 0 && s.completed_at >= s.submitted_at)
    song_seconds += static_cast<double>(s.completed_at - s.submitted_at) / 1000.0;
  for (auto& c : s.clips)
    if (c.audio && c.audio->exists) {
      ++takes_downloaded;
      if (!c.flags.empty()) ++takes_flagged;
    }
  if (!s.clips.empty() && s.clips.front().analysis) {
    auto& c = s.clips.front();
    chart.push_back({s.track, c.analysis->integrated_lufs, !c.flags.empty()});
  }
}

Tally tally_of(const std::vector<SongInfo>& songs) {
  Tally t;
  for (auto& s : songs) t.add(s);
  return t;
}

std::string page_name(std::size_t page) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "page-%03zu.html", page);
  return buf;
}

SongCursor::SongCursor(const fs::path& out_dir, StateStore& state, const std::vector<std::string>& keys, bool details)
    : out_dir_(out_dir), state_(state), keys_(keys), details_(details) {
  // Versions of a song replaced by an edit: their keys, by song id.
  if (details_)
    for (auto& row : state.songs())
      if (row.status == SongStatus::superseded) old_keys_[row.song_id].push_back(row.key);
}

bool SongCursor::next(std::size_t n, std::vector<SongInfo>& out) {
  out.clear();
  if (at_ >= keys_.size()) return false;
  std::vector<std::string> group(keys_.begin() + static_cast<std::ptrdiff_t>(at_),
                                 keys_.begin() + static_cast<std::ptrdiff_t>(std::min(keys_.size(), at_ + n)));
  at_ += group.size();
  auto rows = state_.song_group_rows(group, details_, !details_);
  std::map<std::string_view, const SongRow*> songs;
  for (auto& r : rows.songs) songs[r.key] = &r;
  // Rows by song key (the queries return them grouped by key).
  auto range = [](auto& v, const std::string& key) {
    auto lo = std::lower_bound(v.begin(), v.end(), key, [](auto& r, const std::string& k) { return r.song_key < k; });
    auto hi = lo;
    while (hi != v.end() && hi->song_key == key) ++hi;
    return std::make_pair(lo, hi);
  };
  for (auto& key : group) {
    auto it = songs.find(key);
    if (it == songs.end()) continue;
    const SongRow& row = *it->second;
    SongInfo s;
    s.key = row.key;
    s.id = row.song_id;
    s.title = row.title;
    s.track = row.track;
    s.status = std::string(to_string(row.status));
    s.reason = row.reason;
    s.attempts = row.attempts;
    s.created_at = row.created_at;
    s.submitted_at = row.submitted_at;
    s.completed_at = row.completed_at;
    s.updated_at = row.updated_at;
    auto [flo, fhi] = range(rows.files, key);
    std::vector<const FileRow*> files;
    // A row naming a path outside OUT is damaged state: left out of the
    // report's files (never stat'ed, read or linked to), listed instead.
    for (auto f = flo; f != fhi; ++f) {
      if (auto problem = state_path_problem(out_dir_, f->path)) {
        add_damaged(damaged, damaged_state_message(f->path, *problem));
        continue;
      }
      files.push_back(&*f);
    }
    // Without details only the audio is looked at on disk.
    // A clip's JSON is only named by the reports, never linked to: not looked at either.
    auto info = [&](const FileRow& f) {
      if ((details_ && f.kind != "clip_json") || f.kind == "audio") return file_info(out_dir_, f);
      FileInfo fi;
      fi.path = f.path;
      fi.bytes = f.bytes;
      return fi;
    };
    for (auto* f : files)
      if (f->kind == "lyrics" && f->clip_id.empty()) {
        s.lyrics = info(*f);
        if (details_ && s.lyrics->exists) s.lyrics_text = read_out_file(out_dir_, f->path, 1u << 20);
      }
    auto [alo, ahi] = range(rows.analyses, key);
    auto [clo, chi] = range(rows.clips, key);
    std::vector<const ClipRow*> clips;
    for (auto c = clo; c != chi; ++c) clips.push_back(&*c);
    int take = 0;
    std::set<std::string> current;
    for (auto* c : clips) {  // earlier attempts' clips are history
      current.insert(c->clip_id);
      ClipInfo ci;
      ci.id = c->clip_id;
      ci.take = take++;
      ci.status = c->status;
      ci.duration = c->duration;
      ci.credits_used = c->credits_used;
      ci.error_message = c->error_message;
      for (auto* f : files) {
        if (f->clip_id != c->clip_id) continue;
        if (f->kind == "audio")
          ci.audio = info(*f);
        else if (f->kind == "cover")
          ci.cover = info(*f);
        else if (f->kind == "clip_json")
          ci.clip_json = info(*f);
        else if (f->kind == "lyrics") {
          ci.lyrics = info(*f);
          if (details_ && ci.lyrics->exists) ci.lyrics_text = read_out_file(out_dir_, f->path, 1u << 20);
        }
      }
      for (auto a = alo; a != ahi; ++a)
        if (a->clip_id == c->clip_id && ci.audio) {
          ci.analysis = std::move(a->audio);
          ci.flags = a->flags;
        }
      s.clips.push_back(std::move(ci));
    }
    std::stable_sort(s.clips.begin(), s.clips.end(), [](auto& a, auto& b) { return a.take < b.take; });
    if (details_) {
      for (auto* f : files)  // kept in place by --keep-attempts
        if (f->kind == "audio" && !current.count(f->clip_id)) s.earlier_takes.push_back(file_info(out_dir_, *f));
      if (auto it2 = old_keys_.find(s.id); it2 != old_keys_.end())
        for (auto& old : it2->second)
          if (old != key) add_superseded(out_dir_, old, s.superseded_takes);
      add_superseded(out_dir_, key, s.superseded_takes);
    }
    out.push_back(std::move(s));
  }
  return true;
}

ReportData gather_head(const fs::path& out_dir, StateStore& state, const Manifest* manifest, const RunSummary* run,
                       Tally& tally, std::vector<std::string>& keys) {
  StateReadBatch batch(state);  // one read transaction
  ReportData d = gather_album(state, manifest, run, keys);
  tally = Tally{};
  SongCursor cursor(out_dir, state, keys, false);
  std::vector<SongInfo> group;
  BlockHistogram blocks;  // the first takes' gating blocks, pooled
  std::vector<SongRef> refs;
  while (cursor.next(256, group))
    for (auto& s : group) {
      ++d.totals[s.status];
      tally.add(s);
      if (!s.clips.empty() && s.clips.front().analysis) {
        const AudioAnalysis& a = *s.clips.front().analysis;
        blocks.merge(a.blocks);
        d.album_loudness.peak = std::max(d.album_loudness.peak, a.true_peak.value_or(a.sample_peak));
        ++d.album_loudness.takes;
      }
      refs.push_back({s.key, s.track, s.title});
    }
  d.album_loudness.lufs = gated_loudness(blocks);
  d.damaged = std::move(cursor.damaged);
  d.timeline = gather_timeline(state, refs);
  return d;
}

std::string valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  auto u = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  for (std::size_t i = 0; i < s.size();) {
    unsigned char c = u(i);
    std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool ok = n > 0 && i + n <= s.size();
    for (std::size_t k = 1; ok && k < n; ++k) ok = (u(i + k) & 0xC0) == 0x80;
    if (ok && n == 2) ok = c >= 0xC2;  // no overlong forms
    if (ok && n == 3) {
      unsigned cp = ((c & 0x0Fu) << 12) | ((u(i + 1) & 0x3Fu) << 6) | (u(i + 2) & 0x3Fu);
      ok = cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF);
    }
    if (ok && n == 4) {
      unsigned cp = ((c & 0x07u) << 18) | ((u(i + 1) & 0x3Fu) << 12) | ((u(i + 2) & 0x3Fu) << 6) | (u(i + 3) & 0x3Fu);
      ok = cp >= 0x10000 && cp <= 0x10FFFF;
    }
    if (ok) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

std::string html_escape(std::string_view raw) {
  std::string s = valid_utf8(raw);
  std::string out;
  out.reserve(s.size() + 16);
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      case '\0': out += "\xEF\xBF\xBD"; break;
      default: out += c;
    }
  }
  return out;
}

std::string xml_escape(std::string_view raw) {
  std::string s = valid_utf8(raw);
  std::string out;
  out.reserve(s.size() + 16);
  for (char c : s) {
    auto uc = static_cast<unsigned char>(c);
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      case '\n': out += "&#10;"; break;
      case '\r': out += "&#13;"; break;
      case '\t': out += "&#9;"; break;
      default:
        if (uc < 0x20 || uc == 0x7F) out += '?';  // not allowed in XML 1.0
        else out += c;
    }
  }
  return out;
}

std::string url_path_escape(std::string_view p) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (char c : p) {
    auto uc = static_cast<unsigned char>(c);
    bool keep = (uc >= 'A' && uc <= 'Z') || (uc >= 'a' && uc <= 'z') || (uc >= '0' && uc <= '9') || c == '-' ||
                c == '_' || c == '.' || c == '~' || c == '/';
    if (keep) {
      out += c;
    } else {
      out += '%';
      out += hex[uc >> 4];
      out += hex[uc & 0xF];
    }
  }
  // A first segment holding ':' could read as a scheme; every ':' is escaped above.
  return out;
}

std::string iso_time(std::int64_t unix_ms) {
  if (unix_ms <= 0) return {};
  std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string take_letter(int take) { return std::string(1, static_cast<char>('A' + std::clamp(take, 0, 25))); }

std::string take_title(const SongInfo& s, const ClipInfo& c) { return s.title + " (" + take_letter(c.take) + ")"; }

}  // namespace setlist::report
