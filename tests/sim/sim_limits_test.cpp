// Billing, rate limits, wait_audio, range requests, scenarios, TLS, flavors.
#include "sim_helpers.hpp"

#include <cstdlib>
#include <ctime>

using namespace simtest;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

TEST(SimBilling, BalanceRunsOutWith403) {
  TempDir dir;
  Sim sim(dir.path(), fast({"--balance", "400000", "--cost", "200000"}));
  EXPECT_EQ(submit(sim, "a").status, 200);
  EXPECT_EQ(submit(sim, "b").status, 200);
  auto r = submit(sim, "c");
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.body.find("resource limit exhausted"), std::string::npos);
  EXPECT_EQ(submit(sim, "d", "other-key").status, 200);  // balances are per key
  auto s = sim.stats();
  EXPECT_EQ(s.at("tokens_charged").to_number<std::int64_t>(), 600000);
  EXPECT_EQ(s.at("balance_exhausted").to_number<int>(), 1);
  EXPECT_EQ(s.at("clips").as_object().size(), 6u);
}

TEST(SimRateLimit, GenerateBucketAnswers429WithRetryAfterSeconds) {
  TempDir dir;
  Sim sim(dir.path(), fast({"--generate-rate", "1", "--generate-burst", "2"}));
  EXPECT_EQ(submit(sim, "a").status, 200);
  EXPECT_EQ(submit(sim, "b").status, 200);
  auto r = submit(sim, "c");
  ASSERT_EQ(r.status, 429);
  EXPECT_EQ(r.headers["retry-after"], "1");
  EXPECT_EQ(json::parse(r.body).at("statusCode").to_number<int>(), 429);
  // right after the 429: could have been in flight already (--retry-after-grace)
  EXPECT_EQ(submit(sim, "c").status, 429);
  // later but too early: a violation, and limited again
  std::this_thread::sleep_for(milliseconds(150));
  EXPECT_EQ(submit(sim, "c").status, 429);
  auto s = sim.stats();
  EXPECT_EQ(s.at("rate_limited").to_number<int>(), 3);
  EXPECT_EQ(s.at("retry_after_in_flight").to_number<int>(), 1);
  EXPECT_EQ(s.at("retry_after_violations").to_number<int>(), 1);
  EXPECT_EQ(count(s, "POST /generate/custom-mode", "429"), 3u);
  std::this_thread::sleep_for(milliseconds(1050));
  EXPECT_EQ(submit(sim, "c").status, 200);
  s = sim.stats();
  EXPECT_EQ(s.at("retry_after_violations").to_number<int>(), 1);
  // other keys have their own buckets
  EXPECT_EQ(submit(sim, "x", "key2").status, 200);
  EXPECT_EQ(s.at("tokens_charged").to_number<std::int64_t>(), 3 * 200000);
}

TEST(SimRateLimit, GetBucketWithHttpDate) {
  TempDir dir;
  Sim sim(dir.path(), fast({"--get-rate", "2", "--get-burst", "1", "--retry-after", "date"}));
  EXPECT_EQ(http_get(get_url(sim, {"x"}), auth()).status, 200);
  auto r = http_get(get_url(sim, {"x"}), auth());
  ASSERT_EQ(r.status, 429);
  std::string ra = r.headers["retry-after"];
  std::tm tm{};
  ASSERT_NE(strptime(ra.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm), nullptr) << ra;
  std::time_t when = timegm(&tm);
  std::time_t now = std::time(nullptr);
  EXPECT_GE(when, now);
  EXPECT_LE(when, now + 3);
  // generate is not limited
  EXPECT_EQ(submit(sim).status, 200);
}

TEST(SimRateLimit, RetryAfterCanBeAbsent) {
  TempDir dir;
  Sim sim(dir.path(), fast({"--get-rate", "1", "--get-burst", "1", "--retry-after", "none"}));
  EXPECT_EQ(http_get(get_url(sim, {"x"}), auth()).status, 200);
  auto r = http_get(get_url(sim, {"x"}), auth());
  ASSERT_EQ(r.status, 429);
  EXPECT_EQ(r.headers.count("retry-after"), 0u);
  EXPECT_EQ(sim.stats().at("rate_limited").to_number<int>(), 1);
}

TEST(SimWaitAudio, HoldsUntilStreaming) {
  TempDir dir;
  Sim sim(dir.path(), {"--latency", "600ms", "--latency-dist", "fixed", "--duration", "1s"});
  auto t0 = steady_clock::now();
  auto r = http("POST", sim.base_url() + "/generate/custom-mode", auth("k", custom_body("w", true)));
  auto took = steady_clock::now() - t0;
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_GE(took, milliseconds(90));
  EXPECT_LT(took, milliseconds(600));
  auto clips = json::parse(r.body);
  for (auto& c : clips.as_array()) {
    auto st = str(c, "status");
    EXPECT_TRUE(st == "streaming" || st == "complete") << st;
    EXPECT_FALSE(str(c, "audio_url").empty());
  }
}

TEST(SimWaitAudio, GivesUpAfterWaitMaxWithWhateverState) {
  TempDir dir;
  Sim sim(dir.path(), fast({"--wait-max", "300ms", "--fault", "stuck@n1"}));
  auto t0 = steady_clock::now();
  auto r = http("POST", sim.base_url() + "/generate/custom-mode", auth("k", custom_body("w", true)));
  auto took = steady_clock::now() - t0;
  ASSERT_EQ(r.status, 200);
  EXPECT_GE(took, milliseconds(290));
  EXPECT_LT(took, milliseconds(1000));
  auto a = json::parse(r.body).as_array();
  EXPECT_EQ(str(a[0], "status"), "queued");
}

TEST(SimCdn, RangeRequests) {
  TempDir dir;
  Sim sim(dir.path(), fast());
  auto ids = ids_of(submit(sim));
  auto clips = wait_status(sim, ids, "complete");
  ASSERT_EQ(clips.size(), 2u);
  std::string url = str(clips[0], "audio_url");
  auto full = http_get(url);
  ASSERT_EQ(full.status, 200);
  std::string etag = full.headers["etag"];
  ASSERT_FALSE(etag.empty());
  EXPECT_EQ(full.headers["accept-ranges"], "bytes");
  auto size = full.body.size();
  auto ranged = [&](const std::string& range, const std::string& if_range = {}) {
    HttpOptions o;
    o.headers["Range"] = range;
    if (!if_range.empty()) o.headers["If-Range"] = if_range;
    return http_get(url, o);
  };
  auto a = ranged("bytes=0-99");
  EXPECT_EQ(a.status, 206);
  EXPECT_EQ(a.body, full.body.substr(0, 100));
  EXPECT_EQ(a.headers["content-range"], "bytes 0-99/" + std::to_string(size));
  auto b = ranged("bytes=1000-");
  EXPECT_EQ(b.status, 206);
  EXPECT_EQ(b.body, full.body.substr(1000));
  auto c = ranged("bytes=-50");
  EXPECT_EQ(c.body, full.body.substr(size - 50));
  auto d = ranged("bytes=" + std::to_string(size) + "-");
  EXPECT_EQ(d.status, 416);
  EXPECT_EQ(d.headers["content-range"], "bytes */" + std::to_string(size));
  auto e = ranged("bytes=10-19", etag);
  EXPECT_EQ(e.status, 206);
  EXPECT_EQ(e.body, full.body.substr(10, 10));
  auto f = ranged("bytes=10-19", "\"stale\"");
  EXPECT_EQ(f.status, 200);
  EXPECT_EQ(f.body.size(), size);
}

TEST(SimCdn, KeepAliveServesManyRequestsOnOneConnection) {
  TempDir dir;
  Sim sim(dir.path(), fast());
  std::string req;
  for (int i = 0; i < 3; ++i) req += "GET /__sim/health HTTP/1.1\r\nHost: x\r\n\r\n";
  req += "GET /__sim/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  auto r = raw_exchange(sim.base_url(), req);
  std::size_t n = 0;
  for (std::size_t p = 0; (p = r.data.find("HTTP/1.1 200", p)) != std::string::npos; ++p) ++n;
  EXPECT_EQ(n, 4u);
}

TEST(SimScenario, YamlSettingsAndFlagsOverride) {
  TempDir dir;
  write_file(dir / "s.yaml",
             "latency: 200ms\n"
             "latency_jitter: 20ms\n"
             "duration: 1s..1s\n"
             "cost: 1000\n"
             "balance: 2000\n"
             "accept_keys: [alpha, beta]\n"
             "faults:\n"
             "  - \"503/generate@n1\"\n");
  Sim sim(dir.path(), {"--scenario", (dir / "s.yaml").string(), "--cost", "500"});
  EXPECT_EQ(submit(sim, "a", "alpha").status, 503);
  EXPECT_EQ(submit(sim, "a", "gamma").status, 401);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(submit(sim, "a", "beta").status, 200);
  EXPECT_EQ(submit(sim, "a", "beta").status, 403);
  EXPECT_EQ(sim.stats().at("tokens_charged").to_number<int>(), 2000);
}

TEST(SimScenario, ShippedScenariosStart) {
  for (auto name : {"happy", "flaky", "rate-limited", "hostile"}) {
    TempDir dir;
    auto file = source_dir() / "jobs" / "sim" / (std::string(name) + ".yaml");
    ASSERT_TRUE(fs::exists(file)) << file;
    Sim sim(dir.path(), {"--scenario", file.string()});
    EXPECT_EQ(http_get(sim.base_url() + "/__sim/health").status, 200) << name;
  }
}

TEST(SimTls, HttpsOnBothPorts) {
  TempDir dir;
  auto cert = dir / "cert.pem", key = dir / "key.pem";
  std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
                    "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout " +
                    key.string() + " -out " + cert.string() + " >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0) GTEST_SKIP() << "openssl command not available";
  Sim sim(dir.path(), fast({"--tls-cert", cert.string(), "--tls-key", key.string()}));
  ASSERT_EQ(sim.base_url().rfind("https://127.0.0.1:", 0), 0u);
  ASSERT_EQ(sim.cdn_url().rfind("https://127.0.0.1:", 0), 0u);
  auto o = auth("k", custom_body());
  o.cacert = cert.string();
  auto r = http("POST", sim.base_url() + "/generate/custom-mode", o);
  ASSERT_EQ(r.status, 200) << r.error;
  auto ids = ids_of(r);
  std::this_thread::sleep_for(milliseconds(500));
  auto g = http_get(get_url(sim, ids), o);
  ASSERT_EQ(g.status, 200);
  auto clips = json::parse(g.body).as_array();
  std::string audio = str(clips[0], "audio_url");
  EXPECT_EQ(audio.rfind("https://", 0), 0u);
  HttpOptions co;
  co.cacert = cert.string();
  auto a = http_get(audio, co);
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(sha256_hex(a.body),
            std::string(sim.stats(cert.string()).at("clips").at(ids[0]).at("sha256").as_string()));
}

TEST(SimFlavors, SunoApiRoutes) {
  TempDir dir;
  Sim sim(dir.path(), fast({"--flavor", "suno-api"}));
  HttpOptions o;
  o.body = custom_body("s");
  auto r = http("POST", sim.base_url() + "/api/custom_generate", o);  // no key needed by default
  ASSERT_EQ(r.status, 200) << r.body;
  auto ids = ids_of(r);
  std::this_thread::sleep_for(milliseconds(600));
  auto g = http_get(sim.base_url() + "/api/get?ids=" + ids[0] + "," + ids[1]);
  ASSERT_EQ(g.status, 200);
  auto a = json::parse(g.body).as_array();
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(str(a[0], "status"), "complete");
  auto bad = http("POST", sim.base_url() + "/api/custom_generate", [] {
    HttpOptions b;
    b.body = R"({"title":"x"})";
    return b;
  }());
  EXPECT_EQ(bad.status, 400);
  EXPECT_TRUE(json::parse(bad.body).as_object().contains("error"));
  EXPECT_EQ(http_get(sim.base_url() + "/").status, 404);  // no flavor-1 routes
}

TEST(SimFlavors, AimlV2LongPoll) {
  TempDir dir;
  Sim sim(dir.path(), {"--flavor", "aimlapi-v2", "--latency", "400ms", "--latency-dist", "fixed", "--duration", "1s"});
  auto r = http("POST", sim.base_url() + "/v2/generate/audio/suno-ai/clip",
                auth("k", R"({"prompt":"[Verse] x","tags":"pop","title":"v2"})"));
  ASSERT_EQ(r.status, 200) << r.body;
  auto ids = json::parse(r.body).at("clip_ids").as_array();
  ASSERT_EQ(ids.size(), 2u);
  std::string a = std::string(ids[0].as_string()), b = std::string(ids[1].as_string());
  auto t0 = steady_clock::now();
  auto one = http_get(sim.base_url() + "/v2/generate/audio/suno-ai/clip?clip_id=" + a + "&status=complete", auth());
  EXPECT_GE(steady_clock::now() - t0, milliseconds(300));
  ASSERT_EQ(one.status, 200) << one.body;
  auto clip = json::parse(one.body);
  EXPECT_EQ(str(clip, "status"), "complete");
  EXPECT_GT(clip.at("metadata").at("duration").to_number<double>(), 0.5);
  auto many = http_get(sim.base_url() + "/v2/generate/audio/suno-ai/clips?clip_ids%5B%5D=" + a +
                           "&clip_ids%5B%5D=" + b + "&status=complete",
                       auth());
  ASSERT_EQ(many.status, 200);
  EXPECT_EQ(json::parse(many.body).as_array().size(), 2u);
  std::string seven = "/v2/generate/audio/suno-ai/clips?status=complete";
  for (int i = 0; i < 7; ++i) seven += "&clip_ids%5B%5D=" + a;
  EXPECT_EQ(http_get(sim.base_url() + seven, auth()).status, 400);
}

TEST(SimFlavors, SunoApiDescriptionModeBillingAndKeys) {
  TempDir dir;
  Sim sim(dir.path(), fast({"--flavor", "suno-api", "--balance", "100", "--cost", "100", "--accept-key-env", "K"}),
          {{"K", "tok"}});
  auto body = R"({"prompt":"a song about trains","make_instrumental":true,"wait_audio":false})";
  EXPECT_EQ(http("POST", sim.base_url() + "/api/generate", [&] {
              HttpOptions o;
              o.body = body;
              return o;
            }()).status,
            401);
  auto r = http("POST", sim.base_url() + "/api/generate", auth("tok", body));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(str(json::parse(r.body).at(0), "gpt_description_prompt"), "a song about trains");
  auto broke = http("POST", sim.base_url() + "/api/generate", auth("tok", body));
  EXPECT_EQ(broke.status, 402);
  EXPECT_TRUE(json::parse(broke.body).as_object().contains("error"));
}

TEST(SimFlavors, AimlV2UnknownClipIs404) {
  TempDir dir;
  Sim sim(dir.path(), fast({"--flavor", "aimlapi-v2"}));
  auto r = http_get(sim.base_url() + "/v2/generate/audio/suno-ai/clip?clip_id=nope&status=complete", auth());
  EXPECT_EQ(r.status, 404);
}

TEST(SimScenario, ShippedScenariosDoWhatTheySay) {
  {
    TempDir dir;
    Sim sim(dir.path(), {"--scenario", (source_dir() / "jobs/sim/rate-limited.yaml").string()});
    EXPECT_EQ(submit(sim, "a").status, 200);
    EXPECT_EQ(submit(sim, "b").status, 200);
    auto r = submit(sim, "c");
    EXPECT_EQ(r.status, 429);
    EXPECT_FALSE(r.headers["retry-after"].empty());
  }
  {
    TempDir dir;
    Sim sim(dir.path(), {"--scenario", (source_dir() / "jobs/sim/hostile.yaml").string()});
    int failures = 0;
    for (int i = 0; i < 15; ++i) {  // the bucket holds 10
      auto r = http_get(get_url(sim, {"x"}), auth());
      if (r.status != 200) ++failures;
    }
    EXPECT_GT(failures, 0);
    EXPECT_FALSE(sim.stats().at("faults_fired").as_object().empty());
  }
}
