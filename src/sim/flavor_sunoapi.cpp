// sunoapi.org-style Suno proxies (api.md, "Live: sunoapi.org-style Suno
// proxies"): a task of two tracks per request, codes in the body.
//
//   POST /api/v1/generate                      -> {"code":200,"msg":"success","data":{"taskId"}}
//   GET  /api/v1/generate/record-info?taskId=  -> {"code":200,"msg":"success","data":{...task...}}
//
// Errors are {"code","msg","data":null}; the HTTP status repeats the code
// unless --body-codes-http200 (Model::error).
#include "sim/model.hpp"
#include "sim/util.hpp"

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>

namespace sim {

namespace json = boost::json;

namespace {

constexpr std::array<const char*, 5> kSunoModels = {"V4", "V4_5", "V4_5PLUS", "V4_5ALL", "V5"};

// What the tracks report as modelName: Suno's own naming, not the request's.
std::string model_name(const std::string& m) {
  std::string s = "chirp-" + lower(m);
  std::replace(s.begin(), s.end(), '_', '-');
  return s;
}

}  // namespace

const std::vector<Route>& Model::sunoapi_routes() {
  static const std::vector<Route> routes = {
      {"POST", "/api/v1/generate", RouteClass::generate, &Model::sunoapi_generate, false},
      {"GET", "/api/v1/generate/record-info", RouteClass::get, &Model::sunoapi_record_info, false},
  };
  return routes;
}

Response Model::sunoapi_generate(Call& call) {
  const std::string& path = call.path;
  boost::system::error_code ec;
  json::value body = json::parse(call.req.body, ec);
  if (ec || !body.is_object()) return fail(Fail::bad_request, "Invalid request body: expected a JSON object", path);
  auto& o = body.as_object();
  Fields f(o);
  bool custom = false, instrumental = false;
  std::string model, prompt, style, title, negative, callback;
  bool has_custom = f.boolean("customMode", custom);
  bool has_instrumental = f.boolean("instrumental", instrumental);
  f.string("model", model);
  f.string("prompt", prompt);
  f.string("style", style);
  f.string("title", title);
  f.string("negativeTags", negative);
  f.string("callBackUrl", callback);
  auto bad = [&](const std::string& msg) { return fail(Fail::bad_request, msg, path); };
  if (f.bad()) return bad(f.field() + ": " + f.what());
  if (!has_custom) return bad("customMode is required");
  if (!has_instrumental) return bad("instrumental is required");
  if (model.empty()) return bad("model is required");
  if (std::find(kSunoModels.begin(), kSunoModels.end(), model) == kSunoModels.end())
    return bad("model must be one of V4, V4_5, V4_5PLUS, V4_5ALL, V5 (got '" + model + "')");
  if (callback.empty()) return bad("callBackUrl is required: Please enter callBackUrl.");
  bool v4 = model == "V4";
  auto too_long = [&](const char* field, std::size_t max) {
    return fail(Fail::too_long, fmt::format("{} is too long: at most {} characters", field, max), path);
  };
  if (custom) {
    if (style.empty()) return bad("style is required in custom mode");
    if (title.empty()) return bad("title is required in custom mode");
    if (!instrumental && prompt.empty()) return bad("prompt is required in custom mode unless instrumental");
    std::size_t max_prompt = v4 ? 3000 : 5000, max_style = v4 ? 200 : 1000;
    if (utf8_length(prompt) > max_prompt) return too_long("prompt", max_prompt);
    if (utf8_length(style) > max_style) return too_long("style", max_style);
    if (utf8_length(title) > 80) return too_long("title", 80);
  } else {
    if (prompt.empty()) return bad("prompt is required");
    if (utf8_length(prompt) > 500) return too_long("prompt", 500);
  }

  std::int64_t cost = cost_of(model, cfg_.cost);
  std::string phash;
  if (auto r = admit(call, o, cost, phash)) return *r;
  Task& t = new_task(call, 2, phash, cost, model, {prompt, style, title}, true);
  Clip& first = clips_[t.clips[0]];
  Clip& second = clips_[t.clips[1]];
  // the first track is the first to be final (FIRST_SUCCESS), then both (SUCCESS)
  if (second.to_complete < first.to_complete) {
    std::swap(first.to_queued, second.to_queued);
    std::swap(first.to_streaming, second.to_streaming);
    std::swap(first.to_complete, second.to_complete);
  }
  for (auto& id : t.clips) {
    Clip& c = clips_[id];
    c.tags = style;
    c.instrumental = instrumental;
    c.description_mode = !custom;
    if (custom) {
      c.title = title;
      c.lyric = instrumental ? "" : prompt;
    } else {
      c.description = prompt;
      c.title = title.empty() ? prompt.substr(0, 40) : title;
      c.lyric = instrumental ? "" : lyrics_for(prompt, hash64(c.id));
    }
  }

  json::object data, out;
  data["taskId"] = t.id;
  out["code"] = 200;
  out["msg"] = "success";
  out["data"] = std::move(data);
  Response r;
  r.code = 200;
  r.body = json::serialize(out);
  return r;
}

std::string Model::task_status(const Task& t, TimePoint now) const {
  if (t.fail_status == "CREATE_TASK_FAILED") return t.fail_status;
  int complete = 0, streaming = 0;
  const Clip* failed = nullptr;
  for (auto& id : t.clips) {
    const Clip& c = clips_.at(id);
    switch (c.stage(now)) {
      case Stage::complete: ++complete; break;
      case Stage::streaming: ++streaming; break;
      case Stage::error: failed = &c; break;
      default: break;
    }
  }
  if (failed) return failed->moderated ? "SENSITIVE_WORD_ERROR" : "GENERATE_AUDIO_FAILED";
  if (complete == static_cast<int>(t.clips.size()))
    return t.fail_status == "CALLBACK_EXCEPTION" ? "CALLBACK_EXCEPTION" : "SUCCESS";
  if (complete > 0) return "FIRST_SUCCESS";
  if (streaming > 0) return "TEXT_SUCCESS";
  return "PENDING";
}

json::object Model::track_json(const Clip& c, const Task& t, TimePoint now) const {
  Stage st = c.stage(now);
  c.seen(st, now);
  bool started = st == Stage::streaming || st == Stage::complete;
  json::object o;
  o["id"] = c.id;
  o["audioUrl"] = st != Stage::complete ? "" : c.audio_url.empty() ? cdn_base() + "/audio/" + c.id + ".mp3" : c.audio_url;
  o["streamAudioUrl"] = started ? cdn_base() + "/stream/" + c.id + ".mp3" : "";
  o["imageUrl"] = started ? cdn_base() + "/image/" + c.id + ".jpeg" : "";
  o["prompt"] = c.lyric;
  o["modelName"] = model_name(t.model);
  o["title"] = c.title;
  o["tags"] = c.tags;
  o["createTime"] = t.create_ms;
  if (st == Stage::complete) o["duration"] = std::round(c.audio.seconds() * 100.0) / 100.0;
  else o["duration"] = nullptr;
  return o;
}

Response Model::sunoapi_record_info(Call& call) {
  std::string id;
  for (auto& [k, v] : call.params)
    if (k == "taskId" && id.empty()) id = v;
  if (id.empty()) return fail(Fail::bad_request, "taskId is required", call.path);
  auto it = tasks_.find(id);
  if (it == tasks_.end() || !sees(call, it->second.owner)) return fail(Fail::bad_request, "taskId " + id + " not found", call.path);
  const Task& t = it->second;
  std::string status = task_status(t, call.now);

  json::array tracks;
  for (auto& cid : t.clips) tracks.push_back(track_json(clips_.at(cid), t, call.now));
  json::object response;
  response["taskId"] = t.id;
  response["sunoData"] = std::move(tracks);
  json::object data;
  data["taskId"] = t.id;
  data["param"] = t.param;
  data["response"] = std::move(response);
  data["status"] = status;
  data["type"] = "GENERATE";
  if (status == "SENSITIVE_WORD_ERROR" || status == "GENERATE_AUDIO_FAILED" || status == "CREATE_TASK_FAILED" ||
      status == "CALLBACK_EXCEPTION") {
    std::string message = t.fail_message;
    for (auto& cid : t.clips)
      if (const Clip& c = clips_.at(cid); c.fails && message.empty()) message = c.error_message;
    data["errorCode"] = status == "SENSITIVE_WORD_ERROR" ? 400 : 500;
    data["errorMessage"] = message;
  } else {
    data["errorCode"] = nullptr;
    data["errorMessage"] = nullptr;
  }
  json::object out;
  out["code"] = 200;
  out["msg"] = "success";
  out["data"] = std::move(data);
  Response r;
  r.code = 200;
  r.body = json::serialize(out);
  return r;
}

}  // namespace sim
