// #20: a finished album run again. The run that finished it leaves a record
// (src/engine/settled.hpp); the next run with nothing changed says so, sends
// nothing and leaves the reports as they were. Every kind of change makes the
// run look at every song again, and an older state.db is still refused with
// the receipts journal checked from where its last check ended.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "integration_support.hpp"

using namespace setlist::test;
namespace json = boost::json;

namespace {

bool said_unchanged(const RunResult& r) { return r.err.find("nothing to do:") != std::string::npos; }

std::int64_t mtime_ns(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return -1;
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
}

// What the simulator answered, route by route (its own stats route aside).
std::string served(const Sim& sim) {
  auto requests = sim.stats().as_object().at("requests").as_object();
  json::object kept;
  for (auto& [route, counts] : requests)
    if (route.find("stats") == json::string_view::npos) kept[route] = counts;
  return json::serialize(kept);
}

void sql(const fs::path& out, const std::string& statement) {
  auto r = run({"/usr/bin/python3", "-c",
                "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.executescript(sys.argv[2]); c.commit()",
                (out / ".setlist" / "state.db").string(), statement});
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

std::string meta(const fs::path& out, const std::string& key) {
  auto r = run({"/usr/bin/python3", "-c",
                "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); "
                "r=c.execute('select value from meta where key=?',(sys.argv[2],)).fetchone(); "
                "print(r[0] if r else '<none>', end='')",
                (out / ".setlist" / "state.db").string(), key});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.out;
}

}  // namespace

TEST(Settled, AFinishedAlbumRunAgainSaysSoSendsNothingAndKeepsItsReports) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(3));
  Sim sim(dir.path(), fast_sim_args());
  auto out = dir / "out";
  auto args = fast_run_args(sim, dir / "album.yaml", out);
  auto first = run_setlist(args);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_FALSE(said_unchanged(first)) << first.err;
  const auto html = mtime_ns(out / "report.html"), js = mtime_ns(out / "report.json");
  const auto junit = read_file(out / "junit.xml");
  const auto before = served(sim);
  ASSERT_NE(before.find("generate"), std::string::npos) << before;

  auto again = run_setlist(args);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_TRUE(said_unchanged(again)) << again.err;
  EXPECT_NE(again.err.find("3 songs: 3 complete, 0 failed"), std::string::npos) << again.err;
  EXPECT_NE(again.err.find("0 tokens charged by this run"), std::string::npos) << again.err;
  EXPECT_EQ(mtime_ns(out / "report.html"), html);
  EXPECT_EQ(mtime_ns(out / "report.json"), js);
  EXPECT_EQ(read_file(out / "junit.xml"), junit);
  EXPECT_EQ(served(sim), before);
  for (auto& [title, st] : statuses(out)) EXPECT_EQ(st, "complete") << title;

  // The same for a program reading the JSON log; and no key is needed.
  auto json_log = run_setlist(with_arg(args, "--log-format", "json"), {{"AIML_API_KEY", "\x01unset"}});
  ASSERT_EQ(json_log.exit_code, 0) << json_log.err;
  auto text = json_log.err;
  while (!text.empty() && text.back() == '\n') text.pop_back();
  auto last = text.substr(text.rfind('\n') + 1);
  auto summary = json::parse(last).as_object();
  ASSERT_TRUE(summary.contains("unchanged")) << json_log.err;
  EXPECT_EQ(summary.at("event").as_string(), "summary");
  EXPECT_TRUE(summary.at("unchanged").as_bool()) << last;
  EXPECT_EQ(served(sim), before);
}

struct Change {
  const char* name;
  // Changes something between two runs; may add to the run's arguments.
  void (*apply)(const fs::path& dir, const fs::path& out, std::vector<std::string>& args);
};
void PrintTo(const Change& c, std::ostream* os) { *os << c.name; }

const Change kChanges[] = {
    {"ManifestEdited",
     [](const fs::path& dir, const fs::path&, std::vector<std::string>&) {
       std::ofstream(dir / "album.yaml", std::ios::app) << "# a comment changes the bytes, not the songs\n";
     }},
    {"LyricsFileEdited",
     [](const fs::path& dir, const fs::path&, std::vector<std::string>&) {
       write_file(dir / "words.txt", "[Verse]\nOther words now\n");
     }},
    {"ATakeDeleted",
     [](const fs::path&, const fs::path& out, std::vector<std::string>&) {
       ASSERT_TRUE(fs::remove(out / "01 - Song 1 (A).mp3"));
     }},
    {"ACoverRetagged",  // same size, other bytes and time: a player that rewrote it
     [](const fs::path&, const fs::path& out, std::vector<std::string>&) {
       auto cover = out / "02 - Song 2 (B).jpg";
       auto bytes = read_file(cover);
       ASSERT_FALSE(bytes.empty());
       bytes.back() = static_cast<char>(bytes.back() ^ 1);
       write_file(cover, bytes);
     }},
    {"ReportEdited",
     [](const fs::path&, const fs::path& out, std::vector<std::string>&) {
       std::ofstream(out / "report.html", std::ios::app) << "<!-- edited -->";
     }},
    {"ReportDeleted",
     [](const fs::path&, const fs::path& out, std::vector<std::string>&) {
       ASSERT_TRUE(fs::remove(out / "junit.xml"));
     }},
    {"StateChangedByHand",
     [](const fs::path&, const fs::path& out, std::vector<std::string>&) {
       sql(out, "UPDATE songs SET reason = 'edited by hand' WHERE track = 2");
     }},
    {"ASettingGiven",
     [](const fs::path&, const fs::path&, std::vector<std::string>& args) {
       args = with_arg(args, "--download-concurrency", "2");
     }},
    {"OnlySomeSongs",
     [](const fs::path&, const fs::path&, std::vector<std::string>& args) {
       args = with_arg(args, "--only", "song-1");
     }},
};

class SettledChange : public testing::TestWithParam<Change> {};

TEST_P(SettledChange, MakesTheNextRunLookAtEverySongThenItSettlesAgain) {
  TempDir dir;
  std::string yaml = album_yaml(2);
  yaml += "  - title: Song 3\n    lyrics_file: words.txt\n";
  write_file(dir / "album.yaml", yaml);
  write_file(dir / "words.txt", "[Verse]\nWords from a file\n");
  Sim sim(dir.path(), fast_sim_args());
  auto out = dir / "out";
  auto args = fast_run_args(sim, dir / "album.yaml", out);
  ASSERT_EQ(run_setlist(args).exit_code, 0);
  auto settled = run_setlist(args);
  ASSERT_EQ(settled.exit_code, 0) << settled.err;
  ASSERT_TRUE(said_unchanged(settled)) << settled.err;

  GetParam().apply(dir.path(), out, args);
  auto full = run_setlist(args);
  EXPECT_FALSE(said_unchanged(full)) << full.err;
  ASSERT_EQ(full.exit_code, 0) << full.err;
  // What the full run repairs is there again.
  EXPECT_TRUE(fs::exists(out / "01 - Song 1 (A).mp3"));
  EXPECT_TRUE(fs::exists(out / "junit.xml"));
  EXPECT_EQ(read_file(out / "report.html").find("<!-- edited -->"), std::string::npos);

  auto after = run_setlist(args);
  ASSERT_EQ(after.exit_code, 0) << after.err;
  EXPECT_TRUE(said_unchanged(after)) << after.err;
}

INSTANTIATE_TEST_SUITE_P(Settled, SettledChange, testing::ValuesIn(kChanges),
                         [](const testing::TestParamInfo<Change>& i) { return std::string(i.param.name); });

// A run that did not finish the album leaves no record: the next one looks at
// every song (and finishes it).
TEST(Settled, AnUnfinishedAlbumIsNeverCalledUnchanged) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(2));
  auto out = dir / "out";
  {
    Sim refusing(dir.path(), fast_sim_args({"--fault", "500/generate@1.0"}));
    auto r = run_setlist(fast_run_args(refusing, dir / "album.yaml", out, {"--retry-max-attempts", "1"}));
    ASSERT_EQ(r.exit_code, 1) << r.err;
    auto again = run_setlist(fast_run_args(refusing, dir / "album.yaml", out, {"--retry-max-attempts", "1"}));
    EXPECT_FALSE(said_unchanged(again)) << again.err;
    EXPECT_EQ(again.exit_code, 1) << again.err;
  }
  const auto record = meta(out, "settled");
  EXPECT_TRUE(record == "" || record == "<none>") << record;
  Sim healthy(dir.path(), fast_sim_args());
  auto args = fast_run_args(healthy, dir / "album.yaml", out, {"--retry-failed"});
  ASSERT_EQ(run_setlist(args).exit_code, 0);
  EXPECT_TRUE(said_unchanged(run_setlist(args)));
}

// --regenerate buys again each time it is given: never a shortcut.
TEST(Settled, RegenerateIsNeverSkipped) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(2));
  Sim sim(dir.path(), fast_sim_args());
  auto out = dir / "out";
  auto args = fast_run_args(sim, dir / "album.yaml", out);
  ASSERT_EQ(run_setlist(args).exit_code, 0);
  auto regen = with_arg(args, "--regenerate", "song-2");
  auto r = run_setlist(regen);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(said_unchanged(r)) << r.err;
  EXPECT_EQ(sim.stats().as_object().at("generate_accepted").as_int64(), 3);
}

// The receipts journal is checked from where the last check ended, so a copy
// of state.db from before later runs is refused as before: the receipts
// added since are checked against it.
TEST(Settled, AnOlderStateDbIsRefusedWithTheJournalCheckedFromItsLastPosition) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(2));
  Sim sim(dir.path(), fast_sim_args());
  auto out = dir / "out";
  ASSERT_EQ(run_setlist(fast_run_args(sim, dir / "album.yaml", out)).exit_code, 0);
  sql(out, "PRAGMA wal_checkpoint(TRUNCATE)");
  const auto mark = meta(out, "journal_checked");
  ASSERT_NE(mark, "<none>");
  EXPECT_EQ(std::stoull(mark), fs::file_size(out / ".setlist" / "receipts.jsonl")) << mark;
  fs::copy_file(out / ".setlist" / "state.db", dir / "state.db.old");

  write_file(dir / "album.yaml", album_yaml(4));
  auto args = fast_run_args(sim, dir / "album.yaml", out);
  ASSERT_EQ(run_setlist(args).exit_code, 0);
  ASSERT_EQ(sim.stats().as_object().at("generate_accepted").as_int64(), 4);
  for (const char* f : {"state.db-wal", "state.db-shm"}) fs::remove(out / ".setlist" / f);
  fs::copy_file(dir / "state.db.old", out / ".setlist" / "state.db", fs::copy_options::overwrite_existing);
  // Takes 3 and 4 moved away too: only the journal tells what the old copy lacks.
  fs::create_directories(dir / "away");
  for (auto& e : fs::directory_iterator(out))
    if (e.path().filename().string().rfind("03 - ", 0) == 0 || e.path().filename().string().rfind("04 - ", 0) == 0)
      fs::rename(e.path(), dir / "away" / e.path().filename());

  auto refused = run_setlist(args);
  EXPECT_EQ(refused.exit_code, 3) << refused.err;
  EXPECT_NE(refused.err.find("it lacks 2 submissions"), std::string::npos) << refused.err;
  EXPECT_EQ(sim.stats().as_object().at("generate_accepted").as_int64(), 4);
}
