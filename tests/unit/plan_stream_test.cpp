// plan_each (#20): the plan of a manifest read one song at a time
// (LoadResult::songs, keep_songs false) is make_plan's on the whole
// manifest, song for song and in manifest order, with the same totals.
#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

#include "setlist/manifest.hpp"
#include "setlist/plan.hpp"
#include "setlist/settings.hpp"
#include "test_support.hpp"

namespace setlist {
namespace {

using test::TempDir;

// Ids derived from titles that must steer clear of explicit ids further
// down, tracks out of order, defaults, a description song, two takes.
const std::string kManifest =
    "album: {title: Streams}\n"
    "defaults: {tags: [dream pop], model: chirp-v3-5}\n"
    "songs:\n"
    "  - {title: Night Drive, lyrics: \"[Verse] one\"}\n"
    "  - {title: Night Drive, lyrics: \"[Verse] two\", track: 9}\n"
    "  - {title: Interlude, description: soft rain piano, make_instrumental: true, takes: 2}\n"
    "  - {title: Last Call, lyrics: \"[Verse] three\", id: night-drive}\n"
    "  - {title: Night Drive 2, lyrics: \"[Verse] four\", id: night-drive-3, tags: rock}\n";

using Row = std::tuple<int, std::string, std::string, std::string, std::string, std::string, int, long long, bool>;

Row row(const PlannedSong& p) {
  return {p.song->track, p.song->title, p.song->id, p.key,         p.action,
          p.route,       p.generate_requests, p.tokens, p.selected};
}

Settings settings_of(const Manifest& m) {
  std::vector<std::string> errors;
  auto rs = resolve_settings(&m, [](const std::string&) { return std::optional<std::string>(); }, {}, errors);
  EXPECT_TRUE(errors.empty());
  return rs.values;
}

Error error(std::string message) {
  Error e;
  e.kind = ErrorKind::io;
  e.message = std::move(message);
  return e;
}

SongSource source(const LoadResult& r) {
  return [&r](const std::function<void(const Song&)>& each) -> Status {
    if (auto d = r.songs(each)) return error(d->format());
    return Ok{};
  };
}

TEST(PlanStream, PlanEachOnTheSongsReadAgainIsMakePlanOnTheWholeManifest) {
  TempDir dir;
  auto whole = parse_manifest(kManifest, "a.yaml", dir.path());
  ASSERT_TRUE(whole.ok());
  EXPECT_FALSE(whole.songs) << "songs kept: nothing to read again";
  LoadOptions lo;
  lo.keep_songs = false;
  auto streamed = parse_manifest(kManifest, "a.yaml", dir.path(), lo);
  ASSERT_TRUE(streamed.ok());
  ASSERT_TRUE(streamed.songs);

  for (int variant = 0; variant < 3; ++variant) {
    PlanOptions po;
    if (variant == 1) po.only = {"night-drive-2", "interlude"};
    if (variant == 2) po.shard = Shard{0, 2};
    auto settings = settings_of(*whole.manifest);
    auto expected = make_plan(*whole.manifest, settings, dir / "out", po);
    ASSERT_TRUE(expected) << expected.error().message;
    std::vector<Row> want, got;
    for (auto& p : expected->songs) want.push_back(row(p));
    auto totals = plan_each(source(streamed), settings, dir / "out", po,
                            [&](const PlannedSong& p) { got.push_back(row(p)); });
    ASSERT_TRUE(totals) << totals.error().message;
    EXPECT_EQ(got, want) << "variant " << variant;
    EXPECT_TRUE(totals->songs.empty());
    EXPECT_EQ(totals->generate_requests, expected->generate_requests);
    EXPECT_EQ(totals->tokens, expected->tokens);
    EXPECT_EQ(totals->fits_budget, expected->fits_budget);
  }
}

TEST(PlanStream, TheCallbackSeesTheSongsInManifestOrderWithTheirIds) {
  TempDir dir;
  LoadOptions lo;
  lo.keep_songs = false;
  auto streamed = parse_manifest(kManifest, "a.yaml", dir.path(), lo);
  ASSERT_TRUE(streamed.ok());
  std::vector<std::tuple<int, std::string, std::string>> seen;
  auto totals = plan_each(source(streamed), settings_of(*streamed.manifest), dir / "out", PlanOptions{},
                          [&](const PlannedSong& p) { seen.emplace_back(p.song->track, p.song->title, p.song->id); });
  ASSERT_TRUE(totals) << totals.error().message;
  // The order written, not the tracks' (9 comes second); derived ids skip
  // "night-drive" and "night-drive-3", given by later songs.
  EXPECT_EQ(seen, (std::vector<std::tuple<int, std::string, std::string>>{
                      {1, "Night Drive", "night-drive-2"},
                      {9, "Night Drive", "night-drive-4"},
                      {3, "Interlude", "interlude"},
                      {4, "Last Call", "night-drive"},
                      {5, "Night Drive 2", "night-drive-3"}}));
  // One request a song (chirp-v3-5 makes two clips a request: takes 2 is one).
  EXPECT_EQ(totals->generate_requests, 5);
}

TEST(PlanStream, AnErrorReadingTheSongsIsPlanEachsError) {
  TempDir dir;
  SongSource failing = [](const std::function<void(const Song&)>& each) -> Status {
    Song s;
    s.title = "Only";
    s.id = "only";
    s.lyrics = "[Verse] x";
    s.track = 1;
    each(s);
    return error("the manifest read differently the second time");
  };
  Manifest m;
  int calls = 0;
  auto totals = plan_each(failing, settings_of(m), dir / "out", PlanOptions{}, [&](const PlannedSong&) { ++calls; });
  ASSERT_FALSE(totals);
  EXPECT_EQ(totals.error().message, "the manifest read differently the second time");
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace setlist
