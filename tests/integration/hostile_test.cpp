// Hostile or broken servers: each protection has a test that fails without it.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "integration_support.hpp"

using namespace setlist::test;
namespace json = boost::json;

TEST(Hostile, HtmlPageInsteadOfAudioIsRefusedAndRetried) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(1));
  Sim sim(dir.path(), fast_sim_args({"--fault", "html/audio@n1"}));
  auto out = dir / "out";
  auto r = run_setlist(fast_run_args(sim, dir / "album.yaml", out, {"-v"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("not MP3 audio"), std::string::npos) << r.err;
  auto report = read_json(out / "report.json");
  auto stats = sim.stats();
  for (auto& c : report.at("songs").at(0).at("clips").as_array()) {
    // What was kept is the real audio, not the HTML page.
    EXPECT_EQ(c.at("audio").at("source_sha256"), stats.at("clips").at(c.at("id").as_string()).at("sha256"));
    auto head = read_file(out / std::string(c.at("audio").at("path").as_string())).substr(0, 3);
    EXPECT_EQ(head, "ID3");
  }
}

TEST(Hostile, MoreThanFiveRedirectsAreNotFollowed) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(1));
  Sim sim(dir.path(), fast_sim_args({"--fault", "redirect=6/audio@1"}));
  auto out = dir / "out";
  auto r = run_setlist(fast_run_args(sim, dir / "album.yaml", out, {"--retry-max-attempts", "2"}));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  auto report = read_json(out / "report.json");
  auto& song = report.at("songs").at(0).as_object();
  EXPECT_EQ(song.at("status").as_string(), "failed");
  EXPECT_NE(std::string(song.at("reason").as_string()).find("too many redirects (more than 5)"), std::string::npos)
      << song.at("reason");
}

TEST(Hostile, FiveRedirectsAreFollowed) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(1));
  Sim sim(dir.path(), fast_sim_args({"--fault", "redirect=5/audio@1"}));
  auto r = run_setlist(fast_run_args(sim, dir / "album.yaml", dir / "out"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
}
