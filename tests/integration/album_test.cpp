// The walking skeleton end to end: the real binaries, real HTTP on loopback.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <regex>
#include <sstream>

#include "integration_support.hpp"

using namespace setlist::test;
namespace json = boost::json;

namespace {

// Every file under `dir`, recursively.
std::vector<fs::path> all_files(const fs::path& dir) {
  std::vector<fs::path> out;
  for (auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) out.push_back(e.path());
  return out;
}

}  // namespace

TEST(Album, FiveSongsEndToEndMatchReportAndSimulator) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(5));
  Sim sim(dir.path(), fast_sim_args());
  auto out = dir / "out";
  auto r = run_setlist(fast_run_args(sim, dir / "album.yaml", out));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;

  auto report = read_json(out / "report.json").as_object();
  EXPECT_EQ(report.at("schema_version").as_int64(), 1);
  auto& songs = report.at("songs").as_array();
  ASSERT_EQ(songs.size(), 5u);
  auto stats = sim.stats().as_object();
  auto& sim_clips = stats.at("clips").as_object();
  std::set<std::string> paths;
  for (std::size_t i = 0; i < songs.size(); ++i) {
    auto& s = songs[i].as_object();
    EXPECT_EQ(s.at("title").as_string(), "Song " + std::to_string(i + 1));
    EXPECT_EQ(s.at("status").as_string(), "complete");
    auto& clips = s.at("clips").as_array();
    ASSERT_EQ(clips.size(), 2u);
    for (auto& cv : clips) {
      auto& c = cv.as_object();
      auto& audio = c.at("audio").as_object();
      std::string rel(audio.at("path").as_string());
      EXPECT_FALSE(fs::path(rel).is_absolute());
      auto file = out / rel;
      ASSERT_TRUE(fs::exists(file)) << rel;
      std::string bytes = read_file(file);
      EXPECT_EQ(bytes.size(), audio.at("bytes").as_int64()) << rel;
      EXPECT_EQ(sha256_hex(bytes), audio.at("sha256").as_string()) << rel;
      // The bytes are exactly what the simulator generated for this clip.
      std::string id(c.at("id").as_string());
      ASSERT_TRUE(sim_clips.contains(id)) << id;
      EXPECT_EQ(audio.at("source_sha256").as_string(), sim_clips.at(id).as_object().at("sha256").as_string());
      EXPECT_TRUE(paths.insert(rel).second) << "two clips share " << rel;
      auto& cover = c.at("cover").as_object();
      EXPECT_EQ(sha256_file(out / std::string(cover.at("path").as_string())), cover.at("sha256").as_string());
    }
  }
  EXPECT_EQ(stats.at("generate_requests").as_int64(), 5);
  EXPECT_EQ(stats.at("duplicate_submissions").as_int64(), 0);
  EXPECT_EQ(report.at("run").at("tokens_charged").as_int64(), stats.at("tokens_charged").as_int64());
}

TEST(Album, RerunOfACompleteAlbumSendsNoRequest) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(3));
  Sim sim(dir.path(), fast_sim_args());
  auto out = dir / "out";
  auto first = run_setlist(fast_run_args(sim, dir / "album.yaml", out));
  ASSERT_EQ(first.exit_code, 0) << first.err;
  auto before = sim.stats().as_object().at("requests_total").as_int64();
  auto second = run_setlist(fast_run_args(sim, dir / "album.yaml", out));
  ASSERT_EQ(second.exit_code, 0) << second.err;
  // Only our own stats request in between.
  EXPECT_EQ(sim.stats().as_object().at("requests_total").as_int64(), before + 1);
  EXPECT_EQ(sim.stats().as_object().at("generate_requests").as_int64(), 3);
}

TEST(Album, TheKeyNeverAppearsInOutputOrFiles) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(2));
  Sim sim(dir.path(), fast_sim_args({"--log"}));
  auto out = dir / "out";
  auto r = run_setlist(fast_run_args(sim, dir / "album.yaml", out, {"-v"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ((r.out + r.err).find(kTestKey), std::string::npos);
  for (auto& f : all_files(out)) EXPECT_EQ(read_file(f).find(kTestKey), std::string::npos) << f;
}

TEST(Album, MissingKeyCannotRunAndSendsNothing) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(1));
  Sim sim(dir.path(), fast_sim_args());
  auto r = run_setlist(fast_run_args(sim, dir / "album.yaml", dir / "out"), {{"AIML_API_KEY", "\x01unset"}});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("no API key: set AIML_API_KEY"), std::string::npos) << r.err;
  EXPECT_EQ(sim.stats().as_object().at("requests_total").as_int64(), 0);
}

TEST(Album, ManifestErrorExitsTwoAndSendsNothing) {
  TempDir dir;
  write_file(dir / "album.yaml", "album:\n  title: X\nsongs:\n  - lyrics: no title here\n");
  Sim sim(dir.path(), fast_sim_args());
  auto r = run_setlist(fast_run_args(sim, dir / "album.yaml", dir / "out"));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("album.yaml:4:"), std::string::npos) << r.err;
  EXPECT_EQ(sim.stats().as_object().at("requests_total").as_int64(), 0);
}

TEST(Album, JsonLogFormatIsOneObjectPerLine) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(2));
  Sim sim(dir.path(), fast_sim_args());
  auto r = run_setlist(fast_run_args(sim, dir / "album.yaml", dir / "out", {"--log-format", "json"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.err);
  std::string line;
  std::map<std::string, int> events;
  json::object summary;
  while (std::getline(lines, line)) {
    auto v = json::parse(line);  // throws (fails the test) on any non-JSON line
    auto& o = v.as_object();
    events[std::string(o.at("event").as_string())]++;
    if (o.at("event") == "summary") summary = o;
  }
  EXPECT_EQ(events["submitted"], 2);
  EXPECT_EQ(events["done"], 2);
  EXPECT_EQ(events["summary"], 1);
  EXPECT_EQ(summary.at("counts").at("complete").as_int64(), 2);
}

TEST(Album, PlanPredictsWhatTheRunCharges) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(4));
  Sim sim(dir.path(), fast_sim_args());
  auto out = dir / "out";
  auto plan = run_setlist({"plan", (dir / "album.yaml").string(), "-o", out.string()});
  ASSERT_EQ(plan.exit_code, 0) << plan.err;
  EXPECT_NE(plan.out.find("total: 4 generate request(s), 800000 tokens"), std::string::npos) << plan.out;
  EXPECT_FALSE(fs::exists(out)) << "plan must not write anything";
  ASSERT_EQ(run_setlist(fast_run_args(sim, dir / "album.yaml", out)).exit_code, 0);
  EXPECT_EQ(sim.stats().as_object().at("tokens_charged").as_int64(), 800000);

  // After the run: nothing left to pay for; an edited song is "changed".
  std::string y = album_yaml(4);
  y.replace(y.find("Line one of song 3"), 18, "Another first line");
  write_file(dir / "album.yaml", y);
  auto again = run_setlist({"plan", (dir / "album.yaml").string(), "-o", out.string(), "--budget-tokens", "100000"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("total: 1 generate request(s), 200000 tokens"), std::string::npos) << again.out;
  // Whole table cells: "unchanged" alone would also match a search for "changed".
  EXPECT_NE(again.out.find("    3  changed "), std::string::npos) << again.out;
  EXPECT_NE(again.out.find("    1  unchanged "), std::string::npos) << again.out;
  EXPECT_EQ(again.out.find("    1  changed "), std::string::npos) << again.out;
  EXPECT_NE(again.out.find("does NOT fit"), std::string::npos) << again.out;
}

TEST(Album, TheKeyGoesToTheApiOnlyNeverToTheCdnOrItsRedirects) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(2));
  // The CDN on another host name (localhost vs 127.0.0.1), with redirects before the bytes.
  Sim sim(dir.path(), fast_sim_args({"--cdn-host", "localhost", "--fault", "redirect=2/audio@1"}));
  auto r = run_setlist(fast_run_args(sim, dir / "album.yaml", dir / "out"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto stats = sim.stats().as_object();
  EXPECT_GT(stats.at("requests").as_object().at("CDN /audio").as_object().size(), 0u);
  EXPECT_EQ(stats.at("cdn_requests_with_authorization").as_int64(), 0);
  EXPECT_EQ(stats.at("unauthorized").as_int64(), 0);  // and every API request carried it
}

TEST(Album, ValidateSpeaksJsonForMachines) {
  TempDir dir;
  write_file(dir / "album.yaml", "album:\n  title: X\nsongs:\n  - title: A\n    lyric: typo\n");
  auto r = run_setlist({"validate", (dir / "album.yaml").string(), "--format", "json"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  auto doc = json::parse(r.out).as_object();
  EXPECT_EQ(doc.at("ok").as_bool(), false);
  ASSERT_GE(doc.at("diagnostics").as_array().size(), 1u);
  bool typo = false;
  for (auto& d : doc.at("diagnostics").as_array())
    if (d.at("line").as_int64() == 5 && std::string(d.at("hint").as_string()).find("lyrics") != std::string::npos)
      typo = true;
  EXPECT_TRUE(typo) << r.out;
  auto ok = run_setlist({"validate", (source_dir() / "jobs" / "demo-album.yaml").string(), "--format", "json"});
  EXPECT_EQ(ok.exit_code, 0);
  EXPECT_EQ(json::parse(ok.out).at("errors").as_int64(), 0);
}

TEST(Album, PlanOfTheDemoAlbumIsWhatTheSimulatorCharges) {
  TempDir dir;
  auto demo = source_dir() / "jobs" / "demo-album.yaml";
  auto out = dir / "out";
  auto plan = run_setlist({"plan", demo.string(), "-o", out.string()});
  ASSERT_EQ(plan.exit_code, 0) << plan.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(plan.out, m, std::regex("total: ([0-9]+) generate request\\(s\\), ([0-9]+) tokens")))
      << plan.out;
  Sim sim(dir.path(), fast_sim_args());
  auto r = run_setlist(fast_run_args(sim, demo, out));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto stats = sim.stats().as_object();
  EXPECT_EQ(std::to_string(stats.at("generate_requests").as_int64()), m[1].str());
  EXPECT_EQ(std::to_string(stats.at("tokens_charged").as_int64()), m[2].str());
}
