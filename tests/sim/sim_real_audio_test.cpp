// --real-audio (#19): each clip is a tone at a loudness the simulator chose
// (or the profile asked for), encoded once, served with Range like the rest,
// and described in the stats.
#include "sim_helpers.hpp"

#include <cmath>

#include "setlist/analysis.hpp"

using namespace simtest;

TEST(SimRealAudio, ServesEncodedTonesAtTheLoudnessTheStatsGive) {
  TempDir dir;
  Sim sim(dir.path(), fast({"--real-audio", "--loudness-profile", "loud,silent"}));
  std::vector<std::string> ids = ids_of(submit(sim, "One"));
  for (auto& id : ids_of(submit(sim, "Two"))) ids.push_back(id);
  auto clips = wait_status(sim, ids, "complete");
  ASSERT_EQ(clips.size(), 4u);
  auto stats = sim.stats().as_object();
  std::map<std::string, int> profiles;
  for (auto& c : clips) {
    const std::string id = str(c, "id");
    auto& st = stats.at("clips").at(id).as_object();
    const std::string profile(st.at("loudness_profile").as_string());
    ++profiles[profile];
    auto a = http_get(str(c, "audio_url"));
    ASSERT_EQ(a.status, 200);
    EXPECT_EQ(a.headers["content-type"], "audio/mpeg");
    EXPECT_EQ(a.body.size(), st.at("bytes").to_number<std::uint64_t>());
    EXPECT_EQ(sha256_hex(a.body), std::string(st.at("sha256").as_string()));
    EXPECT_EQ(sha256_hex(http_get(str(c, "audio_url")).body), sha256_hex(a.body)) << "the same bytes again";
    // a range of the same bytes
    HttpOptions range;
    range.headers["Range"] = "bytes=100-199";
    auto part = http_get(str(c, "audio_url"), range);
    EXPECT_EQ(part.status, 206);
    EXPECT_EQ(part.body, a.body.substr(100, 100));
    // the audio measures what the stats say
    auto file = dir / (id + ".mp3");
    write_file(file, a.body);
    auto m = setlist::analyze_audio(file);
    ASSERT_TRUE(m) << m.error().message;
    EXPECT_NEAR(m->duration_seconds, c.at("duration").to_number<double>(), 0.05);
    if (profile == "silent") {
      EXPECT_TRUE(st.at("lufs").is_null());
      EXPECT_FALSE(m->integrated_lufs);
    } else {
      double lufs = st.at("lufs").to_number<double>();
      if (profile == "loud") EXPECT_EQ(lufs, -7.0);
      else EXPECT_TRUE(lufs >= -20.0 && lufs <= -10.0) << lufs;
      ASSERT_TRUE(m->integrated_lufs);
      EXPECT_NEAR(*m->integrated_lufs, lufs, 0.5);
    }
  }
  EXPECT_EQ(profiles, (std::map<std::string, int>{{"loud", 1}, {"normal", 2}, {"silent", 1}}));
}

TEST(SimRealAudio, ProfileNeedsRealAudioAndKnownNames) {
  TempDir dir;
  auto r = run({sim_bin().string(), "--port", "0", "--loudness-profile", "quiet"}, {}, std::chrono::seconds(10));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--real-audio"), std::string::npos) << r.err;
  auto bad = run({sim_bin().string(), "--port", "0", "--real-audio", "--loudness-profile", "quiet,deafening"}, {},
                 std::chrono::seconds(10));
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("deafening"), std::string::npos) << bad.err;
}
