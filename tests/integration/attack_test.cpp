// Attacks on what #20 added (the settled shortcut, the journal's checkpoint,
// the paged report), with the real binaries against the simulator. Each test
// is a way found to make setlist do the wrong thing; see the comment of each.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <string>
#include <thread>

#include "integration_support.hpp"

using namespace setlist::test;
using namespace std::chrono_literals;

namespace {

bool said_unchanged(const RunResult& r) { return r.err.find("nothing to do:") != std::string::npos; }

// A 1x1 PNG (a manifest's album.cover).
std::string tiny_png() {
  static const unsigned char png[] = {
      0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00,
      0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x00, 0x00, 0x00, 0x90, 0x77, 0x53, 0xde, 0x00, 0x00, 0x00,
      0x0c, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0x00, 0x00, 0x03, 0x01, 0x01, 0x00, 0xc9,
      0xfe, 0x92, 0xef, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};
  return std::string(reinterpret_cast<const char*>(png), sizeof png);
}

}  // namespace

// OUT/cover.png (the manifest's album cover, copied by the reports) is a file
// of the album: deleted after the album settled, the next run must write it
// again (a full run does), not say "nothing to do" with report.html showing
// a missing picture.
TEST(Attack, AlbumCoverDeletedAfterTheAlbumSettledIsWrittenAgain) {
  TempDir dir;
  auto yaml = album_yaml(2);
  yaml.replace(yaml.find("  artist: Test Artist\n"), 22, "  artist: Test Artist\n  cover: cover.png\n");
  write_file(dir / "album.yaml", yaml);
  write_file(dir / "cover.png", tiny_png());
  Sim sim(dir.path(), fast_sim_args());
  auto out = dir / "out";
  auto args = fast_run_args(sim, dir / "album.yaml", out);
  ASSERT_EQ(run_setlist(args).exit_code, 0);
  ASSERT_EQ(read_file(out / "cover.png"), tiny_png());
  auto settled = run_setlist(args);
  ASSERT_EQ(settled.exit_code, 0) << settled.err;
  ASSERT_TRUE(said_unchanged(settled)) << settled.err;

  ASSERT_TRUE(fs::remove(out / "cover.png"));
  auto again = run_setlist(args);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_FALSE(said_unchanged(again)) << again.err;
  EXPECT_EQ(read_file(out / "cover.png"), tiny_png());
  // And once written again, the album settles again.
  EXPECT_TRUE(said_unchanged(run_setlist(args)));
}

// A take deleted while the run that finishes the album is ending (after it
// looked at that song, before it left its record): the record must not take
// the missing take as "found so" by that run, or every later run says
// "nothing to do" and the take is never fetched again (a full run fetches a
// vanished take again, free). The engine's teardown pause is the window.
TEST(Attack, ATakeDeletedAsTheRunEndsIsFetchedAgainByTheNextRun) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(2));
  Sim sim(dir.path(), fast_sim_args());
  auto out = dir / "out";
  auto args = fast_run_args(sim, dir / "album.yaml", out);
  const auto take = out / "01 - Song 1 (A).mp3";
  {
    auto p = start_setlist(dir, args, "ending", {{"SETLIST_TEST_FAULT", "teardown-pause"}});
    bool paused = false;
    for (int i = 0; i < 1200 && !paused; ++i) {
      std::this_thread::sleep_for(50ms);
      paused = p->err().find("test: teardown pause") != std::string::npos;
    }
    ASSERT_TRUE(paused) << p->err();
    ASSERT_TRUE(fs::remove(take)) << p->err();
    ASSERT_TRUE(p->wait(60s));
    ASSERT_EQ(p->exit_code(), 0) << p->err();
  }
  const auto generated = sim.stats().as_object().at("generate_accepted").as_int64();
  auto next = run_setlist(args);
  ASSERT_EQ(next.exit_code, 0) << next.err;
  EXPECT_FALSE(said_unchanged(next)) << next.err;
  EXPECT_TRUE(fs::exists(take)) << next.err;
  EXPECT_EQ(sim.stats().as_object().at("generate_accepted").as_int64(), generated);  // fetched, not bought
  EXPECT_TRUE(said_unchanged(run_setlist(args)));
}

// report-pages planted as a link to a folder outside OUT: the pages of a
// large album are never written through it (docs/security.md, "Files
// written in OUT": a link by that name is refused, never followed).
TEST(Attack, ReportPagesALinkIsNeverWrittenThrough) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(101));
  Sim sim(dir.path(), fast_sim_args({"--latency", "200ms", "--latency-jitter", "50ms", "--duration", "2s..2s"}));
  auto out = dir / "out";
  fs::create_directories(out);
  fs::create_directories(dir / "elsewhere");
  fs::create_directory_symlink(dir / "elsewhere", out / "report-pages");
  auto args = fast_run_args(sim, dir / "album.yaml", out,
                            {"--submit-rate", "200/s", "--submit-burst", "50", "--max-in-flight", "101"});
  auto r = run_setlist(args, {}, std::chrono::minutes(4));
  EXPECT_NE(r.err.find("refusing to write report pages into"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::is_empty(dir / "elsewhere")) << "a page was written through the link";
  // Nor by `setlist report`.
  auto rep = run_setlist({"report", out.string()});
  EXPECT_NE(rep.exit_code, 0) << rep.err;
  EXPECT_TRUE(fs::is_empty(dir / "elsewhere")) << "a page was written through the link by setlist report";
  // The link gone, the pages are written in OUT.
  fs::remove(out / "report-pages");
  auto fixed = run_setlist({"report", out.string()});
  EXPECT_EQ(fixed.exit_code, 0) << fixed.err;
  EXPECT_TRUE(fs::is_regular_file(out / "report-pages" / "page-002.html"));
}
