// The first hour's habits: the terminal view (a ticking status line, the
// pace, a per-song table), --only, --regenerate, --keep-attempts and
// --dry-run, each run with the real binaries against setlist-sim.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include <csignal>

#include "integration_support.hpp"

using namespace setlist::test;
namespace json = boost::json;

namespace {

// A word for `sh -c`, single-quoted.
std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// `setlist ARGS` on a pseudo-terminal (util-linux `script`): what the
// terminal showed comes back in `out`.
fs::path script_bin() {
  for (const char* p : {"/usr/bin/script", "/bin/script"})
    if (fs::exists(p)) return p;
  return {};
}

RunResult run_setlist_on_a_tty(const std::vector<std::string>& args) {
  // A wide terminal whatever the caller's: the status line is cut to its width.
  std::string cmd = "stty cols 250 rows 50; exec " + shell_quote(setlist_bin().string());
  for (auto& a : args) cmd += " " + shell_quote(a);
  Env env;
  env["AIML_API_KEY"] = kTestKey;
  env["GITHUB_STEP_SUMMARY"] = "\x01unset";
  return run({script_bin().string(), "-qefc", cmd, "/dev/null"}, env, std::chrono::minutes(3));
}

std::set<std::string> all_matches(const std::string& text, const std::regex& re) {
  std::set<std::string> found;
  for (std::sregex_iterator it(text.begin(), text.end(), re), end; it != end; ++it) found.insert((*it)[1].str());
  return found;
}

std::int64_t generate_requests(const Sim& sim) {
  return sim.stats().as_object().at("generate_requests").as_int64();
}

// A line of the per-song table: "    2  Song 2  complete ..."
bool has_row(const std::string& text, int track, const std::string& title, const std::string& status) {
  std::regex re("(^|\\n) +" + std::to_string(track) + "  " + title + " +" + status + " ");
  return std::regex_search(text, re);
}

}  // namespace

// The status line moves every second even while nothing happens (here: a
// 429 with Retry-After of a few seconds), and says what it is waiting for.
TEST(Terminal, StatusLineTicksAndShowsTheRateLimitWaitOnATerminal) {
  if (script_bin().empty()) GTEST_SKIP() << "util-linux script not found";
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(2));
  // One generate request per 4 s window: the second song is told to wait.
  Sim sim(dir.path(), fast_sim_args({"--hourly-limit", "1", "--hourly-window", "4s"}));
  auto out = dir / "out";
  auto r = run_setlist_on_a_tty(fast_run_args(sim, dir / "album.yaml", out));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_GE(sim.stats().as_object().at("rate_limited").as_int64(), 1) << "the simulator never throttled";
  // The countdown of the Retry-After wait: only a ticking line shows more than one value.
  auto waits = all_matches(r.out, std::regex("waiting (\\d+)s \\(rate limited\\)"));
  EXPECT_GE(waits.size(), 2u) << r.out;
  auto clock = all_matches(r.out, std::regex("\\[(\\d+)s, ETA"));
  EXPECT_GE(clock.size(), 3u) << r.out;
  EXPECT_NE(r.out.find("throttled"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("/s (limit "), std::string::npos) << "the submit rate" << r.out;
  // And the per-song table at the end.
  EXPECT_TRUE(has_row(r.out, 1, "Song 1", "complete")) << r.out;
  EXPECT_TRUE(has_row(r.out, 2, "Song 2", "complete")) << r.out;
}

// Without a terminal: one line per event, no status line, the same table.
TEST(Terminal, PlainOutputEndsWithAPerSongTable) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(3));
  Sim sim(dir.path(), fast_sim_args());
  auto out = dir / "out";
  auto r = run_setlist(fast_run_args(sim, dir / "album.yaml", out));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("\x1b[2K"), std::string::npos) << "no status line without a terminal";
  EXPECT_TRUE(std::regex_search(r.err, std::regex("track  title +status +takes +time +tokens"))) << r.err;
  for (int i = 1; i <= 3; ++i) {
    std::string t = "Song " + std::to_string(i);
    // status, 2 takes, a time in seconds, 200000 tokens
    EXPECT_TRUE(std::regex_search(
        r.err, std::regex("\\n +" + std::to_string(i) + "  " + t + " +complete +2 +[0-9.]+ s +200000\\n")))
        << r.err;
  }
  // The same command again on the finished album: nothing to do, said in
  // one line instead of a table (settled_test.cpp).
  auto unchanged = run_setlist(fast_run_args(sim, dir / "album.yaml", out));
  ASSERT_EQ(unchanged.exit_code, 0) << unchanged.err;
  EXPECT_NE(unchanged.err.find("nothing to do"), std::string::npos) << unchanged.err;
  EXPECT_FALSE(std::regex_search(unchanged.err, std::regex("track  title +status"))) << unchanged.err;
  // A rerun that looks at every song and sends nothing: the table says so (no time, no tokens).
  auto again = run_setlist(fast_run_args(sim, dir / "album.yaml", out, {"--check-all"}));
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_TRUE(std::regex_search(again.err, std::regex("\\n +2  Song 2 +complete +2 +- +0\\n"))) << again.err;
}

// --log-format json: the table is one JSON event, every line stays JSON.
TEST(Terminal, JsonLogCarriesTheSongTableAsAnEvent) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(2));
  Sim sim(dir.path(), fast_sim_args());
  auto r = run_setlist(fast_run_args(sim, dir / "album.yaml", dir / "out", {"--log-format", "json"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.err);
  std::string line;
  json::array songs;
  int tables = 0;
  while (std::getline(lines, line)) {
    auto v = json::parse(line);  // throws (fails the test) on any non-JSON line
    if (v.as_object().at("event") == "songs") {
      ++tables;
      songs = v.as_object().at("songs").as_array();
    }
    EXPECT_NE(v.as_object().at("event"), "tick") << "ticks are for the status line only";
  }
  EXPECT_EQ(tables, 1);
  ASSERT_EQ(songs.size(), 2u);
  for (auto& s : songs) {
    EXPECT_EQ(s.at("status"), "complete");
    EXPECT_EQ(s.at("takes").as_int64(), 2);
    EXPECT_EQ(s.at("tokens").as_int64(), 200000);
    EXPECT_EQ(s.at("selected"), true);
  }
}

// --only: the songs not selected are not sent, not polled, and keep their
// files; reports still list the whole album.
TEST(Selection, OnlyWorksOnTheSelectedSongsAndLeavesTheRestAlone) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(5));
  Sim sim(dir.path(), fast_sim_args());
  auto out = dir / "out";
  auto r = run_setlist(fast_run_args(sim, dir / "album.yaml", out, {"--only", "2,4-5"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(generate_requests(sim), 3);
  auto st = statuses(out);
  ASSERT_EQ(st.size(), 5u) << "the report lists the whole album";
  EXPECT_EQ(st["Song 1"], "pending");
  EXPECT_EQ(st["Song 2"], "complete");
  EXPECT_EQ(st["Song 3"], "pending");
  EXPECT_EQ(st["Song 4"], "complete");
  EXPECT_FALSE(fs::exists(out / "01 - Song 1 (A).mp3"));
  EXPECT_TRUE(fs::exists(out / "02 - Song 2 (A).mp3"));
  EXPECT_NE(r.err.find("(2 not selected by --only)"), std::string::npos) << r.err;
  EXPECT_TRUE(has_row(r.err, 1, "Song 1", "pending \\(not selected\\)")) << r.err;

  // A title glob; the complete songs' files are not touched.
  const auto before = fs::last_write_time(out / "02 - Song 2 (A).mp3");
  auto r2 = run_setlist(fast_run_args(sim, dir / "album.yaml", out, {"--only", "song 1*"}));
  ASSERT_EQ(r2.exit_code, 0) << r2.err;
  EXPECT_EQ(generate_requests(sim), 4) << "only Song 1 was sent";
  EXPECT_EQ(fs::last_write_time(out / "02 - Song 2 (A).mp3"), before);
  EXPECT_EQ(statuses(out)["Song 3"], "pending");

  // The rest, without --only.
  auto r3 = run_setlist(fast_run_args(sim, dir / "album.yaml", out));
  ASSERT_EQ(r3.exit_code, 0) << r3.err;
  EXPECT_EQ(generate_requests(sim), 5);
  EXPECT_EQ(run_setlist({"verify", out.string()}).exit_code, 0);
}

// A song left generating by an interrupted run is not polled by a run whose
// --only leaves it out (its clips, done meanwhile, are not fetched); the
// next run that selects it fetches them without paying again.
TEST(Selection, OnlyDoesNotTouchAnUnselectedSongInProgress) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(2));
  Sim sim(dir.path(), fast_sim_args({"--latency", "3s", "--latency-jitter", "0s"}));
  auto out = dir / "out";
  auto p = start_setlist(dir, fast_run_args(sim, dir / "album.yaml", out, {"--only", "1"}), "first");
  for (int i = 0; i < 600 && generate_requests(sim) < 1; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_EQ(generate_requests(sim), 1);
  p->signal(SIGINT);  // polite: the answer on the wire is recorded, then it stops
  ASSERT_TRUE(p->wait(std::chrono::seconds(30)));
  ASSERT_EQ(statuses(out)["Song 1"], "submitted") << p->err();

  auto r = run_setlist(fast_run_args(sim, dir / "album.yaml", out, {"--only", "2"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(generate_requests(sim), 2);
  auto st = statuses(out);
  EXPECT_EQ(st["Song 2"], "complete");
  EXPECT_EQ(st["Song 1"], "submitted") << "left alone, though its clips finished meanwhile";
  EXPECT_FALSE(fs::exists(out / "01 - Song 1 (A).mp3"));

  auto rest = run_setlist(fast_run_args(sim, dir / "album.yaml", out));
  ASSERT_EQ(rest.exit_code, 0) << rest.err;
  EXPECT_EQ(generate_requests(sim), 2) << "fetched, not bought again";
  EXPECT_TRUE(fs::exists(out / "01 - Song 1 (A).mp3"));
}

TEST(Selection, OnlyThatMatchesNothingIsAnErrorNamingWhatItCouldNotMatch) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(3));
  Sim sim(dir.path(), fast_sim_args());
  auto out = dir / "out";
  auto r = run_setlist(fast_run_args(sim, dir / "album.yaml", out, {"--only", "2,9,Nope*"}));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("'9', 'Nope*'"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("'2'"), std::string::npos) << "track 2 exists" << r.err;
  EXPECT_EQ(generate_requests(sim), 0);
  EXPECT_FALSE(fs::exists(out));
  auto plan = run_setlist({"plan", (dir / "album.yaml").string(), "-o", out.string(), "--only", "7-8"});
  EXPECT_EQ(plan.exit_code, 2);
  EXPECT_NE(plan.err.find("'7-8'"), std::string::npos) << plan.err;
  // status selects from state
  ASSERT_EQ(run_setlist(fast_run_args(sim, dir / "album.yaml", out)).exit_code, 0);
  auto status = run_setlist({"status", out.string(), "--only", "song-9"});
  EXPECT_EQ(status.exit_code, 2);
  EXPECT_NE(status.err.find("'song-9'"), std::string::npos) << status.err;
  auto one = run_setlist({"status", out.string(), "--only", "2"});
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_NE(one.out.find("Song 2"), std::string::npos) << one.out;
  EXPECT_EQ(one.out.find("Song 1"), std::string::npos) << one.out;
  EXPECT_EQ(one.out.find("Song 3"), std::string::npos) << one.out;
}

// plan --only: the others are shown, not counted.
TEST(Selection, PlanOnlyCountsTheSelectedSongs) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(4));
  auto out = dir / "out";
  auto plan = run_setlist({"plan", (dir / "album.yaml").string(), "-o", out.string(), "--only", "Song 3,1"});
  ASSERT_EQ(plan.exit_code, 0) << plan.err;
  EXPECT_NE(plan.out.find("total: 2 generate request(s), 400000 tokens"), std::string::npos) << plan.out;
  EXPECT_NE(plan.out.find("    2  not selected "), std::string::npos) << plan.out;
  EXPECT_NE(plan.out.find("    3  new "), std::string::npos) << plan.out;
  // A regeneration --only leaves out is a contradiction, in plan as in run.
  auto both = run_setlist({"plan", (dir / "album.yaml").string(), "-o", out.string(), "--only", "1", "--regenerate", "2"});
  EXPECT_EQ(both.exit_code, 2);
  EXPECT_NE(both.err.find("which --only leaves out"), std::string::npos) << both.err;
}

// run --dry-run is plan: the same output, nothing sent, no key needed.
TEST(Selection, DryRunPrintsThePlanAndSendsNothing) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(3));
  Sim sim(dir.path(), fast_sim_args());
  auto out = dir / "out";
  auto plan = run_setlist({"plan", (dir / "album.yaml").string(), "-o", out.string(), "--only", "2-3"});
  ASSERT_EQ(plan.exit_code, 0) << plan.err;
  auto dry = run_setlist(fast_run_args(sim, dir / "album.yaml", out, {"--only", "2-3", "--dry-run"}),
                         {{"AIML_API_KEY", "\x01unset"}});
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_EQ(dry.out, plan.out);
  EXPECT_NE(dry.out.find("total: 2 generate request(s)"), std::string::npos) << dry.out;
  EXPECT_EQ(generate_requests(sim), 0);
  EXPECT_FALSE(fs::exists(out)) << "a dry run writes nothing";
}

// --regenerate pays again on purpose: announced by plan with its cost, the
// old takes kept under .setlist/superseded, the other songs untouched.
TEST(Selection, RegenerateIsPaidAnnouncedAndKeepsTheOldTakesAside) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(2));
  Sim sim(dir.path(), fast_sim_args());
  auto out = dir / "out";
  ASSERT_EQ(run_setlist(fast_run_args(sim, dir / "album.yaml", out)).exit_code, 0);
  const auto old_a = read_file(out / "01 - Song 1 (A).mp3");
  const auto song2 = read_file(out / "02 - Song 2 (A).mp3");

  auto plan = run_setlist({"plan", (dir / "album.yaml").string(), "-o", out.string(), "--regenerate", "song-1"});
  ASSERT_EQ(plan.exit_code, 0) << plan.err;
  EXPECT_NE(plan.out.find("    1  regenerate (paid) "), std::string::npos) << plan.out;
  EXPECT_NE(plan.out.find("total: 1 generate request(s), 200000 tokens"), std::string::npos) << plan.out;
  EXPECT_NE(plan.out.find("regenerate: [01] Song 1 is bought again on purpose: 1 request(s), 200000 tokens"),
            std::string::npos)
      << plan.out;

  auto r = run_setlist(fast_run_args(sim, dir / "album.yaml", out, {"--regenerate", "1"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(generate_requests(sim), 3);
  EXPECT_NE(read_file(out / "01 - Song 1 (A).mp3"), old_a) << "a new take A";
  EXPECT_EQ(read_file(out / "02 - Song 2 (A).mp3"), song2);
  bool kept = false;
  for (auto& e : fs::recursive_directory_iterator(out / ".setlist" / "superseded"))
    kept |= e.is_regular_file() && read_file(e.path()) == old_a;
  EXPECT_TRUE(kept) << "the earlier take A is kept under .setlist/superseded";
  EXPECT_EQ(run_setlist({"verify", out.string()}).exit_code, 0);
  // The regeneration happened once: a plain rerun sends nothing.
  ASSERT_EQ(run_setlist(fast_run_args(sim, dir / "album.yaml", out)).exit_code, 0);
  EXPECT_EQ(generate_requests(sim), 3);
}

// Pay once: a song whose request may have been accepted is not regenerated
// unless --resubmit-uncertain says paying twice is fine.
TEST(Selection, RegenerateOfAnUncertainSongIsRefusedWithoutResubmitUncertain) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(1));
  Sim sim(dir.path(), fast_sim_args({"--fault", "reset/generate@n1"}));
  auto out = dir / "out";
  auto first = run_setlist(fast_run_args(sim, dir / "album.yaml", out));
  ASSERT_EQ(first.exit_code, 1) << first.err;
  ASSERT_EQ(statuses(out)["Song 1"], "uncertain");
  const auto sent = generate_requests(sim);

  auto plan = run_setlist({"plan", (dir / "album.yaml").string(), "-o", out.string(), "--regenerate", "1"});
  EXPECT_EQ(plan.exit_code, 2);
  EXPECT_NE(plan.err.find("--resubmit-uncertain"), std::string::npos) << plan.err;
  auto refused = run_setlist(fast_run_args(sim, dir / "album.yaml", out, {"--regenerate", "1"}));
  EXPECT_EQ(refused.exit_code, 2) << refused.err;
  EXPECT_NE(refused.err.find("--regenerate refused for [01] Song 1"), std::string::npos) << refused.err;
  EXPECT_EQ(generate_requests(sim), sent) << "nothing was sent";

  auto paid = run_setlist(fast_run_args(sim, dir / "album.yaml", out, {"--regenerate", "1", "--resubmit-uncertain"}));
  ASSERT_EQ(paid.exit_code, 0) << paid.err;
  EXPECT_EQ(generate_requests(sim), sent + 1);
  EXPECT_EQ(statuses(out)["Song 1"], "complete");
}

// --keep-attempts: every attempt's takes stay in the album, with names that
// do not collide, and the playlist and report list them.
TEST(Selection, KeepAttemptsLeavesEveryTakeInTheAlbumFolder) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(1));
  Sim sim(dir.path(), fast_sim_args());
  auto out = dir / "out";
  ASSERT_EQ(run_setlist(fast_run_args(sim, dir / "album.yaml", out)).exit_code, 0);
  const auto old_a = read_file(out / "01 - Song 1 (A).mp3");
  auto r = run_setlist(fast_run_args(sim, dir / "album.yaml", out, {"--regenerate", "1", "--keep-attempts"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(generate_requests(sim), 2);
  EXPECT_EQ(read_file(out / "01 - Song 1 (A).mp3"), old_a) << "the first attempt's take stays as it was";
  ASSERT_TRUE(fs::exists(out / "01 - Song 1 (A) (attempt 2).mp3")) << r.err;
  EXPECT_TRUE(fs::exists(out / "01 - Song 1 (B) (attempt 2).mp3"));
  EXPECT_NE(read_file(out / "01 - Song 1 (A) (attempt 2).mp3"), old_a);
  auto m3u = read_file(out / "album.m3u8");
  EXPECT_NE(m3u.find("01 - Song 1 (A).mp3\n"), std::string::npos) << m3u;
  EXPECT_NE(m3u.find("01 - Song 1 (A) (attempt 2).mp3\n"), std::string::npos) << m3u;
  auto song = report_songs(out)[0].as_object();
  EXPECT_EQ(song.at("clips").as_array().size(), 2u);
  EXPECT_EQ(song.at("earlier_takes").as_array().size(), 2u);
  EXPECT_EQ(run_setlist({"verify", out.string()}).exit_code, 0);
  // A rerun keeps all four and sends nothing.
  ASSERT_EQ(run_setlist(fast_run_args(sim, dir / "album.yaml", out)).exit_code, 0);
  EXPECT_EQ(generate_requests(sim), 2);
  EXPECT_TRUE(fs::exists(out / "01 - Song 1 (A) (attempt 2).mp3"));
  EXPECT_EQ(read_file(out / "01 - Song 1 (A).mp3"), old_a);
}
