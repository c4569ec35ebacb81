// AIML music models (internal flavor "aimlapi-audio" of provider "aimlapi"):
// `POST /v2/generate/audio` answers {id, status}; `GET /v2/generate/audio?
// generation_id=ID` (one id per request) answers {id, status, audio_file,
// error, meta}. One clip per request. See docs/api.md.
#include <boost/json.hpp>

#include <cmath>

#include "provider/flavors.hpp"
#include "setlist/manifest.hpp"

namespace setlist {

namespace json = boost::json;

namespace {

constexpr const char* kRoute = "/v2/generate/audio";


Result<json::object> parse_object(std::string_view body) {
  json::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec) return protocol_error("answer is not JSON: " + ec.message());
  if (!v.is_object()) return protocol_error("answer is not a JSON object");
  return std::move(v.get_object());
}

// The generation id as a clip id (encoded when it has other characters).
Result<std::string> clip_id_of(const json::object& o) {
  auto* id = o.if_contains("id");
  if (!id || !id->is_string() || id->get_string().empty()) return protocol_error("answer has no string \"id\"");
  std::string enc = encode_server_id(id->get_string());
  if (enc.empty()) return protocol_error("generation id is too long");
  return enc;
}

class AimlAudio final : public Provider {
 public:
  explicit AimlAudio(const ProviderInfo& info) : info_(info) {}
  const ProviderInfo& info() const override { return info_; }

  SubmitPayload payload(const Song& song, std::string_view default_model) const override {
    SubmitPayload p;
    p.route = kRoute;
    std::string model = pick_model(song, default_model, info_);
    const ModelLimits* m = info_.find_model(model);
    p.body["model"] = model;
    std::string prompt = style_prompt(song);
    if (!prompt.empty() && (!m || m->style_prompt)) p.body["prompt"] = prompt;
    if (song.lyrics && (!m || m->lyrics_max > 0)) p.body["lyrics"] = *song.lyrics;
    if (!m) return p;
    if (m->has_instrumental && song.make_instrumental) p.body["is_instrumental"] = true;
    if (m->lyrics_optimizer && !song.lyrics && !song.make_instrumental) p.body["lyrics_optimizer"] = true;
    if (song.length && !m->length_field.empty()) {
      auto unit = m->length_unit.count() > 0 ? m->length_unit.count() : 1;
      auto ms = song.length->count();
      if (ms % unit == 0) {
        p.body[m->length_field] = static_cast<std::int64_t>(ms / unit);
      } else {
        p.body[m->length_field] = static_cast<double>(ms) / static_cast<double>(unit);
      }
    }
    if (song.seed && m->has_seed) p.body["seed"] = static_cast<std::int64_t>(*song.seed);
    if (!song.negative_tags.empty() && m->has_negative) p.body["negative_prompt"] = song.negative_tags;
    return p;
  }

  ApiRequest submit_request(const SubmitPayload& payload, bool) const override {
    return ApiRequest{"POST", payload.route, json::serialize(payload.body)};
  }

  // {"id": "...", "status": "queued"}
  Result<std::vector<Clip>> parse_submit(std::string_view body) const override {
    auto o = parse_object(body);
    if (!o) return o.error();
    auto id = clip_id_of(*o);
    if (!id) return id.error();
    Clip c;
    c.id = std::move(*id);
    c.status = ClipStatus::queued;
    if (auto st = parse_clip_status(string_at(*o, "status")); st == ClipStatus::error) c.status = st;
    c.raw_json = json::serialize(*o);
    return std::vector<Clip>{std::move(c)};
  }

  // One id per request: the first (and only) id of the submission.
  ApiRequest poll_request(std::span<const std::string> ids) const override {
    std::string gen = ids.empty() ? std::string() : decode_server_id(ids.front()).value_or(ids.front());
    return ApiRequest{"GET", std::string(kRoute) + "?generation_id=" + query_escape(gen), {}};
  }

  Result<std::vector<Clip>> parse_poll(std::string_view body) const override {
    auto o = parse_object(body);
    if (!o) return o.error();
    auto id = clip_id_of(*o);
    if (!id) return id.error();
    Clip c;
    c.id = std::move(*id);
    std::string status = string_at(*o, "status");
    std::string url;
    if (auto* file = object_at(*o, "audio_file")) url = string_at(*file, "url");
    if (status == "queued") {
      c.status = ClipStatus::queued;
    } else if (status == "generating") {
      c.status = ClipStatus::streaming;  // in progress; there is no partial audio here
    } else if (status == "completed" || status == "complete") {
      // Only a finished file counts; without a URL yet, keep polling.
      c.status = url.empty() ? ClipStatus::streaming : ClipStatus::complete;
      if (!url.empty()) c.audio_url = url;
    } else if (status == "error" || status == "failed") {
      c.status = ClipStatus::error;
      if (auto* err = object_at(*o, "error")) {
        c.error_message = string_at(*err, "message");
        if (c.error_message.empty()) c.error_message = string_at(*err, "name");
      } else {
        c.error_message = string_at(*o, "error");
      }
      if (c.error_message.empty()) c.error_message = "the generation failed (no reason given)";
    } else {
      c.status = ClipStatus::unknown;
    }
    if (auto* meta = object_at(*o, "meta")) {
      if (auto* usage = object_at(*meta, "usage")) {
        if (auto* cu = usage->if_contains("credits_used"); cu && cu->is_number()) {
          double v = cu->to_number<double>();
          if (std::isfinite(v) && v >= 0 && v < 9.0e18) c.credits_used = static_cast<long long>(std::llround(v));
        }
      }
    }
    c.raw_json = json::serialize(*o);
    return std::vector<Clip>{std::move(c)};
  }

  std::string error_message(int http_status, std::string_view body) const override {
    return json_error_message(http_status, body);
  }

  Answer classify(int http_status, std::string_view body) const override {
    return aiml_classify(*this, http_status, body, true,
                         "check the model name against AIML's model list (setlist validate lists the known ones)");
  }

 private:
  const ProviderInfo& info_;
};

}  // namespace

std::unique_ptr<Provider> make_aiml_audio(const ProviderInfo& info) { return std::make_unique<AimlAudio>(info); }

}  // namespace setlist
