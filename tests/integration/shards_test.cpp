// Shards and merge (#18): four shards of one manifest as separate
// processes against one simulator with a per-key limit and a key each, one
// killed with kill -9 mid-run and restarted, then `setlist merge`; and the
// merge's refusals, missing shards and idempotence.
#include <gtest/gtest.h>
#include <taglib/id3v2tag.h>
#include <taglib/mpegfile.h>

#include <boost/json.hpp>
#include <csignal>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "integration_support.hpp"

using namespace setlist::test;
namespace json = boost::json;

namespace {

// The frames a listener sees, by id (TXXX carries the clip id, which differs per run).
std::map<std::string, std::string> visible_tags(const fs::path& mp3) {
  std::map<std::string, std::string> out;
  TagLib::MPEG::File f(mp3.c_str());
  auto* tag = f.ID3v2Tag();
  if (!tag) return out;
  for (const char* id : {"TIT2", "TPE1", "TPE2", "TALB", "TRCK", "TPOS", "TCON", "TDRC", "USLT"}) {
    auto& frames = tag->frameListMap()[id];
    if (!frames.isEmpty()) out[id] = frames.front()->toString().to8Bit(true);
  }
  return out;
}

// The album as a listener gets it: every file outside .setlist (name ->
// its tags for audio, its text for lyrics).
std::map<std::string, std::string> album_view(const fs::path& out) {
  std::map<std::string, std::string> view;
  for (auto& e : fs::directory_iterator(out)) {
    auto name = e.path().filename().string();
    if (!e.is_regular_file()) continue;
    auto ext = e.path().extension().string();
    if (ext == ".mp3") {
      std::string t;
      for (auto& [id, v] : visible_tags(e.path())) t += id + "=" + v + "\n";
      view[name] = t;
    } else if (ext == ".txt") {
      view[name] = read_file(e.path());
    } else if (ext == ".jpg" || ext == ".m3u8") {
      view[name] = "";  // present (bytes differ: other clips)
    }
  }
  return view;
}

struct JournalCount {
  int intents = 0, answered = 0;
};
JournalCount journal_count(const fs::path& out) {
  JournalCount c;
  std::istringstream in(read_file(out / ".setlist" / "receipts.jsonl"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.find("\"e\":\"intent\"") != std::string::npos) ++c.intents;
    if (line.find("\"e\":\"ack\"") != std::string::npos || line.find("\"e\":\"rejected\"") != std::string::npos ||
        line.find("\"e\":\"uncertain\"") != std::string::npos)
      ++c.answered;
  }
  return c;
}

std::vector<std::string> shard_args(const Sim& sim, const fs::path& manifest, const fs::path& out, int i, int n) {
  return fast_run_args(sim, manifest, out, {"--shard", std::to_string(i) + "/" + std::to_string(n), "-q"});
}

int songs_of_shard(const fs::path& manifest_dir, const fs::path& manifest, int i, int n) {
  auto r = run_setlist({"plan", manifest.string(), "-o", (manifest_dir / "plan-only").string(), "--shard",
                        std::to_string(i) + "/" + std::to_string(n)});
  int selected = 0;
  std::istringstream in(r.out);
  std::string line;
  while (std::getline(in, line))
    if (line.find(" new ") != std::string::npos) ++selected;
  return selected;
}

}  // namespace

// The local proof of #18: four shards at once, a key each, one killed with
// kill -9 after its last request was answered and restarted; the merged
// album equals a one-process run of the same manifest, verifies clean, and
// the simulator charged every song exactly once.
TEST(Shards, FourConcurrentShardsOneKilledMergeIntoTheOneProcessAlbum) {
  TempDir dir;
  const int kSongs = 20, kShards = 4;
  write_file(dir / "album.yaml", album_yaml(kSongs));
  const auto manifest = dir / "album.yaml";
  const std::vector<std::string> keys = {"shard-key-0", "shard-key-1", "shard-key-2", "shard-key-3"};
  std::string accepted;
  for (auto& k : keys) accepted += (accepted.empty() ? "" : ",") + k;
  // A per-key limit: two generate requests a second, one at a time; each key
  // an account that sees only its own generations.
  Sim sim(dir.path(),
          fast_sim_args({"--accept-key-env", "SIM_KEYS", "--generate-rate", "2", "--generate-burst", "1", "--latency",
                         "700ms", "--key-scoped"}),
          {{"SIM_KEYS", accepted}});

  int owned_total = 0;
  std::vector<int> owned(kShards);
  for (int i = 0; i < kShards; ++i) owned_total += owned[i] = songs_of_shard(dir.path(), manifest, i, kShards);
  ASSERT_EQ(owned_total, kSongs) << "every song belongs to exactly one shard";

  std::vector<std::unique_ptr<Process>> shards;
  for (int i = 0; i < kShards; ++i)
    shards.push_back(start_setlist(dir, shard_args(sim, manifest, dir / ("shard-" + std::to_string(i)), i, kShards),
                                   "shard" + std::to_string(i), {{"AIML_API_KEY", keys[i]}}));
  // Shard 0 dies (kill -9) once every song it owns has its answer recorded,
  // while it still polls and downloads: nothing it bought may be bought again.
  const auto out0 = dir / "shard-0";
  bool killed = false;
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
       std::chrono::steady_clock::now() < deadline && shards[0]->running();
       std::this_thread::sleep_for(std::chrono::milliseconds(5))) {
    if (!fs::exists(out0 / ".setlist" / "receipts.jsonl")) continue;
    auto c = journal_count(out0);
    if (c.intents >= owned[0] && c.answered == c.intents) {
      shards[0]->signal(SIGKILL);
      killed = true;
      break;
    }
  }
  ASSERT_TRUE(killed) << "shard 0 ended before it could be killed mid-run: " << shards[0]->err();
  ASSERT_TRUE(shards[0]->wait(std::chrono::seconds(10)));
  EXPECT_EQ(shards[0]->term_signal(), SIGKILL);
  EXPECT_FALSE(fs::exists(out0 / "report.json")) << "killed before its reports";
  auto restarted = run_setlist(shard_args(sim, manifest, out0, 0, kShards), {{"AIML_API_KEY", keys[0]}});
  EXPECT_EQ(restarted.exit_code, 0) << restarted.err;
  for (int i = 1; i < kShards; ++i) {
    ASSERT_TRUE(shards[i]->wait(std::chrono::seconds(60)));
    EXPECT_EQ(shards[i]->exit_code(), 0) << shards[i]->err();
  }

  const auto album = dir / "album";
  std::vector<std::string> merge = {"merge"};
  for (int i = 0; i < kShards; ++i) merge.push_back((dir / ("shard-" + std::to_string(i))).string());
  merge.insert(merge.end(), {"-o", album.string()});
  auto m = run_setlist(merge);
  ASSERT_EQ(m.exit_code, 0) << m.out << m.err;
  auto v = run_setlist({"verify", album.string()});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  auto st = statuses(album);
  ASSERT_EQ(st.size(), static_cast<std::size_t>(kSongs));
  for (auto& [title, status] : st) EXPECT_EQ(status, "complete") << title;

  // Every song charged once, by the shard that owns it.
  auto stats = sim.stats().as_object();
  EXPECT_EQ(stats.at("generate_accepted").as_int64(), kSongs);
  EXPECT_EQ(stats.at("duplicate_submissions").as_int64(), 0);
  EXPECT_EQ(stats.at("submissions_by_payload").as_object().size(), static_cast<std::size_t>(kSongs));
  EXPECT_EQ(stats.at("tokens_charged").as_int64(),
            read_json(album / "report.json").at("run").at("tokens_charged_to_date").as_int64());
  // ... each shard with its own key: the simulator's accounts say so.
  for (int i = 0; i < kShards; ++i) {
    auto fp = "k-" + sha256_hex(keys[i]).substr(0, 8);
    ASSERT_TRUE(stats.at("keys").as_object().contains(fp)) << "shard " << i << " sent nothing with its key";
    EXPECT_EQ(stats.at("keys").at(fp).at("generate_accepted").as_int64(), owned[i]) << "shard " << i;
  }

  // A run of the whole manifest on the merged album buys nothing.
  auto whole = run_setlist(fast_run_args(sim, manifest, album), {{"AIML_API_KEY", keys[1]}});
  EXPECT_EQ(whole.exit_code, 0) << whole.err;
  EXPECT_EQ(sim.stats().as_object().at("generate_accepted").as_int64(), kSongs);

  // The same manifest in one process, against a simulator of its own.
  Sim solo(dir.path(), fast_sim_args());
  const auto one = dir / "one-process";
  auto r = run_setlist(fast_run_args(solo, manifest, one));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto merged_view = album_view(album), solo_view = album_view(one);
  EXPECT_GE(merged_view.size(), static_cast<std::size_t>(3 * kSongs));  // two takes and the lyrics of each
  EXPECT_EQ(merged_view, solo_view);
  auto merged_songs = report_songs(album), solo_songs = report_songs(one);
  ASSERT_EQ(merged_songs.size(), solo_songs.size());
  for (std::size_t i = 0; i < merged_songs.size(); ++i) {
    EXPECT_EQ(merged_songs[i].at("title"), solo_songs[i].at("title"));
    EXPECT_EQ(merged_songs[i].at("track"), solo_songs[i].at("track"));
  }
}

// A shard that has not run is named with its songs; merging it later adds
// only what is new; merging again adds nothing.
TEST(Shards, MergeNamesMissingShardsAndIsIdempotent) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(6));
  const auto manifest = dir / "album.yaml";
  Sim sim(dir.path(), fast_sim_args());
  for (int i = 0; i < 2; ++i) {
    auto r = run_setlist(shard_args(sim, manifest, dir / ("s" + std::to_string(i)), i, 2));
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  auto s1_report = read_json(dir / "s1" / "report.json").as_object();
  EXPECT_EQ(s1_report.at("shard").at("index").as_int64(), 1);
  EXPECT_EQ(s1_report.at("shard").at("count").as_int64(), 2);
  EXPECT_EQ(s1_report.at("manifest_hash"), read_json(dir / "s0" / "report.json").at("manifest_hash"));
  const auto album = dir / "album";
  auto first = run_setlist({"merge", (dir / "s0").string(), "-o", album.string()});
  EXPECT_EQ(first.exit_code, 1) << first.out << first.err;
  EXPECT_NE(first.err.find("missing shard(s): 1/2"), std::string::npos) << first.err;
  int listed = 0;
  for (int t = 1; t <= 6; ++t)
    if (first.err.find("] Song " + std::to_string(t) + " (") != std::string::npos) ++listed;
  EXPECT_EQ(listed, songs_of_shard(dir.path(), manifest, 1, 2)) << first.err;
  EXPECT_EQ(run_setlist({"verify", album.string()}).exit_code, 0);

  auto second = run_setlist({"merge", (dir / "s1").string(), "-o", album.string()});
  EXPECT_EQ(second.exit_code, 0) << second.out << second.err;
  auto again = run_setlist({"merge", (dir / "s0").string(), (dir / "s1").string(), "-o", album.string()});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("0 song(s) taken, 6 already there; 0 file(s) copied"), std::string::npos) << again.out;
  EXPECT_NE(again.out.find("0 receipt(s) added"), std::string::npos) << again.out;
  EXPECT_EQ(run_setlist({"verify", album.string()}).exit_code, 0);
  for (auto& [title, status] : statuses(album)) EXPECT_EQ(status, "complete") << title;
  auto merged_report = read_json(album / "report.json").as_object();
  EXPECT_TRUE(merged_report.at("shard").is_null());
  EXPECT_EQ(merged_report.at("manifest_hash"), s1_report.at("manifest_hash"));
  EXPECT_EQ(merged_report.at("run").at("shards").at("missing").as_array().size(), 0u);
  EXPECT_EQ(merged_report.at("run").at("counts").at("complete").as_int64(), 6);
  auto status = run_setlist({"status", album.string()});
  EXPECT_EQ(status.exit_code, 0) << status.err;
  EXPECT_EQ(status.out.find("submit"), std::string::npos) << status.out;
  {
    std::istringstream rows(status.out);
    std::string row;
    std::getline(rows, row);  // the header
    int n = 0;
    for (; std::getline(rows, row); ++n) EXPECT_NE(row.find(" unchanged "), std::string::npos) << row;
    EXPECT_EQ(n, 6) << status.out;
  }
  const auto accepted = sim.stats().as_object().at("generate_accepted").as_int64();
  auto whole = run_setlist(fast_run_args(sim, manifest, album));
  EXPECT_EQ(whole.exit_code, 0) << whole.err;
  EXPECT_EQ(sim.stats().as_object().at("generate_accepted").as_int64(), accepted) << "the merged album buys nothing";
}

// Refusals change nothing: another album, a song bought twice, a shard given
// twice, a shard run in another shard's folder, a bad --shard.
TEST(Shards, RefusalsChangeNothing) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(4));
  write_file(dir / "other.yaml", album_yaml(5));
  const auto manifest = dir / "album.yaml";
  Sim sim(dir.path(), fast_sim_args());
  ASSERT_EQ(run_setlist(shard_args(sim, manifest, dir / "s0", 0, 2)).exit_code, 0);
  ASSERT_EQ(run_setlist(shard_args(sim, dir / "other.yaml", dir / "other", 1, 2)).exit_code, 0);
  ASSERT_EQ(run_setlist(fast_run_args(sim, manifest, dir / "whole")).exit_code, 0);
  const auto album = dir / "album";

  auto other = run_setlist({"merge", (dir / "s0").string(), (dir / "other").string(), "-o", album.string()});
  EXPECT_EQ(other.exit_code, 2) << other.err;
  EXPECT_NE(other.err.find("another album"), std::string::npos) << other.err;
  auto twice = run_setlist({"merge", (dir / "s0").string(), (dir / "whole").string(), "-o", album.string()});
  EXPECT_EQ(twice.exit_code, 2) << twice.err;
  EXPECT_NE(twice.err.find("bought more than once"), std::string::npos) << twice.err;
  EXPECT_FALSE(fs::exists(album / "report.json")) << "a refused merge leaves no album";
  fs::copy(dir / "s0", dir / "s0-copy", fs::copy_options::recursive);
  auto dup = run_setlist({"merge", (dir / "s0").string(), (dir / "s0-copy").string(), "-o", album.string()});
  EXPECT_EQ(dup.exit_code, 2) << dup.err;
  EXPECT_NE(dup.err.find("given twice"), std::string::npos) << dup.err;
  auto none = run_setlist({"merge", (dir / "nowhere").string(), "-o", album.string()});
  EXPECT_EQ(none.exit_code, 3) << none.err;

  auto wrong_folder = run_setlist(shard_args(sim, manifest, dir / "s0", 1, 2));
  EXPECT_EQ(wrong_folder.exit_code, 3) << wrong_folder.err;
  EXPECT_NE(wrong_folder.err.find("holds shard 0/2"), std::string::npos) << wrong_folder.err;
  for (const char* bad : {"2/2", "1/0", "x/3", "3", "auto/4"}) {
    auto r = run_setlist({"plan", manifest.string(), "-o", (dir / "p").string(), "--shard", bad},
                         {{"JOB_COMPLETION_INDEX", "\x01unset"}});
    EXPECT_EQ(r.exit_code, 2) << bad << ": " << r.err;
    EXPECT_NE(r.err.find("--shard"), std::string::npos) << r.err;
  }
  // auto/N: the index from JOB_COMPLETION_INDEX, the same share as I/N.
  auto from_env = run_setlist({"plan", manifest.string(), "-o", (dir / "p").string(), "--shard", "auto/2"},
                              {{"JOB_COMPLETION_INDEX", "1"}});
  auto explicit_one = run_setlist({"plan", manifest.string(), "-o", (dir / "p").string(), "--shard", "1/2"});
  EXPECT_EQ(from_env.exit_code, 0) << from_env.err;
  EXPECT_EQ(from_env.out, explicit_one.out);
}
