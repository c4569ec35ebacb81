#include <gtest/gtest.h>
#include <sqlite3.h>

#include <fstream>

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

// A refusal costs nothing: in the same durable transaction that closes the
// submission, a `submitting` song is pending again (a crash right after it
// cannot leave a song that looks possibly paid).
TEST(State, ARefusalPutsTheSubmittingSongBackToPending) {
  test::TempDir dir;
  auto s = StateStore::open(dir / "state.db");
  ASSERT_TRUE(s);
  SongRow row;
  row.key = "k";
  s.value()->upsert_song(row);
  auto id = s.value()->record_intent("k", "k", 1);
  EXPECT_EQ(s.value()->song("k")->status, SongStatus::submitting);
  s.value()->record_rejected(id, 429, "slow down");
  EXPECT_EQ(s.value()->song("k")->status, SongStatus::pending);
  auto facts = song_facts(*s.value(), "k", dir.path(), 1);
  EXPECT_EQ(facts.unanswered, 0);
  EXPECT_EQ(decide_resume(facts, {}).action, Resume::submit);
  // An answer that never came is different: uncertain, held.
  auto id2 = s.value()->record_intent("k", "k", 1);
  s.value()->record_uncertain(id2, "no answer");
  EXPECT_EQ(decide_resume(song_facts(*s.value(), "k", dir.path(), 1), {}).action, Resume::hold_uncertain);
}

// A database written by schema 1 opens as schema 2: the current attempt is
// the latest answered or open submission, as schema 1 read it.
TEST(State, MigratesASchemaOneDatabase) {
  test::TempDir dir;
  auto path = dir / "state.db";
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    const char* v1 = R"sql(
      CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE songs(song_key TEXT PRIMARY KEY, song_id TEXT NOT NULL DEFAULT '', title TEXT NOT NULL DEFAULT '',
        track INTEGER NOT NULL DEFAULT 0, status TEXT NOT NULL DEFAULT 'pending', reason TEXT NOT NULL DEFAULT '',
        attempts INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL DEFAULT 0, updated_at INTEGER NOT NULL DEFAULT 0,
        submitted_at INTEGER NOT NULL DEFAULT 0, completed_at INTEGER NOT NULL DEFAULT 0);
      CREATE TABLE submissions(id INTEGER PRIMARY KEY AUTOINCREMENT, song_key TEXT NOT NULL, payload_hash TEXT NOT NULL,
        state TEXT NOT NULL, http_status INTEGER NOT NULL DEFAULT 0, error TEXT NOT NULL DEFAULT '',
        created_at INTEGER NOT NULL, acked_at INTEGER NOT NULL DEFAULT 0);
      CREATE TABLE clips(clip_id TEXT PRIMARY KEY, song_key TEXT NOT NULL, submission_id INTEGER NOT NULL,
        take INTEGER NOT NULL, status TEXT NOT NULL, audio_url TEXT NOT NULL DEFAULT '', image_url TEXT NOT NULL DEFAULT '',
        duration REAL, error_message TEXT NOT NULL DEFAULT '', raw_json TEXT NOT NULL DEFAULT '',
        updated_at INTEGER NOT NULL DEFAULT 0);
      CREATE TABLE files(path TEXT PRIMARY KEY, song_key TEXT NOT NULL, clip_id TEXT NOT NULL DEFAULT '',
        kind TEXT NOT NULL, bytes INTEGER NOT NULL, sha256 TEXT NOT NULL, source_sha256 TEXT NOT NULL DEFAULT '',
        created_at INTEGER NOT NULL);
      INSERT INTO songs(song_key, status) VALUES('k', 'submitted');
      INSERT INTO submissions(song_key, payload_hash, state, created_at) VALUES('k', 'k', 'acked', 1);
      INSERT INTO submissions(song_key, payload_hash, state, created_at) VALUES('k', 'k', 'rejected', 2);
      INSERT INTO submissions(song_key, payload_hash, state, created_at) VALUES('k', 'k', 'acked', 3);
      INSERT INTO clips(clip_id, song_key, submission_id, take, status) VALUES('old-a', 'k', 1, 0, 'error');
      INSERT INTO clips(clip_id, song_key, submission_id, take, status) VALUES('new-a', 'k', 3, 0, 'queued');
      PRAGMA user_version=1;
    )sql";
    ASSERT_EQ(sqlite3_exec(db, v1, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    sqlite3_close(db);
  }
  auto s = StateStore::open(path);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s.value()->song("k")->attempt, 2);
  auto clips = s.value()->attempt_clips("k");
  ASSERT_EQ(clips.size(), 1u);
  EXPECT_EQ(clips[0].clip_id, "new-a");
  auto d = decide_resume(song_facts(*s.value(), "k", dir.path(), 1), {});
  EXPECT_EQ(d.action, Resume::fetch);
  EXPECT_EQ(d.paid_requests, 0);
  // v4 (#18): every submission gains a key fingerprint, empty for the old ones.
  for (auto& sub : s.value()->submissions("k")) EXPECT_EQ(sub.key_fp, "");
}

// Every receipt goes to the journal beside the database, and the journal
// alone rebuilds the submissions, answers and refusals (recover_state's core).
TEST(State, TheReceiptsJournalRebuildsWhatTheDatabaseHeld) {
  test::TempDir dir;
  auto setlist_dir = dir / ".setlist";
  std::filesystem::create_directories(setlist_dir);
  {
    auto s = StateStore::open(setlist_dir / "state.db");
    ASSERT_TRUE(s) << s.error().message;
    for (auto key : {"k1", "k2", "k3"}) {
      SongRow row;
      row.key = key;
      row.song_id = std::string("id-") + key;
      row.title = std::string("Title ") + key;
      row.track = key[1] - '0';
      s.value()->upsert_song(row);
    }
    Clip a;
    a.id = "clip-a";
    a.status = ClipStatus::queued;
    s.value()->record_ack(s.value()->record_intent("k1", "p1", 1, "k-0badcafe"), {a});
    s.value()->record_rejected(s.value()->record_intent("k2", "p2", 1), 429, "slow down");
    s.value()->record_intent("k3", "p3", 1);  // no answer: the process died here
  }
  auto j = read_journal(journal_path(dir.path()));
  EXPECT_EQ(j.bad_lines, 0);
  ASSERT_EQ(j.entries.size(), 5u);
  EXPECT_EQ(j.entries[0].kind, JournalEntry::Kind::intent);
  EXPECT_EQ(j.entries[0].title, "Title k1");
  EXPECT_EQ(j.entries[0].key_fp, "k-0badcafe");  // the pool's key it went out with (#18)
  EXPECT_EQ(j.entries[1].kind, JournalEntry::Kind::ack);
  EXPECT_EQ(j.entries[1].clip_ids, std::vector<std::string>{"clip-a"});
  EXPECT_EQ(j.entries[3].kind, JournalEntry::Kind::rejected);
  EXPECT_EQ(j.entries[3].http_status, 429);

  std::filesystem::remove(setlist_dir / "state.db");
  auto fresh = StateStore::open(setlist_dir / "state.db");
  ASSERT_TRUE(fresh);
  fresh.value()->apply_journal(j.entries, dir.path());
  auto subs = fresh.value()->all_submissions();
  ASSERT_EQ(subs.size(), 3u);
  EXPECT_EQ(subs[0].state, "acked");
  EXPECT_EQ(subs[0].key_fp, "k-0badcafe");
  EXPECT_EQ(subs[1].key_fp, "");
  EXPECT_EQ(subs[1].state, "rejected");
  EXPECT_EQ(subs[2].state, "intent");
  EXPECT_EQ(fresh.value()->song("k1")->status, SongStatus::submitted);
  EXPECT_EQ(fresh.value()->song("k1")->title, "Title k1");
  EXPECT_EQ(fresh.value()->song("k2")->status, SongStatus::pending);
  EXPECT_EQ(fresh.value()->song("k3")->status, SongStatus::submitting);  // the next run calls it uncertain
  EXPECT_TRUE(fresh.value()->has_clip("clip-a"));
  // Applying the same journal again changes nothing.
  fresh.value()->apply_journal(j.entries, dir.path());
  EXPECT_EQ(fresh.value()->all_submissions().size(), 3u);
  EXPECT_EQ(fresh.value()->song("k1")->attempts, 1);
}

TEST(State, RefusesAnotherProgramsDatabase) {
  test::TempDir dir;
  auto db = dir / "state.db";
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, "CREATE TABLE notes(t TEXT)", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(raw);
  auto s = StateStore::open(db);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("not a setlist state database"), std::string::npos) << s.error().message;
  // Nothing of setlist's was added to it.
  ASSERT_EQ(sqlite3_open(db.c_str(), &raw), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(raw, "SELECT count(*) FROM sqlite_master WHERE name='songs'", -1, &st, nullptr);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), 0);
  sqlite3_finalize(st);
  sqlite3_close(raw);
}

// A line torn by a crash stays one bad line: the next receipt is on its own line.
TEST(State, AReceiptAfterATornJournalLineStartsALineOfItsOwn) {
  test::TempDir dir;
  {
    auto s = StateStore::open(dir / "state.db");
    ASSERT_TRUE(s);
    SongRow row;
    row.key = "k1";
    s.value()->upsert_song(row);
    s.value()->record_intent("k1", "p1", 1);
  }
  {
    std::ofstream j(dir / "receipts.jsonl", std::ios::app);
    j << "{\"v\":1,\"e\":\"ack\",\"sub\":1,\"so";
  }
  {
    auto s = StateStore::open(dir / "state.db");
    ASSERT_TRUE(s);
    SongRow row;
    row.key = "k2";
    s.value()->upsert_song(row);
    s.value()->record_intent("k2", "p2", 1);
  }
  auto j = read_journal(dir / "receipts.jsonl");
  EXPECT_EQ(j.bad_lines, 1);
  ASSERT_EQ(j.entries.size(), 2u);
  EXPECT_EQ(j.entries[1].song_key, "k2");
  EXPECT_EQ(j.entries[1].kind, JournalEntry::Kind::intent);
}

// #20: group commit. Gathered writes are invisible to another connection
// (a crash would lose them) until commit_writes, a write that records money
// commits them first and itself at once, and the store's end keeps them.
TEST(State, GroupCommitGathersWritesButNeverAReceipt) {
  test::TempDir dir;
  const auto db = dir / "state.db";
  auto other = [&](const char* sql) {  // what a second process would read
    sqlite3* h = nullptr;
    EXPECT_EQ(sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(h, sql, -1, &st, nullptr), SQLITE_OK);
    std::string v = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0)
                        ? reinterpret_cast<const char*>(sqlite3_column_text(st, 0))
                        : "";
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
  };
  {
    auto s = StateStore::open(db);
    ASSERT_TRUE(s);
    auto& st = *s.value();
    SongRow row;
    row.key = "k1";
    st.upsert_song(row);  // before the group: committed at once
    st.batch_writes(true);
    st.set_song_status("k1", SongStatus::failed, "gathered");
    FileRow f;
    f.path = "a.mp3";
    f.song_key = "k1";
    f.kind = "audio";
    st.record_file(f);
    EXPECT_EQ(other("SELECT status FROM songs WHERE song_key='k1'"), "pending");
    EXPECT_EQ(other("SELECT COUNT(*) FROM files"), "0");
    EXPECT_EQ(st.song("k1")->status, SongStatus::failed);  // its own connection sees them
    st.commit_writes();
    EXPECT_EQ(other("SELECT status FROM songs WHERE song_key='k1'"), "failed");
    EXPECT_EQ(other("SELECT COUNT(*) FROM files"), "1");

    st.set_song_status("k1", SongStatus::pending, "again");
    EXPECT_EQ(other("SELECT reason FROM songs WHERE song_key='k1'"), "gathered");
    const auto id = st.record_intent("k1", "p1", 1);  // money: it and all before it, now
    EXPECT_EQ(other("SELECT COUNT(*) FROM submissions WHERE state='intent'"), "1");
    EXPECT_EQ(other("SELECT reason FROM songs WHERE song_key='k1'"), "");
    st.set_song_status("k1", SongStatus::failed, "after the intent");
    EXPECT_EQ(other("SELECT status FROM songs WHERE song_key='k1'"), "submitting");
    st.record_ack(id, {});
    EXPECT_EQ(other("SELECT state FROM submissions"), "acked");
    st.set_song_status("k1", SongStatus::complete, "");
    EXPECT_EQ(other("SELECT status FROM songs WHERE song_key='k1'"), "submitted");
  }  // the store's end commits what gathered
  EXPECT_EQ(other("SELECT status FROM songs WHERE song_key='k1'"), "complete");
}

// #20: the journal is read a block at a time, never whole: receipts that
// straddle the blocks, a start in the middle, a torn last line and the raw
// line filter all come out as read_journal always said.
TEST(State, TheJournalIsScannedOneReceiptAtATimeAcrossBlocks) {
  test::TempDir dir;
  const auto file = dir / "receipts.jsonl";
  std::vector<std::uint64_t> starts;  // where each receipt's line begins
  {
    std::ofstream j(file, std::ios::binary);
    std::uint64_t at = 0;
    for (int i = 1; i <= 3000; ++i) {  // about 0.4 MB: several 64 KiB blocks
      starts.push_back(at);
      const std::string key = "song-" + std::to_string(i) + std::string(static_cast<std::size_t>(i % 97), 'x');
      const std::string line =
          i % 3 == 0 ? R"({"v":1,"e":"file","song":")" + key + R"(","path":"f)" + std::to_string(i) + "\"}\n"
                     : R"({"v":1,"e":"intent","sub":)" + std::to_string(i) + R"(,"song":")" + key +
                           R"(","payload":"p"})" + "\n";
      j << line;
      at += line.size();
    }
    j << "{\"v\":1,\"e\":\"ack\",\"sub\":1,\"so";  // torn: a crash mid-line
  }
  const auto whole = std::filesystem::file_size(file);
  std::vector<std::string> keys;
  auto scan = scan_journal(file, 0, [&](JournalEntry&& e) { keys.push_back(e.song_key); });
  ASSERT_EQ(keys.size(), 3000u);
  for (int i = 1; i <= 3000; ++i)
    ASSERT_EQ(keys[static_cast<std::size_t>(i - 1)].substr(0, 5 + std::to_string(i).size()),
              "song-" + std::to_string(i));
  EXPECT_EQ(scan.bad_lines, 1);
  EXPECT_LT(scan.end, whole);  // the torn line is not part of what was read
  EXPECT_EQ(whole - scan.end, std::string("{\"v\":1,\"e\":\"ack\",\"sub\":1,\"so").size());

  // From the start of receipt 2001 on: the same receipts as read_journal's.
  const auto from = starts[2000];
  auto j = read_journal(file, from);
  std::vector<std::string> later;
  auto part = scan_journal(file, from, [&](JournalEntry&& e) { later.push_back(e.song_key); });
  ASSERT_EQ(later.size(), 1000u);
  ASSERT_EQ(j.entries.size(), 1000u);
  for (std::size_t i = 0; i < later.size(); ++i) {
    ASSERT_EQ(later[i], keys[2000 + i]);
    ASSERT_EQ(j.entries[i].song_key, keys[2000 + i]);
  }
  EXPECT_EQ(j.entries.front().kind, JournalEntry::Kind::file);  // receipt 2001
  EXPECT_EQ(j.entries[1].submission, 2002);
  EXPECT_EQ(part.end, scan.end);
  EXPECT_EQ(j.end, scan.end);

  // A filter declines file receipts before they are parsed.
  int files = 0, intents = 0;
  scan_journal(
      file, 0,
      [&](JournalEntry&& e) { ++(e.kind == JournalEntry::Kind::file ? files : intents); },
      [](std::string_view line) { return line.find("\"e\":\"file\"") == std::string_view::npos; });
  EXPECT_EQ(files, 0);
  EXPECT_EQ(intents, 2000);
}

// #19: the analysis of each take, in schema v3's own table; a v2 database
// gains the table when opened.
TEST(State, AnalysisRowsRoundTripAndOlderDatabasesGainTheTable) {
  test::TempDir dir;
  auto db = dir / "state.db";
  {
    auto s = StateStore::open(db);
    ASSERT_TRUE(s) << s.error().message;
    AnalysisRow r;
    r.clip_id = "clip-1";
    r.song_key = "song-1";
    r.source_sha256 = "abc";
    r.audio.integrated_lufs = -14.25;
    r.audio.loudness_range_lu = 3.5;
    r.audio.true_peak = 0.9;
    r.audio.sample_peak = 0.8;
    r.audio.duration_seconds = 181.5;
    r.audio.sample_rate = 48000;
    r.audio.channels = 2;
    r.audio.longest_silence_seconds = 0.25;
    r.audio.clipped_runs = 12;
    r.audio.waveform = {0.0f, 0.5f, 0.25f};
    r.audio.blocks.add(-14.25);  // mid-bin values: bin = floor((L + 70) / 0.1)
    r.audio.blocks.add(-14.25);
    r.audio.blocks.add(-20.05);
    r.flags = {"silent", "clipped"};
    (*s)->record_analysis(r);
    AnalysisRow silent;
    silent.clip_id = "clip-2";
    silent.song_key = "song-1";
    (*s)->record_analysis(silent);
  }
  auto s = StateStore::open(db);
  ASSERT_TRUE(s) << s.error().message;
  auto rows = (*s)->analyses("song-1");
  ASSERT_EQ(rows.size(), 2u);
  auto& r = rows[0];
  EXPECT_EQ(r.clip_id, "clip-1");
  EXPECT_EQ(r.source_sha256, "abc");
  EXPECT_EQ(r.audio.integrated_lufs, -14.25);
  EXPECT_EQ(r.audio.true_peak, 0.9);
  EXPECT_EQ(r.audio.duration_seconds, 181.5);
  EXPECT_EQ(r.audio.channels, 2);
  EXPECT_EQ(r.audio.clipped_runs, 12u);
  EXPECT_EQ(r.audio.waveform, (std::vector<float>{0.0f, 0.5f, 0.25f}));
  EXPECT_EQ(r.audio.blocks.bins, (std::map<int, std::uint32_t>{{557, 2}, {499, 1}}));
  EXPECT_EQ(r.flags, (std::vector<std::string>{"silent", "clipped"}));
  EXPECT_FALSE(rows[1].audio.integrated_lufs);
  EXPECT_TRUE(rows[1].flags.empty());
  EXPECT_TRUE((*s)->analyses("other").empty());
  EXPECT_EQ((*s)->analyses().size(), 2u);

  // A schema-2 database (no analysis table) is migrated on open.
  auto old = dir / "old.db";
  {
    auto s2 = StateStore::open(old);
    ASSERT_TRUE(s2);
  }
  sqlite3* h = nullptr;
  ASSERT_EQ(sqlite3_open(old.c_str(), &h), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(h, "DROP TABLE analysis; PRAGMA user_version=2;", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(h);
  auto s3 = StateStore::open(old);
  ASSERT_TRUE(s3) << s3.error().message;
  EXPECT_TRUE((*s3)->analyses().empty());
  AnalysisRow again;
  again.clip_id = "c";
  again.song_key = "k";
  (*s3)->record_analysis(again);
  EXPECT_EQ((*s3)->analyses("k").size(), 1u);
}

// #19: the run timeline, in schema v5's own table; a v4 database gains it.
TEST(State, TimelineRowsRoundTripAndAV4DatabaseGainsTheTable) {
  test::TempDir dir;
  auto db = dir / "state.db";
  {
    auto s = StateStore::open(db);
    ASSERT_TRUE(s) << s.error().message;
    (*s)->record_timeline({100, "", "run", 100, 0, ""});
    (*s)->record_timeline({100, "k1", "429", 150, 2000, "HTTP 429"});
    (*s)->record_timeline({200, "k1", "tag", 250, 30, "A"});
  }
  auto s = StateStore::open(db);
  ASSERT_TRUE(s) << s.error().message;
  auto rows = (*s)->timeline();
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[1].run, 100);
  EXPECT_EQ(rows[1].song_key, "k1");
  EXPECT_EQ(rows[1].kind, "429");
  EXPECT_EQ(rows[1].at, 150);
  EXPECT_EQ(rows[1].ms, 2000);
  EXPECT_EQ(rows[1].detail, "HTTP 429");
  EXPECT_EQ(rows[2].run, 200);

  auto old = dir / "v3.db";
  {
    auto s3 = StateStore::open(old);
    ASSERT_TRUE(s3);
    SongRow row;
    row.key = "k";
    row.title = "T";
    (*s3)->upsert_song(row);
  }
  sqlite3* h = nullptr;
  ASSERT_EQ(sqlite3_open(old.c_str(), &h), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(h, "DROP TABLE timeline; PRAGMA user_version=4;", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(h);
  auto s4 = StateStore::open(old);
  ASSERT_TRUE(s4) << s4.error().message;
  EXPECT_TRUE((*s4)->timeline().empty());
  EXPECT_TRUE((*s4)->song("k"));
  (*s4)->record_timeline({1, "k", "submit", 1, 0, ""});
  EXPECT_EQ((*s4)->timeline().size(), 1u);
  int version = 0;
  ASSERT_EQ(sqlite3_open(old.c_str(), &h), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(h, "PRAGMA user_version", -1, &st, nullptr);
  if (sqlite3_step(st) == SQLITE_ROW) version = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(h);
  EXPECT_EQ(version, StateStore::schema_version);
}
