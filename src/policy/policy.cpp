#include "setlist/policy.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

namespace setlist::policy {

namespace {
double seconds(Micros d) { return static_cast<double>(d.count()) / 1e6; }
Micros micros(double s) { return Micros(static_cast<std::int64_t>(std::ceil(s * 1e6))); }
}  // namespace

TokenBucket::TokenBucket(double rate, double burst, Micros now)
    : rate_(rate), burst_(std::max(1.0, burst)), tokens_(std::max(1.0, burst)), last_(now) {}

void TokenBucket::refill(Micros now) {
  if (now > last_) {
    tokens_ = std::min(burst_, tokens_ + seconds(now - last_) * rate_);
    last_ = now;
  }
}

double TokenBucket::tokens(Micros now) {
  refill(now);
  return tokens_;
}

bool TokenBucket::try_take(Micros now) {
  refill(now);
  if (tokens_ >= 1.0) {
    tokens_ -= 1.0;
    return true;
  }
  return false;
}

Micros TokenBucket::wait_time(Micros now) {
  refill(now);
  if (tokens_ >= 1.0) return Micros(0);
  if (rate_ <= 0) return Micros::max();
  return micros((1.0 - tokens_) / rate_);
}

Micros TokenBucket::reserve(Micros now) {
  refill(now);
  tokens_ -= 1.0;
  if (tokens_ >= 0.0) return Micros(0);
  if (rate_ <= 0) return Micros::max();
  return micros(-tokens_ / rate_);
}

void TokenBucket::set_rate(double rate, Micros now) {
  refill(now);
  rate_ = rate;
}

AdaptiveRate::AdaptiveRate(double initial, double min_rate, double max_rate)
    : initial_(initial), min_(min_rate), max_(max_rate), rate_(initial) {}

void AdaptiveRate::on_throttled(Micros now, Micros cooldown) {
  if (throttled_once_ && now - last_change_ < cooldown) return;
  rate_ = std::max(min_, rate_ / 2.0);
  last_change_ = now;
  throttled_once_ = true;
}

void AdaptiveRate::on_success(Micros now) {
  if (rate_ >= max_) return;
  if (!throttled_once_) {
    rate_ = std::min(max_, rate_);
    return;
  }
  // Recover by 5% of the initial rate per second without a 429.
  double gained = seconds(now - last_change_) * 0.05 * initial_;
  if (gained <= 0) return;
  rate_ = std::min(max_, rate_ + gained);
  last_change_ = now;
}

Micros backoff_delay(int attempt, Micros base, Micros cap, double unit_random) {
  attempt = std::clamp(attempt, 0, 62);
  double ceiling = static_cast<double>(base.count()) * std::ldexp(1.0, attempt);
  ceiling = std::min(ceiling, static_cast<double>(cap.count()));
  unit_random = std::clamp(unit_random, 0.0, 1.0);
  return Micros(static_cast<std::int64_t>(ceiling * unit_random));
}

RetryBudget::RetryBudget(double capacity, double per_success, double per_second, Micros now)
    : capacity_(capacity), per_success_(per_success), per_second_(per_second), tokens_(capacity),
      last_(now) {}

bool RetryBudget::try_spend(Micros now) {
  if (now > last_) {
    tokens_ = std::min(capacity_, tokens_ + seconds(now - last_) * per_second_);
    last_ = now;
  }
  if (tokens_ >= 1.0) {
    tokens_ -= 1.0;
    return true;
  }
  return false;
}

void RetryBudget::on_success() { tokens_ = std::min(capacity_, tokens_ + per_success_); }

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

int month_index(std::string_view m) {
  static const char* names[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (int i = 0; i < 12; ++i)
    if (m == names[i]) return i;
  return -1;
}

// Days since 1970-01-01 of a civil date (proleptic Gregorian).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool parse_int(std::string_view s, int& out) {
  if (s.empty()) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc{};
}

bool parse_hms(std::string_view s, int& h, int& mi, int& se) {
  if (s.size() != 8 || s[2] != ':' || s[5] != ':') return false;
  return parse_int(s.substr(0, 2), h) && parse_int(s.substr(3, 2), mi) &&
         parse_int(s.substr(6, 2), se) && h < 24 && mi < 60 && se <= 60;
}

std::optional<std::int64_t> make_time(int year, int month0, int day, int h, int mi, int se) {
  if (month0 < 0 || day < 1 || day > 31 || year < 1970 || year > 9999) return std::nullopt;
  return days_from_civil(year, static_cast<unsigned>(month0 + 1), static_cast<unsigned>(day)) * 86400 +
         h * 3600 + mi * 60 + se;
}

std::vector<std::string_view> split_ws(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    size_t j = i;
    while (j < s.size() && s[j] != ' ') ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

}  // namespace

std::optional<std::int64_t> parse_http_date(std::string_view value) {
  value = trim(value);
  auto parts = split_ws(value);
  int day = 0, year = 0, h = 0, mi = 0, se = 0;
  // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
  if (parts.size() == 6 && parts[0].size() == 4 && parts[0].back() == ',' && parts[5] == "GMT") {
    if (!parse_int(parts[1], day) || !parse_int(parts[3], year) || parts[3].size() != 4 ||
        !parse_hms(parts[4], h, mi, se))
      return std::nullopt;
    return make_time(year, month_index(parts[2]), day, h, mi, se);
  }
  // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
  if (parts.size() == 4 && parts[0].back() == ',' && parts[3] == "GMT" && parts[1].size() == 9) {
    auto d = parts[1];
    if (d[2] != '-' || d[6] != '-' || !parse_int(d.substr(0, 2), day) || !parse_int(d.substr(7, 2), year) ||
        !parse_hms(parts[2], h, mi, se))
      return std::nullopt;
    year += year < 70 ? 2000 : 1900;
    return make_time(year, month_index(d.substr(3, 3)), day, h, mi, se);
  }
  // asctime: Sun Nov  6 08:49:37 1994
  if (parts.size() == 5 && parts[0].size() == 3) {
    if (!parse_int(parts[2], day) || !parse_int(parts[4], year) || !parse_hms(parts[3], h, mi, se))
      return std::nullopt;
    return make_time(year, month_index(parts[1]), day, h, mi, se);
  }
  return std::nullopt;
}

std::optional<Micros> parse_retry_after(std::string_view value, std::int64_t now_unix, Micros max) {
  value = trim(value);
  if (value.empty()) return std::nullopt;
  bool all_digits = std::all_of(value.begin(), value.end(),
                                [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
  if (all_digits) {
    // Large values overflow: clamp instead of rejecting.
    if (value.size() > 12) return max;
    std::int64_t secs = 0;
    std::from_chars(value.data(), value.data() + value.size(), secs);
    return std::min(max, Micros(secs * 1'000'000));
  }
  auto when = parse_http_date(value);
  if (!when) return std::nullopt;
  if (*when <= now_unix) return Micros(0);
  std::int64_t delta = *when - now_unix;
  if (delta > max.count() / 1'000'000) return max;
  return Micros(delta * 1'000'000);
}

Action classify(int http_status, std::string_view server_message) {
  switch (http_status) {
    case 0:  // network error
    case 408:
    case 425:
    case 429:
    case 500:
    case 502:
    case 503:
    case 504:
      return Action::retry;
    case 401:
      return Action::abort_run;
    case 402:
      return Action::stop_submitting;
    case 403: {
      // AIML answers 403 "resource limit exhausted" when credits run out;
      // any other 403 is a refusal of this request.
      std::string lower(server_message);
      for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (lower.find("limit") != std::string::npos || lower.find("credit") != std::string::npos ||
          lower.find("balance") != std::string::npos || lower.find("quota") != std::string::npos)
        return Action::stop_submitting;
      return Action::fail_song;
    }
    default:
      return Action::fail_song;
  }
}

PollSchedule::PollSchedule(Micros initial, Micros max, double factor)
    : initial_(initial), max_(std::max(initial, max)), delay_(initial), factor_(factor) {}

void PollSchedule::on_poll(bool changed) {
  if (changed) {
    delay_ = initial_;
    return;
  }
  auto next = static_cast<std::int64_t>(static_cast<double>(delay_.count()) * factor_);
  delay_ = std::min(max_, Micros(next));
}

namespace {
constexpr std::size_t kWindow = 256;  // observations kept: the run's recent pace
constexpr std::size_t kLearned = 5;   // observations before they replace the provider's estimate
}  // namespace

GenerationPolls::GenerationPolls(Micros interval, Micros interval_max, Micros expected)
    : interval_(std::max(Micros(1000), interval)),
      max_(std::max(interval_, interval_max)),
      expected_(std::max(Micros(0), expected)) {}

void GenerationPolls::observe(Micros generation) {
  if (generation < Micros(0)) return;
  if (recent_.size() < kWindow) recent_.push_back(generation);
  else recent_[count_ % kWindow] = generation;
  ++count_;
}

Micros GenerationPolls::quantile(double q) const {
  std::vector<Micros> v = recent_;
  auto k = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

Micros GenerationPolls::first_poll() const {
  if (count_ < kLearned) return std::clamp(expected_ / 2, interval_, max_);
  // An observation is late by up to one poll gap: start one interval before
  // the fastest tenth of this run's generations.
  return std::max(interval_, quantile(0.1) - interval_);
}

Micros GenerationPolls::next_delay(Micros age) const {
  // The usual span: until half again the slowest tenth (or twice the
  // provider's estimate before anything has finished).
  const Micros usual = count_ < kLearned ? 2 * expected_ : quantile(0.9) * 3 / 2;
  if (age <= usual) return interval_;
  // Past it: a quarter of the overtime, so a stuck song costs few polls
  // and a late one is still seen soon after it ends.
  return std::clamp((age - usual) / 4, interval_, max_);
}

}  // namespace setlist::policy
