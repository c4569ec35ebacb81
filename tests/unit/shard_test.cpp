// --shard I/N: parsing, and a partition by song id that never changes.
#include <gtest/gtest.h>

#include <set>

#include "setlist/shard.hpp"

namespace setlist {
namespace {

TEST(Shard, ParsesIndexOverCountAndAutoFromTheCompletionIndex) {
  auto s = parse_shard("2/5", nullptr);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->index, 2);
  EXPECT_EQ(s->count, 5);
  EXPECT_EQ(s->label(), "2/5");
  auto a = parse_shard("auto/4", "3");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->index, 3);
  EXPECT_EQ(a->count, 4);
  auto one = parse_shard("0/1", nullptr);
  ASSERT_TRUE(one);
  EXPECT_TRUE(one->owns("anything"));
}

TEST(Shard, RefusesWhatIsNotAShare) {
  for (const char* bad : {"", "3", "/4", "4/4", "5/4", "1/0", "-1/4", "a/4", "1/b", "1/4/2", "1/1000001"})
    EXPECT_FALSE(parse_shard(bad, nullptr)) << bad;
  auto unset = parse_shard("auto/4", nullptr);
  ASSERT_FALSE(unset);
  EXPECT_NE(unset.error().message.find("JOB_COMPLETION_INDEX"), std::string::npos) << unset.error().message;
  auto high = parse_shard("auto/4", "4");
  ASSERT_FALSE(high);
  EXPECT_NE(high.error().message.find("JOB_COMPLETION_INDEX=4"), std::string::npos) << high.error().message;
  EXPECT_FALSE(parse_shard("auto/4", "x"));
}

TEST(Shard, EverySongInExactlyOneShardAndSpreadEvenly) {
  const int n = 4;
  std::vector<int> per(n);
  for (int i = 0; i < 4000; ++i) {
    std::string id = "song-" + std::to_string(i);
    int owners = 0;
    for (int k = 0; k < n; ++k) owners += Shard{k, n}.owns(id) ? 1 : 0;
    EXPECT_EQ(owners, 1) << id;
    ++per[shard_of(id, n)];
  }
  for (int k = 0; k < n; ++k) EXPECT_NEAR(per[k], 1000, 150) << k;
}

// The partition is part of the on-disk contract (a shard's folder holds its
// songs across versions of setlist): SHA-256 of the id, first 8 bytes, mod N.
TEST(Shard, ThePartitionIsFixed) {
  EXPECT_EQ(shard_of("night-drive", 1), 0);
  // int(sha256(id)[:16 hex], 16) % N, as python3 -c computes it.
  EXPECT_EQ(shard_of("night-drive", 100), 68);
  EXPECT_EQ(shard_of("song-1", 4), 2);
}

TEST(Shard, LabelsRoundTrip) {
  auto s = shard_from_label("3/8");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->index, 3);
  EXPECT_EQ(s->count, 8);
  EXPECT_FALSE(shard_from_label(""));
  EXPECT_FALSE(shard_from_label("8/8"));
}

TEST(Shard, AlbumIdentityFollowsTheSongsAndTheAlbum) {
  auto a = album_identity("aimlapi", "T", "A", {"k1", "k2"});
  EXPECT_EQ(a, album_identity("aimlapi", "T", "A", {"k1", "k2"}));
  EXPECT_NE(a, album_identity("aimlapi", "T", "A", {"k2", "k1"}));
  EXPECT_NE(a, album_identity("sunoapi", "T", "A", {"k1", "k2"}));
  EXPECT_NE(a, album_identity("aimlapi", "T2", "A", {"k1", "k2"}));
  EXPECT_NE(album_identity("aimlapi", "Ta", "", {}), album_identity("aimlapi", "T", "a", {}));
}

}  // namespace
}  // namespace setlist
