// #19: `setlist report OUT --format md`, the Markdown summary for
// $GITHUB_STEP_SUMMARY, from state alone: album, counts, cost, a row per song,
// the failures with their reasons; it writes nothing.
#include <gtest/gtest.h>

#include <string>

#include "integration_support.hpp"

using namespace setlist::test;

TEST(ReportMarkdown, SummaryFromStateWithCostRowsAndFailuresWritesNothing) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(3));
  // The first clip made ends in error: its song fails (take A in error).
  Sim sim(dir.path(), fast_sim_args({"--real-audio", "--duration", "3s..3s", "--fault",
                                     "clip-error=contained artist name/clips@n1"}));
  auto out = dir / "out";
  auto r = run_setlist(fast_run_args(sim, dir / "album.yaml", out));
  ASSERT_EQ(r.exit_code, 1) << r.err;
  fs::remove(out / "report.json");

  auto md = run_setlist({"report", out.string(), "--format", "md"});
  ASSERT_EQ(md.exit_code, 0) << md.err;
  const std::string& s = md.out;
  EXPECT_EQ(s.rfind("### setlist: Test Album \xE2\x80\x94 Test Artist\n\n3 songs: 2 complete, 1 failed\n", 0), 0u) << s;
  EXPECT_NE(s.find("Cost: 600000 tokens by the last run, 600000 tokens for the album to date."), std::string::npos)
      << s;
  EXPECT_NE(s.find("| # | song | status | takes | duration | loudness | flags | reason |"), std::string::npos) << s;
  int complete_rows = 0;
  for (int track = 1; track <= 3; ++track) {
    auto at = s.find("\n| " + std::to_string(track) + " | Song ");
    ASSERT_NE(at, std::string::npos) << track << "\n" << s;
    auto row = s.substr(at + 1, s.find('\n', at + 1) - at - 1);
    if (row.find("| complete | 2 | ") != std::string::npos) {
      ++complete_rows;
      EXPECT_NE(row.find(" LUFS (A), "), std::string::npos) << row;  // each take's loudness
      EXPECT_NE(row.find(" (B) |"), std::string::npos) << row;
    } else {
      EXPECT_NE(row.find("| failed |"), std::string::npos) << row;
      EXPECT_NE(row.find("contained artist name"), std::string::npos) << row;
    }
  }
  EXPECT_EQ(complete_rows, 2);
  EXPECT_NE(s.find("Not complete:\n\n- **"), std::string::npos) << s;
  EXPECT_NE(s.find("(failed): "), std::string::npos) << s;
  EXPECT_FALSE(fs::exists(out / "report.json")) << "--format md writes nothing";

  auto bad = run_setlist({"report", out.string(), "--format", "pdf"});
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
}
