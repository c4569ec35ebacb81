// Flavor 3: AIML API, Suno v2 endpoints. Generate answers {"clip_ids": [...]};
// the clips GET long-polls (held until every clip reached `status`, or 2 min)
// and takes at most 6 ids.
#include <boost/json.hpp>

#include "provider/flavors.hpp"
#include "setlist/manifest.hpp"

namespace setlist {

namespace json = boost::json;

namespace {

constexpr const char* kClip = "/v2/generate/audio/suno-ai/clip";
constexpr const char* kClips = "/v2/generate/audio/suno-ai/clips";

class AimlV2 final : public ClipArrayProvider {
 public:
  using ClipArrayProvider::ClipArrayProvider;

  Answer classify(int http_status, std::string_view body) const override {
    return aiml_classify(*this, http_status, body, false, kChirpGoneNote);
  }

  SubmitPayload payload(const Song& song, std::string_view) const override {
    SubmitPayload p;
    p.route = kClip;
    if (song.description) {
      p.body["gpt_description_prompt"] = style_prompt(song);  // no style field: tags join the description
      p.body["make_instrumental"] = song.make_instrumental;
    } else {
      p.body["prompt"] = song.lyrics.value_or("");
      p.body["tags"] = song.tags;
      p.body["title"] = song.title;
      if (song.make_instrumental) p.body["make_instrumental"] = true;
    }
    return p;
  }

  ApiRequest submit_request(const SubmitPayload& payload, bool) const override {
    return ApiRequest{"POST", payload.route, json::serialize(payload.body)};
  }

  // Answers {"clip_ids": [...]}, not clip objects.
  Result<std::vector<Clip>> parse_submit(std::string_view body) const override {
    json::error_code ec;
    auto v = json::parse(body, ec);
    if (ec) return protocol_error("answer is not JSON: " + ec.message());
    auto* o = v.if_object();
    auto* ids = o ? o->if_contains("clip_ids") : nullptr;
    if (!ids || !ids->is_array() || ids->get_array().empty())
      return protocol_error("generate answer has no \"clip_ids\" array");
    std::vector<Clip> clips;
    for (auto& id : ids->get_array()) {
      if (!id.is_string() || !is_valid_clip_id(id.get_string()))
        return protocol_error("generate answer has an unusable clip id");
      Clip c;
      c.id = std::string(id.get_string());
      c.status = ClipStatus::submitted;
      clips.push_back(std::move(c));
    }
    return clips;
  }

  ApiRequest poll_request(std::span<const std::string> ids) const override {
    std::string target = std::string(kClips) + "?";
    for (auto& id : ids) target += "clip_ids%5B%5D=" + id + "&";
    target += "status=complete";
    return ApiRequest{"GET", target, {}};
  }
};

}  // namespace

std::unique_ptr<Provider> make_aimlapi_v2(const ProviderInfo& info) { return std::make_unique<AimlV2>(info); }

}  // namespace setlist
