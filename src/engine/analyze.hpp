// The analysis of a take on the disk thread (#19): loudness, peaks,
// duration, silence, clipping, waveform; flags from the settings.
#pragma once

#include <filesystem>
#include <string>

#include "setlist/analysis.hpp"
#include "setlist/manifest.hpp"
#include "setlist/settings.hpp"
#include "setlist/state.hpp"

namespace setlist::engine {

FlagThresholds flag_thresholds(const Settings& s);
// "silent, clipped"
std::string join_flags(const std::vector<std::string>& flags);

// Decodes `file` and judges it. An undecodable file gives an error, never a
// failed take: analysis only informs.
Result<AnalysisRow> analyze_take(const std::filesystem::path& file, const Settings& s, const Song& song,
                                 const std::string& song_key, const std::string& clip_id,
                                 const std::string& source_sha256);

}  // namespace setlist::engine
