// AIML's music models on flavor aimlapi: POST /v2/generate/audio and the
// one-id poll, validation per model, WAV and MP3 on the CDN, credits, the
// deprecated chirp routes, and the shared faults on the new routes.
#include "sim_helpers.hpp"

using namespace simtest;
using std::chrono::milliseconds;

namespace {

std::string body(std::initializer_list<std::pair<const char*, json::value>> fields) {
  json::object o;
  for (auto& [k, v] : fields) o[k] = v;
  return json::serialize(o);
}

std::string chars(std::size_t n) { return std::string(n, 'a'); }

// The audio of a completed generation.
HttpResult audio_of(const Sim& sim, const std::string& id) {
  auto g = music_wait(sim, id, "completed");
  EXPECT_EQ(str(g, "status"), "completed") << json::serialize(g);
  if (str(g, "status") != "completed") return {};
  return http_get(std::string(g.at("audio_file").at("url").as_string()));
}

bool is_mp3(const std::string& b) {
  if (b.size() < 384 || b.size() % 384 != 0) return false;
  for (std::size_t off = 0; off < b.size(); off += 384)
    if (static_cast<unsigned char>(b[off]) != 0xFF || static_cast<unsigned char>(b[off + 1]) != 0xFB) return false;
  return true;
}

void expect_valid_wav(const HttpResult& a, double seconds, std::uint16_t channels, std::uint32_t rate) {
  ASSERT_EQ(a.status, 200);
  EXPECT_EQ(a.headers.at("content-type"), "audio/wav");
  EXPECT_EQ(a.headers.at("content-length"), std::to_string(a.body.size()));
  auto h = parse_wav(a.body);
  ASSERT_TRUE(h.ok) << h.why;
  EXPECT_EQ(h.riff_size, a.body.size() - 8);
  EXPECT_EQ(h.fmt_size, 16u);
  EXPECT_EQ(h.format, 1);  // PCM
  EXPECT_EQ(h.bits, 16);
  EXPECT_EQ(h.channels, channels);
  EXPECT_EQ(h.rate, rate);
  EXPECT_EQ(h.block_align, channels * 2);
  EXPECT_EQ(h.byte_rate, rate * channels * 2);
  EXPECT_EQ(h.data_size, a.body.size() - 44);
  EXPECT_EQ(h.data_size % h.block_align, 0u);
  EXPECT_NEAR(h.seconds(), seconds, 0.01);
}

}  // namespace

TEST(SimMusic, SubmitAnswers201QueuedAndPollHasExactlyTheDocumentedFields) {
  TempDir dir;
  Sim sim(dir.path(), {"--latency", "600ms", "--latency-dist", "fixed", "--duration", "1s"});
  auto r = music_submit(sim, body({{"model", "google/lyria2"}, {"prompt", "calm piano"}}));
  ASSERT_EQ(r.status, 201) << r.body;
  auto v = json::parse(r.body);
  EXPECT_EQ(keys_of(v), (std::set<std::string>{"id", "status"}));
  EXPECT_EQ(str(v, "status"), "queued");
  std::string id = str(v, "id");
  ASSERT_FALSE(id.empty());

  const std::set<std::string> fields = {"id", "status", "audio_file", "error", "meta"};
  auto early = json::parse(music_poll(sim, id).body);
  EXPECT_EQ(keys_of(early), fields);
  EXPECT_EQ(str(early, "id"), id);
  EXPECT_EQ(str(early, "status"), "queued");
  EXPECT_TRUE(early.at("audio_file").is_null());
  EXPECT_TRUE(early.at("error").is_null());
  EXPECT_TRUE(early.at("meta").is_null());

  auto mid = music_wait(sim, id, "generating");
  EXPECT_EQ(str(mid, "status"), "generating");
  EXPECT_TRUE(mid.at("audio_file").is_null());

  auto done = music_wait(sim, id, "completed");
  ASSERT_EQ(str(done, "status"), "completed");
  EXPECT_EQ(keys_of(done), fields);
  EXPECT_EQ(keys_of(done.at("audio_file")), (std::set<std::string>{"url"}));
  EXPECT_TRUE(done.at("error").is_null());
  EXPECT_EQ(done.at("meta").at("usage").at("credits_used").to_number<std::int64_t>(), 120000);
  std::string url(done.at("audio_file").at("url").as_string());
  EXPECT_EQ(url.rfind(sim.cdn_url(), 0), 0u) << url;

  auto s = sim.stats();
  EXPECT_EQ(s.at("tokens_charged").to_number<std::int64_t>(), 120000);
  EXPECT_EQ(s.at("generate_accepted").to_number<int>(), 1);
  EXPECT_EQ(s.at("clips").as_object().size(), 1u);  // one clip per request
  auto& clip = s.at("clips").at(id);
  EXPECT_EQ(clip.at("credits_used").to_number<std::int64_t>(), 120000);
  EXPECT_EQ(std::string(clip.at("format").as_string()), "wav");
  EXPECT_EQ(std::string(clip.at("model").as_string()), "google/lyria2");
  EXPECT_EQ(count(s, "POST /v2/generate/audio", "201"), 1u);
  EXPECT_GE(count(s, "GET /v2/generate/audio", "200"), 3u);
}

TEST(SimMusic, PollTakesExactlyOneGenerationId) {
  TempDir dir;
  Sim sim(dir.path(), fast());
  auto id = music_id(sim, body({{"model", "minimax/music-2.6"}}));
  ASSERT_EQ(music_poll(sim, id).status, 200);
  auto base = sim.base_url() + "/v2/generate/audio";
  for (std::string q : std::vector<std::string>{"", "?generation_id=", "?generation_id=" + id + "&generation_id=" + id,
                        "?generation_id=" + id + "," + id, "?ids%5B0%5D=" + id, "?generation_id%5B%5D=" + id}) {
    auto r = http_get(base + q, auth());
    EXPECT_EQ(r.status, 400) << q << " " << r.body;
    if (r.status == 400) {
      EXPECT_NE(r.body.find("generation_id"), std::string::npos) << r.body;
      EXPECT_EQ(json::parse(r.body).at("statusCode").to_number<int>(), 400);
    }
  }
  EXPECT_EQ(music_poll(sim, "00000000-0000-4000-8000-000000000000").status, 404);
  // a legacy clip is no generation of this route
  auto legacy = ids_of(submit(sim));
  EXPECT_EQ(music_poll(sim, legacy[0]).status, 404);
  // and a generation is no clip of the legacy get API
  EXPECT_EQ(poll(sim, {id}).size(), 0u);
}

TEST(SimMusic, ValidationNamesTheFieldForEachModelRule) {
  TempDir dir;
  Sim sim(dir.path(), fast());
  struct Case {
    std::string body;
    std::string field;  // empty: accepted
  };
  auto s = [](std::size_t n) { return json::value(chars(n)); };
  std::vector<Case> cases = {
      {body({}), "model"},
      {body({{"model", "nope/model"}}), "model"},
      {body({{"model", 5}}), "model"},
      // minimax/music-2.6: only model required
      {body({{"model", "minimax/music-2.6"}}), ""},
      {body({{"model", "minimax/music-2.6"}, {"prompt", s(2000)}, {"lyrics", s(3000)}}), ""},
      {body({{"model", "minimax/music-2.6"}, {"prompt", s(2001)}}), "prompt"},
      {body({{"model", "minimax/music-2.6"}, {"lyrics", s(3001)}}), "lyrics"},
      {body({{"model", "minimax/music-2.6"}, {"is_instrumental", "yes"}}), "is_instrumental"},
      {body({{"model", "minimax/music-2.6"}, {"lyrics_optimizer", 1}}), "lyrics_optimizer"},
      {body({{"model", "minimax/music-2.6"}, {"audio_setting", json::object{{"audio_sample_rate", 22050}}}}),
       "audio_sample_rate"},
      {body({{"model", "minimax/music-2.6"}, {"audio_setting", json::object{{"bitrate", 96000}}}}), "bitrate"},
      {body({{"model", "minimax/music-2.6"}, {"audio_setting", json::object{{"format", "pcm"}}}}), "format"},
      {body({{"model", "minimax/music-2.6"}, {"audio_setting", json::object{{"format", "flac"}}}}), "format"},
      {body({{"model", "minimax/music-2.6"},
             {"audio_setting", json::object{{"audio_sample_rate", 32000}, {"bitrate", 256000}, {"format", "wav"}}}}),
       ""},
      // minimax/music-2.0: prompt 10-2000 and lyrics 10-3000, both required
      {body({{"model", "minimax/music-2.0"}, {"lyrics", s(10)}}), "prompt"},
      {body({{"model", "minimax/music-2.0"}, {"prompt", s(10)}}), "lyrics"},
      {body({{"model", "minimax/music-2.0"}, {"prompt", s(9)}, {"lyrics", s(10)}}), "prompt"},
      {body({{"model", "minimax/music-2.0"}, {"prompt", s(2001)}, {"lyrics", s(10)}}), "prompt"},
      {body({{"model", "minimax/music-2.0"}, {"prompt", s(10)}, {"lyrics", s(9)}}), "lyrics"},
      {body({{"model", "minimax/music-2.0"}, {"prompt", s(2000)}, {"lyrics", s(3000)}}), ""},
      // minimax/music-1.5: prompt 10-300
      {body({{"model", "minimax/music-1.5"}, {"prompt", s(301)}, {"lyrics", s(10)}}), "prompt"},
      {body({{"model", "minimax/music-1.5"}, {"prompt", s(300)}, {"lyrics", s(3001)}}), "lyrics"},
      {body({{"model", "minimax/music-1.5"}, {"prompt", s(300)}, {"lyrics", s(10)}}), ""},
      // elevenlabs/eleven_music: prompt <= 2000 required, music_length_ms 10000-300000
      {body({{"model", "elevenlabs/eleven_music"}}), "prompt"},
      {body({{"model", "elevenlabs/eleven_music"}, {"prompt", s(2001)}}), "prompt"},
      {body({{"model", "elevenlabs/eleven_music"}, {"prompt", "x"}, {"music_length_ms", 9999}}), "music_length_ms"},
      {body({{"model", "elevenlabs/eleven_music"}, {"prompt", "x"}, {"music_length_ms", 300001}}), "music_length_ms"},
      {body({{"model", "elevenlabs/eleven_music"}, {"prompt", "x"}, {"music_length_ms", 10000}}), ""},
      // google/lyria2: prompt required, seed >= 0
      {body({{"model", "google/lyria2"}}), "prompt"},
      {body({{"model", "google/lyria2"}, {"prompt", "x"}, {"seed", -1}}), "seed"},
      {body({{"model", "google/lyria2"}, {"prompt", "x"}, {"negative_prompt", 3}}), "negative_prompt"},
      {body({{"model", "google/lyria2"}, {"prompt", "x"}, {"seed", 0}, {"negative_prompt", "drums"}}), ""},
      // stable-audio: seconds_start / seconds_total 1-47, steps 1-1000
      {body({{"model", "stable-audio"}}), "prompt"},
      {body({{"model", "stable-audio"}, {"prompt", "x"}, {"seconds_total", 48}}), "seconds_total"},
      {body({{"model", "stable-audio"}, {"prompt", "x"}, {"seconds_total", 0}}), "seconds_total"},
      {body({{"model", "stable-audio"}, {"prompt", "x"}, {"seconds_start", 0}}), "seconds_start"},
      {body({{"model", "stable-audio"}, {"prompt", "x"}, {"steps", 1001}}), "steps"},
      {body({{"model", "stable-audio"}, {"prompt", "x"}, {"steps", 1.5}}), "steps"},
      {body({{"model", "stable-audio"}, {"prompt", "x"}, {"seconds_start", 1}, {"seconds_total", 2}, {"steps", 1000}}),
       ""},
  };
  int accepted = 0;
  for (auto& c : cases) {
    auto r = music_submit(sim, c.body);
    if (c.field.empty()) {
      EXPECT_EQ(r.status, 201) << c.body << " -> " << r.body;
      ++accepted;
      continue;
    }
    EXPECT_TRUE(r.status == 400 || (c.field == "model" && r.status == 404)) << c.body << " -> " << r.status;
    auto e = json::parse(r.body);
    std::string message = str(e, "message");
    EXPECT_EQ(message.rfind("Body validation error!", 0), 0u) << message;
    EXPECT_NE(message.find(c.field), std::string::npos) << c.body << " -> " << message;
    EXPECT_EQ(e.at("statusCode").to_number<int>(), r.status);
    for (auto* k : {"path", "requestId", "timestamp"}) EXPECT_TRUE(e.as_object().contains(k)) << k;
  }
  EXPECT_EQ(music_submit(sim, "not json").status, 400);
  auto st = sim.stats();
  EXPECT_EQ(st.at("generate_accepted").to_number<int>(), accepted);  // refusals are not billed
  EXPECT_EQ(st.at("tokens_charged").to_number<std::int64_t>(), accepted * 120000);
}

TEST(SimMusic, WavForLyriaAndStableAudioIsValidRiffOfTheRequestedLength) {
  TempDir dir;
  Sim sim(dir.path(), fast({"--duration", "1.5s"}));
  auto lyria = music_id(sim, body({{"model", "google/lyria2"}, {"prompt", "rain"}}));
  auto stable = music_id(sim, body({{"model", "stable-audio"}, {"prompt", "drums"}, {"seconds_total", 2}}));
  auto a = audio_of(sim, lyria);
  expect_valid_wav(a, 1.5, 2, 48000);  // no length field: --duration
  auto b = audio_of(sim, stable);
  expect_valid_wav(b, 2.0, 2, 44100);  // seconds_total
  auto s = sim.stats();
  EXPECT_EQ(std::string(s.at("clips").at(lyria).at("sha256").as_string()), sha256_hex(a.body));
  EXPECT_EQ(std::string(s.at("clips").at(stable).at("format").as_string()), "wav");
  EXPECT_NE(sha256_hex(a.body), sha256_hex(b.body));
  EXPECT_EQ(sha256_hex(audio_of(sim, lyria).body), sha256_hex(a.body));  // deterministic per clip
  // HEAD tells the same length
  auto g = music_wait(sim, lyria, "completed");
  std::string url(g.at("audio_file").at("url").as_string());
  auto head = raw_exchange(sim.cdn_url(), "HEAD " + url.substr(sim.cdn_url().size()) +
                                              " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(head.data.rfind("HTTP/1.1 200", 0), 0u) << head.data;
  EXPECT_NE(head.data.find("Content-Length: " + std::to_string(a.body.size()) + "\r\n"), std::string::npos);
  EXPECT_EQ(head.data.size(), head.data.find("\r\n\r\n") + 4);  // no body
}

TEST(SimMusic, MinimaxIsMp3UnlessWavIsAskedAndElevenFollowsMusicLength) {
  TempDir dir;
  Sim sim(dir.path(), fast({"--duration", "1s"}));
  auto mp3 = music_id(sim, body({{"model", "minimax/music-2.6"}, {"prompt", "pop"}}));
  auto wav = music_id(sim, body({{"model", "minimax/music-2.6"},
                                 {"audio_setting", json::object{{"format", "wav"}, {"audio_sample_rate", 24000}}}}));
  auto eleven = music_id(sim, body({{"model", "elevenlabs/eleven_music"}, {"prompt", "x"}, {"music_length_ms", 12000}}));
  auto eleven_default = music_id(sim, body({{"model", "elevenlabs/eleven_music"}, {"prompt", "y"}}));
  auto a = audio_of(sim, mp3);
  EXPECT_EQ(a.headers["content-type"], "audio/mpeg");
  EXPECT_TRUE(is_mp3(a.body));
  EXPECT_NEAR(static_cast<double>(a.body.size() / 384) * 0.024, 1.0, 0.03);
  expect_valid_wav(audio_of(sim, wav), 1.0, 1, 24000);
  auto e = audio_of(sim, eleven);
  EXPECT_TRUE(is_mp3(e.body));
  EXPECT_NEAR(static_cast<double>(e.body.size() / 384) * 0.024, 12.0, 0.03);
  auto d = audio_of(sim, eleven_default);
  EXPECT_NEAR(static_cast<double>(d.body.size() / 384) * 0.024, 10.0, 0.03);  // default 10000 ms
}

TEST(SimMusic, WavRangesAndIfRangeWorkAsForMp3) {
  TempDir dir;
  Sim sim(dir.path(), fast({"--duration", "1s"}));
  auto id = music_id(sim, body({{"model", "google/lyria2"}, {"prompt", "x"}}));
  auto full = audio_of(sim, id);
  ASSERT_EQ(full.status, 200);
  std::string url(music_wait(sim, id, "completed").at("audio_file").at("url").as_string());
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
  auto head = ranged("bytes=0-43");
  EXPECT_EQ(head.status, 206);
  EXPECT_EQ(head.body, full.body.substr(0, 44));
  EXPECT_EQ(head.headers["content-range"], "bytes 0-43/" + std::to_string(size));
  EXPECT_EQ(head.headers["content-length"], "44");
  auto tail = ranged("bytes=-100");
  EXPECT_EQ(tail.body, full.body.substr(size - 100));
  auto rest = ranged("bytes=30000-");
  EXPECT_EQ(rest.body, full.body.substr(30000));
  EXPECT_EQ(ranged("bytes=" + std::to_string(size) + "-").status, 416);
  auto same = ranged("bytes=10-19", etag);
  EXPECT_EQ(same.status, 206);
  EXPECT_EQ(same.body, full.body.substr(10, 10));
  auto stale = ranged("bytes=10-19", "\"stale\"");
  EXPECT_EQ(stale.status, 200);
  EXPECT_EQ(stale.body.size(), size);
  // the extension belongs to the clip: the same id as .mp3 is nothing
  auto dot = url.rfind('.');
  EXPECT_EQ(http_get(url.substr(0, dot) + ".mp3").status, 404);
}

TEST(SimMusic, CreditsPerModelAreConfigurableAndBilledFromTheBalance) {
  TempDir dir;
  Sim sim(dir.path(), fast({"--model-cost", "google/lyria2=5000", "--model-cost", "stable-audio=0", "--balance",
                            "12000"}));
  auto a = music_id(sim, body({{"model", "google/lyria2"}, {"prompt", "a"}}));
  auto b = music_id(sim, body({{"model", "google/lyria2"}, {"prompt", "b"}}));
  auto broke = music_submit(sim, body({{"model", "google/lyria2"}, {"prompt", "c"}}));
  EXPECT_EQ(broke.status, 403);
  EXPECT_EQ(json::parse(broke.body).at("statusCode").to_number<int>(), 403);
  // 120000 by default: more than the 2000 left
  EXPECT_EQ(music_submit(sim, body({{"model", "minimax/music-2.6"}})).status, 403);
  auto free = music_id(sim, body({{"model", "stable-audio"}, {"prompt", "d"}, {"seconds_total", 1}}));
  auto g = music_wait(sim, a, "completed");
  EXPECT_EQ(g.at("meta").at("usage").at("credits_used").to_number<std::int64_t>(), 5000);
  EXPECT_EQ(music_wait(sim, free, "completed").at("meta").at("usage").at("credits_used").to_number<std::int64_t>(), 0);
  auto s = sim.stats();
  EXPECT_EQ(s.at("tokens_charged").to_number<std::int64_t>(), 10000);
  EXPECT_EQ(s.at("balance_exhausted").to_number<int>(), 2);
  EXPECT_EQ(s.at("clips").at(b).at("credits_used").to_number<std::int64_t>(), 5000);
}

TEST(SimMusic, ModelCostInAScenarioMap) {
  TempDir dir;
  write_file(dir / "s.yaml", "latency: 100ms\nduration: 1s\nmodel_cost:\n  google/lyria2: 777\n");
  Sim sim(dir.path(), {"--scenario", (dir / "s.yaml").string()});
  auto id = music_id(sim, body({{"model", "google/lyria2"}, {"prompt", "a"}}));
  EXPECT_EQ(music_wait(sim, id, "completed").at("meta").at("usage").at("credits_used").to_number<std::int64_t>(), 777);
}

TEST(SimMusic, GenerationEndsInErrorByFaultModerationOrSensitiveWord) {
  TempDir dir;
  Sim sim(dir.path(), fast({"--fault", "clip-error=audio could not be produced@n1", "--fault", "moderation@n2",
                            "--sensitive-word", "Forbidden"}));
  auto failed = music_id(sim, body({{"model", "google/lyria2"}, {"prompt", "a"}}));
  auto moderated = music_id(sim, body({{"model", "google/lyria2"}, {"prompt", "b"}}));
  auto word = music_id(sim, body({{"model", "google/lyria2"}, {"prompt", "a forbidden song"}}));
  auto fine = music_id(sim, body({{"model", "google/lyria2"}, {"prompt", "c"}}));
  auto e1 = music_wait(sim, failed, "error");
  ASSERT_EQ(str(e1, "status"), "error");
  EXPECT_EQ(keys_of(e1.at("error")), (std::set<std::string>{"name", "message"}));
  EXPECT_EQ(str(e1.at("error"), "message"), "audio could not be produced");
  EXPECT_FALSE(str(e1.at("error"), "name").empty());
  EXPECT_TRUE(e1.at("audio_file").is_null());
  EXPECT_TRUE(e1.at("meta").is_null());
  auto e2 = music_wait(sim, moderated, "error");
  ASSERT_EQ(str(e2, "status"), "error");
  EXPECT_EQ(str(e2.at("error"), "name"), "ContentModerationError");
  EXPECT_NE(str(e2.at("error"), "message").find("moderation"), std::string::npos);
  auto e3 = music_wait(sim, word, "error");
  EXPECT_EQ(str(e3, "status"), "error");
  EXPECT_NE(str(e3.at("error"), "message").find("forbidden"), std::string::npos);
  EXPECT_EQ(str(music_wait(sim, fine, "completed"), "status"), "completed");
  // its CDN file never appears
  auto s = sim.stats();
  EXPECT_EQ(std::string(s.at("clips").at(failed).at("status").as_string()), "error");
  EXPECT_EQ(http_get(sim.cdn_url() + "/audio/" + failed + ".wav").status, 404);
}

TEST(SimMusic, DeprecatedChirpSwitchAnswers404OnTheLegacyRoutes) {
  TempDir dir;
  Sim sim(dir.path(), fast({"--deprecated-chirp"}));
  auto check = [](const HttpResult& r) {
    EXPECT_EQ(r.status, 404) << r.body;
    auto e = json::parse(r.body);
    EXPECT_EQ(e.at("statusCode").to_number<int>(), 404);
    EXPECT_NE(str(e, "message").find("deprecated and no longer available"), std::string::npos) << r.body;
  };
  check(submit(sim, "A"));
  check(http("POST", sim.base_url() + "/generate/custom-mode", auth("k", custom_body("t", false, "chirp-v3-0"))));
  check(http("POST", sim.base_url() + "/generate", auth("k", R"({"prompt":"a song","make_instrumental":false})")));
  check(http_get(get_url(sim, {"x"}), auth()));
  // the music models are what is left
  EXPECT_EQ(music_submit(sim, body({{"model", "minimax/music-2.6"}})).status, 201);
  // the model is named in the message
  EXPECT_NE(submit(sim, "B").body.find("chirp-v3-5"), std::string::npos);
  auto s = sim.stats();
  EXPECT_EQ(s.at("tokens_charged").to_number<std::int64_t>(), 120000);
  EXPECT_EQ(s.at("deprecated_refused").to_number<int>(), 5);
  EXPECT_EQ(count(s, "POST /generate/custom-mode", "404"), 3u);
}

TEST(SimMusic, WithoutTheSwitchLegacyRoutesStillWorkAndChirpIsNoMusicModel) {
  TempDir dir;
  Sim sim(dir.path(), fast());
  EXPECT_EQ(submit(sim).status, 200);
  auto r = music_submit(sim, body({{"model", "chirp-v3-5"}, {"prompt", "x"}}));
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.find("deprecated"), std::string::npos);
}

TEST(SimMusic, SharedFaultsApplyToTheNewRoutes) {
  TempDir dir;
  Sim sim(dir.path(), fast({"--duration", "1s", "--fault", "503=3s/generate@n1", "--fault", "reset/get@n1", "--fault",
                            "huge-json=64KiB/get@n2", "--fault", "stuck@n2", "--fault", "cdn403@n1"}));
  auto gen = body({{"model", "google/lyria2"}, {"prompt", "x"}});
  auto down = music_submit(sim, gen);
  EXPECT_EQ(down.status, 503);
  EXPECT_EQ(down.headers["retry-after"], "3");
  EXPECT_EQ(json::parse(down.body).at("statusCode").to_number<int>(), 503);
  auto id = music_id(sim, gen);
  auto reset = music_poll(sim, id);
  EXPECT_EQ(reset.status, 0);
  auto huge = music_poll(sim, id);
  ASSERT_EQ(huge.status, 200);
  EXPECT_EQ(huge.body.size(), 64u * 1024);
  EXPECT_EQ(str(json::parse(huge.body), "id"), id);
  auto stuck = music_id(sim, gen);  // the second clip of the run
  std::this_thread::sleep_for(milliseconds(700));
  EXPECT_EQ(str(json::parse(music_poll(sim, stuck).body), "status"), "queued");
  auto g = music_wait(sim, id, "completed");
  std::string url(g.at("audio_file").at("url").as_string());
  EXPECT_EQ(http_get(url).status, 403);
  expect_valid_wav(http_get(url), 1.0, 2, 48000);
  auto s = sim.stats();
  EXPECT_EQ(count(s, "POST /v2/generate/audio", "503"), 1u);
  EXPECT_EQ(count(s, "GET /v2/generate/audio", "reset"), 1u);
  EXPECT_EQ(s.at("tokens_charged").to_number<std::int64_t>(), 240000);  // the 503 was not billed
  EXPECT_EQ(s.at("duplicate_submissions").to_number<int>(), 1);        // the same body twice
}

TEST(SimMusic, RateLimitAndRetryAfterOnTheNewRoutes) {
  TempDir dir;
  Sim sim(dir.path(), fast({"--generate-rate", "1", "--generate-burst", "1", "--get-rate", "1", "--get-burst", "1"}));
  auto id = music_id(sim, body({{"model", "minimax/music-2.6"}}));
  auto r = music_submit(sim, body({{"model", "minimax/music-2.6"}}));
  ASSERT_EQ(r.status, 429);
  EXPECT_EQ(r.headers["retry-after"], "1");
  EXPECT_EQ(music_poll(sim, id).status, 200);
  EXPECT_EQ(music_poll(sim, id).status, 429);
  std::this_thread::sleep_for(milliseconds(150));
  EXPECT_EQ(music_submit(sim, body({{"model", "minimax/music-2.6"}})).status, 429);  // too early
  auto s = sim.stats();
  EXPECT_EQ(s.at("rate_limited").to_number<int>(), 3);
  EXPECT_EQ(s.at("retry_after_violations").to_number<int>(), 1);
  EXPECT_EQ(count(s, "POST /v2/generate/audio", "429"), 2u);
}
