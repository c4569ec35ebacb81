#include "setlist/lifecycle.hpp"

#include <algorithm>
#include <array>
#include <utility>

namespace setlist {

namespace {
constexpr std::array<std::pair<SongStatus, std::string_view>, 8> kNames{{
    {SongStatus::pending, "pending"},
    {SongStatus::submitting, "submitting"},
    {SongStatus::submitted, "submitted"},
    {SongStatus::complete, "complete"},
    {SongStatus::failed, "failed"},
    {SongStatus::uncertain, "uncertain"},
    {SongStatus::skipped, "skipped"},
    {SongStatus::superseded, "superseded"},
}};
}  // namespace

std::string_view to_string(SongStatus s) {
  for (auto& [v, name] : kNames)
    if (v == s) return name;
  return "pending";
}

SongStatus parse_song_status(std::string_view s) {
  for (auto& [v, name] : kNames)
    if (name == s) return v;
  return SongStatus::pending;
}

std::optional<std::string> regenerate_refusal(const SongFacts& f, const ResumeOptions& o) {
  if (!o.regenerate) return std::nullopt;
  if (f.status != SongStatus::complete && f.clips_waiting + f.clips_to_fetch > 0)
    return std::string(
        "its paid takes are still being generated or downloaded; run once without --regenerate "
        "to fetch them (free), then regenerate");
  if (f.unanswered > 0 && !o.resubmit_uncertain)
    return std::string(
        "a generate request for it may have been accepted and charged (uncertain); regenerating "
        "could pay twice: add --resubmit-uncertain to regenerate it anyway");
  return std::nullopt;
}

ResumeDecision decide_resume(const SongFacts& f, const ResumeOptions& o) {
  const int needed = std::max(1, f.requests_needed);
  if (o.regenerate && !regenerate_refusal(f, o)) {
    // Paid on purpose: a new attempt when this one sent anything.
    const bool sent = f.known && (f.acked > 0 || f.unanswered > 0);
    return {Resume::submit, needed, sent, "regenerate (paid)"};
  }
  const bool free_work = f.clips_waiting + f.clips_to_fetch > 0;
  const int missing_requests = std::max(0, needed - f.acked);

  if (f.status == SongStatus::complete) {
    if (f.clips_to_fetch == 0) return {Resume::done, 0, false, "unchanged"};
    return {Resume::fetch, 0, false,
            "repair"};  // rule 3: a damaged or lost file is downloaded again
  }
  if (f.unanswered > 0) {
    // Rule 1: only the user may decide to risk paying twice.
    if (!o.resubmit_uncertain) {
      if (free_work) return {Resume::fetch, 0, false, "in progress, uncertain"};
      return {Resume::hold_uncertain, 0, false, "uncertain"};
    }
    int paid = std::max(0, needed - f.acked);
    return {f.acked > 0 ? Resume::fetch : Resume::submit, paid, false, "resubmit uncertain"};
  }
  if (f.status == SongStatus::failed ||
      (f.clips_failed > 0 && !free_work && missing_requests == 0)) {
    if (free_work) return {Resume::fetch, 0, false, "fetch again"};  // rule 3: downloads are free
    if (o.retry_failed) return {Resume::submit, needed, true, "retry failed"};  // rule 4
    return {Resume::hold_failed, 0, false, "failed before"};
  }
  if (f.acked > 0) {
    if (missing_requests > 0) return {Resume::fetch, missing_requests, false, "more takes"};
    return {Resume::fetch, 0, false, "in progress"};
  }
  // Rule 2: nothing of this attempt may have been accepted (never sent,
  // refused, skipped, or interrupted before sending).
  return {Resume::submit, needed, false, f.known ? "not sent yet" : "new"};
}

SubmitVerdict submit_verdict(SubmitOutcome outcome, bool can_retry, bool api_answered) {
  SubmitVerdict v;
  switch (outcome) {
    case SubmitOutcome::accepted:
      return {Receipt::acked, SongStatus::submitted, false, true, RunEffect::none};
    case SubmitOutcome::accepted_unreadable:
    case SubmitOutcome::maybe_accepted:
      return {Receipt::uncertain, SongStatus::uncertain, false, true, RunEffect::none};
    case SubmitOutcome::not_sent:
      if (can_retry) return {Receipt::rejected, SongStatus::pending, true, false, RunEffect::none};
      // Nothing was sent: the song stays pending for the next run; an API that
      // never answered anything stops the run instead of failing every song.
      return {Receipt::rejected, SongStatus::pending, false, false,
              api_answered ? RunEffect::none : RunEffect::abort_run};
    case SubmitOutcome::unverifiable:
      return {Receipt::rejected, SongStatus::pending, false, false, RunEffect::abort_run};
    case SubmitOutcome::throttled:
    case SubmitOutcome::refused_retryable:
      if (can_retry) return {Receipt::rejected, SongStatus::pending, true, false, RunEffect::none};
      return {Receipt::rejected, SongStatus::failed, false, false, RunEffect::none};
    case SubmitOutcome::refused_song:
      return {Receipt::rejected, SongStatus::failed, false, false, RunEffect::none};
    case SubmitOutcome::bad_key:
    case SubmitOutcome::gone:
      return {Receipt::rejected, SongStatus::pending, false, false, RunEffect::abort_run};
    case SubmitOutcome::out_of_credits:
      return {Receipt::rejected, SongStatus::skipped, false, false, RunEffect::stop_submitting};
  }
  return v;
}

bool download_should_retry(DownloadOutcome outcome, bool attempts_left) {
  return outcome == DownloadOutcome::retryable && attempts_left;
}

SongStatus status_after_downloads(int takes_published, int takes_wanted) {
  return takes_wanted > 0 && takes_published >= takes_wanted ? SongStatus::complete
                                                             : SongStatus::failed;
}

}  // namespace setlist
