// #19: reject_bad_takes. A song whose take A the analysis flags is bought
// again (paid, a new attempt, the old takes kept under .setlist/superseded),
// at most N more times; never without the setting; announced by plan.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <map>
#include <string>

#include "integration_support.hpp"

using namespace setlist::test;
namespace json = boost::json;

namespace {

std::int64_t generate_requests(const Sim& sim) { return sim.stats().as_object().at("generate_requests").as_int64(); }

// Clips the simulator made, by song title; and the title of the silent one.
std::map<std::string, int> clips_by_title(const Sim& sim, std::string* silent_title = nullptr) {
  std::map<std::string, int> m;
  const json::value stats = sim.stats();  // kept alive while its clips are read
  for (auto& [id, c] : stats.at("clips").as_object()) {
    std::string title(c.at("title").as_string());
    ++m[title];
    if (silent_title && c.at("loudness_profile").as_string() == "silent") *silent_title = title;
  }
  return m;
}

// Take A's flags in report.json, by song title.
std::map<std::string, std::string> take_a_flags(const fs::path& out) {
  std::map<std::string, std::string> m;
  const json::array songs = report_songs(out);
  for (auto& s : songs) {
    std::string flags;
    auto& clips = s.at("clips").as_array();
    if (!clips.empty())
      for (auto& f : clips[0].at("flags").as_array()) flags += std::string(f.as_string()) + " ";
    m[std::string(s.at("title").as_string())] = flags;
  }
  return m;
}

bool superseded_holds_a_take(const fs::path& out) {
  if (!fs::exists(out / ".setlist" / "superseded")) return false;
  for (auto& e : fs::recursive_directory_iterator(out / ".setlist" / "superseded"))
    if (e.is_regular_file() && e.path().extension() == ".mp3") return true;
  return false;
}

}  // namespace

TEST(RejectBadTakes, ASilentTakeAIsBoughtAgainOnceAndNoOtherSong) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(3, "  reject_bad_takes: 1\n"));
  // The first clip made is silent: the take A of whichever song is accepted first.
  Sim sim(dir.path(), fast_sim_args({"--real-audio", "--loudness-profile", "silent", "--duration", "3s..3s"}));
  auto out = dir / "out";
  auto plan = run_setlist({"plan", (dir / "album.yaml").string(), "-o", out.string()});
  ASSERT_EQ(plan.exit_code, 0) << plan.err;
  EXPECT_NE(plan.out.find("reject_bad_takes: a take flagged once analysed is bought again: at most 3 more "
                          "request(s), 600000 tokens"),
            std::string::npos)
      << plan.out;

  auto r = run_setlist(fast_run_args(sim, dir / "album.yaml", out));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string silent;
  auto clips = clips_by_title(sim, &silent);
  ASSERT_FALSE(silent.empty());
  EXPECT_EQ(generate_requests(sim), 4) << "three songs, one bought again";
  for (auto& [title, n] : clips) EXPECT_EQ(n, title == silent ? 4 : 2) << title;
  EXPECT_NE(r.err.find("take A flagged silent: rejected (reject_bad_takes 1)"), std::string::npos) << r.err;
  EXPECT_EQ(statuses(out)[silent], "complete");
  EXPECT_EQ(take_a_flags(out)[silent], "") << "the new take A is the one kept";
  EXPECT_TRUE(superseded_holds_a_take(out)) << "the rejected takes are kept aside";
  EXPECT_EQ(run_setlist({"verify", out.string()}).exit_code, 0);

  // Bounded, and once only: a rerun buys nothing.
  ASSERT_EQ(run_setlist(fast_run_args(sim, dir / "album.yaml", out)).exit_code, 0);
  EXPECT_EQ(generate_requests(sim), 4);
}

// Off by default: the flagged take is kept and nothing extra is bought. Turned
// on later, the rerun (from the analysis in state) buys that song once more,
// as plan said, and only that song.
TEST(RejectBadTakes, OffByDefaultThenOnARerunTheFlaggedSongIsBoughtAgain) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(2));
  Sim sim(dir.path(), fast_sim_args({"--real-audio", "--loudness-profile", "silent", "--duration", "3s..3s"}));
  auto out = dir / "out";
  ASSERT_EQ(run_setlist(fast_run_args(sim, dir / "album.yaml", out)).exit_code, 0);
  std::string silent;
  auto before = clips_by_title(sim, &silent);
  ASSERT_FALSE(silent.empty());
  EXPECT_EQ(generate_requests(sim), 2) << "nothing extra without the setting";
  EXPECT_EQ(take_a_flags(out)[silent], "silent ");
  const std::string track = silent.substr(silent.find(' ') + 1);  // "Song 2" -> "2"

  auto plain = run_setlist({"plan", (dir / "album.yaml").string(), "-o", out.string()});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_NE(plain.out.find("total: 0 generate request(s), 0 tokens"), std::string::npos) << plain.out;
  EXPECT_EQ(plain.out.find("reject"), std::string::npos) << plain.out;

  auto plan = run_setlist({"plan", (dir / "album.yaml").string(), "-o", out.string(), "--reject-bad-takes", "1"});
  ASSERT_EQ(plan.exit_code, 0) << plan.err;
  EXPECT_NE(plan.out.find("reject take (paid)"), std::string::npos) << plan.out;
  EXPECT_NE(plan.out.find("total: 1 generate request(s), 200000 tokens"), std::string::npos) << plan.out;
  EXPECT_NE(plan.out.find("reject_bad_takes: [0" + track + "] " + silent +
                          ": take A flagged silent; bought again: 1 request(s), 200000 tokens"),
            std::string::npos)
      << plan.out;

  auto r = run_setlist(fast_run_args(sim, dir / "album.yaml", out, {"--reject-bad-takes", "1"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(generate_requests(sim), 3);
  auto after = clips_by_title(sim);
  for (auto& [title, n] : after) EXPECT_EQ(n, before[title] + (title == silent ? 2 : 0)) << title;
  EXPECT_EQ(take_a_flags(out)[silent], "");
  EXPECT_TRUE(superseded_holds_a_take(out));
  // The song has had its one extra attempt: nothing more, even flagged.
  ASSERT_EQ(run_setlist(fast_run_args(sim, dir / "album.yaml", out, {"--reject-bad-takes", "1"})).exit_code, 0);
  EXPECT_EQ(generate_requests(sim), 3);
}
