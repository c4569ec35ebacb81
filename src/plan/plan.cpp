#include "setlist/plan.hpp"

#include <map>

#include "setlist/manifest.hpp"
#include "setlist/provider.hpp"
#include "setlist/state.hpp"

namespace setlist {

Result<Plan> make_plan(const Manifest& manifest, const Settings& settings, const std::filesystem::path& out_dir,
                       const PlanOptions& options) {
  auto provider = make_provider(settings.provider);
  if (!provider) {
    Error e;
    e.kind = ErrorKind::invalid;
    e.message = "unknown or unsupported provider '" + settings.provider + "'";
    return e;
  }
  std::map<std::string, SongRow> by_key;
  std::map<std::string, std::string> key_by_id;
  auto db = out_dir / ".setlist" / "state.db";
  if (std::filesystem::exists(db)) {
    auto state = StateStore::open(db);
    if (!state) return state.error();
    for (auto& row : state.value()->songs()) {
      by_key[row.key] = row;
      if (row.status != "superseded") key_by_id[row.song_id] = row.key;
    }
  }
  Plan plan;
  plan.budget = settings.budget_tokens;
  for (auto& song : manifest.songs) {
    PlannedSong p;
    p.song = &song;
    auto payload = provider->payload(song, settings.model);
    p.key = song_key(provider->info().name, payload);
    p.route = payload.route;
    auto it = by_key.find(p.key);
    bool submit = true;
    if (it == by_key.end() || it->second.status == "superseded") {
      p.action = key_by_id.count(song.id) ? "changed" : "new";
    } else {
      const auto& st = it->second.status;
      if (st == "complete") {
        p.action = "unchanged";
        submit = false;
      } else if (st == "submitted") {
        p.action = "in progress";
        submit = false;
      } else if (st == "failed") {
        p.action = options.retry_failed ? "retry failed" : "failed before";
        submit = options.retry_failed;
      } else if (st == "uncertain" || st == "submitting") {
        p.action = options.resubmit_uncertain ? "resubmit uncertain" : "uncertain";
        submit = options.resubmit_uncertain;
      } else {
        p.action = "new";  // pending or skipped earlier
      }
    }
    if (submit) {
      p.generate_requests = 1;
      p.tokens = settings.cost_per_request;
    }
    plan.generate_requests += p.generate_requests;
    plan.tokens += p.tokens;
    plan.songs.push_back(std::move(p));
  }
  plan.fits_budget = !plan.budget || plan.tokens <= *plan.budget;
  return plan;
}

}  // namespace setlist
