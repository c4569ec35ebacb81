// What is known about each API flavor, as data (see docs/api.md).
#include "setlist/provider.hpp"

namespace setlist {

namespace {

std::vector<ModelLimits> chirp_models() {
  // The AIML docs give the same limits for both models.
  ModelLimits v35;
  v35.name = "chirp-v3-5";
  v35.title_max = 80;
  v35.tags_max = 120;
  v35.lyrics_max = 3000;
  v35.description_max = 400;
  ModelLimits v30 = v35;
  v30.name = "chirp-v3-0";
  return {v35, v30};
}

std::vector<ProviderInfo> make_infos() {
  std::vector<ProviderInfo> out;

  ProviderInfo aiml;
  aiml.name = "aimlapi";
  aiml.default_base_url = "https://api.aimlapi.com";
  aiml.key_env = "AIML_API_KEY";
  aiml.key_required = true;
  aiml.poll_batch = 10;
  aiml.max_poll_batch = 50;  // not documented: a guess, kept as data
  aiml.default_model = "chirp-v3-5";
  aiml.models = chirp_models();
  aiml.supports_negative_tags = false;
  aiml.supports_description = true;
  aiml.supports_wait_audio = true;
  out.push_back(aiml);

  ProviderInfo v2 = aiml;
  v2.name = "aimlapi-v2";
  v2.poll_batch = 6;
  v2.max_poll_batch = 6;           // "at most 6 ids" per clips request
  v2.supports_wait_audio = false;  // the GETs long-poll instead
  v2.long_poll = true;
  out.push_back(v2);

  ProviderInfo suno;
  suno.name = "suno-api";
  suno.default_base_url = "http://127.0.0.1:3000";
  suno.key_env = "SUNO_API_KEY";
  suno.key_required = false;
  suno.poll_batch = 10;
  suno.max_poll_batch = 50;
  suno.default_model = "chirp-v3-5";
  suno.models = chirp_models();
  suno.supports_negative_tags = true;
  suno.supports_description = true;
  suno.supports_wait_audio = true;
  out.push_back(suno);

  return out;
}

}  // namespace

const ModelLimits* ProviderInfo::find_model(std::string_view model_name) const {
  for (const auto& m : models) {
    if (m.name == model_name) return &m;
  }
  return nullptr;
}

const std::vector<ProviderInfo>& provider_infos() {
  static const std::vector<ProviderInfo> infos = make_infos();
  return infos;
}

const ProviderInfo* find_provider_info(std::string_view name) {
  for (const auto& p : provider_infos()) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

}  // namespace setlist
