// sunoapi.org-style Suno proxies (provider "sunoapi"): `POST /api/v1/generate`
// answers a task id; `GET /api/v1/generate/record-info?taskId=ID` the task
// with its two tracks. Codes live in the body ({"code", "msg", "data"}), at
// times with HTTP 200. See docs/api.md.
#include <boost/json.hpp>

#include <cctype>

#include "provider/flavors.hpp"
#include "setlist/manifest.hpp"

namespace setlist {

namespace json = boost::json;

namespace {

constexpr const char* kGenerate = "/api/v1/generate";
constexpr const char* kRecord = "/api/v1/generate/record-info";


// The body's "code" as a number (also when written as a numeric string).
std::optional<int> body_code(const json::object& o) {
  auto* c = o.if_contains("code");
  if (!c) return std::nullopt;
  if (c->is_int64() && c->get_int64() >= 0 && c->get_int64() < 100000) return static_cast<int>(c->get_int64());
  if (c->is_uint64() && c->get_uint64() < 100000) return static_cast<int>(c->get_uint64());
  if (c->is_string()) {
    auto s = c->get_string();
    if (s.empty() || s.size() > 5) return std::nullopt;
    int v = 0;
    for (char ch : s) {
      if (ch < '0' || ch > '9') return std::nullopt;
      v = v * 10 + (ch - '0');
    }
    return v;
  }
  return std::nullopt;
}

Result<json::object> parse_answer(std::string_view body) {
  json::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec) return protocol_error("answer is not JSON: " + ec.message());
  if (!v.is_object()) return protocol_error("answer is not a JSON object");
  auto& o = v.get_object();
  if (auto code = body_code(o); code && *code != 200) {
    std::string msg = string_at(o, "msg");
    return protocol_error("answer has code " + std::to_string(*code) + (msg.empty() ? "" : ": " + msg));
  }
  return std::move(o);
}

class SunoApiOrg final : public Provider {
 public:
  SunoApiOrg(const ProviderInfo& info, const ProviderOptions& options) : info_(info), options_(options) {}
  const ProviderInfo& info() const override { return info_; }

  // Custom mode for lyrics, and for an instrumental made from tags and title
  // alone; description mode for a description.
  SubmitPayload payload(const Song& song, std::string_view default_model) const override {
    SubmitPayload p;
    p.route = kGenerate;
    const bool custom = song.lyrics.has_value() || !song.description.has_value();
    p.body["customMode"] = custom;
    p.body["instrumental"] = song.make_instrumental;
    p.body["model"] = pick_model(song, default_model, info_);
    if (custom) {
      if (song.lyrics) p.body["prompt"] = *song.lyrics;
      p.body["style"] = song.tags;
      p.body["title"] = song.title;
    } else {
      p.body["prompt"] = style_prompt(song);  // description mode has no style: tags join the description
    }
    if (!song.negative_tags.empty()) p.body["negativeTags"] = song.negative_tags;
    return p;
  }

  // callBackUrl is required by the service, never relied on, and not part of
  // the song's identity.
  ApiRequest submit_request(const SubmitPayload& payload, bool) const override {
    json::object body = payload.body;
    body["callBackUrl"] = options_.callback_url;
    return ApiRequest{"POST", payload.route, json::serialize(body)};
  }

  // {"code": 200, "msg": "success", "data": {"taskId": "..."}} -> one queued
  // clip per slot of the task.
  Result<std::vector<Clip>> parse_submit(std::string_view body) const override {
    auto o = parse_answer(body);
    if (!o) return o.error();
    auto* data = object_at(*o, "data");
    std::string task = data ? string_at(*data, "taskId") : std::string();
    if (task.empty()) return protocol_error("generate answer has no \"data.taskId\"");
    std::vector<Clip> clips;
    for (int slot = 1; slot <= info_.clips_per_request; ++slot) {
      Clip c;
      c.id = slot_clip_id(task, slot);
      if (c.id.empty()) return protocol_error("task id is too long to use");
      c.status = ClipStatus::queued;
      clips.push_back(std::move(c));
    }
    return clips;
  }

  // The slots of one task share one GET.
  ApiRequest poll_request(std::span<const std::string> ids) const override {
    std::string task;
    if (!ids.empty()) {
      if (auto split = split_slot_clip_id(ids.front())) {
        task = split->first;
      } else {
        task = decode_server_id(ids.front()).value_or(ids.front());
      }
    }
    return ApiRequest{"GET", std::string(kRecord) + "?taskId=" + query_escape(task), {}};
  }

  Result<std::vector<Clip>> parse_poll(std::string_view body) const override {
    auto o = parse_answer(body);
    if (!o) return o.error();
    auto* data = object_at(*o, "data");
    if (!data) return protocol_error("record-info answer has no \"data\" object");
    const json::object* response = object_at(*data, "response");
    std::string task = string_at(*data, "taskId");
    if (task.empty() && response) task = string_at(*response, "taskId");
    if (task.empty()) return protocol_error("record-info answer has no task id");
    const std::string status = string_at(*data, "status");
    std::string why = string_at(*data, "errorMessage");
    if (why.empty()) why = string_at(*o, "msg");
    const json::array* tracks = nullptr;
    if (response) {
      if (auto* t = response->if_contains("sunoData")) tracks = t->if_array();
    }

    std::vector<Clip> clips;
    for (int slot = 1; slot <= info_.clips_per_request; ++slot) {
      Clip c;
      c.id = slot_clip_id(task, slot);
      if (c.id.empty()) return protocol_error("task id is too long to use");
      const json::object* track = nullptr;
      if (tracks && tracks->size() >= static_cast<std::size_t>(slot)) track = (*tracks)[slot - 1].if_object();
      std::string audio;
      if (track) {
        // Never streamAudioUrl: a partial stream.
        audio = string_at(*track, "audioUrl");
        c.title = string_at(*track, "title");
        c.image_url = string_at(*track, "imageUrl");
        if (auto* d = track->if_contains("duration")) {
          if (d->is_number()) {
            c.duration = d->to_number<double>();
          } else if (d->is_string()) {
            try {
              c.duration = std::stod(std::string(d->get_string()));
            } catch (...) {
            }
          }
        }
        c.raw_json = json::serialize(*track);  // keeps the track's own id
      }
      if (status == "PENDING" || status == "TEXT_SUCCESS") {
        c.status = ClipStatus::queued;
      } else if (status == "FIRST_SUCCESS") {
        // One track may be final before the other.
        c.status = audio.empty() ? ClipStatus::streaming : ClipStatus::complete;
      } else if (status == "SUCCESS") {
        if (audio.empty()) {
          c.status = ClipStatus::error;
          c.error_message = "the task finished without an audio URL for track " + std::to_string(slot);
        } else {
          c.status = ClipStatus::complete;
        }
      } else if (status == "SENSITIVE_WORD_ERROR") {
        c.status = ClipStatus::error;
        c.error_message = "refused by moderation (SENSITIVE_WORD_ERROR)" + (why.empty() ? "" : ": " + why) +
                          "; the same text is refused again: change it";
      } else if (status == "CREATE_TASK_FAILED" || status == "GENERATE_AUDIO_FAILED" ||
                 status == "CALLBACK_EXCEPTION") {
        c.status = ClipStatus::error;
        c.error_message = status + (why.empty() ? "" : ": " + why);
      } else {
        c.status = ClipStatus::unknown;
      }
      if (c.status == ClipStatus::complete) c.audio_url = audio;
      clips.push_back(std::move(c));
    }
    return clips;
  }

  std::string error_message(int http_status, std::string_view body) const override {
    json::error_code ec;
    json::value v = json::parse(body, ec);
    if (!ec && v.is_object()) {
      std::string msg = string_at(v.get_object(), "msg");
      if (!msg.empty()) return msg;
    }
    return json_error_message(http_status, body);
  }

  // The body's code first (some services answer HTTP 200 whatever it says),
  // then the HTTP status.
  Answer classify(int http_status, std::string_view body) const override {
    Answer a;
    a.code = http_status;
    if (http_status == 0) return Provider::classify(http_status, body);
    std::optional<int> code;
    json::error_code ec;
    json::value v = json::parse(body, ec);
    if (!ec && v.is_object()) code = body_code(v.get_object());
    const int c = code ? *code : http_status;
    a.code = c;
    if ((code && c == 200) || (!code && c >= 200 && c < 300)) return a;
    a.message = error_message(http_status, body);
    switch (c) {
      case 400:
      case 413:
        a.kind = AnswerKind::fail_song;
        break;
      case 401:
        a.kind = AnswerKind::bad_key;
        a.message = "the API rejected the key (" + a.message + "); " + key_hint(info_);
        break;
      case 402:
        a.kind = AnswerKind::out_of_credits;
        break;
      case 404:
        a.kind = AnswerKind::gone;
        a.message = "bad route (" + a.message + "): check base_url, this service may not speak the sunoapi shape";
        break;
      case 405:
      case 430:
        a.kind = AnswerKind::throttled;
        break;
      case 429:
        // In the body 429 means insufficient credits; an HTTP 429 without a
        // body code comes from a rate limiter in front of the service.
        a.kind = code ? AnswerKind::out_of_credits : AnswerKind::throttled;
        break;
      case 408:
      case 425:
      case 455:
        a.kind = AnswerKind::retry;
        break;
      case 504:
        a.kind = AnswerKind::maybe_accepted;
        break;
      default:
        a.kind = c >= 500 && c < 600 ? AnswerKind::retry : AnswerKind::fail_song;
        break;
    }
    return a;
  }

 private:
  const ProviderInfo& info_;
  ProviderOptions options_;
};

}  // namespace

std::unique_ptr<Provider> make_sunoapi(const ProviderInfo& info, const ProviderOptions& options) {
  return std::make_unique<SunoApiOrg>(info, options);
}

}  // namespace setlist
