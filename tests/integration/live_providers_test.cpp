// The providers that take requests today, end to end against setlist-sim:
// AIML's six music models on /v2/generate/audio and a sunoapi.org-style
// Suno proxy. Every take is read back by independent tools (mutagen and
// ffprobe) in its real format, and the plan's cost equals what was billed.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "integration_support.hpp"

using namespace setlist::test;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

struct ModelCase {
  const char* model;
  bool lyrics;            // the model sings given lyrics
  const char* extra;      // more song keys
  const char* extension;  // what the simulator serves
};

std::string model_album(const ModelCase& m) {
  std::string y = "album:\n  title: Live Album\n  artist: Live Artist\n";
  y +=
      "defaults:\n  model: " + std::string(m.model) + "\n  tags: [dreamy indie pop, soft vocals]\n";
  y += m.extra;
  y += "songs:\n";
  for (int i = 1; i <= 2; ++i) {
    y += "  - title: Live " + std::to_string(i) + "\n";
    if (m.lyrics)
      y += "    lyrics: |\n      [Verse]\n      Line one of live song " + std::to_string(i) + "\n";
    else
      y += "    description: slow ambient piano over soft rain, take " + std::to_string(i) + "\n";
  }
  return y;
}

// The first line a command printed, or "" when it failed.
std::string first_line_of(const std::vector<std::string>& argv) {
  auto r = run(argv, {}, 30s);
  if (r.exit_code != 0) return "exit " + std::to_string(r.exit_code) + ": " + r.err;
  return r.out.substr(0, r.out.find('\n'));
}

std::string mutagen_title(const fs::path& f) {
  return first_line_of({"/usr/bin/python3", "-c",
                        "import sys, mutagen; f = mutagen.File(sys.argv[1]); t = f.tags; "
                        "print(t['TIT2'].text[0] if 'TIT2' in t else t['title'][0])",
                        f.string()});
}

std::string ffprobe_tag(const fs::path& f, const std::string& tag) {
  return first_line_of({"/usr/bin/ffprobe", "-v", "error", "-show_entries", "format_tags=" + tag,
                        "-of", "default=nw=1:nk=1", f.string()});
}

std::string ffprobe_format(const fs::path& f) {
  return first_line_of({"/usr/bin/ffprobe", "-v", "error", "-show_entries", "format=format_name",
                        "-of", "default=nw=1:nk=1", f.string()});
}

void PrintTo(const ModelCase& m, std::ostream* os) { *os << m.model; }

class AimlMusicModels : public testing::TestWithParam<ModelCase> {};

}  // namespace

TEST_P(AimlMusicModels, AlbumCompletesTaggedInItsRealFormatAndCostsWhatThePlanSaid) {
  const auto& m = GetParam();
  TempDir dir;
  write_file(dir / "album.yaml", model_album(m));
  Sim sim(dir.path(), fast_sim_args());
  auto out = dir / "out";
  auto validate = run_setlist({"validate", (dir / "album.yaml").string()});
  ASSERT_EQ(validate.exit_code, 0) << validate.err;
  auto plan = run_setlist({"plan", (dir / "album.yaml").string(), "-o", out.string()});
  ASSERT_EQ(plan.exit_code, 0) << plan.err;

  auto r = run_setlist(fast_run_args(sim, dir / "album.yaml", out));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto stats = sim.stats().as_object();
  EXPECT_EQ(stats.at("generate_requests").as_int64(),
            2);  // one clip per request, one take per song
  const auto billed = stats.at("tokens_charged").as_int64();
  EXPECT_NE(plan.out.find("total: 2 generate request(s), " + std::to_string(billed) + " tokens"),
            std::string::npos)
      << plan.out << "billed " << billed;

  for (auto& s : report_songs(out)) {
    EXPECT_EQ(s.at("status").as_string(), "complete");
    auto& clips = s.at("clips").as_array();
    ASSERT_EQ(clips.size(), 1u);
    auto path = out / std::string(clips[0].at("audio").at("path").as_string());
    EXPECT_EQ(path.extension().string(), m.extension) << path;
    const std::string title = std::string(s.at("title").as_string()) + " (A)";
    EXPECT_EQ(mutagen_title(path), title) << path;
    EXPECT_EQ(ffprobe_tag(path, "title"), title) << path;
    EXPECT_EQ(ffprobe_tag(path, "artist"), "Live Artist") << path;
    EXPECT_EQ(ffprobe_format(path), m.extension == std::string(".wav") ? "wav" : "mp3") << path;
    EXPECT_GT(clips[0].at("duration").as_double(), 0.0) << "a duration read from the audio itself";
  }
  EXPECT_EQ(run_setlist({"verify", out.string()}).exit_code, 0);
}

INSTANTIATE_TEST_SUITE_P(
    Live, AimlMusicModels,
    testing::Values(ModelCase{"minimax/music-2.6", true, "", ".mp3"},
                    ModelCase{"minimax/music-2.0", true, "", ".mp3"},
                    ModelCase{"minimax/music-1.5", true, "", ".mp3"},
                    ModelCase{"elevenlabs/eleven_music", false, "  length: 12s\n", ".mp3"},
                    ModelCase{"google/lyria2", false, "", ".wav"},
                    ModelCase{"stable-audio", false, "  length: 8s\n", ".wav"}),
    [](const testing::TestParamInfo<ModelCase>& i) {
      std::string n = i.param.model;
      for (auto& c : n)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      return n;
    });

namespace {
std::string suno_album(int n) {
  std::string y = "album:\n  title: Proxy Album\n  artist: Proxy Artist\n";
  y += "settings:\n  provider: sunoapi\n";
  y += "defaults:\n  tags: [indie pop, dreamy]\n";
  y += "songs:\n";
  for (int i = 1; i <= n; ++i)
    y += "  - title: Proxy " + std::to_string(i) +
         "\n    lyrics: |\n      [Verse]\n      Proxy line " + std::to_string(i) + "\n";
  return y;
}
}  // namespace

TEST(SunoApi, AlbumCompletesWithBodyCodesOnHttp200TwoTakesEachAndThePlannedCost) {
  TempDir dir;
  write_file(dir / "album.yaml", suno_album(3));
  // Rate limited with the flavor's own code (430 in the body, HTTP 200).
  Sim sim(dir.path(), fast_sim_args({"--flavor", "sunoapi", "--body-codes-http200", "--cost", "12",
                                     "--generate-rate", "3", "--generate-burst", "1"}));
  auto out = dir / "out";
  auto plan = run_setlist({"plan", (dir / "album.yaml").string(), "-o", out.string()},
                          {{"SUNOAPI_KEY", kTestKey}});
  ASSERT_EQ(plan.exit_code, 0) << plan.err;
  auto r = run_setlist(
      fast_run_args(sim, dir / "album.yaml", out, {"--submit-rate", "20/s", "--submit-burst", "3"}),
      {{"SUNOAPI_KEY", kTestKey}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto stats = sim.stats().as_object();
  EXPECT_GT(stats.at("rate_limited").as_int64(), 0) << "the scenario should have throttled";
  EXPECT_EQ(stats.at("duplicate_submissions").as_int64(), 0);
  EXPECT_EQ(stats.at("stream_url_downloads").as_int64(), 0) << "a partial stream was downloaded";
  const auto billed = stats.at("tokens_charged").as_int64();
  EXPECT_NE(plan.out.find("total: 3 generate request(s), " + std::to_string(billed) + " tokens"),
            std::string::npos)
      << plan.out;
  for (auto& s : report_songs(out)) {
    EXPECT_EQ(s.at("status").as_string(), "complete");
    auto& clips = s.at("clips").as_array();
    ASSERT_EQ(clips.size(), 2u);
    for (std::size_t i = 0; i < 2; ++i) {
      auto path = out / std::string(clips[i].at("audio").at("path").as_string());
      EXPECT_EQ(ffprobe_tag(path, "title"),
                std::string(s.at("title").as_string()) + (i ? " (B)" : " (A)"));
    }
  }
}

TEST(SunoApi, OutOfCreditsStopsCleanlyKeepingTheFinishedSongs) {
  TempDir dir;
  write_file(dir / "album.yaml", suno_album(5));
  // Credits for two requests; the third is answered with body code 429 (insufficient credits).
  Sim sim(dir.path(), fast_sim_args({"--flavor", "sunoapi", "--body-codes-http200", "--cost", "12",
                                     "--balance", "24"}));
  auto out = dir / "out";
  auto r = run_setlist(
      fast_run_args(sim, dir / "album.yaml", out, {"--submit-rate", "2/s", "--submit-burst", "1"}),
      {{"SUNOAPI_KEY", kTestKey}});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("out of credits"), std::string::npos) << r.err;
  auto st = statuses(out);
  int complete = 0, skipped = 0;
  for (auto& [t, s] : st) {
    complete += s == "complete";
    skipped += s == "skipped";
    EXPECT_NE(s, "uncertain") << t;
  }
  EXPECT_EQ(complete, 2) << r.err;
  EXPECT_EQ(skipped, 3) << r.err;
  auto stats = sim.stats().as_object();
  EXPECT_EQ(stats.at("tokens_charged").as_int64(), 24);
}

TEST(SunoApi, RejectedKeyNamesTheProvidersKeyVariable) {
  TempDir dir;
  write_file(dir / "album.yaml", suno_album(1));
  Sim sim(dir.path(), fast_sim_args({"--flavor", "sunoapi", "--accept-key-env", "SIM_KEYS"}),
          {{"SIM_KEYS", "the-right-key"}});
  auto out = dir / "out";
  auto r =
      run_setlist(fast_run_args(sim, dir / "album.yaml", out), {{"SUNOAPI_KEY", "a-wrong-key"}});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("SUNOAPI_KEY"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("AIML_API_KEY"), std::string::npos) << r.err;
}

TEST(AimlDeprecated, AChirpModelAnswered404StopsTheRunAtOnceWithTheReason) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(3));  // chirp-v3-5 on the legacy route
  Sim sim(dir.path(), fast_sim_args({"--deprecated-chirp"}));
  auto out = dir / "out";
  auto r = run_setlist(fast_run_args(sim, dir / "album.yaml", out));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("deprecated"), std::string::npos) << r.err;
  EXPECT_LE(sim.stats().as_object().at("generate_requests").as_int64(), 3)
      << "no retries of a gone model";
  for (auto& [t, s] : statuses(out)) EXPECT_EQ(s, "pending") << t << ": nothing was accepted";
}

// The manifest is checked against the provider the run will use, whichever
// layer chose it (here the environment), not only the manifest's own.
TEST(LiveValidation, ProviderFromTheEnvironmentDecidesTheManifestChecks) {
  TempDir dir;
  write_file(
      dir / "album.yaml",
      "album: {title: T, artist: A}\nsongs:\n  - title: Rain\n    lyrics: \"[Verse] words\"\n"
      "    model: google/lyria2\n");
  auto aiml = run_setlist({"validate", (dir / "album.yaml").string()});
  EXPECT_EQ(aiml.exit_code, 2) << "lyria2 sings no lyrics\n" << aiml.err;
  EXPECT_NE(aiml.err.find("album.yaml:4:13: error: songs[0].lyrics"), std::string::npos)
      << aiml.err;
  auto suno =
      run_setlist({"validate", (dir / "album.yaml").string()}, {{"SETLIST_PROVIDER", "sunoapi"}});
  EXPECT_EQ(suno.exit_code, 2) << suno.err;
  EXPECT_NE(suno.err.find("V5"), std::string::npos) << "sunoapi's models are listed\n" << suno.err;
}
