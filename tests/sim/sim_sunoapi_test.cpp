// Flavor sunoapi (sunoapi.org-style proxies): submit and record-info shapes,
// the task lifecycle, validation, codes in the body (and HTTP 200 under
// --body-codes-http200), 430 rate limits, 429 insufficient credits, 455
// maintenance, moderation and failures, file expiry, shared faults.
#include "sim_helpers.hpp"

#include <algorithm>

using namespace simtest;
using std::chrono::milliseconds;

namespace {

std::vector<std::string> suno(std::vector<std::string> extra = {}) {
  std::vector<std::string> a = {"--flavor", "sunoapi"};
  auto f = fast(std::move(extra));
  a.insert(a.end(), f.begin(), f.end());
  return a;
}

std::string with(const std::string& body, std::initializer_list<std::pair<const char*, json::value>> changes,
                 std::initializer_list<const char*> removed = {}) {
  auto o = json::parse(body).as_object();
  for (auto& [k, v] : changes) o[k] = v;
  for (auto* k : removed) o.erase(k);
  return json::serialize(o);
}

const std::vector<std::string> kOrder = {"PENDING", "TEXT_SUCCESS", "FIRST_SUCCESS", "SUCCESS"};

}  // namespace

TEST(SimSunoapi, SubmitAnswersTheTaskIdInTheBody) {
  TempDir dir;
  Sim sim(dir.path(), suno());
  auto r = suno_submit(sim, suno_body());
  ASSERT_EQ(r.status, 200) << r.body;
  auto v = json::parse(r.body);
  EXPECT_EQ(keys_of(v), (std::set<std::string>{"code", "msg", "data"}));
  EXPECT_EQ(v.at("code").to_number<int>(), 200);
  EXPECT_EQ(str(v, "msg"), "success");
  EXPECT_EQ(keys_of(v.at("data")), (std::set<std::string>{"taskId"}));
  EXPECT_FALSE(str(v.at("data"), "taskId").empty());
  auto s = sim.stats();
  EXPECT_EQ(count(s, "POST /api/v1/generate", "200"), 1u);
  EXPECT_EQ(s.at("tokens_charged").to_number<std::int64_t>(), 200000);  // --cost unless --model-cost
  EXPECT_EQ(s.at("clips").as_object().size(), 2u);
  // no other flavor's routes
  EXPECT_EQ(http("POST", sim.base_url() + "/generate/custom-mode", auth("k", custom_body())).status, 404);
  EXPECT_EQ(http("POST", sim.base_url() + "/v2/generate/audio", auth("k", "{}")).status, 404);
}

TEST(SimSunoapi, RecordInfoWalksPendingTextFirstSuccessWithTheDocumentedShape) {
  TempDir dir;
  Sim sim(dir.path(), {"--flavor", "sunoapi", "--latency", "1200ms", "--latency-jitter", "400ms", "--duration",
                       "1s..2s", "--seed", "5"});
  std::string body = suno_body("V4_5", "Night Drive");
  auto task = task_id(sim, body);
  ASSERT_FALSE(task.empty());
  std::vector<std::string> seen;
  json::value data;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(6);
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = record_info(sim, task);
    ASSERT_EQ(r.status, 200) << r.body;
    auto v = json::parse(r.body);
    ASSERT_EQ(keys_of(v), (std::set<std::string>{"code", "msg", "data"}));
    ASSERT_EQ(v.at("code").to_number<int>(), 200);
    data = v.at("data");
    ASSERT_EQ(keys_of(data), (std::set<std::string>{"taskId", "param", "response", "status", "type", "errorCode",
                                                    "errorMessage"}));
    EXPECT_EQ(str(data, "taskId"), task);
    EXPECT_EQ(str(data, "param"), body);
    EXPECT_TRUE(data.at("errorCode").is_null());
    EXPECT_TRUE(data.at("errorMessage").is_null());
    auto& response = data.at("response");
    EXPECT_EQ(keys_of(response), (std::set<std::string>{"taskId", "sunoData"}));
    EXPECT_EQ(str(response, "taskId"), task);
    auto& tracks = response.at("sunoData").as_array();
    ASSERT_EQ(tracks.size(), 2u);
    std::string status = str(data, "status");
    if (seen.empty() || seen.back() != status) seen.push_back(status);
    int final_tracks = 0;
    for (std::size_t i = 0; i < 2; ++i) {
      auto& t = tracks[i];
      EXPECT_EQ(keys_of(t), (std::set<std::string>{"id", "audioUrl", "streamAudioUrl", "imageUrl", "prompt",
                                                   "modelName", "title", "tags", "createTime", "duration"}));
      EXPECT_EQ(str(t, "title"), "Night Drive");
      EXPECT_EQ(str(t, "tags"), "pop rock");
      EXPECT_NE(str(t, "id"), task);
      bool final_track = !str(t, "audioUrl").empty();
      final_tracks += final_track;
      EXPECT_EQ(final_track, !t.at("duration").is_null());
      if (final_track) {
        EXPECT_FALSE(str(t, "streamAudioUrl").empty());
      }
    }
    if (status == "PENDING") {
      EXPECT_EQ(final_tracks, 0);
      EXPECT_EQ(str(tracks[0], "streamAudioUrl"), "");
    } else if (status == "TEXT_SUCCESS") {
      EXPECT_EQ(final_tracks, 0);
      EXPECT_TRUE(!str(tracks[0], "streamAudioUrl").empty() || !str(tracks[1], "streamAudioUrl").empty());
    } else if (status == "FIRST_SUCCESS") {
      EXPECT_EQ(final_tracks, 1);
      EXPECT_FALSE(str(tracks[0], "audioUrl").empty());  // the first track is final first
    } else {
      ASSERT_EQ(status, "SUCCESS");
      EXPECT_EQ(final_tracks, 2);
      break;
    }
    std::this_thread::sleep_for(milliseconds(15));
  }
  EXPECT_EQ(seen, kOrder);
  auto& tracks = data.at("response").at("sunoData").as_array();
  ASSERT_EQ(tracks.size(), 2u);
  auto s = sim.stats();
  for (auto& t : tracks) {
    auto a = http_get(str(t, "audioUrl"));
    ASSERT_EQ(a.status, 200);
    EXPECT_EQ(a.headers["content-type"], "audio/mpeg");
    ASSERT_GE(a.body.size(), 384u);
    EXPECT_EQ(static_cast<unsigned char>(a.body[0]), 0xFF);
    EXPECT_EQ(static_cast<unsigned char>(a.body[1]), 0xFB);
    EXPECT_NEAR(static_cast<double>(a.body.size() / 384) * 0.024, t.at("duration").to_number<double>(), 0.03);
    auto& clip = s.at("clips").at(str(t, "id"));
    EXPECT_EQ(std::string(clip.at("sha256").as_string()), sha256_hex(a.body));
    EXPECT_EQ(std::string(clip.at("task").as_string()), task);
    auto img = http_get(str(t, "imageUrl"));
    EXPECT_EQ(img.status, 200);
    EXPECT_EQ(img.headers["content-type"], "image/jpeg");
  }
  EXPECT_EQ(s.at("stream_url_downloads").to_number<int>(), 0);
}

TEST(SimSunoapi, StreamUrlDownloadsAreCountedAsAClientBug) {
  TempDir dir;
  Sim sim(dir.path(), suno());
  auto task = task_id(sim, suno_body());
  auto data = wait_task(sim, task, "SUCCESS");
  ASSERT_EQ(str(data, "status"), "SUCCESS");
  auto stream = str(data.at("response").at("sunoData").at(0), "streamAudioUrl");
  EXPECT_EQ(http_get(stream).status, 200);
  EXPECT_EQ(http_get(stream).status, 200);
  EXPECT_EQ(sim.stats().at("stream_url_downloads").to_number<int>(), 2);
}

TEST(SimSunoapi, ValidationCodes400And413NameTheField) {
  TempDir dir;
  Sim sim(dir.path(), suno());
  std::string ok = suno_body();
  std::string v4 = suno_body("V4");
  std::string desc = with(ok, {{"customMode", false}}, {"style", "title"});
  struct Case {
    std::string body;
    int code;
    std::string field;
  };
  std::vector<Case> cases = {
      {with(ok, {}, {"callBackUrl"}), 400, "callBackUrl"},
      {with(ok, {{"callBackUrl", ""}}), 400, "callBackUrl"},
      {with(ok, {}, {"customMode"}), 400, "customMode"},
      {with(ok, {}, {"model"}), 400, "model"},
      {with(ok, {{"model", "V3_5"}}), 400, "model"},
      {with(ok, {{"instrumental", "no"}}), 400, "instrumental"},
      {with(ok, {}, {"style"}), 400, "style"},
      {with(ok, {}, {"title"}), 400, "title"},
      {with(ok, {}, {"prompt"}), 400, "prompt"},
      {with(ok, {{"instrumental", true}}, {"prompt"}), 200, ""},
      {with(v4, {{"prompt", json::value(std::string(3000, 'a'))}}), 200, ""},
      {with(v4, {{"prompt", json::value(std::string(3001, 'a'))}}), 413, "prompt"},
      {with(ok, {{"prompt", json::value(std::string(5000, 'a'))}}), 200, ""},
      {with(ok, {{"prompt", json::value(std::string(5001, 'a'))}}), 413, "prompt"},
      {with(v4, {{"style", json::value(std::string(201, 'a'))}}), 413, "style"},
      {with(ok, {{"style", json::value(std::string(1000, 'a'))}}), 200, ""},
      {with(ok, {{"style", json::value(std::string(1001, 'a'))}}), 413, "style"},
      {with(ok, {{"title", json::value(std::string(80, 'a'))}}), 200, ""},
      {with(ok, {{"title", json::value(std::string(81, 'a'))}}), 413, "title"},
      {with(desc, {{"prompt", json::value(std::string(500, 'a'))}}), 200, ""},
      {with(desc, {{"prompt", json::value(std::string(501, 'a'))}}), 413, "prompt"},
      {with(desc, {}, {"prompt"}), 400, "prompt"},
      {"not json", 400, ""},
  };
  int accepted = 0;
  for (auto& c : cases) {
    auto r = suno_submit(sim, c.body);
    EXPECT_EQ(r.status, c.code) << c.body.substr(0, 200) << " -> " << r.body;
    auto v = json::parse(r.body);
    EXPECT_EQ(v.at("code").to_number<int>(), c.code) << r.body;
    if (c.code == 200) {
      ++accepted;
      continue;
    }
    EXPECT_EQ(keys_of(v), (std::set<std::string>{"code", "msg", "data"}));
    EXPECT_TRUE(v.at("data").is_null());
    EXPECT_NE(str(v, "msg").find(c.field), std::string::npos) << str(v, "msg");
  }
  auto s = sim.stats();
  EXPECT_EQ(s.at("generate_accepted").to_number<int>(), accepted);
  EXPECT_EQ(count(s, "POST /api/v1/generate", "413"), 6u);
  // description mode writes the lyrics itself
  auto task = task_id(sim, with(desc, {{"prompt", "a song about trains"}}));
  auto data = wait_task(sim, task, "SUCCESS");
  EXPECT_NE(str(data.at("response").at("sunoData").at(0), "prompt").find("[Verse]"), std::string::npos);
}

TEST(SimSunoapi, RecordInfoNeedsAKnownTaskId) {
  TempDir dir;
  Sim sim(dir.path(), suno());
  auto none = http_get(sim.base_url() + "/api/v1/generate/record-info", auth());
  EXPECT_EQ(none.status, 400);
  EXPECT_NE(str(json::parse(none.body), "msg").find("taskId"), std::string::npos);
  auto unknown = record_info(sim, "nope");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_EQ(code_of(unknown), 400);
  auto route = http_get(sim.base_url() + "/api/v1/nothing", auth());
  EXPECT_EQ(route.status, 404);
  EXPECT_EQ(code_of(route), 404);
  auto key = http("POST", sim.base_url() + "/api/v1/generate", [] {
    HttpOptions o;
    o.body = suno_body();
    return o;
  }());
  EXPECT_EQ(key.status, 401);
  EXPECT_EQ(code_of(key), 401);
}

TEST(SimSunoapi, BodyCodesWithHttp200EvenForErrors) {
  TempDir dir;
  Sim sim(dir.path(), suno({"--body-codes-http200", "--fault", "500/get@n1"}));
  auto bad = suno_submit(sim, with(suno_body(), {}, {"callBackUrl"}));
  EXPECT_EQ(bad.status, 200);
  EXPECT_EQ(code_of(bad), 400);
  auto long_title = suno_submit(sim, with(suno_body(), {{"title", json::value(std::string(81, 'x'))}}));
  EXPECT_EQ(long_title.status, 200);
  EXPECT_EQ(code_of(long_title), 413);
  auto route = http_get(sim.base_url() + "/api/v1/nothing", auth());
  EXPECT_EQ(route.status, 200);
  EXPECT_EQ(code_of(route), 404);
  auto nokey = http("POST", sim.base_url() + "/api/v1/generate", [] {
    HttpOptions o;
    o.body = suno_body();
    return o;
  }());
  EXPECT_EQ(nokey.status, 200);
  EXPECT_EQ(code_of(nokey), 401);
  auto task = task_id(sim, suno_body());
  auto err = record_info(sim, task);  // the 500 fault
  EXPECT_EQ(err.status, 200);
  EXPECT_EQ(code_of(err), 500);
  EXPECT_EQ(code_of(record_info(sim, task)), 200);
  auto s = sim.stats();  // stats count the body's code
  EXPECT_EQ(count(s, "POST /api/v1/generate", "400"), 1u);
  EXPECT_EQ(count(s, "POST /api/v1/generate", "413"), 1u);
  EXPECT_EQ(count(s, "GET /api/v1/generate/record-info", "500"), 1u);
}

TEST(SimSunoapi, RateLimitIs430WithRetryAfterNot429) {
  TempDir dir;
  Sim sim(dir.path(), suno({"--generate-rate", "1", "--generate-burst", "2"}));
  EXPECT_EQ(suno_submit(sim, suno_body("V5", "a")).status, 200);
  EXPECT_EQ(suno_submit(sim, suno_body("V5", "b")).status, 200);
  auto r = suno_submit(sim, suno_body("V5", "c"));
  ASSERT_EQ(r.status, 430);
  EXPECT_EQ(code_of(r), 430);
  EXPECT_NE(str(json::parse(r.body), "msg").find("frequency"), std::string::npos);
  EXPECT_EQ(r.headers["retry-after"], "1");
  std::this_thread::sleep_for(milliseconds(150));
  EXPECT_EQ(suno_submit(sim, suno_body("V5", "c")).status, 430);
  auto s = sim.stats();
  EXPECT_EQ(s.at("rate_limited").to_number<int>(), 2);
  EXPECT_EQ(s.at("retry_after_violations").to_number<int>(), 1);
  EXPECT_EQ(count(s, "POST /api/v1/generate", "430"), 2u);
  EXPECT_EQ(count(s, "POST /api/v1/generate", "429"), 0u);
}

TEST(SimSunoapi, RateLimitUnderHttp200AndCode405) {
  TempDir dir;
  Sim sim(dir.path(), suno({"--body-codes-http200", "--rate-limit-code", "405", "--get-rate", "1", "--get-burst",
                            "1", "--retry-after", "date"}));
  auto task = task_id(sim, suno_body());
  EXPECT_EQ(record_info(sim, task).status, 200);
  auto r = record_info(sim, task);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(code_of(r), 405);
  EXPECT_NE(r.headers["retry-after"].find("GMT"), std::string::npos);
}

TEST(SimSunoapi, InsufficientCreditsIs429) {
  TempDir dir;
  Sim sim(dir.path(), suno({"--balance", "300", "--model-cost", "V5=100", "--model-cost", "V4=250"}));
  EXPECT_EQ(suno_submit(sim, suno_body("V5", "a")).status, 200);
  EXPECT_EQ(suno_submit(sim, suno_body("V5", "b")).status, 200);
  auto v4 = suno_submit(sim, suno_body("V4", "c"));  // 100 left, 250 needed
  EXPECT_EQ(v4.status, 429);
  EXPECT_EQ(code_of(v4), 429);
  EXPECT_NE(str(json::parse(v4.body), "msg").find("credits"), std::string::npos);
  EXPECT_EQ(suno_submit(sim, suno_body("V5", "d")).status, 200);
  EXPECT_EQ(suno_submit(sim, suno_body("V5", "e")).status, 429);
  auto s = sim.stats();
  EXPECT_EQ(s.at("tokens_charged").to_number<std::int64_t>(), 300);
  EXPECT_EQ(s.at("balance_exhausted").to_number<int>(), 2);
  EXPECT_EQ(s.at("rate_limited").to_number<int>(), 0);
  auto first = s.at("clips").as_object().begin()->value();
  EXPECT_EQ(first.at("credits_used").to_number<std::int64_t>(), 100);
}

TEST(SimSunoapi, MaintenanceFaultIs455) {
  TempDir dir;
  Sim sim(dir.path(), suno({"--fault", "maintenance=30s@n1", "--fault", "455/get@n1"}));
  auto r = suno_submit(sim, suno_body());
  EXPECT_EQ(r.status, 455);
  EXPECT_EQ(code_of(r), 455);
  EXPECT_EQ(r.headers["retry-after"], "30");
  auto task = task_id(sim, suno_body());
  EXPECT_EQ(code_of(record_info(sim, task)), 455);
  EXPECT_EQ(code_of(record_info(sim, task)), 200);
  EXPECT_EQ(sim.stats().at("tokens_charged").to_number<std::int64_t>(), 200000);
}

TEST(SimSunoapi, MaintenanceOnAimlIs503) {
  TempDir dir;
  Sim sim(dir.path(), fast({"--fault", "maintenance@n1"}));
  auto r = submit(sim);
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(json::parse(r.body).at("statusCode").to_number<int>(), 503);
}

TEST(SimSunoapi, ModerationEndsInSensitiveWordErrorAndARetryFailsAgain) {
  TempDir dir;
  Sim sim(dir.path(), suno({"--fault", "moderation=contains an artist name@n1", "--sensitive-word", "badword"}));
  auto task = task_id(sim, suno_body());
  auto data = wait_task(sim, task, "SENSITIVE_WORD_ERROR");
  ASSERT_EQ(str(data, "status"), "SENSITIVE_WORD_ERROR");
  EXPECT_EQ(str(data, "errorMessage"), "contains an artist name");
  EXPECT_EQ(data.at("errorCode").to_number<int>(), 400);
  for (auto& t : data.at("response").at("sunoData").as_array()) EXPECT_EQ(str(t, "audioUrl"), "");
  // words: the same text fails every time
  std::string body = suno_body("V5", "Title", "[Verse] a BadWord here");
  for (int i = 0; i < 2; ++i) {
    auto again = wait_task(sim, task_id(sim, body), "SENSITIVE_WORD_ERROR");
    EXPECT_EQ(str(again, "status"), "SENSITIVE_WORD_ERROR");
    EXPECT_NE(str(again, "errorMessage").find("badword"), std::string::npos);
  }
  EXPECT_EQ(str(wait_task(sim, task_id(sim, suno_body("V5", "clean")), "SUCCESS"), "status"), "SUCCESS");
}

TEST(SimSunoapi, TaskFailuresByFault) {
  TempDir dir;
  Sim sim(dir.path(), suno({"--fault", "task-fail=CREATE_TASK_FAILED:no capacity@n1", "--fault",
                            "clip-error=audio failed@n3", "--fault", "task-fail=CALLBACK_EXCEPTION@n3"}));
  auto created = task_id(sim, suno_body("V5", "a"));
  auto first = json::parse(record_info(sim, created).body).at("data");  // at once
  EXPECT_EQ(str(first, "status"), "CREATE_TASK_FAILED");
  EXPECT_EQ(str(first, "errorMessage"), "no capacity");
  auto audio = task_id(sim, suno_body("V5", "b"));  // clips 3 and 4: clip 3 fails
  auto failed = wait_task(sim, audio, "GENERATE_AUDIO_FAILED");
  EXPECT_EQ(str(failed, "status"), "GENERATE_AUDIO_FAILED");
  EXPECT_EQ(str(failed, "errorMessage"), "audio failed");
  auto callback = task_id(sim, suno_body("V5", "c"));
  auto cb = wait_task(sim, callback, "CALLBACK_EXCEPTION");
  EXPECT_EQ(str(cb, "status"), "CALLBACK_EXCEPTION");
  EXPECT_FALSE(str(cb, "errorMessage").empty());
  for (auto& t : cb.at("response").at("sunoData").as_array()) EXPECT_FALSE(str(t, "audioUrl").empty());
}

TEST(SimSunoapi, FilesExpireButTheTaskIsStillDescribed) {
  TempDir dir;
  Sim sim(dir.path(), suno({"--file-ttl", "400ms", "--latency-dist", "fixed"}));
  auto task = task_id(sim, suno_body());
  auto data = wait_task(sim, task, "SUCCESS");
  ASSERT_EQ(str(data, "status"), "SUCCESS");
  auto& t = data.at("response").at("sunoData").at(0);
  EXPECT_EQ(http_get(str(t, "audioUrl")).status, 200);
  EXPECT_EQ(http_get(str(t, "imageUrl")).status, 200);
  std::this_thread::sleep_for(milliseconds(500));
  auto gone = http_get(str(t, "audioUrl"));
  EXPECT_TRUE(gone.status == 404 || gone.status == 410) << gone.status;
  EXPECT_EQ(http_get(str(t, "imageUrl")).status, gone.status);
  EXPECT_EQ(http_get(str(t, "streamAudioUrl")).status, gone.status);
  auto later = json::parse(record_info(sim, task).body).at("data");
  EXPECT_EQ(str(later, "status"), "SUCCESS");
  EXPECT_EQ(str(later.at("response").at("sunoData").at(0), "audioUrl"), str(t, "audioUrl"));
  EXPECT_EQ(sim.stats().at("expired_file_requests").to_number<int>(), 3);
}

TEST(SimSunoapi, SharedFaultsAndDuplicates) {
  TempDir dir;
  Sim sim(dir.path(), suno({"--fault", "502/generate@n1", "--fault", "reset/get@n1", "--fault",
                            "huge-json=32KiB/get@n2", "--fault", "delay=300ms/generate@n3", "--fault",
                            "stuck@n2", "--fault", "truncate/audio@n1"}));
  auto gw = suno_submit(sim, suno_body());
  EXPECT_EQ(gw.status, 502);
  EXPECT_NE(gw.body.find("Bad Gateway"), std::string::npos);
  auto task = task_id(sim, suno_body());
  EXPECT_EQ(record_info(sim, task).status, 0);  // reset
  auto huge = record_info(sim, task);
  EXPECT_EQ(huge.body.size(), 32u * 1024);
  EXPECT_EQ(code_of(huge), 200);
  auto t0 = std::chrono::steady_clock::now();
  auto again = task_id(sim, suno_body());  // the same song, bought twice
  EXPECT_GE(std::chrono::steady_clock::now() - t0, milliseconds(290));
  // clip 2 (the second track of the first task) is stuck: never SUCCESS
  std::this_thread::sleep_for(milliseconds(700));
  auto stuck = json::parse(record_info(sim, task).body).at("data");
  EXPECT_EQ(str(stuck, "status"), "FIRST_SUCCESS");
  auto url = str(stuck.at("response").at("sunoData").at(0), "audioUrl");
  auto cut = http_get(url);
  EXPECT_LT(cut.body.size(), std::stoull(cut.headers["content-length"]));
  auto s = sim.stats();
  EXPECT_EQ(s.at("duplicate_submissions").to_number<int>(), 1);
  EXPECT_EQ(s.at("tokens_charged").to_number<std::int64_t>(), 400000);
  EXPECT_EQ(count(s, "POST /api/v1/generate", "502"), 1u);
  EXPECT_EQ(count(s, "GET /api/v1/generate/record-info", "reset"), 1u);
  EXPECT_EQ(str(wait_task(sim, again, "SUCCESS"), "status"), "SUCCESS");
}

TEST(SimSunoapi, ShippedScenarioHasTheDocumentedLimit) {
  TempDir dir;
  Sim sim(dir.path(), {"--scenario", (source_dir() / "jobs/sim/sunoapi.yaml").string(), "--latency", "200ms"});
  for (int i = 0; i < 20; ++i) ASSERT_EQ(suno_submit(sim, suno_body("V5", "s" + std::to_string(i))).status, 200) << i;
  auto r = suno_submit(sim, suno_body("V5", "one too many"));
  EXPECT_EQ(code_of(r), 430);
  EXPECT_FALSE(r.headers["retry-after"].empty());
}

TEST(SimSunoapi, TheFirstTrackIsAlwaysTheFirstToBeFinal) {
  TempDir dir;
  Sim sim(dir.path(), suno({"--latency", "10s", "--latency-jitter", "5s"}));
  std::vector<std::string> tasks;
  for (int i = 0; i < 12; ++i) tasks.push_back(task_id(sim, suno_body("V5", "t" + std::to_string(i))));
  auto s = sim.stats();
  int checked = 0;
  for (auto& task : tasks) {
    auto data = json::parse(record_info(sim, task).body).at("data");
    auto& tracks = data.at("response").at("sunoData").as_array();
    ASSERT_EQ(tracks.size(), 2u);
    auto& a = s.at("clips").at(str(tracks[0], "id"));
    auto& b = s.at("clips").at(str(tracks[1], "id"));
    EXPECT_EQ(std::string(a.at("task").as_string()), task);
    EXPECT_LE(a.at("latency_ms").to_number<double>(), b.at("latency_ms").to_number<double>()) << task;
    ++checked;
  }
  EXPECT_EQ(checked, 12);
}

TEST(SimSunoapi, BadNewSettingsAreRejectedAtStartup) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  std::vector<Case> cases = {
      {{"--fault", "task-fail=NOPE@n1"}, "CREATE_TASK_FAILED"},
      {{"--fault", "moderation/clips@n1"}, "scope tasks"},
      {{"--fault", "503/tasks@n1"}, "scope tasks"},
      {{"--rate-limit-code", "429"}, "430 or 405"},
      {{"--model-cost", "google/lyria2"}, "MODEL=N"},
      {{"--flavor", "sunoapi.org"}, "unknown --flavor"},
  };
  for (auto& c : cases) {
    std::vector<std::string> argv = {sim_bin().string(), "--port", "0", "--cdn-port", "0"};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    auto r = run(argv, {}, std::chrono::seconds(5));
    EXPECT_EQ(r.exit_code, 2) << c.args[0];
    EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
  }
}
