#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "setlist/manifest.hpp"
#include "setlist/provider.hpp"

using namespace setlist;

namespace {
Song lyrics_song() {
  Song s;
  s.title = "Silent Battlefield";
  s.lyrics = "[Verse]\nCruel flames";
  s.tags = "pop metal male melancholic";
  return s;
}
}  // namespace

TEST(SongKey, PinnedValueIsStableAcrossRunsAndPlatforms) {
  auto p = make_provider("aimlapi");
  ASSERT_TRUE(p);
  // The legacy chirp route (aimlapi's default model is now minimax/music-2.6).
  auto payload = p->payload(lyrics_song(), "chirp-v3-5");
  EXPECT_EQ(canonical_json(boost::json::value(payload.body)),
            R"({"make_instrumental":false,"model":"chirp-v3-5","prompt":"[Verse]\nCruel flames","tags":"pop metal male melancholic","title":"Silent Battlefield"})");
  // sha256 of {"body":{...},"flavor":"aimlapi","route":"/generate/custom-mode"}, computed with sha256sum
  EXPECT_EQ(song_key("aimlapi", payload), "7981c80b42ff573adb89b880f1766657adcb57ed0c2702f06db4ff0e745cd17c");
}

TEST(SongKey, WaitAudioDoesNotChangeTheKeyButLyricsDo) {
  auto p = make_provider("aimlapi");
  auto s = lyrics_song();
  auto k1 = song_key("aimlapi", p->payload(s, ""));
  s.wait_audio = true;
  EXPECT_EQ(song_key("aimlapi", p->payload(s, "")), k1);
  s.lyrics = "[Verse]\nCruel flames!";
  EXPECT_NE(song_key("aimlapi", p->payload(s, "")), k1);
}

TEST(AimlV1, CustomAndDescriptionRoutes) {
  auto p = make_provider("aimlapi");
  auto req = p->submit_request(p->payload(lyrics_song(), "chirp-v3-0"), false);
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.target, "/generate/custom-mode");
  auto body = boost::json::parse(req.body).as_object();
  EXPECT_EQ(body.at("wait_audio").as_bool(), false);
  EXPECT_EQ(body.at("model").as_string(), "chirp-v3-0");
  Song d;
  d.title = "Desc";
  d.description = "a calm piano piece";
  auto dreq = p->submit_request(p->payload(d, "chirp-v3-5"), true);
  EXPECT_EQ(dreq.target, "/generate");
  auto dbody = boost::json::parse(dreq.body).as_object();
  EXPECT_EQ(dbody.at("prompt").as_string(), "a calm piano piece");
  EXPECT_FALSE(dbody.contains("title"));
}

// Description mode has no style field in any Suno flavor: a song's tags
// join its description (as the AIML music models' style prompt does), so
// nothing the manifest says is dropped; without tags the description is sent
// as written.
TEST(DescriptionMode, EverySunoFlavorSendsTheTagsInsideTheDescription) {
  Song d;
  d.title = "Desc";
  d.description = "a calm piano piece";
  d.tags = "lo-fi, rain";
  struct Case {
    const char* provider;
    const char* field;
  };
  for (auto c : {Case{"aimlapi", "prompt"}, Case{"aimlapi-v2", "gpt_description_prompt"}, Case{"suno-api", "prompt"},
                 Case{"sunoapi", "prompt"}}) {
    auto p = make_provider(c.provider);
    std::string model = std::string(c.provider) == "aimlapi" ? "chirp-v3-5" : "";
    auto body = boost::json::parse(p->submit_request(p->payload(d, model), false).body).as_object();
    EXPECT_EQ(body.at(c.field).as_string(), "a calm piano piece, lo-fi, rain") << c.provider;
    EXPECT_FALSE(body.contains("tags")) << c.provider;
    EXPECT_FALSE(body.contains("style")) << c.provider;
    Song plain = d;
    plain.tags.clear();
    auto pbody = boost::json::parse(p->submit_request(p->payload(plain, model), false).body).as_object();
    EXPECT_EQ(pbody.at(c.field).as_string(), "a calm piano piece") << c.provider;
  }
}

TEST(ClipLyrics, ReadsTheWordsEachFlavorPutsInItsClip) {
  // Legacy clip (aimlapi v1, suno-api): "lyric", with "prompt" as a fallback.
  EXPECT_EQ(clip_lyrics(R"({"id":"a","lyric":"[Verse]\nWords\n","prompt":"other"})"), "[Verse]\nWords");
  EXPECT_EQ(clip_lyrics(R"({"id":"a","prompt":"  Sung words  "})"), "Sung words");
  // aimlapi-v2: under metadata.
  EXPECT_EQ(clip_lyrics(R"({"id":"a","metadata":{"prompt":"Meta words","tags":"x"}})"), "Meta words");
  // A sunoapi track: "prompt".
  EXPECT_EQ(clip_lyrics(R"({"id":"t","audioUrl":"","prompt":"Track words","tags":"pop"})"), "Track words");
  // AIML music models say nothing about lyrics; instrumentals have none; junk is nothing.
  EXPECT_EQ(clip_lyrics(R"({"id":"g","status":"completed","audio_file":{"url":"u"}})"), "");
  EXPECT_EQ(clip_lyrics(R"({"id":"a","lyric":"","prompt":""})"), "");
  EXPECT_EQ(clip_lyrics("not json"), "");
  EXPECT_EQ(clip_lyrics(R"({"id":"a","lyric":42})"), "");
}

TEST(AimlV1, PollRequestEncodesIds) {
  auto p = make_provider("aimlapi");
  std::vector<std::string> ids = {"a-1", "b_2"};
  EXPECT_EQ(p->poll_request(ids).target, "/?ids%5B0%5D=a-1&ids%5B1%5D=b_2");
}

TEST(AimlV1, ParsesClipsDefensively) {
  auto p = make_provider("aimlapi");
  auto ok = p->parse_poll(
      R"([{"id":"c1","status":"completed","audio_url":"http://x/a.mp3","duration":"61.5"},
          {"id":"c2","status":"queue","audio_url":"","duration":null},
          {"id":"c3","status":"error","audio_url":"None.mp3","error_message":"contained artist name"}])");
  ASSERT_TRUE(ok);
  ASSERT_EQ(ok->size(), 3u);
  EXPECT_EQ((*ok)[0].status, ClipStatus::complete);
  EXPECT_DOUBLE_EQ(*(*ok)[0].duration, 61.5);
  EXPECT_EQ((*ok)[1].status, ClipStatus::queued);
  EXPECT_FALSE((*ok)[1].duration);
  EXPECT_EQ((*ok)[2].error_message, "contained artist name");

  EXPECT_FALSE(p->parse_poll("<html>"));
  EXPECT_FALSE(p->parse_poll(R"({"id":"c1"})"));
  EXPECT_FALSE(p->parse_poll(R"([{"id":42}])"));
  auto bad_id = p->parse_poll(R"([{"id":"../../etc/passwd","status":"complete"}])");
  ASSERT_FALSE(bad_id);
  EXPECT_EQ(bad_id.error().message, "clip id has unexpected characters or length");
  EXPECT_FALSE(p->parse_submit("[]"));
}

TEST(AimlV1, ErrorMessages) {
  auto p = make_provider("aimlapi");
  EXPECT_EQ(p->error_message(429, R"({"message":"Too many requests","statusCode":429})"), "Too many requests");
  EXPECT_EQ(p->error_message(402, R"({"error":"payment required"})"), "payment required");
  EXPECT_EQ(p->error_message(502, "Bad\ngateway"), "Bad gateway");
  EXPECT_EQ(p->error_message(503, ""), "HTTP 503");
}

TEST(ClipId, Validation) {
  EXPECT_TRUE(is_valid_clip_id("3f2b8c1e-1234-4abc-9def-0123456789ab"));
  EXPECT_FALSE(is_valid_clip_id(""));
  EXPECT_FALSE(is_valid_clip_id("a/b"));
  EXPECT_FALSE(is_valid_clip_id("a%2Fb"));
  EXPECT_FALSE(is_valid_clip_id(std::string(129, 'a')));
}
