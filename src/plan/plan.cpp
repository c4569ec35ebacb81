#include "setlist/plan.hpp"

#include <map>
#include <set>

#include "setlist/manifest.hpp"
#include "setlist/provider.hpp"
#include "setlist/state.hpp"

namespace setlist {

long long request_cost(const Settings& settings, bool cost_per_request_given, const ModelLimits* model) {
  if (!cost_per_request_given && model && model->cost_estimate > 0) return model->cost_estimate;
  return settings.cost_per_request;
}

Result<Plan> make_plan(const Manifest& manifest, const Settings& settings, const std::filesystem::path& out_dir,
                       const PlanOptions& options) {
  auto provider = make_provider(settings.provider, provider_options(settings));
  if (!provider) {
    Error e;
    e.kind = ErrorKind::invalid;
    e.message = "unknown or unsupported provider '" + settings.provider + "'";
    return e;
  }
  std::unique_ptr<StateStore> state;
  std::map<std::string, std::string> key_by_id;  // song id -> its key in state
  std::map<int, std::string> key_by_track;       // track -> its key in state
  if (auto opened = open_album_state(out_dir, false); !opened) {
    return opened.error();
  } else if (opened.value()) {
    state = std::move(opened.value());
    for (auto& row : state->songs())
      if (row.status != SongStatus::superseded) {
        key_by_id[row.song_id] = row.key;
        key_by_track[row.track] = row.key;
      }
  }
  std::set<std::string> current_keys;
  for (auto& song : manifest.songs)
    current_keys.insert(song_key(provider->info().name, provider->payload(song, settings.model)));
  Plan plan;
  plan.budget = settings.budget_tokens;
  const ResumeOptions ro{options.retry_failed, options.resubmit_uncertain};
  for (auto& song : manifest.songs) {
    PlannedSong p;
    p.song = &song;
    auto payload = provider->payload(song, settings.model);
    p.key = song_key(provider->info().name, payload);
    p.route = payload.route;
    const int needed = provider->requests_for(song, settings.model);
    SongFacts facts;
    facts.requests_needed = needed;
    if (state) facts = song_facts(*state, p.key, out_dir, needed);
    if (facts.known && facts.status == SongStatus::superseded) facts = SongFacts{.requests_needed = needed};
    // The same decision the engine takes (lifecycle.hpp).
    auto d = decide_resume(facts, ro);
    p.action = std::string(d.label);
    if (!facts.known) {
      // The engine gives it the place of the version it replaces (same id,
      // or a song that left the manifest at its track): "changed".
      auto by_track = key_by_track.find(song.track);
      bool replaces = key_by_id.count(song.id) ||
                      (by_track != key_by_track.end() && !current_keys.count(by_track->second));
      p.action = replaces ? "changed" : "new";
    } else if (state && d.label == "unchanged") {
      // Same request, another name: its files follow for free.
      if (auto row = state->song(p.key); row && (row->title != song.title || row->track != song.track))
        p.action = "renamed (free)";
    }
    p.generate_requests = d.paid_requests;
    p.tokens = static_cast<long long>(d.paid_requests) *
               request_cost(settings, options.cost_per_request_given, provider->model_limits(song, settings.model));
    plan.generate_requests += p.generate_requests;
    plan.tokens += p.tokens;
    plan.songs.push_back(std::move(p));
  }
  plan.fits_budget = !plan.budget || plan.tokens <= *plan.budget;
  return plan;
}

}  // namespace setlist
