// Engine: one io_context, one coroutine per song, one batching poller.
// Ties manifest, provider, http, policy, state and output together; never
// prints (events go to an EventSink) and never exits.
#pragma once

#include <cstdint>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "setlist/settings.hpp"
#include "setlist/shard.hpp"

namespace setlist {

struct Manifest;
class StateStore;
struct RunSummary;

struct RunOptions {
  std::filesystem::path out_dir;
  Settings settings;
  // The key pool: one key, several (each with its own limits, #18), or none
  // when the provider needs none. Never logged; only fingerprints leave.
  std::vector<std::string> api_keys;
  std::string cacert;   // PEM bundle overriding the system store
  std::string https_proxy;  // from HTTPS_PROXY / https_proxy
  std::string no_proxy;     // from NO_PROXY / no_proxy
  bool resubmit_uncertain = false;
  bool retry_failed = false;
  // --only: the ids of the songs this run works on; empty: every song. The
  // others are left alone (not submitted, not polled, their files kept).
  std::set<std::string> only;
  // --shard I/N: the run works only on the songs this shard owns (as with
  // --only), and OUT's state records the shard (meta `shard`) for `merge`.
  std::optional<Shard> shard;
  // --regenerate: the ids of songs bought again on purpose, as a new attempt
  // (lifecycle.hpp: regenerate_refusal says when that is refused).
  std::set<std::string> regenerate;
  // --keep-attempts: a new attempt leaves the earlier takes in place (its own
  // take files carry an attempt suffix) instead of moving them aside.
  bool keep_attempts = false;
  // The status line's clock: an Event::Kind::tick this often while songs
  // run (0: none). A timer on the engine's io_context, cancelled on stop.
  std::chrono::milliseconds tick{0};
  // cost_per_request was set by the user: it prices every request; otherwise
  // each model's estimate does (provider data).
  bool cost_per_request_given = false;
  bool handle_signals = true;  // SIGINT/SIGTERM: polite stop, then hard stop
  // After the first signal, requests on the wire and downloads have this long
  // to finish before everything left is cancelled.
  std::chrono::milliseconds stop_grace{1500};
  // Signals that arrived before the engine took over SIGINT/SIGTERM (the CLI
  // counts them from the start of `run`): each is handled as soon as it can be.
  std::function<int()> early_signals;
  // Called once the run has ended and every song row is final, while the run
  // still holds OUT's lock (the CLI writes the reports here, and says so with
  // RunSummary::reports_written and the flagged takes).
  std::function<void(StateStore&, RunSummary&)> before_unlock;
  // #20: a finished album whose inputs did not change since the run that
  // finished it is not read song by song again (engine/settled.hpp). False:
  // every run looks at every song (the CLI's choice when it must render
  // something each run, e.g. $GITHUB_STEP_SUMMARY).
  bool settled_shortcut = true;
  // The program's name and version: another version looks at everything.
  std::string program;
};

struct Event {
  enum class Kind { info, warning, submitted, progress, downloading, song_done, song_failed, retry, throttled, tick };
  Kind kind = Kind::info;
  int track = 0;
  std::string title;
  std::string message;
  // The pace at the moment of the event (every event carries it):
  double submit_limit = 0;        // generate requests per second the limiter allows now
  std::int64_t throttle_wait_ms = 0;  // left of a Retry-After the API asked for (0: none)
  std::uint64_t throttled = 0;     // throttling answers (429...) so far in this run
};

class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void on_event(const Event& e) = 0;
};

// One key of the pool in a run, named by its fingerprint (never the key).
struct KeyUse {
  std::string fingerprint;      // key_fingerprint(key); "" when no key was used
  std::uint64_t generate = 0;   // generate requests sent with it
  std::uint64_t poll = 0;       // poll requests sent with it
  std::uint64_t throttled = 0;  // 429s (or the flavor's rate-limit answer) it received
  long long tokens = 0;         // charged to it by this run
  std::string retired;          // why it was retired for the rest of the run ("" = in use to the end)
};

// One song at the end of a run (the per-song table).
struct SongResult {
  int track = 0;
  std::string title;
  std::string status;     // lifecycle status (to_string(SongStatus))
  bool selected = true;   // false: left alone by --only or --shard
  int takes = 0;          // audio files on disk for the song
  std::int64_t ms = 0;    // time this run worked on it (0: none)
  long long tokens = 0;   // charged by this run for it
};

struct RunSummary {
  std::int64_t started_at = 0;  // unix ms
  std::int64_t ended_at = 0;
  int songs = 0;
  int complete = 0;
  int failed = 0;
  int skipped = 0;
  int uncertain = 0;
  int pending = 0;  // left unfinished (interrupted)
  int not_selected = 0;  // left alone by --only or --shard (not counted in `songs`)
  long long tokens_charged = 0;  // by this run: accepted generate requests x cost
  // by every run of this album so far, this one included (kept in state)
  long long tokens_charged_to_date = 0;
  std::map<std::string, std::uint64_t> requests;  // generate, poll, download
  std::uint64_t retries = 0;
  std::uint64_t throttled = 0;  // 429s received
  bool ran = false;  // this run held OUT's lock and opened its state (so it may write reports)
  bool interrupted = false;
  bool aborted = false;  // could not go on: key rejected, out of credits, state error
  std::string abort_reason;
  std::vector<SongResult> song_results;  // every song of the manifest, in its order
  std::vector<KeyUse> keys;              // the key pool, in the order the keys were given
  // Set by before_unlock: the reports were written; the takes the analysis
  // flagged ("07 Title (A): silent"), the first of them at least, and how many.
  bool reports_written = false;
  std::vector<std::string> flagged;
  std::size_t flagged_total = 0;
  // #20: nothing to do. Every selected song was complete and nothing had
  // changed since the run that ended at `unchanged_since` (unix ms): this run
  // read no song, sent nothing, and left that run's reports as they were.
  bool unchanged = false;
  std::int64_t unchanged_since = 0;
};

// A key's public name: "k-" and the first 8 hex digits of its SHA-256. It
// tells the keys of a pool apart in state and reports without revealing them.
std::string key_fingerprint(std::string_view key);

RunSummary run_album(const Manifest& manifest, const RunOptions& options, EventSink& events);

}  // namespace setlist
