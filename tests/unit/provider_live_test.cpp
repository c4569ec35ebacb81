// The two live flavors: AIML music models (provider "aimlapi", non-chirp
// models) and sunoapi.org-style proxies (provider "sunoapi"). Request
// bodies, every poll state, classify() tables, takes and slot ids.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "setlist/manifest.hpp"
#include "setlist/provider.hpp"

using namespace setlist;
namespace json = boost::json;

namespace {

Song song_with_lyrics() {
  Song s;
  s.title = "Night Ferry";
  s.lyrics = "[Verse]\nThe ferry hums";
  s.tags = "city pop, electric piano";
  return s;
}

json::object body_of(const ApiRequest& r) { return json::parse(r.body).as_object(); }

}  // namespace

// ---- AIML music models ------------------------------------------------------

TEST(AimlAudio, ModelDecidesTheRoute) {
  auto p = make_provider("aimlapi");
  Song s = song_with_lyrics();
  auto dflt = p->payload(s, "");
  EXPECT_EQ(dflt.route, "/v2/generate/audio");
  EXPECT_EQ(dflt.body.at("model").as_string(), "minimax/music-2.6");
  const Provider& audio = p->for_payload(dflt);
  EXPECT_NE(&audio, p.get());
  EXPECT_EQ(audio.info().name, "aimlapi-audio");
  EXPECT_EQ(audio.info().poll_style, PollStyle::one_id);
  EXPECT_EQ(audio.info().clips_per_request, 1);

  s.model = "chirp-v3-5";
  auto legacy = p->payload(s, "");
  EXPECT_EQ(legacy.route, "/generate/custom-mode");
  EXPECT_EQ(&p->for_payload(legacy), p.get());
  EXPECT_EQ(p->for_payload(legacy).info().poll_style, PollStyle::batch);
}

TEST(AimlAudio, RequestBodiesPerModel) {
  auto p = make_provider("aimlapi");
  auto req = [&](const Song& s) {
    auto pl = p->payload(s, "");
    auto r = p->for_payload(pl).submit_request(pl, true);
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.target, "/v2/generate/audio");
    return body_of(r);
  };
  auto text = [](const Song& s) { return s; };

  // minimax/music-2.6: lyrics, style prompt (description then tags), no title, no wait_audio.
  Song a = song_with_lyrics();
  EXPECT_EQ(json::value(req(a)), json::parse(R"({"model":"minimax/music-2.6","prompt":"city pop, electric piano",
      "lyrics":"[Verse]\nThe ferry hums"})"));
  // Instrumental; and without lyrics it lets the model write them.
  Song b = text(a);
  b.lyrics.reset();
  b.description = "a slow ballad about ferries";
  EXPECT_EQ(json::value(req(b)), json::parse(R"({"model":"minimax/music-2.6",
      "prompt":"a slow ballad about ferries, city pop, electric piano","lyrics_optimizer":true})"));
  b.make_instrumental = true;
  EXPECT_EQ(json::value(req(b)), json::parse(R"({"model":"minimax/music-2.6",
      "prompt":"a slow ballad about ferries, city pop, electric piano","is_instrumental":true})"));

  // minimax/music-2.0: prompt and lyrics, no instrumental switch.
  Song c = song_with_lyrics();
  c.model = "minimax/music-2.0";
  c.make_instrumental = true;
  EXPECT_EQ(json::value(req(c)), json::parse(R"({"model":"minimax/music-2.0",
      "prompt":"city pop, electric piano","lyrics":"[Verse]\nThe ferry hums"})"));

  // eleven_music: the length in ms, never lyrics.
  Song d;
  d.title = "Fog Signal";
  d.model = "elevenlabs/eleven_music";
  d.description = "ambient foghorn.";
  d.tags = "tape pads";
  d.length = std::chrono::seconds(90);
  d.seed = 5;  // not a field of this model
  EXPECT_EQ(json::value(req(d)), json::parse(R"({"model":"elevenlabs/eleven_music",
      "prompt":"ambient foghorn. tape pads","music_length_ms":90000})"));

  // lyria2: negative_prompt and seed.
  Song e;
  e.title = "Tide";
  e.model = "google/lyria2";
  e.description = "calm piano";
  e.negative_tags = "drums, vocals";
  e.seed = 42;
  EXPECT_EQ(json::value(req(e)), json::parse(R"({"model":"google/lyria2","prompt":"calm piano",
      "negative_prompt":"drums, vocals","seed":42})"));

  // stable-audio: seconds_total in seconds.
  Song f;
  f.title = "Buoy";
  f.model = "stable-audio";
  f.tags = "bells";
  f.length = std::chrono::seconds(20);
  EXPECT_EQ(json::value(req(f)), json::parse(R"({"model":"stable-audio","prompt":"bells","seconds_total":20})"));
}

TEST(AimlAudio, TakesAreNotPartOfTheSong) {
  auto p = make_provider("aimlapi");
  Song s = song_with_lyrics();
  auto k1 = song_key("aimlapi", p->payload(s, ""));
  s.takes = 5;
  auto pl = p->payload(s, "");
  EXPECT_FALSE(pl.body.contains("takes"));
  EXPECT_EQ(song_key("aimlapi", pl), k1);
}

TEST(AimlAudio, SubmitAndPollEveryState) {
  auto p = make_provider("aimlapi");
  const Provider& a = p->for_payload(p->payload(song_with_lyrics(), ""));

  auto sub = a.parse_submit(R"({"id":"906aec79-b0af-40c4","status":"queued"})");
  ASSERT_TRUE(sub);
  ASSERT_EQ(sub->size(), 1u);
  EXPECT_EQ((*sub)[0].id, "906aec79-b0af-40c4");
  EXPECT_EQ((*sub)[0].status, ClipStatus::queued);
  EXPECT_FALSE(a.parse_submit(R"({"status":"queued"})"));
  EXPECT_FALSE(a.parse_submit("[]"));

  std::vector<std::string> ids = {(*sub)[0].id};
  auto poll = a.poll_request(ids);
  EXPECT_EQ(poll.method, "GET");
  EXPECT_EQ(poll.target, "/v2/generate/audio?generation_id=906aec79-b0af-40c4");

  auto one = [&](std::string_view body) {
    auto r = a.parse_poll(body);
    EXPECT_TRUE(r) << body;
    EXPECT_EQ(r->size(), 1u);
    return r->front();
  };
  auto q = one(R"({"id":"g1","status":"queued","audio_file":null,"error":null,"meta":null})");
  EXPECT_EQ(q.status, ClipStatus::queued);
  auto g = one(R"({"id":"g1","status":"generating","audio_file":null})");
  EXPECT_FALSE(is_terminal(g.status));
  EXPECT_TRUE(g.audio_url.empty());
  auto done = one(R"({"id":"g1","status":"completed","audio_file":{"url":"https://cdn.aimlapi.com/x/output.wav"},
      "error":null,"meta":{"usage":{"credits_used":120000}}})");
  EXPECT_EQ(done.status, ClipStatus::complete);
  EXPECT_EQ(done.audio_url, "https://cdn.aimlapi.com/x/output.wav");
  ASSERT_TRUE(done.credits_used);
  EXPECT_EQ(*done.credits_used, 120000);
  EXPECT_FALSE(done.duration);  // the answer has none
  // "completed" without a file is not done yet.
  auto nofile = one(R"({"id":"g1","status":"completed","audio_file":null})");
  EXPECT_FALSE(is_terminal(nofile.status));
  auto err = one(R"({"id":"g1","status":"error","audio_file":null,
      "error":{"name":"ValidationError","message":"lyrics contain blocked words"}})");
  EXPECT_EQ(err.status, ClipStatus::error);
  EXPECT_EQ(err.error_message, "lyrics contain blocked words");
  auto err2 = one(R"({"id":"g1","status":"error","error":null})");
  EXPECT_EQ(err2.status, ClipStatus::error);
  EXPECT_FALSE(err2.error_message.empty());
  EXPECT_FALSE(a.parse_poll(R"({"status":"completed"})"));
  EXPECT_FALSE(a.parse_poll("<html>"));
}

TEST(AimlAudio, GenerationIdsWithOtherCharactersStayUsable) {
  auto p = make_provider("aimlapi");
  const Provider& a = p->for_payload(p->payload(song_with_lyrics(), ""));
  auto sub = a.parse_submit(R"({"id":"ab12:minimax/music-2.0","status":"queued"})");
  ASSERT_TRUE(sub);
  const std::string& id = (*sub)[0].id;
  EXPECT_TRUE(is_valid_clip_id(id)) << id;
  std::vector<std::string> ids = {id};
  EXPECT_EQ(a.poll_request(ids).target, "/v2/generate/audio?generation_id=ab12%3Aminimax%2Fmusic-2.0");
  auto polled = a.parse_poll(R"({"id":"ab12:minimax/music-2.0","status":"queued"})");
  ASSERT_TRUE(polled);
  EXPECT_EQ(polled->front().id, id);  // the same clip
}

// ---- sunoapi ----------------------------------------------------------------

TEST(SunoApiOrg, CustomDescriptionAndInstrumentalBodies) {
  ProviderOptions opts;
  opts.callback_url = "https://hooks.example.test/cb";
  auto p = make_provider("sunoapi", opts);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->info().key_env, "SUNOAPI_KEY");

  Song s = song_with_lyrics();
  s.negative_tags = "metal";
  auto custom = p->payload(s, "");
  EXPECT_EQ(custom.route, "/api/v1/generate");
  EXPECT_EQ(json::value(custom.body), json::parse(R"({"customMode":true,"instrumental":false,"model":"V4_5",
      "prompt":"[Verse]\nThe ferry hums","style":"city pop, electric piano","title":"Night Ferry",
      "negativeTags":"metal"})"));
  auto req = p->submit_request(custom, false);
  EXPECT_EQ(req.method, "POST");
  auto body = body_of(req);
  EXPECT_EQ(body.at("callBackUrl").as_string(), "https://hooks.example.test/cb");
  EXPECT_FALSE(body.contains("wait_audio"));

  Song d;
  d.title = "Depot";
  d.description = "an upbeat song about a tram depot";
  d.tags = "indie";
  d.model = "V5";
  // Description mode has no style field: the tags are sent inside the description.
  EXPECT_EQ(json::value(p->payload(d, "").body), json::parse(R"({"customMode":false,"instrumental":false,
      "model":"V5","prompt":"an upbeat song about a tram depot, indie"})"));

  Song i;
  i.title = "Overhead Wires";
  i.tags = "ambient, hum";
  i.make_instrumental = true;
  EXPECT_EQ(json::value(p->payload(i, "V4").body), json::parse(R"({"customMode":true,"instrumental":true,
      "model":"V4","style":"ambient, hum","title":"Overhead Wires"})"));

  // The callback URL is transport, not identity.
  auto p2 = make_provider("sunoapi");
  EXPECT_EQ(song_key("sunoapi", p2->payload(s, "")), song_key("sunoapi", custom));
  EXPECT_EQ(body_of(p2->submit_request(custom, false)).at("callBackUrl").as_string(),
            "https://example.invalid/setlist-callback");
}

TEST(SunoApiOrg, SlotIdsComeFromTheTaskId) {
  auto p = make_provider("sunoapi");
  auto clips = p->parse_submit(R"({"code":200,"msg":"success","data":{"taskId":"5c79be8e"}})");
  ASSERT_TRUE(clips);
  ASSERT_EQ(clips->size(), 2u);
  EXPECT_EQ((*clips)[0].id, "5c79be8e-1");
  EXPECT_EQ((*clips)[1].id, "5c79be8e-2");
  for (auto& c : *clips) {
    EXPECT_TRUE(is_valid_clip_id(c.id));
    EXPECT_EQ(c.status, ClipStatus::queued);
  }
  std::vector<std::string> ids = {(*clips)[0].id, (*clips)[1].id};
  auto req = p->poll_request(ids);
  EXPECT_EQ(req.method, "GET");
  EXPECT_EQ(req.target, "/api/v1/generate/record-info?taskId=5c79be8e");

  EXPECT_FALSE(p->parse_submit(R"({"code":200,"msg":"success","data":{}})"));
  auto refused = p->parse_submit(R"({"code":429,"msg":"insufficient credits"})");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message, "answer has code 429: insufficient credits");
}

TEST(SlotIds, AreReversibleAndSafe) {
  for (std::string task : {"5c79be8e", "a_b", "a-1", "x/y:z", "__", "task_1"}) {
    for (int slot : {1, 2}) {
      std::string id = slot_clip_id(task, slot);
      ASSERT_TRUE(is_valid_clip_id(id)) << task;
      auto back = split_slot_clip_id(id);
      ASSERT_TRUE(back) << id;
      EXPECT_EQ(back->first, task);
      EXPECT_EQ(back->second, slot);
    }
  }
  EXPECT_NE(slot_clip_id("a_b", 1), slot_clip_id("a-b", 1));
  EXPECT_FALSE(split_slot_clip_id("nodash"));
  EXPECT_FALSE(split_slot_clip_id("abc-0"));
  EXPECT_FALSE(split_slot_clip_id("abc-12"));
  EXPECT_FALSE(split_slot_clip_id("ab_5F-1"));  // '_' is written "__", never "_5F"
  EXPECT_EQ(slot_clip_id(std::string(200, 'a'), 1), "");
}

namespace {
std::string record(std::string_view status, std::string_view tracks, std::string_view extra = "") {
  return std::string(R"({"code":200,"msg":"success","data":{"taskId":"t9","status":")") + std::string(status) +
         R"(","response":{"taskId":"t9","sunoData":)" + std::string(tracks) + "}" + std::string(extra) + "}}";
}
const char* kTwoTracks =
    R"([{"id":"trk-a","audioUrl":"https://cdn.example.test/a.mp3","streamAudioUrl":"https://s/a","imageUrl":"https://cdn.example.test/a.jpg","title":"Depot","duration":181.4},
        {"id":"trk-b","audioUrl":"","streamAudioUrl":"https://s/b","imageUrl":"","title":"Depot","duration":null}])";
}  // namespace

TEST(SunoApiOrg, ParsesEveryTaskState) {
  auto p = make_provider("sunoapi");
  auto parse = [&](const std::string& body) {
    auto r = p->parse_poll(body);
    EXPECT_TRUE(r) << body;
    EXPECT_EQ(r->size(), 2u);
    return *r;
  };
  for (auto st : {"PENDING", "TEXT_SUCCESS"}) {
    auto c = parse(record(st, "null"));
    EXPECT_EQ(c[0].id, "t9-1");
    EXPECT_EQ(c[1].id, "t9-2");
    EXPECT_EQ(c[0].status, ClipStatus::queued) << st;
    EXPECT_EQ(c[1].status, ClipStatus::queued) << st;
  }
  // FIRST_SUCCESS with one URL: that track is done, the other is not, and a
  // stream URL is never taken for audio.
  auto first = parse(record("FIRST_SUCCESS", kTwoTracks));
  EXPECT_EQ(first[0].status, ClipStatus::complete);
  EXPECT_EQ(first[0].audio_url, "https://cdn.example.test/a.mp3");
  EXPECT_EQ(first[0].image_url, "https://cdn.example.test/a.jpg");
  EXPECT_EQ(first[0].title, "Depot");
  ASSERT_TRUE(first[0].duration);
  EXPECT_DOUBLE_EQ(*first[0].duration, 181.4);
  EXPECT_NE(first[0].raw_json.find("\"trk-a\""), std::string::npos);  // the track's own id is kept
  EXPECT_FALSE(is_terminal(first[1].status));
  EXPECT_TRUE(first[1].audio_url.empty());

  auto ok = parse(record("SUCCESS", R"([{"id":"a","audioUrl":"https://c/a.mp3","streamAudioUrl":"https://s/a"},
                                          {"id":"b","audioUrl":"https://c/b.mp3","streamAudioUrl":"https://s/b"}])"));
  EXPECT_EQ(ok[0].status, ClipStatus::complete);
  EXPECT_EQ(ok[1].status, ClipStatus::complete);
  EXPECT_EQ(ok[1].audio_url, "https://c/b.mp3");
  // SUCCESS with a missing track: that slot ends in error rather than hanging.
  auto short_success = parse(record("SUCCESS", R"([{"id":"a","audioUrl":"https://c/a.mp3"}])"));
  EXPECT_EQ(short_success[0].status, ClipStatus::complete);
  EXPECT_EQ(short_success[1].status, ClipStatus::error);

  for (auto st : {"CREATE_TASK_FAILED", "GENERATE_AUDIO_FAILED", "CALLBACK_EXCEPTION"}) {
    auto c = parse(record(st, "null", R"(,"errorCode":500,"errorMessage":"upstream failed")"));
    EXPECT_EQ(c[0].status, ClipStatus::error) << st;
    EXPECT_EQ(c[1].status, ClipStatus::error) << st;
    EXPECT_EQ(c[0].error_message, std::string(st) + ": upstream failed");
  }
  auto mod = parse(record("SENSITIVE_WORD_ERROR", "null", R"(,"errorMessage":"contains artist name")"));
  EXPECT_EQ(mod[0].status, ClipStatus::error);
  EXPECT_NE(mod[0].error_message.find("refused by moderation"), std::string::npos);
  EXPECT_NE(mod[0].error_message.find("contains artist name"), std::string::npos);

  auto odd = parse(record("SOMETHING_NEW", "null"));
  EXPECT_EQ(odd[0].status, ClipStatus::unknown);

  EXPECT_FALSE(p->parse_poll(R"({"code":200,"data":{"status":"PENDING"}})"));  // no task id
  EXPECT_FALSE(p->parse_poll(R"({"code":455,"msg":"maintenance"})"));
  EXPECT_FALSE(p->parse_poll("[]"));
}

// ---- classify ---------------------------------------------------------------

TEST(Classify, SunoApiReadsTheBodyCodeFirst) {
  auto p = make_provider("sunoapi");
  auto kind = [&](int http, int code) {
    return p->classify(http, R"({"code":)" + std::to_string(code) + R"(,"msg":"m","data":null})").kind;
  };
  // HTTP 200 whatever the code, as some services answer.
  EXPECT_EQ(kind(200, 200), AnswerKind::ok);
  EXPECT_EQ(kind(200, 400), AnswerKind::fail_song);
  EXPECT_EQ(kind(200, 413), AnswerKind::fail_song);
  EXPECT_EQ(kind(200, 401), AnswerKind::bad_key);
  EXPECT_EQ(kind(200, 404), AnswerKind::gone);
  EXPECT_EQ(kind(200, 405), AnswerKind::throttled);
  EXPECT_EQ(kind(200, 430), AnswerKind::throttled);
  EXPECT_EQ(kind(200, 429), AnswerKind::out_of_credits);  // credits, not a rate limit
  EXPECT_EQ(kind(200, 455), AnswerKind::retry);
  EXPECT_EQ(kind(200, 500), AnswerKind::retry);
  // The body wins over the HTTP status, both ways.
  EXPECT_EQ(kind(429, 429), AnswerKind::out_of_credits);
  EXPECT_EQ(kind(400, 200), AnswerKind::ok);
  auto a = p->classify(200, R"({"code":"430","msg":"call frequency too high"})");
  EXPECT_EQ(a.kind, AnswerKind::throttled);
  EXPECT_EQ(a.code, 430);
  EXPECT_EQ(a.message, "call frequency too high");
  auto key = p->classify(200, R"({"code":401,"msg":"invalid key"})");
  EXPECT_NE(key.message.find("SUNOAPI_KEY"), std::string::npos) << key.message;
  // No code in the body: the HTTP status.
  EXPECT_EQ(p->classify(200, "{}").kind, AnswerKind::ok);
  EXPECT_EQ(p->classify(429, "<html>Too Many</html>").kind, AnswerKind::throttled);
  EXPECT_EQ(p->classify(502, "").kind, AnswerKind::retry);
  EXPECT_EQ(p->classify(504, "").kind, AnswerKind::maybe_accepted);
  EXPECT_EQ(p->classify(401, "").kind, AnswerKind::bad_key);
  EXPECT_EQ(p->classify(404, "").kind, AnswerKind::gone);
  EXPECT_EQ(p->classify(0, "").kind, AnswerKind::retry);
}

TEST(Classify, AimlMusicModels) {
  auto p = make_provider("aimlapi");
  const Provider& a = p->for_payload(p->payload(song_with_lyrics(), ""));
  auto kind = [&](int http, std::string_view msg = "m") {
    return a.classify(http, R"({"message":")" + std::string(msg) + R"(","statusCode":)" + std::to_string(http) + "}")
        .kind;
  };
  EXPECT_EQ(kind(200), AnswerKind::ok);
  EXPECT_EQ(kind(201), AnswerKind::ok);
  EXPECT_EQ(kind(400, "Body validation error!"), AnswerKind::fail_song);
  EXPECT_EQ(kind(401), AnswerKind::bad_key);
  EXPECT_EQ(kind(402), AnswerKind::out_of_credits);
  EXPECT_EQ(kind(403, "Forbidden"), AnswerKind::out_of_credits);  // the music-models docs: 403 is out of credits
  EXPECT_EQ(kind(404), AnswerKind::gone);
  EXPECT_EQ(kind(408), AnswerKind::retry);
  EXPECT_EQ(kind(413), AnswerKind::fail_song);
  EXPECT_EQ(kind(422), AnswerKind::fail_song);
  EXPECT_EQ(kind(425), AnswerKind::retry);
  EXPECT_EQ(kind(429), AnswerKind::throttled);
  for (int s : {500, 501, 502, 503, 505}) EXPECT_EQ(kind(s), AnswerKind::retry) << s;
  EXPECT_EQ(kind(504), AnswerKind::maybe_accepted);
  EXPECT_EQ(kind(400, "Model is deprecated"), AnswerKind::gone);
  EXPECT_EQ(a.classify(0, "").kind, AnswerKind::retry);
  auto key = a.classify(401, R"({"message":"Unauthorized"})");
  EXPECT_NE(key.message.find("AIML_API_KEY"), std::string::npos) << key.message;
}

TEST(Classify, LegacyFlavorsKeepTodaysPolicy) {
  for (auto name : {"aimlapi", "aimlapi-v2", "suno-api"}) {
    auto p = make_provider(name);
    SCOPED_TRACE(name);
    EXPECT_EQ(p->classify(200, "[]").kind, AnswerKind::ok);
    EXPECT_EQ(p->classify(0, "").kind, AnswerKind::retry);
    for (int s : {408, 425, 500, 502, 503}) EXPECT_EQ(p->classify(s, "").kind, AnswerKind::retry) << s;
    EXPECT_EQ(p->classify(429, R"({"message":"Too many requests"})").kind, AnswerKind::throttled);
    EXPECT_EQ(p->classify(504, "").kind, AnswerKind::maybe_accepted);
    for (int s : {400, 413, 422}) EXPECT_EQ(p->classify(s, "").kind, AnswerKind::fail_song) << s;
    EXPECT_EQ(p->classify(401, "").kind, AnswerKind::bad_key);
    EXPECT_EQ(p->classify(402, R"({"error":"payment required"})").kind, AnswerKind::out_of_credits);
    EXPECT_EQ(p->classify(403, R"({"message":"resource limit exhausted"})").kind, AnswerKind::out_of_credits);
    EXPECT_EQ(p->classify(403, R"({"message":"Forbidden"})").kind, AnswerKind::fail_song);
    EXPECT_EQ(p->classify(429, R"({"message":"Too many requests"})").message, "Too many requests");
  }
  // 404: AIML removed the chirp routes; a self-hosted suno-api just refuses the request.
  auto aiml = make_provider("aimlapi")->classify(404, R"({"message":"Cannot POST /generate/custom-mode"})");
  EXPECT_EQ(aiml.kind, AnswerKind::gone);
  EXPECT_NE(aiml.message.find("no longer callable"), std::string::npos) << aiml.message;
  EXPECT_EQ(make_provider("aimlapi-v2")->classify(404, "").kind, AnswerKind::gone);
  EXPECT_EQ(make_provider("suno-api")->classify(404, "").kind, AnswerKind::fail_song);
  EXPECT_EQ(make_provider("aimlapi")->classify(400, R"({"message":"This model is deprecated"})").kind,
            AnswerKind::gone);
  // The bad-key hint names each flavor's variable.
  EXPECT_EQ(key_hint(*find_provider_info("sunoapi")), "check SUNOAPI_KEY (or --api-key-file)");
  EXPECT_NE(make_provider("suno-api")->classify(401, "").message.find("SUNO_API_KEY"), std::string::npos);
  EXPECT_NE(make_provider("aimlapi")->classify(401, "").message.find("AIML_API_KEY"), std::string::npos);
}

// ---- takes ------------------------------------------------------------------

TEST(RequestsFor, CeilOfTakesOverClipsPerRequest) {
  auto aiml = make_provider("aimlapi");
  auto suno = make_provider("sunoapi");
  Song s = song_with_lyrics();
  EXPECT_EQ(aiml->requests_for(s), 1);  // takes not given
  EXPECT_EQ(suno->requests_for(s), 1);
  s.takes = 1;
  EXPECT_EQ(aiml->requests_for(s), 1);
  EXPECT_EQ(suno->requests_for(s), 1);
  s.takes = 2;
  EXPECT_EQ(aiml->requests_for(s), 2);  // one clip per request
  EXPECT_EQ(suno->requests_for(s), 1);  // two per request
  s.takes = 5;
  EXPECT_EQ(aiml->requests_for(s), 5);
  EXPECT_EQ(suno->requests_for(s), 3);
  // A chirp model of aimlapi gives two per request; so does the run's default model.
  s.model = "chirp-v3-5";
  EXPECT_EQ(aiml->requests_for(s), 3);
  s.model.clear();
  EXPECT_EQ(aiml->requests_for(s, "chirp-v3-0"), 3);
}

TEST(ModelLimitsOf, SongModelThenRunDefaultThenFlavorDefault) {
  auto p = make_provider("aimlapi");
  Song s = song_with_lyrics();
  EXPECT_EQ(p->model_limits(s)->name, "minimax/music-2.6");
  EXPECT_EQ(p->model_limits(s, "google/lyria2")->name, "google/lyria2");
  s.model = "stable-audio";
  EXPECT_EQ(p->model_limits(s, "google/lyria2")->name, "stable-audio");
  s.model = "nope";
  EXPECT_EQ(p->model_limits(s), nullptr);
}

TEST(StylePrompt, DescriptionThenTags) {
  Song s;
  EXPECT_EQ(style_prompt(s), "");
  s.tags = "lo-fi, tape";
  EXPECT_EQ(style_prompt(s), "lo-fi, tape");
  s.description = "a slow song";
  EXPECT_EQ(style_prompt(s), "a slow song, lo-fi, tape");
  s.description = "A slow song.  ";
  EXPECT_EQ(style_prompt(s), "A slow song. lo-fi, tape");
  s.tags.clear();
  EXPECT_EQ(style_prompt(s), "A slow song.");
}
