// Exit codes that cron and CI can trust (README and --help list them).
#pragma once

#include "setlist/engine.hpp"

namespace exit_code {

inline constexpr int ok = 0;            // every song complete
inline constexpr int incomplete = 1;    // some songs failed, were skipped or are uncertain
inline constexpr int usage = 2;         // usage or manifest error
inline constexpr int cannot_run = 3;    // lock held, key rejected, out of credits, OUT not writable
inline constexpr int interrupted = 130;

inline int for_summary(const setlist::RunSummary& s) {
  if (s.interrupted) return interrupted;
  if (s.aborted) return cannot_run;
  if (s.complete == s.songs) return ok;
  return incomplete;
}

}  // namespace exit_code
