// Each setting's help (flag --help, man page): unit, default and meaning,
// read from the settings table and the providers' own defaults.
#include <gtest/gtest.h>

#include "setlist/settings.hpp"

using namespace setlist;

TEST(SettingsHelp, EverySettingHasAUnitADefaultAndAMeaning) {
  for (auto name : setting_names()) {
    auto h = setting_help(name);
    EXPECT_FALSE(h.metavar.empty()) << name;
    EXPECT_FALSE(h.unit.empty()) << name;
    EXPECT_FALSE(h.meaning.empty()) << name;
    EXPECT_FALSE(h.default_text.empty()) << name;
  }
}

TEST(SettingsHelp, TheDefaultIsTheBuiltInValueInItsUnit) {
  EXPECT_EQ(setting_help("max_download_size").default_text, "512MiB");
  EXPECT_EQ(setting_help("request_timeout").default_text, "1m");
  EXPECT_EQ(setting_help("budget_tokens").default_text, "none");
  EXPECT_EQ(setting_help("max_in_flight").default_text, "32");
}

TEST(SettingsHelp, ProvidersWithTheirOwnDefaultAreNamed) {
  // The default model (an AIML music model) polls every 10 s; sunoapi every
  // 20 s; the legacy routes every second.
  EXPECT_EQ(setting_help("poll_interval").default_text, "10s (aimlapi-v2, suno-api: 1s; sunoapi: 20s)");
  EXPECT_EQ(setting_help("submit_rate").default_text, "2/s (sunoapi: 1.5/s)");
}

TEST(SettingsHelp, EmptyMeansTheProvidersOwnValue) {
  EXPECT_EQ(setting_help("model").default_text, "the provider's (aimlapi: minimax/music-2.6)");
  EXPECT_EQ(setting_help("base_url").default_text, "the provider's (aimlapi: https://api.aimlapi.com)");
}

TEST(SettingsHelp, TheFlagLineHasMeaningUnitDefaultAndVariable) {
  EXPECT_EQ(setting_help_line("max_download_size"),
            "a larger file is refused and nothing past the limit is written [bytes, or with KiB, MiB, GiB (at least "
            "1KiB); default 512MiB; env SETLIST_MAX_DOWNLOAD_SIZE]");
  EXPECT_EQ(setting_help("submit_rate").metavar, "RATE");
}

TEST(SettingsHelp, AnUnknownSettingHasNoHelp) {
  EXPECT_TRUE(setting_help("no_such_setting").meaning.empty());
}
