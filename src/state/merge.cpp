// `setlist merge`: one album from the OUT folders of its shards.
//
// Order of work, so that a crash at any point leaves a usable ALBUM:
//  1. every source is locked and passes open_album_state's trust checks;
//     every refusal (other album, other split, the same song bought twice)
//     is found before anything changes;
//  2. per source, one transaction copies its songs' rows into ALBUM's
//     database (submissions renumbered: ids are per database), column by
//     column over the names both databases share;
//  3. then its receipts go to ALBUM's journal, with the new numbers (the
//     database is never behind the journal);
//  4. then its files are copied (temp + fsync + rename, modification time as
//     recorded), so a file row may name a file not there yet (a run fetches
//     it again, free; merging again copies it), never the other way round.
#include "setlist/merge.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "setlist/output.hpp"
#include "setlist/report.hpp"
#include "setlist/shard.hpp"
#include "setlist/state.hpp"
#include "state/journal.hpp"

namespace setlist {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

Error refuse(std::string message) {
  Error e;
  e.kind = ErrorKind::invalid;
  e.message = std::move(message);
  return e;
}

Error cannot(std::string message) {
  Error e;
  e.kind = ErrorKind::io;
  e.message = std::move(message);
  return e;
}

struct SqlError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Q {
 public:
  Q(sqlite3* db, const std::string& sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st_, nullptr) != SQLITE_OK)
      throw SqlError(std::string(sqlite3_errmsg(db)) + " in: " + sql);
  }
  ~Q() { sqlite3_finalize(st_); }
  Q(const Q&) = delete;
  Q& operator=(const Q&) = delete;
  Q& bind(int i, const std::string& s) {
    sqlite3_bind_text(st_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Q& bind(int i, std::int64_t v) {
    sqlite3_bind_int64(st_, i, v);
    return *this;
  }
  bool step() {
    int rc = sqlite3_step(st_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw SqlError(sqlite3_errmsg(db_));
  }
  void run() {
    while (step()) {
    }
  }
  std::string text(int c) const {
    auto* p = sqlite3_column_text(st_, c);
    return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(st_, c)))
             : std::string();
  }
  std::int64_t i64(int c) const { return sqlite3_column_int64(st_, c); }

 private:
  sqlite3* db_;
  sqlite3_stmt* st_ = nullptr;
};

void exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    throw SqlError(msg);
  }
}

std::string quote_id(const std::string& name) {
  std::string q = "\"";
  for (char c : name) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

std::vector<std::string> columns(sqlite3* db, const std::string& schema, const std::string& table) {
  std::vector<std::string> out;
  Q q(db, "PRAGMA " + schema + ".table_info(" + quote_id(table) + ")");
  while (q.step()) out.push_back(q.text(1));
  return out;
}

// The columns both databases have, in ALBUM's order: a column one side added
// (a newer setlist) is left to its default.
std::vector<std::string> shared_columns(sqlite3* db, const std::string& table) {
  auto mine = columns(db, "main", table), theirs = columns(db, "src", table);
  std::set<std::string> t(theirs.begin(), theirs.end());
  std::vector<std::string> out;
  for (auto& c : mine)
    if (t.count(c)) out.push_back(c);
  return out;
}

std::string join(const std::vector<std::string>& cols, const std::string& replace = {}, const std::string& with = {}) {
  std::string s;
  for (auto& c : cols) s += (s.empty() ? "" : ", ") + (c == replace ? with : quote_id(c));
  return s;
}

// One submission as both databases can tell it apart: ids differ per database.
std::string fingerprint(const std::string& key, std::int64_t created_at, const std::string& payload, std::int64_t attempt) {
  return key + "|" + std::to_string(created_at) + "|" + payload + "|" + std::to_string(attempt);
}

struct SideSong {
  std::string song_id, title, status;
  int track = 0;
  bool row = false;
};

struct Sub {
  std::int64_t id = 0;
  std::string fp;
};

struct Source {
  fs::path dir;
  std::unique_ptr<RunLock> lock;
  std::optional<Shard> shard;
  std::string hash, keys, provider, album, last_run;
  long long tokens = 0;
  std::string name() const { return shard ? "shard " + shard->label() + " (" + dir.string() + ")" : dir.string(); }
  std::string token_label() const { return shard ? shard->label() : dir.string(); }
  std::map<std::string, SideSong> songs;
  std::map<std::string, std::vector<Sub>> subs;  // by song key, in id order
};

struct AlbumSide {
  std::map<std::string, SideSong> songs;
  std::map<std::string, std::map<std::string, std::int64_t>> subs;  // key -> fingerprint -> id
};

long long to_number(const std::optional<std::string>& v) {
  if (!v) return 0;
  try {
    return std::stoll(*v);
  } catch (const std::exception&) {
    return 0;
  }
}

template <class Map>
void read_side(sqlite3* db, const std::string& schema, std::map<std::string, SideSong>& songs, Map&& on_sub) {
  {
    Q q(db, "SELECT song_key, song_id, title, track, status FROM " + schema + ".songs");
    while (q.step()) {
      auto& s = songs[q.text(0)];
      s.song_id = q.text(1);
      s.title = q.text(2);
      s.track = static_cast<int>(q.i64(3));
      s.status = q.text(4);
      s.row = true;
    }
  }
  Q q(db, "SELECT id, song_key, created_at, payload_hash, attempt FROM " + schema + ".submissions ORDER BY id");
  while (q.step()) on_sub(q.i64(0), q.text(1), fingerprint(q.text(1), q.i64(2), q.text(3), q.i64(4)));
}

void attach(sqlite3* db, const fs::path& file) {
  Q q(db, "ATTACH DATABASE ? AS src");
  q.bind(1, file.string());
  q.run();
}

// A file copied into ALBUM without ever showing half of it: a temporary
// beside it, synced, given the recorded modification time, renamed (the
// caller syncs the folder: sync_dirs). `mtime_ns` 0: the source's own.
Status copy_file(const fs::path& from, const fs::path& to, std::int64_t mtime_ns) {
  int in = ::open(from.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (in < 0) return cannot("cannot read " + from.string() + ": " + std::strerror(errno));
  struct stat st {};
  ::fstat(in, &st);
  std::error_code ec;
  fs::create_directories(to.parent_path(), ec);
  const fs::path tmp = to.string() + ".merge-tmp";
  int out = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, st.st_mode & 0777);
  if (out < 0) {
    ::close(in);
    return cannot("cannot write " + tmp.string() + ": " + std::strerror(errno));
  }
  char buf[1 << 16];
  bool ok = true;
  for (;;) {
    ssize_t n = ::read(in, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) ok = false;
    if (n <= 0) break;
    for (ssize_t done = 0; done < n;) {
      ssize_t w = ::write(out, buf + done, static_cast<std::size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        ok = false;
        break;
      }
      done += w;
    }
    if (!ok) break;
  }
  ::close(in);
  struct timespec times[2];
  times[0].tv_sec = 0;
  times[0].tv_nsec = UTIME_OMIT;
  if (mtime_ns > 0) {
    times[1].tv_sec = static_cast<time_t>(mtime_ns / 1'000'000'000);
    times[1].tv_nsec = static_cast<long>(mtime_ns % 1'000'000'000);
  } else {
    times[1] = st.st_mtim;
  }
  if (ok && ::fsync(out) != 0) ok = false;
  if (ok && ::futimens(out, times) != 0) ok = false;
  if (::close(out) != 0) ok = false;
  if (!ok || ::rename(tmp.c_str(), to.c_str()) != 0) {
    std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    return cannot("cannot write " + to.string() + ": " + why);
  }
  return Ok{};
}

// The folders whose entries changed, synced once each (not once per file).
void sync_dirs(const std::set<fs::path>& dirs) {
  for (auto& d : dirs) {
    int fd = ::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
      ::fsync(fd);
      ::close(fd);
    }
  }
}

struct FileToCopy {
  std::string rel;
  std::uint64_t bytes = 0;
  std::string sha256;  // empty: not recorded (a clip file without a row)
  std::int64_t mtime_ns = 0;
};

std::string iso_min_max(const std::vector<json::object>& runs, const char* field, bool max) {
  std::string best;
  for (auto& r : runs)
    if (auto* v = r.if_contains(field); v && v->is_string()) {
      std::string s(v->as_string());
      if (best.empty() || (max ? s > best : s < best)) best = s;
    }
  return best;
}

}  // namespace

Result<MergeSummary> merge_shards(const std::vector<fs::path>& shard_dirs, const fs::path& album_dir) {
  MergeSummary sum;
  std::error_code ec;
  const fs::path album = fs::weakly_canonical(fs::absolute(album_dir), ec);

  // 1. Every source, locked and trusted, and what it says it is.
  std::vector<Source> sources;
  std::set<fs::path> seen;
  for (auto& given : shard_dirs) {
    fs::path dir = fs::weakly_canonical(fs::absolute(given), ec);
    if (!seen.insert(dir).second) continue;  // named twice
    if (dir == album) return refuse(given.string() + " is the album folder itself; merge into a folder of its own");
    if (!fs::is_directory(dir, ec)) return cannot(given.string() + " is not a folder");
    if (!fs::is_regular_file(dir / ".setlist" / "state.db", ec))
      return cannot(given.string() + " has no setlist state (" + (dir / ".setlist" / "state.db").string() +
                    " not found): is it a shard's OUT?");
    Source s;
    s.dir = dir;
    auto lock = RunLock::acquire(dir / ".setlist");
    if (lock) {
      s.lock = std::move(lock.value());
    } else if (lock.error().kind != ErrorKind::io) {
      return cannot(lock.error().message);  // a run still uses it
    }  // a folder that cannot hold a lock file (read-only copy): nothing can run there either
    auto st = open_album_state(dir, false);
    if (!st) return cannot(given.string() + ": " + st.error().message);
    if (!st.value()) return cannot(given.string() + " has no setlist state");
    auto& store = *st.value();
    s.hash = store.meta("manifest_hash").value_or("");
    if (s.hash.empty())
      return cannot(given.string() +
                    "'s state does not say which album it holds (no manifest_hash: written by an older setlist); "
                    "run its `setlist run ... --shard I/N` once more with this setlist (it buys nothing already "
                    "bought), then merge");
    if (auto label = store.meta("shard"); label && !label->empty()) {
      s.shard = shard_from_label(*label);
      if (!s.shard) return cannot(given.string() + "'s state names shard '" + *label + "', which is not I/N");
    }
    s.keys = store.meta("manifest_keys").value_or("[]");
    s.provider = store.meta("provider").value_or("");
    s.album = store.meta("album").value_or("");
    s.last_run = store.meta("last_run").value_or("");
    s.tokens = to_number(store.meta("tokens_charged_to_date"));
    sources.push_back(std::move(s));
  }
  if (sources.empty()) return refuse("no shard folder to merge");
  for (auto& s : sources)
    if (s.hash != sources.front().hash)
      return refuse(s.dir.string() + " holds another album than " + sources.front().dir.string() +
                    " (different manifest, provider, model or album name: manifest_hash " + s.hash.substr(0, 12) +
                    " vs " + sources.front().hash.substr(0, 12) +
                    "); shards must all run the same manifest with the same settings. Nothing was changed");
  std::map<int, const Source*> by_index;
  for (auto& s : sources) {
    if (!s.shard) continue;
    if (sum.count == 0) sum.count = s.shard->count;
    if (s.shard->count != sum.count)
      return refuse(s.name() + " splits the album in " + std::to_string(s.shard->count) + " shards, others in " +
                    std::to_string(sum.count) + "; merge shards of one split. Nothing was changed");
    if (auto [it, fresh] = by_index.emplace(s.shard->index, &s); !fresh)
      return refuse("shard " + s.shard->label() + " is given twice: " + it->second->dir.string() + " and " +
                    s.dir.string() + "; give each shard once. Nothing was changed");
  }

  // ALBUM: locked, trusted (or new), and of this album.
  fs::create_directories(album / ".setlist", ec);
  if (ec) return cannot("cannot create " + (album / ".setlist").string() + ": " + ec.message());
  auto album_lock = RunLock::acquire(album / ".setlist");
  if (!album_lock) return cannot(album_lock.error().message);
  std::set<int> merged_before;
  std::map<std::string, long long> tokens_before;  // per source label, at the last merge
  long long album_tokens = 0;
  {
    auto st = open_album_state(album, true);
    if (!st) return cannot(st.error().message);
    auto& store = *st.value();
    if (auto h = store.meta("manifest_hash"); h && !h->empty() && *h != sources.front().hash)
      return refuse(album.string() + " holds another album (manifest_hash " + h->substr(0, 12) + ", the shards' " +
                    sources.front().hash.substr(0, 12) + "); merge into a folder of its own. Nothing was changed");
    if (auto label = store.meta("shard"); label && !label->empty())
      return refuse(album.string() + " is shard " + *label +
                    "'s folder; merge into a folder of its own. Nothing was changed");
    if (auto m = store.meta("merged_shards")) {
      json::error_code jec;
      auto v = json::parse(*m, jec);
      if (!jec && v.is_object()) {
        auto& o = v.as_object();
        if (auto* c = o.if_contains("count"); c && c->is_int64()) {
          int before = static_cast<int>(c->as_int64());
          if (sum.count && before && before != sum.count)
            return refuse(album.string() + " was merged from " + std::to_string(before) + " shards; these split "
                          "the album in " + std::to_string(sum.count) + ". Nothing was changed");
          if (!sum.count) sum.count = before;
        }
        if (auto* ix = o.if_contains("indexes"); ix && ix->is_array())
          for (auto& i : ix->as_array())
            if (i.is_int64()) merged_before.insert(static_cast<int>(i.as_int64()));
        if (auto* t = o.if_contains("tokens"); t && t->is_object())
          for (auto& [k, v2] : t->as_object())
            if (v2.is_int64()) tokens_before[std::string(k)] = v2.as_int64();
      }
    }
    album_tokens = to_number(store.meta("tokens_charged_to_date"));
  }

  sqlite3* raw = nullptr;
  const auto db_file = album / ".setlist" / "state.db";
  if (sqlite3_open_v2(db_file.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    std::string why = raw ? sqlite3_errmsg(raw) : "out of memory";
    sqlite3_close(raw);
    return cannot("cannot open " + db_file.string() + ": " + why);
  }
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> db(raw, sqlite3_close);
  sqlite3_busy_timeout(raw, 5000);

  try {
    exec(raw, "PRAGMA synchronous=FULL");
    // 2. Who bought what: every refusal before anything changes.
    AlbumSide mine;
    read_side(raw, "main", mine.songs, [&](std::int64_t id, const std::string& key, const std::string& fp) {
      mine.subs[key][fp] = id;
    });
    std::set<std::string> keys;
    for (auto& [k, _] : mine.songs) keys.insert(k);
    for (auto& s : sources) {
      attach(raw, s.dir / ".setlist" / "state.db");
      read_side(raw, "src", s.songs, [&](std::int64_t id, const std::string& key, const std::string& fp) {
        s.subs[key].push_back({id, fp});
      });
      exec(raw, "DETACH DATABASE src");
      for (auto& [k, _] : s.songs) keys.insert(k);
    }
    auto song_name = [&](const std::string& key) {
      for (auto& s : sources)
        if (auto it = s.songs.find(key); it != s.songs.end())
          return "[" + std::to_string(it->second.track) + "] " + it->second.title;
      if (auto it = mine.songs.find(key); it != mine.songs.end())
        return "[" + std::to_string(it->second.track) + "] " + it->second.title;
      return key.substr(0, 12);
    };
    auto fps_of = [](const std::vector<Sub>& v) {
      std::set<std::string> out;
      for (auto& s : v) out.insert(s.fp);
      return out;
    };
    std::map<std::string, std::size_t> take_from;  // song key -> index into sources
    std::vector<std::string> overlaps;
    for (auto& key : keys) {
      std::optional<std::size_t> holder;
      std::set<std::string> held;
      for (std::size_t i = 0; i < sources.size(); ++i) {
        auto it = sources[i].subs.find(key);
        if (it == sources[i].subs.end() || it->second.empty()) continue;
        auto fps = fps_of(it->second);
        if (!holder) {
          holder = i;
          held = std::move(fps);
        } else if (fps != held) {
          overlaps.push_back(song_name(key) + " was bought by both " + sources[*holder].name() + " and " +
                             sources[i].name());
        }
      }
      std::set<std::string> album_fps;
      if (auto it = mine.subs.find(key); it != mine.subs.end())
        for (auto& [fp, _] : it->second) album_fps.insert(fp);
      if (holder) {
        if (std::includes(held.begin(), held.end(), album_fps.begin(), album_fps.end())) {
          take_from[key] = *holder;
          bool same = held == album_fps;
          auto& src_song = sources[*holder].songs[key];
          auto mine_it = mine.songs.find(key);
          if (same && mine_it != mine.songs.end() && mine_it->second.status == src_song.status)
            ++sum.songs_kept;
          else
            ++sum.songs_taken;
        } else if (std::includes(album_fps.begin(), album_fps.end(), held.begin(), held.end())) {
          ++sum.songs_kept;  // ALBUM has all of it and more (a run on ALBUM went on with it)
        } else {
          overlaps.push_back(song_name(key) + " was bought both in " + album.string() + " and by " +
                             sources[*holder].name());
        }
        continue;
      }
      if (!album_fps.empty()) continue;  // bought in ALBUM itself
      // Nothing bought yet: the row of the shard that owns the song, else
      // one that got further than `pending`, else any.
      std::optional<std::size_t> pick;
      for (std::size_t i = 0; i < sources.size() && !pick; ++i) {
        auto it = sources[i].songs.find(key);
        if (it != sources[i].songs.end() && sources[i].shard && sources[i].shard->owns(it->second.song_id)) pick = i;
      }
      const bool in_album = mine.songs.count(key) > 0;
      for (std::size_t i = 0; i < sources.size() && !pick && !in_album; ++i) {
        auto it = sources[i].songs.find(key);
        if (it != sources[i].songs.end() && it->second.status != "pending") pick = i;
      }
      for (std::size_t i = 0; i < sources.size() && !pick && !in_album; ++i)
        if (sources[i].songs.count(key)) pick = i;
      if (pick) take_from[key] = *pick;
    }
    if (!overlaps.empty()) {
      std::string list;
      for (std::size_t i = 0; i < overlaps.size() && i < 10; ++i) list += "\n  " + overlaps[i];
      if (overlaps.size() > 10) list += "\n  ... and " + std::to_string(overlaps.size() - 10) + " more";
      return refuse(std::to_string(overlaps.size()) + " song(s) were bought more than once, with different "
                    "requests:" + list +
                    "\nEach song must be bought by one shard only: were shards run with different --shard splits, "
                    "or a shard's folder run for the whole album? Keep one folder per song (move the other away), "
                    "then merge. Nothing was changed");
    }

    // ALBUM's identity first, so that a merge stopped half-way is still this album's.
    const auto& first = sources.front();
    exec(raw, "BEGIN IMMEDIATE");
    {
      auto set = [&](const std::string& k, const std::string& v) {
        Q q(raw, "INSERT INTO main.meta(key, value) VALUES(?,?) ON CONFLICT(key) DO UPDATE SET value=excluded.value");
        q.bind(1, k).bind(2, v);
        q.run();
      };
      set("manifest_hash", first.hash);
      set("manifest_keys", first.keys);
      set("shard", "");
      if (!first.provider.empty()) set("provider", first.provider);
      for (auto& s : sources)
        if (!s.album.empty()) {
          set("album", s.album);
          break;
        }
    }
    exec(raw, "COMMIT");

    journal::Writer writer(journal_path(album));
    std::set<std::string> journal_lines;
    for (auto& e : read_journal(journal_path(album)).entries) journal_lines.insert(journal::line(e));

    // 3. Source by source: rows, receipts, files.
    for (std::size_t si = 0; si < sources.size(); ++si) {
      auto& s = sources[si];
      std::vector<std::string> mine_keys;
      for (auto& [k, i] : take_from)
        if (i == si) mine_keys.push_back(k);
      auto src_journal = read_journal(journal_path(s.dir));
      std::map<std::string, std::vector<const JournalEntry*>> entries_by_key;
      for (auto& e : src_journal.entries) entries_by_key[e.song_key].push_back(&e);

      attach(raw, s.dir / ".setlist" / "state.db");
      const auto song_cols = shared_columns(raw, "songs");
      auto sub_cols = shared_columns(raw, "submissions");
      std::erase(sub_cols, "id");
      const auto clip_cols = shared_columns(raw, "clips");
      const auto file_cols = shared_columns(raw, "files");
      const auto analysis_cols = shared_columns(raw, "analysis");
      std::vector<FileToCopy> to_copy;
      std::vector<std::string> new_lines;
      std::set<fs::path> touched_dirs;
      exec(raw, "BEGIN IMMEDIATE");
      try {
        for (auto& key : mine_keys) {
          {
            Q q(raw, "INSERT OR REPLACE INTO main.songs(" + join(song_cols) + ") SELECT " + join(song_cols) +
                         " FROM src.songs WHERE song_key=?");
            q.bind(1, key);
            q.run();
          }
          std::map<std::int64_t, std::int64_t> ids;  // source id -> ALBUM id
          auto& known = mine.subs[key];
          for (auto& sub : s.subs[key]) {
            std::int64_t id = 0;
            if (auto it = known.find(sub.fp); it != known.end()) {
              id = it->second;
              Q del(raw, "DELETE FROM main.submissions WHERE id=?");
              del.bind(1, id);
              del.run();
              Q ins(raw, "INSERT INTO main.submissions(id, " + join(sub_cols) + ") SELECT ?, " + join(sub_cols) +
                             " FROM src.submissions WHERE id=?");
              ins.bind(1, id).bind(2, sub.id);
              ins.run();
            } else {
              Q ins(raw, "INSERT INTO main.submissions(" + join(sub_cols) + ") SELECT " + join(sub_cols) +
                             " FROM src.submissions WHERE id=?");
              ins.bind(1, sub.id);
              ins.run();
              id = sqlite3_last_insert_rowid(raw);
              known[sub.fp] = id;
            }
            ids[sub.id] = id;
          }
          {
            Q del(raw, "DELETE FROM main.clips WHERE song_key=?");
            del.bind(1, key);
            del.run();
            std::vector<std::pair<std::string, std::int64_t>> clips;
            Q q(raw, "SELECT clip_id, submission_id FROM src.clips WHERE song_key=?");
            q.bind(1, key);
            while (q.step()) clips.emplace_back(q.text(0), q.i64(1));
            for (auto& [clip, sub] : clips) {
              auto it = ids.find(sub);
              Q ins(raw, "INSERT OR IGNORE INTO main.clips(" + join(clip_cols) + ") SELECT " +
                             join(clip_cols, "submission_id", "?") + " FROM src.clips WHERE clip_id=?");
              ins.bind(1, it == ids.end() ? sub : it->second).bind(2, clip);
              ins.run();
              const std::string rel = ".setlist/clips/" + safe_component(clip) + ".json";
              to_copy.push_back({rel, 0, "", 0});  // replaced by its row below when it has one
            }
          }
          {
            Q del(raw, "DELETE FROM main.files WHERE song_key=?");
            del.bind(1, key);
            del.run();
            Q ins(raw, "INSERT OR REPLACE INTO main.files(" + join(file_cols) + ") SELECT " + join(file_cols) +
                           " FROM src.files WHERE song_key=?");
            ins.bind(1, key);
            ins.run();
            Q q(raw, "SELECT path, bytes, sha256, mtime_ns FROM src.files WHERE song_key=?");
            q.bind(1, key);
            while (q.step()) {
              FileToCopy f{q.text(0), static_cast<std::uint64_t>(q.i64(1)), q.text(2), q.i64(3)};
              std::erase_if(to_copy, [&](const FileToCopy& c) { return c.rel == f.rel; });
              to_copy.push_back(std::move(f));
            }
          }
          if (!analysis_cols.empty()) {
            Q del(raw, "DELETE FROM main.analysis WHERE song_key=?");
            del.bind(1, key);
            del.run();
            Q ins(raw, "INSERT OR REPLACE INTO main.analysis(" + join(analysis_cols) + ") SELECT " +
                           join(analysis_cols) + " FROM src.analysis WHERE song_key=?");
            ins.bind(1, key);
            ins.run();
          }
          for (auto* e : entries_by_key[key]) {
            JournalEntry copy = *e;
            if (copy.submission) {
              auto it = ids.find(copy.submission);
              if (it == ids.end()) continue;  // a receipt of no submission the database knows: not carried
              copy.submission = it->second;
            }
            auto text = journal::line(copy);
            if (journal_lines.insert(text).second) new_lines.push_back(std::move(text));
          }
        }
        // What the album has cost: this source's spending since it was last merged.
        const std::string label = s.token_label();
        long long before = tokens_before.count(label) ? tokens_before[label] : 0;
        album_tokens += s.tokens - before;
        tokens_before[label] = s.tokens;
        Q q(raw, "INSERT INTO main.meta(key, value) VALUES('tokens_charged_to_date', ?) ON CONFLICT(key) DO UPDATE "
                 "SET value=excluded.value");
        q.bind(1, std::to_string(album_tokens));
        q.run();
        if (s.shard) merged_before.insert(s.shard->index);
        json::object merged;
        merged["count"] = sum.count;
        json::array ix;
        for (int i : merged_before) ix.push_back(i);
        merged["indexes"] = std::move(ix);
        json::object tok;
        for (auto& [k, v] : tokens_before) tok[k] = v;
        merged["tokens"] = std::move(tok);
        Q m(raw, "INSERT INTO main.meta(key, value) VALUES('merged_shards', ?) ON CONFLICT(key) DO UPDATE SET "
                 "value=excluded.value");
        m.bind(1, json::serialize(merged));
        m.run();
        exec(raw, "COMMIT");
      } catch (...) {
        sqlite3_exec(raw, "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
      }
      exec(raw, "DETACH DATABASE src");
      for (std::size_t i = 0; i < new_lines.size(); ++i) {
        auto e = journal::parse(new_lines[i]);
        if (e) writer.append(*e, i + 1 == new_lines.size());
      }
      sum.journal_lines += static_cast<int>(new_lines.size());

      for (auto& f : to_copy) {
        if (state_path_problem(album, f.rel) || state_path_problem(s.dir, f.rel)) {
          sum.warnings.push_back(f.rel + " in " + s.dir.string() + ": a path outside the album folder; not copied");
          continue;
        }
        const auto from = s.dir / f.rel, to = album / f.rel;
        struct stat fst {};
        if (::lstat(from.c_str(), &fst) != 0 || !S_ISREG(fst.st_mode)) {
          if (!f.sha256.empty())
            sum.warnings.push_back(f.rel + " is missing in " + s.dir.string() +
                                   "; a run on the album fetches it again (free)");
          continue;
        }
        if (!f.sha256.empty()) {
          auto d = file_digest(from);
          if (!d || d->first != f.bytes || d->second != f.sha256) {
            sum.warnings.push_back(f.rel + " in " + s.dir.string() +
                                   " is not the file its state recorded (changed since); not copied, a run on the "
                                   "album fetches it again (free)");
            continue;
          }
          if (auto there = file_digest(to); there && there->first == f.bytes && there->second == f.sha256) {
            // Already there: only its modification time must agree with the row.
            if (f.mtime_ns > 0) {
              struct timespec times[2];
              times[0].tv_sec = 0;
              times[0].tv_nsec = UTIME_OMIT;
              times[1].tv_sec = static_cast<time_t>(f.mtime_ns / 1'000'000'000);
              times[1].tv_nsec = static_cast<long>(f.mtime_ns % 1'000'000'000);
              ::utimensat(AT_FDCWD, to.c_str(), times, AT_SYMLINK_NOFOLLOW);
            }
            ++sum.files_present;
            continue;
          }
        } else if (fs::is_regular_file(fs::symlink_status(to, ec))) {
          ++sum.files_present;
          continue;
        }
        auto st = copy_file(from, to, f.mtime_ns);
        if (!st) return st.error();
        touched_dirs.insert(to.parent_path());
        ++sum.files_copied;
      }
      // The album cover a manifest names (written by each shard's reports)
      // and the versions an edited manifest set aside.
      for (const char* name : {"cover.jpg", "cover.png"})
        if (fs::is_regular_file(fs::symlink_status(s.dir / name, ec)) &&
            !fs::exists(fs::symlink_status(album / name, ec)) && s.album.find("\"cover_source\":\"\"") == std::string::npos) {
          auto st = copy_file(s.dir / name, album / name, 0);
          if (!st) return st.error();
          touched_dirs.insert(album);
        }
      const auto aside = s.dir / ".setlist" / "superseded";
      if (fs::is_directory(fs::symlink_status(aside, ec)))
        for (fs::recursive_directory_iterator it(aside, ec), end; !ec && it != end; it.increment(ec)) {
          if (!it->is_regular_file(ec) || it->is_symlink(ec)) continue;
          auto rel = it->path().lexically_relative(s.dir);
          if (fs::exists(fs::symlink_status(album / rel, ec))) continue;
          auto st = copy_file(it->path(), album / rel, 0);
          if (!st) return st.error();
          touched_dirs.insert((album / rel).parent_path());
        }
      sync_dirs(touched_dirs);
      sum.merged.push_back(s.name());
    }

    // 4. What the album is now: the run of every shard in one summary, for the reports.
    std::vector<json::object> runs;
    for (auto& s : sources) {
      json::error_code jec;
      auto v = json::parse(s.last_run, jec);
      if (!jec && v.is_object()) runs.push_back(v.as_object());
    }
    std::vector<std::string> manifest_keys;
    {
      json::error_code jec;
      auto v = json::parse(first.keys, jec);
      if (!jec && v.is_array())
        for (auto& k : v.as_array())
          if (k.is_string()) manifest_keys.emplace_back(k.as_string());
    }
    std::map<std::string, int> counts;
    for (auto& key : manifest_keys) {
      Q q(raw, "SELECT song_id, title, track, status FROM main.songs WHERE song_key=?");
      q.bind(1, key);
      if (!q.step()) continue;
      MergedSong m{static_cast<int>(q.i64(2)), q.text(0), q.text(1), q.text(3),
                   sum.count ? shard_of(q.text(0), sum.count) : -1};
      ++counts[m.status];
      if (m.status != "complete") sum.unfinished.push_back(m);
    }
    json::object run;
    auto started = iso_min_max(runs, "started_at", false), ended = iso_min_max(runs, "ended_at", true);
    run["started_at"] = started.empty() ? json::value(nullptr) : json::value(started);
    run["ended_at"] = ended.empty() ? json::value(nullptr) : json::value(ended);
    double duration = 0;
    long long charged = 0;
    std::uint64_t retries = 0, throttled = 0;
    bool interrupted = false, aborted = false;
    std::string reason;
    json::object requests;
    for (auto& r : runs) {
      if (auto* v = r.if_contains("duration_s"); v && v->is_number()) duration = std::max(duration, v->to_number<double>());
      if (auto* v = r.if_contains("tokens_charged"); v && v->is_number()) charged += v->to_number<long long>();
      if (auto* v = r.if_contains("retries"); v && v->is_number()) retries += v->to_number<std::uint64_t>();
      if (auto* v = r.if_contains("throttled"); v && v->is_number()) throttled += v->to_number<std::uint64_t>();
      if (auto* v = r.if_contains("interrupted"); v && v->is_bool()) interrupted = interrupted || v->as_bool();
      if (auto* v = r.if_contains("aborted"); v && v->is_bool()) aborted = aborted || v->as_bool();
      if (auto* v = r.if_contains("abort_reason"); v && v->is_string() && reason.empty()) reason = std::string(v->as_string());
      if (auto* v = r.if_contains("requests"); v && v->is_object())
        for (auto& [k, n] : v->as_object())
          if (n.is_number())
            requests[k] = (requests.contains(k) ? requests[k].to_number<std::uint64_t>() : 0) +
                          n.to_number<std::uint64_t>();
    }
    run["duration_s"] = duration;
    run["interrupted"] = interrupted;
    run["aborted"] = aborted;
    run["abort_reason"] = reason;
    run["tokens_charged"] = charged;
    run["tokens_charged_to_date"] = album_tokens;
    run["requests"] = std::move(requests);
    run["retries"] = retries;
    run["throttled"] = throttled;
    json::object c;
    int total = 0;
    for (auto& [k, n] : counts) total += n;
    c["songs"] = total;
    c["complete"] = counts["complete"];
    c["failed"] = counts["failed"];
    c["skipped"] = counts["skipped"];
    c["uncertain"] = counts["uncertain"];
    c["pending"] = total - counts["complete"] - counts["failed"] - counts["skipped"] - counts["uncertain"];
    c["not_selected"] = 0;
    run["counts"] = std::move(c);
    sum.merged_indexes.assign(merged_before.begin(), merged_before.end());
    json::object merged;
    merged["count"] = sum.count;
    json::array ix, missing;
    for (int i : merged_before) ix.push_back(i);
    for (int i = 0; i < sum.count; ++i)
      if (!merged_before.count(i)) {
        sum.missing.push_back(i);
        missing.push_back(i);
      }
    merged["merged"] = std::move(ix);
    merged["missing"] = std::move(missing);
    run["shards"] = std::move(merged);
    {
      Q q(raw, "INSERT INTO main.meta(key, value) VALUES('last_run', ?) ON CONFLICT(key) DO UPDATE SET "
               "value=excluded.value");
      q.bind(1, json::serialize(run));
      q.run();
    }
    if (!sum.missing.empty()) {
      std::set<int> gone(sum.missing.begin(), sum.missing.end());
      std::set<std::string> listed;
      for (auto& key : manifest_keys)
        for (auto& s : sources)
          if (auto it = s.songs.find(key); it != s.songs.end()) {
            int owner = shard_of(it->second.song_id, sum.count);
            if (gone.count(owner) && listed.insert(key).second)
              sum.missing_songs.push_back(
                  {it->second.track, it->second.song_id, it->second.title, it->second.status, owner});
            break;
          }
    }
  } catch (const SqlError& e) {
    return cannot(std::string("merge stopped (SQLite: ") + e.what() +
                  "); what was merged before stays, merging again goes on from there");
  } catch (const StateError& e) {
    return cannot(std::string("merge stopped: ") + e.what());
  }
  db.reset();
  // The reports of the whole album, from the merged state (still under ALBUM's lock).
  auto st = open_album_state(album, false);
  if (!st || !st.value()) return cannot("the merged state cannot be opened: " + (st ? std::string("missing") : st.error().message));
  std::vector<std::string> damaged;
  auto w = write_reports(album, *st.value(), nullptr, nullptr, &damaged);
  for (auto& d : damaged) sum.warnings.push_back(d);
  if (!w) return cannot("could not write the reports: " + w.error().message);
  return sum;
}

}  // namespace setlist
