// Hostile or broken servers: each protection has a test that fails without it.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>

#include "integration_support.hpp"

using namespace setlist::test;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

// One run of an album of `songs` songs against `sim` into DIR/out, and its report.
struct AlbumRun {
  RunResult run;
  json::value report;
  fs::path out;
  const json::object& song(std::size_t i = 0) const { return report.at("songs").at(i).as_object(); }
  std::string status(std::size_t i = 0) const { return std::string(song(i).at("status").as_string()); }
  std::string reason(std::size_t i = 0) const {
    auto* r = song(i).if_contains("reason");
    return r && r->is_string() ? std::string(r->as_string()) : std::string();
  }
};

AlbumRun run_album(const TempDir& dir, const Sim& sim, int songs, std::vector<std::string> extra = {},
                   Env env = {}, std::chrono::milliseconds timeout = std::chrono::minutes(3)) {
  AlbumRun a;
  a.out = dir / "out";
  write_file(dir / "album.yaml", album_yaml(songs));
  a.run = run_setlist(fast_run_args(sim, dir / "album.yaml", a.out, std::move(extra)), std::move(env), timeout);
  if (fs::exists(a.out / "report.json")) a.report = read_json(a.out / "report.json");
  return a;
}

// Every take of the first song on disk is the clip's real audio, byte for byte as the simulator made it.
void expect_the_real_audio(const AlbumRun& a, const Sim& sim) {
  auto stats = sim.stats();
  for (auto& c : a.song().at("clips").as_array()) {
    EXPECT_EQ(c.at("audio").at("source_sha256"), stats.at("clips").at(c.at("id").as_string()).at("sha256"));
    EXPECT_EQ(read_file(a.out / std::string(c.at("audio").at("path").as_string())).substr(0, 3), "ID3");
  }
}

// The largest audio file under `out`: published .mp3 or a partial .mp3.part (0 when none).
std::uintmax_t largest_audio_file(const fs::path& out) {
  std::uintmax_t most = 0;
  for (const auto& e : fs::recursive_directory_iterator(out))
    if (e.is_regular_file() && e.path().filename().string().find(".mp3") != std::string::npos)
      most = std::max(most, e.file_size());
  return most;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// A loopback port that never says a word: connections complete in the
// kernel's accept queue and nobody accepts them. With `full`, the queue is
// filled first, so that later connects get no answer at all (the kernel
// drops their SYNs): a connect that hangs, without any outside address.
class SilentPort {
 public:
  explicit SilentPort(bool full) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listener_, full ? 0 : 64) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      throw std::runtime_error("SilentPort: cannot listen");
    port_ = ntohs(a.sin_port);
    for (int i = 0; full && i < 16; ++i) {  // until a connect does not complete
      int c = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      fillers_.push_back(c);
      ::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a);
      pollfd p{c, POLLOUT, 0};
      if (::poll(&p, 1, 300) == 0) return;
    }
    if (full) throw std::runtime_error("SilentPort: the accept queue does not fill up");
  }
  ~SilentPort() {
    for (int fd : fillers_) ::close(fd);
    ::close(listener_);
  }
  SilentPort(const SilentPort&) = delete;
  SilentPort& operator=(const SilentPort&) = delete;
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string url(const std::string& scheme) const { return scheme + "://" + address(); }

 private:
  int listener_ = -1;
  int port_ = 0;
  std::vector<int> fillers_;
};

// `setlist run` of one song against BASE_URL, with short timeouts; a run
// that outlives `limit` is killed (so a missing timeout fails, not hangs).
RunResult run_against(const TempDir& dir, const std::string& base_url, std::chrono::milliseconds limit = 60s) {
  write_file(dir / "album.yaml", album_yaml(1));
  return run_setlist({"run", (dir / "album.yaml").string(), "-o", (dir / "out").string(), "--base-url", base_url,
                      "--connect-timeout", "300ms", "--retry-max-attempts", "2", "--retry-base", "50ms",
                      "--retry-cap", "100ms"},
                     {}, limit);
}

}  // namespace

TEST(Hostile, HtmlPageInsteadOfAudioIsRefusedAndRetried) {
  TempDir dir;
  Sim sim(dir.path(), fast_sim_args({"--fault", "html/audio@n1"}));
  auto a = run_album(dir, sim, 1, {"-v"});
  ASSERT_EQ(a.run.exit_code, 0) << a.run.err;
  EXPECT_TRUE(contains(a.run.err, "not MP3 or WAV audio")) << a.run.err;
  expect_the_real_audio(a, sim);  // what was kept is the audio, not the HTML page
}

TEST(Hostile, MoreThanFiveRedirectsAreNotFollowed) {
  TempDir dir;
  Sim sim(dir.path(), fast_sim_args({"--fault", "redirect=6/audio@1"}));
  auto a = run_album(dir, sim, 1, {"--retry-max-attempts", "2"});
  EXPECT_EQ(a.run.exit_code, 1) << a.run.err;
  EXPECT_EQ(a.status(), "failed");
  EXPECT_TRUE(contains(a.reason(), "too many redirects (more than 5)")) << a.reason();
}

TEST(Hostile, FiveRedirectsAreFollowed) {
  TempDir dir;
  Sim sim(dir.path(), fast_sim_args({"--fault", "redirect=5/audio@1"}));
  EXPECT_EQ(run_album(dir, sim, 1).run.exit_code, 0);
}

// --- Size caps -------------------------------------------------------------

TEST(Hostile, OversizedPollAnswerIsDroppedAndThePollRetried) {
  TempDir dir;
  Sim sim(dir.path(), fast_sim_args({"--fault", "huge-json/get@n1"}));  // 16 MiB, Content-Length says so
  auto a = run_album(dir, sim, 1, {"-v"});
  ASSERT_EQ(a.run.exit_code, 0) << a.run.err;
  EXPECT_TRUE(contains(a.run.err, "larger than the 8 MiB limit")) << a.run.err;
  EXPECT_EQ(a.status(), "complete");
}

TEST(Hostile, OversizedPollAnswerWithoutLengthIsCutAtTheLimitInBoundedMemory) {
  TempDir dir;
  // 256 MiB of JSON that ends only when the connection closes.
  Sim sim(dir.path(), fast_sim_args({"--fault", "huge-json=256MiB/get@n1", "--fault", "no-length/get@n1"}));
  auto a = run_album(dir, sim, 1, {"-v"});
  ASSERT_EQ(a.run.exit_code, 0) << a.run.err;
  EXPECT_TRUE(contains(a.run.err, "larger than the 8 MiB limit")) << a.run.err;
  // Reading the whole answer would take more than 256 MiB; a run needs about 30.
  EXPECT_LT(a.run.max_rss_kb, 100 * 1024);
}

TEST(Hostile, OversizedGenerateAnswerMakesTheSongUncertainAndItIsNotBoughtAgain) {
  TempDir dir;
  // The server accepted (and billed) the request; its answer is too big to read.
  Sim sim(dir.path(), fast_sim_args({"--fault", "huge-json/generate@n1"}));
  auto a = run_album(dir, sim, 2);
  EXPECT_EQ(a.run.exit_code, 1) << a.run.err;
  int uncertain = 0, complete = 0;
  for (std::size_t i = 0; i < 2; ++i) {
    if (a.status(i) == "uncertain") {
      ++uncertain;
      EXPECT_TRUE(contains(a.reason(i), "the answer to the generate request could not be read")) << a.reason(i);
      EXPECT_TRUE(contains(a.reason(i), "larger than the 8 MiB limit")) << a.reason(i);
    }
    complete += a.status(i) == "complete";
  }
  EXPECT_EQ(uncertain, 1);
  EXPECT_EQ(complete, 1);
  auto stats = sim.stats();
  EXPECT_EQ(stats.at("generate_requests").as_int64(), 2);  // the uncertain song was not submitted again
  EXPECT_EQ(stats.at("duplicate_submissions").as_int64(), 0);
}

TEST(Hostile, AudioAnnouncingMoreThanTheCapIsRefusedBeforeAByteIsWritten) {
  TempDir dir;
  Sim sim(dir.path(), fast_sim_args({"--fault", "huge-length=1GiB/audio@1"}));  // then sends the real bytes
  auto a = run_album(dir, sim, 1, {"--retry-max-attempts", "2"});
  EXPECT_EQ(a.run.exit_code, 1) << a.run.err;
  EXPECT_EQ(a.status(), "failed");
  EXPECT_TRUE(contains(a.reason(), "announced 1073741824 bytes, more than the 512 MiB limit")) << a.reason();
  EXPECT_EQ(largest_audio_file(a.out), 0u);
}

TEST(Hostile, AudioWithoutLengthStopsAtALoweredCap) {
  TempDir dir;
  // Every clip is 2..4 s of 128 kbps audio: 32..64 KB, more than the cap.
  Sim sim(dir.path(), fast_sim_args({"--fault", "no-length/audio@1"}));
  auto a = run_album(dir, sim, 1, {"--max-download-size", "16KiB", "--retry-max-attempts", "2"});
  EXPECT_EQ(a.run.exit_code, 1) << a.run.err;
  EXPECT_EQ(a.status(), "failed");
  EXPECT_TRUE(contains(a.reason(), "sent more than the 16 KiB limit")) << a.reason();
  EXPECT_LE(largest_audio_file(a.out), 16u * 1024);
}

// --- Redirects -------------------------------------------------------------

TEST(Hostile, RedirectFromHttpsToPlainHttpIsNotFollowed) {
  TempDir dir;
  auto certs = make_certs(dir);
  ConnectProxy plain;  // a plain-http listener that records every request it gets
  Sim sim(dir.path(), tls_args(certs, "server", {"--fault", "redirect-to=" + plain.url() + "/a.mp3/audio@1"}));
  auto a = run_album(dir, sim, 1, {"--cacert", (certs / "ca.pem").string(), "--retry-max-attempts", "2"});
  EXPECT_EQ(a.run.exit_code, 1) << a.run.err;
  EXPECT_EQ(a.status(), "failed");
  EXPECT_TRUE(contains(a.reason(), "to plain http (" + plain.url() + ")")) << a.reason();
  EXPECT_EQ(plain.heads(), "") << "a request went out over plain http";
}

TEST(Hostile, PlainHttpAudioUrlFromAnHttpsApiIsNotFetched) {
  TempDir dir;
  auto certs = make_certs(dir);
  ConnectProxy plain;  // a plain-http listener that records every request it gets
  Sim sim(dir.path(), tls_args(certs, "server", {"--fault", "audio-url=" + plain.url() + "/a.mp3/clips@1"}));
  auto a = run_album(dir, sim, 1, {"--cacert", (certs / "ca.pem").string(), "--retry-max-attempts", "2"});
  EXPECT_EQ(a.run.exit_code, 1) << a.run.err;
  EXPECT_EQ(a.status(), "failed");
  EXPECT_TRUE(contains(a.reason(), "refusing to download over plain http (" + plain.url() + ")")) << a.reason();
  EXPECT_EQ(plain.heads(), "") << "a request went out over plain http";
}

TEST(Hostile, RedirectToAFileUrlIsNotFollowed) {
  TempDir dir;
  Sim sim(dir.path(), fast_sim_args({"--fault", "redirect-to=file:///etc/passwd/audio@1"}));
  auto a = run_album(dir, sim, 1, {"--retry-max-attempts", "2"});
  EXPECT_EQ(a.run.exit_code, 1) << a.run.err;
  EXPECT_EQ(a.status(), "failed");
  EXPECT_TRUE(contains(a.reason(), "refusing redirect to a file: URL")) << a.reason();
  EXPECT_EQ(largest_audio_file(a.out), 0u);
}

// --- Timeouts, phase by phase (name lookup: tests/unit/http_client_test.cpp) ---

TEST(Timeouts, ConnectThatNeverCompletes) {
  TempDir dir;
  SilentPort port(/*full=*/true);
  auto r = run_against(dir, port.url("http"));
  // Nothing ever answered: the run says so once and stops (3), the songs stay pending.
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_TRUE(contains(r.err, "cannot reach the API at " + port.url("http"))) << r.err;
  EXPECT_TRUE(contains(r.err, "cannot connect to " + port.address() + ": timed out after 300 ms")) << r.err;
}

TEST(Timeouts, TlsHandshakeWithAServerThatNeverAnswers) {
  TempDir dir;
  SilentPort port(/*full=*/false);
  auto r = run_against(dir, port.url("https"));
  // A silent server is a network failure (retried, then the run stops: it was never reached), not an untrusted one.
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_TRUE(contains(r.err, "cannot reach the API")) << r.err;
  EXPECT_TRUE(contains(r.err, "TLS handshake with " + port.address() + " timed out after 300 ms")) << r.err;
}

TEST(Timeouts, AnswerHeadersThatNeverComeAreRetried) {
  TempDir dir;
  Sim sim(dir.path(), fast_sim_args({"--fault", "delay=90s/get@n1"}));
  auto a = run_album(dir, sim, 1, {"-v", "--request-timeout", "1s"}, {}, 60s);
  ASSERT_EQ(a.run.exit_code, 0) << a.run.err;
  EXPECT_TRUE(contains(a.run.err, "poll failed: no answer from 127.0.0.1:")) << a.run.err;
  EXPECT_TRUE(contains(a.run.err, "timed out waiting for the answer")) << a.run.err;
}

TEST(Timeouts, StalledBodyIsCutAndTheDownloadResumed) {
  TempDir dir;
  // Headers and the first 512 bytes, then 512 bytes every 90 s.
  Sim sim(dir.path(), fast_sim_args({"--fault", "trickle=90s/audio@n1"}));
  auto a = run_album(dir, sim, 1, {"-v", "--request-timeout", "1s"}, {}, 60s);
  ASSERT_EQ(a.run.exit_code, 0) << a.run.err;
  EXPECT_TRUE(contains(a.run.err, "stalled (no data within the idle timeout) after 512 bytes")) << a.run.err;
  // Resumed: the rest was asked for with Range and answered 206, not sent again whole.
  auto stats = sim.stats().as_object();
  auto& audio = stats.at("requests").as_object().at("CDN /audio").as_object();
  EXPECT_TRUE(audio.contains("206")) << boost::json::serialize(audio);
  expect_the_real_audio(a, sim);
}
