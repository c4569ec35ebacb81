// The engine's parts (private to src/engine/):
//   run.cpp       running: the io_context, signals, structured shutdown, the summary
//   prepare.cpp   preparing: songs, resume decisions, superseded versions
//   rename.cpp    renamed songs: files moved and tags rewritten, nothing sent
//   submit.cpp    submitting: limiter, budget, intents and their verdicts
//   poll.cpp      polling: the batching poller, long polls, waiting for clips
//   download.cpp  downloading: files, tags, publishing on the disk thread
//   async.hpp     the small async tools (semaphore, sleep, the disk hop)
// What a song costs is decided in lifecycle.hpp; the engine performs it.
#pragma once

#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "engine/async.hpp"
#include "http/client.hpp"
#include "setlist/engine.hpp"
#include "setlist/lifecycle.hpp"
#include "setlist/manifest.hpp"
#include "setlist/policy.hpp"
#include "setlist/provider.hpp"
#include "setlist/state.hpp"

namespace setlist::engine {

namespace fs = std::filesystem;
using policy::Micros;

Micros now_us();
std::string human_duration(Micros d);

struct KeyLane;

struct SongTask {
  enum class Phase { queued, sending, waiting, downloading, done };

  const Song* song = nullptr;
  const Provider* api = nullptr;  // the flavor serving this song's route (for_payload)
  std::string key;
  SubmitPayload payload;
  KeyLane* lane = nullptr;  // the key this song's submissions go out with (the pool's choice)
  KeyLane* home = nullptr;  // resumed: the key its clips were bought with, preferred for more
  int requests_needed = 1;
  long long cost = 0;  // estimated cost of one generate request
  ResumeDecision decision;
  int attempt = 1;
  std::vector<Clip> clips;            // the current attempt's clips, in take order
  std::vector<fs::path> audio_paths;  // per take, relative to OUT
  std::unique_ptr<asio::steady_timer> wake;
  Micros last_change{0};
  Micros accepted{0};  // when this run's last generate request for it was accepted; 0: resumed
  Phase phase = Phase::queued;
  std::optional<SongStatus> final;   // what this run left it as
  bool selected = true;              // false: --only leaves it alone
  long long charged = 0;             // tokens this run was (or may have been) charged for it
  Micros started{0}, ended{0};       // when this run's coroutine for it began and ended
  std::string rejected;              // reject_bad_takes bought it again at the start of this run: why
  mutable bool on_timeline = false;  // this run recorded a moment of it (#19)
  asio::cancellation_signal cancel;  // ends its coroutine (shutdown)
};

// One API key of the pool (#18): its own limiter, Retry-After gate, adaptive
// rate, retry budget and in-flight count. A song is submitted with one lane
// and polled with the lane that submitted each of its clips. The key itself
// stays in the HTTP client; a lane knows its index and fingerprint only.
struct KeyLane {
  KeyLane(std::size_t index, std::string fingerprint, const Settings& s, double retry_capacity, Micros now);
  std::size_t index;
  std::string fingerprint;  // "k-1a2b3c4d" (key_fingerprint), "" without a key
  policy::TokenBucket submit_bucket;
  policy::TokenBucket poll_bucket;
  policy::AdaptiveRate rate;
  policy::RetryBudget retry_budget;
  policy::HostGate gate;
  int in_flight = 0;  // songs whose current submission went out with this key
  bool retired = false;  // sends no more generate requests (refused, or out of credits)
  bool refused = false;  // the API rejected the key (401): it polls no more either
  KeyUse use;  // what this run did with it (the report's per-key rows)
};

class Engine {
 public:
  Engine(const Manifest& m, const RunOptions& opt, EventSink& sink, StateStore& state,
         const Provider& provider, std::string base_url);
  // Runs every coroutine to its end before any member is destroyed.
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // What each song resumes to, read from state; writes nothing.
  void plan_tasks();
  // Whether this run would talk to the API (send or poll); after plan_tasks().
  bool needs_api() const;
  void prepare();
  RunSummary run();

 private:
  // --- run.cpp: running and stopping
  void spawn(SongTask& t);
  void on_coroutine_end(std::exception_ptr ep);
  void on_signal(int count);
  void polite_stop();
  void hard_stop();
  void song_finished();
  asio::awaitable<void> ticker();
  void emit_tick();
  void fail_run(const std::string& why);
  // Adds to what this run charged and to the album's cost to date in state.
  void charge(long long tokens);
  RunSummary finish();

  // --- prepare.cpp
  void supersede_old_versions(const std::set<std::string>& planned_paths);
  void start_new_attempt(SongTask& t);
  void settle_without_work(SongTask& t);
  void name_attempt_takes(SongTask& t);
  void bind_resumed_clips(SongTask& t);
  fs::path audio_path(SongTask& t, std::size_t take);

  // --- rename.cpp
  void follow_renames();

  // --- submit.cpp
  asio::awaitable<void> song_main(SongTask& t);
  asio::awaitable<bool> submit(SongTask& t);
  std::optional<std::string> foreign_clip(const SongTask& t, const std::vector<Clip>& clips);
  // A submit token from the song's lane, or from the lane free soonest
  // (among those under their in-flight cap) when it has none; nullptr when
  // every key is retired.
  asio::awaitable<KeyLane*> acquire_submit(SongTask& t);
  asio::awaitable<void> acquire_poll(KeyLane& lane);
  std::optional<Micros> note_retry_after(KeyLane& lane, const http::Response& r);
  void on_throttled(KeyLane& lane);
  // A key refused (401) or out of credits: retired for this run when others
  // are left (true), so its songs carry on with them.
  // `refused`: the key itself was rejected (it cannot poll either); else it
  // only has no credits left, and still polls what it bought.
  bool retire(KeyLane& lane, const std::string& why, bool refused);
  int live_lanes() const;
  KeyLane& lane_of(const std::string& clip_id);
  void bind_lane(SongTask& t, KeyLane* lane);

  // --- poll.cpp
  asio::awaitable<bool> wait_clips(SongTask& t);
  asio::awaitable<bool> long_poll_clips(SongTask& t);
  asio::awaitable<bool> poll_one_by_one(SongTask& t);
  bool apply_poll_answer(SongTask& t, const Result<http::Response>& r, bool& changed, KeyLane& lane);
  asio::awaitable<void> poller();
  bool on_poll_failure(const Result<http::Response>& r, const SongTask* t, const Provider& api, KeyLane& lane);
  bool apply_clip(SongTask& t, const Clip& c, std::vector<Clip>& updates);
  void watch(SongTask& t);
  void unwatch(SongTask& t);

  // --- download.cpp
  asio::awaitable<bool> download_song(SongTask& t);
  asio::awaitable<Result<http::Download>> download_with_retries(SongTask& t, const std::string& url,
                                                                const fs::path& part,
                                                                http::Expect expect);
  asio::awaitable<void> save_written_lyrics(const SongTask& t, fs::path audio_rel, std::string text,
                                            std::string clip_id);
  asio::awaitable<bool> write_and_record(const SongTask& t, fs::path rel, std::string data,
                                         std::string clip_id, const char* kind);
  void record_published(const SongTask& t, const fs::path& rel, const std::string& clip_id,
                        const char* kind, std::uint64_t bytes, const std::string& sha256,
                        const std::string& source_sha256);
  template <class F>
  asio::awaitable<std::invoke_result_t<F&>> on_disk(F f) {
    co_return co_await run_on(disk_.get_executor(), std::move(f));
  }
  // Decoding and measuring a take (#19): CPU-heavy, so on threads of their own,
  // one per core, at a lower priority than the network thread (lower_priority).
  template <class F>
  asio::awaitable<std::invoke_result_t<F&>> on_analysis(F f) {
    co_return co_await run_on(analysis_.get_executor(), [&f] {
      lower_priority();
      return f();
    });
  }
  static void lower_priority();  // this thread's nice value +10, once

  // --- album_gain.cpp (#19): album ReplayGain once every song has ended
  void tag_album_gain();

  // --- shared
  void emit(Event::Kind k, const SongTask* t, std::string msg);
  void set_status(SongTask& t, SongStatus status, const std::string& reason = {});
  // #19: a moment of this run on the run timeline (state); t null: the run's own.
  void mark(const SongTask* t, const char* kind, std::int64_t ms = 0, std::string detail = {});
  void flush_timeline();
  asio::awaitable<void> sleep(Micros d) { co_await sleep_for(io_.get_executor(), d); }
  double unit_random() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); }
  bool stopping() const { return interrupted_ || aborted_ || hard_stopped_; }
  http::ClientOptions client_options() const;

  // The io_context first: it is destroyed last, after every member that
  // holds its sockets and timers (and ~Engine has run every frame to its end).
  asio::io_context io_{1};
  const Manifest& m_;
  const RunOptions& opt_;
  const Settings& s_;
  EventSink& sink_;
  StateStore& state_;
  const Provider& provider_;
  std::string base_url_;
  http::Client client_;
  std::vector<std::unique_ptr<KeyLane>> lanes_;  // the key pool: one lane per key (one without a key)
  std::map<std::string, KeyLane*> clip_lane_;    // clip id -> the lane that submitted it
  std::set<std::string> missing_keys_warned_;    // fingerprints of resumed clips' keys not in the pool
  Semaphore in_flight_;
  Semaphore downloads_;
  asio::steady_timer poller_timer_;
  asio::steady_timer grace_timer_;
  asio::steady_timer tick_timer_;
  asio::cancellation_signal ticker_cancel_;
  asio::cancellation_signal poller_cancel_;
  // SETLIST_TEST_FAULT=teardown-pause: the stop tests' window into the
  // engine's teardown, right after its signal set is gone while the client
  // and the io_context (and their threads) still are (run_album's guard).
  struct TeardownPause {
    ~TeardownPause();
  } teardown_pause_;
  std::optional<asio::signal_set> signals_;
  steady::time_point next_poll_ = steady::time_point::max();
  std::mt19937_64 rng_;
  // One thread, so TagLib and the file system see one writer at a time.
  asio::thread_pool disk_{1};
  // The analysis threads: every take of the album is decoded and measured
  // here, in parallel, while the disk thread tags and publishes.
  asio::thread_pool analysis_{std::max(1u, std::thread::hardware_concurrency())};

  std::vector<std::unique_ptr<SongTask>> tasks_;
  std::map<std::string, SongTask*> watched_;
  // One-id polling (#20): the pace of each model's generations in this run.
  std::map<std::string, policy::GenerationPolls> generation_polls_;
  policy::GenerationPolls& generation_polls(const SongTask& t);
  std::string album_cover_;  // the bytes of album.cover, read once
  int coroutines_ = 0;       // song coroutines and the poller still running
  int songs_running_ = 0;
  int signal_count_ = 0;
  bool stop_submitting_ = false;
  bool interrupted_ = false;
  bool aborted_ = false;
  bool hard_stopped_ = false;
  bool api_answered_ = false;  // any HTTP answer from the API in this run
  int unreachable_in_a_row_ = 0;
  std::string abort_reason_;
  std::string stop_reason_;
  std::int64_t run_id_ = unix_millis_now();  // names this run on the timeline
  std::vector<TimelineRow> timeline_pending_;  // marks not yet written (flush_timeline)
  Micros timeline_flushed_{0};
  std::string test_fault_;  // SETLIST_TEST_FAULT: a fault injected by the stop tests
  long long charged_ = 0;
  long long charged_before_ = 0;  // the album's cost to date when this run began (state)
  std::set<std::string> planned_paths_;
  std::map<std::string, std::pair<std::string, int>> named_before_;  // song key -> title, track in state
  long long reserved_ = 0;
  std::map<std::string, std::uint64_t> requests_;
  std::uint64_t retries_ = 0;
  std::uint64_t throttled_ = 0;
};

}  // namespace setlist::engine
