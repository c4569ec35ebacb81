// State that cannot be trusted: a lost, emptied, damaged, foreign, read-only
// or stale state.db stops the run before anything is sent, and
// `setlist recover` rebuilds it from the receipts journal, the clip files and
// the takes' tags, so that the next run buys nothing again.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <fstream>
#include <thread>

#include "integration_support.hpp"

using namespace setlist::test;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

long accepted(const Sim& sim) { return sim.stats().as_object().at("generate_accepted").as_int64(); }

// A copy that keeps modification times: setlist repairs files whose mtime changed.
void copy_album(const fs::path& from, const fs::path& to) {
  auto r = run({"/bin/cp", "-a", from.string(), to.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

void overwrite(const fs::path& file, std::uintmax_t offset, const std::string& bytes) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void remove_db(const fs::path& out) {
  for (const char* s : {"state.db", "state.db-wal", "state.db-shm"}) fs::remove(out / ".setlist" / s);
}

struct Damage {
  const char* name;
  void (*apply)(const fs::path& out);
  const char* says;  // in the refusal
};

void PrintTo(const Damage& d, std::ostream* os) { *os << d.name; }

const Damage kDamages[] = {
    {"Truncated", [](const fs::path& out) { fs::resize_file(out / ".setlist" / "state.db", 0); }, "is empty"},
    {"Deleted", remove_db, "is missing"},
    {"HeaderOverwritten",
     [](const fs::path& out) { overwrite(out / ".setlist" / "state.db", 0, std::string(64, 'x')); },
     "not an SQLite database"},
    {"PagesOverwritten",
     [](const fs::path& out) {
       // The first page (header, schema) intact; every later page garbage.
       auto db = out / ".setlist" / "state.db";
       auto size = fs::file_size(db);
       ASSERT_GT(size, 8192u);
       overwrite(db, 4096, std::string(size - 4096, '\x5a'));
     },
     "damaged"},
    {"Foreign",
     [](const fs::path& out) {
       remove_db(out);
       auto r = run({"/usr/bin/python3", "-c",
                     "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('create table notes(t)'); "
                     "c.commit()",
                     (out / ".setlist" / "state.db").string()});
       ASSERT_EQ(r.exit_code, 0) << r.err;
     },
     "not a setlist state database"},
    {"WholeSetlistFolderDeleted", [](const fs::path& out) { fs::remove_all(out / ".setlist"); },
     "takes tagged by setlist"},
};

class RecoverDamage : public testing::TestWithParam<Damage> {};

}  // namespace

TEST_P(RecoverDamage, IsRefusedThenRecoveredAndNothingIsBoughtAgain) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(4));
  Sim sim(dir.path(), fast_sim_args());
  auto done = dir / "done";
  auto first = run_setlist(fast_run_args(sim, dir / "album.yaml", done));
  ASSERT_EQ(first.exit_code, 0) << first.err;
  if (std::string(GetParam().name) == "PagesOverwritten") {
    // Everything in the database file itself, not in its -wal.
    auto r = run({"/usr/bin/python3", "-c",
                  "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('pragma wal_checkpoint(truncate)')",
                  (done / ".setlist" / "state.db").string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  const long bought = accepted(sim);
  ASSERT_EQ(bought, 4);

  auto out = dir / "out";
  copy_album(done, out);
  GetParam().apply(out);

  auto args = fast_run_args(sim, dir / "album.yaml", out);
  auto refused = run_setlist(args);
  EXPECT_EQ(refused.exit_code, 3) << refused.out << refused.err;
  EXPECT_NE(refused.err.find(GetParam().says), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("setlist recover " + out.string()), std::string::npos) << refused.err;
  EXPECT_EQ(accepted(sim), bought) << "a refused run bought songs";
  auto plan = run_setlist({"plan", (dir / "album.yaml").string(), "-o", out.string()});
  EXPECT_EQ(plan.exit_code, 3) << plan.out << plan.err;

  auto recovered = run_setlist({"recover", out.string()});
  ASSERT_EQ(recovered.exit_code, 0) << recovered.out << recovered.err;
  EXPECT_NE(recovered.out.find("recovered"), std::string::npos) << recovered.out;

  auto again = run_setlist(args);
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_EQ(accepted(sim), bought) << "the album was bought again after recovery";
  for (auto& [title, st] : statuses(out)) EXPECT_EQ(st, "complete") << title;
  // The takes are the first run's, untouched.
  for (auto& s : report_songs(out))
    for (auto& c : s.at("clips").as_array()) {
      auto path = std::string(c.at("audio").at("path").as_string());
      EXPECT_EQ(sha256_file(out / path), sha256_file(done / path)) << path;
    }
  auto v = run_setlist({"verify", out.string()});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
}

INSTANTIATE_TEST_SUITE_P(Recover, RecoverDamage, testing::ValuesIn(kDamages),
                         [](const testing::TestParamInfo<Damage>& i) { return std::string(i.param.name); });

TEST(Recover, AReadOnlyDatabaseIsRefusedAndLeftAsItIs) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(2));
  Sim sim(dir.path(), fast_sim_args());
  auto out = dir / "out";
  auto args = fast_run_args(sim, dir / "album.yaml", out);
  ASSERT_EQ(run_setlist(args).exit_code, 0);
  // One more song: a run would have something to send.
  write_file(dir / "album.yaml", album_yaml(3));
  auto db = out / ".setlist" / "state.db";
  fs::permissions(db, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
  auto before = sha256_file(db);
  auto r = run_setlist(args);
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.err.find("read-only"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("chmod u+w"), std::string::npos) << r.err;
  EXPECT_EQ(accepted(sim), 2);
  auto rec = run_setlist({"recover", out.string()});
  EXPECT_EQ(rec.exit_code, 3) << rec.out << rec.err;
  EXPECT_EQ(sha256_file(db), before);
  fs::permissions(db, fs::perms::owner_write, fs::perm_options::add);
  auto ok = run_setlist(args);
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(accepted(sim), 3);
}

// The CI cache that kept state.db without its -wal: killed mid-run, the
// -wal deleted. The run refuses; recovery gives back every receipt, so no
// song is bought twice, and the album finishes.
TEST(Recover, AWalLostAfterKillNineIsRefusedThenRecoveredWithoutPayingTwice) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(12));
  Sim sim(dir.path(), {"--latency", "300ms", "--duration", "3s..5s", "--seed", "5"});
  auto out = dir / "out";
  auto args = fast_run_args(sim, dir / "album.yaml", out, {"--submit-rate", "4/s", "--submit-burst", "1"});
  auto p = start_setlist(dir, args, "killed");
  // Wait until some songs were answered, then kill.
  auto journal = out / ".setlist" / "receipts.jsonl";
  for (int i = 0; i < 200; ++i) {
    std::this_thread::sleep_for(50ms);
    std::ifstream in(journal);
    std::string line;
    int acks = 0;
    while (std::getline(in, line)) acks += line.find("\"e\":\"ack\"") != std::string::npos;
    if (acks >= 4) break;
  }
  p->signal(SIGKILL);
  ASSERT_TRUE(p->wait(10s));
  fs::remove(out / ".setlist" / "state.db-wal");
  fs::remove(out / ".setlist" / "state.db-shm");
  const long bought = accepted(sim);
  ASSERT_GE(bought, 4);

  auto refused = run_setlist(args);
  EXPECT_EQ(refused.exit_code, 3) << refused.out << refused.err;
  EXPECT_NE(refused.err.find("setlist recover"), std::string::npos) << refused.err;
  EXPECT_EQ(accepted(sim), bought);

  auto rec = run_setlist({"recover", out.string()});
  ASSERT_EQ(rec.exit_code, 0) << rec.out << rec.err;
  auto resumed = run_setlist(args);
  ASSERT_TRUE(resumed.exit_code == 0 || resumed.exit_code == 1) << resumed.err;
  // Every song that was answered before the kill is fetched, not bought
  // again; one whose answer was not recorded may be uncertain, never bought twice.
  for (auto& [title, st] : statuses(out)) EXPECT_TRUE(st == "complete" || st == "uncertain") << title << ": " << st;
  auto stats = sim.stats().as_object();
  auto titles = payload_titles(stats);
  for (auto& [payload, count] : stats.at("submissions_by_payload").as_object())
    EXPECT_EQ(count.as_int64(), 1) << titles[std::string(payload)] << " was bought twice";
  EXPECT_EQ(stats.at("generate_accepted").as_int64(), 12);
}

TEST(Recover, ATornLastJournalLineIsSkippedAndSaid) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(2));
  Sim sim(dir.path(), fast_sim_args());
  auto out = dir / "out";
  auto args = fast_run_args(sim, dir / "album.yaml", out);
  ASSERT_EQ(run_setlist(args).exit_code, 0);
  {
    std::ofstream j(out / ".setlist" / "receipts.jsonl", std::ios::app);
    j << "{\"v\":1,\"e\":\"intent\",\"sub\":99,\"so";  // a crash mid-write
  }
  remove_db(out);
  auto rec = run_setlist({"recover", out.string()});
  ASSERT_EQ(rec.exit_code, 0) << rec.out << rec.err;
  EXPECT_NE(rec.out.find("skipped 1 journal line(s)"), std::string::npos) << rec.out;
  auto again = run_setlist(args);
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(accepted(sim), 2);
}

// A CI cache that restored the whole .setlist of an earlier night (database,
// journal and clip files together): the takes made since are known by their
// tags, so the run refuses instead of buying them again, and recovery
// adopts them.
TEST(Recover, AnOlderCopyOfTheWholeSetlistFolderIsRefusedThenRecovered) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(2));
  Sim sim(dir.path(), fast_sim_args());
  auto out = dir / "out";
  ASSERT_EQ(run_setlist(fast_run_args(sim, dir / "album.yaml", out)).exit_code, 0);
  copy_album(out / ".setlist", dir / "snapshot");
  write_file(dir / "album.yaml", album_yaml(4));
  auto args = fast_run_args(sim, dir / "album.yaml", out);
  ASSERT_EQ(run_setlist(args).exit_code, 0);
  ASSERT_EQ(accepted(sim), 4);
  const auto song3 = sha256_file(out / "03 - Song 3 (A).mp3");
  fs::remove_all(out / ".setlist");
  copy_album(dir / "snapshot", out / ".setlist");

  auto refused = run_setlist(args);
  EXPECT_EQ(refused.exit_code, 3) << refused.out << refused.err;
  EXPECT_NE(refused.err.find("takes' tags"), std::string::npos) << refused.err;
  EXPECT_EQ(accepted(sim), 4);
  auto rec = run_setlist({"recover", out.string()});
  ASSERT_EQ(rec.exit_code, 0) << rec.out << rec.err;
  auto again = run_setlist(args);
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_EQ(accepted(sim), 4) << "songs made after the snapshot were bought again";
  EXPECT_EQ(sha256_file(out / "03 - Song 3 (A).mp3"), song3);
}

// Songs that failed stay failed across a recovery: only --retry-failed
// submits them again.
TEST(Recover, AFailedSongStaysFailedAfterRecovery) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(2));
  auto out = dir / "out";
  {
    Sim refusing(dir.path(), fast_sim_args({"--fault", "500/generate@1.0"}));
    auto r = run_setlist(fast_run_args(refusing, dir / "album.yaml", out, {"--retry-max-attempts", "2"}));
    ASSERT_EQ(r.exit_code, 1) << r.err;
    for (auto& [title, st] : statuses(out)) ASSERT_EQ(st, "failed") << title;
  }
  remove_db(out);
  auto rec = run_setlist({"recover", out.string()});
  ASSERT_EQ(rec.exit_code, 0) << rec.out << rec.err;
  Sim healthy(dir.path(), fast_sim_args());
  auto r = run_setlist(fast_run_args(healthy, dir / "album.yaml", out));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(accepted(healthy), 0) << "a failed song was submitted without --retry-failed";
  for (auto& [title, st] : statuses(out)) EXPECT_EQ(st, "failed") << title;
}

// A journal of another album beside this one's database: recover refuses
// to mix them and changes nothing.
TEST(Recover, AJournalOfAnotherAlbumIsNotMerged) {
  TempDir dir;
  write_file(dir / "a.yaml", album_yaml(2));
  std::string other = album_yaml(3);
  for (auto pos = other.find("Song "); pos != std::string::npos; pos = other.find("Song ", pos + 6))
    other.replace(pos, 5, "Other ");
  write_file(dir / "b.yaml", other);
  Sim sim(dir.path(), fast_sim_args());
  auto out = dir / "out", elsewhere = dir / "elsewhere";
  ASSERT_EQ(run_setlist(fast_run_args(sim, dir / "a.yaml", out)).exit_code, 0);
  ASSERT_EQ(run_setlist(fast_run_args(sim, dir / "b.yaml", elsewhere)).exit_code, 0);
  fs::copy_file(elsewhere / ".setlist" / "receipts.jsonl", out / ".setlist" / "receipts.jsonl",
                fs::copy_options::overwrite_existing);
  auto db = out / ".setlist" / "state.db";
  const auto before = sha256_file(db);
  auto refused = run_setlist(fast_run_args(sim, dir / "a.yaml", out));
  EXPECT_EQ(refused.exit_code, 3) << refused.err;
  auto rec = run_setlist({"recover", out.string()});
  EXPECT_EQ(rec.exit_code, 3) << rec.out << rec.err;
  EXPECT_NE(rec.err.find("different albums"), std::string::npos) << rec.err;
  EXPECT_EQ(sha256_file(db), before);
  EXPECT_EQ(accepted(sim), 5);
}
