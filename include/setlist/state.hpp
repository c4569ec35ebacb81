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

#include "setlist/result.hpp"

namespace setlist {

struct Clip;

struct StateError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Song status as stored.
//   pending     known, nothing sent
//   submitting  an intent is recorded, no answer yet (a crash here => uncertain)
//   submitted   acked: clip ids known, generation under way
//   complete    every file downloaded and recorded
//   failed      gave up; reason says why
//   uncertain   a generate request may have been accepted but we have no ids
//   skipped     not started (budget, stop)
struct SongRow {
  std::string key;
  std::string song_id;
  std::string title;
  int track = 0;
  std::string status = "pending";
  std::string reason;
  int attempts = 0;  // generate requests sent for this key
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
  std::int64_t created_at = 0;
};

class StateStore {
 public:
  // Opens or creates the database, applying migrations.
  static Result<std::unique_ptr<StateStore>> open(const std::filesystem::path& db_file);
  ~StateStore();

  static constexpr int schema_version = 1;

  std::optional<SongRow> song(const std::string& key);
  std::vector<SongRow> songs();
  // Inserts a song if unknown; refreshes its title, id and track otherwise.
  void upsert_song(const SongRow& row);
  void set_song_status(const std::string& key, const std::string& status, const std::string& reason = {});

  // Write-ahead receipt, committed durably before the generate request.
  std::int64_t record_intent(const std::string& song_key, const std::string& payload_hash);
  // The answer: clip ids known. Durable.
  void record_ack(std::int64_t submission_id, const std::vector<Clip>& clips);
  // The server refused (nothing accepted) or the outcome is unknown.
  void record_rejected(std::int64_t submission_id, int http_status, const std::string& error);
  void record_uncertain(std::int64_t submission_id, const std::string& error);
  std::vector<SubmissionRow> submissions(const std::string& song_key);
  // Intents without an answer, left by a crash.
  std::vector<SubmissionRow> dangling_intents();

  void update_clips(const std::vector<Clip>& clips);
  std::vector<ClipRow> clips(const std::string& song_key);
  std::vector<ClipRow> all_clips();

  void record_file(const FileRow& row);
  std::vector<FileRow> files(const std::string& song_key = {});
  void forget_files(const std::string& song_key);

  // Free-form key/value (run history, provider name).
  void set_meta(const std::string& key, const std::string& value);
  std::optional<std::string> meta(const std::string& key);

 private:
  StateStore();
  void close_submission(std::int64_t submission_id, const char* state, int http_status, const std::string& error);
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

}  // namespace setlist
