#include "setlist/engine.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <deque>
#include <fstream>
#include <functional>
#include <random>
#include <set>

#include "common/hash.hpp"
#include "http/client.hpp"
#include "setlist/manifest.hpp"
#include "setlist/output.hpp"
#include "setlist/policy.hpp"
#include "setlist/provider.hpp"
#include "setlist/state.hpp"

namespace setlist {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using policy::Micros;
using steady = std::chrono::steady_clock;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

Micros now_us() { return std::chrono::duration_cast<Micros>(steady::now().time_since_epoch()); }

std::string human_duration(Micros d) {
  auto s = d.count() / 1'000'000;
  if (s < 120) return std::to_string(s) + " s";
  return std::to_string(s / 60) + " min";
}

// A counting semaphore for coroutines on one thread.
class Semaphore {
 public:
  Semaphore(asio::any_io_executor ex, int count) : ex_(std::move(ex)), count_(count) {}
  asio::awaitable<void> acquire() {
    if (count_ > 0 && waiters_.empty()) {
      --count_;
      co_return;
    }
    auto t = std::make_shared<asio::steady_timer>(ex_, steady::time_point::max());
    waiters_.push_back(t);
    co_await t->async_wait(use_tuple);  // release() hands its slot over by cancelling
  }
  void release() {
    if (!waiters_.empty()) {
      auto t = waiters_.front();
      waiters_.pop_front();
      t->cancel();
    } else {
      ++count_;
    }
  }

 private:
  asio::any_io_executor ex_;
  int count_;
  std::deque<std::shared_ptr<asio::steady_timer>> waiters_;
};

struct SongTask {
  const Song* song = nullptr;
  std::string key;
  SubmitPayload payload;
  std::vector<Clip> clips;
  std::vector<fs::path> audio_paths;  // per take, relative to OUT
  std::unique_ptr<asio::steady_timer> wake;
  Micros last_change{0};
  std::string status;  // final status for the summary
};

Clip clip_from_row(const ClipRow& r) {
  Clip c;
  c.id = r.clip_id;
  c.status = parse_clip_status(r.status);
  c.audio_url = r.audio_url;
  c.image_url = r.image_url;
  c.duration = r.duration;
  c.error_message = r.error_message;
  c.raw_json = r.raw_json;
  return c;
}

class Engine {
 public:
  Engine(asio::io_context& io, const Manifest& m, const RunOptions& opt, EventSink& sink, StateStore& state,
         Provider& provider, std::string base_url)
      : io_(io),
        m_(m),
        opt_(opt),
        s_(opt.settings),
        sink_(sink),
        state_(state),
        provider_(provider),
        base_url_(std::move(base_url)),
        client_(io.get_executor(), client_options()),
        submit_bucket_(s_.submit_rate, s_.submit_burst, now_us()),
        poll_bucket_(s_.poll_rate, s_.poll_burst, now_us()),
        rate_(s_.submit_rate, std::max(0.01, s_.submit_rate / 64), s_.submit_rate),
        retry_budget_(std::max(20.0, 4.0 * static_cast<double>(m.songs.size())), 0.2, 0.5, now_us()),
        in_flight_(io.get_executor(), std::max(1, s_.max_in_flight)),
        downloads_(io.get_executor(), std::max(1, s_.download_concurrency)),
        poller_timer_(io, steady::time_point::max()),
        rng_(std::random_device{}()) {
    if (!opt_.api_key.empty()) {
      auto u = http::Url::parse(base_url_);
      if (u) client_.set_credential(u->origin(), "Bearer " + opt_.api_key);
    }
  }

  void prepare();
  void supersede_old_versions(const std::set<std::string>& planned_paths);
  void start();
  // Called once every song coroutine has ended.
  void set_on_finished(std::function<void()> f) { on_finished_ = std::move(f); }
  RunSummary finish();

  void on_signal(int count) {
    if (count == 1) {
      interrupted_ = true;
      stop_submitting_ = true;
      emit(Event::Kind::warning, nullptr, "interrupted: no new songs will be submitted; finishing bookkeeping");
      // Give answers already on the wire a moment to be journaled, then stop.
      auto t = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(1500));
      t->async_wait([this, t](auto) { io_.stop(); });
      for (auto& task : tasks_)
        if (task->wake) task->wake->cancel();
      poller_timer_.cancel();
    } else {
      io_.stop();
    }
  }

  void fail_run(const std::string& why) {
    if (!aborted_) {
      aborted_ = true;
      abort_reason_ = why;
    }
    stop_submitting_ = true;
  }

 private:
  http::ClientOptions client_options() const {
    http::ClientOptions o;
    o.resolve_timeout = s_.connect_timeout;
    o.connect_timeout = s_.connect_timeout;
    o.max_download = s_.max_download_size;
    o.cacert = opt_.cacert;
    o.https_proxy = opt_.https_proxy;
    o.no_proxy = opt_.no_proxy;
    return o;
  }

  void emit(Event::Kind k, const SongTask* t, std::string msg) {
    Event e;
    e.kind = k;
    if (t) {
      e.track = t->song->track;
      e.title = t->song->title;
    }
    e.message = std::move(msg);
    sink_.on_event(e);
  }

  asio::awaitable<void> sleep(Micros d) {
    if (d <= Micros(0)) co_return;
    asio::steady_timer t(io_, d);
    co_await t.async_wait(use_tuple);
  }

  double unit_random() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); }

  // Waits for a token of `bucket` and for any Retry-After given by the API.
  asio::awaitable<void> acquire(policy::TokenBucket& bucket) {
    for (;;) {
      auto now = now_us();
      auto wait = std::max(bucket.wait_time(now), api_gate_.wait_time(now));
      if (wait == Micros(0) && bucket.try_take(now)) co_return;
      co_await sleep(std::max(wait, Micros(1000)));
    }
  }

  // Applies a Retry-After header to every request to the API host.
  std::optional<Micros> note_retry_after(const http::Response& r) {
    auto v = r.header("retry-after");
    if (v.empty()) return std::nullopt;
    auto now_unix = std::chrono::duration_cast<std::chrono::seconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
    auto d = policy::parse_retry_after(v, now_unix, std::chrono::duration_cast<Micros>(s_.retry_after_max));
    if (d) api_gate_.defer_until(now_us() + *d);
    return d;
  }

  // A poll that failed: honour Retry-After and 429s; stop the run on a
  // rejected key or an unverifiable server (returns false). A failed poll
  // never causes a resubmission.
  bool on_poll_failure(const Result<http::Response>& r, const SongTask* t) {
    if (!r) {
      if (r.error().kind == ErrorKind::tls) {
        fail_run(r.error().message);
        return false;
      }
      emit(Event::Kind::retry, t, "poll failed: " + r.error().message);
      return true;
    }
    note_retry_after(*r);
    std::string msg = provider_.error_message(r->status, r->body);
    if (r->status == 429) on_throttled();
    if (policy::classify(r->status, msg) == policy::Action::abort_run) {
      fail_run("the API rejected the key while polling (HTTP 401: " + msg + ")");
      return false;
    }
    emit(Event::Kind::retry, t, "poll answered HTTP " + std::to_string(r->status) + ": " + msg);
    return true;
  }

  // Applies a polled clip to its song; true when its status or URL changed.
  bool apply_clip(SongTask& t, const Clip& c, std::vector<Clip>& updates) {
    for (auto& mine : t.clips) {
      if (mine.id != c.id || (mine.status == c.status && mine.audio_url == c.audio_url)) continue;
      if (mine.status != c.status) t.last_change = now_us();  // progress resets the stall clock
      mine = c;
      updates.push_back(c);
      return true;
    }
    return false;
  }

  void on_throttled() {
    ++throttled_;
    rate_.on_throttled(now_us());
    submit_bucket_.set_rate(rate_.rate(), now_us());
  }

  asio::awaitable<void> song_main(SongTask& t);
  asio::awaitable<bool> submit(SongTask& t);
  asio::awaitable<bool> wait_clips(SongTask& t);
  asio::awaitable<bool> long_poll_clips(SongTask& t);
  asio::awaitable<bool> download_song(SongTask& t);
  asio::awaitable<Result<http::Download>> download_with_retries(SongTask& t, const std::string& url,
                                                                const fs::path& part, http::Expect expect);
  asio::awaitable<void> poller();

  void set_status(SongTask& t, const std::string& status, const std::string& reason = {}) {
    t.status = status;
    state_.set_song_status(t.key, status, reason);
    if (status == "complete")
      emit(Event::Kind::song_done, &t, "complete");
    else if (status == "failed" || status == "uncertain")
      emit(Event::Kind::song_failed, &t, status + ": " + reason);
    else if (status == "skipped")
      emit(Event::Kind::warning, &t, "skipped: " + reason);
  }

  // Records a published file in state.
  void record_published(const SongTask& t, const fs::path& rel, const std::string& clip_id, const char* kind,
                        std::uint64_t bytes, const std::string& sha256, const std::string& source_sha256) {
    FileRow f;
    f.path = rel.generic_string();
    f.song_key = t.key;
    f.clip_id = clip_id;
    f.kind = kind;
    f.bytes = bytes;
    f.sha256 = sha256;
    f.source_sha256 = source_sha256;
    state_.record_file(f);
  }

  // Runs `f` on the disk thread and resumes here with its result: file
  // writes, tags, digests and their fsyncs never stall the network. `f` must
  // touch nothing the io thread uses (no state, no events, no counters).
  template <class F>
  asio::awaitable<std::invoke_result_t<F&>> on_disk(F f) {
    using R = std::invoke_result_t<F&>;
    std::optional<R> out;
    co_await asio::co_spawn(
        disk_.get_executor(), [&]() -> asio::awaitable<void> { out.emplace(f()); co_return; }, asio::use_awaitable);
    co_return std::move(*out);
  }

  // Writes a small file atomically under OUT and records it.
  asio::awaitable<bool> write_and_record(const SongTask& t, fs::path rel, std::string data, std::string clip_id,
                                         const char* kind) {
    const fs::path path = opt_.out_dir / rel;
    bool written = co_await on_disk([&] {
      std::error_code ec;
      fs::create_directories(path.parent_path(), ec);
      return write_file_atomic(path, data).ok();
    });
    if (!written) co_return false;
    auto sha = sha256_hex(data);
    record_published(t, rel, clip_id, kind, data.size(), sha, sha);
    co_return true;
  }

  void watch(SongTask& t) {
    for (auto& c : t.clips)
      if (!is_terminal(c.status)) watched_[c.id] = &t;
    // New work: poll soon rather than after a long backoff.
    auto soon = steady::now() + s_.poll_interval;
    if (soon < next_poll_) {
      next_poll_ = soon;
      poller_timer_.cancel();
    }
  }
  void unwatch(SongTask& t) {
    for (auto& c : t.clips) watched_.erase(c.id);
  }

  asio::io_context& io_;
  const Manifest& m_;
  const RunOptions& opt_;
  const Settings& s_;
  EventSink& sink_;
  StateStore& state_;
  Provider& provider_;
  std::string base_url_;
  http::Client client_;
  policy::TokenBucket submit_bucket_;
  policy::TokenBucket poll_bucket_;
  policy::AdaptiveRate rate_;
  policy::RetryBudget retry_budget_;
  policy::HostGate api_gate_;
  Semaphore in_flight_;
  Semaphore downloads_;
  asio::steady_timer poller_timer_;
  steady::time_point next_poll_ = steady::time_point::max();
  std::mt19937_64 rng_;
  // One thread, so TagLib and the file system see one writer at a time.
  asio::thread_pool disk_{1};

  std::function<void()> on_finished_;
  std::vector<std::unique_ptr<SongTask>> tasks_;
  std::map<std::string, SongTask*> watched_;
  int songs_running_ = 0;
  bool stop_submitting_ = false;
  bool interrupted_ = false;
  bool aborted_ = false;
  std::string abort_reason_;
  std::string stop_reason_;
  long long charged_ = 0;
  long long reserved_ = 0;
  std::map<std::string, std::uint64_t> requests_;
  std::uint64_t retries_ = 0;
  std::uint64_t throttled_ = 0;
};

void Engine::prepare() {
  std::set<std::string> used;
  boost::json::array keys;
  for (auto& song : m_.songs) {
    auto t = std::make_unique<SongTask>();
    t->song = &song;
    t->payload = provider_.payload(song, s_.model);
    t->key = song_key(provider_.info().name, t->payload);
    for (int take = 0; take < 2; ++take) {
      NameFields f{m_.album.title, m_.album.artist, song.title, song.id, "", song.track, take};
      auto name = render_name(s_.output_template, f);
      // The template was checked up front; fall back to a plain name if a value still fails.
      fs::path rel = name ? name.value()
                          : fs::path(safe_component(std::to_string(song.track) + " - " + song.title +
                                                    (take ? " (B)" : " (A)") + ".mp3"));
      t->audio_paths.push_back(unique_path(rel, used));
    }
    SongRow row;
    row.key = t->key;
    row.song_id = song.id;
    row.title = song.title;
    row.track = song.track;
    state_.upsert_song(row);
    keys.push_back(boost::json::string(t->key));
    tasks_.push_back(std::move(t));
  }
  state_.set_meta("manifest_keys", boost::json::serialize(keys));
  state_.set_meta("provider", provider_.info().name);
  supersede_old_versions(used);
}

// A song whose key changed (its lyrics, tags, model... were edited) is a new
// song. The old version's files move to OUT/.setlist/superseded/<key>/ when
// the new version would take their place (same song id, or same file name):
// nothing is silently overwritten or deleted.
void Engine::supersede_old_versions(const std::set<std::string>& planned_paths) {
  std::set<std::string> current_keys, current_ids;
  for (auto& t : tasks_) {
    current_keys.insert(t->key);
    current_ids.insert(t->song->id);
  }
  for (auto& old : state_.songs()) {
    if (current_keys.count(old.key) || old.status == "superseded") continue;
    auto files = state_.files(old.key);
    bool same_song = current_ids.count(old.song_id) > 0;
    bool collides = std::any_of(files.begin(), files.end(),
                                [&](const FileRow& f) { return planned_paths.count(f.path) > 0; });
    if (!same_song && !collides) continue;
    auto dest_root = opt_.out_dir / ".setlist" / "superseded" / old.key.substr(0, 16);
    for (auto& f : files) {
      auto from = opt_.out_dir / f.path;
      if (!fs::exists(from)) continue;
      auto to = dest_root / f.path;
      std::error_code ec;
      fs::create_directories(to.parent_path(), ec);
      fs::rename(from, to, ec);
      if (ec) {
        emit(Event::Kind::warning, nullptr, "could not move " + f.path + " to " + to.string() + ": " + ec.message());
        continue;
      }
    }
    state_.forget_files(old.key);
    state_.set_song_status(old.key, "superseded", "the manifest changed this song; old files in " +
                                                     fs::relative(dest_root, opt_.out_dir).generic_string());
    emit(Event::Kind::info, nullptr,
         "\"" + old.title + "\" changed in the manifest: regenerating it; the previous version's files are in " +
             fs::relative(dest_root, opt_.out_dir).generic_string());
  }
}

void Engine::start() {
  auto on_done = [this](std::exception_ptr ep) {
    if (!ep) return;
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      fail_run(std::string("internal error: ") + e.what());
    }
    io_.stop();
  };
  for (auto& t : tasks_) {
    t->wake = std::make_unique<asio::steady_timer>(io_, steady::time_point::max());
    ++songs_running_;
    asio::co_spawn(io_, song_main(*t), on_done);
  }
  asio::co_spawn(io_, poller(), on_done);
  if (tasks_.empty() && on_finished_) on_finished_();
}

asio::awaitable<void> Engine::song_main(SongTask& t) {
  struct Done {
    Engine* e;
    SongTask& t;
    ~Done() {
      // What a finished song no longer needs (its clips' JSON, the payload)
      // goes now, so memory follows the songs in flight, not the album.
      t.clips = {};
      t.payload = {};
      t.audio_paths = {};
      if (--e->songs_running_ == 0) {
        e->poller_timer_.cancel();
        if (e->on_finished_) e->on_finished_();
      }
    }
  } done{this, t};

  auto row = state_.song(t.key);
  std::string status = row ? row->status : "pending";

  if (status == "complete") {
    bool all_there = true;
    auto files = state_.files(t.key);
    for (auto& f : files)
      if (!fs::exists(opt_.out_dir / f.path)) all_there = false;
    if (all_there && !files.empty()) {
      t.status = "complete";
      emit(Event::Kind::song_done, &t, "already complete");
      co_return;
    }
    status = "submitted";  // files went missing: download again, never resubmit
  }
  if (status == "failed" && !opt_.retry_failed) {
    t.status = "failed";
    emit(Event::Kind::song_failed, &t, "failed before: " + row->reason + " (use --retry-failed to try again)");
    co_return;
  }
  if (status == "uncertain" || status == "submitting") {
    // An intent without an answer: the request may have been accepted and charged.
    auto subs = state_.submissions(t.key);
    for (auto& s : subs)
      if (s.state == "intent") state_.record_uncertain(s.id, "no answer recorded (the run was interrupted)");
    if (!opt_.resubmit_uncertain) {
      set_status(t, "uncertain",
                 "a generate request was sent but its answer was never recorded, so it may have been accepted "
                 "and charged; resubmitting would pay again. Run with --resubmit-uncertain to submit it again");
      co_return;
    }
    status = "pending";
  }

  bool acked = false;
  if (status == "submitted") {
    auto subs = state_.submissions(t.key);
    std::int64_t latest = subs.empty() ? 0 : subs.back().id;
    for (auto& c : state_.clips(t.key))
      if (c.submission_id == latest) t.clips.push_back(clip_from_row(c));
    acked = !t.clips.empty();
  }
  co_await in_flight_.acquire();
  struct Release {
    Semaphore& s;
    ~Release() { s.release(); }
  } release{in_flight_};
  if (!acked && !co_await submit(t)) co_return;
  for (int regenerated = 0;; ++regenerated) {
    if (!co_await wait_clips(t)) co_return;
    auto errored = std::find_if(t.clips.begin(), t.clips.end(),
                                [](const Clip& c) { return c.status == ClipStatus::error; });
    if (errored == t.clips.end() || regenerated >= s_.regenerate_on_error || stop_submitting_) break;
    // regenerate_on_error: pay for another try (off by default), and say so.
    emit(Event::Kind::warning, &t,
         "a take ended in error (" + (errored->error_message.empty() ? std::string("no reason given")
                                                                     : errored->error_message) +
             "); regenerating, " + std::to_string(regenerated + 1) + " of " + std::to_string(s_.regenerate_on_error));
    t.clips.clear();
    t.last_change = Micros(0);
    if (!co_await submit(t)) co_return;
  }
  co_await download_song(t);
}

asio::awaitable<bool> Engine::submit(SongTask& t) {
  int attempt = 0;
  const long long cost = s_.cost_per_request;
  for (;;) {
    if (stop_submitting_) {
      set_status(t, "skipped", interrupted_ ? "interrupted before submission" : stop_reason_.empty() ? abort_reason_ : stop_reason_);
      co_return false;
    }
    if (s_.budget_tokens && charged_ + reserved_ + cost > *s_.budget_tokens) {
      set_status(t, "skipped", "budget: submitting would cross --budget-tokens " + std::to_string(*s_.budget_tokens));
      co_return false;
    }
    reserved_ += cost;  // hold the budget while we wait for the limiter
    co_await acquire(submit_bucket_);
    if (stop_submitting_) {
      reserved_ -= cost;
      continue;
    }
    auto req = provider_.submit_request(t.payload, t.song->wait_audio);
    auto url = http::join(base_url_, req.target);
    if (!url) {
      reserved_ -= cost;
      fail_run("invalid base URL " + base_url_);
      set_status(t, "skipped", "invalid base URL");
      co_return false;
    }
    auto sub_id = state_.record_intent(t.key, t.key);
    ++requests_["generate"];
    emit(Event::Kind::submitted, &t, "submitting");
    auto timeout = s_.request_timeout;
    if (t.song->wait_audio) timeout = std::max<Millis>(timeout, Millis(130'000));
    auto r = co_await client_.request(req.method, *url, req.body, timeout);
    reserved_ -= cost;

    if (r && r->status / 100 == 2) {
      charged_ += cost;
      retry_budget_.on_success();
      rate_.on_success(now_us());
      submit_bucket_.set_rate(rate_.rate(), now_us());
      auto clips = provider_.parse_submit(r->body);
      if (!clips) {
        state_.record_uncertain(sub_id, "accepted, but the answer could not be read: " + clips.error().message);
        set_status(t, "uncertain",
                   "the server accepted the request but its answer could not be read (" + clips.error().message +
                       "); the clips may exist and be charged. Run with --resubmit-uncertain to submit again");
        co_return false;
      }
      state_.record_ack(sub_id, clips.value());
      t.clips = std::move(clips.value());
      t.last_change = now_us();
      t.status = "submitted";
      co_return true;
    }

    std::string why;
    int http_status = 0;
    std::optional<Micros> retry_after;
    if (!r && r.error().kind == ErrorKind::tls) {
      // An unverifiable server is not a passing fault: stop, say why.
      state_.record_rejected(sub_id, 0, r.error().message);
      fail_run(r.error().message);
      set_status(t, "skipped", "the API server could not be verified");
      co_return false;
    }
    if (!r) {
      why = r.error().message;
      if (r.error().request_sent || r.error().kind != ErrorKind::network) {
        // The request may have reached the server: paying twice is worse than asking.
        state_.record_uncertain(sub_id, why);
        charged_ += cost;  // count it against the budget: it may have been charged
        const bool unreadable = r.error().kind == ErrorKind::protocol;  // e.g. over the size cap
        set_status(t, "uncertain",
                   std::string(unreadable ? "the answer to the generate request could not be read ("
                                          : "no answer to the generate request (") +
                       why + "); it may have been accepted and charged. Run with --resubmit-uncertain to submit again");
        co_return false;
      }
      state_.record_rejected(sub_id, 0, why);
    } else {
      http_status = r->status;
      why = provider_.error_message(http_status, r->body);
      retry_after = note_retry_after(*r);
      if (http_status == 504) {
        // A gateway timeout: the backend may have accepted it.
        state_.record_uncertain(sub_id, "HTTP 504: " + why);
        charged_ += cost;
        set_status(t, "uncertain",
                   "the gateway timed out (504) after forwarding the request; it may have been accepted and "
                   "charged. Run with --resubmit-uncertain to submit again");
        co_return false;
      }
      state_.record_rejected(sub_id, http_status, why);
    }
    auto action = policy::classify(http_status, why);
    std::string what = http_status ? "HTTP " + std::to_string(http_status) + ": " + why : why;
    switch (action) {
      case policy::Action::retry: {
        if (http_status == 429) on_throttled();
        ++attempt;
        if (attempt >= s_.retry_max_attempts || !retry_budget_.try_spend(now_us())) {
          set_status(t, "failed", "gave up after " + std::to_string(attempt) + " attempts: " + what);
          co_return false;
        }
        ++retries_;
        auto delay = policy::backoff_delay(attempt - 1, std::chrono::duration_cast<Micros>(s_.retry_base),
                                           std::chrono::duration_cast<Micros>(s_.retry_cap), unit_random());
        if (retry_after) delay = std::max(delay, *retry_after);
        emit(http_status == 429 ? Event::Kind::throttled : Event::Kind::retry, &t,
             what + "; retrying in " + std::to_string(delay.count() / 1000) + " ms");
        co_await sleep(delay);
        continue;
      }
      case policy::Action::fail_song:
        set_status(t, "failed", "the API refused the request: " + what);
        co_return false;
      case policy::Action::abort_run:
        fail_run("the API rejected the key (" + what + "); check AIML_API_KEY");
        set_status(t, "skipped", "the API rejected the key");
        co_return false;
      case policy::Action::stop_submitting:
        if (stop_reason_.empty()) stop_reason_ = "out of credits (" + what + ")";
        stop_submitting_ = true;
        set_status(t, "skipped", stop_reason_);
        co_return false;
    }
  }
}

// Long-poll flavors: the song asks the server to hold a GET until its clips are
// done (or the server's limit passes), instead of joining the shared poller.
asio::awaitable<bool> Engine::long_poll_clips(SongTask& t) {
  const auto stall = std::chrono::duration_cast<Micros>(s_.stall_timeout);
  const auto hold = std::max<Millis>(s_.request_timeout, Millis(150'000));  // the server holds up to 2 min
  int failures = 0;
  for (;;) {
    std::vector<std::string> ids;
    for (auto& c : t.clips)
      if (!is_terminal(c.status)) ids.push_back(c.id);
    if (ids.empty()) co_return true;
    if (interrupted_ || aborted_) co_return false;
    if (now_us() - t.last_change >= stall) {
      set_status(t, "failed", "stalled: no progress for " + human_duration(now_us() - t.last_change));
      co_return false;
    }
    co_await acquire(poll_bucket_);
    auto req = provider_.poll_request(ids);
    auto url = http::join(base_url_, req.target);
    ++requests_["poll"];
    auto r = co_await client_.request(req.method, *url, req.body, hold);
    bool changed = false;
    if (r && r->status / 100 == 2) {
      auto clips = provider_.parse_poll(r->body);
      if (clips) {
        failures = 0;
        std::vector<Clip> updates;
        for (auto& c : clips.value()) changed |= apply_clip(t, c, updates);
        state_.update_clips(updates);
        if (changed) emit(Event::Kind::progress, &t, std::string(to_string(t.clips.front().status)));
      } else {
        emit(Event::Kind::warning, &t, "poll answer unreadable: " + clips.error().message);
      }
    } else if (!on_poll_failure(r, &t)) {
      co_return false;
    }
    if (!changed) {
      // An answer without progress (or a failure): do not spin.
      auto delay = policy::backoff_delay(std::min(failures++, 6), std::chrono::duration_cast<Micros>(s_.poll_interval),
                                         std::chrono::duration_cast<Micros>(s_.poll_interval_max), 0.5 + unit_random() / 2);
      co_await sleep(delay);
    }
  }
}

asio::awaitable<bool> Engine::wait_clips(SongTask& t) {
  if (t.last_change == Micros(0)) t.last_change = now_us();
  if (provider_.info().long_poll) co_return co_await long_poll_clips(t);
  watch(t);
  const auto stall = std::chrono::duration_cast<Micros>(s_.stall_timeout);
  for (;;) {
    bool all_terminal = std::all_of(t.clips.begin(), t.clips.end(), [](auto& c) { return is_terminal(c.status); });
    if (all_terminal) break;
    if (interrupted_ || aborted_) {
      unwatch(t);
      co_return false;
    }
    auto idle = now_us() - t.last_change;
    if (idle >= stall) {
      unwatch(t);
      std::string which;
      for (auto& c : t.clips)
        if (!is_terminal(c.status)) which += (which.empty() ? "" : ", ") + c.id + " (" + std::string(to_string(c.status)) + ")";
      set_status(t, "failed", "stalled: no progress for " + human_duration(idle) + " on " + which);
      co_return false;
    }
    t.wake->expires_after(stall - idle);
    co_await t.wake->async_wait(use_tuple);
  }
  unwatch(t);
  co_return true;
}

asio::awaitable<Result<http::Download>> Engine::download_with_retries(SongTask& t, const std::string& url_text,
                                                                      const fs::path& part, http::Expect expect) {
  auto url = http::Url::parse(url_text);
  if (!url) {
    Error e;
    e.kind = ErrorKind::protocol;
    e.message = "unusable URL in clip";
    co_return e;
  }
  // https only, unless the API itself is plain http on this machine (the
  // simulator, a local suno-api) and so is the file.
  if (!url->https()) {
    auto api = http::Url::parse(base_url_);
    if (!(api && !api->https() && api->is_loopback() && url->is_loopback())) {
      Error e;
      e.kind = ErrorKind::protocol;
      e.message = "refusing to download over plain http (" + url->origin() + ") from an API that is not plain http on this machine";
      co_return e;
    }
  }
  // The validator of the bytes already in `part`: the next attempt resumes
  // with Range/If-Range instead of restarting. It is kept in memory, and
  // beside `part` only after a failed attempt (so a later run resumes too):
  // a file created and deleted for every download would cost more than the
  // resumes it saves. A hint, not a record: a lost validator only means the
  // whole file is sent again, so no fsync.
  auto etag_file = part;
  etag_file += ".etag";
  std::string validator;
  if (std::ifstream in(etag_file); in) std::getline(in, validator);
  const bool had_file = !validator.empty();
  auto keep_etag = [&validator](const std::string& etag) { validator = etag; };
  for (int attempt = 0;; ++attempt) {
    ++requests_["download"];
    auto r = co_await client_.download(*url, part, validator, expect, s_.request_timeout, keep_etag);
    if (r) {
      std::error_code ec;
      if (had_file || attempt > 0) fs::remove(etag_file, ec);
      co_return r;
    }
    if (r.error().kind == ErrorKind::protocol && (r.error().http_status == 416 || r.error().http_status == 206)) {
      validator.clear();  // the partial file cannot be continued: restart from zero
    }
    if (validator.empty()) {
      std::error_code ec;
      fs::remove(etag_file, ec);
    } else {
      std::ofstream(etag_file, std::ios::trunc) << validator;
    }
    bool retry = r.error().kind == ErrorKind::network || r.error().kind == ErrorKind::protocol ||
                 (r.error().kind == ErrorKind::http && policy::is_retryable(r.error().http_status)) ||
                 (r.error().kind == ErrorKind::http && r.error().http_status == 403);
    if (r.error().kind == ErrorKind::io || r.error().kind == ErrorKind::tls || !retry ||
        attempt + 1 >= s_.retry_max_attempts || interrupted_)
      co_return r;
    ++retries_;
    auto delay = policy::backoff_delay(attempt, std::chrono::duration_cast<Micros>(s_.retry_base),
                                       std::chrono::duration_cast<Micros>(s_.retry_cap), unit_random());
    emit(Event::Kind::retry, &t, "download: " + r.error().message + "; retrying");
    co_await sleep(delay);
  }
}

// Small helpers of download_song: the whole of a small local file, and the
// ID3 tag of one take.
std::string slurp_small_file(const fs::path& p, std::uintmax_t limit = 16u << 20) {
  std::error_code ec;
  if (p.empty() || !fs::is_regular_file(p, ec) || fs::file_size(p, ec) > limit || ec) return {};
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TagInfo tag_info_for(const Manifest& m, const Song& song, const std::string& key, const Clip& c, int take) {
  TagInfo ti;
  ti.title = song.title + (take ? " (B)" : " (A)");
  ti.artist = m.album.artist;
  ti.album = m.album.title;
  ti.track = song.track;
  ti.track_total = static_cast<int>(m.songs.size());
  for (auto& s : m.songs) ti.track_total = std::max(ti.track_total, s.track);
  ti.year = m.album.year;
  // An album genre is a deliberate choice; otherwise the song's first style tag.
  ti.genre = m.album.genre;
  if (ti.genre.empty()) {
    auto first = song.tags.substr(0, song.tags.find(','));
    auto b = first.find_first_not_of(" \t");
    auto e = first.find_last_not_of(" \t");
    if (b != std::string::npos) ti.genre = first.substr(b, e - b + 1);
  }
  if (song.lyrics) ti.lyrics = *song.lyrics;
  ti.clip_id = c.id;
  ti.song_key = key;
  return ti;
}

asio::awaitable<bool> Engine::download_song(SongTask& t) {
  co_await downloads_.acquire();
  struct Release {
    Semaphore& s;
    ~Release() { s.release(); }
  } release{downloads_};

  auto partial_dir = opt_.out_dir / ".setlist" / "partial";
  fs::create_directories(partial_dir);
  std::string failures;
  int take = 0;
  int published = 0;
  const std::string album_cover = slurp_small_file(m_.album.cover);
  emit(Event::Kind::downloading, &t, "downloading");
  for (auto& c : t.clips) {
    int this_take = take++;
    // The clip as the API described it (failed ones too), for later inspection.
    if (!c.raw_json.empty())
      co_await write_and_record(t, fs::path(".setlist") / "clips" / (safe_component(c.id) + ".json"), c.raw_json,
                                c.id, "clip_json");
    if (c.status != ClipStatus::complete) {
      failures += (failures.empty() ? "" : "; ") + std::string("take ") + static_cast<char>('A' + this_take) +
                  " ended in error: " + (c.error_message.empty() ? "no reason given" : c.error_message);
      continue;
    }
    if (this_take >= static_cast<int>(t.audio_paths.size())) continue;
    if (c.audio_url.empty()) {
      failures += (failures.empty() ? "" : "; ") + std::string("clip ") + c.id + " is complete but has no audio_url";
      continue;
    }
    fs::path rel = t.audio_paths[static_cast<std::size_t>(this_take)];
    const std::string safe_id = safe_component(c.id);
    auto part = partial_dir / (safe_id + ".mp3.part");

    // The cover first: it goes into the audio's tag (APIC).
    auto cover_rel = rel;
    cover_rel.replace_extension(".jpg");
    auto cpart = partial_dir / (safe_id + ".jpg.part");
    std::optional<http::Download> cover_dl;
    if (!c.image_url.empty()) {
      auto cr = co_await download_with_retries(t, c.image_url, cpart, http::Expect::jpeg);
      if (cr)
        cover_dl = *cr;
      else
        emit(Event::Kind::warning, &t, "cover not downloaded: " + cr.error().message);
    }

    auto r = co_await download_with_retries(t, c.audio_url, part, http::Expect::mp3);
    if (!r) {
      failures += (failures.empty() ? "" : "; ") + std::string("take ") + static_cast<char>('A' + this_take) +
                  " download failed: " + r.error().message;
      continue;
    }
    // Tag the temporary file, then publish: the file under its final name is
    // always the tagged one. bytes/sha256 describe it as published;
    // source_sha256 the bytes the API sent.
    auto info = tag_info_for(m_, *t.song, t.key, c, this_take);
    struct Finished {
      std::string tag_error;  // published without tags
      std::string error;      // not published
      std::uint64_t bytes = 0;
      std::string sha256;
      std::string source_sha256;  // the bytes as the CDN sent them, before tags
      std::optional<std::pair<std::uint64_t, std::string>> cover;  // published cover: size, digest
    };
    const fs::path final_path = opt_.out_dir / rel, cover_path = opt_.out_dir / cover_rel;
    const bool have_cover = cover_dl.has_value();
    Finished done = co_await on_disk([&] {
      Finished f;
      auto source = file_digest(part);
      if (!source) {
        f.error = source.error().message;
        return f;
      }
      f.source_sha256 = source->second;
      info.cover_jpeg = have_cover ? slurp_small_file(cpart) : std::string();
      if (info.cover_jpeg.empty()) info.cover_jpeg = album_cover;
      if (auto tagged = write_tags(part, info); !tagged) f.tag_error = tagged.error().message;
      auto digest = file_digest(part);
      if (!digest) {
        f.error = digest.error().message;
        return f;
      }
      f.bytes = digest->first;
      f.sha256 = digest->second;
      std::error_code ec;
      fs::create_directories(final_path.parent_path(), ec);
      if (auto pub = publish(part, final_path); !pub) {
        f.error = pub.error().message;
        return f;
      }
      if (have_cover)
        if (auto cd = file_digest(cpart); cd && publish(cpart, cover_path)) f.cover = *cd;
      return f;
    });
    if (!done.tag_error.empty())
      emit(Event::Kind::warning, &t, "take " + std::string(1, static_cast<char>('A' + this_take)) +
                                         " published without tags: " + done.tag_error);
    if (!done.error.empty()) {
      failures += (failures.empty() ? "" : "; ") + done.error;
      continue;
    }
    ++published;
    record_published(t, rel, c.id, "audio", done.bytes, done.sha256, done.source_sha256);
    if (done.cover) record_published(t, cover_rel, c.id, "cover", done.cover->first, done.cover->second, done.cover->second);

  }

  // The lyrics as text beside the audio: "01 - Title (A).mp3" -> "01 - Title.txt".
  if (published > 0 && t.song->lyrics && !t.audio_paths.empty()) {
    auto lyr_rel = t.audio_paths.front();
    auto stem = lyr_rel.stem().string();
    if (stem.size() > 4 && stem.compare(stem.size() - 4, 4, " (A)") == 0) stem.resize(stem.size() - 4);
    lyr_rel.replace_filename(stem + ".txt");
    std::string text = *t.song->lyrics;
    if (!text.empty() && text.back() != '\n') text += '\n';
    if (!co_await write_and_record(t, lyr_rel, text, "", "lyrics")) {
      emit(Event::Kind::warning, &t, "lyrics file not written: " + lyr_rel.generic_string());
    }
  }
  if (failures.empty())
    set_status(t, "complete");
  else
    set_status(t, "failed", failures);
  co_return failures.empty();
}

asio::awaitable<void> Engine::poller() {
  policy::PollSchedule schedule(std::chrono::duration_cast<Micros>(s_.poll_interval),
                                std::chrono::duration_cast<Micros>(s_.poll_interval_max));
  std::size_t batch = s_.poll_batch > 0 ? static_cast<std::size_t>(s_.poll_batch) : provider_.info().poll_batch;
  batch = std::clamp<std::size_t>(batch, 1, provider_.info().max_poll_batch);
  while (songs_running_ > 0 && !interrupted_ && !aborted_) {
    if (watched_.empty()) {
      next_poll_ = steady::time_point::max();
      poller_timer_.expires_at(next_poll_);
      co_await poller_timer_.async_wait(use_tuple);
      continue;
    }
    if (steady::now() < next_poll_) {
      poller_timer_.expires_at(next_poll_);
      co_await poller_timer_.async_wait(use_tuple);
      continue;  // re-check: new work may have moved next_poll_ earlier
    }
    std::vector<std::string> ids;
    for (auto& [id, task] : watched_) ids.push_back(id);
    bool changed_any = false;
    for (std::size_t i = 0; i < ids.size() && !interrupted_; i += batch) {
      std::span<const std::string> chunk(ids.data() + i, std::min(batch, ids.size() - i));
      co_await acquire(poll_bucket_);
      auto req = provider_.poll_request(chunk);
      auto url = http::join(base_url_, req.target);
      ++requests_["poll"];
      auto r = co_await client_.request(req.method, *url, req.body, s_.request_timeout);
      if (!r || r->status / 100 != 2) {
        if (!on_poll_failure(r, nullptr)) break;
        continue;
      }
      auto clips = provider_.parse_poll(r->body);
      if (!clips) {
        emit(Event::Kind::warning, nullptr, "poll answer unreadable: " + clips.error().message);
        continue;
      }
      std::vector<Clip> updates;
      std::set<SongTask*> woken;
      for (auto& c : clips.value()) {
        auto it = watched_.find(c.id);
        if (it == watched_.end() || !apply_clip(*it->second, c, updates)) continue;
        woken.insert(it->second);
        changed_any = true;
      }
      state_.update_clips(updates);
      for (auto* t : woken) {
        emit(Event::Kind::progress, t, std::string(to_string(t->clips.front().status)));
        t->wake->cancel();
      }
    }
    schedule.on_poll(changed_any);
    next_poll_ = steady::now() + std::chrono::duration_cast<steady::duration>(schedule.next_delay());
  }
}

RunSummary Engine::finish() {
  RunSummary s;
  s.songs = static_cast<int>(tasks_.size());
  for (auto& t : tasks_) {
    std::string st = t->status;
    if (st.empty()) {
      auto row = state_.song(t->key);
      st = row ? row->status : "pending";
    }
    if (st == "complete")
      ++s.complete;
    else if (st == "failed")
      ++s.failed;
    else if (st == "skipped")
      ++s.skipped;
    else if (st == "uncertain")
      ++s.uncertain;
    else
      ++s.pending;
  }
  s.tokens_charged = charged_;
  s.requests = requests_;
  s.retries = retries_;
  s.throttled = throttled_;
  s.interrupted = interrupted_;
  s.aborted = aborted_ || !stop_reason_.empty();
  s.abort_reason = aborted_ ? abort_reason_ : stop_reason_;
  return s;
}

}  // namespace

RunSummary run_album(const Manifest& manifest, const RunOptions& options, EventSink& events) {
  RunSummary failed;
  failed.started_at = unix_millis_now();
  failed.songs = static_cast<int>(manifest.songs.size());
  auto fail = [&](std::string why) {
    failed.aborted = true;
    failed.abort_reason = std::move(why);
    failed.ended_at = unix_millis_now();
    failed.pending = failed.songs;
    return failed;
  };

  auto provider = make_provider(options.settings.provider);
  if (!provider) return fail("unknown or unsupported provider '" + options.settings.provider + "'");
  std::string base_url = options.settings.base_url.empty() ? provider->info().default_base_url : options.settings.base_url;
  if (!http::Url::parse(base_url)) return fail("invalid base URL '" + base_url + "'");
  if (provider->info().key_required && options.api_key.empty())
    return fail("no API key: set " + provider->info().key_env + " (or use --api-key-file)");
  if (auto bad = check_template(options.settings.output_template)) return fail(*bad);

  std::error_code ec;
  fs::create_directories(options.out_dir / ".setlist", ec);
  if (ec) return fail("cannot create " + (options.out_dir / ".setlist").string() + ": " + ec.message());
  auto lock = RunLock::acquire(options.out_dir / ".setlist");
  if (!lock) return fail(lock.error().message);
  auto state = StateStore::open(options.out_dir / ".setlist" / "state.db");
  if (!state) return fail(state.error().message);

  try {
    asio::io_context io(1);
    Engine engine(io, manifest, options, events, *state.value(), *provider, base_url);
    engine.prepare();
    std::optional<asio::signal_set> signals;
    int signal_count = 0;
    std::function<void()> arm;
    if (options.handle_signals) {
      signals.emplace(io, SIGINT, SIGTERM);
      arm = [&] {
        signals->async_wait([&](const boost::system::error_code& e, int) {
          if (e) return;
          engine.on_signal(++signal_count);
          arm();
        });
      };
      arm();
    }
    engine.set_on_finished([&] {
      if (signals) signals->cancel();
    });
    engine.start();
    // Runs until every song and the poller are done (or a signal stops it).
    io.run();
    RunSummary s = engine.finish();
    s.ran = true;
    s.started_at = failed.started_at;
    s.ended_at = unix_millis_now();
    return s;
  } catch (const StateError& e) {
    failed.ran = true;  // the lock is ours: reports may describe what state holds
    return fail(std::string("state database error: ") + e.what());
  }
}

}  // namespace setlist
