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
  EXPECT_EQ(names.size(), 24u);
  EXPECT_NE(std::find(names.begin(), names.end(), "submit_rate"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "poll_burst"), names.end());
  EXPECT_EQ(setting_env_name("submit_rate"), "SETLIST_SUBMIT_RATE");
}

TEST(CheckSetting, MessagesForBadValues) {
  EXPECT_EQ(check_setting("provider", "aimlapi"), std::nullopt);
  EXPECT_EQ(check_setting("provider", "openai"),
            "unknown provider \"openai\" (one of: aimlapi, aimlapi-v2, suno-api)");
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
                "chirp-v3-5, chirp-v3-0)",
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
  ASSERT_EQ(provider_infos().size(), 3u);
  const ProviderInfo* aiml = find_provider_info("aimlapi");
  ASSERT_TRUE(aiml);
  EXPECT_EQ(aiml->default_base_url, "https://api.aimlapi.com");
  EXPECT_EQ(aiml->key_env, "AIML_API_KEY");
  EXPECT_TRUE(aiml->key_required);
  EXPECT_EQ(aiml->default_model, "chirp-v3-5");
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

  EXPECT_FALSE(find_provider_info("nope"));
}

}  // namespace
}  // namespace setlist
