// The first hour of a new user (#17), end to end with the real binaries:
// description mode sends the tags and keeps the lyrics the API wrote; a
// renamed song's files, tags, report and playlist follow without a charge;
// a run that sends nothing needs no key; refusals come without a summary;
// the report keeps the album's cost across runs; `config` refuses what `run`
// would refuse.
#include <gtest/gtest.h>

#include <taglib/id3v2tag.h>
#include <taglib/mpegfile.h>
#include <taglib/unsynchronizedlyricsframe.h>

#include <boost/json.hpp>

#include "integration_support.hpp"

using namespace setlist::test;
namespace json = boost::json;

namespace {

const char* kUnset = "\x01unset";

struct Id3 {
  std::string title;
  std::string lyrics;
};

Id3 read_id3(const fs::path& mp3) {
  Id3 out;
  TagLib::MPEG::File f(mp3.c_str());
  auto* tag = f.ID3v2Tag();
  if (!tag) return out;
  auto& tit2 = tag->frameListMap()["TIT2"];
  if (!tit2.isEmpty()) out.title = tit2.front()->toString().to8Bit(true);
  auto& uslt = tag->frameListMap()["USLT"];
  if (!uslt.isEmpty())
    out.lyrics = dynamic_cast<TagLib::ID3v2::UnsynchronizedLyricsFrame*>(uslt.front())->text().to8Bit(true);
  return out;
}

std::string last_line(const std::string& text) {
  auto end = text.find_last_not_of('\n');
  if (end == std::string::npos) return {};
  auto start = text.rfind('\n', end);
  return text.substr(start == std::string::npos ? 0 : start + 1, end - (start == std::string::npos ? 0 : start + 1) + 1);
}

std::int64_t stat(Sim& sim, const char* name) { return sim.stats().as_object().at(name).as_int64(); }

// Checks each take of every song of a finished description-mode run: the
// lyrics the API wrote (in the clip JSON) are in the take's .txt, its USLT
// frame and report.json; report.html shows them. Returns the clip JSONs.
std::vector<json::object> expect_written_lyrics_saved(const fs::path& out) {
  std::vector<json::object> clip_jsons;
  auto songs = report_songs(out);
  EXPECT_FALSE(songs.empty());
  const std::string html = read_file(out / "report.html");
  std::set<std::string> texts;
  for (auto& sv : songs) {
    auto& s = sv.as_object();
    EXPECT_EQ(s.at("status").as_string(), "complete");
    EXPECT_EQ(s.at("lyrics_source").as_string(), "api") << s;
    EXPECT_TRUE(s.at("lyrics").is_null()) << "no manifest lyrics to save";
    for (auto& cv : s.at("clips").as_array()) {
      auto& c = cv.as_object();
      auto clip = read_json(out / std::string(c.at("clip_json").as_string())).as_object();
      clip_jsons.push_back(clip);
      std::string written;
      for (auto key : {"lyric", "prompt"})
        if (written.empty() && clip.contains(key)) written = std::string(clip.at(key).as_string());
      // Saved as given lyrics are: without the blank lines at the end.
      while (!written.empty() && (written.back() == '\n' || written.back() == ' ')) written.pop_back();
      EXPECT_FALSE(written.empty()) << "the simulator writes lyrics in description mode: " << clip;
      texts.insert(written);
      const auto audio = out / std::string(c.at("audio").at("path").as_string());
      EXPECT_FALSE(c.at("lyrics").is_null()) << c;
      if (c.at("lyrics").is_null()) continue;
      const auto txt = out / std::string(c.at("lyrics").at("path").as_string());
      auto expected_txt = audio;
      expected_txt.replace_extension(".txt");
      EXPECT_EQ(txt, expected_txt);
      EXPECT_EQ(read_file(txt), written + "\n");
      EXPECT_EQ(read_id3(audio).lyrics, written) << audio;
      EXPECT_NE(html.find("Lyrics of take " + std::string(c.at("take").as_string()) + " (written by the API)"),
                std::string::npos);
    }
  }
  EXPECT_GT(texts.size(), 1u) << "each take's own words (the simulator writes them per clip)";
  return clip_jsons;
}

}  // namespace

TEST(DescriptionMode, LegacyAimlSendsTheTagsInTheDescriptionAndKeepsTheWrittenLyrics) {
  TempDir dir;
  write_file(dir / "album.yaml",
             "album: {title: Trains, artist: T}\n"
             "defaults: {tags: [indie pop, dreamy]}\n"
             "songs:\n"
             "  - title: Night Train\n"
             "    model: chirp-v3-5\n"
             "    description: a song about a night train\n");
  Sim sim(dir.path(), fast_sim_args());
  auto out = dir / "out";
  auto r = run_setlist(fast_run_args(sim, dir / "album.yaml", out));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (auto& clip : expect_written_lyrics_saved(out))
    EXPECT_EQ(clip.at("gpt_description_prompt").as_string(), "a song about a night train, indie pop, dreamy")
        << "the description the server received";
}

TEST(DescriptionMode, SunoApiKeepsTheWrittenLyricsOfEachTake) {
  TempDir dir;
  write_file(dir / "album.yaml",
             "album: {title: Trams, artist: T}\n"
             "settings: {provider: sunoapi}\n"
             "songs:\n"
             "  - title: Depot\n"
             "    tags: city pop\n"
             "    description: an upbeat song about a tram depot\n");
  Sim sim(dir.path(), fast_sim_args({"--flavor", "sunoapi"}));
  auto out = dir / "out";
  auto r = run_setlist(fast_run_args(sim, dir / "album.yaml", out), {{"SUNOAPI_KEY", kTestKey}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto clips = expect_written_lyrics_saved(out);
  EXPECT_EQ(clips.size(), 2u);
}

// AIML's music models take no title: a new title is the same request, so
// the takes follow the manifest for free.
TEST(Rename, ANewTitleMovesTheFilesRewritesTheTagsAndSendsNothing) {
  TempDir dir;
  auto manifest = [&](const std::string& title) {
    write_file(dir / "album.yaml", "album: {title: Renames, artist: T}\nsongs:\n  - title: " + title +
                                       "\n    tags: synthwave\n    lyrics: |\n      [Verse]\n      Lights on the "
                                       "river\n  - title: Second Song\n    tags: folk\n    lyrics: |\n      [Verse]\n"
                                       "      Stay the same\n");
  };
  manifest("Old Name");
  Sim sim(dir.path(), fast_sim_args());
  auto out = dir / "out";
  auto first = run_setlist(fast_run_args(sim, dir / "album.yaml", out));
  ASSERT_EQ(first.exit_code, 0) << first.err;
  ASSERT_TRUE(fs::exists(out / "01 - Old Name (A).mp3"));
  ASSERT_TRUE(fs::exists(out / "01 - Old Name.txt"));
  const auto generated = stat(sim, "generate_requests");
  const auto polls = stat(sim, "get_requests");

  manifest("New Name");
  auto plan = run_setlist({"plan", (dir / "album.yaml").string(), "-o", out.string()});
  EXPECT_NE(plan.out.find("renamed (free)"), std::string::npos) << plan.out;
  EXPECT_NE(plan.out.find("total: 0 generate request(s)"), std::string::npos) << plan.out;
  // No key: a rename sends nothing, so it needs none.
  auto second = run_setlist(fast_run_args(sim, dir / "album.yaml", out), {{"AIML_API_KEY", kUnset}});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(stat(sim, "generate_requests"), generated);
  EXPECT_EQ(stat(sim, "get_requests"), polls);

  EXPECT_FALSE(fs::exists(out / "01 - Old Name (A).mp3"));
  EXPECT_FALSE(fs::exists(out / "01 - Old Name.txt"));
  ASSERT_TRUE(fs::exists(out / "01 - New Name (A).mp3"));
  EXPECT_EQ(read_file(out / "01 - New Name.txt"), "[Verse]\nLights on the river\n");
  auto tags = read_id3(out / "01 - New Name (A).mp3");
  EXPECT_EQ(tags.title, "New Name (A)");
  EXPECT_EQ(tags.lyrics, "[Verse]\nLights on the river");
  EXPECT_EQ(read_id3(out / "02 - Second Song (A).mp3").title, "Second Song (A)");

  auto songs = report_songs(out);
  ASSERT_EQ(songs.size(), 2u);
  EXPECT_EQ(songs[0].at("title").as_string(), "New Name");
  auto& audio = songs[0].at("clips").at(0).at("audio").as_object();
  EXPECT_EQ(audio.at("path").as_string(), "01 - New Name (A).mp3");
  EXPECT_EQ(audio.at("sha256").as_string(), sha256_file(out / "01 - New Name (A).mp3"));
  EXPECT_EQ(songs[0].at("lyrics").at("path").as_string(), "01 - New Name.txt");
  auto playlist = read_file(out / "album.m3u8");
  EXPECT_NE(playlist.find("01 - New Name (A).mp3"), std::string::npos) << playlist;
  EXPECT_EQ(playlist.find("Old Name"), std::string::npos) << playlist;
  EXPECT_EQ(read_file(out / "report.html").find("Old Name"), std::string::npos);
  auto verify = run_setlist({"verify", out.string()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;

  // Settled: the next run moves nothing and still sends nothing.
  auto third = run_setlist(fast_run_args(sim, dir / "album.yaml", out), {{"AIML_API_KEY", kUnset}});
  ASSERT_EQ(third.exit_code, 0) << third.err;
  EXPECT_EQ(third.err.find("renamed"), std::string::npos) << third.err;
  EXPECT_EQ(stat(sim, "generate_requests"), generated);
}

// Suno custom mode sends the title: a new title is a new request. The plan
// says so, and the old takes give way (kept under .setlist/superseded).
TEST(Rename, WhereTheTitleIsSentANewTitleIsAChangedSong) {
  TempDir dir;
  auto manifest = [&](const std::string& title) {
    write_file(dir / "album.yaml", "album: {title: Renames}\ndefaults: {model: chirp-v3-5, tags: pop}\nsongs:\n"
                                   "  - title: " + title + "\n    lyrics: |\n      [Verse]\n      Words\n");
  };
  manifest("Old Name");
  Sim sim(dir.path(), fast_sim_args());
  auto out = dir / "out";
  ASSERT_EQ(run_setlist(fast_run_args(sim, dir / "album.yaml", out)).exit_code, 0);
  manifest("New Name");
  auto plan = run_setlist({"plan", (dir / "album.yaml").string(), "-o", out.string()});
  EXPECT_NE(plan.out.find("changed"), std::string::npos) << plan.out;
  EXPECT_NE(plan.out.find("total: 1 generate request(s)"), std::string::npos) << plan.out;
  auto second = run_setlist(fast_run_args(sim, dir / "album.yaml", out));
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(stat(sim, "generate_requests"), 2);
  EXPECT_TRUE(fs::exists(out / "01 - New Name (A).mp3"));
  EXPECT_FALSE(fs::exists(out / "01 - Old Name (A).mp3")) << "the old take stays in OUT as if it were the album's";
  EXPECT_TRUE(fs::exists(out / ".setlist" / "superseded"));
}

TEST(Summary, ARerunThatSendsNothingNeedsNoKeyAndKeepsTheAlbumsCost) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(2));
  Sim sim(dir.path(), fast_sim_args());
  auto out = dir / "out";
  auto first = run_setlist(fast_run_args(sim, dir / "album.yaml", out));
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const auto charged = stat(sim, "tokens_charged");
  ASSERT_GT(charged, 0);
  EXPECT_NE(last_line(first.err).find((out / "report.html").string()), std::string::npos) << first.err;
  const auto generated = stat(sim, "generate_requests");
  const auto polls = stat(sim, "get_requests");

  // Finished and unchanged: the run says so and keeps the reports of the
  // run that finished the album (settled_test.cpp).
  auto unchanged = run_setlist(fast_run_args(sim, dir / "album.yaml", out), {{"AIML_API_KEY", kUnset}});
  ASSERT_EQ(unchanged.exit_code, 0) << unchanged.err;
  EXPECT_NE(unchanged.err.find("0 tokens charged by this run, " + std::to_string(charged) + " by every run"),
            std::string::npos)
      << unchanged.err;
  EXPECT_NE(unchanged.err.find("nothing to do"), std::string::npos) << unchanged.err;
  EXPECT_EQ(read_json(out / "report.json").as_object().at("run").at("tokens_charged").as_int64(), charged);

  // --check-all looks at every song and writes the reports of this run.
  auto again = run_setlist(fast_run_args(sim, dir / "album.yaml", out, {"--check-all"}), {{"AIML_API_KEY", kUnset}});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.err.find("nothing to do"), std::string::npos) << again.err;
  EXPECT_NE(again.err.find("0 tokens charged by this run, " + std::to_string(charged) + " by every run"),
            std::string::npos)
      << again.err;
  EXPECT_NE(last_line(again.err).find((out / "report.html").string()), std::string::npos) << again.err;
  auto run = read_json(out / "report.json").as_object().at("run").as_object();
  EXPECT_EQ(run.at("tokens_charged").as_int64(), 0);
  EXPECT_EQ(run.at("tokens_charged_to_date").as_int64(), charged);
  auto html = read_file(out / "report.html");
  EXPECT_NE(html.find("<td>Tokens charged to date (the album, every run)</td><td>" + std::to_string(charged) + "</td>"),
            std::string::npos);

  // A lost take is fetched again from the CDN, which never gets the key:
  // still no key needed, nothing generated or polled.
  fs::remove(out / "01 - Song 1 (B).mp3");
  auto repair = run_setlist(fast_run_args(sim, dir / "album.yaml", out), {{"AIML_API_KEY", kUnset}});
  ASSERT_EQ(repair.exit_code, 0) << repair.err;
  EXPECT_TRUE(fs::exists(out / "01 - Song 1 (B).mp3"));
  EXPECT_EQ(stat(sim, "generate_requests"), generated);
  EXPECT_EQ(stat(sim, "get_requests"), polls);
  EXPECT_EQ(read_json(out / "report.json").at("run").at("tokens_charged_to_date").as_int64(), charged);

  // One new song would be sent: now the key is needed, and the refusal
  // comes alone, before any summary, and changes nothing.
  write_file(dir / "album.yaml", album_yaml(3));
  auto refused = run_setlist(fast_run_args(sim, dir / "album.yaml", out), {{"AIML_API_KEY", kUnset}});
  EXPECT_EQ(refused.exit_code, 3) << refused.err;
  EXPECT_NE(refused.err.find("no API key: set AIML_API_KEY"), std::string::npos) << refused.err;
  EXPECT_EQ(refused.err.find("songs:"), std::string::npos) << refused.err;
  EXPECT_EQ(refused.err.find("report"), std::string::npos) << refused.err;
  EXPECT_EQ(stat(sim, "generate_requests"), generated);
}

TEST(Summary, NoKeyOnAFreshAlbumIsRefusedWithoutASummary) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(3));
  auto out = dir / "out";
  auto r = run_setlist({"run", (dir / "album.yaml").string(), "-o", out.string()}, {{"AIML_API_KEY", kUnset}});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("no API key"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("songs:"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("unfinished"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out / "report.json"));
}

TEST(ConfigCheck, ConfigRefusesTheTemplateRunWouldRefuse) {
  TempDir dir;
  auto cfg = run_setlist({"config", "--output-template", "{nope}.mp3"});
  EXPECT_EQ(cfg.exit_code, 2) << cfg.out << cfg.err;
  EXPECT_NE(cfg.err.find("--output-template: output template: unknown placeholder {nope}"), std::string::npos)
      << cfg.err;
  EXPECT_EQ(cfg.out.find("output_template"), std::string::npos) << "printed what run refuses:\n" << cfg.out;
  auto good = run_setlist({"config", "--output-template", "{track:02} {title} ({take}).mp3"});
  EXPECT_EQ(good.exit_code, 0) << good.err;

  // In a manifest: validate, config and run say where, with file:line:col.
  write_file(dir / "album.yaml", "album: {title: A}\nsettings:\n  output_template: \"{nope}.mp3\"\n"
                                 "songs:\n  - {title: S, lyrics: words words}\n");
  auto v = run_setlist({"validate", (dir / "album.yaml").string()});
  EXPECT_EQ(v.exit_code, 2) << v.err;
  EXPECT_NE(v.err.find("album.yaml:3:20: error: settings.output_template: output template: unknown placeholder"),
            std::string::npos)
      << v.err;
  auto c = run_setlist({"config", (dir / "album.yaml").string()});
  EXPECT_EQ(c.exit_code, 2) << c.err;
  EXPECT_NE(c.err.find("album.yaml:3:20: output template: unknown placeholder {nope}"), std::string::npos) << c.err;
  auto r = run_setlist({"run", (dir / "album.yaml").string(), "-o", (dir / "out").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_FALSE(fs::exists(dir / "out" / ".setlist"));
}
