#include <gtest/gtest.h>
#include <sqlite3.h>

#include "setlist/provider.hpp"
#include "setlist/state.hpp"
#include "test_support.hpp"

using namespace setlist;

TEST(State, IntentAckAndReopen) {
  test::TempDir dir;
  auto db = dir / "state.db";
  {
    auto s = StateStore::open(db);
    ASSERT_TRUE(s) << s.error().message;
    SongRow row;
    row.key = "k1";
    row.title = "One";
    row.track = 1;
    s.value()->upsert_song(row);
    auto id = s.value()->record_intent("k1", "k1", 1);
    EXPECT_EQ(s.value()->song("k1")->status, SongStatus::submitting);
    EXPECT_EQ(s.value()->dangling_intents().size(), 1u);
    Clip a, b;
    a.id = "ca";
    a.status = ClipStatus::submitted;
    b.id = "cb";
    b.status = ClipStatus::queued;
    s.value()->record_ack(id, {a, b});
  }
  auto s = StateStore::open(db);
  ASSERT_TRUE(s);
  auto song = s.value()->song("k1");
  ASSERT_TRUE(song);
  EXPECT_EQ(song->status, SongStatus::submitted);
  EXPECT_EQ(song->attempts, 1);
  EXPECT_TRUE(s.value()->dangling_intents().empty());
  auto clips = s.value()->clips("k1");
  ASSERT_EQ(clips.size(), 2u);
  EXPECT_EQ(clips[0].clip_id, "ca");
  EXPECT_EQ(clips[1].take, 1);
  EXPECT_EQ(clips[1].status, "queued");
}

TEST(State, CrashBetweenIntentAndAckLeavesADanglingIntent) {
  test::TempDir dir;
  auto db = dir / "state.db";
  {
    auto s = StateStore::open(db);
    SongRow row;
    row.key = "k";
    s.value()->upsert_song(row);
    s.value()->record_intent("k", "k", 1);
    // no ack: the process "dies" here
  }
  auto s = StateStore::open(db);
  auto d = s.value()->dangling_intents();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].song_key, "k");
  EXPECT_EQ(s.value()->song("k")->status, SongStatus::submitting);
}

TEST(State, RefusesANewerSchema) {
  test::TempDir dir;
  auto db = dir / "state.db";
  {
    sqlite3* h = nullptr;
    ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
    sqlite3_exec(h, "PRAGMA user_version=99", nullptr, nullptr, nullptr);
    sqlite3_close(h);
  }
  auto s = StateStore::open(db);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("schema version 99"), std::string::npos) << s.error().message;
}

TEST(State, UsesWalMode) {
  test::TempDir dir;
  auto db = dir / "state.db";
  auto s = StateStore::open(db);
  ASSERT_TRUE(s);
  sqlite3* h = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(h, "PRAGMA journal_mode", -1, &st, nullptr);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "wal");
  sqlite3_finalize(st);
  sqlite3_close(h);
}

TEST(RunLock, SecondHolderIsRefusedWithThePid) {
  test::TempDir dir;
  auto first = RunLock::acquire(dir.path());
  ASSERT_TRUE(first);
  // flock locks belong to the open file description: a second open conflicts even in-process.
  auto second = RunLock::acquire(dir.path());
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message.find("pid " + std::to_string(::getpid())), std::string::npos)
      << second.error().message;
}
