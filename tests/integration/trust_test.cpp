// What setlist does not trust, end to end (docs/security.md): links planted
// in the output folder, a hostile API key, a process a core dump or another
// process of the same user could read the key out of. The real binaries on
// loopback, as in the other integration tests.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include <boost/json.hpp>
#include <fstream>
#include <thread>

#include "integration_support.hpp"
#include "setlist/output.hpp"

using namespace setlist::test;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

std::int64_t requests_total(const Sim& sim) { return sim.stats().as_object().at("requests_total").as_int64(); }

// Runs SQL on a state database, as a crafted OUT would carry it.
void sql(const fs::path& db, const std::string& statement) {
  sqlite3* h = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
  char* err = nullptr;
  int rc = sqlite3_exec(h, statement.c_str(), nullptr, nullptr, &err);
  std::string msg = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(h);
  ASSERT_EQ(rc, SQLITE_OK) << msg << "\n" << statement;
}

// SQL text literal.
std::string q(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

// Every regular file under `root`, recursively, whose name is `name`.
std::vector<fs::path> find_named(const fs::path& root, const std::string& name) {
  std::vector<fs::path> found;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec))
    if (it->path().filename() == name) found.push_back(it->path());
  return found;
}

}  // namespace

// Links at the old predictable temporary names (report.json.tmp ...) and at
// final names, all pointing at a file outside OUT: the run never writes
// through them; a link at a final name is refused, saying so.
TEST(Trust, LinksPlantedInTheOutputFolderAreNeverWrittenThrough) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(1));
  Sim sim(dir.path(), fast_sim_args());
  auto out = dir / "out";
  fs::create_directories(out);
  auto victim = dir / "victim.txt";
  write_file(victim, "precious");
  for (auto name : {"report.json.tmp", "album.m3u8.tmp", "junit.xml.tmp", "report.html.tmp", "01 - Song 1.txt.tmp",
                    "01 - Song 1 (B).mp3.tmp", "01 - Song 1 (A).mp3", "report.html"})
    fs::create_symlink(victim, out / name);

  auto r = run_setlist(fast_run_args(sim, dir / "album.yaml", out));
  EXPECT_EQ(read_file(victim), "precious") << r.err;
  EXPECT_TRUE(fs::is_symlink(out / "report.html"));
  EXPECT_TRUE(fs::is_symlink(out / "01 - Song 1 (A).mp3"));
  EXPECT_TRUE(contains(r.err, "could not write reports: refusing to write " + (out / "report.html").string() +
                                  ": it is a symbolic link"))
      << r.err;
  // Take A was not published over the link: the song failed and says why.
  EXPECT_EQ(r.exit_code, 1) << r.err;
  ASSERT_TRUE(fs::is_regular_file(fs::symlink_status(out / "report.json")));
  auto song = report_songs(out).at(0).as_object();
  EXPECT_EQ(song.at("status").as_string(), "failed");
  EXPECT_TRUE(contains(std::string(song.at("reason").as_string()), "01 - Song 1 (A).mp3: it is a symbolic link"))
      << json::serialize(song);
  // The rest was written beside the links, as regular files.
  for (auto name : {"album.m3u8", "junit.xml", "01 - Song 1 (B).mp3", "01 - Song 1.txt"})
    EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(out / name))) << name;
}

// A resumable download's .part in OUT/.setlist/partial linked to a file
// outside OUT: the download is refused, the file untouched, nothing sent.
TEST(Trust, ALinkedPartFileIsRefusedAndItsTargetUntouched) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(1));
  Sim sim(dir.path(), fast_sim_args());
  auto out = dir / "out";
  auto args = fast_run_args(sim, dir / "album.yaml", out);
  ASSERT_EQ(run_setlist(args).exit_code, 0);
  // Take B missing: the next run fetches it again (free) through its .part.
  std::string id(report_songs(out).at(0).at("clips").at(1).at("id").as_string());
  ASSERT_TRUE(fs::remove(out / "01 - Song 1 (B).mp3"));
  auto victim = dir / "victim.txt";
  write_file(victim, "precious");
  auto part = out / ".setlist" / "partial" / (id + ".audio.part");
  fs::create_directories(part.parent_path());
  fs::create_symlink(victim, part);
  auto stats_before = sim.stats().as_object();
  auto audio_before = stats_before.at("requests").as_object().contains("CDN /audio")
                          ? stats_before.at("requests").at("CDN /audio").as_object().size()
                          : 0;

  auto r = run_setlist(args);
  EXPECT_EQ(read_file(victim), "precious") << r.err;
  EXPECT_TRUE(fs::is_symlink(part));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  auto song = report_songs(out).at(0).as_object();
  EXPECT_TRUE(contains(std::string(song.at("reason").as_string()),
                       "refusing to download into " + part.string() + ": it is a symbolic link"))
      << json::serialize(song);
  auto stats = sim.stats().as_object();
  EXPECT_EQ(stats.at("requests").at("CDN /audio").as_object().size(), audio_before) << "the audio was requested";
  EXPECT_EQ(stats.at("generate_requests").as_int64(), 1);
}

// The validator kept beside a .part (<id>.audio.part.etag) is never read or
// written through a link: a planted one would send another file's first line
// to the CDN as If-Range, and be overwritten after a failed attempt.
TEST(Trust, ALinkedEtagFileIsNeitherReadNorWrittenThrough) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(1));
  // The first download after the repair is cut short, so a validator is kept.
  Sim sim(dir.path(), fast_sim_args({"--fault", "truncate/audio@n3"}));
  auto out = dir / "out";
  auto args = fast_run_args(sim, dir / "album.yaml", out);
  ASSERT_EQ(run_setlist(args).exit_code, 0);
  std::string id(report_songs(out).at(0).at("clips").at(1).at("id").as_string());
  ASSERT_TRUE(fs::remove(out / "01 - Song 1 (B).mp3"));
  auto victim = dir / "victim.txt";
  write_file(victim, "secret first line\nmore\n");
  auto etag = out / ".setlist" / "partial" / (id + ".audio.part.etag");
  fs::create_directories(etag.parent_path());
  fs::create_symlink(victim, etag);

  auto r = run_setlist(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(victim), "secret first line\nmore\n") << "written through the link";
  EXPECT_EQ(run_setlist({"verify", out.string()}).exit_code, 0);
}

// A key that would inject header lines, or that is absurdly long, is refused
// before anything is sent, and the key itself is never printed.
TEST(Trust, AMalformedKeyIsRefusedBeforeAnyRequestWithoutPrintingIt) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(1));
  Sim sim(dir.path(), fast_sim_args());
  auto args = fast_run_args(sim, dir / "album.yaml", dir / "out");
  struct Case {
    std::string key;
    std::string message;
    std::string secret;  // a part of the key that must not appear in the output
  };
  const std::string long_key = "sk-long-" + std::string(100 * 1024, 'q');
  std::vector<Case> cases = {
      {"abc\r\nX-Evil: injected", "the API key in AIML_API_KEY contains a carriage return (CR) at byte 4", "injected"},
      {"abc\nX-Evil: injected", "the API key in AIML_API_KEY contains a line feed (LF) at byte 4", "injected"},
      {long_key, "the API key in AIML_API_KEY is 102408 bytes long, more than the 4096 allowed", "sk-long-qqqq"},
      {"sk-secret part", "the API key in AIML_API_KEY contains a space at byte 10", "sk-secret"},
      {"sk-secret\tpart", "the API key in AIML_API_KEY contains a control character (0x09) at byte 10", "sk-secret"},
      {"sk-secret\x7fpart", "the API key in AIML_API_KEY contains a control character (0x7f) at byte 10", "sk-secret"},
  };
  for (auto& c : cases) {
    auto r = run_setlist(args, {{"AIML_API_KEY", c.key}});
    EXPECT_EQ(r.exit_code, 2) << c.message << "\n" << r.err;
    EXPECT_TRUE(contains(r.err, c.message)) << r.err.substr(0, 2000);
    EXPECT_FALSE(contains(r.out + r.err, c.secret)) << "the key was printed: " << c.message;
  }
  // The same from a key file: a NUL; a second line (a key of its own, #18's
  // pools: a header smuggled in on it is refused as a key with a space).
  auto key_file = dir / "key";
  for (auto [bytes, message] : std::vector<std::pair<std::string, std::string>>{
           {std::string("sk-secret\0more", 14), "contains a NUL byte at byte 10"},
           {"sk-secret\nX-Evil: injected\n", "line 2 contains a space at byte 8"},
           {std::string(4097, 'k') + "\n", "is 4097 bytes long, more than the 4096 allowed"},
           {std::string(5000, 'k') + "\n", "is 5000 bytes long, more than the 4096 allowed"}}) {
    { std::ofstream(key_file, std::ios::binary | std::ios::trunc) << bytes; }
    fs::permissions(key_file, fs::perms::owner_read | fs::perms::owner_write);
    auto r = run_setlist(with_arg(args, "--api-key-file", key_file.string()), {{"AIML_API_KEY", "\x01unset"}});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_TRUE(contains(r.err, "the API key in --api-key-file " + key_file.string() + " " + message)) << r.err;
    EXPECT_FALSE(contains(r.out + r.err, "sk-secret"));
    EXPECT_FALSE(contains(r.out + r.err, "kkkkkkkk"));
  }
  EXPECT_EQ(requests_total(sim), 0) << "a request went out with a malformed key";
  EXPECT_FALSE(fs::exists(dir / "out" / ".setlist" / "state.db"));
}

// While `run` holds the key it cannot be dumped: RLIMIT_CORE is 0 (seen in
// /proc/PID/limits) and the process is not dumpable (its /proc files then
// belong to root, which only a user other than root can see).
TEST(Trust, ARunCannotDumpCore) {
  struct rlimit mine {};
  ASSERT_EQ(::getrlimit(RLIMIT_CORE, &mine), 0);
  if (mine.rlim_max == 0) GTEST_SKIP() << "core dumps are already impossible here (hard RLIMIT_CORE 0)";
  // The child inherits a non-zero soft limit, so a 0 can only come from setlist itself.
  struct rlimit raised = mine;
  raised.rlim_cur = mine.rlim_max;
  ASSERT_EQ(::setrlimit(RLIMIT_CORE, &raised), 0);

  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(1));
  Sim sim(dir.path(), fast_sim_args({"--latency", "3s"}));
  auto proc = start_setlist(dir, fast_run_args(sim, dir / "album.yaml", dir / "out"), "run");
  ASSERT_EQ(::setrlimit(RLIMIT_CORE, &mine), 0);

  const auto limits = "/proc/" + std::to_string(proc->pid()) + "/limits";
  std::string core_line;
  for (auto deadline = std::chrono::steady_clock::now() + 10s; std::chrono::steady_clock::now() < deadline;) {
    std::ifstream in(limits);
    for (std::string line; std::getline(in, line);)
      if (line.starts_with("Max core file size")) core_line = line;
    if (core_line.find(" 0 ") != std::string::npos) break;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_NE(core_line.find("Max core file size        0                    0 "), std::string::npos) << core_line;
  if (::geteuid() != 0) {
    struct stat st {};
    ASSERT_EQ(::stat(("/proc/" + std::to_string(proc->pid())).c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 0u) << "the process is still dumpable";
  }
  proc->signal(SIGTERM);
  EXPECT_TRUE(proc->wait(30s));
}

// A manifest from someone else names files outside its folder (directly, by
// "..", or through a link): every command that loads it refuses, with the
// position and the --allow-path hint, before anything is sent.
TEST(Trust, AManifestCannotReadFilesOutsideItsFolder) {
  TempDir dir;
  auto album = dir / "album";
  fs::create_directories(album);
  write_file(dir / "secret.txt", "[Verse]\nthe neighbour's secret words\n");
  fs::create_symlink(dir / "secret.txt", album / "words.txt");
  const std::string yaml = "album:\n  title: T\n  artist: A\nsongs:\n  - title: Song 1\n    lyrics_file: ../secret.txt\n"
                           "  - title: Song 2\n    lyrics_file: words.txt\n";
  write_file(album / "album.yaml", yaml);
  Sim sim(dir.path(), fast_sim_args());
  auto out = dir / "out";
  const auto manifest = (album / "album.yaml").string();
  const std::vector<std::vector<std::string>> commands = {
      {"validate", manifest}, {"plan", manifest, "-o", out.string()}, {"config", manifest},
      fast_run_args(sim, album / "album.yaml", out)};
  for (auto& args : commands) {
    auto r = run_setlist(args);
    EXPECT_EQ(r.exit_code, 2) << args[0] << "\n" << r.err;
    EXPECT_TRUE(contains(r.err, manifest + ":6:18: error: songs[0].lyrics_file: \"../secret.txt\" is outside the "
                                           "manifest's folder"))
        << args[0] << "\n" << r.err;
    EXPECT_TRUE(contains(r.err, manifest + ":8:18: error: songs[1].lyrics_file: \"words.txt\" is outside the "
                                           "manifest's folder"))
        << args[0] << "\n" << r.err;
    EXPECT_TRUE(contains(r.err, "pass --allow-path DIR")) << r.err;
    EXPECT_FALSE(contains(r.out + r.err, "neighbour")) << args[0];
  }
  EXPECT_EQ(requests_total(sim), 0) << "a request went out";
  EXPECT_FALSE(fs::exists(out / ".setlist" / "state.db"));

  // The user says the folder is fine: the same manifest runs.
  EXPECT_EQ(run_setlist({"validate", manifest, "--allow-path", dir.path().string()}).exit_code, 0);
  auto r = run_setlist(with_arg(fast_run_args(sim, album / "album.yaml", out), "--allow-path", dir.path().string()));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(read_file(out / "01 - Song 1.txt"), "the neighbour's secret words"));
}

// A crafted state.db names files outside OUT: the album's cover source
// (meta album.cover_source) and files rows ("../victim.txt", an absolute
// path behind "../../.."). `setlist report` copies none of them into
// cover.jpg or the reports, and says the state is damaged.
TEST(Trust, ACraftedStateCannotMakeReportCopyOutsideFiles) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(1));
  Sim sim(dir.path(), fast_sim_args());
  auto out = dir / "out";
  ASSERT_EQ(run_setlist(fast_run_args(sim, dir / "album.yaml", out)).exit_code, 0);
  const std::string secret = "VICTIM-BYTES-7f3a9c";
  auto victim = dir / "victim.txt";
  write_file(victim, "\xFF\xD8\xFF" + secret + "\n");
  const auto db = out / ".setlist" / "state.db";
  sql(db, "UPDATE meta SET value=json_set(value, '$.cover_source', " + q(victim.string()) + ") WHERE key='album'");
  sql(db, "UPDATE files SET path='../victim.txt' WHERE kind='cover' AND path LIKE '%(A)%'");
  sql(db, "UPDATE files SET path=" + q("../../../../../../../../../../.." + victim.string()) + " WHERE kind='lyrics'");
  fs::remove(out / "cover.jpg");

  auto r = run_setlist({"report", out.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.err, "damaged state: a files row names \"../victim.txt\", a path that leaves OUT"))
      << r.err;
  for (auto name : {"cover.jpg", "cover.png", "report.html", "report.json", "album.m3u8", "junit.xml"}) {
    if (fs::exists(out / name)) {
      EXPECT_FALSE(contains(read_file(out / name), secret)) << name;
    }
  }
  EXPECT_FALSE(contains(read_file(out / "report.html"), "victim.txt\"")) << "linked to";
  auto damaged = read_json(out / "report.json").at("damaged_state").as_array();
  EXPECT_EQ(damaged.size(), 2u) << json::serialize(damaged);
  // verify names the rows as damaged and never opens them.
  auto v = run_setlist({"verify", out.string()});
  EXPECT_EQ(v.exit_code, 1);
  EXPECT_TRUE(contains(v.out, "DAMAGED  damaged state: a files row names \"../victim.txt\"")) << v.out;
  EXPECT_FALSE(contains(v.out + v.err, secret));
}

// A files row "../victim.txt" for a take: the next run never moves the
// victim into .setlist/superseded; it fetches the take again (free) under
// its own name.
TEST(Trust, AFilesRowOutsideOutIsNeverMovedByARun) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(1));
  Sim sim(dir.path(), fast_sim_args());
  auto out = dir / "out";
  auto args = fast_run_args(sim, dir / "album.yaml", out);
  ASSERT_EQ(run_setlist(args).exit_code, 0);
  auto victim = dir / "victim.txt";
  write_file(victim, "precious");
  sql(out / ".setlist" / "state.db", "UPDATE files SET path='../victim.txt' WHERE kind='audio' AND path LIKE '%(A)%'");

  auto r = run_setlist(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(victim), "precious");
  EXPECT_TRUE(find_named(out, "victim.txt").empty()) << "moved into OUT";
  EXPECT_TRUE(contains(r.err, "damaged state: a files row names \"../victim.txt\"")) << r.err;
  EXPECT_EQ(sim.stats().at("generate_requests").as_int64(), 1) << "paid again";
  EXPECT_TRUE(fs::is_regular_file(out / "01 - Song 1 (A).mp3"));
}

// The API answers a second song with the clip ids of the first (sim fault
// dup-clips): the second song is uncertain (it was paid for), the first
// keeps its clips and files, nothing is submitted again.
TEST(Trust, AClipIdOwnedByAnotherSongIsAProtocolErrorNotATakeover) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(2));
  Sim sim(dir.path(), fast_sim_args({"--fault", "dup-clips@n2"}));
  auto out = dir / "out";
  auto args = fast_run_args(sim, dir / "album.yaml", out);
  auto r = run_setlist(args);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  json::object complete, uncertain;
  for (auto& s : report_songs(out)) {
    if (s.at("status").as_string() == "complete") complete = s.as_object();
    if (s.at("status").as_string() == "uncertain") uncertain = s.as_object();
  }
  ASSERT_FALSE(complete.empty()) << r.err;
  ASSERT_FALSE(uncertain.empty()) << r.err;
  const auto& clips = complete.at("clips").as_array();
  ASSERT_EQ(clips.size(), 2u);
  std::string first_id(clips.at(0).at("id").as_string());
  std::string reason(uncertain.at("reason").as_string());
  EXPECT_TRUE(contains(reason, "protocol error: the answer names clip " + first_id +
                                   ", which already belongs to another song (track " +
                                   std::to_string(complete.at("track").as_int64()) + ", \"" +
                                   std::string(complete.at("title").as_string()) + "\")"))
      << reason;
  EXPECT_TRUE(uncertain.at("clips").as_array().empty()) << json::serialize(uncertain);
  EXPECT_EQ(run_setlist({"verify", out.string()}).exit_code, 0);
  EXPECT_EQ(sim.stats().at("generate_requests").as_int64(), 2);
  // A rerun keeps it uncertain: no second charge.
  EXPECT_EQ(run_setlist(args).exit_code, 1);
  EXPECT_EQ(sim.stats().at("generate_requests").as_int64(), 2);
  EXPECT_EQ(statuses(out).at(std::string(uncertain.at("title").as_string())), "uncertain");
}

// A body longer than its Content-Length (sim fault short-length, on the
// first take and the first cover): the cut-short files are failed downloads,
// fetched again, never published (a JPEG has no structure check of its own).
TEST(Trust, ABodyLongerThanItsContentLengthIsNotPublishedCutShort) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(1));
  Sim sim(dir.path(), fast_sim_args({"--fault", "short-length/audio@n1", "--fault", "short-length/image@n1"}));
  auto out = dir / "out";
  auto r = run_setlist(fast_run_args(sim, dir / "album.yaml", out, {"-v"}));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.err, "sent more bytes than its Content-Length")) << r.err;
  const auto songs = report_songs(out);
  for (auto& c : songs.at(0).at("clips").as_array()) {
    auto audio = out / std::string(c.at("audio").at("path").as_string());
    EXPECT_TRUE(setlist::check_audio_file(audio)) << audio;
    auto cover = read_file(out / std::string(c.at("cover").at("path").as_string()));
    ASSERT_GE(cover.size(), 4u);
    EXPECT_EQ(cover.substr(cover.size() - 2), "\xFF\xD9") << "a cover cut short was published";
  }
  EXPECT_EQ(run_setlist({"verify", out.string()}).exit_code, 0);
}

// A CDN redirect to a link-local address while the API is on loopback:
// refused before any connection, saying why. (fe80::1 without a zone cannot
// be connected to at all, so even without the rule nothing leaves the machine.)
TEST(Trust, ARedirectIntoTheLocalNetworkIsRefused) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(1));
  Sim sim(dir.path(), fast_sim_args({"--fault", "redirect-to=https://[fe80::1]/take.mp3/audio@n1"}));
  auto out = dir / "out";
  auto r = run_setlist(fast_run_args(sim, dir / "album.yaml", out));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  auto song = report_songs(out).at(0).as_object();
  EXPECT_TRUE(contains(std::string(song.at("reason").as_string()),
                       "refusing to download from fe80::1: it is a link-local address (169.254.0.0/16, fe80::/10) "
                       "and the API is not on such an address"))
      << json::serialize(song);
}

// A manifest that names the API's address could send the user's key to its
// author: only the provider's own host or this machine are taken from it.
// 0.0.0.0 reaches this machine without being a loopback name, so the test
// stays on the machine while the address counts as a stranger's.
TEST(Trust, AManifestCannotSendTheKeyToAHostItNames) {
  TempDir dir;
  Sim sim(dir.path(), fast_sim_args());
  const std::string port = sim.base_url().substr(sim.base_url().rfind(':') + 1);
  write_file(dir / "album.yaml", album_yaml(1, "  base_url: http://0.0.0.0:" + port + "\n"));
  auto out = dir / "out";
  auto r = run_setlist({"run", (dir / "album.yaml").string(), "-o", out.string()});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("does not send your API key to a host a manifest names"), std::string::npos) << r.err;
  EXPECT_EQ(sim.stats().at("generate_requests").as_int64(), 0) << "the key went to the manifest's host";
  // Given by the user, the same address is used (its plain-http CDN is then
  // refused for not being on loopback, which is another rule).
  auto given = run_setlist({"run", (dir / "album.yaml").string(), "-o", out.string(), "--base-url",
                            "http://0.0.0.0:" + port, "--poll-interval", "100ms"});
  EXPECT_NE(given.exit_code, 2) << given.err;
  EXPECT_EQ(sim.stats().at("generate_requests").as_int64(), 1) << given.err;
}
