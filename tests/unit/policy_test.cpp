#include "setlist/policy.hpp"

#include <gtest/gtest.h>

using namespace setlist::policy;
using namespace std::chrono_literals;

namespace {
Micros sec(double s) { return Micros(static_cast<long long>(s * 1e6)); }
}  // namespace

TEST(TokenBucket, StartsFullThenRefillsAtRate) {
  TokenBucket b(2.0, 3.0, sec(0));
  EXPECT_TRUE(b.try_take(sec(0)));
  EXPECT_TRUE(b.try_take(sec(0)));
  EXPECT_TRUE(b.try_take(sec(0)));
  EXPECT_FALSE(b.try_take(sec(0)));
  EXPECT_EQ(b.wait_time(sec(0)), sec(0.5));
  EXPECT_FALSE(b.try_take(sec(0.49)));
  EXPECT_TRUE(b.try_take(sec(0.5)));
  // Never more than the burst, however long it waits.
  EXPECT_NEAR(b.tokens(sec(100)), 3.0, 1e-9);
}

TEST(TokenBucket, RateChangeKeepsAccruedTokens) {
  TokenBucket b(1.0, 1.0, sec(0));
  EXPECT_TRUE(b.try_take(sec(0)));
  b.set_rate(0.5, sec(0.5));  // half a token accrued at the old rate
  EXPECT_EQ(b.wait_time(sec(0.5)), sec(1.0));
}

TEST(AdaptiveRate, HalvesOnThrottleOncePerCooldownAndRecoversSlowly) {
  AdaptiveRate r(10.0, 0.5, 10.0);
  r.on_throttled(sec(0));
  EXPECT_DOUBLE_EQ(r.rate(), 5.0);
  r.on_throttled(sec(0.5));  // same burst of 429s
  EXPECT_DOUBLE_EQ(r.rate(), 5.0);
  r.on_throttled(sec(2));
  EXPECT_DOUBLE_EQ(r.rate(), 2.5);
  r.on_success(sec(4));  // +5% of 10/s per second for 2 s
  EXPECT_NEAR(r.rate(), 3.5, 1e-9);
  for (int i = 0; i < 100; ++i) r.on_success(sec(5 + i));
  EXPECT_DOUBLE_EQ(r.rate(), 10.0);  // capped at the maximum
  for (int i = 0; i < 20; ++i) r.on_throttled(sec(200 + 2 * i));
  EXPECT_DOUBLE_EQ(r.rate(), 0.5);  // floored at the minimum
}

TEST(Backoff, FullJitterWithinExponentialCeilingAndCap) {
  EXPECT_EQ(backoff_delay(0, 100ms, 10s, 0.0), Micros(0));
  EXPECT_EQ(backoff_delay(0, 100ms, 10s, 0.5), Micros(50'000));
  EXPECT_EQ(backoff_delay(3, 100ms, 10s, 0.5), Micros(400'000));
  EXPECT_EQ(backoff_delay(20, 100ms, 10s, 0.5), Micros(5'000'000));
  EXPECT_EQ(backoff_delay(1000, 100ms, 10s, 0.999999), Micros(9'999'990));
}

TEST(RetryBudget, DeadServerRunsOutThenRefillsSlowly) {
  RetryBudget b(3, 0.5, 0.1, sec(0));
  EXPECT_TRUE(b.try_spend(sec(0)));
  EXPECT_TRUE(b.try_spend(sec(0)));
  EXPECT_TRUE(b.try_spend(sec(0)));
  EXPECT_FALSE(b.try_spend(sec(0)));
  EXPECT_FALSE(b.try_spend(sec(9)));  // 0.9 tokens
  EXPECT_TRUE(b.try_spend(sec(10)));
  b.on_success();
  b.on_success();
  EXPECT_TRUE(b.try_spend(sec(10)));
}

TEST(RetryAfter, SecondsDateGarbageAndClamp) {
  const std::int64_t now = 784111777;  // Sun, 06 Nov 1994 08:49:37 GMT
  EXPECT_EQ(parse_retry_after("120", now, 600s), sec(120));
  EXPECT_EQ(parse_retry_after(" 0 ", now, 600s), sec(0));
  EXPECT_EQ(parse_retry_after("86400", now, 600s), sec(600));
  EXPECT_EQ(parse_retry_after("99999999999999999999", now, 600s), sec(600));
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now, 600s), sec(30));
  EXPECT_EQ(parse_retry_after("Sunday, 06-Nov-94 08:50:07 GMT", now, 600s), sec(30));
  EXPECT_EQ(parse_retry_after("Sun Nov  6 08:50:07 1994", now, 600s), sec(30));
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now, 600s), sec(0));  // past: 0
  EXPECT_EQ(parse_retry_after("Mon, 06 Nov 2034 08:00:00 GMT", now, 600s), sec(600));
  EXPECT_FALSE(parse_retry_after("", now, 600s));
  EXPECT_FALSE(parse_retry_after("soon", now, 600s));
  EXPECT_FALSE(parse_retry_after("-5", now, 600s));
  EXPECT_FALSE(parse_retry_after("1.5", now, 600s));
  EXPECT_FALSE(parse_retry_after("Sun, 32 Nov 1994 08:49:37 GMT", now, 600s));
}

TEST(HttpDate, KnownInstant) { EXPECT_EQ(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777); }

TEST(Classify, OneFunctionDecides) {
  EXPECT_EQ(classify(0), Action::retry);
  for (int s : {408, 429, 500, 502, 503, 504}) EXPECT_EQ(classify(s), Action::retry) << s;
  for (int s : {400, 404, 422}) EXPECT_EQ(classify(s), Action::fail_song) << s;
  EXPECT_EQ(classify(401), Action::abort_run);
  EXPECT_EQ(classify(402), Action::stop_submitting);
  EXPECT_EQ(classify(403, "resource limit exhausted"), Action::stop_submitting);
  EXPECT_EQ(classify(403, "Forbidden"), Action::fail_song);
}

TEST(PollSchedule, BacksOffWithoutChangeAndResetsOnChange) {
  PollSchedule p(sec(1), sec(4), 2.0);
  EXPECT_EQ(p.next_delay(), sec(1));
  p.on_poll(false);
  EXPECT_EQ(p.next_delay(), sec(2));
  p.on_poll(false);
  p.on_poll(false);
  EXPECT_EQ(p.next_delay(), sec(4));
  p.on_poll(true);
  EXPECT_EQ(p.next_delay(), sec(1));
}

TEST(TokenBucket, ReservationsAreServedInOrderAtTheRate) {
  TokenBucket b(10.0, 2.0, sec(0));
  // The burst first, at once; then one slot every 100 ms, in the order asked.
  EXPECT_EQ(b.reserve(sec(0)), sec(0));
  EXPECT_EQ(b.reserve(sec(0)), sec(0));
  EXPECT_EQ(b.reserve(sec(0)), sec(0.1));
  EXPECT_EQ(b.reserve(sec(0)), sec(0.2));
  EXPECT_EQ(b.reserve(sec(0)), sec(0.3));
  // Time pays the debt back: at 0.25 s one slot is still owed before the next.
  EXPECT_EQ(b.reserve(sec(0.25)), sec(0.15));
  EXPECT_FALSE(b.try_take(sec(0.3)));
  EXPECT_TRUE(b.try_take(sec(0.5)));
}

TEST(GenerationPolls, BeforeAnythingFinishedHalfTheProvidersEstimateWithinTheIntervals) {
  GenerationPolls p(sec(1), sec(10), sec(60));
  EXPECT_EQ(p.first_poll(), sec(10));  // 30 s, but never later than the longest interval
  GenerationPolls fast(sec(1), sec(10), sec(8));
  EXPECT_EQ(fast.first_poll(), sec(4));
  // Through twice the estimate: every interval.
  EXPECT_EQ(fast.next_delay(sec(15)), sec(1));
}

TEST(GenerationPolls, LearnsThisRunsPaceThenBacksOffPastIt) {
  GenerationPolls p(sec(1), sec(10), sec(60));
  for (int i = 0; i < 100; ++i) p.observe(sec(15 + i % 11));  // 15..25 s
  EXPECT_EQ(p.observed(), 100u);
  // One interval before the fastest tenth (16 s here).
  EXPECT_EQ(p.first_poll(), sec(15));
  // Every interval through half again the slowest tenth (24 s: 36 s).
  EXPECT_EQ(p.next_delay(sec(20)), sec(1));
  EXPECT_EQ(p.next_delay(sec(36)), sec(1));
  // Past it, a quarter of the overtime, up to the longest interval.
  EXPECT_EQ(p.next_delay(sec(48)), sec(3));
  EXPECT_EQ(p.next_delay(sec(600)), sec(10));
}

TEST(GenerationPolls, FollowsAModelThatGetsFasterWithinTheRun) {
  GenerationPolls p(sec(1), sec(10), sec(60));
  for (int i = 0; i < 300; ++i) p.observe(sec(40));
  EXPECT_EQ(p.first_poll(), sec(39));
  for (int i = 0; i < 300; ++i) p.observe(sec(12));  // the recent ones count, the old ones age out
  EXPECT_EQ(p.first_poll(), sec(11));
}

TEST(HostGate, HoldsEveryRequestUntilTheLatestDeadline) {
  HostGate g;
  EXPECT_EQ(g.wait_time(sec(5)), sec(0));
  g.defer_until(sec(10));
  g.defer_until(sec(8));  // an earlier deadline never shortens the wait
  EXPECT_EQ(g.wait_time(sec(5)), sec(5));
  EXPECT_EQ(g.wait_time(sec(11)), sec(0));
}
