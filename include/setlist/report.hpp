// Report: report.json (for CI and tools) built from state, never from the
// network. Field reference: docs/report.md.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "setlist/result.hpp"

namespace setlist {

struct Manifest;
struct RunSummary;
class StateStore;

inline constexpr int report_schema_version = 1;

// Writes OUT/report.json. `manifest` orders and titles the songs (when
// null, the song list of the last run recorded in state is used); `run`
// describes the run just finished (when null, the last one recorded).
// `damaged`, when given, receives a message for each state row that names a
// path outside OUT (left out of the reports, listed in report.json's
// "damaged_state").
Status write_reports(const std::filesystem::path& out_dir, StateStore& state, const Manifest* manifest,
                     const RunSummary* run, std::vector<std::string>* damaged = nullptr);

// #19: the Markdown summary of OUT from state alone (`setlist report OUT
// --format md`): the text a run appends to $GITHUB_STEP_SUMMARY. Writes nothing.
std::string markdown_summary(const std::filesystem::path& out_dir, StateStore& state,
                             std::vector<std::string>* damaged = nullptr);

// #19: one line per take the audio analysis flagged, in track order:
// "03 Neon Rain (B): silent, clipped".
std::vector<std::string> flagged_takes(StateStore& state);

// The summary of a run as JSON text (also kept in state for `setlist report`).
std::string run_summary_json(const RunSummary& run);

}  // namespace setlist
