// The contract the client relies on: startup lines, flavor-1 routes, clip
// lifecycle, CDN bytes, auth, validation, stats, clean exit.
#include "sim_helpers.hpp"

#include <csignal>

using namespace simtest;

TEST(SimContract, PrintsBothUrlsAndHealth) {
  TempDir dir;
  Sim sim(dir.path(), fast());
  EXPECT_EQ(sim.base_url().rfind("http://127.0.0.1:", 0), 0u);
  EXPECT_EQ(sim.cdn_url().rfind("http://127.0.0.1:", 0), 0u);
  EXPECT_NE(sim.base_url(), sim.cdn_url());
  EXPECT_EQ(http_get(sim.base_url() + "/__sim/health").status, 200);
  EXPECT_EQ(http_get(sim.cdn_url() + "/__sim/health").status, 200);
}

TEST(SimContract, CustomModeReturnsTwoSubmittedClips) {
  TempDir dir;
  Sim sim(dir.path(), fast());
  auto r = submit(sim, "Hello");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.headers["content-type"].find("application/json"), std::string::npos);
  auto v = json::parse(r.body);
  ASSERT_TRUE(v.is_array());
  ASSERT_EQ(v.as_array().size(), 2u);
  for (auto& c : v.as_array()) {
    EXPECT_EQ(str(c, "status"), "submitted");
    EXPECT_EQ(str(c, "audio_url"), "");
    EXPECT_EQ(str(c, "title"), "Hello");
    EXPECT_EQ(str(c, "id").size(), 36u);
    EXPECT_EQ(str(c, "model_name"), "chirp-v3-5");
    for (auto* k : {"image_url", "video_url", "lyric", "prompt", "tags", "type", "created_at"})
      EXPECT_TRUE(c.as_object().contains(k)) << k;
  }
  EXPECT_NE(str(v.at(0), "id"), str(v.at(1), "id"));
}

TEST(SimContract, DescriptionModeWorks) {
  TempDir dir;
  Sim sim(dir.path(), fast());
  auto r = http("POST", sim.base_url() + "/generate",
                auth("k", R"({"prompt":"a sad song about rain","make_instrumental":false,"wait_audio":false})"));
  ASSERT_EQ(r.status, 200) << r.body;
  auto v = json::parse(r.body);
  ASSERT_EQ(v.as_array().size(), 2u);
  EXPECT_EQ(str(v.at(0), "gpt_description_prompt"), "a sad song about rain");
}

TEST(SimContract, LifecycleReachesCompleteWithCdnUrls) {
  TempDir dir;
  Sim sim(dir.path(), fast());
  auto ids = ids_of(submit(sim));
  auto clips = wait_status(sim, ids, "complete");
  ASSERT_EQ(clips.size(), 2u);
  for (auto& c : clips) {
    EXPECT_EQ(str(c, "status"), "complete");
    EXPECT_EQ(str(c, "audio_url"), sim.cdn_url() + "/audio/" + str(c, "id") + ".mp3");
    EXPECT_EQ(str(c, "image_url"), sim.cdn_url() + "/image/" + str(c, "id") + ".jpeg");
    double d = c.at("duration").to_number<double>();
    EXPECT_GE(d, 0.9);
    EXPECT_LE(d, 2.1);
  }
}

TEST(SimContract, SeesStreamingWithPartialUrl) {
  TempDir dir;
  Sim sim(dir.path(), {"--latency", "1s", "--latency-jitter", "0ms", "--duration", "1s"});
  auto ids = ids_of(submit(sim));
  auto clips = wait_status(sim, ids, "streaming", std::chrono::seconds(3));
  ASSERT_EQ(clips.size(), 2u);
  for (auto& c : clips) {
    ASSERT_EQ(str(c, "status"), "streaming");
    std::string url = str(c, "audio_url");
    EXPECT_NE(url.find("/stream/"), std::string::npos) << url;
    auto part = http_get(url);
    EXPECT_EQ(part.status, 200);
    EXPECT_EQ(part.body.size() % 384, 0u);
    // the final file is not there yet
    EXPECT_EQ(http_get(sim.cdn_url() + "/audio/" + str(c, "id") + ".mp3").status, 404);
  }
}

TEST(SimContract, GetOmitsUnknownIdsAndAcceptsRawBrackets) {
  TempDir dir;
  Sim sim(dir.path(), fast());
  auto ids = ids_of(submit(sim));
  auto clips = poll(sim, {ids[0], "00000000-0000-4000-8000-000000000000", ids[1]});
  ASSERT_EQ(clips.size(), 2u);
  auto raw = raw_exchange(sim.base_url(), raw_get("/?ids[0]=" + ids[0] + "&ids[1]=" + ids[1],
                                                   "Authorization: Bearer k\r\n"));
  ASSERT_EQ(raw.data.rfind("HTTP/1.1 200", 0), 0u) << raw.data;
  auto body = raw.data.substr(raw.data.find("\r\n\r\n") + 4);
  EXPECT_EQ(json::parse(body).as_array().size(), 2u);
}

TEST(SimContract, AudioIsMp3MatchingDurationAndStats) {
  TempDir dir;
  Sim sim(dir.path(), fast());
  auto ids = ids_of(submit(sim));
  auto clips = wait_status(sim, ids, "complete");
  ASSERT_EQ(clips.size(), 2u);
  auto stats = sim.stats();
  std::string first_sha;
  for (auto& c : clips) {
    auto a = http_get(str(c, "audio_url"));
    ASSERT_EQ(a.status, 200);
    EXPECT_EQ(a.headers["content-type"], "audio/mpeg");
    ASSERT_GE(a.body.size(), 384u);
    // every 384-byte frame starts with the MPEG-1 Layer III header
    for (std::size_t off = 0; off < a.body.size(); off += 384) {
      ASSERT_EQ(static_cast<unsigned char>(a.body[off]), 0xFF);
      ASSERT_EQ(static_cast<unsigned char>(a.body[off + 1]), 0xFB);
    }
    double frames = static_cast<double>(a.body.size() / 384);
    EXPECT_NEAR(frames * 0.024, c.at("duration").to_number<double>(), 0.03);
    std::string sha = sha256_hex(a.body);
    EXPECT_EQ(std::string(stats.at("clips").at(str(c, "id")).at("sha256").as_string()), sha);
    EXPECT_NE(sha, first_sha);
    first_sha = sha;
    // deterministic per clip id
    EXPECT_EQ(sha256_hex(http_get(str(c, "audio_url")).body), sha);
  }
}

TEST(SimContract, CoverIsBaselineJpeg) {
  TempDir dir;
  Sim sim(dir.path(), fast());
  auto ids = ids_of(submit(sim));
  auto clips = wait_status(sim, ids, "complete");
  ASSERT_EQ(clips.size(), 2u);
  auto img = http_get(str(clips[0], "image_url"));
  ASSERT_EQ(img.status, 200);
  EXPECT_EQ(img.headers["content-type"], "image/jpeg");
  const std::string& b = img.body;
  ASSERT_GT(b.size(), 100u);
  EXPECT_EQ(b.substr(0, 2), std::string("\xFF\xD8", 2));
  EXPECT_EQ(b.substr(b.size() - 2), std::string("\xFF\xD9", 2));
  for (unsigned char m : {0xDB, 0xC0, 0xC4, 0xDA})
    EXPECT_NE(b.find(std::string{'\xFF', static_cast<char>(m)}), std::string::npos) << int(m);
  auto sof = b.find(std::string("\xFF\xC0", 2));
  EXPECT_EQ(static_cast<unsigned char>(b[sof + 5]) * 256 + static_cast<unsigned char>(b[sof + 6]), 64);
  auto other = http_get(str(clips[1], "image_url"));
  EXPECT_NE(other.body, b);  // colours from the id
}

TEST(SimContract, AuthErrors) {
  TempDir dir;
  Sim sim(dir.path(), fast());
  HttpOptions none;
  none.body = custom_body();
  auto r = http("POST", sim.base_url() + "/generate/custom-mode", none);
  EXPECT_EQ(r.status, 401);
  auto e = json::parse(r.body);
  for (auto* k : {"message", "path", "requestId", "statusCode", "timestamp"})
    EXPECT_TRUE(e.as_object().contains(k)) << k;
  EXPECT_EQ(e.at("statusCode").to_number<int>(), 401);
  EXPECT_EQ(http("POST", sim.base_url() + "/generate/custom-mode", auth("", custom_body())).status, 401);
  EXPECT_EQ(http_get(get_url(sim, {"x"})).status, 401);
}

TEST(SimContract, AcceptKeyEnvRestrictsKeys) {
  TempDir dir;
  Sim sim(dir.path(), fast({"--accept-key-env", "SIM_KEYS"}), {{"SIM_KEYS", "good1,good2"}});
  EXPECT_EQ(submit(sim, "a", "good2").status, 200);
  EXPECT_EQ(submit(sim, "a", "bad").status, 401);
  EXPECT_EQ(sim.log().find("good1"), std::string::npos);
}

TEST(SimContract, ValidationErrors) {
  TempDir dir;
  Sim sim(dir.path(), fast());
  auto post = [&](const std::string& body) {
    return http("POST", sim.base_url() + "/generate/custom-mode", auth("k", body));
  };
  auto no_title = post(R"({"prompt":"x","tags":"pop","make_instrumental":false,"wait_audio":false})");
  EXPECT_EQ(no_title.status, 400);
  EXPECT_NE(no_title.body.find("title"), std::string::npos);
  auto no_prompt = post(R"({"title":"x","tags":"pop","make_instrumental":false,"wait_audio":false})");
  EXPECT_EQ(no_prompt.status, 400);
  EXPECT_NE(no_prompt.body.find("prompt"), std::string::npos);
  EXPECT_EQ(post(custom_body("t", false, "chirp-v4")).status, 400);
  EXPECT_EQ(post(custom_body("t", false, "chirp-v3-0")).status, 200);
  EXPECT_EQ(post("not json").status, 400);
  auto desc = http("POST", sim.base_url() + "/generate", auth("k", R"({"make_instrumental":true})"));
  EXPECT_EQ(desc.status, 400);
  auto stats = sim.stats();
  EXPECT_EQ(stats.at("tokens_charged").to_number<std::int64_t>(), 200000);
}

TEST(SimContract, StatsCountRequestsAndDuplicates) {
  TempDir dir;
  Sim sim(dir.path(), fast({"--cost", "157500"}));
  ASSERT_EQ(submit(sim, "A").status, 200);
  ASSERT_EQ(submit(sim, "A").status, 200);
  ASSERT_EQ(submit(sim, "B").status, 200);
  // wait_audio differs but the payload is the same song
  ASSERT_EQ(http("POST", sim.base_url() + "/generate/custom-mode", auth("k", custom_body("B", true))).status, 200);
  poll(sim, {"nope"});
  auto s = sim.stats();
  EXPECT_EQ(count(s, "POST /generate/custom-mode", "200"), 4u);
  EXPECT_EQ(count(s, "GET /", "200"), 1u);
  EXPECT_EQ(s.at("generate_requests").to_number<int>(), 4);
  EXPECT_EQ(s.at("tokens_charged").to_number<std::int64_t>(), 4 * 157500);
  EXPECT_EQ(s.at("submissions_by_payload").as_object().size(), 2u);
  EXPECT_EQ(s.at("duplicate_submissions").to_number<int>(), 2);
  EXPECT_EQ(s.at("clips").as_object().size(), 8u);
  EXPECT_GE(s.at("peak_connections").to_number<int>(), 1);
  EXPECT_GT(s.at("bytes_served").to_number<std::uint64_t>(), 0u);
}

TEST(SimContract, SeedMakesIdsDeterministic) {
  TempDir dir;
  std::vector<std::string> a, b;
  {
    Sim sim(dir.path(), fast({"--seed", "42"}));
    a = ids_of(submit(sim));
  }
  {
    Sim sim(dir.path(), fast({"--seed", "42"}));
    b = ids_of(submit(sim));
  }
  EXPECT_EQ(a, b);
}

TEST(SimContract, SigtermWritesStatsFileAndExitsZero) {
  TempDir dir;
  auto file = dir / "stats.json";
  Sim sim(dir.path(), fast({"--stats-file", file.string(), "--log"}));
  ASSERT_EQ(submit(sim).status, 200);
  auto t0 = std::chrono::steady_clock::now();
  sim.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  EXPECT_EQ(sim.process().exit_code(), 0);
  auto s = read_json(file);
  EXPECT_EQ(s.at("generate_requests").to_number<int>(), 1);
  EXPECT_NE(sim.log().find("POST /generate/custom-mode"), std::string::npos);
  EXPECT_EQ(sim.log().find("test-key"), std::string::npos);  // never log keys
}

TEST(SimContract, SigintAlsoExitsZero) {
  TempDir dir;
  Sim sim(dir.path(), fast());
  sim.process().signal(SIGINT);
  ASSERT_TRUE(sim.process().wait(std::chrono::seconds(3)));
  EXPECT_EQ(sim.process().exit_code(), 0);
}
