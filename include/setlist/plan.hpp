// Plan: what a run would do, without network and without writing anything.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "setlist/result.hpp"
#include "setlist/settings.hpp"
#include "setlist/shard.hpp"

namespace setlist {

class StateStore;

struct Manifest;
struct ModelLimits;
struct Song;

// A song as a selector sees it (from the manifest, or from state for `status`).
struct SongRef {
  int track = 0;
  std::string id;
  std::string title;
};

// --only / --regenerate: a comma list of track numbers (3), ranges (2-4),
// song ids (night-drive) and title globs ('Neon*', case-insensitive; a glob
// also matches ids). An exact title selects too. Answers, per song, whether
// it is selected; an item that matches no song is an error naming it.
Result<std::vector<bool>> select_songs(const std::vector<SongRef>& songs, const std::string& spec,
                                       const std::string& flag = "--only");

struct PlannedSong {
  const Song* song = nullptr;
  std::string key;
  // decide_resume()'s label (lifecycle.hpp), or new / changed for a song state does not know
  std::string action;
  std::string route;     // the generate route it would call
  int generate_requests = 0;
  long long tokens = 0;
  bool selected = true;      // false: left alone by --only or --shard
  bool regenerate = false;   // --regenerate: paid again on purpose
  std::string refusal;       // --regenerate refused for this song (regenerate_refusal)
  std::string rejected;      // reject_bad_takes buys it again: why ("take A flagged silent")
};

struct Plan {
  std::vector<PlannedSong> songs;
  int generate_requests = 0;
  long long tokens = 0;
  std::optional<long long> budget;
  bool fits_budget = true;
  // reject_bad_takes: the most the takes not analysed yet could add (each
  // selected song bought again up to N times); not in `tokens`.
  int reject_requests_max = 0;
  long long reject_tokens_max = 0;
};

struct PlanOptions {
  bool retry_failed = false;
  bool resubmit_uncertain = false;
  bool cost_per_request_given = false;  // else each model's cost estimate prices its requests
  std::set<std::string> only;        // song ids selected; empty: all
  std::set<std::string> regenerate;  // song ids regenerated on purpose
  // --shard I/N: only the songs this shard owns are selected (as --only).
  std::optional<Shard> shard;
};

// What one generate request for `song` is expected to cost.
long long request_cost(const Settings& settings, bool cost_per_request_given, const ModelLimits* model);

// reject_bad_takes (#19): why the song's current take A is rejected ("take A
// flagged silent, clipped"), when it is complete, flagged, and has had fewer
// than `max_extra_attempts` attempts after its first; nullopt otherwise.
std::optional<std::string> take_to_reject(StateStore& state, const std::string& song_key, int max_extra_attempts);

// Reads OUT/.setlist/state.db when it exists (never creates it).
Result<Plan> make_plan(const Manifest& manifest, const Settings& settings, const std::filesystem::path& out_dir,
                       const PlanOptions& options);

// The songs of a manifest, each handed to `each` in manifest order (valid
// during the call only), as often as it is called; an error when they cannot
// be read (LoadResult::songs, or a Manifest's vector).
using SongSource = std::function<Status(const std::function<void(const Song&)>& each)>;

// make_plan one song at a time, for manifests too large to hold: `each` gets
// every PlannedSong in manifest order as soon as it is planned (its `song`
// valid during the call only), the same as make_plan's Plan::songs; the Plan
// returned holds the totals and no songs. Memory does not grow with the
// number of songs. The songs are read twice when OUT's state knows songs
// (whether the song a state row's track had is still in the manifest decides
// "changed" from "new"), once otherwise.
Result<Plan> plan_each(const SongSource& songs, const Settings& settings, const std::filesystem::path& out_dir,
                       const PlanOptions& options, const std::function<void(const PlannedSong&)>& each);

}  // namespace setlist
