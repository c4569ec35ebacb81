// Submitting: one coroutine per song, the rate limiter, the budget, and the
// intent → answer receipts whose verdicts lifecycle.hpp gives.
#include "engine/engine_impl.hpp"
#include "setlist/plan.hpp"

namespace setlist::engine {

namespace {

// What one answer to a generate request means (see lifecycle.hpp).
struct Answer {
  SubmitOutcome outcome = SubmitOutcome::maybe_accepted;
  int http_status = 0;
  std::string why;
  bool unreadable = false;  // an answer came but could not be read (over the size cap...)
  std::vector<Clip> clips;
};

Answer read_answer(const Result<http::Response>& r, const Provider& api) {
  Answer a;
  if (!r) {
    a.why = r.error().message;
    if (r.error().kind == ErrorKind::tls)
      a.outcome = SubmitOutcome::unverifiable;
    else if (r.error().request_sent || r.error().kind != ErrorKind::network)
      a.outcome = SubmitOutcome::maybe_accepted;  // it may have reached the server: paying twice is
                                                  // worse than asking
    else
      a.outcome = SubmitOutcome::not_sent;
    a.unreadable = r.error().kind == ErrorKind::protocol;
    return a;
  }
  a.http_status = r->status;
  // The flavor reads the answer: some put their own code in the body, even with HTTP 200.
  auto verdict = api.classify(r->status, r->body);
  if (verdict.code) a.http_status = verdict.code;
  a.why = verdict.message;
  switch (verdict.kind) {
    case AnswerKind::ok: {
      auto clips = api.parse_submit(r->body);
      if (!clips) {
        a.outcome = SubmitOutcome::accepted_unreadable;
        a.why = clips.error().message;
      } else {
        a.outcome = SubmitOutcome::accepted;
        a.clips = std::move(clips.value());
      }
      break;
    }
    case AnswerKind::throttled:
      a.outcome = SubmitOutcome::throttled;
      break;
    case AnswerKind::retry:
      a.outcome = SubmitOutcome::refused_retryable;
      break;
    case AnswerKind::maybe_accepted:
      a.outcome = SubmitOutcome::maybe_accepted;
      break;
    case AnswerKind::fail_song:
      a.outcome = SubmitOutcome::refused_song;
      break;
    case AnswerKind::bad_key:
      a.outcome = SubmitOutcome::bad_key;
      break;
    case AnswerKind::out_of_credits:
      a.outcome = SubmitOutcome::out_of_credits;
      break;
    case AnswerKind::gone:
      a.outcome = SubmitOutcome::gone;
      break;
  }
  return a;
}

bool retryable(SubmitOutcome o) {
  return o == SubmitOutcome::not_sent || o == SubmitOutcome::throttled ||
         o == SubmitOutcome::refused_retryable;
}

}  // namespace

// A protocol error when an answer names a clip id twice, or one already
// recorded for another song: the two songs would share (and overwrite) one
// clip's files and rows.
std::optional<std::string> Engine::foreign_clip(const SongTask& t, const std::vector<Clip>& clips) {
  std::set<std::string> seen;
  for (auto& c : clips) {
    if (!seen.insert(c.id).second) return "protocol error: the answer names clip " + c.id + " twice";
    auto owner = state_.clip_owner(c.id);
    if (owner && *owner != t.key) {
      auto other = state_.song(*owner);
      return "protocol error: the answer names clip " + c.id + ", which already belongs to another song" +
             (other ? " (track " + std::to_string(other->track) + ", \"" + other->title + "\")" : std::string()) +
             "; it is not taken over";
    }
  }
  return std::nullopt;
}

asio::awaitable<void> Engine::song_main(SongTask& t) {
  struct Done {
    Engine& e;
    SongTask& t;
    ~Done() {
      // What a finished song no longer needs goes now, so memory follows the
      // songs in flight, not the album.
      t.phase = SongTask::Phase::done;
      if (t.started.count() > 0) t.ended = now_us();
      t.clips = {};
      t.payload = {};
      t.audio_paths = {};
      e.bind_lane(t, nullptr);
      e.song_finished();
    }
  } done{*this, t};

  co_await in_flight_.acquire();
  SlotGuard slot(in_flight_);
  t.started = now_us();
  for (int i = 0; i < t.decision.paid_requests; ++i)
    if (!co_await submit(t)) co_return;
  for (int regenerated = 0;; ++regenerated) {
    if (!co_await wait_clips(t)) co_return;
    auto errored = std::find_if(t.clips.begin(), t.clips.end(),
                                [](const Clip& c) { return c.status == ClipStatus::error; });
    if (errored == t.clips.end() || regenerated >= s_.regenerate_on_error || stop_submitting_)
      break;
    // regenerate_on_error: pay for another try (off by default), and say so.
    emit(Event::Kind::warning, &t,
         "a take ended in error (" +
             (errored->error_message.empty() ? std::string("no reason given")
                                             : errored->error_message) +
             "); regenerating, " + std::to_string(regenerated + 1) + " of " +
             std::to_string(s_.regenerate_on_error));
    start_new_attempt(t);
    t.clips.clear();
    t.last_change = Micros(0);
    for (int i = 0; i < t.requests_needed; ++i)
      if (!co_await submit(t)) co_return;
  }
  // reject_bad_takes (#19): a flagged take A is bought again (paid, off by
  // default), as a new attempt, until the song has had N attempts more than its first.
  while (co_await download_song(t) && s_.reject_bad_takes > 0 && !stop_submitting_ && !stopping()) {
    auto why = take_to_reject(state_, t.key, s_.reject_bad_takes);
    if (!why) break;
    emit(Event::Kind::warning, &t,
         *why + ": rejected (reject_bad_takes " + std::to_string(s_.reject_bad_takes) +
             "), bought again as attempt " + std::to_string(t.attempt + 1));
    start_new_attempt(t);
    t.clips.clear();
    t.last_change = Micros(0);
    for (int i = 0; i < t.requests_needed; ++i)
      if (!co_await submit(t)) co_return;
    if (!co_await wait_clips(t)) co_return;
  }
}

asio::awaitable<KeyLane*> Engine::acquire_submit(SongTask& t) {
  const int cap = std::max(1, s_.max_in_flight);
  for (;;) {
    const auto now = now_us();
    KeyLane* best = nullptr;
    Micros best_wait = Micros::max();
    // A song keeps its key while that key serves; otherwise the key free
    // soonest among those under their in-flight cap takes it.
    KeyLane* sticky = t.lane ? t.lane : t.home;
    if (sticky && !sticky->retired) {
      best = sticky;
      best_wait = std::max(best->submit_bucket.wait_time(now), best->gate.wait_time(now));
    } else {
      // Among keys free now, the one with the most tokens left: the album
      // spreads over the pool instead of draining the first key to its limit.
      double best_tokens = -1;
      for (auto& l : lanes_) {
        if (l->retired || l->in_flight >= cap) continue;
        auto w = std::max(l->submit_bucket.wait_time(now), l->gate.wait_time(now));
        double tokens = w == Micros(0) ? l->submit_bucket.tokens(now) : 0;
        if (w < best_wait || (w == best_wait && tokens > best_tokens)) {
          best = l.get();
          best_wait = w;
          best_tokens = tokens;
        }
      }
    }
    if (!best) {
      if (live_lanes() == 0) co_return nullptr;
      co_await sleep(Micros(20'000));  // every live key is at its cap: a song ends soon
      continue;
    }
    if (best_wait == Micros(0) && best->submit_bucket.try_take(now)) {
      bind_lane(t, best);
      co_return best;
    }
    co_await sleep(std::max(best_wait, Micros(1000)));
  }
}

// Polls wait in line: each reserves the next slot of the key's get rate and
// sleeps once until it (first come, first served; with a thousand songs
// waiting, no one wakes to find the token taken). A Retry-After that arrives
// meanwhile forfeits the slot: wait for the gate, then take a new one.
asio::awaitable<void> Engine::acquire_poll(KeyLane& lane) {
  for (;;) {
    if (auto gate = lane.gate.wait_time(now_us()); gate > Micros(0)) {
      co_await sleep(gate);
      if (stopping()) co_return;
      continue;
    }
    if (auto slot = lane.poll_bucket.reserve(now_us()); slot > Micros(0)) co_await sleep(slot);
    if (stopping() || lane.gate.wait_time(now_us()) == Micros(0)) co_return;
  }
}

std::optional<Micros> Engine::note_retry_after(KeyLane& lane, const http::Response& r) {
  auto v = r.header("retry-after");
  if (v.empty()) return std::nullopt;
  auto now_unix = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  auto d = policy::parse_retry_after(v, now_unix,
                                     std::chrono::duration_cast<Micros>(s_.retry_after_max));
  if (d) lane.gate.defer_until(now_us() + *d);
  return d;
}

void Engine::on_throttled(KeyLane& lane) {
  ++throttled_;
  ++lane.use.throttled;
  lane.rate.on_throttled(now_us());
  lane.submit_bucket.set_rate(lane.rate.rate(), now_us());
}

// Sends one generate request for `t`, retrying what was provably refused.
// True when it was accepted and its clips joined t.clips.
asio::awaitable<bool> Engine::submit(SongTask& t) {
  const long long cost = t.cost;
  for (int attempt = 0;; ++attempt) {
    t.phase = SongTask::Phase::queued;
    if (stop_submitting_) {
      if (interrupted_ || aborted_) {
        // Not sent: still pending, for the next run.
        state_.set_song_status(t.key, SongStatus::pending,
                               interrupted_ ? "interrupted before submission" : abort_reason_);
      } else {
        set_status(t, SongStatus::skipped, stop_reason_);
      }
      co_return false;
    }
    if (s_.budget_tokens && charged_ + reserved_ + cost > *s_.budget_tokens) {
      set_status(
          t, SongStatus::skipped,
          "budget: submitting would cross --budget-tokens " + std::to_string(*s_.budget_tokens));
      co_return false;
    }
    struct Reservation {  // holds the budget while waiting for the limiter and the answer
      long long& reserved;
      long long cost;
      ~Reservation() { reserved -= cost; }
    } reservation{reserved_, cost};
    reserved_ += cost;
    KeyLane* lane = co_await acquire_submit(t);
    if (!lane) {  // every key of the pool was retired (each said why)
      if (stop_reason_.empty()) stop_reason_ = "every API key was retired";
      stop_submitting_ = true;
    }
    if (stop_submitting_) continue;
    auto req = t.api->submit_request(t.payload, t.song->wait_audio);
    auto url = http::join(base_url_, req.target);
    if (!url) {
      fail_run("invalid base URL " + base_url_);
      co_return false;
    }
    if (test_fault_ == "throw-in-submit")
      throw std::runtime_error("injected fault (SETLIST_TEST_FAULT)");

    t.phase = SongTask::Phase::sending;
    auto sub_id = state_.record_intent(t.key, t.key, t.attempt, lane->fingerprint);
    mark(&t, "submit");
    ++requests_["generate"];
    ++lane->use.generate;
    emit(Event::Kind::submitted, &t, "submitting");
    auto timeout = s_.request_timeout;
    if (t.song->wait_audio) timeout = std::max<Millis>(timeout, Millis(130'000));
    auto r = co_await client_.request(req.method, *url, req.body, timeout, lane->index);
    t.phase = SongTask::Phase::queued;

    Answer a = read_answer(r, *t.api);
    if (a.outcome == SubmitOutcome::accepted)
      if (auto why = foreign_clip(t, a.clips)) {
        // Paid for (the server took it), but its clips cannot be this song's:
        // uncertain, never a takeover of another song's clips.
        a.outcome = SubmitOutcome::accepted_unreadable;
        a.why = *why;
      }
    std::optional<Micros> retry_after;
    if (r) {
      api_answered_ = true;
      unreachable_in_a_row_ = 0;
      retry_after = note_retry_after(*lane, *r);
    } else if (a.outcome == SubmitOutcome::not_sent) {
      ++unreachable_in_a_row_;
    }
    const std::string what =
        a.http_status ? "HTTP " + std::to_string(a.http_status) + ": " + a.why : a.why;
    // A pool's key refused (401) or out of credits: nothing was taken, so
    // the request goes out again with another key, and this one rests.
    // (This trusts a 401/402 to mean "not taken", as submit_verdict does;
    // the resend then happens in this run rather than the next.)
    if ((a.outcome == SubmitOutcome::bad_key || a.outcome == SubmitOutcome::out_of_credits) &&
        retire(*lane, (a.outcome == SubmitOutcome::bad_key ? "the API rejected it: " : "out of credits: ") + what,
               a.outcome == SubmitOutcome::bad_key)) {
      state_.record_rejected(sub_id, a.http_status, a.why);
      bind_lane(t, nullptr);
      --attempt;  // not an attempt of the song's: the key's
      continue;
    }
    bool can_retry = false;
    if (retryable(a.outcome)) {
      // An API that has never answered and keeps refusing connections is
      // unreachable: say so once instead of failing song after song.
      const bool unreachable =
          !api_answered_ && unreachable_in_a_row_ >= std::min(3, s_.retry_max_attempts);
      can_retry =
          !unreachable && attempt + 1 < s_.retry_max_attempts && lane->retry_budget.try_spend(now_us());
    }
    const SubmitVerdict v = submit_verdict(a.outcome, can_retry, api_answered_);

    switch (v.receipt) {
      case Receipt::acked:
        state_.record_ack(sub_id, a.clips);
        break;
      case Receipt::rejected:
        state_.record_rejected(sub_id, a.http_status, a.why);
        break;
      case Receipt::uncertain:
        state_.record_uncertain(sub_id, what);
        break;
    }
    if (v.charged) {
      charge(cost);
      t.charged += cost;
      lane->use.tokens += cost;
    }
    if (a.outcome == SubmitOutcome::throttled) on_throttled(*lane);

    if (a.outcome == SubmitOutcome::accepted) {
      if (a.clips.empty()) {  // a 2xx without clips: paid, and nothing to wait for
        state_.record_uncertain(sub_id, "accepted, but the answer named no clips");
        set_status(t, SongStatus::uncertain, "the server accepted the request but named no clips");
        co_return false;
      }
      lane->retry_budget.on_success();
      lane->rate.on_success(now_us());
      lane->submit_bucket.set_rate(lane->rate.rate(), now_us());
      for (auto& c : a.clips) {
        clip_lane_[c.id] = lane;
        t.clips.push_back(std::move(c));
      }
      mark(&t, "accepted");
      t.last_change = now_us();
      t.accepted = t.last_change;
      t.final = SongStatus::submitted;
      co_return true;
    }
    if (v.retry) {
      ++retries_;
      auto delay =
          policy::backoff_delay(attempt, std::chrono::duration_cast<Micros>(s_.retry_base),
                                std::chrono::duration_cast<Micros>(s_.retry_cap), unit_random());
      if (retry_after) delay = std::max(delay, *retry_after);
      mark(&t, a.outcome == SubmitOutcome::throttled ? "429" : "retry", delay.count() / 1000, what);
      emit(a.outcome == SubmitOutcome::throttled ? Event::Kind::throttled : Event::Kind::retry, &t,
           what + "; retrying in " + std::to_string(delay.count() / 1000) + " ms");
      co_await sleep(delay);
      continue;
    }

    // The end of this song's submission in this run.
    std::string reason;
    switch (a.outcome) {
      case SubmitOutcome::accepted_unreadable:
        reason =
            "the server accepted the request but its answer could not be read (" + a.why +
            "); the clips may exist and be charged. Run with --resubmit-uncertain to submit again";
        break;
      case SubmitOutcome::maybe_accepted:
        reason = a.http_status == 504
                     ? "the gateway timed out (504) after forwarding the request; it may have been "
                       "accepted and "
                       "charged. Run with --resubmit-uncertain to submit again"
                     : std::string(a.unreadable
                                       ? "the answer to the generate request could not be read ("
                                       : "no answer to the generate request (") +
                           a.why +
                           "); it may have been accepted and charged. Run with "
                           "--resubmit-uncertain to submit again";
        break;
      case SubmitOutcome::not_sent:
        reason = "could not reach the API (" + a.why + "); nothing was sent";
        break;
      case SubmitOutcome::unverifiable:
        reason = "the API server could not be verified: " + a.why;
        break;
      case SubmitOutcome::throttled:
      case SubmitOutcome::refused_retryable:
        reason = "gave up after " + std::to_string(attempt + 1) + " attempts: " + what;
        break;
      case SubmitOutcome::refused_song:
        reason = "the API refused the request: " + what;
        break;
      case SubmitOutcome::bad_key:  // classify() already says so and names the key variable
        reason = a.why.find(provider_.info().key_env) == std::string::npos
                     ? "the API rejected the key (" + what + "); " + key_hint(provider_.info())
                     : what;
        break;
      case SubmitOutcome::out_of_credits:
        reason = "out of credits (" + what + ")";
        break;
      case SubmitOutcome::gone:
        reason = "the API no longer serves this request: " + what;
        break;
      case SubmitOutcome::accepted:
        break;
    }
    if (v.run == RunEffect::abort_run) {
      fail_run(a.outcome == SubmitOutcome::not_sent
                   ? "cannot reach the API at " + base_url_ + ": " + a.why
                   : reason);
    } else if (v.run == RunEffect::stop_submitting) {
      if (stop_reason_.empty()) stop_reason_ = reason;
      stop_submitting_ = true;
    }
    if (v.song == SongStatus::pending) {
      t.final = SongStatus::pending;
      state_.set_song_status(t.key, SongStatus::pending,
                             reason);  // nothing was taken: the next run sends it
    } else {
      set_status(t, v.song,
                 v.song == SongStatus::skipped && !stop_reason_.empty() ? stop_reason_ : reason);
    }
    co_return false;
  }
}

}  // namespace setlist::engine
