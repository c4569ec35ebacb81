// AIML's music models (api.md, "Live: AIML music models"): one route for
// every model, the body's `model` selects it; one clip per request, billed
// per request; poll one generation id at a time.
//
//   POST /v2/generate/audio                      {"model", ...}  -> 201 {"id","status":"queued"}
//   GET  /v2/generate/audio?generation_id=ID     -> {"id","status","audio_file","error","meta"}
#include "sim/model.hpp"
#include "sim/util.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>

namespace sim {

namespace json = boost::json;

namespace {

constexpr std::array<const char*, 6> kAimlModels = {"minimax/music-2.6", "minimax/music-2.0", "minimax/music-1.5",
                                                "elevenlabs/eleven_music", "google/lyria2", "stable-audio"};

bool is_music_model(const std::string& m) {
  return std::find(kAimlModels.begin(), kAimlModels.end(), m) != kAimlModels.end();
}

// What a valid request asks for.
struct Spec {
  std::string prompt, lyrics;
  bool wav = false;
  double seconds = 0;  // 0: --duration decides
  std::uint32_t rate = 44100;
  std::uint16_t channels = 1;
};

// A string field with a length in code points; `min` 0 and `required`
// false: optional.
void text(Fields& f, const char* k, bool required, std::size_t min, std::size_t max, std::string& out) {
  if (!f.string(k, out)) {
    if (required && !f.bad()) f.problem(k, "Required");
    return;
  }
  std::size_t n = utf8_length(out);
  if (required && n == 0) f.problem(k, "Required");
  else if (n < min) f.problem(k, fmt::format("String must contain at least {} character(s)", min));
  else if (n > max) f.problem(k, fmt::format("String must contain at most {} character(s)", max));
}

// An integer field within [min, max]; `out` keeps its default when absent.
void number(Fields& f, const char* k, std::int64_t min, std::int64_t max, std::int64_t& out) {
  std::int64_t v = out;
  if (!f.integer(k, v)) return;
  if (v < min) f.problem(k, fmt::format("Number must be greater than or equal to {}", min));
  else if (v > max) f.problem(k, fmt::format("Number must be less than or equal to {}", max));
  else out = v;
}

void flag(Fields& f, const char* k) {
  bool ignored = false;
  f.boolean(k, ignored);
}

// minimax's audio_setting: sample rate, bitrate, format (pcm refused: raw
// samples without a header are no file).
void audio_setting(Fields& f, Spec& spec) {
  auto* v = f.get("audio_setting");
  if (!v || v->is_null()) return;
  if (!v->is_object()) return f.problem("audio_setting", "Expected object");
  Fields a(v->as_object());
  std::int64_t rate = 44100, bitrate = 128000;
  if (a.integer("audio_sample_rate", rate) && rate != 16000 && rate != 24000 && rate != 32000 && rate != 44100)
    return f.problem("audio_setting.audio_sample_rate",
                     fmt::format("Invalid enum value. Expected 16000 | 24000 | 32000 | 44100, received {}", rate));
  if (a.integer("bitrate", bitrate) && bitrate != 32000 && bitrate != 64000 && bitrate != 128000 && bitrate != 256000)
    return f.problem("audio_setting.bitrate",
                     fmt::format("Invalid enum value. Expected 32000 | 64000 | 128000 | 256000, received {}", bitrate));
  std::string format = "mp3";
  a.string("format", format);
  if (a.bad()) return f.problem("audio_setting." + a.field(), a.what());
  if (format == "pcm")
    return f.problem("audio_setting.format", "pcm is not supported: raw samples without a header; use mp3 or wav");
  if (format != "mp3" && format != "wav")
    return f.problem("audio_setting.format", "Invalid enum value. Expected 'mp3' | 'wav' | 'pcm', received '" + format + "'");
  spec.wav = format == "wav";
  spec.rate = static_cast<std::uint32_t>(rate);
}

// The field rules of api.md's table, model by model.
void validate(const std::string& model, Fields& f, Spec& spec) {
  if (model == "minimax/music-2.6") {
    text(f, "prompt", false, 0, 2000, spec.prompt);
    text(f, "lyrics", false, 0, 3000, spec.lyrics);
    flag(f, "is_instrumental");
    flag(f, "lyrics_optimizer");
    audio_setting(f, spec);
  } else if (model == "minimax/music-2.0" || model == "minimax/music-1.5") {
    text(f, "prompt", true, 10, model == "minimax/music-2.0" ? 2000 : 300, spec.prompt);
    text(f, "lyrics", true, 10, 3000, spec.lyrics);
    audio_setting(f, spec);
  } else if (model == "elevenlabs/eleven_music") {
    text(f, "prompt", true, 1, 2000, spec.prompt);
    std::int64_t ms = 10000;
    number(f, "music_length_ms", 10000, 300000, ms);
    spec.seconds = static_cast<double>(ms) / 1000.0;
  } else if (model == "google/lyria2") {
    text(f, "prompt", true, 1, 100000, spec.prompt);
    std::string negative;
    f.string("negative_prompt", negative);
    std::int64_t seed = 0;
    number(f, "seed", 0, INT64_MAX, seed);
    spec.wav = true;
    spec.rate = 48000;
    spec.channels = 2;
  } else if (model == "stable-audio") {
    text(f, "prompt", true, 1, 100000, spec.prompt);
    std::int64_t start = 1, total = 30, steps = 100;
    number(f, "seconds_start", 1, 47, start);
    number(f, "seconds_total", 1, 47, total);
    number(f, "steps", 1, 1000, steps);
    spec.seconds = static_cast<double>(total);
    spec.wav = true;
    spec.rate = 44100;
    spec.channels = 2;
  }
}

const char* music_status(Stage s) {
  switch (s) {
    case Stage::submitted:
    case Stage::queued: return "queued";
    case Stage::streaming: return "generating";
    case Stage::complete: return "completed";
    case Stage::error: return "error";
  }
  return "queued";
}

}  // namespace

const std::vector<Route>& Model::aiml_music_routes() {
  static const std::vector<Route> routes = {
      {"POST", "/v2/generate/audio", RouteClass::generate, &Model::music_submit, false},
      {"GET", "/v2/generate/audio", RouteClass::get, &Model::music_poll, false},
  };
  return routes;
}

Response Model::music_submit(Call& call) {
  const std::string& path = call.path;
  boost::system::error_code ec;
  json::value body = json::parse(call.req.body, ec);
  if (ec || !body.is_object()) return error(400, "Body validation error! body: Expected object", path);
  auto& o = body.as_object();
  Fields f(o);
  std::string model;
  if (!f.string("model", model) || model.empty())
    return error(400, "Body validation error! " + (f.bad() ? f.message() : std::string("model: Required")), path);
  if (starts_with(model, "chirp-") || lower(model).find("suno") != std::string::npos)
    return fail(Fail::not_found,
                "The " + model + " model is deprecated and no longer available for API or Playground calls", path);
  if (!is_music_model(model)) {
    std::string expected;
    for (auto* m : kAimlModels) expected += std::string(expected.empty() ? "'" : " | '") + m + "'";
    return error(400, "Body validation error! model: Invalid enum value. Expected " + expected + ", received '" +
                          model + "'",
                 path);
  }
  Spec spec;
  validate(model, f, spec);
  if (f.bad()) return error(400, "Body validation error! " + f.message(), path);

  std::int64_t cost = cost_of(model, kDefaultMusicCost);
  std::string phash;
  if (auto r = admit(call, o, cost, phash)) return *r;
  Task& t = new_task(call, 1, phash, cost, model, {spec.prompt, spec.lyrics}, false);
  Clip& c = clips_[t.clips.front()];
  c.title = spec.prompt.substr(0, 40);
  c.lyric = spec.lyrics;
  c.tags = spec.prompt;
  double secs = spec.seconds > 0 ? spec.seconds : drawn_duration(c.id);
  c.audio = clip_audio(c, secs, spec.wav, spec.rate, spec.channels);

  Response r;
  r.status = 201;
  json::object out;
  out["id"] = t.id;
  out["status"] = "queued";
  r.body = json::serialize(out);
  return r;
}

Response Model::music_poll(Call& call) {
  std::vector<std::string> ids;
  bool other = false;
  for (auto& [k, v] : call.params) {
    if (k == "generation_id") ids.push_back(v);
    else other = other || starts_with(k, "generation_id") || starts_with(k, "ids");
  }
  if (ids.size() != 1 || other || ids[0].empty() || ids[0].find(',') != std::string::npos)
    return error(400, "Query validation error! generation_id: exactly one generation id per request", call.path);
  auto it = tasks_.find(ids[0]);
  if (it == tasks_.end() || !is_music_model(it->second.model) || !sees(call, it->second.owner))
    return error(404, "Generation " + ids[0] + " not found", call.path);
  const Clip& c = clips_.at(it->second.clips.front());
  Stage st = c.stage(call.now);
  c.seen(st, call.now);
  json::object o;
  o["id"] = it->second.id;
  o["status"] = music_status(st);
  if (st == Stage::complete) {
    json::object file;
    file["url"] = c.audio_url.empty() ? cdn_base() + "/audio/" + c.id + c.audio.extension() : c.audio_url;
    o["audio_file"] = std::move(file);
  } else {
    o["audio_file"] = nullptr;
  }
  if (st == Stage::error) {
    json::object e;
    e["name"] = c.error_name;
    e["message"] = c.error_message;
    o["error"] = std::move(e);
  } else {
    o["error"] = nullptr;
  }
  if (st == Stage::complete) {
    json::object usage, meta;
    usage["credits_used"] = c.credits;
    meta["usage"] = std::move(usage);
    o["meta"] = std::move(meta);
  } else {
    o["meta"] = nullptr;
  }
  Response r;
  r.body = json::serialize(o);
  return r;
}

}  // namespace sim
