// Lifecycle: the rules that decide what a song costs, in one pure place.
//
// No I/O and no clock: callers gather what state and the disk say about a
// song (SongFacts) or what an answer meant (SubmitOutcome, DownloadOutcome)
// and ask here what to do. The engine, `plan`, `status` and the reports all
// ask the same functions, so they cannot disagree about a song.
//
// clang-format off
//            ┌──── refused (429/430, 5xx, connect): backoff, still pending ────┐
//            ▼                                                                 │
//  pending ──intent──▶ submitting ──ack──▶ submitted ──clips done──▶ downloading ──▶ complete
//     ▲                   │  │                │                          │             │
//     │    no answer, 504 │  │ 400, moderation│ clip error, stall        │ CDN fails   │ file changed
//     │                   ▼  ▼                ▼                          ▼             ▼
//     │            uncertain  failed ◀────────┴──────── failed (fetched again, free)  repair (free)
//     └─ skipped (budget, out of credits): nothing was sent
// clang-format on
//
// Pay-once rules:
//  1. A request that may have reached the server is never sent again unless
//     the user asks (--resubmit-uncertain).
//  2. A request the server provably refused costs nothing: the song stays
//     pending and is tried again, in this run or the next.
//  3. Clips already paid for are fetched, never bought again: a failed
//     download, a damaged or missing file, a crash after the ack all resume
//     by downloading.
//  4. Only a song whose paid clips ended in error is bought again, and only
//     with --retry-failed (or regenerate_on_error), as a new attempt.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace setlist {

enum class SongStatus {
  pending,
  submitting,
  submitted,
  complete,
  failed,
  uncertain,
  skipped,
  superseded
};
std::string_view to_string(SongStatus s);
// Unknown text reads as pending (nothing known to be sent).
SongStatus parse_song_status(std::string_view s);

// What state and the disk say about one song's current attempt.
struct SongFacts {
  bool known = false;  // state has a row for this song
  SongStatus status = SongStatus::pending;
  int requests_needed = 1;  // generate requests the song needs (its takes)
  int acked = 0;            // requests of this attempt answered with clip ids
  int unanswered = 0;       // sent, answer unknown: an intent left by a crash, a timeout, a 504
  int clips_waiting = 0;    // acked clips still generating
  int clips_to_fetch =
      0;  // complete clips whose audio is not on disk as recorded (missing or changed)
  int clips_published = 0;  // complete clips whose audio is on disk as recorded
  int clips_failed = 0;     // clips that ended in error
};

enum class Resume {
  done,            // complete and intact: nothing to do
  fetch,           // paid clips are known: poll and download them (free); then send paid_requests
  submit,          // nothing of this attempt may have been accepted: send paid_requests
  hold_failed,     // failed for a reason only a paid retry fixes; needs --retry-failed
  hold_uncertain,  // a request may have been accepted; needs --resubmit-uncertain
};

struct ResumeOptions {
  bool retry_failed = false;
  bool resubmit_uncertain = false;
  // --regenerate: the user pays again on purpose for this song (a new
  // attempt), unless regenerate_refusal() says why not.
  bool regenerate = false;
};

struct ResumeDecision {
  Resume action = Resume::submit;
  int paid_requests = 0;     // generate requests this run would send for the song
  bool new_attempt = false;  // the earlier attempt's takes give way to a new one
  std::string_view label;    // for `plan`: unchanged, repair, in progress, new, ...
};

ResumeDecision decide_resume(const SongFacts& facts, const ResumeOptions& options);

// Why --regenerate cannot be honoured for this song now, or nothing:
//  - a request of its current attempt may have been accepted (uncertain, or
//    an intent left by a crash): regenerating would buy a second time what
//    may already be paid for, so it needs --resubmit-uncertain too (rule 1);
//  - its paid clips are still generating or not downloaded yet: those are
//    fetched first (free, rule 3); regenerate once they are on disk.
// decide_resume() never regenerates a song this refuses (it answers as if
// regenerate were not given).
std::optional<std::string> regenerate_refusal(const SongFacts& facts, const ResumeOptions& options);

// What the answer to one generate request was.
enum class SubmitOutcome {
  accepted,             // 2xx with readable clip ids
  accepted_unreadable,  // 2xx, but its clip ids cannot be read: paid, ids unknown
  not_sent,             // connect, name lookup or proxy failure: the server never had it
  unverifiable,         // TLS verification failed: nothing sent, and nothing should be
  throttled,            // 429 (AIML), 405/430 (sunoapi): slow down, try again
  refused_retryable,    // 5xx but 504, 408, 425, maintenance: nothing accepted, try again
  refused_song,         // 400, 413, 422, moderation: this song cannot be made as written
  bad_key,              // 401
  out_of_credits,       // AIML 402/403, sunoapi 429
  gone,                 // the route or the model no longer exists
  maybe_accepted,       // sent, then no answer, a cut answer or a 504: it may have been taken
};

enum class Receipt { acked, rejected, uncertain };
enum class RunEffect { none, stop_submitting, abort_run };

struct SubmitVerdict {
  Receipt receipt = Receipt::rejected;  // how the submission row is closed
  SongStatus song = SongStatus::pending;
  bool retry = false;    // send it again (after a backoff)
  bool charged = false;  // counts against the budget: it was, or may have been, paid for
  RunEffect run = RunEffect::none;
};

// `can_retry`: attempts and the retry budget allow one more try.
// `api_answered`: the API has answered at least one request in this run (so
// a connect failure is a passing fault, not an unreachable API).
SubmitVerdict submit_verdict(SubmitOutcome outcome, bool can_retry, bool api_answered);

// What one download attempt ended in.
enum class DownloadOutcome {
  ok,
  retryable,  // network, 5xx, 403 from a CDN, a body that is not audio, cut short
  gone,       // 404/410: the file expired or never existed
  local,      // the disk: cannot write OUT
};

// True when another attempt of the same download may succeed.
bool download_should_retry(DownloadOutcome outcome, bool attempts_left);

// The song's status once its downloads ended: every take on disk is complete;
// anything else is failed, and the next run fetches again for free (rule 3)
// unless a clip ended in error (rule 4).
SongStatus status_after_downloads(int takes_published, int takes_wanted);

}  // namespace setlist
