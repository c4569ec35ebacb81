// --only / --regenerate selectors: track numbers, ranges, ids, title globs,
// and an error naming every item that matched nothing.
#include <gtest/gtest.h>

#include "setlist/plan.hpp"

namespace setlist {
namespace {

const std::vector<SongRef> kSongs = {
    {1, "neon-on-the-wet-street", "Neon on the Wet Street"},
    {2, "streetlight-interlude", "Streetlight Interlude"},
    {3, "night-drive", "Night Drive"},
    {4, "neon-reprise", "Neon (Reprise)"},
    {5, "last-train", "Last Train"},
};

std::vector<int> tracks(const std::string& spec) {
  auto r = select_songs(kSongs, spec);
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  std::vector<int> out;
  if (!r) return out;
  for (std::size_t i = 0; i < kSongs.size(); ++i)
    if ((*r)[i]) out.push_back(kSongs[i].track);
  return out;
}

TEST(PlanSelect, TrackNumbersAndRanges) {
  EXPECT_EQ(tracks("3,5"), (std::vector<int>{3, 5}));
  EXPECT_EQ(tracks("2-4"), (std::vector<int>{2, 3, 4}));
  EXPECT_EQ(tracks(" 1 , 4-5 "), (std::vector<int>{1, 4, 5}));
}

TEST(PlanSelect, IdsExactTitlesAndGlobs) {
  EXPECT_EQ(tracks("night-drive"), (std::vector<int>{3}));
  EXPECT_EQ(tracks("last train"), (std::vector<int>{5}));  // an exact title, any case
  EXPECT_EQ(tracks("Neon*"), (std::vector<int>{1, 4}));
  EXPECT_EQ(tracks("*interlude"), (std::vector<int>{2}));  // globs ignore case
  EXPECT_EQ(tracks("night-*"), (std::vector<int>{3}));     // and match ids too
}

TEST(PlanSelect, AnItemMatchingNothingIsAnErrorNamingIt) {
  auto r = select_songs(kSongs, "2,9,Nope*,6-8", "--only");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("'9', 'Nope*', '6-8'"), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().message.find("'2'"), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().message.rfind("--only", 0), 0u) << r.error().message;
  auto empty = select_songs(kSongs, " , ", "--regenerate");
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().message.find("--regenerate names no song"), std::string::npos);
  EXPECT_FALSE(select_songs(kSongs, "night"));  // a partial id or title is not a match
}

}  // namespace
}  // namespace setlist
