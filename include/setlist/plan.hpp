// Plan: what a run would do, without network and without writing anything.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "setlist/result.hpp"
#include "setlist/settings.hpp"

namespace setlist {

struct Manifest;
struct ModelLimits;
struct Song;

struct PlannedSong {
  const Song* song = nullptr;
  std::string key;
  // decide_resume()'s label (lifecycle.hpp), or new / changed for a song state does not know
  std::string action;
  std::string route;     // the generate route it would call
  int generate_requests = 0;
  long long tokens = 0;
};

struct Plan {
  std::vector<PlannedSong> songs;
  int generate_requests = 0;
  long long tokens = 0;
  std::optional<long long> budget;
  bool fits_budget = true;
};

struct PlanOptions {
  bool retry_failed = false;
  bool resubmit_uncertain = false;
  bool cost_per_request_given = false;  // else each model's cost estimate prices its requests
};

// What one generate request for `song` is expected to cost.
long long request_cost(const Settings& settings, bool cost_per_request_given, const ModelLimits* model);

// Reads OUT/.setlist/state.db when it exists (never creates it).
Result<Plan> make_plan(const Manifest& manifest, const Settings& settings, const std::filesystem::path& out_dir,
                       const PlanOptions& options);

}  // namespace setlist
