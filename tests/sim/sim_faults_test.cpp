// Every fault switch, observed from a real HTTP client (or a raw socket).
#include "sim_helpers.hpp"

using namespace simtest;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

namespace {

json::value complete_clip(Sim& sim) {
  auto ids = ids_of(submit(sim));
  auto clips = wait_status(sim, ids, "complete");
  EXPECT_EQ(clips.size(), 2u);
  return clips.empty() ? json::value() : clips[0];
}

std::string clip_sha256(const Sim& sim, const std::string& id) {
  return std::string(sim.stats().at("clips").at(id).at("sha256").as_string());
}

std::uint64_t fired(const json::value& stats, const std::string& rule) {
  auto* f = stats.at("faults_fired").as_object().if_contains(rule);
  return f ? f->to_number<std::uint64_t>() : 0;
}

}  // namespace

TEST(SimFaults, Http503OnTheNthRequest) {
  TempDir dir;
  Sim sim(dir.path(), fast({"--fault", "503@n2"}));
  EXPECT_EQ(submit(sim).status, 200);
  auto r = submit(sim);
  EXPECT_EQ(r.status, 503);
  auto e = json::parse(r.body);
  EXPECT_EQ(e.at("statusCode").to_number<int>(), 503);
  EXPECT_EQ(submit(sim).status, 200);
  auto s = sim.stats();
  EXPECT_EQ(count(s, "POST /generate/custom-mode", "503"), 1u);
  EXPECT_EQ(count(s, "POST /generate/custom-mode", "200"), 2u);
  EXPECT_EQ(s.at("tokens_charged").to_number<std::int64_t>(), 400000);  // a 503 is not billed
  EXPECT_EQ(fired(s, "503@n2"), 1u);
}

TEST(SimFaults, Http500And502ByScope) {
  TempDir dir;
  Sim sim(dir.path(), fast({"--fault", "500/get@1", "--fault", "502/generate@n1"}));
  auto g = submit(sim);
  EXPECT_EQ(g.status, 502);
  EXPECT_NE(g.body.find("Bad Gateway"), std::string::npos);
  auto ids = ids_of(submit(sim));
  auto p = http_get(get_url(sim, ids), auth());
  EXPECT_EQ(p.status, 500);
  EXPECT_EQ(http_get(get_url(sim, ids), auth()).status, 500);
  auto s = sim.stats();
  EXPECT_EQ(count(s, "GET /", "500"), 2u);
  EXPECT_EQ(count(s, "POST /generate/custom-mode", "502"), 1u);
}

TEST(SimFaults, ProbabilityIsSeededAndCountedExactly) {
  auto run_once = [](std::vector<int>& statuses) {
    TempDir dir;
    Sim sim(dir.path(), fast({"--fault", "503/get@0.5", "--seed", "11"}));
    for (int i = 0; i < 40; ++i) statuses.push_back(http_get(get_url(sim, {"x"}), auth()).status);
    auto s = sim.stats();
    auto n503 = std::count(statuses.begin(), statuses.end(), 503);
    EXPECT_EQ(count(s, "GET /", "503"), static_cast<std::uint64_t>(n503));
    EXPECT_EQ(count(s, "GET /", "200"), static_cast<std::uint64_t>(40 - n503));
    EXPECT_GT(n503, 5);
    EXPECT_LT(n503, 35);
  };
  std::vector<int> a, b;
  run_once(a);
  run_once(b);
  EXPECT_EQ(a, b);
}

TEST(SimFaults, ConnectionResetBeforeAnyResponse) {
  TempDir dir;
  Sim sim(dir.path(), fast({"--fault", "reset/get@n1,n2"}));
  auto r = http_get(get_url(sim, {"x"}), auth());
  EXPECT_EQ(r.status, 0);
  EXPECT_FALSE(r.error.empty());
  auto raw = raw_exchange(sim.base_url(), raw_get("/?ids%5B0%5D=x", "Authorization: Bearer k\r\n"));
  EXPECT_TRUE(raw.data.empty());
  EXPECT_EQ(raw.err, ECONNRESET);
  EXPECT_EQ(http_get(get_url(sim, {"x"}), auth()).status, 200);
  EXPECT_EQ(count(sim.stats(), "GET /", "reset"), 2u);
}

TEST(SimFaults, DelayHoldsTheResponse) {
  TempDir dir;
  Sim sim(dir.path(), fast({"--fault", "delay=300ms@n1"}));
  auto t0 = steady_clock::now();
  EXPECT_EQ(submit(sim).status, 200);
  EXPECT_GE(steady_clock::now() - t0, milliseconds(290));
  auto t1 = steady_clock::now();
  EXPECT_EQ(submit(sim).status, 200);
  EXPECT_LT(steady_clock::now() - t1, milliseconds(200));
}

TEST(SimFaults, DelayOnImages) {
  TempDir dir;
  Sim sim(dir.path(), fast({"--fault", "delay=250ms/image@1"}));
  auto c = complete_clip(sim);
  auto t0 = steady_clock::now();
  EXPECT_EQ(http_get(str(c, "image_url")).status, 200);
  EXPECT_GE(steady_clock::now() - t0, milliseconds(240));
}

TEST(SimFaults, TrickleSendsTheBodySlowlyButWhole) {
  TempDir dir;
  Sim sim(dir.path(), fast({"--duration", "0.5s", "--fault", "trickle=20ms@n1"}));
  auto c = complete_clip(sim);
  auto full_sha = clip_sha256(sim, str(c, "id"));
  auto t0 = steady_clock::now();
  auto a = http_get(str(c, "audio_url"));
  auto took = steady_clock::now() - t0;
  ASSERT_EQ(a.status, 200);
  EXPECT_EQ(sha256_hex(a.body), full_sha);
  // 21 frames * 384 bytes = 8064 bytes in 512-byte pieces 20 ms apart
  EXPECT_GE(took, milliseconds(250));
}

TEST(SimFaults, TruncatedDownload) {
  TempDir dir;
  Sim sim(dir.path(), fast({"--fault", "truncate@n1"}));
  auto c = complete_clip(sim);
  auto a = http_get(str(c, "audio_url"));
  EXPECT_EQ(a.status, 200);
  ASSERT_TRUE(a.headers.count("content-length"));
  EXPECT_LT(a.body.size(), std::stoull(a.headers["content-length"]));
  EXPECT_FALSE(a.error.empty());
  auto again = http_get(str(c, "audio_url"));
  EXPECT_EQ(again.body.size(), std::stoull(again.headers["content-length"]));
}

TEST(SimFaults, ClipEndsInErrorWithNoneMp3) {
  TempDir dir;
  Sim sim(dir.path(), fast({"--fault", "clip-error=contained artist name@n1"}));
  auto ids = ids_of(submit(sim));
  std::this_thread::sleep_for(milliseconds(600));
  auto clips = poll(sim, ids);
  ASSERT_EQ(clips.size(), 2u);
  EXPECT_EQ(str(clips[0], "status"), "error");
  EXPECT_EQ(str(clips[0], "audio_url"), "None.mp3");
  EXPECT_EQ(str(clips[0], "error_message"), "contained artist name");
  EXPECT_EQ(str(clips[1], "status"), "complete");
  EXPECT_EQ(std::string(sim.stats().at("clips").at(ids[0]).at("status").as_string()), "error");
}

TEST(SimFaults, ClipStuckInQueuedOrStreaming) {
  TempDir dir;
  Sim sim(dir.path(), fast({"--fault", "stuck@n1", "--fault", "stuck=streaming@n2"}));
  auto ids = ids_of(submit(sim));
  std::this_thread::sleep_for(milliseconds(800));
  auto clips = poll(sim, ids);
  ASSERT_EQ(clips.size(), 2u);
  EXPECT_EQ(str(clips[0], "status"), "queued");
  EXPECT_EQ(str(clips[0], "audio_url"), "");
  EXPECT_EQ(str(clips[1], "status"), "streaming");
  EXPECT_NE(str(clips[1], "audio_url").find("/stream/"), std::string::npos);
  // the next song is fine
  auto more = ids_of(submit(sim));
  EXPECT_EQ(wait_status(sim, more, "complete").size(), 2u);
}

TEST(SimFaults, RedirectTwiceBeforeTheBytes) {
  TempDir dir;
  Sim sim(dir.path(), fast({"--fault", "redirect=2@n1"}));
  auto c = complete_clip(sim);
  std::string url = str(c, "audio_url");
  auto r1 = http_get(url);
  ASSERT_EQ(r1.status, 302);
  std::string loc1 = r1.headers["location"];
  EXPECT_EQ(loc1.rfind(sim.cdn_url(), 0), 0u) << loc1;
  auto r2 = http_get(loc1);
  ASSERT_EQ(r2.status, 302);
  auto r3 = http_get(r2.headers["location"]);
  ASSERT_EQ(r3.status, 200);
  EXPECT_EQ(r3.headers["content-type"], "audio/mpeg");
  auto direct = http_get(url);  // the rule fired once only
  EXPECT_EQ(direct.status, 200);
  EXPECT_EQ(sha256_hex(direct.body), sha256_hex(r3.body));
  EXPECT_EQ(count(sim.stats(), "CDN /audio", "302"), 2u);
}

TEST(SimFaults, Cdn403AndHtmlInsteadOfAudio) {
  TempDir dir;
  Sim sim(dir.path(), fast({"--fault", "cdn403@n1", "--fault", "html@n2"}));
  auto c = complete_clip(sim);
  auto a = http_get(str(c, "audio_url"));
  EXPECT_EQ(a.status, 403);
  auto b = http_get(str(c, "audio_url"));
  EXPECT_EQ(b.status, 200);
  EXPECT_EQ(b.headers["content-type"].rfind("text/html", 0), 0u);
  EXPECT_NE(b.body.find("<html>"), std::string::npos);
  auto ok = http_get(str(c, "audio_url"));
  EXPECT_EQ(ok.headers["content-type"], "audio/mpeg");
}

TEST(SimFaults, BadFaultRuleIsRejectedAtStartup) {
  TempDir dir;
  auto r = run({sim_bin().string(), "--port", "0", "--cdn-port", "0", "--fault", "explode@1"}, {},
               std::chrono::seconds(5));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("unknown fault kind"), std::string::npos) << r.err;
}

TEST(SimFaults, ClipErrorMessageMayContainSlashesAndScope) {
  TempDir dir;
  Sim sim(dir.path(), fast({"--fault", "clip-error=moderation/artist name@n2", "--fault",
                            "clip-error=with scope/clips@n3"}));
  auto ids = ids_of(submit(sim));
  auto more = ids_of(submit(sim));
  std::this_thread::sleep_for(milliseconds(600));
  auto clips = poll(sim, {ids[0], ids[1], more[0]});
  ASSERT_EQ(clips.size(), 3u);
  EXPECT_EQ(str(clips[0], "status"), "complete");
  EXPECT_EQ(str(clips[1], "error_message"), "moderation/artist name");
  EXPECT_EQ(str(clips[2], "error_message"), "with scope");
}

TEST(SimFaults, ServiceUnavailableWithRetryAfter) {
  TempDir dir;
  Sim sim(dir.path(), fast({"--fault", "503=2s/get@n1"}));
  auto r = http_get(get_url(sim, {"x"}), auth());
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.headers["retry-after"], "2");
  auto ok = http_get(get_url(sim, {"x"}), auth());
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.headers.count("retry-after"), 0u);
}

TEST(SimFaults, HugeJsonIsValidJsonOfTheGivenSize) {
  TempDir dir;
  Sim sim(dir.path(), fast({"--fault", "huge-json=1MiB/get@n2"}));
  auto ids = ids_of(submit(sim));
  auto normal = http_get(get_url(sim, ids), auth());
  auto huge = http_get(get_url(sim, ids), auth());
  ASSERT_EQ(huge.status, 200);
  EXPECT_EQ(huge.body.size(), 1u << 20);
  EXPECT_EQ(huge.headers["content-length"], std::to_string(1u << 20));
  EXPECT_EQ(json::parse(huge.body).as_array().size(), json::parse(normal.body).as_array().size());
}

TEST(SimFaults, AudioUrlIsWhateverTheRuleSays) {
  TempDir dir;
  Sim sim(dir.path(), fast({"--fault", "audio-url=http://cdn.example.test/x.mp3/clips@n1"}));
  auto c = complete_clip(sim);
  EXPECT_EQ(str(c, "audio_url"), "http://cdn.example.test/x.mp3");
}

TEST(SimFaults, HugeLengthAnnouncesMoreThanItSends) {
  TempDir dir;
  Sim sim(dir.path(), fast({"--fault", "huge-length=100MiB@n1"}));
  auto c = complete_clip(sim);
  auto a = http_get(str(c, "audio_url"));
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.headers["content-length"], std::to_string(100u << 20));
  EXPECT_EQ(sha256_hex(a.body), clip_sha256(sim, str(c, "id")));
  EXPECT_FALSE(a.error.empty());  // closed long before the announced end
}

TEST(SimFaults, NoLengthEndsTheBodyByClosing) {
  TempDir dir;
  Sim sim(dir.path(), fast({"--fault", "no-length@n1"}));
  auto c = complete_clip(sim);
  auto raw = raw_exchange(sim.cdn_url(), raw_get(str(c, "audio_url").substr(sim.cdn_url().size())));
  auto head_end = raw.data.find("\r\n\r\n");
  ASSERT_NE(head_end, std::string::npos);
  auto head = raw.data.substr(0, head_end);
  EXPECT_EQ(head.find("Content-Length"), std::string::npos) << head;
  EXPECT_EQ(sha256_hex(raw.data.substr(head_end + 4)), clip_sha256(sim, str(c, "id")));
}

TEST(SimFaults, RedirectToAnyUrl) {
  TempDir dir;
  Sim sim(dir.path(), fast({"--fault", "redirect-to=file:///etc/passwd@n1", "--fault",
                            "redirect-to=http://cdn.example.test/x.mp3/audio@n2"}));
  auto c = complete_clip(sim);
  auto a = http_get(str(c, "audio_url"));
  EXPECT_EQ(a.status, 302);
  EXPECT_EQ(a.headers["location"], "file:///etc/passwd");
  auto b = http_get(str(c, "audio_url"));
  EXPECT_EQ(b.status, 302);
  EXPECT_EQ(b.headers["location"], "http://cdn.example.test/x.mp3");
  EXPECT_EQ(http_get(str(c, "audio_url")).status, 200);
}
