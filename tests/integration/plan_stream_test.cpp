// `setlist plan` reads the songs one at a time (#20): on an album with state
// from a real run against setlist-sim, then edited, its table is the one the
// whole-manifest plan printed (taken from main's binary at 34edce7).
#include <gtest/gtest.h>

#include "integration_support.hpp"

using namespace setlist::test;

namespace {

// A song as album_yaml() writes it; `line` is its verse.
std::string song(const std::string& title, const std::string& line, int chorus) {
  return "  - title: " + title + "\n    lyrics: |\n      [Verse]\n      " + line +
         "\n      [Chorus]\n      We sing the chorus " + std::to_string(chorus) + "\n";
}

TEST(PlanStream, AnEditedAlbumWithStatePlansAsTheWholeManifestDid) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(5));
  auto out = dir / "out";
  {
    Sim sim(dir.path(), fast_sim_args());
    auto r = run_setlist(fast_run_args(sim, dir / "album.yaml", out));
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  // A new song in front, at the track of a song moved to the end: "new",
  // not "changed" (the song it would replace is still there, further down);
  // song 2 edited; song 4 dropped, a new one at its track; song 1 moved.
  write_file(dir / "edited.yaml", album_yaml(0, "  budget_tokens: 700000\n") +
                                      song("Song 6", "A new song in front", 6) +
                                      song("Song 2", "A rewritten line for song 2", 2) +
                                      song("Song 3", "Line one of song 3", 3) +
                                      song("Song 7", "Where song 4 was", 7) +
                                      song("Song 1", "Line one of song 1", 1));
  auto plan = run_setlist({"plan", (dir / "edited.yaml").string(), "-o", out.string()});
  ASSERT_EQ(plan.exit_code, 0) << plan.err;
  EXPECT_EQ(plan.out,
            "track  action             request                        tokens  title\n"
            "    1  new                POST /generate/custom-mode       200000  Song 6\n"
            "    2  changed            POST /generate/custom-mode       200000  Song 2\n"
            "    3  unchanged          -                                   0  Song 3\n"
            "    4  changed            POST /generate/custom-mode       200000  Song 7\n"
            "    5  renamed (free)     -                                   0  Song 1\n"
            "total: 3 generate request(s), 600000 tokens\n"
            "budget: 700000 tokens: fits\n");

  auto some = run_setlist({"plan", (dir / "edited.yaml").string(), "-o", out.string(), "--only",
                           "Song 1,Song 2,Song 3", "--regenerate", "Song 3"});
  ASSERT_EQ(some.exit_code, 0) << some.err;
  EXPECT_EQ(some.out,
            "track  action             request                        tokens  title\n"
            "    1  not selected       -                                   0  Song 6\n"
            "    2  changed            POST /generate/custom-mode       200000  Song 2\n"
            "    3  regenerate (paid)  POST /generate/custom-mode       200000  Song 3\n"
            "    4  not selected       -                                   0  Song 7\n"
            "    5  renamed (free)     -                                   0  Song 1\n"
            "total: 2 generate request(s), 400000 tokens\n"
            "regenerate: [03] Song 3 is bought again on purpose: 1 request(s), 200000 tokens; its earlier takes, if "
            "any, move to .setlist/superseded/\n"
            "budget: 700000 tokens: fits\n");
  // run --dry-run prints the same.
  auto dry = run_setlist({"run", (dir / "edited.yaml").string(), "-o", out.string(), "--dry-run", "--only",
                          "Song 1,Song 2,Song 3", "--regenerate", "Song 3"});
  EXPECT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_EQ(dry.out, some.out);
}

// An error in the manifest: nothing on stdout, the diagnostics on stderr.
TEST(PlanStream, AManifestWithAnAliasOfItsSongsListIsRefusedBeforeAnyRow) {
  TempDir dir;
  write_file(dir / "a.yaml",
             "album: {title: A}\nsongs: &all\n  - {title: One, lyrics: x}\n  - {title: Two, lyrics: y, tags: *all}\n");
  auto plan = run_setlist({"plan", (dir / "a.yaml").string(), "-o", (dir / "out").string()});
  EXPECT_EQ(plan.exit_code, 2);
  EXPECT_EQ(plan.out, "");
  EXPECT_NE(plan.err.find("a.yaml:4:35: error: the alias *all names the whole songs list"), std::string::npos)
      << plan.err;
}

}  // namespace
