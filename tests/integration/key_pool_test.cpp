// Key pools (#18): several keys in one process, each with its own limits;
// a song is polled with the key that submitted it; a refused or spent key is
// retired and the others carry on; keys never leave as anything but their
// fingerprints. The simulator runs --key-scoped: each key is an account that
// sees only its own generations, as on the real services.
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/json.hpp>
#include <fstream>
#include <set>
#include <thread>

#include "integration_support.hpp"

using namespace setlist::test;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

const std::vector<std::string> kPool = {"sk-pool-alpha-0001", "sk-pool-bravo-0002", "sk-pool-charlie-0003",
                                        "sk-pool-delta-0004"};

fs::path write_keys(const TempDir& dir, const std::vector<std::string>& keys, const std::string& name = "keys") {
  std::string text = "# the album's accounts\n";
  for (auto& k : keys) text += k + "\n";
  auto p = dir / name;
  write_file(p, text);
  fs::permissions(p, fs::perms::owner_read | fs::perms::owner_write);
  return p;
}

std::string joined(const std::vector<std::string>& keys) {
  std::string s;
  for (auto& k : keys) s += (s.empty() ? "" : ",") + k;
  return s;
}

json::object report_run(const fs::path& out) {
  return json::parse(read_file(out / "report.json")).as_object().at("run").as_object();
}

// Every file under `dir` (and the texts given) free of any key of the pool.
void expect_no_key_in(const fs::path& dir, const std::vector<std::string>& texts) {
  for (auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    auto body = read_file(e.path());
    for (auto& k : kPool) EXPECT_EQ(body.find(k), std::string::npos) << "key in " << e.path();
  }
  for (auto& t : texts)
    for (auto& k : kPool) EXPECT_EQ(t.find(k), std::string::npos) << "key in the output";
}

std::string suno_album(int n) {
  std::string y = "album:\n  title: Pool Album\n  artist: Pool Artist\n";
  y += "settings:\n  provider: sunoapi\n";
  y += "defaults:\n  tags: [indie pop]\n";
  y += "songs:\n";
  for (int i = 1; i <= n; ++i)
    y += "  - title: Pool " + std::to_string(i) + "\n    lyrics: |\n      [Verse]\n      Pool line " +
         std::to_string(i) + "\n";
  return y;
}

}  // namespace

// Four keys at one request a second each: every key carries part of the
// album, each song is bought once, its clips are asked about with its own key
// (another key's GET would not see them), and the report names the keys by
// fingerprint, as the simulator does.
TEST(KeyPool, FourKeysShareTheAlbumAndEachSongIsPolledWithItsOwnKey) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(16));
  Sim sim(dir.path(),
          fast_sim_args({"--key-scoped", "--accept-key-env", "SIM_KEYS", "--generate-rate", "1", "--generate-burst",
                         "1"}),
          {{"SIM_KEYS", joined(kPool)}});
  auto keys = write_keys(dir, kPool);
  auto out = dir / "out";
  auto r = run_setlist(fast_run_args(sim, dir / "album.yaml", out,
                                     {"--api-key-file", keys.string(), "--submit-rate", "1/s", "--submit-burst", "1",
                                      "--stall-timeout", "20s"}),
                       {{"AIML_API_KEY", "\x01unset"}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (auto& [title, status] : statuses(out)) EXPECT_EQ(status, "complete") << title;

  auto stats = sim.stats().as_object();
  EXPECT_EQ(stats.at("generate_accepted").as_int64(), 16);
  EXPECT_EQ(stats.at("duplicate_submissions").as_int64(), 0);
  auto& sim_keys = stats.at("keys").as_object();
  ASSERT_EQ(sim_keys.size(), 4u) << json::serialize(sim_keys);
  std::int64_t accepted = 0;
  for (auto& [fp, k] : sim_keys) {
    EXPECT_GE(k.at("generate_accepted").as_int64(), 2) << fp << ": every key carries part of the album";
    accepted += k.at("generate_accepted").as_int64();
  }
  EXPECT_EQ(accepted, 16);

  // The report's rows match the simulator's accounts, key by key.
  auto run = report_run(out);
  auto& rows = run.at("keys").as_array();
  ASSERT_EQ(rows.size(), 4u);
  std::int64_t tokens = 0;
  for (auto& row : rows) {
    auto fp = std::string(row.at("fingerprint").as_string());
    ASSERT_TRUE(sim_keys.contains(fp)) << fp;
    auto& k = sim_keys.at(fp).as_object();
    EXPECT_EQ(row.at("generate_requests").as_int64(), k.at("generate_requests").as_int64()) << fp;
    EXPECT_EQ(row.at("tokens_charged").as_int64(), k.at("tokens_charged").as_int64()) << fp;
    EXPECT_GT(row.at("poll_requests").as_int64(), 0) << fp;
    EXPECT_TRUE(row.at("retired").is_null()) << fp;
    tokens += row.at("tokens_charged").as_int64();
  }
  EXPECT_EQ(tokens, run.at("tokens_charged").as_int64());
  EXPECT_NE(read_file(out / "report.html").find("class=\"keys\""), std::string::npos);
  expect_no_key_in(out, {r.out, r.err});
}

// A key the API refuses (401) is retired for the run; its songs go out with
// the others, nothing is bought twice, and the report says which key and why.
TEST(KeyPool, ARefusedKeyIsRetiredAndTheOthersFinishTheAlbum) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(6));
  // The second key of the pool is not an account of the simulator's.
  std::vector<std::string> accepted = {kPool[0], kPool[2]};
  Sim sim(dir.path(), fast_sim_args({"--key-scoped", "--accept-key-env", "SIM_KEYS"}),
          {{"SIM_KEYS", joined(accepted)}});
  auto keys = write_keys(dir, {kPool[0], kPool[1], kPool[2]});
  auto out = dir / "out";
  auto r = run_setlist(fast_run_args(sim, dir / "album.yaml", out, {"--api-key-file", keys.string()}),
                       {{"AIML_API_KEY", "\x01unset"}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (auto& [title, status] : statuses(out)) EXPECT_EQ(status, "complete") << title;
  auto stats = sim.stats().as_object();
  EXPECT_EQ(stats.at("generate_accepted").as_int64(), 6);
  EXPECT_GE(stats.at("unauthorized").as_int64(), 1);
  EXPECT_EQ(stats.at("duplicate_submissions").as_int64(), 0);
  int retired = 0;
  auto run = report_run(out);
  for (auto& row : run.at("keys").as_array())
    if (!row.at("retired").is_null()) {
      ++retired;
      EXPECT_NE(std::string(row.at("retired").as_string()).find("rejected"), std::string::npos);
      EXPECT_EQ(row.at("tokens_charged").as_int64(), 0);
    }
  EXPECT_EQ(retired, 1);
  EXPECT_NE(r.err.find("retired for this run"), std::string::npos) << r.err;
  expect_no_key_in(out, {r.out, r.err});
}

// A key out of credits is retired and the rest of the album goes out with
// the next key. The first key's balance is spent by an earlier run, so the
// pool's first choice is refused for certain.
TEST(KeyPool, AKeyOutOfCreditsIsRetiredAndTheNextCarriesOn) {
  TempDir dir;
  write_file(dir / "album.yaml", suno_album(4));
  Sim sim(dir.path(), fast_sim_args({"--flavor", "sunoapi", "--key-scoped", "--cost", "12", "--balance", "24"}));
  auto out = dir / "out";
  auto first = run_setlist(fast_run_args(sim, dir / "album.yaml", out, {"--only", "1,2"}),
                           {{"SUNOAPI_KEY", kPool[0]}});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  auto keys = write_keys(dir, {kPool[0], kPool[1]});
  auto r = run_setlist(fast_run_args(sim, dir / "album.yaml", out, {"--api-key-file", keys.string()}),
                       {{"SUNOAPI_KEY", "\x01unset"}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (auto& [title, status] : statuses(out)) EXPECT_EQ(status, "complete") << title;
  auto stats = sim.stats().as_object();
  EXPECT_EQ(stats.at("generate_accepted").as_int64(), 4);
  EXPECT_EQ(stats.at("tokens_charged").as_int64(), 48);
  EXPECT_GE(stats.at("balance_exhausted").as_int64(), 1);
  auto run = report_run(out);
  auto& rows = run.at("keys").as_array();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_FALSE(rows[0].at("retired").is_null()) << json::serialize(rows);
  EXPECT_NE(std::string(rows[0].at("retired").as_string()).find("out of credits"), std::string::npos);
  EXPECT_EQ(rows[1].at("tokens_charged").as_int64(), 24);
}

// A key that runs out of credits mid-run stops buying, but the songs it
// already bought are still asked about with it (only it can see them) and
// finish in this run. The first key has credit for one song left.
TEST(KeyPool, AKeyOutOfCreditsStillPollsTheSongsItBought) {
  TempDir dir;
  // Credit for three songs a key; the first key spends two of them first.
  Sim sim(dir.path(), {"--flavor", "sunoapi", "--key-scoped", "--cost", "12", "--balance", "36", "--latency", "2s",
                       "--latency-jitter", "100ms", "--duration", "2s..3s", "--seed", "5"});
  write_file(dir / "single.yaml", suno_album(2));
  auto first = run_setlist(fast_run_args(sim, dir / "single.yaml", dir / "single"), {{"SUNOAPI_KEY", kPool[0]}});
  ASSERT_EQ(first.exit_code, 0) << first.err;

  write_file(dir / "album.yaml", suno_album(4));
  auto out = dir / "out";
  auto keys = write_keys(dir, {kPool[0], kPool[1]});
  auto r = run_setlist(fast_run_args(sim, dir / "album.yaml", out,
                                     {"--api-key-file", keys.string(), "--submit-rate", "20/s", "--stall-timeout",
                                      "30s"}),
                       {{"SUNOAPI_KEY", "\x01unset"}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (auto& [title, status] : statuses(out)) EXPECT_EQ(status, "complete") << title;
  auto stats = sim.stats().as_object();
  auto& accounts = stats.at("keys").as_object();
  EXPECT_EQ(accounts.at("k-" + sha256_hex(kPool[0]).substr(0, 8)).at("generate_accepted").as_int64(), 3);
  EXPECT_EQ(accounts.at("k-" + sha256_hex(kPool[1]).substr(0, 8)).at("generate_accepted").as_int64(), 3);
  auto run = report_run(out);
  auto& rows = run.at("keys").as_array();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_NE(std::string(rows[0].at("retired").as_string()).find("out of credits"), std::string::npos);
  EXPECT_GT(rows[0].at("poll_requests").as_int64(), 0) << "the song the first key bought was not polled with it";
}

// kill -9 once every song is bought, then resume with the keys in another
// order: each song is still asked about with the key that bought it (state
// keeps its fingerprint), and nothing is bought again.
TEST(KeyPool, AResumedSongIsPolledWithTheKeyThatBoughtIt) {
  TempDir dir;
  write_file(dir / "album.yaml", suno_album(6));
  Sim sim(dir.path(), {"--flavor", "sunoapi", "--key-scoped", "--accept-key-env", "SIM_KEYS", "--latency", "4s",
                       "--latency-jitter", "200ms", "--duration", "2s..3s"},
          {{"SIM_KEYS", joined(kPool)}});
  auto out = dir / "out";
  auto keys = write_keys(dir, kPool);
  auto args = fast_run_args(sim, dir / "album.yaml", out,
                            {"--api-key-file", keys.string(), "--submit-rate", "20/s", "--stall-timeout", "30s"});
  auto p = start_setlist(dir, args, "first", {{"SUNOAPI_KEY", "\x01unset"}});
  for (int i = 0; i < 200 && sim.stats().as_object().at("generate_accepted").as_int64() < 6; ++i)
    std::this_thread::sleep_for(25ms);
  ASSERT_EQ(sim.stats().as_object().at("generate_accepted").as_int64(), 6);
  std::this_thread::sleep_for(500ms);  // the answers recorded (the songs take 4 s)
  p->signal(SIGKILL);
  ASSERT_TRUE(p->wait(10s));

  std::vector<std::string> reversed(kPool.rbegin(), kPool.rend());
  auto keys2 = write_keys(dir, reversed, "keys-reversed");
  auto r = run_setlist(with_arg(args, "--api-key-file", keys2.string()), {{"SUNOAPI_KEY", "\x01unset"}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (auto& [title, status] : statuses(out)) EXPECT_EQ(status, "complete") << title;
  auto stats = sim.stats().as_object();
  EXPECT_EQ(stats.at("generate_accepted").as_int64(), 6) << "a song was bought again";
  EXPECT_EQ(r.err.find("not in this run's keys"), std::string::npos) << r.err;
  expect_no_key_in(out, {r.out, r.err, p->err()});
}

// The pool from the environment: the provider's variable with an S, keys
// separated by commas or blanks; the single-key variable joins it.
TEST(KeyPool, KeysFromTheEnvironmentMakeAPool) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(6));
  Sim sim(dir.path(), fast_sim_args({"--key-scoped", "--accept-key-env", "SIM_KEYS"}),
          {{"SIM_KEYS", joined(kPool)}});
  auto out = dir / "out";
  auto r = run_setlist(fast_run_args(sim, dir / "album.yaml", out),
                       {{"AIML_API_KEYS", kPool[0] + ", " + kPool[1] + "\n" + kPool[2]}, {"AIML_API_KEY", kPool[3]}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(report_run(out).at("keys").as_array().size(), 4u);
  EXPECT_NE(r.err.find("4 keys:"), std::string::npos) << r.err;
  expect_no_key_in(out, {r.out, r.err});
}

// A pool that cannot be right is refused before anything is sent: a key given
// twice (it would look like two accounts), a malformed line (named by number).
TEST(KeyPool, ABadPoolIsRefusedBeforeAnythingIsSent) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(2));
  Sim sim(dir.path(), fast_sim_args());
  auto out = dir / "out";
  auto twice = write_keys(dir, {kPool[0], kPool[1], kPool[0]});
  auto r = run_setlist(fast_run_args(sim, dir / "album.yaml", out, {"--api-key-file", twice.string()}),
                       {{"AIML_API_KEY", "\x01unset"}});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("line 4 repeats the one in --api-key-file " + twice.string() + " line 2"), std::string::npos)
      << r.err;
  auto bad = write_keys(dir, {kPool[0], "sk-with space"}, "bad");
  auto r2 = run_setlist(fast_run_args(sim, dir / "album.yaml", out, {"--api-key-file", bad.string()}),
                        {{"AIML_API_KEY", "\x01unset"}});
  EXPECT_EQ(r2.exit_code, 2) << r2.err;
  EXPECT_NE(r2.err.find("line 3 contains a space at byte 8"), std::string::npos) << r2.err;
  auto r3 = run_setlist(fast_run_args(sim, dir / "album.yaml", out),
                        {{"AIML_API_KEYS", kPool[0] + "," + kPool[0]}});
  EXPECT_EQ(r3.exit_code, 2) << r3.err;
  EXPECT_NE(r3.err.find("AIML_API_KEYS (key 2) repeats the one in AIML_API_KEYS (key 1)"), std::string::npos)
      << r3.err;
  EXPECT_EQ(sim.stats().as_object().at("requests_total").as_int64(), 0);
  EXPECT_FALSE(fs::exists(out / ".setlist" / "state.db"));
  for (auto* t : {&r.err, &r2.err, &r3.err})
    for (auto& k : kPool) EXPECT_EQ(t->find(k), std::string::npos) << "a key was printed: " << *t;
}
