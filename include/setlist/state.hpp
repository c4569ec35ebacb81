// State: the SQLite store of songs, submissions, clips and files in
// OUT/.setlist/state.db. What survives a crash lives here.
//
// SQLite failures (disk full, corruption) throw StateError: the engine turns
// them into "could not run" (exit 3) because no safe progress is possible.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

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

class StateStore {
 public:
  // Opens or creates the database, applying migrations.
  static Result<std::unique_ptr<StateStore>> open(const std::filesystem::path& db_file);
  ~StateStore();

  static constexpr int schema_version = 2;

  std::optional<SongRow> song(const std::string& key);
  std::vector<SongRow> songs();
  // Inserts a song if unknown; refreshes its title, id and track otherwise.
  void upsert_song(const SongRow& row);
  void set_song_status(const std::string& key, SongStatus status, const std::string& reason = {});
  // Starts a new attempt (a paid retry); returns its number.
  int new_attempt(const std::string& key);

  // Write-ahead receipt, committed durably before the generate request; the
  // song becomes `submitting`.
  std::int64_t record_intent(const std::string& song_key, const std::string& payload_hash, int attempt);
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
  void forget_files(const std::string& song_key);

  // Free-form key/value (run history, provider name).
  void set_meta(const std::string& key, const std::string& value);
  std::optional<std::string> meta(const std::string& key);

 private:
  StateStore();
  void close_submission(std::int64_t submission_id, const char* state, int http_status, const std::string& error,
                        bool refused);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One run per OUT: an advisory lock (flock) on OUT/.setlist/lock holding the pid.
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

// What state and OUT say about a song's current attempt, for decide_resume().
// `requests_needed`: the generate requests the song needs (its takes).
SongFacts song_facts(StateStore& state, const std::string& key, const std::filesystem::path& out_dir,
                     int requests_needed);

}  // namespace setlist
