#include "setlist/plan.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <cctype>
#include <functional>
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

namespace {

std::string trim(std::string s) {
  auto blank = [](unsigned char c) { return std::isspace(c) != 0; };
  while (!s.empty() && blank(static_cast<unsigned char>(s.back()))) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && blank(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

std::optional<int> number(const std::string& s) {
  if (s.empty() || s.size() > 9 || !std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); }))
    return std::nullopt;
  return std::stoi(s);
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

Result<std::vector<bool>> select_songs(const std::vector<SongRef>& songs, const std::string& spec,
                                       const std::string& flag) {
  std::vector<bool> selected(songs.size(), false);
  std::vector<std::string> unmatched;
  std::size_t start = 0;
  bool any_item = false;
  while (start <= spec.size()) {
    auto comma = spec.find(',', start);
    if (comma == std::string::npos) comma = spec.size();
    std::string item = trim(spec.substr(start, comma - start));
    start = comma + 1;
    if (item.empty()) continue;
    any_item = true;
    std::function<bool(const SongRef&)> match;
    auto dash = item.find('-');
    if (auto n = number(item)) {
      match = [n](const SongRef& s) { return s.track == *n; };
    } else if (auto lo = dash == std::string::npos ? std::nullopt : number(trim(item.substr(0, dash))),
               hi = dash == std::string::npos ? std::nullopt : number(trim(item.substr(dash + 1)));
               lo && hi) {
      match = [lo, hi](const SongRef& s) { return s.track >= *lo && s.track <= *hi; };
    } else if (item.find_first_of("*?[") != std::string::npos) {
      match = [item](const SongRef& s) {
        return ::fnmatch(item.c_str(), s.title.c_str(), FNM_CASEFOLD) == 0 ||
               ::fnmatch(item.c_str(), s.id.c_str(), FNM_CASEFOLD) == 0;
      };
    } else {
      match = [item](const SongRef& s) { return s.id == item || lower(s.title) == lower(item); };
    }
    bool hit = false;
    for (std::size_t i = 0; i < songs.size(); ++i)
      if (match(songs[i])) selected[i] = hit = true;
    if (!hit) unmatched.push_back(item);
  }
  Error e;
  e.kind = ErrorKind::invalid;
  if (!any_item) {
    e.message = flag + " names no song (give track numbers, ranges like 2-4, song ids or title globs)";
    return e;
  }
  if (!unmatched.empty()) {
    std::string list;
    for (auto& u : unmatched) list += (list.empty() ? "'" : ", '") + u + "'";
    e.message = flag + ": no song matches " + list +
                " (give track numbers, ranges like 2-4, song ids or title globs like 'Neon*')";
    return e;
  }
  return selected;
}

std::optional<std::string> take_to_reject(StateStore& state, const std::string& song_key, int max_extra_attempts) {
  if (max_extra_attempts <= 0) return std::nullopt;
  auto row = state.song(song_key);
  if (!row || row->status != SongStatus::complete || row->attempt - 1 >= max_extra_attempts) return std::nullopt;
  auto clips = state.attempt_clips(song_key);
  if (clips.empty()) return std::nullopt;
  for (auto& a : state.analyses(song_key)) {
    if (a.clip_id != clips.front().clip_id || a.flags.empty()) continue;
    std::string flags;
    for (auto& f : a.flags) flags += (flags.empty() ? "" : ", ") + f;
    return "take A flagged " + flags;
  }
  return std::nullopt;
}

Result<Plan> make_plan(const Manifest& manifest, const Settings& settings, const std::filesystem::path& out_dir,
                       const PlanOptions& options) {
  SongSource songs = [&manifest](const std::function<void(const Song&)>& each) -> Status {
    for (const auto& song : manifest.songs) each(song);
    return Ok{};
  };
  std::vector<PlannedSong> planned;
  planned.reserve(manifest.songs.size());
  auto plan = plan_each(songs, settings, out_dir, options, [&](const PlannedSong& p) { planned.push_back(p); });
  if (plan) plan->songs = std::move(planned);
  return plan;
}

Result<Plan> plan_each(const SongSource& songs, const Settings& settings, const std::filesystem::path& out_dir,
                       const PlanOptions& options, const std::function<void(const PlannedSong&)>& each) {
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
  // The keys of the state's songs (by track) that the manifest still has:
  // a new key at the track of one it has dropped replaces it. Read first,
  // since a later song may hold an earlier track's key.
  std::set<std::string> current_keys;
  if (!key_by_track.empty()) {
    std::set<std::string> state_keys;
    for (const auto& [track, key] : key_by_track) state_keys.insert(key);
    auto read = songs([&](const Song& song) {
      auto key = song_key(provider->info().name, provider->payload(song, settings.model));
      if (state_keys.count(key)) current_keys.insert(std::move(key));
    });
    if (!read) return read.error();
  }
  Plan plan;
  plan.budget = settings.budget_tokens;
  auto read = songs([&](const Song& song) {
    PlannedSong p;
    p.song = &song;
    p.selected = (options.only.empty() || options.only.count(song.id) > 0) &&
                 (!options.shard || options.shard->owns(song.id));
    p.regenerate = p.selected && options.regenerate.count(song.id) > 0;
    ResumeOptions ro{options.retry_failed, options.resubmit_uncertain, p.regenerate};
    auto payload = provider->payload(song, settings.model);
    p.key = song_key(provider->info().name, payload);
    p.route = payload.route;
    const int needed = provider->requests_for(song, settings.model);
    SongFacts facts;
    facts.requests_needed = needed;
    if (state) facts = song_facts(*state, p.key, out_dir, needed);
    if (facts.known && facts.status == SongStatus::superseded) facts = SongFacts{.requests_needed = needed};
    // reject_bad_takes: a flagged take A already known is bought again, as
    // --regenerate would (the engine takes the same decision).
    if (p.selected && !p.regenerate && state && facts.known)
      if (auto why = take_to_reject(*state, p.key, settings.reject_bad_takes)) {
        ResumeOptions again = ro;
        again.regenerate = true;
        if (!regenerate_refusal(facts, again)) {
          ro = again;
          p.rejected = *why;
        }
      }    // The same decision the engine takes (lifecycle.hpp).
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
    if (!p.rejected.empty()) p.action = "reject take (paid)";
    if (p.regenerate) {
      if (auto why = regenerate_refusal(facts, ro))
        p.refusal = *why;
      else
        p.action = "regenerate (paid)";
    }
    if (!p.selected) {
      // Left alone: what it is now, and nothing sent.
      p.action = facts.known ? "not selected (" + std::string(to_string(facts.status)) + ")" : "not selected";
      d.paid_requests = 0;
    }
    p.generate_requests = d.paid_requests;
    p.tokens = static_cast<long long>(d.paid_requests) *
               request_cost(settings, options.cost_per_request_given, provider->model_limits(song, settings.model));
    plan.generate_requests += p.generate_requests;
    plan.tokens += p.tokens;
    // Takes this plan cannot judge yet (bought now, or never analysed) may
    // each be rejected up to reject_bad_takes times once analysed.
    if (p.selected && settings.reject_bad_takes > 0 && (d.paid_requests > 0 || d.action == Resume::fetch)) {
      const int extra = settings.reject_bad_takes;
      const int per = needed;
      plan.reject_requests_max += extra * per;
      plan.reject_tokens_max += static_cast<long long>(extra) * per *
                                request_cost(settings, options.cost_per_request_given,
                                             provider->model_limits(song, settings.model));
    }
    each(p);
  });
  if (!read) return read.error();
  plan.fits_budget = !plan.budget || plan.tokens <= *plan.budget;
  return plan;
}

}  // namespace setlist
