// #19 end to end: setlist-sim serves real tones at loudness it chose (and a
// quiet, a loud, a silent and a clipped one on request); setlist decodes
// and measures every take, flags the bad ones in every report, and writes
// ReplayGain 2.0 tags that independent readers (mutagen, ffprobe) read back
// within 0.5 LU of what the simulator made.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "integration_support.hpp"

using namespace setlist::test;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

// TXXX frames of a take as mutagen reads them: description -> value.
std::map<std::string, std::string> mutagen_txxx(const fs::path& f) {
  auto r = run({"/usr/bin/python3", "-c",
                "import sys, json, mutagen\n"
                "f = mutagen.File(sys.argv[1])\n"
                "print(json.dumps({k[5:]: str(v.text[0]) for k, v in f.tags.items() if k.startswith('TXXX:')}))",
                f.string()},
               {}, 30s);
  std::map<std::string, std::string> m;
  if (r.exit_code != 0) {
    ADD_FAILURE() << "mutagen on " << f << ": " << r.err;
    return m;
  }
  const json::value doc = json::parse(r.out);
  for (auto& [k, v] : doc.as_object()) m[std::string(k)] = std::string(v.as_string());
  return m;
}

// Format tags as ffprobe reads them, names upper-cased.
std::map<std::string, std::string> ffprobe_tags(const fs::path& f) {
  auto r = run({"/usr/bin/ffprobe", "-v", "error", "-show_entries", "format_tags", "-of", "json", f.string()}, {}, 30s);
  std::map<std::string, std::string> m;
  if (r.exit_code != 0) {
    ADD_FAILURE() << "ffprobe on " << f << ": " << r.err;
    return m;
  }
  json::value doc = json::parse(r.out);
  if (auto* tags = doc.as_object().at("format").as_object().if_contains("tags"))
    for (auto& [k, v] : tags->as_object()) {
      std::string key(k);
      for (auto& c : key) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      m[key] = std::string(v.as_string());
    }
  return m;
}

// "-4.00 dB" -> -4.0
double gain_db(const std::string& text) {
  EXPECT_NE(text.find(" dB"), std::string::npos) << text;
  return std::stod(text);
}

std::string lyria_album() {
  return "album:\n  title: Loud Album\n  artist: Loud Artist\n"
         "defaults:\n  model: google/lyria2\n  tags: [ambient]\n"
         "songs:\n"
         "  - title: Loud One\n    description: a loud take\n"
         "  - title: Quiet One\n    description: a quiet take\n";
}

}  // namespace

TEST(Loudness, QuietLoudSilentAndClippedTakesAreMeasuredFlaggedAndTaggedForReplayGain) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(2));
  // Clips are made in submission order, two per song: the first takes (A)
  // are the quiet and the loud one, whatever song is submitted first.
  Sim sim(dir.path(), fast_sim_args({"--real-audio", "--loudness-profile", "quiet,silent,loud,clipped",
                                     "--duration", "3s..3s"}));
  auto out = dir / "out";
  auto r = run_setlist(fast_run_args(sim, dir / "album.yaml", out));
  ASSERT_EQ(r.exit_code, 0) << r.err;

  // What the simulator made, by clip id.
  std::map<std::string, std::pair<std::string, std::optional<double>>> made;
  const json::value stats = sim.stats();
  for (auto& [id, c] : stats.at("clips").as_object()) {
    auto& lufs = c.at("lufs");
    made[std::string(id)] = {std::string(c.at("loudness_profile").as_string()),
                             lufs.is_null() ? std::nullopt : std::optional<double>(lufs.to_number<double>())};
  }
  ASSERT_EQ(made.size(), 4u);

  auto report = read_json(out / "report.json").as_object();
  std::map<std::string, int> seen;
  std::set<std::string> album_gains;
  for (auto& s : report.at("songs").as_array()) {
    for (auto& cv : s.at("clips").as_array()) {
      auto& c = cv.as_object();
      const std::string id(c.at("id").as_string());
      ASSERT_TRUE(made.count(id)) << id;
      const auto& [profile, lufs] = made[id];
      ++seen[profile];
      SCOPED_TRACE(profile + " take " + std::string(c.at("take").as_string()));
      ASSERT_TRUE(c.at("analysis").is_object()) << json::serialize(c);
      auto& a = c.at("analysis").as_object();
      std::set<std::string> flags;
      for (auto& f : c.at("flags").as_array()) flags.insert(std::string(f.as_string()));
      EXPECT_NEAR(a.at("duration").to_number<double>(), 3.0, 0.05);
      EXPECT_EQ(c.at("take").as_string(), profile == "quiet" || profile == "loud" ? "A" : "B");

      auto file = out / std::string(c.at("audio").at("path").as_string());
      auto mut = mutagen_txxx(file);
      auto ff = ffprobe_tags(file);
      album_gains.insert(mut["REPLAYGAIN_ALBUM_GAIN"]);
      EXPECT_EQ(ff["REPLAYGAIN_ALBUM_GAIN"], mut["REPLAYGAIN_ALBUM_GAIN"]);
      EXPECT_EQ(ff["REPLAYGAIN_ALBUM_PEAK"], mut["REPLAYGAIN_ALBUM_PEAK"]);
      if (profile == "quiet" || profile == "loud") {
        ASSERT_TRUE(lufs);
        EXPECT_NEAR(a.at("integrated_lufs").to_number<double>(), *lufs, 0.5);
        EXPECT_TRUE(flags.empty());
        // ReplayGain 2.0: gain to -18 LUFS, read back by two independent readers
        ASSERT_TRUE(mut.count("REPLAYGAIN_TRACK_GAIN")) << file;
        EXPECT_NEAR(gain_db(mut["REPLAYGAIN_TRACK_GAIN"]), -18.0 - *lufs, 0.5);
        EXPECT_NEAR(gain_db(ff["REPLAYGAIN_TRACK_GAIN"]), -18.0 - *lufs, 0.5);
        // A sine's peak is its loudness + 3.01 dB; MP3 coding noise lifts the
        // peak of the quiet tone by about 0.6 dB (its loudness stays within 0.1 LU).
        double peak = std::stod(mut["REPLAYGAIN_TRACK_PEAK"]);
        EXPECT_NEAR(20 * std::log10(peak), *lufs + 3.01, 1.0);
      } else if (profile == "silent") {
        EXPECT_TRUE(a.at("integrated_lufs").is_null());
        EXPECT_TRUE(flags.count("silent")) << json::serialize(c);
        EXPECT_FALSE(mut.count("REPLAYGAIN_TRACK_GAIN")) << "no gain for silence";
      } else {
        EXPECT_TRUE(flags.count("clipped")) << json::serialize(c);
        EXPECT_GT(a.at("true_peak_dbtp").to_number<double>(), 0.0);
        EXPECT_GT(a.at("clipped_runs").to_number<double>(), 10.0);
      }
    }
  }
  EXPECT_EQ(seen, (std::map<std::string, int>{{"clipped", 1}, {"loud", 1}, {"quiet", 1}, {"silent", 1}}));

  // The album: first takes only (quiet -35, loud -7). BS.1770's relative
  // gate leaves the loud one alone: the album is -7 LUFS, gain -11 dB,
  // written into every take.
  ASSERT_EQ(album_gains.size(), 1u);
  EXPECT_NEAR(gain_db(*album_gains.begin()), -11.0, 0.5);
  auto& loud = report.at("loudness").as_object();
  EXPECT_EQ(loud.at("takes").as_int64(), 2);
  EXPECT_NEAR(loud.at("integrated_lufs").to_number<double>(), -7.0, 0.5);
  EXPECT_EQ(loud.at("takes_flagged").as_int64(), 2);

  // Flags in every report: junit properties, the HTML page, the terminal summary.
  auto junit = read_file(out / "junit.xml");
  EXPECT_NE(junit.find("flags\" value=\"silent\""), std::string::npos) << junit;
  EXPECT_NE(junit.find("flags\" value=\"clipped\""), std::string::npos) << junit;
  auto html = read_file(out / "report.html");
  EXPECT_NE(html.find("flag-silent"), std::string::npos);
  EXPECT_NE(html.find("flag-clipped"), std::string::npos);
  EXPECT_NE(r.err.find("2 take(s) flagged"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("(B): silent"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("(B): clipped"), std::string::npos) << r.err;

  // The files rewritten for the album gain are what state records.
  auto verify = run_setlist({"verify", out.string()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  // A second run changes nothing: the album's takes are the same.
  auto before = fs::last_write_time(out / std::string(report.at("songs").as_array()[0].at("clips").as_array()[0].at("audio").at("path").as_string()));
  auto again = run_setlist(fast_run_args(sim, dir / "album.yaml", out));
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(fs::last_write_time(out / std::string(report.at("songs").as_array()[0].at("clips").as_array()[0].at("audio").at("path").as_string())), before);
}

// WAV takes (google/lyria2: 48 kHz stereo) get the same tags in their ID3 chunk
// (read back by mutagen; ffprobe reads a WAV's INFO chunk instead).
TEST(Loudness, WavTakesCarryReplayGainInTheirId3Chunk) {
  TempDir dir;
  write_file(dir / "album.yaml", lyria_album());
  Sim sim(dir.path(), fast_sim_args({"--real-audio", "--loudness-profile", "loud,quiet"}));
  auto out = dir / "out";
  auto r = run_setlist(fast_run_args(sim, dir / "album.yaml", out));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::map<std::string, double> made;
  const json::value stats = sim.stats();
  for (auto& [id, c] : stats.at("clips").as_object())
    made[std::string(id)] = c.at("lufs").to_number<double>();
  ASSERT_EQ(made.size(), 2u);
  const json::array songs = report_songs(out);
  for (auto& s : songs) {
    auto& c = s.at("clips").as_array().at(0).as_object();
    double lufs = made.at(std::string(c.at("id").as_string()));
    auto file = out / std::string(c.at("audio").at("path").as_string());
    EXPECT_EQ(file.extension(), ".wav");
    EXPECT_NEAR(c.at("analysis").at("integrated_lufs").to_number<double>(), lufs, 0.5);
    EXPECT_EQ(c.at("analysis").at("channels").as_int64(), 2);
    auto mut = mutagen_txxx(file);
    EXPECT_NEAR(gain_db(mut["REPLAYGAIN_TRACK_GAIN"]), -18.0 - lufs, 0.5);
    // ffprobe shows a WAV's RIFF INFO fields, not its ID3 chunk (docs/report.md, "Tags"):
    // mutagen is the independent reader here.
    EXPECT_FALSE(mut["REPLAYGAIN_ALBUM_GAIN"].empty());
  }
}

namespace {
std::optional<fs::path> program(const std::string& name) {
  for (const char* dir : {"/usr/bin", "/usr/local/bin", "/bin"}) {
    fs::path p = fs::path(dir) / name;
    if (fs::exists(p)) return p;
  }
  return std::nullopt;
}
std::size_t occurrences(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + needle.size())) ++n;
  return n;
}
}  // namespace

// report.html's pictures in a real browser: a waveform per take, the loudness
// chart with a bar per song, flags beside the bad takes; a screenshot kept.
TEST(Loudness, ReportHtmlShowsWaveformsAndTheLoudnessChartInChromium) {
  const char* skip = std::getenv("SETLIST_SKIP_BROWSER");
  bool opted_out = skip && std::string(skip) == "1";
  auto chromium = program("chromium");
  if (!chromium) chromium = program("chromium-browser");
  if (!chromium && opted_out) GTEST_SKIP() << "SETLIST_SKIP_BROWSER=1 and no chromium";
  ASSERT_TRUE(chromium) << "chromium is not installed: run scripts/install-deps.sh (or set SETLIST_SKIP_BROWSER=1)";
  if (opted_out) GTEST_SKIP() << "SETLIST_SKIP_BROWSER=1";

  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(3));
  Sim sim(dir.path(), fast_sim_args({"--real-audio", "--loudness-profile", "quiet,silent,loud,clipped",
                                     "--duration", "3s..3s"}));
  auto out = dir / "out";
  auto r = run_setlist(fast_run_args(sim, dir / "album.yaml", out));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::set<std::string> clip_ids;
  const json::array songs = report_songs(out);
  for (auto& s : songs)
    for (auto& c : s.at("clips").as_array()) clip_ids.insert(std::string(c.at("id").as_string()));
  ASSERT_EQ(clip_ids.size(), 6u);

  auto browser = [&](std::vector<std::string> extra) {
    auto profile = dir / ("chromium-profile-" + std::to_string(extra.size()));
    fs::create_directories(profile);
    std::vector<std::string> argv = {chromium->string(), "--headless", "--no-sandbox", "--disable-gpu",
                                     "--disable-quic", "--no-first-run", "--disable-background-networking",
                                     "--disable-component-update", "--disable-sync",
                                     "--user-data-dir=" + profile.string()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back("file://" + (out / "report.html").string());
    return run(argv, {{"HOME", dir.path().string()}}, std::chrono::seconds(120));
  };
  auto dom = browser({"--dump-dom"});
  ASSERT_EQ(dom.exit_code, 0) << dom.err;
  const std::string& html = dom.out;
  EXPECT_EQ(html.find("<script"), std::string::npos);
  // One waveform per take, each naming its clip and drawn (a path with a bar per point).
  EXPECT_EQ(occurrences(html, "<svg class=\"waveform\""), 6u);
  for (auto& id : clip_ids) {
    auto at = html.find("<svg class=\"waveform\" data-clip=\"" + id + "\"");
    ASSERT_NE(at, std::string::npos) << id;
    auto end = html.find("</svg>", at);
    auto svg = html.substr(at, end - at);
    EXPECT_NE(svg.find("<path d=\"M"), std::string::npos) << svg.substr(0, 300);
    EXPECT_GE(occurrences(svg, "V"), 250u) << "a bar per waveform point";
  }
  // The loudness chart: a bar per song (first takes), the reference line.
  auto chart_at = html.find("<svg class=\"album-loudness\"");
  ASSERT_NE(chart_at, std::string::npos);
  auto chart = html.substr(chart_at, html.find("</svg>", chart_at) - chart_at);
  EXPECT_EQ(occurrences(chart, "<rect class=\"bar"), 3u) << chart;
  EXPECT_NE(chart.find("class=\"ref\""), std::string::npos);
  // The bad takes carry their flags beside the waveform.
  EXPECT_EQ(occurrences(html, "flag-silent"), 1u);
  EXPECT_EQ(occurrences(html, "flag-clipped"), 1u);
  EXPECT_EQ(occurrences(html, "wf wf-bad"), 2u);

  auto shot = dir / "report-loudness.png";
  auto s = browser({"--screenshot=" + shot.string(), "--window-size=1200,1400", "--hide-scrollbars"});
  ASSERT_EQ(s.exit_code, 0) << s.err;
  ASSERT_TRUE(fs::exists(shot));
  auto png = read_file(shot);
  ASSERT_GT(png.size(), 1000u);
  EXPECT_EQ(png.substr(1, 3), "PNG");
  std::error_code ec;
  auto artifacts = setlist_bin().parent_path() / "test-artifacts";
  fs::create_directories(artifacts, ec);
  if (!ec) fs::copy_file(shot, artifacts / "report-loudness.png", fs::copy_options::overwrite_existing, ec);
  if (!ec) std::cerr << "screenshot: " << (artifacts / "report-loudness.png").string() << "\n";
}
