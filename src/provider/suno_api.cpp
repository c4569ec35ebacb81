// Flavor 2: the self-hosted suno-api server (gcui-art and forks). Same clip
// object as flavor 1; comma-separated ids; errors as {"error": "..."}.
#include <boost/json.hpp>

#include "provider/flavors.hpp"
#include "setlist/manifest.hpp"

namespace setlist {

namespace json = boost::json;

namespace {

class SunoApi final : public ClipArrayProvider {
 public:
  using ClipArrayProvider::ClipArrayProvider;

  SubmitPayload payload(const Song& song, std::string_view default_model) const override {
    SubmitPayload p;
    if (song.description) {
      p.route = "/api/generate";
      p.body["prompt"] = style_prompt(song);  // no style field: tags join the description
    } else {
      p.route = "/api/custom_generate";
      p.body["prompt"] = song.lyrics.value_or("");
      p.body["tags"] = song.tags;
      p.body["title"] = song.title;
      if (!song.negative_tags.empty()) p.body["negative_tags"] = song.negative_tags;
    }
    p.body["make_instrumental"] = song.make_instrumental;
    p.body["model"] = pick_model(song, default_model, info_);
    return p;
  }

  ApiRequest submit_request(const SubmitPayload& payload, bool wait_audio) const override {
    json::object body = payload.body;
    body["wait_audio"] = wait_audio;
    return ApiRequest{"POST", payload.route, json::serialize(body)};
  }

  // Never without ids: the server would answer with the whole library.
  ApiRequest poll_request(std::span<const std::string> ids) const override {
    std::string target = "/api/get?ids=";
    for (std::size_t i = 0; i < ids.size(); ++i) target += (i ? "," : "") + ids[i];
    return ApiRequest{"GET", target, {}};
  }
};

}  // namespace

std::unique_ptr<Provider> make_suno_api(const ProviderInfo& info) { return std::make_unique<SunoApi>(info); }

}  // namespace setlist
