// Settings: parsers, checks, and layering built-in < manifest < env < flags.
#include <gtest/gtest.h>

#include "setlist/manifest.hpp"
#include "setlist/provider.hpp"
#include "setlist/settings.hpp"

namespace setlist {
namespace {

using namespace std::chrono_literals;

EnvLookup fake_env(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(ParseDuration, AcceptsUnitsAndCombinations) {
  EXPECT_EQ(parse_duration("250ms"), Millis(250));
  EXPECT_EQ(parse_duration("2s"), Millis(2000));
  EXPECT_EQ(parse_duration("1.5s"), Millis(1500));
  EXPECT_EQ(parse_duration("15m"), Millis(15 * 60000));
  EXPECT_EQ(parse_duration("15min"), Millis(15 * 60000));
  EXPECT_EQ(parse_duration("1h"), Millis(3600000));
  EXPECT_EQ(parse_duration("1m30s"), Millis(90000));
  EXPECT_EQ(parse_duration(" 2S "), Millis(2000));
  EXPECT_EQ(parse_duration("0s"), Millis(0));
}

TEST(ParseDuration, RejectsBareNumbersAndJunk) {
  EXPECT_FALSE(parse_duration(""));
  EXPECT_FALSE(parse_duration("2"));
  EXPECT_FALSE(parse_duration("s"));
  EXPECT_FALSE(parse_duration("-1s"));
  EXPECT_FALSE(parse_duration("2 weeks"));
  EXPECT_FALSE(parse_duration("1.2.3s"));
  EXPECT_FALSE(parse_duration("99999h"));
}

TEST(ParseSize, BytesOrBinaryUnits) {
  EXPECT_EQ(parse_size("512MiB"), 512ull << 20);
  EXPECT_EQ(parse_size(" 64 kib "), 64ull << 10);
  EXPECT_EQ(parse_size("1GiB"), 1ull << 30);
  EXPECT_EQ(parse_size("1_000_000"), 1000000u);
  EXPECT_EQ(parse_size("100B"), 100u);
  EXPECT_FALSE(parse_size("1MB"));  // MB or MiB? Say which
  EXPECT_FALSE(parse_size("-1KiB"));
  EXPECT_FALSE(parse_size("MiB"));
  EXPECT_FALSE(parse_size("99999999999999GiB"));
  EXPECT_EQ(check_setting("max_download_size", "100"),
            "invalid size \"100\" (expected at least 1KiB: 512MiB, 64KiB, 1GiB)");
}

TEST(ParseRate, AcceptsPerSecondMinuteHour) {
  EXPECT_DOUBLE_EQ(*parse_rate("10/s"), 10.0);
  EXPECT_DOUBLE_EQ(*parse_rate("600/min"), 10.0);
  EXPECT_DOUBLE_EQ(*parse_rate("3600/h"), 1.0);
  EXPECT_DOUBLE_EQ(*parse_rate("2"), 2.0);
  EXPECT_DOUBLE_EQ(*parse_rate("0.5"), 0.5);
  EXPECT_DOUBLE_EQ(*parse_rate("30 / minute"), 0.5);
  EXPECT_FALSE(parse_rate("fast"));
  EXPECT_FALSE(parse_rate("10/day"));
  EXPECT_FALSE(parse_rate("-1/s"));
  EXPECT_FALSE(parse_rate(""));
}

TEST(Settings, NamesAndEnvironmentNames) {
  const auto& names = setting_names();
  EXPECT_EQ(names.size(), 31u);  // 25 + the five flag_* thresholds and reject_bad_takes (#19)
  EXPECT_NE(std::find(names.begin(), names.end(), "callback_url"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "submit_rate"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "poll_burst"), names.end());
  EXPECT_EQ(setting_env_name("submit_rate"), "SETLIST_SUBMIT_RATE");
}

TEST(CheckSetting, MessagesForBadValues) {
  EXPECT_EQ(check_setting("provider", "aimlapi"), std::nullopt);
  EXPECT_EQ(check_setting("provider", "openai"),
            "unknown provider \"openai\" (one of: aimlapi, aimlapi-v2, suno-api, sunoapi)");
  EXPECT_EQ(check_setting("submit_rate", "fast"),
            "invalid rate \"fast\" (expected a positive rate such as 2, 10/s, 600/min, 3600/h)");
  EXPECT_EQ(check_setting("submit_rate", "0/s"),
            "invalid rate \"0/s\" (expected a positive rate such as 2, 10/s, 600/min, 3600/h)");
  EXPECT_EQ(check_setting("regenerate_on_error", "2"), std::nullopt);
  EXPECT_EQ(check_setting("regenerate_on_error", "-1"),
            "invalid value \"-1\" (expected a whole number, 0 or more)");
  EXPECT_EQ(check_setting("poll_interval", "2"),
            "invalid duration \"2\" (expected a number with a unit: 250ms, 2s, 15m, 1h)");
  EXPECT_EQ(check_setting("poll_interval", "0s"), "invalid duration \"0s\" (must be more than 0)");
  EXPECT_EQ(check_setting("max_in_flight", "0"),
            "invalid value \"0\" (expected a whole number >= 1)");
  EXPECT_EQ(check_setting("submit_burst", "0.5"), "invalid value \"0.5\" (expected a number >= 1)");
  EXPECT_EQ(check_setting("poll_batch", "x"),
            "invalid value \"x\" (expected a whole number, 0 for the provider's default)");
  EXPECT_EQ(check_setting("budget_tokens", "lots"),
            "invalid value \"lots\" (expected a whole number of tokens, or none)");
  EXPECT_EQ(check_setting("budget_tokens", "1_000_000"), std::nullopt);
  EXPECT_EQ(check_setting("budget_tokens", "none"), std::nullopt);
  EXPECT_EQ(check_setting("cost_per_request", "-5"),
            "invalid value \"-5\" (expected a whole number of tokens)");
  EXPECT_EQ(check_setting("base_url", "ftp://x"),
            "invalid URL \"ftp://x\" (expected http://HOST[:PORT][/PATH] or https://...)");
  EXPECT_EQ(check_setting("base_url", "http://api.example.test:8080/api"), std::nullopt);
  EXPECT_EQ(check_setting("model", "chirp-v3-5|chirp-v3-0"),
            "invalid model \"chirp-v3-5|chirp-v3-0\": pick one model, e.g. \"chirp-v3-5\"");
  EXPECT_EQ(check_setting("output_template", ""), "empty value");
  EXPECT_EQ(check_setting("submit_rat", "2"),
            "unknown setting \"submit_rat\" (did you mean \"submit_rate\"?)");
  EXPECT_EQ(check_setting("colour", "2"), "unknown setting \"colour\"");
}

TEST(ResolveSettings, BuiltInDefaults) {
  std::vector<std::string> errors;
  auto r = resolve_settings(nullptr, fake_env({}), {}, errors);
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(r.values.provider, "aimlapi");
  EXPECT_EQ(r.values.cost_per_request, 200000);
  // The default model minimax/music-2.6 brings its poll timing.
  EXPECT_EQ(r.values.poll_interval, 10s);
  EXPECT_EQ(r.origin["poll_interval"].detail, "provider aimlapi's default for minimax/music-2.6");
  EXPECT_EQ(r.values.callback_url, "https://example.invalid/setlist-callback");
  EXPECT_FALSE(r.values.budget_tokens);
  EXPECT_EQ(r.origin.size(), setting_names().size());
  EXPECT_EQ(r.origin["submit_rate"].source, SettingSource::builtin);
  EXPECT_EQ(r.origin["submit_rate"].detail, "");
}

TEST(ResolveSettings, LayersManifestThenEnvironmentThenFlags) {
  Manifest m;
  m.path = "album.yaml";
  m.settings["submit_rate"] = {"600/min", {7, 16}};
  m.settings["poll_interval"] = {"2s", {8, 18}};
  m.settings["budget_tokens"] = {"1000000", {9, 18}};
  m.settings["model"] = {"chirp-v3-0", {10, 10}};
  auto env = fake_env({{"SETLIST_POLL_INTERVAL", "3s"},
                       {"SETLIST_MAX_IN_FLIGHT", "4"},
                       {"SETLIST_COST_PER_REQUEST", ""}});
  std::map<std::string, std::string> flags = {{"max_in_flight", "2"}, {"budget_tokens", "none"}};
  std::vector<std::string> errors;
  auto r = resolve_settings(&m, env, flags, errors);
  EXPECT_TRUE(errors.empty()) << ::testing::PrintToString(errors);

  EXPECT_DOUBLE_EQ(r.values.submit_rate, 10.0);
  EXPECT_EQ(r.origin["submit_rate"].source, SettingSource::manifest);
  EXPECT_EQ(r.origin["submit_rate"].detail, "album.yaml:7:16");

  EXPECT_EQ(r.values.poll_interval, 3s);
  EXPECT_EQ(r.origin["poll_interval"].source, SettingSource::environment);
  EXPECT_EQ(r.origin["poll_interval"].detail, "SETLIST_POLL_INTERVAL");

  EXPECT_EQ(r.values.max_in_flight, 2);
  EXPECT_EQ(r.origin["max_in_flight"].source, SettingSource::flag);
  EXPECT_EQ(r.origin["max_in_flight"].detail, "--max-in-flight");

  EXPECT_FALSE(r.values.budget_tokens);  // the flag unset the manifest's budget
  EXPECT_EQ(r.origin["budget_tokens"].source, SettingSource::flag);

  EXPECT_EQ(r.values.model, "chirp-v3-0");
  EXPECT_EQ(r.values.cost_per_request, 200000);  // an empty variable counts as unset
  EXPECT_EQ(r.origin["cost_per_request"].source, SettingSource::builtin);
}

TEST(ResolveSettings, BadValuesAreReportedAndTheLowerLayerKept) {
  Manifest m;
  m.path = "album.yaml";
  m.settings["submit_rate"] = {"5/s", {3, 16}};
  auto env = fake_env({{"SETLIST_SUBMIT_RATE", "fast"}});
  std::map<std::string, std::string> flags = {
      {"poll_intervall", "1s"}, {"poll_batch", "7"}, {"model", "chirp-v9"}};
  std::vector<std::string> errors;
  auto r = resolve_settings(&m, env, flags, errors);
  EXPECT_DOUBLE_EQ(r.values.submit_rate, 5.0);
  EXPECT_EQ(r.origin["submit_rate"].detail, "album.yaml:3:16");
  EXPECT_EQ(errors,
            (std::vector<std::string>{
                "SETLIST_SUBMIT_RATE: invalid rate \"fast\" (expected a positive rate such as 2, "
                "10/s, 600/min, 3600/h)",
                "--poll-intervall: unknown setting \"poll_intervall\" (did you mean "
                "\"poll_interval\"?)",
                "--model: model \"chirp-v9\" is not a model of provider aimlapi (one of: "
                "minimax/music-2.6, minimax/music-2.0, minimax/music-1.5, elevenlabs/eleven_music, "
                "google/lyria2, stable-audio, chirp-v3-5, chirp-v3-0)",
            }));
}

TEST(ResolveSettings, CrossChecks) {
  std::vector<std::string> errors;
  auto r = resolve_settings(nullptr, fake_env({{"SETLIST_PROVIDER", "aimlapi-v2"}}),
                            {{"poll_batch", "10"}, {"poll_interval", "20s"}, {"retry_base", "1m"}},
                            errors);
  EXPECT_EQ(r.values.provider, "aimlapi-v2");
  EXPECT_EQ(errors, (std::vector<std::string>{
                        "--poll-batch: poll_batch 10 is more than provider aimlapi-v2 accepts "
                        "(at most 6)",
                        "built-in: poll_interval_max (10s) is less than poll_interval (20s)",
                        "built-in: retry_cap (30s) is less than retry_base (1m)",
                    }));
}

TEST(SettingValueText, FormatsEveryKind) {
  Settings s;
  s.budget_tokens = 1000;
  EXPECT_EQ(setting_value_text(s, "provider"), "aimlapi");
  EXPECT_EQ(setting_value_text(s, "submit_rate"), "2/s");
  EXPECT_EQ(setting_value_text(s, "poll_interval"), "1s");
  EXPECT_EQ(setting_value_text(s, "stall_timeout"), "15m");
  EXPECT_EQ(setting_value_text(s, "retry_base"), "500ms");
  EXPECT_EQ(setting_value_text(s, "budget_tokens"), "1000");
  EXPECT_EQ(setting_value_text(s, "cost_per_request"), "200000");
  EXPECT_EQ(setting_value_text(s, "max_in_flight"), "32");
  EXPECT_EQ(setting_value_text(s, "max_download_size"), "512MiB");
  EXPECT_EQ(setting_value_text(s, "nope"), "");
  s.budget_tokens.reset();
  EXPECT_EQ(setting_value_text(s, "budget_tokens"), "none");
  // Every value's text parses back to the same value.
  for (auto name : setting_names()) {
    auto text = setting_value_text(s, name);
    if (name == "base_url" || name == "model") continue;  // empty: provider default
    EXPECT_EQ(check_setting(name, text), std::nullopt) << name << "=" << text;
  }
}

TEST(ProviderInfo, FlavorsAsData) {
  ASSERT_EQ(provider_infos().size(), 4u);
  const ProviderInfo* aiml = find_provider_info("aimlapi");
  ASSERT_TRUE(aiml);
  EXPECT_EQ(aiml->default_base_url, "https://api.aimlapi.com");
  EXPECT_EQ(aiml->key_env, "AIML_API_KEY");
  EXPECT_TRUE(aiml->key_required);
  EXPECT_EQ(aiml->default_model, "minimax/music-2.6");
  EXPECT_EQ(aiml->poll_batch, 10u);
  ASSERT_TRUE(aiml->find_model("chirp-v3-0"));
  EXPECT_EQ(aiml->find_model("chirp-v3-5")->title_max, 80u);
  EXPECT_EQ(aiml->find_model("chirp-v3-5")->tags_max, 120u);
  EXPECT_EQ(aiml->find_model("chirp-v3-5")->lyrics_max, 3000u);
  EXPECT_FALSE(aiml->find_model("chirp-v3-5|chirp-v3-0"));
  EXPECT_FALSE(aiml->supports_negative_tags);

  const ProviderInfo* v2 = find_provider_info("aimlapi-v2");
  ASSERT_TRUE(v2);
  EXPECT_EQ(v2->default_base_url, "https://api.aimlapi.com");
  EXPECT_EQ(v2->max_poll_batch, 6u);
  EXPECT_LE(v2->poll_batch, 6u);

  const ProviderInfo* suno = find_provider_info("suno-api");
  ASSERT_TRUE(suno);
  EXPECT_EQ(suno->default_base_url, "http://127.0.0.1:3000");  // suno-api's own default PORT, not a test server
  EXPECT_EQ(suno->key_env, "SUNO_API_KEY");
  EXPECT_FALSE(suno->key_required);
  EXPECT_TRUE(suno->supports_negative_tags);

  const ProviderInfo* sa = find_provider_info("sunoapi");
  ASSERT_TRUE(sa);
  EXPECT_EQ(sa->default_base_url, "https://api.sunoapi.org");
  EXPECT_EQ(sa->key_env, "SUNOAPI_KEY");
  EXPECT_TRUE(sa->key_required);
  EXPECT_TRUE(sa->body_codes);
  EXPECT_EQ(sa->poll_style, PollStyle::one_id);
  EXPECT_EQ(sa->clips_per_request, 2);
  EXPECT_EQ(sa->file_ttl, std::chrono::hours(24 * 14));
  EXPECT_EQ(sa->find_model("V4")->lyrics_max, 3000u);
  EXPECT_EQ(sa->find_model("V4")->tags_max, 200u);
  EXPECT_EQ(sa->find_model("V5")->lyrics_max, 5000u);
  EXPECT_EQ(sa->find_model("V5")->tags_max, 1000u);
  EXPECT_EQ(sa->find_model("V4_5")->description_max, 500u);

  // The AIML music models belong to "aimlapi" and are served by an internal flavor.
  EXPECT_FALSE(find_provider_info("aimlapi-audio"));
  const ProviderInfo* audio = find_flavor_info("aimlapi-audio");
  ASSERT_TRUE(audio);
  EXPECT_EQ(audio->poll_style, PollStyle::one_id);
  EXPECT_EQ(audio->clips_per_request, 1);
  EXPECT_EQ(&flavor_for_model(*aiml, "google/lyria2"), audio);
  EXPECT_EQ(&flavor_for_model(*aiml, ""), audio);  // the default model
  EXPECT_EQ(&flavor_for_model(*aiml, "chirp-v3-5"), aiml);
  EXPECT_EQ(&flavor_for_model(*sa, "V5"), sa);
  EXPECT_EQ(v2->poll_style, PollStyle::long_poll);
  EXPECT_EQ(aiml->poll_style, PollStyle::batch);
  EXPECT_EQ(suno->poll_style, PollStyle::batch);
  // Costs are data: the chirp price of the docs, an estimate for the rest.
  EXPECT_EQ(aiml->find_model("chirp-v3-5")->cost_estimate, 200000);
  for (const auto& m : provider_infos()) {
    for (const auto& model : m.models) EXPECT_GT(model.cost_estimate, 0) << m.name << " " << model.name;
  }
  // Only AIML's chirp-* models are marked as no longer callable.
  EXPECT_FALSE(aiml->find_model("chirp-v3-0")->deprecated.empty());
  EXPECT_TRUE(suno->find_model("chirp-v3-0")->deprecated.empty());
  EXPECT_TRUE(aiml->find_model("minimax/music-2.6")->deprecated.empty());

  EXPECT_FALSE(find_provider_info("nope"));
}

TEST(ResolveSettings, ProviderDefaultsApplyWhereNothingWasSet) {
  std::vector<std::string> errors;
  auto r = resolve_settings(nullptr, fake_env({{"SETLIST_PROVIDER", "sunoapi"}}), {{"submit_burst", "3"}},
                            errors);
  EXPECT_TRUE(errors.empty()) << ::testing::PrintToString(errors);
  // 20 requests per 10 s: burst 5 + 1.5/s * 10 s.
  EXPECT_DOUBLE_EQ(r.values.submit_rate, 1.5);
  EXPECT_EQ(r.origin["submit_rate"].source, SettingSource::builtin);
  EXPECT_EQ(r.origin["submit_rate"].detail, "provider sunoapi's default");
  EXPECT_DOUBLE_EQ(r.values.submit_burst, 3);  // the flag wins
  EXPECT_EQ(r.origin["submit_burst"].source, SettingSource::flag);
  EXPECT_EQ(r.values.poll_interval, 20s);
  EXPECT_EQ(r.values.poll_interval_max, 60s);

  // A chirp model of aimlapi keeps the built-in timing and the docs' price.
  errors.clear();
  auto chirp = resolve_settings(nullptr, fake_env({}), {{"model", "chirp-v3-5"}}, errors);
  EXPECT_TRUE(errors.empty()) << ::testing::PrintToString(errors);
  EXPECT_EQ(chirp.values.poll_interval, 1s);
  EXPECT_EQ(chirp.origin["poll_interval"].detail, "");

  // The songs decide: all chirp (the legacy route) keep the built-in timing,
  // all music models get theirs, a mix keeps the built-in values.
  auto with_models = [&](std::vector<std::string> models) {
    Manifest mf;
    mf.path = "album.yaml";
    for (auto& m : models) {
      Song s;
      s.model = m;
      mf.songs.push_back(s);
    }
    errors.clear();
    return resolve_settings(&mf, fake_env({}), {}, errors);
  };
  auto legacy = with_models({"chirp-v3-5", "chirp-v3-0"});
  EXPECT_EQ(legacy.values.poll_interval, 1s);
  auto music = with_models({"google/lyria2", "", "stable-audio"});
  EXPECT_EQ(music.values.poll_interval, 10s);
  EXPECT_EQ(music.origin["poll_interval"].detail, "provider aimlapi's default for aimlapi-audio");
  auto one = with_models({"google/lyria2"});
  EXPECT_EQ(one.origin["poll_interval"].detail, "provider aimlapi's default for google/lyria2");
  auto mixed = with_models({"chirp-v3-5", "google/lyria2"});
  EXPECT_EQ(mixed.values.poll_interval, 1s);
  EXPECT_EQ(mixed.origin["poll_interval"].detail, "");

  // A value set by the user is never replaced, and a provider default that
  // conflicts with it is blamed on the provider.
  errors.clear();
  Manifest m;
  m.path = "album.yaml";
  m.settings["provider"] = {"sunoapi", {3, 13}};
  m.settings["poll_interval"] = {"2m", {4, 18}};
  m.settings["cost_per_request"] = {"10", {5, 21}};
  auto mine = resolve_settings(&m, fake_env({}), {}, errors);
  EXPECT_EQ(mine.values.poll_interval, 2min);
  EXPECT_EQ(errors, (std::vector<std::string>{"provider sunoapi's default: poll_interval_max (1m) is less "
                                              "than poll_interval (2m)"}));
}

TEST(CostPerRequestFor, TheSongsModelUnlessTheUserSetAPrice) {
  std::vector<std::string> errors;
  auto dflt = resolve_settings(nullptr, fake_env({}), {}, errors);
  const ProviderInfo* aiml = find_provider_info("aimlapi");
  EXPECT_EQ(cost_per_request_for(dflt, aiml->find_model("chirp-v3-5")), 200000);
  EXPECT_EQ(cost_per_request_for(dflt, aiml->find_model("minimax/music-2.6")), 120000);
  EXPECT_EQ(cost_per_request_for(dflt, nullptr), 200000);  // unknown model: the built-in value
  const ProviderInfo* sa = find_provider_info("sunoapi");
  EXPECT_EQ(cost_per_request_for(dflt, sa->find_model("V5")), 12);
  auto set = resolve_settings(nullptr, fake_env({{"SETLIST_COST_PER_REQUEST", "157500"}}), {}, errors);
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(cost_per_request_for(set, aiml->find_model("minimax/music-2.6")), 157500);
}

TEST(EffectiveLoadOptions, FlagsWinOverTheEnvironment) {
  auto o = effective_load_options(fake_env({{"SETLIST_PROVIDER", "sunoapi"}, {"SETLIST_MODEL", "V5"}}),
                                  {{"provider", "aimlapi"}});
  EXPECT_EQ(o.provider, "aimlapi");
  EXPECT_EQ(o.provider_origin, "--provider");
  EXPECT_EQ(o.model, "V5");
  EXPECT_EQ(o.model_origin, "SETLIST_MODEL");
  auto none = effective_load_options(fake_env({{"SETLIST_PROVIDER", ""}}), {});
  EXPECT_EQ(none.provider, "");
  EXPECT_EQ(none.model, "");
}

TEST(ProviderOptionsFromSettings, CallbackUrl) {
  Settings s;
  EXPECT_EQ(provider_options(s).callback_url, "https://example.invalid/setlist-callback");
  s.callback_url = "https://hooks.example.test/cb";
  EXPECT_EQ(provider_options(s).callback_url, "https://hooks.example.test/cb");
  s.callback_url.clear();
  EXPECT_EQ(provider_options(s).callback_url, "https://example.invalid/setlist-callback");
}

}  // namespace
}  // namespace setlist
