// State: the SQLite store of songs, submissions, clips and files in
// OUT/.setlist/state.db. What survives a crash lives here.
//
// SQLite failures (disk full, corruption) throw StateError: the engine turns
// them into "could not run" (exit 3) because no safe progress is possible.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "setlist/analysis.hpp"
#include "setlist/lifecycle.hpp"
#include "setlist/result.hpp"

namespace setlist {

struct Clip;

struct StateError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A song as stored. Its status is a SongStatus (lifecycle.hpp): what it
// means and what a run does with it is decided there, not here.
struct SongRow {
  std::string key;
  std::string song_id;
  std::string title;
  int track = 0;
  SongStatus status = SongStatus::pending;
  std::string reason;
  int attempts = 0;  // generate requests sent for this key
  int attempt = 1;   // the current attempt: a paid retry (--retry-failed) starts a new one
  std::int64_t created_at = 0;
  std::int64_t updated_at = 0;
  std::int64_t submitted_at = 0;
  std::int64_t completed_at = 0;
};

struct SubmissionRow {
  std::int64_t id = 0;
  std::string song_key;
  std::string payload_hash;
  std::string state;  // intent | acked | rejected | uncertain
  int attempt = 1;
  int http_status = 0;
  std::string error;
  std::int64_t created_at = 0;
  std::int64_t acked_at = 0;
  std::string key_fp;  // the pool's key it went out with (key_fingerprint); "" before v4 or without a key
};

struct ClipRow {
  std::string clip_id;
  std::string song_key;
  std::int64_t submission_id = 0;
  int take = 0;  // 0 = A, 1 = B
  std::string status;
  std::string audio_url;
  std::string image_url;
  std::optional<double> duration;
  std::optional<long long> credits_used;  // what the API says the request cost
  std::string error_message;
  std::string raw_json;
  std::int64_t updated_at = 0;
};

struct FileRow {
  std::string path;  // relative to OUT
  std::string song_key;
  std::string clip_id;
  std::string kind;  // audio | cover | lyrics | clip_json
  std::uint64_t bytes = 0;
  std::string sha256;         // of the file as published
  std::string source_sha256;  // of the bytes as downloaded (before tagging)
  std::int64_t mtime_ns = 0;  // modification time when published (0: unknown)
  std::int64_t created_at = 0;
};

// What the analysis of one published take found (#19), keyed by clip id.
// Derived data: not in the receipts journal (a recovered database analyses
// the takes again when they are downloaded again, or shows none).
struct AnalysisRow {
  std::string clip_id;
  std::string song_key;
  std::string source_sha256;  // the bytes analysed (as downloaded)
  AudioAnalysis audio;
  std::vector<std::string> flags;  // silent, clipped, short (see Settings::flag_*)
};

// One moment of a run for the run timeline (#19), schema v5's own table.
// Derived data: not in the receipts journal. `run`: the run's start (unix ms)
// names the run; song_key "" is the run itself (kinds run, end, and 429s of
// the batch poller). Kinds: run, end, submit (a generate request sent),
// accepted, 429 (a throttling answer; ms: the wait), retry (ms: the wait),
// ready (generation done: the song's downloads begin), download (a download
// slot taken), tag (ms: decoding, analysis and tagging of one take),
// done, failed.
struct TimelineRow {
  std::int64_t run = 0;
  std::string song_key;
  std::string kind;
  std::int64_t at = 0;  // unix ms
  std::int64_t ms = 0;
  std::string detail;
};

// One line of the receipts journal, OUT/.setlist/receipts.jsonl: every money
// receipt (intent, answer, refusal, unknown outcome, new attempt) and every
// published file, appended after the database commits it and, for receipts,
// fsynced before the request goes out. It never holds the key. A lost or
// damaged database is rebuilt from it (recover_state).
struct JournalEntry {
  enum class Kind { intent, ack, rejected, uncertain, attempt, superseded, failed, file, forget_files };
  Kind kind = Kind::intent;
  std::int64_t submission = 0;  // intent, ack, rejected, uncertain
  std::string song_key;
  std::string song_id, title;  // intent: the song as it was then
  int track = 0;
  std::string payload_hash;  // intent
  int attempt = 1;           // intent, attempt
  std::string key_fp;        // intent: the key's fingerprint (#18)
  std::vector<std::string> clip_ids;  // ack, in take order
  int http_status = 0;                // rejected
  std::string error;                  // rejected, uncertain; failed: the reason
  FileRow file;                       // file
  std::int64_t at = 0;                // unix ms
};

struct Journal {
  std::vector<JournalEntry> entries;
  int bad_lines = 0;  // lines that are not receipts (a torn last line after a crash counts here)
  std::uint64_t end = 0;  // the byte just past the last complete line read
};
// The receipts from byte `from` on (`from` must start a line; 0: all).
Journal read_journal(const std::filesystem::path& file, std::uint64_t from = 0);
// The same, one receipt at a time to `each`, never holding them all (a
// 10,000-song album's journal is 34 MB). `wanted`, if given, sees each raw
// line first: a line it declines is neither parsed nor counted.
struct JournalScan {
  std::uint64_t end = 0;  // as Journal::end
  int bad_lines = 0;
};
JournalScan scan_journal(const std::filesystem::path& file, std::uint64_t from,
                         const std::function<void(JournalEntry&&)>& each,
                         bool (*wanted)(std::string_view line) = nullptr);
std::filesystem::path journal_path(const std::filesystem::path& out_dir);

class StateStore {
 public:
  // Opens or creates the database, applying migrations.
  static Result<std::unique_ptr<StateStore>> open(const std::filesystem::path& db_file);
  ~StateStore();

  static constexpr int schema_version = 6;
  static constexpr int application_id = 0x53544c53;  // "STLS": PRAGMA application_id of setlist's databases

  std::optional<SongRow> song(const std::string& key);
  std::vector<SongRow> songs();
  // Inserts a song if unknown; refreshes its title, id and track otherwise.
  void upsert_song(const SongRow& row);
  void set_song_status(const std::string& key, SongStatus status, const std::string& reason = {});
  // Starts a new attempt (a paid retry); returns its number.
  int new_attempt(const std::string& key);

  // Write-ahead receipt, committed durably before the generate request; the
  // song becomes `submitting`.
  std::int64_t record_intent(const std::string& song_key, const std::string& payload_hash, int attempt,
                             const std::string& key_fp = {});
  // The answer: clip ids known. Durable; the song becomes `submitted`.
  void record_ack(std::int64_t submission_id, const std::vector<Clip>& clips);
  // The server refused: nothing was accepted. Durable, and in the same
  // transaction a `submitting` song is `pending` again (a refusal costs nothing).
  void record_rejected(std::int64_t submission_id, int http_status, const std::string& error);
  // The outcome is unknown: the request may have been accepted.
  void record_uncertain(std::int64_t submission_id, const std::string& error);
  std::vector<SubmissionRow> submissions(const std::string& song_key);
  // The clips of the song's current attempt, in submission and take order.
  std::vector<ClipRow> attempt_clips(const std::string& song_key);
  // Intents without an answer, left by a crash.
  std::vector<SubmissionRow> dangling_intents();

  void update_clips(const std::vector<Clip>& clips);
  std::vector<ClipRow> clips(const std::string& song_key);
  std::vector<ClipRow> all_clips();
  // The song a clip id is recorded for, if any.
  std::optional<std::string> clip_owner(const std::string& clip_id);

  void record_file(const FileRow& row);
  std::vector<FileRow> files(const std::string& song_key = {});
  // Every file row, in no particular order, one at a time (a large album's
  // rows are never all in memory).
  void each_file(const std::function<void(const FileRow&)>& fn);
  void forget_files(const std::string& song_key);

  // Audio analysis (schema v3's own table; nothing else reads it).
  void record_analysis(const AnalysisRow& row);
  std::vector<AnalysisRow> analyses(const std::string& song_key = {});

  // #20, for the reports: the rows of a group of songs in four statements
  // (not four per song). Songs in no particular order; clips of each song's
  // current attempt (as attempt_clips, without raw_json and URLs), files and
  // analyses by song key. `waveforms` / `blocks`: false leaves
  // AnalysisRow::audio.waveform / .blocks empty (not parsed).
  struct SongGroupRows {
    std::vector<SongRow> songs;
    std::vector<ClipRow> clips;
    std::vector<FileRow> files;
    std::vector<AnalysisRow> analyses;
  };
  SongGroupRows song_group_rows(const std::vector<std::string>& keys, bool waveforms, bool blocks);
  // The timeline rows one at a time, in run and insertion order (never all in memory).
  void for_each_timeline(const std::function<void(const TimelineRow&)>& f);

  // The run timeline (schema v5's own table), in run and insertion order.
  void record_timeline(const TimelineRow& row);
  void record_timeline(const std::vector<TimelineRow>& rows);  // in one transaction
  std::vector<TimelineRow> timeline();

  // Every submission by id, and whether each clip id is known: for comparing
  // the database with the receipts journal.
  std::vector<SubmissionRow> all_submissions();
  std::vector<std::string> clip_ids();
  bool has_clip(const std::string& clip_id);
  bool has_submission(std::int64_t id, const std::string& song_key);
  // SQLite's quick_check: nullopt when the database is sound, else what it found.
  std::optional<std::string> quick_check();

  // Adds what the journal holds and the database lacks (recover_state): one
  // transaction; rows already present are kept. Song statuses are derived
  // again from the receipts and the files in `out_dir`.
  void apply_journal(const std::vector<JournalEntry>& entries, const std::filesystem::path& out_dir);
  // A take found on disk with setlist's tags but in no receipt (the journal
  // lost too): recorded as answered and published, so it is never bought again.
  void adopt_take(const FileRow& file, const std::string& title, int track, int take,
                  const std::filesystem::path& out_dir);
  // Opens the receipts journal now (a run does, before anything is
  // recorded): a journal that cannot be written stops the run with nothing sent.
  void open_journal();

  // Group commit (#20): while on, writes that carry no receipt of money
  // (statuses, clips' progress, files, analysis, timeline, meta) gather in
  // one open transaction, committed by commit_writes() (the engine: every
  // 200 ms), by batch_writes(false), and by the store's end. A write that
  // records money (an intent, an answer, a refusal, a new attempt) commits
  // what gathered first, then itself durably, as always. A process killed
  // meanwhile loses at most the gathered writes: each is one the next run
  // redoes for free (a status, a poll, a download), never a purchase.
  void batch_writes(bool on);
  void commit_writes();

  // Free-form key/value (run history, provider name).
  void set_meta(const std::string& key, const std::string& value);
  std::optional<std::string> meta(const std::string& key);
  // How many times a row of songs, submissions, clips, files or analysis
  // was inserted, updated or deleted, by anyone (schema v6 triggers); -1
  // when unknown. Equal counts: none of those tables changed in between.
  std::int64_t changes();

 private:
  friend class StateReadBatch;
  StateStore();
  void settle_recovered(const std::set<std::string>& keys, const std::filesystem::path& out_dir);
  void close_submission(std::int64_t submission_id, const char* state, int http_status, const std::string& error,
                        bool refused);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// --- Trust ---------------------------------------------------------------------
// Opens OUT/.setlist/state.db after checking it can be trusted with money:
// - missing or empty while OUT holds receipts, clip files or takes tagged by
//   setlist: refused (a fresh database would buy those songs again);
// - not an SQLite database, damaged (quick_check), read-only, or another
//   program's database: refused;
// - behind the receipts journal (a submission, an answer or a clip it does not
//   know, e.g. its -wal lost): refused.
// Each refusal's message says what was found and what to do (`setlist recover OUT`).
// `create`: a missing database (with no evidence) is created; otherwise the
// result holds no store.
// The journal is checked from where the last check that passed ended (state
// meta `journal_checked`: that offset and a digest of the 64 KiB before it),
// so a start costs the receipts added since, not the whole album's. When
// that part of the file is not the one checked (rewritten, truncated, another
// album's), every receipt is checked again.
//
// `check_pages` false: the SQLite quick_check (which reads every page) is
// left to the caller, who must call album_state_damage before it sends or
// writes anything (run: after it found a finished album with nothing to do).
Result<std::unique_ptr<StateStore>> open_album_state(const std::filesystem::path& out_dir, bool create,
                                                     bool check_pages = true);

// The refusal open_album_state gives for a database that fails SQLite's
// quick_check, or nothing.
std::optional<std::string> album_state_damage(StateStore& store, const std::filesystem::path& out_dir);

// At the end of a run (under OUT's lock): checks the receipts this run added
// against state and, when state holds them all, moves the check's starting
// point past them. False when state lacks one (the next start refuses).
bool check_new_receipts(StateStore& store, const std::filesystem::path& out_dir);

struct RecoverySummary {
  int receipts = 0;       // journal lines read
  int bad_lines = 0;      // journal lines that were not receipts
  int submissions = 0;    // in the database afterwards
  int answered = 0;       // of which acked
  int unanswered = 0;     // of which with no answer (intent or uncertain)
  int clips = 0;
  int files = 0;
  int adopted = 0;        // takes recorded from their tags alone
  int unmatched_clip_files = 0;
  std::string kept_aside;  // where the damaged database went, if it was replaced
};
// Rebuilds OUT/.setlist/state.db from the receipts journal, the clip files and
// the tags of the takes in OUT. A damaged database is kept aside, never
// deleted. Needs OUT's run lock (the caller holds it).
Result<RecoverySummary> recover_state(const std::filesystem::path& out_dir);

// One run per OUT: an advisory lock (flock) on OUT/.setlist/lock holding the pid.
// A run of reads as one read transaction (one lock and one look at the log
// instead of one per query): for reports and plans that read every song.
// Only where no other thread uses the store meanwhile and nothing is
// written through it; nothing when a transaction is already open.
class StateReadBatch {
 public:
  explicit StateReadBatch(StateStore& s);
  ~StateReadBatch();
  StateReadBatch(const StateReadBatch&) = delete;
  StateReadBatch& operator=(const StateReadBatch&) = delete;

 private:
  StateStore* s_ = nullptr;  // null: nothing opened
};

class RunLock {
 public:
  // Fails with a message naming the holder's pid when another process holds it.
  static Result<std::unique_ptr<RunLock>> acquire(const std::filesystem::path& dir);
  ~RunLock();

 private:
  explicit RunLock(int fd) : fd_(fd) {}
  int fd_;
};

std::int64_t unix_millis_now();

// Whether a published file is on disk as recorded: a regular file (not a
// link) of the recorded size and, when known, modification time. A stat, no read.
bool file_intact(const std::filesystem::path& out_dir, const FileRow& f);
// The same for many rows in a row: folders on the way are examined once
// (state_path_problem's `real_folders`).
bool file_intact(const std::filesystem::path& out_dir, const FileRow& f, std::set<std::string>& real_folders);

// What state and OUT say about a song's current attempt, for decide_resume().
// `requests_needed`: the generate requests the song needs (its takes).
SongFacts song_facts(StateStore& state, const std::string& key, const std::filesystem::path& out_dir,
                     int requests_needed);

}  // namespace setlist
