// Running: the io_context, signals, structured shutdown and the summary.
//
// Shutdown never stops the io_context from outside. Every song coroutine
// and the poller are spawned with a cancellation slot; stopping emits on
// them, each frame leaves its wait with an exception and unwinds while the
// Engine is alive, and io_context::run() returns once the last one is done.
//   first signal   stop submitting; songs queued or waiting for clips end at
//                  once (their rows are already consistent); requests on the
//                  wire and downloads get `stop_grace` to finish
//   second signal, the grace's end, an internal error: cancel everything left
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>

#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <signal.h>

#include <algorithm>
#include <cstdlib>

#include "common/hash.hpp"
#include "engine/engine_impl.hpp"
#include "engine/settled.hpp"
#include "http/url.hpp"
#include "setlist/output.hpp"

namespace setlist {

std::string key_fingerprint(std::string_view key) { return "k-" + sha256_hex(key).substr(0, 8); }

namespace engine {

Micros now_us() { return std::chrono::duration_cast<Micros>(steady::now().time_since_epoch()); }

std::string human_duration(Micros d) {
  auto s = d.count() / 1'000'000;
  if (s < 120) return std::to_string(s) + " s";
  return std::to_string(s / 60) + " min";
}

Engine::Engine(const Manifest& m, const RunOptions& opt, EventSink& sink, StateStore& state,
               const Provider& provider, std::string base_url)
    : m_(m),
      opt_(opt),
      s_(opt.settings),
      sink_(sink),
      state_(state),
      provider_(provider),
      base_url_(std::move(base_url)),
      client_(io_.get_executor(), client_options()),
      in_flight_(io_.get_executor(),
                 std::max(1, s_.max_in_flight) * static_cast<int>(std::max<std::size_t>(1, opt.api_keys.size()))),
      downloads_(io_.get_executor(), std::max(1, s_.download_concurrency)),
      poller_timer_(io_, steady::time_point::max()),
      grace_timer_(io_, steady::time_point::max()),
      tick_timer_(io_, steady::time_point::max()),
      rng_(std::random_device{}()) {
  // The key pool: a lane per key (one lane, without a key, when none is given).
  const double retry_capacity = std::max(20.0, 4.0 * static_cast<double>(m.songs.size()));
  std::vector<std::string> authorizations;
  for (auto& key : opt_.api_keys) {
    lanes_.push_back(std::make_unique<KeyLane>(lanes_.size(), key_fingerprint(key), s_, retry_capacity, now_us()));
    authorizations.push_back("Bearer " + key);
  }
  if (lanes_.empty()) lanes_.push_back(std::make_unique<KeyLane>(0, std::string(), s_, retry_capacity, now_us()));
  if (!authorizations.empty())
    if (auto u = http::Url::parse(base_url_)) client_.set_credentials(u->origin(), std::move(authorizations));
  if (const char* f = std::getenv("SETLIST_TEST_FAULT")) test_fault_ = f;
  album_cover_ = m_.album.cover_data;  // read (and confined) when the manifest was loaded
  asio::post(disk_, [] { (void)::pthread_setname_np(::pthread_self(), "setlist-disk"); });
}

Engine::TeardownPause::~TeardownPause() {
  const char* f = std::getenv("SETLIST_TEST_FAULT");
  if (!f || std::string_view(f) != "teardown-pause") return;
  static const char kSaid[] = "test: teardown pause\n";
  (void)!::write(2, kSaid, sizeof kSaid - 1);
  ::usleep(1500 * 1000);
}

Engine::~Engine() {
  // Normally run() returned with every frame finished. If not (an exception
  // escaped run()), finish them now, while everything they refer to exists.
  if (coroutines_ > 0) {
    hard_stop();
    io_.restart();
    io_.run();
  }
  disk_.join();
  analysis_.join();
  try {
    state_.batch_writes(false);  // run() did, unless it threw
  } catch (const StateError&) {
  }
}

void Engine::lower_priority() {
  // Linux: a thread's nice value is its own (setpriority on its thread id).
  // The network thread must never wait behind a decoder; a failure only
  // leaves the thread at the normal priority.
  thread_local bool done = false;
  if (done) return;
  done = true;
  (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), 10);
  (void)::pthread_setname_np(::pthread_self(), "setlist-analyze");  // as top and perf show it
}

KeyLane::KeyLane(std::size_t i, std::string fp, const Settings& s, double retry_capacity, Micros now)
    : index(i),
      fingerprint(std::move(fp)),
      submit_bucket(s.submit_rate, s.submit_burst, now),
      poll_bucket(s.poll_rate, s.poll_burst, now),
      rate(s.submit_rate, std::max(0.01, s.submit_rate / 64), s.submit_rate),
      retry_budget(retry_capacity, 0.2, 0.5, now) {
  use.fingerprint = fingerprint;
}

int Engine::live_lanes() const {
  return static_cast<int>(std::count_if(lanes_.begin(), lanes_.end(), [](auto& l) { return !l->retired; }));
}

// A clip is polled with the key that submitted it; one resumed from a run
// with a key no longer in the pool goes with the first key (prepare warns).
KeyLane& Engine::lane_of(const std::string& clip_id) {
  auto it = clip_lane_.find(clip_id);
  return it != clip_lane_.end() ? *it->second : *lanes_.front();
}

void Engine::bind_lane(SongTask& t, KeyLane* lane) {
  if (t.lane == lane) return;
  if (t.lane) --t.lane->in_flight;
  t.lane = lane;
  if (lane) ++lane->in_flight;
}

bool Engine::retire(KeyLane& lane, const std::string& why, bool refused) {
  if (lane.retired) {
    if (refused && !lane.refused) {
      lane.refused = true;
      lane.use.retired = why;
    }
    return true;
  }
  if (live_lanes() <= 1) return false;
  lane.retired = true;
  lane.refused = refused;
  lane.use.retired = why;
  emit(Event::Kind::warning, nullptr,
       "key " + lane.fingerprint + " retired for this run (" + why + "); " + std::to_string(live_lanes()) +
           " other key(s) carry on");
  return true;
}

http::ClientOptions Engine::client_options() const {
  http::ClientOptions o;
  o.resolve_timeout = s_.connect_timeout;
  o.connect_timeout = s_.connect_timeout;
  o.max_download = s_.max_download_size;
  o.cacert = opt_.cacert;
  o.https_proxy = opt_.https_proxy;
  o.no_proxy = opt_.no_proxy;
  o.api_base = base_url_;
  return o;
}

void Engine::emit(Event::Kind k, const SongTask* t, std::string msg) {
  Event e;
  e.kind = k;
  if (t) {
    e.track = t->song->track;
    e.title = t->song->title;
  }
  e.message = std::move(msg);
  // The pool's pace: the live keys' limits summed; the shortest Retry-After
  // wait among them (the pool is held back only while every key is).
  double limit = 0;
  Micros wait = Micros::max();
  const Micros now = now_us();
  for (auto& l : lanes_)
    if (!l->retired) {
      limit += l->rate.rate();
      wait = std::min(wait, l->gate.wait_time(now));
    }
  e.submit_limit = limit;
  e.throttle_wait_ms = wait == Micros::max() ? 0 : wait.count() / 1000;
  e.throttled = throttled_;
  sink_.on_event(e);
}

void Engine::mark(const SongTask* t, const char* kind, std::int64_t ms, std::string detail) {
  TimelineRow row;
  row.run = run_id_;
  if (t) {
    row.song_key = t->key;
    t->on_timeline = true;
  }
  row.kind = kind;
  row.at = unix_millis_now();
  row.ms = ms;
  row.detail = std::move(detail);
  // Batched (#20): no receipt is at stake, and one transaction for a few
  // hundred moments costs what one did alone. finish() writes the rest.
  timeline_pending_.push_back(std::move(row));
  const Micros now = now_us();
  if (timeline_pending_.size() >= 256 || now - timeline_flushed_ >= Micros(250'000)) flush_timeline();
}

void Engine::flush_timeline() {
  timeline_flushed_ = now_us();
  if (timeline_pending_.empty()) return;
  state_.record_timeline(timeline_pending_);
  timeline_pending_.clear();
}

void Engine::emit_tick() { emit(Event::Kind::tick, nullptr, {}); }

// The status line's clock: a tick every opt_.tick while songs run. It ends
// with the last song (song_finished) or a hard stop, like every coroutine.
// It also commits the state writes gathered since the last one (group
// commit, StateStore::batch_writes) every kCommitEvery.
asio::awaitable<void> Engine::ticker() {
  constexpr auto kCommitEvery = std::chrono::milliseconds(200);
  const bool ticks = opt_.tick.count() > 0;
  auto next_tick = steady::now() + opt_.tick;
  while (songs_running_ > 0 && !hard_stopped_) {
    auto wake = steady::now() + kCommitEvery;
    if (ticks) wake = std::min(wake, next_tick);
    tick_timer_.expires_at(wake);
    auto [ec] = co_await tick_timer_.async_wait(use_tuple);
    if (ec || songs_running_ == 0 || hard_stopped_) break;
    state_.commit_writes();
    if (ticks && steady::now() >= next_tick) {
      emit_tick();
      next_tick = steady::now() + opt_.tick;
    }
  }
}

void Engine::set_status(SongTask& t, SongStatus status, const std::string& reason) {
  t.final = status;
  state_.set_song_status(t.key, status, reason);
  switch (status) {
    case SongStatus::complete:
      if (t.on_timeline) mark(&t, "done");
      emit(Event::Kind::song_done, &t, "complete");
      break;
    case SongStatus::failed:
    case SongStatus::uncertain:
      if (t.on_timeline) mark(&t, "failed", 0, reason);
      emit(Event::Kind::song_failed, &t, std::string(to_string(status)) + ": " + reason);
      break;
    case SongStatus::skipped:
      emit(Event::Kind::warning, &t, "skipped: " + reason);
      break;
    default:
      break;
  }
}

void Engine::fail_run(const std::string& why) {
  if (!aborted_) {
    aborted_ = true;
    abort_reason_ = why;
  }
  stop_submitting_ = true;
  // Songs waiting for a slot or for clips have nothing to finish.
  for (auto& t : tasks_)
    if (t->phase == SongTask::Phase::queued || t->phase == SongTask::Phase::waiting)
      t->cancel.emit(asio::cancellation_type::terminal);
  poller_cancel_.emit(asio::cancellation_type::terminal);
}

void Engine::charge(long long tokens) {
  charged_ += tokens;
  state_.set_meta("tokens_charged_to_date", std::to_string(charged_before_ + charged_));
  state_.commit_writes();  // money: never left to the group commit
}

void Engine::spawn(SongTask& t) {
  ++coroutines_;
  ++songs_running_;
  t.wake = std::make_unique<asio::steady_timer>(io_, steady::time_point::max());
  asio::co_spawn(io_, song_main(t),
                 asio::bind_cancellation_slot(
                     t.cancel.slot(), [this](std::exception_ptr ep) { on_coroutine_end(ep); }));
}

void Engine::on_coroutine_end(std::exception_ptr ep) {
  --coroutines_;
  if (!ep) return;
  try {
    std::rethrow_exception(ep);
  } catch (const boost::system::system_error& e) {
    if (e.code() == asio::error::operation_aborted)
      return;  // stopped: its row is already consistent
    fail_run(std::string("internal error: ") + e.what());
  } catch (const StateError& e) {
    fail_run(std::string("state database error: ") + e.what());
  } catch (const std::exception& e) {
    fail_run(std::string("internal error: ") + e.what());
  }
  hard_stop();
}

void Engine::on_signal(int count) {
  if (count == 1)
    polite_stop();
  else
    hard_stop();
}

void Engine::polite_stop() {
  if (interrupted_) return;
  interrupted_ = true;
  stop_submitting_ = true;
  emit(Event::Kind::warning, nullptr,
       "interrupted: no new requests; answers on the wire are recorded, then it stops (again to "
       "stop at once)");
  for (auto& t : tasks_)
    if (t->phase == SongTask::Phase::queued || t->phase == SongTask::Phase::waiting)
      t->cancel.emit(asio::cancellation_type::terminal);
  poller_cancel_.emit(asio::cancellation_type::terminal);
  if (songs_running_ == 0) return;
  grace_timer_.expires_after(opt_.stop_grace);
  grace_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) hard_stop();
  });
}

void Engine::hard_stop() {
  if (!interrupted_ && !aborted_) interrupted_ = true;
  hard_stopped_ = true;
  stop_submitting_ = true;
  for (auto& t : tasks_)
    if (t->phase != SongTask::Phase::done) t->cancel.emit(asio::cancellation_type::terminal);
  poller_cancel_.emit(asio::cancellation_type::terminal);
  tick_timer_.cancel();
  ticker_cancel_.emit(asio::cancellation_type::terminal);
}

// The last song to end lets the poller, the grace timer and the signal wait
// go, so that run() returns.
void Engine::song_finished() {
  if (--songs_running_ > 0) return;
  poller_timer_.cancel();
  grace_timer_.cancel();
  tick_timer_.cancel();
  if (signals_) signals_->cancel();
}

RunSummary Engine::run() {
  std::function<void()> arm;
  if (opt_.handle_signals) {
    signals_.emplace(io_, SIGINT, SIGTERM);
    arm = [this, &arm] {
      signals_->async_wait([this, &arm](const boost::system::error_code& e, int) {
        if (e) return;
        on_signal(++signal_count_);
        arm();
      });
    };
    arm();
  }
  const bool on_timeline =
      std::any_of(tasks_.begin(), tasks_.end(), [](auto& t) { return !t->final; });
  if (on_timeline) mark(nullptr, "run");
  for (auto& t : tasks_)
    if (!t->final) spawn(*t);
  if (opt_.handle_signals && opt_.early_signals)
    for (int i = opt_.early_signals(); i > 0; --i) on_signal(++signal_count_);
  if (songs_running_ > 0) {
    ++coroutines_;
    asio::co_spawn(
        io_, poller(),
        asio::bind_cancellation_slot(poller_cancel_.slot(),
                                     [this](std::exception_ptr ep) { on_coroutine_end(ep); }));
    state_.batch_writes(true);  // committed by the ticker, and below
    ++coroutines_;
    asio::co_spawn(
        io_, ticker(),
        asio::bind_cancellation_slot(ticker_cancel_.slot(),
                                     [this](std::exception_ptr ep) { on_coroutine_end(ep); }));
  } else if (signals_) {
    signals_->cancel();
  }
  io_.run();  // until every coroutine has ended
  state_.batch_writes(false);  // what gathered is committed
  tag_album_gain();
  if (on_timeline) mark(nullptr, "end");
  // The signal set stays registered (not waiting) until the Engine goes, so
  // a Ctrl-C while the reports are written is counted, not fatal.
  return finish();
}

RunSummary Engine::finish() {
  flush_timeline();
  sync_published_folders();  // the renames of this run's last 200 ms
  RunSummary s;
  std::map<std::string, int> takes;  // audio files on disk as recorded, by song key
  state_.each_file([&](const FileRow& f) {  // row by row: a large album's rows are tens of MiB
    if (f.kind == "audio" && file_intact(opt_.out_dir, f)) ++takes[f.song_key];
  });
  for (auto& t : tasks_) {
    SongStatus st = t->final ? *t->final : SongStatus::pending;
    if (!t->final || !t->selected)
      if (auto row = state_.song(t->key)) st = row->status;
    SongResult r;
    r.track = t->song->track;
    r.title = t->song->title;
    r.status = std::string(to_string(st));
    r.selected = t->selected;
    r.takes = takes[t->key];
    if (t->started.count() > 0 && t->ended >= t->started) r.ms = (t->ended - t->started).count() / 1000;
    r.tokens = t->charged;
    s.song_results.push_back(std::move(r));
    if (!t->selected) {
      ++s.not_selected;
      continue;
    }
    ++s.songs;
    switch (st) {
      case SongStatus::complete:
        ++s.complete;
        break;
      case SongStatus::failed:
        ++s.failed;
        break;
      case SongStatus::skipped:
        ++s.skipped;
        break;
      case SongStatus::uncertain:
        ++s.uncertain;
        break;
      default:
        ++s.pending;
        break;
    }
  }
  s.tokens_charged = charged_;
  s.tokens_charged_to_date = charged_before_ + charged_;
  s.requests = requests_;
  s.retries = retries_;
  s.throttled = throttled_;
  if (!opt_.api_keys.empty())
    for (auto& l : lanes_) s.keys.push_back(l->use);
  s.interrupted = interrupted_ && !aborted_;
  s.aborted = aborted_ || !stop_reason_.empty();
  s.abort_reason = aborted_ ? abort_reason_ : stop_reason_;
  return s;
}

}  // namespace engine

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

  auto provider = make_provider(options.settings.provider, provider_options(options.settings));
  if (!provider) return fail("unknown or unsupported provider '" + options.settings.provider + "'");
  std::string base_url = options.settings.base_url.empty() ? provider->info().default_base_url
                                                           : options.settings.base_url;
  if (!http::Url::parse(base_url)) return fail("invalid base URL '" + base_url + "'");
  if (auto bad = check_template(options.settings.output_template)) return fail(*bad);

  std::error_code ec;
  engine::fs::create_directories(options.out_dir / ".setlist", ec);
  if (ec)
    return fail("cannot create " + (options.out_dir / ".setlist").string() + ": " + ec.message());
  auto lock = RunLock::acquire(options.out_dir / ".setlist");
  if (!lock) return fail(lock.error().message);
  // A database that cannot be trusted with money stops the run before
  // anything is sent (state.hpp: open_album_state).
  auto state = open_album_state(options.out_dir, true, /*check_pages=*/false);
  if (!state) return fail(state.error().message);
  // One shard per OUT: a shard's songs are bought in its own folder, so that
  // `merge` can tell which shard bought what.
  if (options.shard)
    if (auto recorded = state.value()->meta("shard"); recorded && !recorded->empty() &&
                                                      *recorded != options.shard->label())
      return fail(options.out_dir.string() + " holds shard " + *recorded + " of this album; run shard " +
                  options.shard->label() + " in a folder of its own (each shard has its own OUT, state and lock)");

  // #20: a finished album with nothing changed since is not read song by song.
  const auto fingerprint = options.settled_shortcut ? engine::settled_fingerprint(manifest, options) : std::string();
  try {
    if (auto settled = engine::settled_summary(*state.value(), options.out_dir, fingerprint)) {
      settled->ran = true;
      settled->started_at = failed.started_at;
      settled->ended_at = unix_millis_now();
      return *settled;
    }
    // A finished album with nothing to do sends and writes nothing; every
    // other run reads every page of state once before it does (SQLite's
    // quick_check: a database that cannot be trusted with money stops here).
    if (auto damage = album_state_damage(*state.value(), options.out_dir)) return fail(*damage);
    // This run may change anything: the record of the last one goes until
    // this one settles the album again.
    engine::record_settled(*state.value(), options.out_dir, {}, RunSummary{});
  } catch (const StateError& e) {
    if (auto damage = album_state_damage(*state.value(), options.out_dir)) return fail(*damage);
    return fail(std::string("state database error: ") + e.what());
  }

  RunSummary s;
  // The engine stays until the reports are written: its signal set keeps a
  // Ctrl-C meanwhile from killing the process half-way. When it goes, Asio
  // puts back the default action; the caller's handlers are restored with
  // the signals blocked, so none falls in between.
  struct sigaction old_int {
  }, old_term{};
  ::sigaction(SIGINT, nullptr, &old_int);
  ::sigaction(SIGTERM, nullptr, &old_term);
  std::optional<engine::Engine> engine;
  try {
    engine.emplace(manifest, options, events, *state.value(), *provider, base_url);
    // A run that would send and poll nothing (every song complete, or only
    // files to fetch again from the CDN) needs no key.
    engine->plan_tasks();
    if (provider->info().key_required && options.api_keys.empty() && engine->needs_api())
      return fail("no API key: set " + provider->info().key_env + " (or use --api-key-file)");
    engine->prepare();
    s = engine->run();
  } catch (const StateError& e) {
    s = fail(std::string("state database error: ") + e.what());
  }
  s.ran = true;  // the lock is ours: reports may describe what state holds
  s.started_at = failed.started_at;
  s.ended_at = unix_millis_now();
  if (options.before_unlock) {
    try {
      options.before_unlock(*state.value(), s);
    } catch (const StateError& e) {
      if (!s.aborted) s = fail(std::string("state database error: ") + e.what());
      s.ran = true;
    }
  }
  sigset_t stop_signals, previous;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  ::pthread_sigmask(SIG_BLOCK, &stop_signals, &previous);
  {
    // Asio puts back the default action when the engine's signal set goes,
    // while threads of the engine (the client's digest thread, the name
    // resolver's) are still there to take a second Ctrl-C with it and kill
    // the process. A set of our own keeps asio's handler until they are gone.
    std::optional<boost::asio::io_context> guard_io;
    std::optional<boost::asio::signal_set> guard;
    if (options.handle_signals) {
      guard_io.emplace(1);
      guard.emplace(*guard_io, SIGINT, SIGTERM);
    }
    engine.reset();  // joins the disk and analysis threads: it may take a moment
  }
  // Every writer is done: the receipts this run added are checked against
  // state (the next start checks from here), and a run that finished the
  // album leaves the record that lets the next one skip reading it.
  try {
    const bool receipts_held = check_new_receipts(*state.value(), options.out_dir);
    engine::record_settled(*state.value(), options.out_dir, receipts_held ? fingerprint : std::string(), s);
  } catch (const StateError& e) {
    events.on_event(Event{Event::Kind::warning, 0, {}, std::string("state database error: ") + e.what()});
  }
  // A Ctrl-C that came meanwhile finds the run over, its state and reports
  // written: it is taken here, not left pending to kill the process with
  // the default action once the old disposition is back.
  const timespec no_wait{0, 0};
  while (::sigtimedwait(&stop_signals, nullptr, &no_wait) > 0) {
  }
  ::sigaction(SIGINT, &old_int, nullptr);
  ::sigaction(SIGTERM, &old_term, nullptr);
  ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  return s;
}

}  // namespace setlist
