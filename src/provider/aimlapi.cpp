// Flavor 1: AIML API, Suno v1 endpoints.
#include <boost/json.hpp>

#include <cctype>
#include <string>

#include "provider/flavors.hpp"
#include "setlist/manifest.hpp"

namespace setlist {

namespace json = boost::json;

Error protocol_error(std::string msg) {
  Error e;
  e.kind = ErrorKind::protocol;
  e.message = std::move(msg);
  return e;
}

std::string pick_model(const Song& song, std::string_view default_model, const ProviderInfo& info) {
  if (!song.model.empty()) return song.model;
  if (!default_model.empty()) return std::string(default_model);
  return info.default_model;
}

namespace {

std::string string_field(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v || !v->is_string()) return {};
  return std::string(v->get_string());
}

}  // namespace

Result<Clip> parse_clip_object(const json::value& v) {
  if (!v.is_object()) return protocol_error("clip is not a JSON object");
  const auto& o = v.get_object();
  Clip c;
  auto* id = o.if_contains("id");
  if (!id || !id->is_string()) return protocol_error("clip has no string \"id\"");
  c.id = std::string(id->get_string());
  if (!is_valid_clip_id(c.id)) return protocol_error("clip id has unexpected characters or length");
  c.title = string_field(o, "title");
  c.status = parse_clip_status(string_field(o, "status"));
  c.audio_url = string_field(o, "audio_url");
  c.image_url = string_field(o, "image_url");
  c.error_message = string_field(o, "error_message");
  if (auto* d = o.if_contains("duration")) {
    if (d->is_number()) {
      c.duration = d->to_number<double>();
    } else if (d->is_string()) {
      try {
        c.duration = std::stod(std::string(d->get_string()));
      } catch (...) {
      }
    }
  }
  if (auto* m = o.if_contains("metadata"); m && m->is_object()) {
    if (auto* d = m->get_object().if_contains("duration"); d && d->is_number() && !c.duration)
      c.duration = d->to_number<double>();
  }
  c.raw_json = json::serialize(v);
  return c;
}

Result<std::vector<Clip>> parse_clip_array(std::string_view body) {
  json::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec) return protocol_error("answer is not JSON: " + ec.message());
  const json::array* arr = v.if_array();
  // Some deployments wrap the clips: {"clips": [...]} or {"data": [...]}.
  if (!arr && v.is_object()) {
    for (auto key : {"clips", "data"})
      if (auto* inner = v.get_object().if_contains(key); inner && inner->is_array()) arr = &inner->get_array();
  }
  if (!arr) return protocol_error("answer is not a JSON array of clips");
  std::vector<Clip> clips;
  for (auto& e : *arr) {
    auto c = parse_clip_object(e);
    if (!c) return c.error();
    clips.push_back(std::move(c.value()));
  }
  return clips;
}

const char* const kChirpGoneNote =
    "AIML lists the chirp-* (Suno) models as no longer callable (deprecated since 2025); use one "
    "of its music models instead, e.g. `model: minimax/music-2.6`";

Answer aiml_classify(const Provider& p, int http_status, std::string_view body, bool credits_403,
                     std::string_view gone_note) {
  Answer a;
  a.code = http_status;
  if (http_status >= 200 && http_status < 300) return a;
  if (http_status == 0) return p.Provider::classify(http_status, body);
  std::string msg = p.error_message(http_status, body);
  std::string lower = msg;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (http_status == 404 || lower.find("deprecated") != std::string::npos) {
    a.kind = AnswerKind::gone;
    a.message = "the route or model no longer exists (HTTP " + std::to_string(http_status) + ": " + msg +
                "): " + std::string(gone_note);
    return a;
  }
  if (credits_403 && http_status == 403) {
    a.kind = AnswerKind::out_of_credits;
    a.message = msg;
    return a;
  }
  if (credits_403 && http_status >= 500 && http_status < 600 && http_status != 504) {
    a.kind = AnswerKind::retry;
    a.message = msg;
    return a;
  }
  return p.Provider::classify(http_status, body);
}

std::string json_error_message(int http_status, std::string_view body) {
  json::error_code ec;
  json::value v = json::parse(body, ec);
  if (!ec && v.is_object()) {
    for (auto key : {"message", "error", "detail"}) {
      auto* m = v.get_object().if_contains(key);
      if (m && m->is_string() && !m->get_string().empty()) return std::string(m->get_string());
      if (m && m->is_array()) return json::serialize(*m);
    }
  }
  std::string text(body.substr(0, 300));
  for (auto& ch : text)
    if (static_cast<unsigned char>(ch) < 0x20) ch = ' ';
  if (text.empty()) text = "HTTP " + std::to_string(http_status);
  return text;
}

Result<std::vector<Clip>> ClipArrayProvider::parse_submit(std::string_view body) const {
  auto clips = parse_clip_array(body);
  if (clips && clips->empty()) return protocol_error("generate answer lists no clips");
  return clips;
}

Result<std::vector<Clip>> ClipArrayProvider::parse_poll(std::string_view body) const { return parse_clip_array(body); }

std::string ClipArrayProvider::error_message(int http_status, std::string_view body) const {
  return json_error_message(http_status, body);
}

namespace {

constexpr const char* kAudioRoute = "/v2/generate/audio";

// Provider "aimlapi": the chirp-* models keep the Suno v1 routes; every other
// model goes to the music-models route, served by the "aimlapi-audio" flavor.
class AimlV1 final : public ClipArrayProvider {
 public:
  AimlV1(const ProviderInfo& info, const ProviderOptions&)
      : ClipArrayProvider(info), audio_(make_aiml_audio(*find_flavor_info("aimlapi-audio"))) {}

  const Provider& for_payload(const SubmitPayload& p) const override {
    if (p.route == kAudioRoute) return *audio_;
    return *this;
  }

  Answer classify(int http_status, std::string_view body) const override {
    return aiml_classify(*this, http_status, body, false, kChirpGoneNote);
  }

  SubmitPayload payload(const Song& song, std::string_view default_model) const override {
    std::string model = pick_model(song, default_model, info_);
    if (&flavor_for_model(info_, model) != &info_) return audio_->payload(song, model);
    SubmitPayload p;
    if (song.description) {
      // Description mode has no style field: the tags join the description.
      p.route = "/generate";
      p.body["prompt"] = style_prompt(song);
    } else {
      p.route = "/generate/custom-mode";
      p.body["prompt"] = song.lyrics.value_or("");
      p.body["tags"] = song.tags;
      p.body["title"] = song.title;
    }
    p.body["make_instrumental"] = song.make_instrumental;
    if (!model.empty()) p.body["model"] = model;
    return p;
  }

  ApiRequest submit_request(const SubmitPayload& payload, bool wait_audio) const override {
    if (payload.route == kAudioRoute) return audio_->submit_request(payload, wait_audio);
    json::object body = payload.body;
    body["wait_audio"] = wait_audio;
    return ApiRequest{"POST", payload.route, json::serialize(body)};
  }

  ApiRequest poll_request(std::span<const std::string> ids) const override {
    std::string target = "/?";
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (i) target += '&';
      // ids[n]=... with brackets percent-encoded; ids are checked to be [A-Za-z0-9_-].
      target += "ids%5B" + std::to_string(i) + "%5D=" + ids[i];
    }
    return ApiRequest{"GET", target, {}};
  }

 private:
  std::unique_ptr<Provider> audio_;
};

}  // namespace

std::unique_ptr<Provider> make_aimlapi_v1(const ProviderInfo& info, const ProviderOptions& options) {
  return std::make_unique<AimlV1>(info, options);
}

}  // namespace setlist
