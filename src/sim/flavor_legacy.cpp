// The Suno flavors of api.md, now deprecated upstream but still served:
// AIML's v1 routes (flavor aimlapi, beside the music models), AIML's v2
// long polls (aimlapi-v2) and the self-hosted suno-api server (suno-api).
// Two clips per generate request, the clip object of api.md.
#include "sim/model.hpp"
#include "sim/util.hpp"

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <cmath>

namespace sim {

namespace json = boost::json;

namespace {
constexpr const char* kV2Generate = "/v2/generate/audio/suno-ai/clip";
constexpr const char* kV2Clips = "/v2/generate/audio/suno-ai/clips";
}  // namespace

const std::vector<Route>& Model::aiml_legacy_routes() {
  static const std::vector<Route> routes = {
      {"POST", "/generate/custom-mode", RouteClass::generate, &Model::legacy_custom, true},
      {"POST", "/generate", RouteClass::generate, &Model::legacy_description, true},
      {"GET", "/", RouteClass::get, &Model::legacy_get, true},
  };
  return routes;
}

const std::vector<Route>& Model::aiml_v2_routes() {
  static const std::vector<Route> routes = {
      {"POST", kV2Generate, RouteClass::generate, &Model::legacy_custom, true},
      {"GET", kV2Generate, RouteClass::get, &Model::v2_get_one, true},
      {"GET", kV2Clips, RouteClass::get, &Model::v2_get_many, true},
  };
  return routes;
}

const std::vector<Route>& Model::suno_api_routes() {
  static const std::vector<Route> routes = {
      {"POST", "/api/custom_generate", RouteClass::generate, &Model::legacy_custom, false},
      {"POST", "/api/generate", RouteClass::generate, &Model::legacy_description, false},
      {"GET", "/api/get", RouteClass::get, &Model::legacy_get, false},
  };
  return routes;
}

std::optional<Response> Model::deprecated_chirp(const Call& call, const Route& route) {
  if (!route.chirp || !cfg_.deprecated_chirp) return std::nullopt;
  std::string model = "chirp-v3-5";  // what the legacy routes use when the body names none
  if (route.cls == RouteClass::generate) {
    boost::system::error_code ec;
    auto body = json::parse(call.req.body, ec);
    if (!ec && body.is_object())
      if (auto* m = body.as_object().if_contains("model"); m && m->is_string()) model = std::string(m->as_string());
    // only chirp-* (Suno) requests hit the removal; anything else is validated as usual
    if (!starts_with(model, "chirp-")) return std::nullopt;
  } else {
    model = "suno-ai/chirp";
  }
  ++deprecated_refused_;
  return fail(Fail::not_found,
              "The " + model + " model is deprecated and no longer available for API or Playground calls",
              call.path);
}

Response Model::legacy_custom(Call& call) { return legacy_generate(call, true); }
Response Model::legacy_description(Call& call) { return legacy_generate(call, false); }

Response Model::legacy_generate(Call& call, bool custom) {
  const std::string& path = call.path;
  boost::system::error_code ec;
  json::value body = json::parse(call.req.body, ec);
  if (ec || !body.is_object()) return error(400, "body must be a JSON object", path);
  auto& o = body.as_object();
  auto str = [&](const char* k, std::string& out, bool& bad) {
    if (auto* v = o.if_contains(k)) {
      if (v->is_string()) out = std::string(v->as_string());
      else if (!v->is_null()) bad = true;
    }
  };
  bool bad = false;
  std::string prompt, tags, title, model = "chirp-v3-5", desc;
  bool instrumental = false, wait_audio = false;
  bool v2 = cfg_.flavor == "aimlapi-v2";
  str("prompt", prompt, bad);
  str("tags", tags, bad);
  str("title", title, bad);
  str("gpt_description_prompt", desc, bad);
  if (auto* v = o.if_contains("model")) {
    if (!v->is_string()) bad = true;
    else model = std::string(v->as_string());
  }
  if (auto* v = o.if_contains("make_instrumental")) {
    if (v->is_bool()) instrumental = v->as_bool();
    else if (!v->is_null()) bad = true;
  }
  if (auto* v = o.if_contains("wait_audio")) {
    if (v->is_bool()) wait_audio = v->as_bool();
    else if (!v->is_null()) bad = true;
  }
  if (bad) return error(400, "body validation failed: wrong field type", path);
  if (v2) {
    custom = desc.empty();
    if (!custom) prompt.clear();
  }
  if (prompt.empty() && (custom || !v2)) {
    return error(400, v2 && !custom ? "gpt_description_prompt is required" : "prompt is required", path);
  }
  if (custom && title.empty() && !v2) return error(400, "title is required", path);
  if (model != "chirp-v3-5" && model != "chirp-v3-0")
    return error(400, "model must be one of chirp-v3-5, chirp-v3-0", path);
  std::int64_t cost = cost_of(model, cfg_.cost);
  std::string phash;
  if (auto r = admit(call, o, cost, phash)) return *r;

  std::string description = v2 ? desc : prompt;
  Task& t = new_task(call, 2, phash, cost, model, {prompt, tags, title, desc}, false);
  for (auto& id : t.clips) {
    Clip& c = clips_[id];
    c.instrumental = instrumental;
    c.tags = tags;
    c.description_mode = !custom;
    if (custom) {
      c.title = title;
      c.lyric = prompt;
    } else {
      c.description = description;
      c.title = title.empty() ? c.description.substr(0, 40) : title;
      c.lyric = instrumental ? "" : lyrics_for(c.description, hash64(c.id));
    }
  }
  std::vector<std::string> ids = t.clips;
  Response r;
  if (v2) {
    json::object out;
    json::array a;
    for (auto& id : ids) a.push_back(json::string(id));
    out["clip_ids"] = std::move(a);
    r.body = json::serialize(out);
    return r;
  }
  if (wait_audio) {
    r.wait = true;
    r.wait_ids = ids;
    TimePoint until = call.now + cfg_.wait_max;
    TimePoint latest = call.now;
    for (auto& id : ids) {
      auto when = clips_[id].ready_at();
      if (!when) latest = until;
      else latest = std::max(latest, *when);
    }
    r.wait_until = std::min(latest, until);
    return r;
  }
  r.body = json::serialize(clips_json(ids, call.now, call.key));
  return r;
}

Response Model::legacy_get(Call& call) {
  std::vector<std::string> ids;
  bool suno_api = style_ == ErrorStyle::suno_api;
  for (auto& [k, v] : call.params) {
    if (!suno_api && (k == "ids" || (starts_with(k, "ids[") && k.back() == ']'))) {
      ids.push_back(v);
    } else if (suno_api && k == "ids") {
      std::size_t pos = 0;
      while (pos <= v.size()) {
        auto comma = v.find(',', pos);
        std::string id = v.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        if (!id.empty()) ids.push_back(id);
        if (comma == std::string::npos) break;
        pos = comma + 1;
      }
    }
  }
  if (suno_api && ids.empty()) ids = clip_order_;  // the whole library, as the real server does
  Response r;
  r.body = json::serialize(clips_json(ids, call.now, call.key));
  return r;
}

Response Model::v2_get_one(Call& call) {
  std::vector<std::string> ids;
  for (auto& [k, v] : call.params)
    if (k == "clip_id") ids.push_back(v);
  if (ids.empty()) return error(400, "clip_id is required", call.path);
  if (!clips_.count(ids[0])) return error(404, "clip not found", call.path);
  return v2_long_poll(call, std::move(ids), 1);
}

Response Model::v2_get_many(Call& call) {
  std::vector<std::string> ids;
  for (auto& [k, v] : call.params)
    if (k == "clip_ids[]" || k == "clip_ids") ids.push_back(v);
  if (ids.empty()) return error(400, "clip_id is required", call.path);
  if (ids.size() > 6) return error(400, "at most 6 clip_ids per request", call.path);
  return v2_long_poll(call, std::move(ids), 2);
}

// Long poll until every clip reached `status` (or a later stage), or wait-max.
Response Model::v2_long_poll(Call& call, std::vector<std::string> ids, int kind) {
  std::string want = "complete";
  for (auto& [k, v] : call.params)
    if (k == "status") want = v;
  Response r;
  r.wait = true;
  r.wait_kind = kind;
  r.wait_ids = std::move(ids);
  TimePoint until = call.now + cfg_.wait_max;
  TimePoint latest = call.now;
  for (auto& id : r.wait_ids) {
    auto it = clips_.find(id);
    if (it == clips_.end()) continue;
    std::optional<TimePoint> t;
    if (want == "streaming") t = it->second.ready_at();
    else if (want == "queued") t = it->second.t0 + it->second.to_queued;
    else t = it->second.settled_at();
    if (it->second.fails) t = it->second.t0 + it->second.to_streaming;
    latest = t ? std::max(latest, *t) : until;
  }
  r.wait_until = std::min(latest, until);
  return r;
}

std::string Model::render_wait(const Response& r, TimePoint now) {
  if (r.wait_kind == 1) {
    auto a = clips_json(r.wait_ids, now, r.key);
    return pad_json(a.empty() ? "{}" : json::serialize(a[0]), r.json_size);
  }
  return pad_json(json::serialize(clips_json(r.wait_ids, now, r.key)), r.json_size);
}

json::object Model::clip_json(const Clip& c, TimePoint now) const {
  Stage st = c.stage(now);
  c.seen(st, now);
  json::object o;
  o["id"] = c.id;
  o["title"] = c.title;
  o["status"] = stage_name(st);
  std::string audio, image, video;
  if (st == Stage::streaming) {
    audio = cdn_base() + "/stream/" + c.id + ".mp3";
    image = cdn_base() + "/image/" + c.id + ".jpeg";
  } else if (st == Stage::complete) {
    audio = c.audio_url.empty() ? cdn_base() + "/audio/" + c.id + ".mp3" : c.audio_url;
    image = cdn_base() + "/image/" + c.id + ".jpeg";
  } else if (st == Stage::error) {
    audio = "None.mp3";
  }
  o["audio_url"] = audio;
  o["image_url"] = image;
  o["video_url"] = video;
  o["lyric"] = c.lyric;
  json::value duration = nullptr;
  if (st == Stage::complete) duration = std::round(c.audio.seconds() * 1000.0) / 1000.0;
  bool v2 = cfg_.flavor == "aimlapi-v2";
  if (v2) {
    json::object meta;
    meta["prompt"] = c.lyric;
    meta["tags"] = c.tags;
    meta["duration"] = duration;
    if (c.description_mode) meta["gpt_description_prompt"] = c.description;
    o["metadata"] = std::move(meta);
  } else {
    o["prompt"] = c.lyric;
    o["tags"] = c.tags;
    o["duration"] = duration;
    if (c.description_mode) o["gpt_description_prompt"] = c.description;
  }
  o["model_name"] = c.model;
  o["type"] = "gen";
  o["created_at"] = c.created_at;
  if (st == Stage::error) o["error_message"] = c.error_message;
  else o["error_message"] = nullptr;
  return o;
}

json::array Model::clips_json(const std::vector<std::string>& ids, TimePoint now, const std::string& key) const {
  json::array a;
  for (auto& id : ids) {
    auto it = clips_.find(id);
    // Suno clips only: AIML music generations are not clips of this API
    // --key-scoped: another key's clips are not there for this one
    if (it != clips_.end() && starts_with(it->second.model, "chirp-") && (!cfg_.key_scoped || it->second.owner == key))
      a.push_back(clip_json(it->second, now));
  }
  return a;
}

}  // namespace sim
