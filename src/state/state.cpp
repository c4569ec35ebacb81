#include "setlist/state.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <unordered_map>

#include "setlist/output.hpp"
#include "setlist/provider.hpp"
#include "state/journal.hpp"

namespace setlist {

std::int64_t unix_millis_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {

// A prepared statement with positional binding.
// Prepared statements are kept per connection and reused (prepared once,
// reset after each use): preparing the same SQL for each of 10,000 songs
// cost a no-op start-up more than running it. Checked out while in use, so
// a nested or concurrent use of the same SQL gets a statement of its own.
class StmtCache {
 public:
  static void attach(sqlite3* db) {
    std::lock_guard lock(registry_mu());
    registry()[db] = std::make_unique<StmtCache>();
  }
  // Finalizes the idle statements: before sqlite3_close, which refuses to
  // close a connection with statements left.
  static void detach(sqlite3* db) {
    std::lock_guard lock(registry_mu());
    registry().erase(db);
  }
  // Group commit: called before a write statement runs outside any
  // transaction, to open the group's (StateStore::batch_writes).
  static void on_write(sqlite3* db, std::function<void()> open) {
    if (auto* c = find(db)) {
      std::lock_guard lock(c->mu_);
      c->open_batch_ = std::move(open);
    }
  }
  static void before_write(sqlite3* db) {
    std::function<void()> open;
    if (auto* c = find(db)) {
      std::lock_guard lock(c->mu_);
      open = c->open_batch_;
    }
    if (open) open();
  }
  static sqlite3_stmt* take(sqlite3* db, const char* sql) {
    if (auto* c = find(db)) {
      std::lock_guard lock(c->mu_);
      auto it = c->idle_.find(sql);
      if (it != c->idle_.end()) {
        sqlite3_stmt* st = it->second;
        c->idle_.erase(it);
        return st;
      }
    }
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, nullptr) != SQLITE_OK) {
      sqlite3_finalize(st);
      throw StateError(std::string("state: ") + sqlite3_errmsg(db) + " in: " + sql);
    }
    return st;
  }
  static void give_back(sqlite3* db, sqlite3_stmt* st) {
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (auto* c = find(db)) {
      std::lock_guard lock(c->mu_);
      if (c->idle_.size() < 256) {
        c->idle_.emplace(sqlite3_sql(st), st);
        return;
      }
    }
    sqlite3_finalize(st);
  }
  ~StmtCache() {
    for (auto& [sql, st] : idle_) sqlite3_finalize(st);
  }

 private:
  static StmtCache* find(sqlite3* db) {
    std::lock_guard lock(registry_mu());
    auto it = registry().find(db);
    return it == registry().end() ? nullptr : it->second.get();
  }
  static std::mutex& registry_mu() {
    static std::mutex m;
    return m;
  }
  static std::map<sqlite3*, std::unique_ptr<StmtCache>>& registry() {
    static std::map<sqlite3*, std::unique_ptr<StmtCache>> r;
    return r;
  }
  std::mutex mu_;
  std::unordered_multimap<std::string, sqlite3_stmt*> idle_;
  std::function<void()> open_batch_;
};

class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db), st_(StmtCache::take(db, sql)) {}
  ~Stmt() { StmtCache::give_back(db_, st_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& bind(int i, const std::string& s) {
    sqlite3_bind_text(st_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& bind(int i, std::int64_t v) {
    sqlite3_bind_int64(st_, i, v);
    return *this;
  }
  Stmt& bind(int i, int v) { return bind(i, static_cast<std::int64_t>(v)); }
  Stmt& bind(int i, std::optional<double> v) {
    if (v)
      sqlite3_bind_double(st_, i, *v);
    else
      sqlite3_bind_null(st_, i);
    return *this;
  }
  // true while rows come
  bool step() {
    if (!stepped_) {
      stepped_ = true;
      if (!sqlite3_stmt_readonly(st_) && sqlite3_get_autocommit(db_)) StmtCache::before_write(db_);
    }
    int rc = sqlite3_step(st_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw StateError(std::string("state: ") + sqlite3_errmsg(db_));
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
  std::optional<double> opt_double(int c) const {
    if (sqlite3_column_type(st_, c) == SQLITE_NULL) return std::nullopt;
    return sqlite3_column_double(st_, c);
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* st_ = nullptr;
  bool stepped_ = false;
};

const char* kSchemaV1 = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE songs(
  song_key TEXT PRIMARY KEY,
  song_id TEXT NOT NULL DEFAULT '',
  title TEXT NOT NULL DEFAULT '',
  track INTEGER NOT NULL DEFAULT 0,
  status TEXT NOT NULL DEFAULT 'pending',
  reason TEXT NOT NULL DEFAULT '',
  attempts INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL DEFAULT 0,
  updated_at INTEGER NOT NULL DEFAULT 0,
  submitted_at INTEGER NOT NULL DEFAULT 0,
  completed_at INTEGER NOT NULL DEFAULT 0);
CREATE TABLE submissions(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  song_key TEXT NOT NULL,
  payload_hash TEXT NOT NULL,
  state TEXT NOT NULL,
  http_status INTEGER NOT NULL DEFAULT 0,
  error TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  acked_at INTEGER NOT NULL DEFAULT 0);
CREATE INDEX submissions_song ON submissions(song_key);
CREATE TABLE clips(
  clip_id TEXT PRIMARY KEY,
  song_key TEXT NOT NULL,
  submission_id INTEGER NOT NULL,
  take INTEGER NOT NULL,
  status TEXT NOT NULL,
  audio_url TEXT NOT NULL DEFAULT '',
  image_url TEXT NOT NULL DEFAULT '',
  duration REAL,
  error_message TEXT NOT NULL DEFAULT '',
  raw_json TEXT NOT NULL DEFAULT '',
  updated_at INTEGER NOT NULL DEFAULT 0);
CREATE INDEX clips_song ON clips(song_key);
CREATE TABLE files(
  path TEXT PRIMARY KEY,
  song_key TEXT NOT NULL,
  clip_id TEXT NOT NULL DEFAULT '',
  kind TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  source_sha256 TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL);
CREATE INDEX files_song ON files(song_key);
)sql";

// v3 (#19): the analysis of each published take, in a table of its own.
const char* kSchemaAnalysis = R"sql(
CREATE TABLE IF NOT EXISTS analysis(
  clip_id TEXT PRIMARY KEY,
  song_key TEXT NOT NULL,
  source_sha256 TEXT NOT NULL,
  integrated_lufs REAL,
  loudness_range REAL NOT NULL,
  true_peak REAL,
  sample_peak REAL NOT NULL,
  duration REAL NOT NULL,
  sample_rate INTEGER NOT NULL,
  channels INTEGER NOT NULL,
  longest_silence REAL NOT NULL,
  clipped_runs INTEGER NOT NULL,
  waveform TEXT NOT NULL,
  blocks TEXT NOT NULL,
  flags TEXT NOT NULL,
  created_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS analysis_song ON analysis(song_key);
)sql";

// v5 (#19): when each song went through each phase of each run, for the
// run timeline in report.html. Derived data, like analysis: not journaled.
const char* kSchemaTimeline = R"sql(
CREATE TABLE IF NOT EXISTS timeline(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  run INTEGER NOT NULL,
  song_key TEXT NOT NULL,
  kind TEXT NOT NULL,
  at INTEGER NOT NULL,
  ms INTEGER NOT NULL DEFAULT 0,
  detail TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS timeline_run ON timeline(run);
)sql";

// v2: attempts (a paid retry is a new attempt; its clips are the song's
// takes), file modification times (a changed file is repaired), credits.
// A v1 submission's attempt is its rank among the song's answered or open
// submissions, so the current attempt is the latest one, as v1 read it.
const char* kSchemaV2 = R"sql(
ALTER TABLE submissions ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;
ALTER TABLE songs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;
ALTER TABLE files ADD COLUMN mtime_ns INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clips ADD COLUMN credits_used INTEGER;
UPDATE submissions SET attempt = MAX(1, (SELECT COUNT(*) FROM submissions s2
  WHERE s2.song_key = submissions.song_key AND s2.id <= submissions.id AND s2.state != 'rejected'));
UPDATE songs SET attempt = COALESCE((SELECT MAX(attempt) FROM submissions s WHERE s.song_key = songs.song_key), 1);
)sql";

// v4 (#18): the key of a pool each request went out with, by fingerprint
// (never the key): a song is polled with the key that submitted it.
const char* kSchemaKeys = R"sql(
ALTER TABLE submissions ADD COLUMN key_fp TEXT NOT NULL DEFAULT '';
)sql";

// v6 (#20): a count of every change to what a run bought and made (songs,
// submissions, clips, files, analysis), kept by triggers so that every
// writer counts, this setlist's other commands and SQL by hand included.
// A run that found nothing to do compares it with the count its last
// finished run left (run.cpp: the settled record), instead of reading every
// song. Timeline and meta rows are not counted: they describe runs.
std::string schema_changes_sql() {
  std::string sql = "INSERT OR IGNORE INTO meta(key, value) VALUES('changes', '0');\n";
  for (const char* table : {"songs", "submissions", "clips", "files", "analysis"})
    for (const char* op : {"INSERT", "UPDATE", "DELETE"})
      sql += std::string("CREATE TRIGGER IF NOT EXISTS count_") + table + "_" + op + " AFTER " + op + " ON " + table +
             " BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'changes'; END;\n";
  return sql;
}

JournalEntry receipt_of(JournalEntry::Kind kind, std::string song_key, std::int64_t submission = 0) {
  JournalEntry e;
  e.kind = kind;
  e.song_key = std::move(song_key);
  e.submission = submission;
  e.at = unix_millis_now();
  return e;
}

}  // namespace

struct StateStore::Impl {
  sqlite3* db = nullptr;
  std::unique_ptr<journal::Writer> journal;
  ~Impl() {
    if (db) {
      if (batch_open && sqlite3_get_autocommit(db) == 0)  // what gathered is kept
        sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
      StmtCache::detach(db);
      sqlite3_close(db);
    }
  }
  void exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : "unknown error";
      sqlite3_free(err);
      throw StateError("state: " + msg);
    }
  }
  // A transaction committed with synchronous=FULL: the receipts that decide
  // whether money was spent must survive power loss, not only a crash.
  // What a group commit gathered is committed first, on its own.
  template <class F>
  void durable(F&& f) {
    commit_batch();
    exec("PRAGMA synchronous=FULL");
    own_transaction(std::forward<F>(f));
    exec("PRAGMA synchronous=NORMAL");
  }
  template <class F>
  void transaction(F&& f) {
    if (batching) {
      // Inside the group's transaction: all of f, or none of it.
      open_batch();
      exec("SAVEPOINT w");
      try {
        f();
        exec("RELEASE w");
      } catch (...) {
        sqlite3_exec(db, "ROLLBACK TO w", nullptr, nullptr, nullptr);
        sqlite3_exec(db, "RELEASE w", nullptr, nullptr, nullptr);
        throw;
      }
      return;
    }
    own_transaction(std::forward<F>(f));
  }
  // A transaction of its own, committed before this returns.
  template <class F>
  void own_transaction(F&& f) {
    exec("BEGIN IMMEDIATE");
    try {
      f();
      exec("COMMIT");
    } catch (...) {
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
  }
  // Group commit (StateStore::batch_writes).
  bool batching = false;
  bool batch_open = false;
  void open_batch() {
    if (batch_open || sqlite3_get_autocommit(db) == 0) return;
    exec("BEGIN IMMEDIATE");
    batch_open = true;
  }
  void commit_batch() {
    if (!batch_open) return;
    if (sqlite3_get_autocommit(db) == 0) exec("COMMIT");  // throws with the batch still open
    batch_open = false;
  }
};

StateStore::StateStore() : impl_(std::make_unique<Impl>()) {}

StateReadBatch::StateReadBatch(StateStore& s) {
  if (!s.impl_->db || sqlite3_get_autocommit(s.impl_->db) == 0) return;
  if (sqlite3_exec(s.impl_->db, "BEGIN", nullptr, nullptr, nullptr) == SQLITE_OK) s_ = &s;
}

StateReadBatch::~StateReadBatch() {
  if (s_ && sqlite3_get_autocommit(s_->impl_->db) == 0) sqlite3_exec(s_->impl_->db, "COMMIT", nullptr, nullptr, nullptr);
}
StateStore::~StateStore() = default;

Result<std::unique_ptr<StateStore>> StateStore::open(const std::filesystem::path& db_file) {
  std::unique_ptr<StateStore> s(new StateStore());
  if (sqlite3_open_v2(db_file.c_str(), &s->impl_->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    Error e;
    e.kind = ErrorKind::io;
    e.message = "cannot open state " + db_file.string() + ": " +
                (s->impl_->db ? sqlite3_errmsg(s->impl_->db) : "out of memory");
    return e;
  }
  StmtCache::attach(s->impl_->db);
  try {
    sqlite3_busy_timeout(s->impl_->db, 5000);
    s->impl_->exec("PRAGMA journal_mode=WAL");
    s->impl_->exec("PRAGMA synchronous=NORMAL");
    s->impl_->exec("PRAGMA foreign_keys=ON");
    int version = 0;
    {
      Stmt st(s->impl_->db, "PRAGMA user_version");
      if (st.step()) version = static_cast<int>(st.i64(0));
    }
    std::int64_t app_id = 0;
    {
      Stmt st(s->impl_->db, "PRAGMA application_id");
      if (st.step()) app_id = st.i64(0);
    }
    auto foreign = [&](const std::string& why) {
      Error e;
      e.kind = ErrorKind::invalid;
      e.message = db_file.string() + " is not a setlist state database (" + why + "); setlist will not write into it";
      return e;
    };
    if (version > schema_version) {
      Error e;
      e.kind = ErrorKind::invalid;
      e.message = "state " + db_file.string() + " has schema version " + std::to_string(version) +
                  ", newer than this setlist understands (" + std::to_string(schema_version) +
                  "); use a newer setlist";
      return e;
    }
    if (app_id != 0 && app_id != application_id) return foreign("another program's application id");
    {
      Stmt st(s->impl_->db, "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'");
      std::set<std::string> tables;
      while (st.step()) tables.insert(st.text(0));
      if (version == 0 && !tables.empty()) return foreign("it holds tables setlist did not make");
      if (version > 0)
        for (const char* t : {"meta", "songs", "submissions", "clips", "files"})
          if (!tables.count(t)) return foreign(std::string("it has no `") + t + "` table");
    }
    // Migrations: one step per version, each in its own transaction.
    if (version < 1) {
      s->impl_->durable([&] {
        s->impl_->exec(kSchemaV1);
        s->impl_->exec("PRAGMA user_version=1");
      });
    }
    if (version < 2) {
      s->impl_->durable([&] {
        s->impl_->exec(kSchemaV2);
        s->impl_->exec("PRAGMA user_version=2");
      });
    }
    if (version < 3) {
      s->impl_->durable([&] {
        s->impl_->exec(kSchemaAnalysis);
        s->impl_->exec("PRAGMA user_version=3");
      });
    }
    if (version < 4) {
      s->impl_->durable([&] {
        // (a database put back to an older version number may have it already)
        bool has_key_fp = false;
        {
          Stmt st(s->impl_->db, "SELECT 1 FROM pragma_table_info('submissions') WHERE name='key_fp'");
          has_key_fp = st.step();
        }
        if (!has_key_fp) s->impl_->exec(kSchemaKeys);
        s->impl_->exec("PRAGMA user_version=4");
      });
    }
    if (version < 5) {
      s->impl_->durable([&] {
        s->impl_->exec(kSchemaTimeline);
        s->impl_->exec("PRAGMA user_version=5");
      });
    }
    if (version < 6) {
      s->impl_->durable([&] {
        s->impl_->exec(schema_changes_sql().c_str());
        s->impl_->exec("PRAGMA user_version=6");
      });
    }
    if (app_id == 0)  // a new database, or one made before setlist marked its own
      s->impl_->exec(("PRAGMA application_id=" + std::to_string(application_id)).c_str());
    s->impl_->journal = std::make_unique<journal::Writer>(db_file.parent_path() / "receipts.jsonl");
  } catch (const StateError& ex) {
    Error e;
    e.kind = ErrorKind::io;
    e.message = ex.what();
    return e;
  }
  return s;
}

namespace {
std::vector<std::string> split_words(const std::string& s);
std::vector<float> waveform_of(const std::string& s);

SongRow read_song(Stmt& st) {
  SongRow r;
  r.key = st.text(0);
  r.song_id = st.text(1);
  r.title = st.text(2);
  r.track = static_cast<int>(st.i64(3));
  r.status = parse_song_status(st.text(4));
  r.reason = st.text(5);
  r.attempts = static_cast<int>(st.i64(6));
  r.created_at = st.i64(7);
  r.updated_at = st.i64(8);
  r.submitted_at = st.i64(9);
  r.completed_at = st.i64(10);
  r.attempt = static_cast<int>(st.i64(11));
  return r;
}
constexpr const char* kSongCols =
    "song_key, song_id, title, track, status, reason, attempts, created_at, updated_at, submitted_at, completed_at, "
    "attempt";

ClipRow read_clip(Stmt& st) {
  ClipRow c;
  c.clip_id = st.text(0);
  c.song_key = st.text(1);
  c.submission_id = st.i64(2);
  c.take = static_cast<int>(st.i64(3));
  c.status = st.text(4);
  c.audio_url = st.text(5);
  c.image_url = st.text(6);
  c.duration = st.opt_double(7);
  c.error_message = st.text(8);
  c.raw_json = st.text(9);
  c.updated_at = st.i64(10);
  if (auto credits = st.opt_double(11)) c.credits_used = static_cast<long long>(*credits);
  return c;
}
constexpr const char* kClipCols =
    "clip_id, song_key, submission_id, take, status, audio_url, image_url, duration, error_message, raw_json, "
    "updated_at, credits_used";

SubmissionRow read_submission(Stmt& st) {
  SubmissionRow r;
  r.id = st.i64(0);
  r.song_key = st.text(1);
  r.payload_hash = st.text(2);
  r.state = st.text(3);
  r.http_status = static_cast<int>(st.i64(4));
  r.error = st.text(5);
  r.created_at = st.i64(6);
  r.acked_at = st.i64(7);
  r.attempt = static_cast<int>(st.i64(8));
  r.key_fp = st.text(9);
  return r;
}
constexpr const char* kSubCols =
    "id, song_key, payload_hash, state, http_status, error, created_at, acked_at, attempt, key_fp";

constexpr const char* kFileCols = "path, song_key, clip_id, kind, bytes, sha256, source_sha256, created_at, mtime_ns";
FileRow read_file_row(Stmt& st) {
  FileRow f;
  f.path = st.text(0);
  f.song_key = st.text(1);
  f.clip_id = st.text(2);
  f.kind = st.text(3);
  f.bytes = static_cast<std::uint64_t>(st.i64(4));
  f.sha256 = st.text(5);
  f.source_sha256 = st.text(6);
  f.created_at = st.i64(7);
  f.mtime_ns = st.i64(8);
  return f;
}

constexpr const char* kAnalysisCols =
    "clip_id, song_key, source_sha256, integrated_lufs, loudness_range, true_peak, sample_peak, duration, "
    "sample_rate, channels, longest_silence, clipped_runs, waveform, blocks, flags";
std::vector<float> waveform_fast(std::string_view s);

// `waveforms`, `blocks`: false when the query selected '' for them (the
// reports' first pass); `fast`: waveform_fast's parsing.
AnalysisRow read_analysis_row(Stmt& st, bool waveforms = true, bool blocks = true, bool fast = false) {
  AnalysisRow r;
  r.clip_id = st.text(0);
  r.song_key = st.text(1);
  r.source_sha256 = st.text(2);
  r.audio.integrated_lufs = st.opt_double(3);
  r.audio.loudness_range_lu = st.opt_double(4).value_or(0);
  r.audio.true_peak = st.opt_double(5);
  r.audio.sample_peak = st.opt_double(6).value_or(0);
  r.audio.duration_seconds = st.opt_double(7).value_or(0);
  r.audio.sample_rate = static_cast<int>(st.i64(8));
  r.audio.channels = static_cast<int>(st.i64(9));
  r.audio.longest_silence_seconds = st.opt_double(10).value_or(0);
  r.audio.clipped_runs = static_cast<std::uint64_t>(st.i64(11));
  if (waveforms) r.audio.waveform = fast ? waveform_fast(st.text(12)) : waveform_of(st.text(12));
  if (blocks) r.audio.blocks = BlockHistogram::decode(st.text(13)).value_or(BlockHistogram{});
  r.flags = split_words(st.text(14));
  return r;
}

}  // namespace


std::optional<SongRow> StateStore::song(const std::string& key) {
  Stmt st(impl_->db, (std::string("SELECT ") + kSongCols + " FROM songs WHERE song_key=?").c_str());
  st.bind(1, key);
  if (st.step()) return read_song(st);
  return std::nullopt;
}

std::vector<SongRow> StateStore::songs() {
  Stmt st(impl_->db, (std::string("SELECT ") + kSongCols + " FROM songs ORDER BY track, title").c_str());
  std::vector<SongRow> out;
  while (st.step()) out.push_back(read_song(st));
  return out;
}

void StateStore::upsert_song(const SongRow& row) {
  auto now = unix_millis_now();
  Stmt st(impl_->db,
          "INSERT INTO songs(song_key, song_id, title, track, status, created_at, updated_at) VALUES(?,?,?,?,?,?,?) "
          "ON CONFLICT(song_key) DO UPDATE SET song_id=excluded.song_id, title=excluded.title, track=excluded.track "
          "WHERE song_id IS NOT excluded.song_id OR title IS NOT excluded.title OR track IS NOT excluded.track");
  st.bind(1, row.key).bind(2, row.song_id).bind(3, row.title).bind(4, row.track).bind(5, std::string(to_string(row.status))).bind(6, now).bind(
      7, now);
  st.run();
}

void StateStore::set_song_status(const std::string& key, SongStatus status, const std::string& reason) {
  auto now = unix_millis_now();
  const std::string text(to_string(status));
  Stmt st(impl_->db,
          "UPDATE songs SET status=?, reason=?, updated_at=?, "
          "completed_at=CASE WHEN ?='complete' THEN ? ELSE completed_at END WHERE song_key=?");
  st.bind(1, text).bind(2, reason).bind(3, now).bind(4, text).bind(5, now).bind(6, key);
  st.run();
  if (status == SongStatus::superseded && impl_->journal)
    impl_->journal->append(receipt_of(JournalEntry::Kind::superseded, key), false);
  if (status == SongStatus::failed && impl_->journal) {  // so that a recovery keeps "failed before"
    auto e = receipt_of(JournalEntry::Kind::failed, key);
    e.error = reason;
    impl_->journal->append(e, false);
  }
}

int StateStore::new_attempt(const std::string& key) {
  int attempt = 1;
  impl_->durable([&] {
    Stmt up(impl_->db, "UPDATE songs SET attempt=attempt+1, updated_at=? WHERE song_key=?");
    up.bind(1, unix_millis_now()).bind(2, key);
    up.run();
    Stmt q(impl_->db, "SELECT attempt FROM songs WHERE song_key=?");
    q.bind(1, key);
    if (q.step()) attempt = static_cast<int>(q.i64(0));
  });
  if (impl_->journal) {
    auto e = receipt_of(JournalEntry::Kind::attempt, key);
    e.attempt = attempt;
    impl_->journal->append(e, true);
  }
  return attempt;
}

std::int64_t StateStore::record_intent(const std::string& song_key, const std::string& payload_hash, int attempt,
                                       const std::string& key_fp) {
  std::int64_t id = 0;
  auto receipt = receipt_of(JournalEntry::Kind::intent, song_key);
  receipt.payload_hash = payload_hash;
  receipt.attempt = attempt;
  receipt.key_fp = key_fp;
  impl_->durable([&] {
    auto now = unix_millis_now();
    receipt.at = now;
    {
      Stmt q(impl_->db, "SELECT song_id, title, track FROM songs WHERE song_key=?");
      q.bind(1, song_key);
      if (q.step()) {
        receipt.song_id = q.text(0);
        receipt.title = q.text(1);
        receipt.track = static_cast<int>(q.i64(2));
      }
    }
    Stmt ins(impl_->db,
             "INSERT INTO submissions(song_key, payload_hash, state, created_at, attempt, key_fp) "
             "VALUES(?,?,'intent',?,?,?)");
    ins.bind(1, song_key).bind(2, payload_hash).bind(3, now).bind(4, attempt).bind(5, key_fp);
    ins.run();
    id = sqlite3_last_insert_rowid(impl_->db);
    Stmt up(impl_->db,
            "UPDATE songs SET status='submitting', reason='', attempts=attempts+1, updated_at=?, submitted_at=? "
            "WHERE song_key=?");
    up.bind(1, now).bind(2, now).bind(3, song_key);
    up.run();
  });
  // After the commit, before the request: a receipt that cannot be kept
  // stops the run here (StateError), and the intent left in the database
  // makes the song uncertain rather than bought twice.
  receipt.submission = id;
  if (impl_->journal) impl_->journal->append(receipt, true);
  return id;
}

void StateStore::record_ack(std::int64_t submission_id, const std::vector<Clip>& clips) {
  auto receipt = receipt_of(JournalEntry::Kind::ack, {}, submission_id);
  for (auto& c : clips) receipt.clip_ids.push_back(c.id);
  impl_->durable([&] {
    auto now = unix_millis_now();
    std::string key;
    {
      Stmt q(impl_->db, "SELECT song_key FROM submissions WHERE id=?");
      q.bind(1, submission_id);
      if (!q.step()) throw StateError("state: unknown submission " + std::to_string(submission_id));
      key = q.text(0);
    }
    receipt.song_key = key;
    receipt.at = now;
    Stmt up(impl_->db, "UPDATE submissions SET state='acked', acked_at=? WHERE id=?");
    up.bind(1, now).bind(2, submission_id);
    up.run();
    int take = 0;
    for (auto& c : clips) {
      Stmt ins(impl_->db,
               "INSERT INTO clips(clip_id, song_key, submission_id, take, status, audio_url, image_url, duration, "
               "error_message, raw_json, updated_at) VALUES(?,?,?,?,?,?,?,?,?,?,?) "
               "ON CONFLICT(clip_id) DO UPDATE SET song_key=excluded.song_key, submission_id=excluded.submission_id, "
               "take=excluded.take WHERE clips.song_key=excluded.song_key");  // never another song's clip
      ins.bind(1, c.id).bind(2, key).bind(3, submission_id).bind(4, take++).bind(5, std::string(to_string(c.status)));
      ins.bind(6, c.audio_url).bind(7, c.image_url).bind(8, c.duration).bind(9, c.error_message).bind(10, c.raw_json);
      ins.bind(11, now);
      ins.run();
    }
    Stmt song(impl_->db, "UPDATE songs SET status='submitted', reason='', updated_at=? WHERE song_key=?");
    song.bind(1, now).bind(2, key);
    song.run();
  });
  // No sync of its own: the next intent's fdatasync (or the end of the run)
  // makes it durable with every line before it, one sync per request.
  if (impl_->journal) impl_->journal->append(receipt, false);
}

void StateStore::record_rejected(std::int64_t submission_id, int http_status, const std::string& error) {
  close_submission(submission_id, "rejected", http_status, error, true);
}

void StateStore::record_uncertain(std::int64_t submission_id, const std::string& error) {
  close_submission(submission_id, "uncertain", 0, error, false);
}

void StateStore::close_submission(std::int64_t submission_id, const char* state, int http_status,
                                  const std::string& error, bool refused) {
  auto receipt =
      receipt_of(refused ? JournalEntry::Kind::rejected : JournalEntry::Kind::uncertain, {}, submission_id);
  receipt.http_status = http_status;
  receipt.error = error;
  impl_->durable([&] {
    {
      Stmt q(impl_->db, "SELECT song_key FROM submissions WHERE id=?");
      q.bind(1, submission_id);
      if (q.step()) receipt.song_key = q.text(0);
    }
    Stmt up(impl_->db, "UPDATE submissions SET state=?, http_status=?, error=? WHERE id=?");
    up.bind(1, std::string(state)).bind(2, http_status).bind(3, error).bind(4, submission_id);
    up.run();
    if (refused) {
      // Nothing was accepted: the song is back where it was before the intent.
      Stmt song(impl_->db,
                "UPDATE songs SET status='pending', updated_at=? WHERE status='submitting' AND song_key="
                "(SELECT song_key FROM submissions WHERE id=?)");
      song.bind(1, unix_millis_now()).bind(2, submission_id);
      song.run();
    }
  });
  // No sync of its own: the next intent's fdatasync (or the end of the run)
  // makes it durable with every line before it, one sync per request.
  if (impl_->journal) impl_->journal->append(receipt, false);
}

std::vector<SubmissionRow> StateStore::submissions(const std::string& song_key) {
  Stmt st(impl_->db, (std::string("SELECT ") + kSubCols + " FROM submissions WHERE song_key=? ORDER BY id").c_str());
  st.bind(1, song_key);
  std::vector<SubmissionRow> out;
  while (st.step()) out.push_back(read_submission(st));
  return out;
}

std::vector<SubmissionRow> StateStore::dangling_intents() {
  Stmt st(impl_->db, (std::string("SELECT ") + kSubCols + " FROM submissions WHERE state='intent' ORDER BY id").c_str());
  std::vector<SubmissionRow> out;
  while (st.step()) out.push_back(read_submission(st));
  return out;
}

std::vector<ClipRow> StateStore::attempt_clips(const std::string& song_key) {
  Stmt st(impl_->db, (std::string("SELECT ") + kClipCols +
                      " FROM clips WHERE song_key=? AND submission_id IN (SELECT s.id FROM submissions s JOIN songs g "
                      "ON g.song_key=s.song_key WHERE s.song_key=? AND s.attempt=g.attempt) "
                      "ORDER BY submission_id, take")
                         .c_str());
  st.bind(1, song_key).bind(2, song_key);
  std::vector<ClipRow> out;
  while (st.step()) out.push_back(read_clip(st));
  return out;
}

void StateStore::update_clips(const std::vector<Clip>& clips) {
  if (clips.empty()) return;
  impl_->transaction([&] {
    auto now = unix_millis_now();
    for (auto& c : clips) {
      Stmt up(impl_->db,
              "UPDATE clips SET status=?, audio_url=?, image_url=?, duration=COALESCE(?, duration), "
              "error_message=?, raw_json=?, updated_at=?, credits_used=COALESCE(?, credits_used) WHERE clip_id=?");
      up.bind(1, std::string(to_string(c.status))).bind(2, c.audio_url).bind(3, c.image_url).bind(4, c.duration);
      up.bind(5, c.error_message).bind(6, c.raw_json).bind(7, now);
      if (c.credits_used)
        up.bind(8, static_cast<std::int64_t>(*c.credits_used));
      else
        up.bind(8, std::optional<double>{});
      up.bind(9, c.id);
      up.run();
    }
  });
}

std::vector<ClipRow> StateStore::clips(const std::string& song_key) {
  Stmt st(impl_->db,
          (std::string("SELECT ") + kClipCols + " FROM clips WHERE song_key=? ORDER BY submission_id, take").c_str());
  st.bind(1, song_key);
  std::vector<ClipRow> out;
  while (st.step()) out.push_back(read_clip(st));
  return out;
}

std::optional<std::string> StateStore::clip_owner(const std::string& clip_id) {
  Stmt st(impl_->db, "SELECT song_key FROM clips WHERE clip_id=?");
  st.bind(1, clip_id);
  if (!st.step()) return std::nullopt;
  return st.text(0);
}

std::vector<ClipRow> StateStore::all_clips() {
  Stmt st(impl_->db, (std::string("SELECT ") + kClipCols + " FROM clips ORDER BY song_key, submission_id, take").c_str());
  std::vector<ClipRow> out;
  while (st.step()) out.push_back(read_clip(st));
  return out;
}

void StateStore::record_file(const FileRow& row) {
  // Not a money receipt: a row lost to a power cut means a download again.
  impl_->transaction([&] {
    Stmt st(impl_->db,
            "INSERT INTO files(path, song_key, clip_id, kind, bytes, sha256, source_sha256, created_at, mtime_ns) "
            "VALUES(?,?,?,?,?,?,?,?,?) ON CONFLICT(path) DO UPDATE SET song_key=excluded.song_key, "
            "clip_id=excluded.clip_id, kind=excluded.kind, bytes=excluded.bytes, sha256=excluded.sha256, "
            "source_sha256=excluded.source_sha256, created_at=excluded.created_at, mtime_ns=excluded.mtime_ns");
    st.bind(1, row.path).bind(2, row.song_key).bind(3, row.clip_id).bind(4, row.kind);
    st.bind(5, static_cast<std::int64_t>(row.bytes)).bind(6, row.sha256).bind(7, row.source_sha256);
    st.bind(8, row.created_at ? row.created_at : unix_millis_now()).bind(9, row.mtime_ns);
    st.run();
  });
  // Not a money receipt: no fsync of its own (the next receipt's carries it).
  if (impl_->journal) {
    auto e = receipt_of(JournalEntry::Kind::file, row.song_key);
    e.file = row;
    impl_->journal->append(e, false);
  }
}

std::vector<FileRow> StateStore::files(const std::string& song_key) {
  // Every row: one pass over the table and a sort, not the path index's
  // order (a page read for each row of a large album).
  std::string sql = std::string("SELECT ") + kFileCols + " FROM files" +
                    std::string(song_key.empty() ? " NOT INDEXED" : " WHERE song_key=?") + " ORDER BY path";
  Stmt st(impl_->db, sql.c_str());
  if (!song_key.empty()) st.bind(1, song_key);
  std::vector<FileRow> out;
  while (st.step()) out.push_back(read_file_row(st));
  return out;
}

void StateStore::each_file(const std::function<void(const FileRow&)>& fn) {
  Stmt st(impl_->db, (std::string("SELECT ") + kFileCols + " FROM files").c_str());
  while (st.step()) fn(read_file_row(st));
}

namespace {
std::string join_words(const std::vector<std::string>& v) {
  std::string s;
  for (auto& w : v) s += (s.empty() ? "" : ",") + w;
  return s;
}
std::vector<std::string> split_words(const std::string& s) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < s.size()) {
    auto comma = s.find(',', pos);
    if (comma == std::string::npos) comma = s.size();
    if (comma > pos) out.push_back(s.substr(pos, comma - pos));
    pos = comma + 1;
  }
  return out;
}
std::string waveform_text(const std::vector<float>& w) {
  std::string s;
  char buf[16];
  for (float v : w) {
    int n = std::snprintf(buf, sizeof buf, "%.4g", static_cast<double>(v));
    if (!s.empty()) s += ',';
    s.append(buf, static_cast<std::size_t>(n));
  }
  return s;
}
std::vector<float> waveform_of(const std::string& s) {
  std::vector<float> out;
  for (auto& w : split_words(s)) out.push_back(std::strtof(w.c_str(), nullptr));
  return out;
}
}  // namespace

void StateStore::record_analysis(const AnalysisRow& row) {
  impl_->transaction([&] {
    Stmt st(impl_->db,
            "INSERT OR REPLACE INTO analysis(clip_id, song_key, source_sha256, integrated_lufs, loudness_range, "
            "true_peak, sample_peak, duration, sample_rate, channels, longest_silence, clipped_runs, waveform, "
            "blocks, flags, created_at) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    const auto& a = row.audio;
    st.bind(1, row.clip_id).bind(2, row.song_key).bind(3, row.source_sha256).bind(4, a.integrated_lufs);
    st.bind(5, std::optional<double>(a.loudness_range_lu)).bind(6, a.true_peak);
    st.bind(7, std::optional<double>(a.sample_peak)).bind(8, std::optional<double>(a.duration_seconds));
    st.bind(9, a.sample_rate).bind(10, a.channels).bind(11, std::optional<double>(a.longest_silence_seconds));
    st.bind(12, static_cast<std::int64_t>(a.clipped_runs)).bind(13, waveform_text(a.waveform));
    st.bind(14, a.blocks.encode()).bind(15, join_words(row.flags)).bind(16, unix_millis_now());
    st.run();
  });
}

std::vector<AnalysisRow> StateStore::analyses(const std::string& song_key) {
  std::string sql = std::string("SELECT ") + kAnalysisCols + " FROM analysis" +
                    std::string(song_key.empty() ? "" : " WHERE song_key=?") + " ORDER BY song_key, clip_id";
  Stmt st(impl_->db, sql.c_str());
  if (!song_key.empty()) st.bind(1, song_key);
  std::vector<AnalysisRow> out;
  while (st.step()) out.push_back(read_analysis_row(st));
  return out;
}

void StateStore::record_timeline(const TimelineRow& row) { record_timeline(std::vector<TimelineRow>{row}); }

void StateStore::record_timeline(const std::vector<TimelineRow>& rows) {
  if (rows.empty()) return;
  impl_->transaction([&] {
    for (auto& row : rows) {
      Stmt st(impl_->db, "INSERT INTO timeline(run, song_key, kind, at, ms, detail) VALUES(?,?,?,?,?,?)");
      st.bind(1, row.run).bind(2, row.song_key).bind(3, row.kind).bind(4, row.at).bind(5, row.ms).bind(6, row.detail);
      st.run();
    }
  });
}

std::vector<TimelineRow> StateStore::timeline() {
  std::vector<TimelineRow> out;
  for_each_timeline([&](const TimelineRow& r) { out.push_back(r); });
  return out;
}

void StateStore::forget_files(const std::string& song_key) {
  Stmt st(impl_->db, "DELETE FROM files WHERE song_key=?");
  st.bind(1, song_key);
  st.run();
  if (impl_->journal) impl_->journal->append(receipt_of(JournalEntry::Kind::forget_files, song_key), false);
}

std::vector<std::string> StateStore::clip_ids() {
  Stmt st(impl_->db, "SELECT clip_id FROM clips");
  std::vector<std::string> out;
  while (st.step()) out.push_back(st.text(0));
  return out;
}

bool StateStore::has_clip(const std::string& clip_id) {
  Stmt st(impl_->db, "SELECT 1 FROM clips WHERE clip_id=?");
  st.bind(1, clip_id);
  return st.step();
}

std::optional<std::string> StateStore::quick_check() {
  try {
    Stmt st(impl_->db, "PRAGMA quick_check");
    std::string problems;
    while (st.step()) {
      auto line = st.text(0);
      if (line == "ok") continue;
      problems += (problems.empty() ? "" : "; ") + line;
    }
    if (problems.empty()) return std::nullopt;
    return problems;
  } catch (const StateError& e) {
    return std::string(e.what());
  }
}

std::vector<SubmissionRow> StateStore::all_submissions() {
  Stmt st(impl_->db, (std::string("SELECT ") + kSubCols + " FROM submissions ORDER BY id").c_str());
  std::vector<SubmissionRow> out;
  while (st.step()) out.push_back(read_submission(st));
  return out;
}

void StateStore::apply_journal(const std::vector<JournalEntry>& entries, const std::filesystem::path& out_dir) {
  using K = JournalEntry::Kind;
  std::set<std::string> touched;
  impl_->durable([&] {
    for (auto& e : entries) {
      if (!e.song_key.empty()) touched.insert(e.song_key);
      switch (e.kind) {
        case K::intent: {
          Stmt song(impl_->db,
                    "INSERT INTO songs(song_key, song_id, title, track, status, created_at, updated_at) "
                    "VALUES(?,?,?,?,'pending',?,?) ON CONFLICT(song_key) DO NOTHING");
          song.bind(1, e.song_key).bind(2, e.song_id).bind(3, e.title).bind(4, e.track).bind(5, e.at).bind(6, e.at);
          song.run();
          Stmt sub(impl_->db,
                   "INSERT INTO submissions(id, song_key, payload_hash, state, created_at, attempt, key_fp) "
                   "VALUES(?,?,?,'intent',?,?,?) ON CONFLICT(id) DO NOTHING");
          sub.bind(1, e.submission).bind(2, e.song_key).bind(3, e.payload_hash).bind(4, e.at).bind(5, e.attempt).bind(
              6, e.key_fp);
          sub.run();
          if (sqlite3_changes(impl_->db) > 0) {
            Stmt up(impl_->db,
                    "UPDATE songs SET attempts=attempts+1, attempt=MAX(attempt, ?), submitted_at=? WHERE song_key=?");
            up.bind(1, e.attempt).bind(2, e.at).bind(3, e.song_key);
            up.run();
          }
          break;
        }
        case K::ack: {
          Stmt up(impl_->db,
                  "UPDATE submissions SET state='acked', acked_at=? WHERE id=? AND song_key=? AND state!='acked'");
          up.bind(1, e.at).bind(2, e.submission).bind(3, e.song_key);
          up.run();
          if (sqlite3_changes(impl_->db) == 0 && !has_submission(e.submission, e.song_key)) break;
          int take = 0;
          for (auto& id : e.clip_ids) {
            Stmt ins(impl_->db,
                     "INSERT INTO clips(clip_id, song_key, submission_id, take, status, updated_at) "
                     "VALUES(?,?,?,?,?,?) ON CONFLICT(clip_id) DO NOTHING");
            ins.bind(1, id).bind(2, e.song_key).bind(3, e.submission).bind(4, take++);
            ins.bind(5, std::string(to_string(ClipStatus::queued))).bind(6, e.at);
            ins.run();
          }
          break;
        }
        case K::rejected:
        case K::uncertain: {
          Stmt up(impl_->db, "UPDATE submissions SET state=?, http_status=?, error=? WHERE id=? AND state='intent'");
          up.bind(1, std::string(e.kind == K::rejected ? "rejected" : "uncertain")).bind(2, e.http_status);
          up.bind(3, e.error).bind(4, e.submission);
          up.run();
          break;
        }
        case K::attempt: {
          Stmt up(impl_->db, "UPDATE songs SET attempt=MAX(attempt, ?), status='pending' WHERE song_key=?");
          up.bind(1, e.attempt).bind(2, e.song_key);
          up.run();
          break;
        }
        case K::superseded: {
          Stmt up(impl_->db, "UPDATE songs SET status='superseded' WHERE song_key=?");
          up.bind(1, e.song_key);
          up.run();
          break;
        }
        case K::failed: {
          Stmt up(impl_->db, "UPDATE songs SET status='failed', reason=? WHERE song_key=?");
          up.bind(1, e.error).bind(2, e.song_key);
          up.run();
          break;
        }
        case K::file: {
          Stmt st(impl_->db,
                  "INSERT INTO files(path, song_key, clip_id, kind, bytes, sha256, source_sha256, created_at, "
                  "mtime_ns) VALUES(?,?,?,?,?,?,?,?,?) ON CONFLICT(path) DO UPDATE SET song_key=excluded.song_key, "
                  "clip_id=excluded.clip_id, kind=excluded.kind, bytes=excluded.bytes, sha256=excluded.sha256, "
                  "source_sha256=excluded.source_sha256, created_at=excluded.created_at, mtime_ns=excluded.mtime_ns");
          auto& f = e.file;
          st.bind(1, f.path).bind(2, e.song_key).bind(3, f.clip_id).bind(4, f.kind);
          st.bind(5, static_cast<std::int64_t>(f.bytes)).bind(6, f.sha256).bind(7, f.source_sha256);
          st.bind(8, e.at).bind(9, f.mtime_ns);
          st.run();
          break;
        }
        case K::forget_files: {
          Stmt st(impl_->db, "DELETE FROM files WHERE song_key=?");
          st.bind(1, e.song_key);
          st.run();
          break;
        }
      }
    }
  });
  settle_recovered(touched, out_dir);
}

void StateStore::open_journal() {
  if (impl_->journal) impl_->journal->open();
}

bool StateStore::has_submission(std::int64_t id, const std::string& song_key) {
  Stmt st(impl_->db, "SELECT 1 FROM submissions WHERE id=? AND song_key=?");
  st.bind(1, id).bind(2, song_key);
  return st.step();
}

void StateStore::adopt_take(const FileRow& file, const std::string& title, int track, int take,
                            const std::filesystem::path& out_dir) {
  std::set<std::string> touched{file.song_key};
  std::int64_t adopted = 0;
  if (!has_clip(file.clip_id)) impl_->durable([&] {
    auto now = unix_millis_now();
    Stmt song(impl_->db,
              "INSERT INTO songs(song_key, title, track, status, created_at, updated_at) VALUES(?,?,?,'pending',?,?) "
              "ON CONFLICT(song_key) DO NOTHING");
    song.bind(1, file.song_key).bind(2, title).bind(3, track).bind(4, now).bind(5, now);
    song.run();
    // One answered submission per take: counting fewer answers than requests
    // would buy the missing ones again; more is harmless.
    Stmt sub(impl_->db,
             "INSERT INTO submissions(song_key, payload_hash, state, error, created_at, acked_at, attempt) "
             "VALUES(?, '', 'acked', ?, ?, ?, (SELECT attempt FROM songs WHERE song_key=?))");
    sub.bind(1, file.song_key).bind(2, "recovered from the tags of " + file.path).bind(3, now).bind(4, now);
    sub.bind(5, file.song_key);
    sub.run();
    const std::int64_t id = sqlite3_last_insert_rowid(impl_->db);
    Stmt up(impl_->db, "UPDATE songs SET attempts=attempts+1 WHERE song_key=?");
    up.bind(1, file.song_key);
    up.run();
    Stmt clip(impl_->db,
              "INSERT INTO clips(clip_id, song_key, submission_id, take, status, updated_at) VALUES(?,?,?,?,?,?) "
              "ON CONFLICT(clip_id) DO NOTHING");
    clip.bind(1, file.clip_id).bind(2, file.song_key).bind(3, id).bind(4, take);
    clip.bind(5, std::string(to_string(ClipStatus::complete))).bind(6, now);
    clip.run();
    adopted = id;
  });
  if (adopted && impl_->journal) {  // so that a later recovery knows this answer too
    auto row = song(file.song_key);
    auto intent = receipt_of(JournalEntry::Kind::intent, file.song_key, adopted);
    intent.song_id = row ? row->song_id : "";
    intent.title = title;
    intent.track = track;
    intent.attempt = row ? row->attempt : 1;
    impl_->journal->append(intent, false);
    auto ack = receipt_of(JournalEntry::Kind::ack, file.song_key, adopted);
    ack.clip_ids = {file.clip_id};
    impl_->journal->append(ack, true);  // a recovery: one sync for both lines
  }
  record_file(file);
  settle_recovered(touched, out_dir);
}

// After recovery: a clip whose audio is on disk as recorded is complete; a
// clip file kept in .setlist/clips/ gives back what the API said; each song's
// status follows from its receipts.
void StateStore::settle_recovered(const std::set<std::string>& keys, const std::filesystem::path& out_dir) {
  impl_->transaction([&] {
    for (auto& key : keys) {
      auto files = this->files(key);
      for (auto& c : clips(key)) {
        bool on_disk = false;
        for (auto& f : files)
          if (f.clip_id == c.clip_id && f.kind == "audio" && file_intact(out_dir, f))
            on_disk = true;
        std::string raw = c.raw_json;
        if (raw.empty())
          raw = read_small_file(out_dir / ".setlist" / "clips" / (safe_component(c.clip_id) + ".json"), 1u << 20);
        Stmt up(impl_->db, "UPDATE clips SET status=?, raw_json=? WHERE clip_id=?");
        up.bind(1, on_disk ? std::string(to_string(ClipStatus::complete)) : c.status).bind(2, raw).bind(3, c.clip_id);
        up.run();
      }
      auto row = song(key);
      if (!row || row->status == SongStatus::superseded) continue;
      auto facts = song_facts(*this, key, out_dir, 1);
      SongStatus status = SongStatus::pending;
      bool open_intent = false;
      for (auto& s : submissions(key))
        if (s.attempt == row->attempt && s.state == "intent") open_intent = true;
      if (row->status == SongStatus::failed && !open_intent && facts.unanswered == 0 && facts.acked == 0)
        continue;  // failed before, and nothing sent since: it stays failed (--retry-failed)
      if (open_intent)
        status = SongStatus::submitting;  // the next run says uncertain, with its usual words
      else if (facts.unanswered > 0)
        status = SongStatus::uncertain;
      else if (facts.acked > 0)
        status = facts.clips_waiting + facts.clips_to_fetch + facts.clips_failed == 0 && facts.clips_published > 0
                     ? SongStatus::complete
                     : SongStatus::submitted;
      set_song_status(key, status, status == SongStatus::uncertain ? "recovered: no answer was recorded" : "");
    }
  });
}

void StateStore::batch_writes(bool on) {
  if (on == impl_->batching) return;
  if (on) {
    impl_->batching = true;
    StmtCache::on_write(impl_->db, [impl = impl_.get()] {
      if (impl->batching) impl->open_batch();
    });
    return;
  }
  StmtCache::on_write(impl_->db, nullptr);
  impl_->batching = false;
  impl_->commit_batch();
}

void StateStore::commit_writes() { impl_->commit_batch(); }

void StateStore::set_meta(const std::string& key, const std::string& value) {
  Stmt st(impl_->db, "INSERT INTO meta(key, value) VALUES(?,?) ON CONFLICT(key) DO UPDATE SET value=excluded.value");
  st.bind(1, key).bind(2, value);
  st.run();
}

std::int64_t StateStore::changes() {
  Stmt st(impl_->db, "SELECT CAST(value AS INTEGER) FROM meta WHERE key='changes'");
  return st.step() ? st.i64(0) : -1;
}

std::optional<std::string> StateStore::meta(const std::string& key) {
  Stmt st(impl_->db, "SELECT value FROM meta WHERE key=?");
  st.bind(1, key);
  if (st.step()) return st.text(0);
  return std::nullopt;
}

Result<std::unique_ptr<RunLock>> RunLock::acquire(const std::filesystem::path& dir) {
  auto file = dir / "lock";
  int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    Error e;
    e.kind = ErrorKind::io;
    e.message = "cannot open " + file.string() + ": " + std::strerror(errno);
    return e;
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {};
    ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    std::string pid = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "unknown";
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    ::close(fd);
    Error e;
    e.kind = ErrorKind::invalid;
    e.message = "another setlist run (pid " + pid + ") is using " + dir.parent_path().string() +
                "; wait for it to finish or stop it first";
    return e;
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    // The lock itself is held; the pid is only informative.
  }
  return std::unique_ptr<RunLock>(new RunLock(fd));
}

bool file_intact(const std::filesystem::path& out_dir, const FileRow& f) {
  std::set<std::string> once;
  return file_intact(out_dir, f, once);
}

bool file_intact(const std::filesystem::path& out_dir, const FileRow& f, std::set<std::string>& real_folders) {
  if (state_path_problem(out_dir, f.path, &real_folders)) return false;  // damaged state: never stat'ed
  struct stat st {};
  if (::lstat((out_dir / f.path).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  if (static_cast<std::uint64_t>(st.st_size) != f.bytes) return false;
  const std::int64_t mtime = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  return f.mtime_ns == 0 || f.mtime_ns == mtime;
}

SongFacts song_facts(StateStore& state, const std::string& key, const std::filesystem::path& out_dir,
                     int requests_needed) {
  SongFacts f;
  f.requests_needed = requests_needed;
  auto row = state.song(key);
  if (!row) return f;
  f.known = true;
  f.status = row->status;
  std::set<std::int64_t> acked;
  for (auto& s : state.submissions(key)) {
    if (s.attempt != row->attempt) continue;
    if (s.state == "acked")
      acked.insert(s.id);
    else if (s.state == "intent" || s.state == "uncertain")
      ++f.unanswered;
  }
  f.acked = static_cast<int>(acked.size());
  auto files = state.files(key);
  for (auto& c : state.attempt_clips(key)) {
    auto status = parse_clip_status(c.status);
    if (status == ClipStatus::error) {
      ++f.clips_failed;
    } else if (!is_terminal(status)) {
      ++f.clips_waiting;
    } else {
      bool on_disk = false;
      for (auto& file : files)
        if (file.clip_id == c.clip_id && file.kind == "audio") on_disk = file_intact(out_dir, file);
      ++(on_disk ? f.clips_published : f.clips_to_fetch);
    }
  }
  return f;
}

RunLock::~RunLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace setlist

// #20: the reports' reads, a group of songs at a time.
namespace setlist {

namespace {
std::string in_list(std::size_t n) {
  std::string s = "(";
  for (std::size_t i = 0; i < n; ++i) s += i ? ",?" : "?";
  return s + ")";
}
// "0.1234,0.5" without a string per value (20,000 takes of 300 points).
std::vector<float> waveform_fast(std::string_view s) {
  std::vector<float> out;
  out.reserve(s.size() / 4 + 1);
  const char* p = s.data();
  const char* end = p + s.size();
  while (p < end) {
    float v = 0;
    auto r = std::from_chars(p, end, v);
    if (r.ec == std::errc()) out.push_back(v);
    p = r.ptr;
    while (p < end && *p != ',') ++p;
    if (p < end) ++p;
  }
  return out;
}
}  // namespace

StateStore::SongGroupRows StateStore::song_group_rows(const std::vector<std::string>& keys, bool waveforms,
                                                      bool blocks) {
  SongGroupRows out;
  if (keys.empty()) return out;
  const std::string in = in_list(keys.size());
  auto bind_keys = [&](Stmt& st, int from) {
    for (std::size_t i = 0; i < keys.size(); ++i) st.bind(from + static_cast<int>(i), keys[i]);
  };
  {
    Stmt st(impl_->db, (std::string("SELECT ") + kSongCols + " FROM songs WHERE song_key IN " + in).c_str());
    bind_keys(st, 1);
    while (st.step()) out.songs.push_back(read_song(st));
  }
  {
    Stmt st(impl_->db,
            ("SELECT clip_id, song_key, submission_id, take, status, '', '', duration, error_message, '', updated_at, "
             "credits_used FROM clips WHERE song_key IN " + in +
             " AND submission_id IN (SELECT s.id FROM submissions s JOIN songs g ON g.song_key=s.song_key WHERE "
             "s.song_key IN " + in + " AND s.attempt=g.attempt) ORDER BY song_key, submission_id, take")
                .c_str());
    bind_keys(st, 1);
    bind_keys(st, 1 + static_cast<int>(keys.size()));
    while (st.step()) out.clips.push_back(read_clip(st));
  }
  {
    Stmt st(impl_->db,
            (std::string("SELECT ") + kFileCols + " FROM files WHERE song_key IN " + in + " ORDER BY song_key, path")
                .c_str());
    bind_keys(st, 1);
    while (st.step()) out.files.push_back(read_file_row(st));
  }
  {
    Stmt st(impl_->db, ("SELECT clip_id, song_key, source_sha256, integrated_lufs, loudness_range, true_peak, "
                        "sample_peak, duration, sample_rate, channels, longest_silence, clipped_runs, " +
                        std::string(waveforms ? "waveform" : "''") + ", " + (blocks ? "blocks" : "''") +
                        ", flags FROM analysis WHERE song_key IN " + in + " ORDER BY song_key, clip_id")
                           .c_str());
    bind_keys(st, 1);
    while (st.step()) out.analyses.push_back(read_analysis_row(st, waveforms, blocks, /*fast=*/true));
  }
  return out;
}

void StateStore::for_each_timeline(const std::function<void(const TimelineRow&)>& f) {
  Stmt st(impl_->db, "SELECT run, song_key, kind, at, ms, detail FROM timeline ORDER BY run, id");
  TimelineRow r;
  while (st.step()) {
    r.run = st.i64(0);
    r.song_key = st.text(1);
    r.kind = st.text(2);
    r.at = st.i64(3);
    r.ms = st.i64(4);
    r.detail = st.text(5);
    f(r);
  }
}

}  // namespace setlist
