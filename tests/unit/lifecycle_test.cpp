// The song lifecycle as tables: every state the store can hold x the flags
// of a run, and every answer a generate request can get. Each row's name
// states the pay-once rule it checks.
#include <gtest/gtest.h>

#include "setlist/lifecycle.hpp"

namespace setlist {
namespace {

SongFacts facts(SongStatus st, int acked = 0, int unanswered = 0, int waiting = 0, int to_fetch = 0,
                int published = 0, int failed = 0, int needed = 1) {
  SongFacts f;
  f.known = true;
  f.status = st;
  f.requests_needed = needed;
  f.acked = acked;
  f.unanswered = unanswered;
  f.clips_waiting = waiting;
  f.clips_to_fetch = to_fetch;
  f.clips_published = published;
  f.clips_failed = failed;
  return f;
}

struct ResumeRow {
  const char* name;
  SongFacts facts;
  ResumeOptions options;
  Resume action;
  int paid;
  bool new_attempt;
};

// Test names and logs show the row's name, not its bytes.
void PrintTo(const ResumeRow& r, std::ostream* os) { *os << r.name; }

const ResumeOptions none{};
const ResumeOptions retry{true, false, false};
const ResumeOptions resubmit{false, true, false};
const ResumeOptions both{true, true, false};
const ResumeOptions regen{false, false, true};
const ResumeOptions regen_resubmit{false, true, true};

class DecideResume : public testing::TestWithParam<ResumeRow> {};

TEST_P(DecideResume, Row) {
  const auto& r = GetParam();
  auto d = decide_resume(r.facts, r.options);
  EXPECT_EQ(static_cast<int>(d.action), static_cast<int>(r.action)) << "label: " << d.label;
  EXPECT_EQ(d.paid_requests, r.paid);
  EXPECT_EQ(d.new_attempt, r.new_attempt);
  EXPECT_FALSE(d.label.empty());
  // Whatever the flags, a song never pays more than it needs.
  EXPECT_LE(d.paid_requests, std::max(1, r.facts.requests_needed));
}

const ResumeRow kResumeRows[] = {
    {"UnknownSongIsSubmittedOnce", SongFacts{}, none, Resume::submit, 1, false},
    {"PendingSongNothingSentIsSubmitted", facts(SongStatus::pending), none, Resume::submit, 1,
     false},
    {"SkippedSongNothingSentIsSubmitted", facts(SongStatus::skipped), none, Resume::submit, 1,
     false},
    {"RefusedWhileSubmittingIsNotUncertainAndIsSubmittedAgain", facts(SongStatus::submitting), none,
     Resume::submit, 1, false},
    {"OpenIntentIsHeldNotPaidAgain", facts(SongStatus::submitting, 0, 1), none,
     Resume::hold_uncertain, 0, false},
    {"OpenIntentHeldEvenWithRetryFailed", facts(SongStatus::submitting, 0, 1), retry,
     Resume::hold_uncertain, 0, false},
    {"UncertainIsHeldNotPaidAgain", facts(SongStatus::uncertain, 0, 1), none,
     Resume::hold_uncertain, 0, false},
    {"UncertainIsPaidAgainOnlyWithResubmitUncertain", facts(SongStatus::uncertain, 0, 1), resubmit,
     Resume::submit, 1, false},
    {"UncertainWithResubmitAndRetryPaysOnce", facts(SongStatus::uncertain, 0, 1), both,
     Resume::submit, 1, false},
    {"AckedClipsGeneratingArePolledNotPaid", facts(SongStatus::submitted, 1, 0, 2), none,
     Resume::fetch, 0, false},
    {"AckedClipsGeneratingArePolledNotPaidWithAnyFlag", facts(SongStatus::submitted, 1, 0, 2), both,
     Resume::fetch, 0, false},
    {"CrashAfterAckBeforeStatusIsFetchedNotPaid", facts(SongStatus::submitting, 1, 0, 2), none,
     Resume::fetch, 0, false},
    {"CompleteClipsNotOnDiskAreFetchedNotPaid", facts(SongStatus::submitted, 1, 0, 0, 2), none,
     Resume::fetch, 0, false},
    {"CompleteAndIntactIsDone", facts(SongStatus::complete, 1, 0, 0, 0, 2), none, Resume::done, 0,
     false},
    {"CompleteAndIntactIsDoneWithEveryFlag", facts(SongStatus::complete, 1, 0, 0, 0, 2), both,
     Resume::done, 0, false},
    {"CompleteWithDamagedFileIsRepairedForFree", facts(SongStatus::complete, 1, 0, 0, 1, 1), none,
     Resume::fetch, 0, false},
    {"CompleteWithDamagedFileIsRepairedForFreeEvenWithRetryFailed",
     facts(SongStatus::complete, 1, 0, 0, 1, 1), both, Resume::fetch, 0, false},
    {"FailedDownloadIsFetchedAgainForFree", facts(SongStatus::failed, 1, 0, 0, 2), none,
     Resume::fetch, 0, false},
    {"FailedDownloadWithRetryFailedStillDoesNotPayAgain", facts(SongStatus::failed, 1, 0, 0, 1, 1),
     retry, Resume::fetch, 0, false},
    {"StalledClipsArePolledAgainForFree", facts(SongStatus::failed, 1, 0, 1), none, Resume::fetch,
     0, false},
    {"ClipErrorIsHeldWithoutRetryFailed", facts(SongStatus::failed, 1, 0, 0, 0, 1, 1), none,
     Resume::hold_failed, 0, false},
    {"ClipErrorIsPaidAgainOnlyWithRetryFailedAsANewAttempt",
     facts(SongStatus::failed, 1, 0, 0, 0, 1, 1), retry, Resume::submit, 1, true},
    {"RefusedForGoodIsHeldWithoutRetryFailed", facts(SongStatus::failed), none, Resume::hold_failed,
     0, false},
    {"RefusedForGoodIsSubmittedWithRetryFailed", facts(SongStatus::failed), retry, Resume::submit,
     1, true},
    {"ClipErrorNoticedBeforeStatusIsStillHeld", facts(SongStatus::submitted, 1, 0, 0, 0, 0, 2),
     none, Resume::hold_failed, 0, false},
    {"MoreTakesPayOnlyForTheMissingRequests", facts(SongStatus::submitted, 1, 0, 1, 0, 0, 0, 3),
     none, Resume::fetch, 2, false},
    {"TakesAllAckedPayNothing", facts(SongStatus::submitted, 3, 0, 3, 0, 0, 0, 3), none,
     Resume::fetch, 0, false},
    {"UncertainTakeWithFreeWorkFetchesAndHoldsTheRest",
     facts(SongStatus::submitted, 1, 1, 1, 0, 0, 0, 2), none, Resume::fetch, 0, false},
    {"UncertainTakeResubmittedPaysOnlyTheMissing",
     facts(SongStatus::submitted, 1, 1, 1, 0, 0, 0, 2), resubmit, Resume::fetch, 1, false},
    {"RegenerateCompleteSongPaysOnceAsANewAttempt", facts(SongStatus::complete, 1, 0, 0, 0, 2),
     regen, Resume::submit, 1, true},
    {"RegenerateDamagedCompleteSongPaysOnceAsANewAttempt",
     facts(SongStatus::complete, 1, 0, 0, 1, 1), regen, Resume::submit, 1, true},
    {"RegenerateFailedSongNeedsNoRetryFailed", facts(SongStatus::failed, 1, 0, 0, 0, 1, 1), regen,
     Resume::submit, 1, true},
    {"RegenerateUnknownSongIsJustNew", SongFacts{}, regen, Resume::submit, 1, false},
    {"RegenerateTakesPaysForEveryTake", facts(SongStatus::complete, 2, 0, 0, 0, 4, 0, 2), regen,
     Resume::submit, 2, true},
    {"RegenerateUncertainIsHeldWithoutResubmitUncertain", facts(SongStatus::uncertain, 0, 1),
     regen, Resume::hold_uncertain, 0, false},
    {"RegenerateUncertainWithResubmitUncertainPaysOnce", facts(SongStatus::uncertain, 0, 1),
     regen_resubmit, Resume::submit, 1, true},
    {"RegenerateWhileClipsGenerateFetchesThemInstead", facts(SongStatus::submitted, 1, 0, 2),
     regen_resubmit, Resume::fetch, 0, false},
    {"RegenerateBeforePaidClipsAreDownloadedFetchesThemInstead",
     facts(SongStatus::failed, 1, 0, 0, 2), regen, Resume::fetch, 0, false},
};

TEST(Lifecycle, RegenerateRefusalNamesTheReasonAndTheWayOut) {
  auto uncertain = regenerate_refusal(facts(SongStatus::uncertain, 0, 1), regen);
  ASSERT_TRUE(uncertain);
  EXPECT_NE(uncertain->find("--resubmit-uncertain"), std::string::npos) << *uncertain;
  auto in_flight = regenerate_refusal(facts(SongStatus::submitted, 1, 0, 2), regen_resubmit);
  ASSERT_TRUE(in_flight);
  EXPECT_NE(in_flight->find("without --regenerate"), std::string::npos) << *in_flight;
  EXPECT_FALSE(regenerate_refusal(facts(SongStatus::complete, 1, 0, 0, 0, 2), regen));
  EXPECT_FALSE(regenerate_refusal(facts(SongStatus::uncertain, 0, 1), none));  // not asked
}

INSTANTIATE_TEST_SUITE_P(Lifecycle, DecideResume, testing::ValuesIn(kResumeRows),
                         [](const testing::TestParamInfo<ResumeRow>& i) {
                           return std::string(i.param.name);
                         });

struct VerdictRow {
  const char* name;
  SubmitOutcome outcome;
  bool can_retry;
  bool api_answered;
  Receipt receipt;
  SongStatus song;
  bool retry;
  bool charged;
  RunEffect run;
};

void PrintTo(const VerdictRow& r, std::ostream* os) { *os << r.name; }

class SubmitVerdictTable : public testing::TestWithParam<VerdictRow> {};

TEST_P(SubmitVerdictTable, Row) {
  const auto& r = GetParam();
  auto v = submit_verdict(r.outcome, r.can_retry, r.api_answered);
  EXPECT_EQ(static_cast<int>(v.receipt), static_cast<int>(r.receipt));
  EXPECT_EQ(to_string(v.song), to_string(r.song));
  EXPECT_EQ(v.retry, r.retry);
  EXPECT_EQ(v.charged, r.charged);
  EXPECT_EQ(static_cast<int>(v.run), static_cast<int>(r.run));
  // The pay-once invariants, for every row: only a provable refusal is
  // retried, and whatever may have been taken is counted and never retried.
  if (v.retry) {
    EXPECT_EQ(static_cast<int>(v.receipt), static_cast<int>(Receipt::rejected));
    EXPECT_FALSE(v.charged);
  }
  if (v.receipt != Receipt::rejected) {
    EXPECT_TRUE(v.charged);
  } else {
    EXPECT_NE(to_string(v.song), "uncertain");
  }
}

using SO = SubmitOutcome;
using SS = SongStatus;
const VerdictRow kVerdictRows[] = {
    {"AcceptedIsAckedAndCharged", SO::accepted, false, true, Receipt::acked, SS::submitted, false,
     true, RunEffect::none},
    {"AcceptedButUnreadableIsUncertainAndNeverRetried", SO::accepted_unreadable, true, true,
     Receipt::uncertain, SS::uncertain, false, true, RunEffect::none},
    {"MaybeAcceptedIsUncertainAndNeverRetried", SO::maybe_accepted, true, true, Receipt::uncertain,
     SS::uncertain, false, true, RunEffect::none},
    {"NotSentIsRetriedAndStaysPending", SO::not_sent, true, false, Receipt::rejected, SS::pending,
     true, false, RunEffect::none},
    {"NotSentOutOfRetriesOnAnUnreachableApiStopsTheRunSongPending", SO::not_sent, false, false,
     Receipt::rejected, SS::pending, false, false, RunEffect::abort_run},
    {"NotSentOutOfRetriesOnAReachableApiLeavesThePendingSong", SO::not_sent, false, true,
     Receipt::rejected, SS::pending, false, false, RunEffect::none},
    {"UnverifiableServerStopsTheRunNothingPaid", SO::unverifiable, true, false, Receipt::rejected,
     SS::pending, false, false, RunEffect::abort_run},
    {"ThrottledIsRetriedAndStaysPending", SO::throttled, true, true, Receipt::rejected, SS::pending,
     true, false, RunEffect::none},
    {"ThrottledOutOfRetriesFailsWithoutPaying", SO::throttled, false, true, Receipt::rejected,
     SS::failed, false, false, RunEffect::none},
    {"ServerErrorIsRetriedAndStaysPending", SO::refused_retryable, true, true, Receipt::rejected,
     SS::pending, true, false, RunEffect::none},
    {"ServerErrorOutOfRetriesFailsWithoutPaying", SO::refused_retryable, false, true,
     Receipt::rejected, SS::failed, false, false, RunEffect::none},
    {"RefusedSongFailsAtOnceWithoutPaying", SO::refused_song, true, true, Receipt::rejected,
     SS::failed, false, false, RunEffect::none},
    {"BadKeyStopsTheRunSongPending", SO::bad_key, true, true, Receipt::rejected, SS::pending, false,
     false, RunEffect::abort_run},
    {"GoneModelStopsTheRunSongPending", SO::gone, true, true, Receipt::rejected, SS::pending, false,
     false, RunEffect::abort_run},
    {"OutOfCreditsStopsSubmittingSongSkipped", SO::out_of_credits, true, true, Receipt::rejected,
     SS::skipped, false, false, RunEffect::stop_submitting},
};

INSTANTIATE_TEST_SUITE_P(Lifecycle, SubmitVerdictTable, testing::ValuesIn(kVerdictRows),
                         [](const testing::TestParamInfo<VerdictRow>& i) {
                           return std::string(i.param.name);
                         });

TEST(Lifecycle, StatusNamesRoundTripAndUnknownTextIsPending) {
  for (auto s : {SS::pending, SS::submitting, SS::submitted, SS::complete, SS::failed,
                 SS::uncertain, SS::skipped, SS::superseded})
    EXPECT_EQ(parse_song_status(to_string(s)), s);
  EXPECT_EQ(parse_song_status("garbage"), SS::pending);
}

TEST(Lifecycle, DownloadsRetryOnlyTransientFailuresWithAttemptsLeft) {
  EXPECT_TRUE(download_should_retry(DownloadOutcome::retryable, true));
  EXPECT_FALSE(download_should_retry(DownloadOutcome::retryable, false));
  EXPECT_FALSE(download_should_retry(DownloadOutcome::gone, true));
  EXPECT_FALSE(download_should_retry(DownloadOutcome::local, true));
  EXPECT_FALSE(download_should_retry(DownloadOutcome::ok, true));
}

TEST(Lifecycle, ASongIsCompleteOnlyWithEveryTakeOnDisk) {
  EXPECT_EQ(status_after_downloads(2, 2), SS::complete);
  EXPECT_EQ(status_after_downloads(1, 2), SS::failed);
  EXPECT_EQ(status_after_downloads(0, 0), SS::failed);
}

}  // namespace
}  // namespace setlist
