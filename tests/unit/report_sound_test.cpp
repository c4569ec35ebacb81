// #19 in the renderers: analysis and flags in report.json, junit.xml, the
// Markdown summary and report.html's inline SVG pictures.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "report/model.hpp"

using namespace setlist;
using namespace setlist::report;

namespace {

std::size_t count(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (auto p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + needle.size())) ++n;
  return n;
}

ReportData album() {
  ReportData d;
  d.album.title = "Sound";
  for (int i = 1; i <= 2; ++i) {
    SongInfo s;
    s.key = "key" + std::to_string(i);
    s.title = "Song " + std::to_string(i);
    s.track = i;
    s.status = "complete";
    for (int take = 0; take < 2; ++take) {
      ClipInfo c;
      c.id = "clip-" + std::to_string(i) + (take ? "b" : "a");
      c.take = take;
      c.status = "complete";
      FileInfo f;
      f.path = c.id + ".mp3";
      f.exists = true;
      c.audio = f;
      AudioAnalysis a;
      a.integrated_lufs = -10.0 - 4 * i - take;
      a.true_peak = 0.5;
      a.sample_peak = 0.5;
      a.duration_seconds = 3;
      a.waveform.assign(300, 0.5f);
      a.blocks.add(*a.integrated_lufs);
      if (i == 2 && take == 1) {
        a.integrated_lufs.reset();
        a.waveform.assign(300, 0.0f);
        c.flags = {"silent"};
      }
      c.analysis = a;
      s.clips.push_back(c);
    }
    d.songs.push_back(s);
  }
  std::vector<const AudioAnalysis*> firsts = {&*d.songs[0].clips[0].analysis, &*d.songs[1].clips[0].analysis};
  d.album_loudness = album_loudness(firsts);
  return d;
}

}  // namespace

TEST(ReportSound, JsonCarriesAnalysisFlagsAndTheAlbumLoudness) {
  auto v = boost::json::parse(render_json(album())).as_object();
  auto& loud = v.at("loudness").as_object();
  EXPECT_EQ(loud.at("takes").as_int64(), 2);
  EXPECT_EQ(loud.at("takes_flagged").as_int64(), 1);
  ASSERT_TRUE(loud.at("integrated_lufs").is_double());
  EXPECT_NEAR(loud.at("integrated_lufs").as_double(), -15.5, 1.0);  // -14 and -18 pooled
  EXPECT_NEAR(loud.at("replaygain_album_gain_db").as_double(), -18 - loud.at("integrated_lufs").as_double(), 0.01);
  auto& c = v.at("songs").as_array()[0].at("clips").as_array()[0].as_object();
  EXPECT_EQ(c.at("analysis").at("integrated_lufs").as_double(), -14.0);
  EXPECT_EQ(c.at("analysis").at("replaygain_track_gain_db").as_double(), -4.0);
  EXPECT_NEAR(c.at("analysis").at("true_peak_dbtp").as_double(), -6.02, 0.01);
  EXPECT_TRUE(c.at("flags").as_array().empty());
  auto& silent = v.at("songs").as_array()[1].at("clips").as_array()[1].as_object();
  EXPECT_TRUE(silent.at("analysis").at("integrated_lufs").is_null());
  EXPECT_EQ(silent.at("flags").as_array(), boost::json::array({"silent"}));
}

TEST(ReportSound, HtmlDrawsAWaveformPerTakeAndABarPerSong) {
  auto h = render_html(album());
  EXPECT_EQ(count(h, "<svg class=\"waveform\""), 4u);
  EXPECT_EQ(count(h, "<svg class=\"album-loudness\""), 1u);
  EXPECT_EQ(count(h, "<rect class=\"bar"), 2u);
  EXPECT_EQ(count(h, "flag-silent"), 1u);
  EXPECT_EQ(count(h, "wf wf-bad"), 1u);
  EXPECT_EQ(h.find("<script"), std::string::npos);
  EXPECT_NE(h.find("-14.0 LUFS"), std::string::npos);
}

TEST(ReportSound, JunitAndMarkdownNameTheFlaggedTake) {
  auto j = render_junit(album());
  EXPECT_NE(j.find("<property name=\"take B flags\" value=\"silent\"/>"), std::string::npos) << j;
  EXPECT_NE(j.find("<property name=\"take A loudness_lufs\" value=\"-14.00\"/>"), std::string::npos) << j;
  EXPECT_EQ(count(j, "<failure"), 0u) << "a flag informs; the song was delivered";
  auto md = render_step_summary(album());
  EXPECT_NE(md.find("- Song 2 (B): silent"), std::string::npos) << md;
  EXPECT_NE(md.find("Album loudness"), std::string::npos) << md;
}

// `setlist report --format md`: counts, cost, a row per song with its takes'
// durations, loudness and flags, and the songs that are not complete.
TEST(ReportSound, MarkdownSummaryHasCostATableRowPerSongAndTheFailures) {
  auto d = album();
  d.album.artist = "Band";
  d.run = boost::json::parse(R"({"duration_s": 12.5, "tokens_charged": 400000, "tokens_charged_to_date": 800000})")
              .as_object();
  SongInfo bad;
  bad.key = "key3";
  bad.title = "Song | 3";
  bad.track = 3;
  bad.status = "failed";
  bad.reason = "take A ended in error: moderated";
  d.songs.push_back(bad);
  d.totals = {{"complete", 2}, {"failed", 1}};
  auto md = render_step_summary(d);
  EXPECT_EQ(md.rfind("### setlist: Sound \xE2\x80\x94 Band\n\n3 songs: 2 complete, 1 failed\n", 0), 0u) << md;
  EXPECT_NE(md.find("Cost: 400000 tokens by the last run, 800000 tokens for the album to date. The last run took "
                    "12.5 s."),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| # | song | status | takes | duration | loudness | flags | reason |"), std::string::npos);
  EXPECT_NE(md.find("| 1 | Song 1 | complete | 2 | 0:03 (A), 0:03 (B) | -14.0 LUFS (A), -15.0 LUFS (B) |  |  |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| 2 | Song 2 | complete | 2 | 0:03 (A), 0:03 (B) | -18.0 LUFS (A), no level (B) | silent (B) |  |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| 3 | Song \\| 3 | failed | 0 |  |  |  | take A ended in error: moderated |"), std::string::npos)
      << md;
  EXPECT_NE(md.find("Not complete:\n\n- **3. Song \\| 3** (failed): take A ended in error: moderated\n"),
            std::string::npos)
      << md;
}

// The run timeline keeps 200 songs readable: small rows, an axis in minutes
// for a long run, a row per song, the 429 and retry marks where they fell.
TEST(ReportSound, TimelineOfTwoHundredSongsHasSmallRowsAndAMinuteAxis) {
  TimelineRun run;
  run.start = 1'000'000;
  run.end = run.start + 20 * 60'000;  // 20 minutes
  run.submits = 201;
  run.accepted = 200;
  run.throttled = 1;
  run.rate = 0.5;
  for (int i = 1; i <= 200; ++i) {
    TimelineSong s;
    s.key = "k" + std::to_string(i);
    s.track = i;
    s.title = "Song " + std::to_string(i);
    s.end = "done";
    const std::int64_t t0 = run.start + i * 2000;
    s.spans = {{"submit", t0, t0 + 500}, {"generate", t0 + 500, t0 + 60'000}, {"download", t0 + 60'000, t0 + 70'000},
               {"tag", t0 + 69'000, t0 + 70'000}};
    if (i == 7) s.marks = {{"429", t0 + 100, 2000, "HTTP 429"}, {"retry", t0 + 65'000, 300, "download"}};
    run.songs.push_back(s);
  }
  auto svg = timeline_svg(run, 0);
  EXPECT_EQ(count(svg, "<g class=\"tl-song\""), 200u);
  EXPECT_EQ(count(svg, "<rect class=\"tl-generate\""), 200u);
  EXPECT_EQ(count(svg, "class=\"tl-429\""), 1u);
  EXPECT_EQ(count(svg, "class=\"tl-retry\""), 1u);
  EXPECT_NE(svg.find("height=\"1028\""), std::string::npos) << "22 + 200 rows of 5 px + 6";
  EXPECT_NE(svg.find(">20m</text>"), std::string::npos) << "an axis in minutes";
  EXPECT_EQ(svg.find(">30s</text>"), std::string::npos);
  auto caption = timeline_caption(run, 0);
  EXPECT_NE(caption.find("201 generate requests sent, 200 accepted, 1 throttled (429), 0 retries"), std::string::npos)
      << caption;
  EXPECT_NE(caption.find("achieved 0.50 accepted requests/s (30.0/min)"), std::string::npos) << caption;
}
