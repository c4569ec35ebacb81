// Policy: pure functions and small state machines of (inputs, now).
// No I/O and no clocks of their own: time is passed in, so tests use a fake
// clock in microseconds.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace setlist::policy {

using Micros = std::chrono::microseconds;

// Token bucket: `rate` tokens per second, at most `burst` stored.
class TokenBucket {
 public:
  TokenBucket(double rate, double burst, Micros now);
  // Takes one token if available.
  bool try_take(Micros now);
  // How long until one token is available (0 if now).
  Micros wait_time(Micros now);
  // Takes one token now, going into debt when there is none, and says how
  // long the caller must wait before it may use it (0: at once). Callers
  // that reserve one after another are served in that order, at the rate:
  // each waits once, none wakes to find the token taken.
  Micros reserve(Micros now);
  void set_rate(double rate, Micros now);
  double rate() const { return rate_; }
  double tokens(Micros now);

 private:
  void refill(Micros now);
  double rate_, burst_, tokens_;
  Micros last_;
};

// Additive-increase / multiplicative-decrease of a rate, driven by 429s.
class AdaptiveRate {
 public:
  AdaptiveRate(double initial, double min_rate, double max_rate);
  // A 429: halve (at most once per `cooldown`, so a burst of 429s caused by
  // requests already in flight counts once).
  void on_throttled(Micros now, Micros cooldown = Micros(1'000'000));
  // A success: add `step` of the initial rate per second since the last change.
  void on_success(Micros now);
  double rate() const { return rate_; }

 private:
  double initial_, min_, max_, rate_;
  Micros last_change_{0};
  bool throttled_once_ = false;
};

// Full-jitter exponential backoff: uniform(0, min(cap, base * 2^attempt)).
// `unit_random` is in [0, 1); attempt counts from 0.
Micros backoff_delay(int attempt, Micros base, Micros cap, double unit_random);

// A retry budget: each retry costs one token; tokens refill with successes
// (ratio) and slowly with time, so a dead server ends the run in bounded time.
class RetryBudget {
 public:
  RetryBudget(double capacity, double per_success, double per_second, Micros now);
  bool try_spend(Micros now);
  void on_success();

 private:
  double capacity_, per_success_, per_second_, tokens_;
  Micros last_;
};

// Retry-After: delta-seconds or HTTP-date. `now_unix` is the wall clock in
// seconds since the epoch. A past date means 0; garbage gives nothing;
// values are clamped to `max`.
std::optional<Micros> parse_retry_after(std::string_view value, std::int64_t now_unix, Micros max);
// HTTP-date (IMF-fixdate, RFC 850, asctime) -> seconds since the epoch.
std::optional<std::int64_t> parse_http_date(std::string_view value);

// What to do with a failed request.
enum class Action {
  retry,           // transient: network errors, 408, 425, 429, 5xx listed below
  fail_song,       // the request itself is wrong: 400, 404, 413, 422 ...
  abort_run,       // the key is rejected: 401
  stop_submitting  // out of credits: 402, 403 "resource limit exhausted"
};
// `http_status` 0 means a network error (no answer).
Action classify(int http_status, std::string_view server_message = {});
inline bool is_retryable(int http_status) { return classify(http_status) == Action::retry; }

// When to poll next: starts at `initial`, multiplies by `factor` after each
// poll that saw no change up to `max`, and resets to `initial` on change.
class PollSchedule {
 public:
  PollSchedule(Micros initial, Micros max, double factor = 1.5);
  Micros next_delay() const { return delay_; }
  void on_poll(bool changed);

 private:
  Micros initial_, max_, delay_;
  double factor_;
};

// When a song that polls its own generation (one id per GET) asks again.
// The first poll comes near the time generations of this run have taken
// (before any has finished: half the provider's expected time), then one
// every `interval` while the song is within the usual span; past it the
// waits grow with the song's overtime, up to `interval_max`. Learned from
// this run's own finished generations, so a model slower or faster than
// its provider's estimate is polled at its own pace.
class GenerationPolls {
 public:
  GenerationPolls(Micros interval, Micros interval_max, Micros expected);
  // A generation of this run settled this long after it was accepted (as
  // the poll that saw it settled measured it).
  void observe(Micros generation);
  // The wait after acceptance before the first poll.
  Micros first_poll() const;
  // The wait before the next poll of a generation `age` after its acceptance.
  Micros next_delay(Micros age) const;
  std::size_t observed() const { return count_; }

 private:
  Micros quantile(double q) const;
  Micros interval_, max_, expected_;
  std::vector<Micros> recent_;  // the last kWindow observations (a ring)
  std::size_t count_ = 0;
};

// A per-host gate: nothing is sent to the host before `not_before`.
class HostGate {
 public:
  void defer_until(Micros t) {
    if (t > not_before_) not_before_ = t;
  }
  Micros wait_time(Micros now) const { return now < not_before_ ? not_before_ - now : Micros(0); }
  Micros not_before() const { return not_before_; }

 private:
  Micros not_before_{0};
};

}  // namespace setlist::policy
