// What is known about each API flavor, as data (see docs/api.md). Field
// rules, limits and costs of every model live here, not in code branches:
// the manifest loader and the flavors read them.
#include "setlist/provider.hpp"

namespace setlist {

namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kChirpDeprecated =
    "AIML lists the chirp-* (Suno) models as no longer callable (deprecated since 2025; their "
    "pages were removed in Dec 2025)";

// Suno models behind AIML and suno-api. The AIML docs give the same limits
// for both; 200000 tokens per request is the custom-mode page's price (another
// page says 157500: the setting cost_per_request overrides it).
std::vector<ModelLimits> chirp_models(bool negative_tags, const std::string& deprecated) {
  ModelLimits v35;
  v35.name = "chirp-v3-5";
  v35.cost_estimate = 200000;
  v35.title_max = 80;
  v35.tags_max = 120;
  v35.lyrics_max = 3000;
  v35.description_max = 400;
  v35.has_negative = negative_tags;
  v35.deprecated = deprecated;
  ModelLimits v30 = v35;
  v30.name = "chirp-v3-0";
  return {v35, v30};
}

// AIML music models, `POST /v2/generate/audio`. No price per model is
// published: 120000 is the credits_used of the API schema's own example,
// used for every model until real numbers are known.
ModelLimits aiml_music_model(std::string name) {
  ModelLimits m;
  m.name = std::move(name);
  m.flavor = "aimlapi-audio";
  m.cost_estimate = 120000;
  m.title_max = 0;  // no title field: the title only names the files
  m.tags_max = 0;   // tags and description go into `prompt`
  m.description_max = 0;
  m.style_prompt = true;
  m.needs_text = false;
  m.has_instrumental = false;
  m.lyrics_max = 0;
  return m;
}

std::vector<ModelLimits> aiml_music_models() {
  std::vector<ModelLimits> out;

  ModelLimits mm26 = aiml_music_model("minimax/music-2.6");  // only `model` is required
  mm26.prompt_max = 2000;
  mm26.lyrics_max = 3000;
  mm26.has_instrumental = true;  // is_instrumental
  mm26.lyrics_optimizer = true;
  out.push_back(mm26);

  ModelLimits mm20 = aiml_music_model("minimax/music-2.0");
  mm20.prompt_min = 10;
  mm20.prompt_max = 2000;
  mm20.prompt_required = true;
  mm20.lyrics_min = 10;
  mm20.lyrics_max = 3000;
  mm20.lyrics_required = true;
  out.push_back(mm20);

  ModelLimits mm15 = mm20;
  mm15.name = "minimax/music-1.5";
  mm15.prompt_max = 300;
  out.push_back(mm15);

  ModelLimits eleven = aiml_music_model("elevenlabs/eleven_music");  // no lyrics field
  eleven.prompt_max = 2000;
  eleven.prompt_required = true;
  eleven.length_field = "music_length_ms";
  eleven.length_unit = milliseconds(1);
  eleven.length_min = seconds(10);
  eleven.length_max = seconds(300);
  out.push_back(eleven);

  ModelLimits lyria = aiml_music_model("google/lyria2");  // instrumental only
  lyria.prompt_required = true;
  lyria.instrumental_only = true;
  lyria.has_seed = true;
  lyria.has_negative = true;  // negative_prompt
  out.push_back(lyria);

  ModelLimits stable = aiml_music_model("stable-audio");  // short clips
  stable.prompt_required = true;
  stable.instrumental_only = true;
  stable.length_field = "seconds_total";
  stable.length_unit = seconds(1);
  stable.length_min = seconds(1);
  stable.length_max = seconds(47);
  out.push_back(stable);

  return out;
}

// sunoapi.org-style proxies. V4 has the smaller custom-mode limits. The
// price is a guess (the services sell credits and change their tables):
// set cost_per_request to what yours charges.
std::vector<ModelLimits> sunoapi_models() {
  ModelLimits v4;
  v4.name = "V4";
  v4.cost_estimate = 12;
  v4.cost_unit = "credits";
  v4.title_max = 80;
  v4.tags_max = 200;  // style
  v4.lyrics_max = 3000;
  v4.description_max = 500;
  v4.needs_text = false;
  v4.instrumental_from_style = true;
  v4.style_required = true;
  v4.has_negative = true;
  std::vector<ModelLimits> out = {v4};
  for (const char* name : {"V4_5", "V4_5PLUS", "V4_5ALL", "V5"}) {
    ModelLimits m = v4;
    m.name = name;
    m.tags_max = 1000;
    m.lyrics_max = 5000;
    out.push_back(m);
  }
  return out;
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
  // The chirp-* routes are deprecated: the default is a live music model,
  // served by the "aimlapi-audio" flavor.
  aiml.default_model = "minimax/music-2.6";
  aiml.models = aiml_music_models();
  for (auto& m : chirp_models(false, kChirpDeprecated)) aiml.models.push_back(m);
  aiml.supports_negative_tags = false;
  aiml.supports_description = true;
  aiml.supports_wait_audio = true;
  aiml.poll_style = PollStyle::batch;
  aiml.clips_per_request = 2;
  aiml.expected_generation = seconds(60);
  out.push_back(aiml);

  ProviderInfo v2;
  v2.name = "aimlapi-v2";
  v2.default_base_url = aiml.default_base_url;
  v2.key_env = aiml.key_env;
  v2.poll_batch = 6;
  v2.max_poll_batch = 6;           // "at most 6 ids" per clips request
  v2.default_model = "chirp-v3-5";
  v2.models = chirp_models(false, "");
  v2.supports_wait_audio = false;  // the GETs long-poll instead
  v2.long_poll = true;
  v2.poll_style = PollStyle::long_poll;
  v2.clips_per_request = 2;
  v2.expected_generation = seconds(60);
  out.push_back(v2);

  ProviderInfo suno;
  suno.name = "suno-api";
  suno.default_base_url = "http://127.0.0.1:3000";
  suno.key_env = "SUNO_API_KEY";
  suno.key_required = false;
  suno.poll_batch = 10;
  suno.max_poll_batch = 50;
  suno.default_model = "chirp-v3-5";
  suno.models = chirp_models(true, "");
  suno.supports_negative_tags = true;
  suno.supports_description = true;
  suno.supports_wait_audio = true;
  suno.poll_style = PollStyle::batch;
  suno.clips_per_request = 2;
  suno.expected_generation = seconds(60);
  out.push_back(suno);

  ProviderInfo sa;
  sa.name = "sunoapi";
  sa.default_base_url = "https://api.sunoapi.org";
  sa.key_env = "SUNOAPI_KEY";
  sa.key_required = true;
  sa.poll_batch = 2;  // the slots of one task: one GET per task
  sa.max_poll_batch = 2;
  // V4_5: the larger limits of the newer models (lyrics 5000, style 1000),
  // and offered by every service sharing this shape, where V4_5ALL and V5
  // are not yet everywhere. `model: V5` is one line away.
  sa.default_model = "V4_5";
  sa.models = sunoapi_models();
  sa.supports_negative_tags = true;
  sa.supports_description = true;
  sa.supports_wait_audio = false;
  sa.poll_style = PollStyle::one_id;
  sa.clips_per_request = 2;
  sa.expected_generation = seconds(120);
  sa.file_ttl = std::chrono::hours(24 * 14);  // "kept about 14-15 days"
  sa.body_codes = true;
  // Documented limit: 20 requests per 10 s per key. A token bucket lets
  // burst + rate * 10 s through in any 10 s: 5 + 1.5/s * 10 s = 20. The
  // docs suggest polling about every 30 s.
  sa.setting_defaults = {{"submit_rate", "1.5/s"},
                         {"submit_burst", "5"},
                         {"poll_interval", "20s"},
                         {"poll_interval_max", "1m"}};
  out.push_back(sa);

  return out;
}

// Flavors a provider delegates to; not selectable as `provider`.
std::vector<ProviderInfo> make_internal_infos() {
  ProviderInfo audio;
  audio.name = "aimlapi-audio";
  audio.default_base_url = "https://api.aimlapi.com";
  audio.key_env = "AIML_API_KEY";
  audio.key_required = true;
  audio.poll_batch = 1;  // one generation_id per GET
  audio.max_poll_batch = 1;
  audio.default_model = "minimax/music-2.6";
  audio.models = aiml_music_models();
  audio.supports_negative_tags = false;  // per model: google/lyria2 takes negative_prompt
  audio.supports_description = true;     // as part of the style prompt
  audio.supports_wait_audio = false;
  audio.poll_style = PollStyle::one_id;
  audio.clips_per_request = 1;
  audio.expected_generation = seconds(60);
  // The docs' examples poll every 10-15 s and give up after 600-1000 s.
  audio.setting_defaults = {{"poll_interval", "10s"}, {"poll_interval_max", "30s"}};
  return {audio};
}

}  // namespace

const ModelLimits* ProviderInfo::find_model(std::string_view model_name) const {
  for (const auto& m : models) {
    if (m.name == model_name) return &m;
  }
  return nullptr;
}

std::vector<std::string_view> ProviderInfo::model_names() const {
  std::vector<std::string_view> names;
  for (const auto& m : models) names.push_back(m.name);
  return names;
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

const ProviderInfo* find_flavor_info(std::string_view name) {
  if (auto* p = find_provider_info(name)) return p;
  static const std::vector<ProviderInfo> internal = make_internal_infos();
  for (const auto& p : internal) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

const ProviderInfo& flavor_for_model(const ProviderInfo& provider, std::string_view model) {
  const ModelLimits* m = provider.find_model(model.empty() ? std::string_view(provider.default_model) : model);
  if (m && !m->flavor.empty()) {
    if (const ProviderInfo* f = find_flavor_info(m->flavor)) return *f;
  }
  return provider;
}

}  // namespace setlist
