// Polling: one batching poller for the ids of every waiting song, long polls
// for flavors whose server holds the GET, and the wait of each song for its
// clips. A failed poll never causes a resubmission.
#include "engine/engine_impl.hpp"

namespace setlist::engine {

// A poll that failed or was refused: honour Retry-After and throttling; stop
// the run on a rejected key or an unverifiable server (returns false).
bool Engine::on_poll_failure(const Result<http::Response>& r, const SongTask* t,
                             const Provider& api, KeyLane& lane) {
  if (!r) {
    if (r.error().kind == ErrorKind::tls) {
      fail_run(r.error().message);
      return false;
    }
    mark(t, "retry", 0, "poll failed: " + r.error().message);
    emit(Event::Kind::retry, t, "poll failed: " + r.error().message);
    return true;
  }
  api_answered_ = true;
  auto wait = note_retry_after(lane, *r);
  auto v = api.classify(r->status, r->body);
  const int code = v.code ? v.code : r->status;
  if (v.kind == AnswerKind::throttled) on_throttled(lane);
  mark(t, v.kind == AnswerKind::throttled ? "429" : "retry",
       wait ? wait->count() / 1000 : 0, "poll answered " + std::to_string(code));
  if (v.kind == AnswerKind::bad_key) {
    // With other keys left, only the songs this key submitted stop waiting:
    // they stay submitted (paid) and the next run polls them again.
    const std::string why = "the API rejected it while polling (" + std::to_string(code) + ": " + v.message + ")";
    if (retire(lane, why, true)) return false;
    fail_run("the API rejected the key while polling (" + std::to_string(code) + ": " + v.message +
             "); " + key_hint(provider_.info()));
    return false;
  }
  emit(Event::Kind::retry, t, "poll answered " + std::to_string(code) + ": " + v.message);
  return true;
}

// One poll answer for `t`'s clips: applied and journaled. False when the run must stop.
bool Engine::apply_poll_answer(SongTask& t, const Result<http::Response>& r, bool& changed, KeyLane& lane) {
  changed = false;
  if (!r || t.api->classify(r->status, r->body).kind != AnswerKind::ok)
    return on_poll_failure(r, &t, *t.api, lane);  // the key this request went out with
  api_answered_ = true;
  auto clips = t.api->parse_poll(r->body);
  if (!clips) {
    emit(Event::Kind::warning, &t, "poll answer unreadable: " + clips.error().message);
    return true;
  }
  std::vector<Clip> updates;
  for (auto& c : clips.value()) changed |= apply_clip(t, c, updates);
  state_.update_clips(updates);
  if (changed) emit(Event::Kind::progress, &t, std::string(to_string(t.clips.front().status)));
  return true;
}

// Applies a polled clip to its song; true when its status or URL changed.
bool Engine::apply_clip(SongTask& t, const Clip& c, std::vector<Clip>& updates) {
  for (auto& mine : t.clips) {
    if (mine.id != c.id || (mine.status == c.status && mine.audio_url == c.audio_url)) continue;
    if (mine.status != c.status) t.last_change = now_us();  // progress resets the stall clock
    if (c.credits_used && !mine.credits_used && t.api->info().clips_per_request == 1)
    {
      charge(*c.credits_used - t.cost);  // the budget counts what the request really cost, once known
      lane_of(c.id).use.tokens += *c.credits_used - t.cost;
    }
    mine = c;
    updates.push_back(c);
    return true;
  }
  return false;
}

void Engine::watch(SongTask& t) {
  for (auto& c : t.clips)
    if (!is_terminal(c.status)) watched_[c.id] = &t;
  // New work: poll soon rather than after a long backoff.
  auto soon = steady::now() + s_.poll_interval;
  if (soon < next_poll_) {
    next_poll_ = soon;
    poller_timer_.cancel();
  }
}

void Engine::unwatch(SongTask& t) {
  for (auto& c : t.clips) watched_.erase(c.id);
}

// Long-poll flavors: the song asks the server to hold a GET until its clips are
// done (or the server's limit passes), instead of joining the shared poller.
asio::awaitable<bool> Engine::long_poll_clips(SongTask& t) {
  const auto stall = std::chrono::duration_cast<Micros>(s_.stall_timeout);
  const auto hold =
      std::max<Millis>(s_.request_timeout, Millis(150'000));  // the server holds up to 2 min
  int failures = 0;
  for (;;) {
    std::vector<std::string> ids;
    for (auto& c : t.clips)
      if (!is_terminal(c.status)) ids.push_back(c.id);
    if (ids.empty()) co_return true;
    if (stopping()) co_return false;
    if (now_us() - t.last_change >= stall) {
      set_status(t, SongStatus::failed,
                 "stalled: no progress for " + human_duration(now_us() - t.last_change));
      co_return false;
    }
    // One key's clips per request (a song's clips may come from two keys).
    KeyLane& lane = lane_of(ids.front());
    std::erase_if(ids, [&](const std::string& id) { return &lane_of(id) != &lane; });
    if (lane.refused) co_return false;  // its key was refused: the next run polls these
    co_await acquire_poll(lane);
    if (stopping()) co_return false;
    auto req = t.api->poll_request(ids);
    auto url = http::join(base_url_, req.target);
    ++requests_["poll"];
    ++lane.use.poll;
    auto r = co_await client_.request(req.method, *url, req.body, hold, lane.index);
    bool changed = false;
    if (!apply_poll_answer(t, r, changed, lane)) co_return false;
    if (changed) failures = 0;
    if (!changed) {
      // An answer without progress (or a failure): do not spin.
      auto delay = policy::backoff_delay(
          std::min(failures++, 6), std::chrono::duration_cast<Micros>(s_.poll_interval),
          std::chrono::duration_cast<Micros>(s_.poll_interval_max), 0.5 + unit_random() / 2);
      co_await sleep(delay);
    }
  }
}

policy::GenerationPolls& Engine::generation_polls(const SongTask& t) {
  std::string model;
  if (auto* m = t.payload.body.if_contains("model"); m && m->is_string()) model = std::string(m->as_string());
  auto it = generation_polls_.find(model);
  if (it == generation_polls_.end())
    it = generation_polls_
             .emplace(model, policy::GenerationPolls(std::chrono::duration_cast<Micros>(s_.poll_interval),
                                                     std::chrono::duration_cast<Micros>(s_.poll_interval_max),
                                                     std::chrono::duration_cast<Micros>(
                                                         t.api->info().expected_generation)))
             .first;
  return it->second;
}

// Flavors that answer one submission per GET (AIML's music models, sunoapi):
// each song polls its own, first near the time this run's generations of
// its model have taken, then every poll_interval through their usual span,
// backing off past it (policy::GenerationPolls); every GET waits its turn
// under the key's get limit (acquire_poll).
asio::awaitable<bool> Engine::poll_one_by_one(SongTask& t) {
  const auto stall = std::chrono::duration_cast<Micros>(s_.stall_timeout);
  const auto per_request = static_cast<std::size_t>(std::max(1, t.api->info().clips_per_request));
  auto& plan = generation_polls(t);
  auto all_done = [&t] {
    return std::all_of(t.clips.begin(), t.clips.end(),
                       [](auto& c) { return is_terminal(c.status); });
  };
  if (all_done()) co_return true;  // resumed with every clip already final (a repair)
  // Resumed (accepted by an earlier run, at a time this run does not know):
  // it may be done already, so it is asked about at once.
  const bool timed = t.accepted > Micros(0);
  const Micros accepted = timed ? t.accepted : now_us() - plan.first_poll();
  if (auto until = accepted + plan.first_poll() - now_us(); until > Micros(0)) co_await sleep(until);
  for (;;) {
    // t.clips holds each submission's clips in order, per_request of them.
    for (std::size_t i = 0; i < t.clips.size(); i += per_request) {
      std::vector<std::string> ids;
      bool waiting = false;
      for (std::size_t j = i; j < std::min(t.clips.size(), i + per_request); ++j) {
        ids.push_back(t.clips[j].id);
        waiting |= !is_terminal(t.clips[j].status);
      }
      if (!waiting) continue;
      if (stopping()) co_return false;
      KeyLane& lane = lane_of(ids.front());
      if (lane.refused) co_return false;  // its key was refused: the next run polls these
      co_await acquire_poll(lane);
      if (stopping()) co_return false;
      auto req = t.api->poll_request(ids);
      auto url = http::join(base_url_, req.target);
      ++requests_["poll"];
      ++lane.use.poll;
      auto r = co_await client_.request(req.method, *url, req.body, s_.request_timeout, lane.index);
      bool changed = false;
      if (!apply_poll_answer(t, r, changed, lane)) co_return false;
    }
    if (all_done()) {
      if (timed) plan.observe(now_us() - accepted);
      co_return true;
    }
    if (stopping()) co_return false;
    if (now_us() - t.last_change >= stall) {
      set_status(t, SongStatus::failed,
                 "stalled: no progress for " + human_duration(now_us() - t.last_change));
      co_return false;
    }
    co_await sleep(plan.next_delay(now_us() - accepted));
  }
}

asio::awaitable<bool> Engine::wait_clips(SongTask& t) {
  t.phase = SongTask::Phase::waiting;
  if (stopping()) co_return false;
  if (t.last_change == Micros(0)) t.last_change = now_us();
  switch (t.api->info().poll_style) {
    case PollStyle::long_poll:
      co_return co_await long_poll_clips(t);
    case PollStyle::one_id:
      co_return co_await poll_one_by_one(t);
    case PollStyle::batch:
      break;
  }
  struct Unwatch {
    Engine& e;
    SongTask& t;
    ~Unwatch() { e.unwatch(t); }
  } unwatch_on_exit{*this, t};
  watch(t);
  const auto stall = std::chrono::duration_cast<Micros>(s_.stall_timeout);
  for (;;) {
    bool all_terminal =
        std::all_of(t.clips.begin(), t.clips.end(), [](auto& c) { return is_terminal(c.status); });
    if (all_terminal) co_return true;
    if (stopping()) co_return false;
    if (std::any_of(t.clips.begin(), t.clips.end(),
                    [this](auto& c) { return !is_terminal(c.status) && lane_of(c.id).refused; }))
      co_return false;  // a key of the pool was refused while polling: the next run polls these
    auto idle = now_us() - t.last_change;
    if (idle >= stall) {
      std::string which;
      for (auto& c : t.clips)
        if (!is_terminal(c.status))
          which +=
              (which.empty() ? "" : ", ") + c.id + " (" + std::string(to_string(c.status)) + ")";
      set_status(t, SongStatus::failed,
                 "stalled: no progress for " + human_duration(idle) + " on " + which);
      co_return false;
    }
    t.wake->expires_after(stall - idle);
    auto [ec] = co_await t.wake->async_wait(use_tuple);
    (void)ec;  // woken by the poller, or cancelled: the loop looks again
  }
}

asio::awaitable<void> Engine::poller() {
  struct End {
    Engine& e;
    ~End() { e.next_poll_ = steady::time_point::max(); }
  } end{*this};
  policy::PollSchedule schedule(std::chrono::duration_cast<Micros>(s_.poll_interval),
                                std::chrono::duration_cast<Micros>(s_.poll_interval_max));
  std::size_t batch =
      s_.poll_batch > 0 ? static_cast<std::size_t>(s_.poll_batch) : provider_.info().poll_batch;
  batch = std::clamp<std::size_t>(batch, 1, provider_.info().max_poll_batch);
  while (songs_running_ > 0 && !stopping()) {
    if (watched_.empty() || steady::now() < next_poll_) {
      if (watched_.empty()) next_poll_ = steady::time_point::max();
      poller_timer_.expires_at(next_poll_);
      auto [ec] = co_await poller_timer_.async_wait(use_tuple);
      (void)ec;
      continue;  // re-check: new work may have moved next_poll_ earlier
    }
    // Each batch holds the clips of one key: a clip is asked about with the
    // key that submitted it.
    std::map<KeyLane*, std::vector<std::string>> by_lane;
    for (auto& [id, task] : watched_) by_lane[&lane_of(id)].push_back(id);
    std::vector<std::pair<KeyLane*, std::span<const std::string>>> chunks;
    for (auto& [lane, ids] : by_lane)
      for (std::size_t i = 0; i < ids.size(); i += batch)
        chunks.emplace_back(lane, std::span<const std::string>(ids.data() + i, std::min(batch, ids.size() - i)));
    bool changed_any = false;
    for (auto& [lane, chunk] : chunks) {
      if (stopping()) break;
      if (lane->refused) {
        // Its key was refused: the songs it submitted stop waiting (still
        // submitted; the next run polls them).
        for (auto& id : chunk)
          if (auto it = watched_.find(id); it != watched_.end()) it->second->wake->cancel();
        continue;
      }
      co_await acquire_poll(*lane);
      if (stopping()) break;
      auto req = provider_.poll_request(chunk);
      auto url = http::join(base_url_, req.target);
      ++requests_["poll"];
      ++lane->use.poll;
      auto r = co_await client_.request(req.method, *url, req.body, s_.request_timeout, lane->index);
      if (!r || provider_.classify(r->status, r->body).kind != AnswerKind::ok) {
        if (!on_poll_failure(r, nullptr, provider_, *lane)) {
          if (!lane->refused) break;  // the run stops
          for (auto& id : chunk)
            if (auto it = watched_.find(id); it != watched_.end()) it->second->wake->cancel();
        }
        continue;
      }
      api_answered_ = true;
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
    next_poll_ =
        steady::now() + std::chrono::duration_cast<steady::duration>(schedule.next_delay());
  }
}

}  // namespace setlist::engine
