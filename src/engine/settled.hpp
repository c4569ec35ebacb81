// #20: a finished album run again. A run that ended with every selected song
// complete leaves a record in state (meta `settled`): what decided the run (a
// fingerprint of the manifest's bytes, the files it read, every setting and
// option, the program), state's change count (StateStore::changes), the
// reports it wrote (size and mtime) and its summary. The next run with the
// same fingerprint, the same count, every recorded file intact and the reports
// as written has nothing to do: it says so and leaves the reports as they are,
// without reading every song. Anything else runs in full (and the record goes
// until a run settles again).
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "setlist/engine.hpp"

namespace setlist {
struct Manifest;
class StateStore;

namespace engine {

// Empty when no shortcut may be taken: a manifest not read from a file, or
// --regenerate (each such run buys again, as asked).
std::string settled_fingerprint(const Manifest& manifest, const RunOptions& options);

// The summary of a run that has nothing to do, or nothing when the run must
// look at every song.
std::optional<RunSummary> settled_summary(StateStore& state, const std::filesystem::path& out_dir,
                                          const std::string& fingerprint);

// After a run: records it when it settled the album (see above), else
// removes any earlier record. Call last, with every writer of state done.
void record_settled(StateStore& state, const std::filesystem::path& out_dir, const std::string& fingerprint,
                    const RunSummary& summary);

// The flagged takes a settled run can still list (the first ones; the count is kept).
inline constexpr std::size_t kSettledFlaggedShown = 20;

// The report files a settled run checks, and the album cover they copy (relative to OUT).
extern const char* const kSettledReports[];
extern const char* const kReportPages;  // a folder of report pages, each checked

}  // namespace engine
}  // namespace setlist
