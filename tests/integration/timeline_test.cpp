// #19: the run timeline in report.html. Times are recorded in state while the
// real setlist runs against a real setlist-sim; the picture is checked in
// headless Chromium: a row per song, 429 and retry marks when the simulator
// throttled and failed, none when it did not; a resumed run is a second picture.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <cstdlib>
#include <optional>
#include <string>

#include "integration_support.hpp"

using namespace setlist::test;
namespace json = boost::json;
using namespace std::chrono_literals;

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

// The SVG of run `index` (0 = the first) in a page.
std::string timeline_of(const std::string& html, int index) {
  auto at = html.find("<svg class=\"timeline\" data-run=\"" + std::to_string(index) + "\"");
  if (at == std::string::npos) return {};
  return html.substr(at, html.find("</svg>", at) - at);
}

// One song's row in a timeline SVG.
std::string row_of(const std::string& svg, int track) {
  auto at = svg.find("<g class=\"tl-song\" data-track=\"" + std::to_string(track) + "\"");
  if (at == std::string::npos) return {};
  return svg.substr(at, svg.find("</g>", at) - at);
}

}  // namespace

TEST(Timeline, ReportHtmlDrawsARowPerSongWith429AndRetryMarksInChromium) {
  const char* skip = std::getenv("SETLIST_SKIP_BROWSER");
  const bool opted_out = skip && std::string(skip) == "1";
  auto chromium = program("chromium");
  if (!chromium) chromium = program("chromium-browser");
  if (!chromium && opted_out) GTEST_SKIP() << "SETLIST_SKIP_BROWSER=1 and no chromium";
  ASSERT_TRUE(chromium) << "chromium is not installed: run scripts/install-deps.sh (or set SETLIST_SKIP_BROWSER=1)";
  if (opted_out) GTEST_SKIP() << "SETLIST_SKIP_BROWSER=1";

  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(8));
  // The server allows fewer generates than setlist first tries (429s), and
  // one download fails once (a retry).
  Sim sim(dir.path(), fast_sim_args({"--generate-rate", "4", "--generate-burst", "2", "--retry-after", "seconds",
                                     "--fault", "503/cdn@n2"}));
  auto out = dir / "out";
  auto r = run_setlist(fast_run_args(sim, dir / "album.yaml", out,
                                     {"--submit-rate", "50/s", "--submit-burst", "8", "--poll-rate", "50"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_GT(sim.stats().as_object().at("rate_limited").as_int64(), 0) << "the scenario should throttle";

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
  EXPECT_EQ(occurrences(html, "<svg class=\"timeline\""), 1u) << "one run, one picture";
  const std::string svg = timeline_of(html, 0);
  ASSERT_FALSE(svg.empty());
  EXPECT_EQ(occurrences(svg, "<g class=\"tl-song\""), 8u) << "a row per song";
  for (int track = 1; track <= 8; ++track) {
    auto row = row_of(svg, track);
    ASSERT_FALSE(row.empty()) << track;
    for (const char* phase : {"tl-submit", "tl-generate", "tl-download", "tl-tag"})
      EXPECT_NE(row.find(std::string("<rect class=\"") + phase + "\""), std::string::npos) << track << " " << phase;
  }
  EXPECT_GE(occurrences(svg, "class=\"tl-429\""), 1u) << "the throttled submits are marked";
  EXPECT_GE(occurrences(svg, "class=\"tl-retry\""), 1u) << "the failed download is marked";
  // The caption gives what the run sent and the rate it achieved.
  EXPECT_NE(html.find("8 accepted"), std::string::npos);
  EXPECT_NE(html.find("accepted requests/s"), std::string::npos);

  auto shot = dir / "report-timeline.png";
  auto s = browser({"--screenshot=" + shot.string(), "--window-size=1200,4200", "--hide-scrollbars"});
  ASSERT_EQ(s.exit_code, 0) << s.err;
  auto png = read_file(shot);
  ASSERT_GT(png.size(), 1000u);
  EXPECT_EQ(png.substr(1, 3), "PNG");
  std::error_code ec;
  auto artifacts = setlist_bin().parent_path() / "test-artifacts";
  fs::create_directories(artifacts, ec);
  if (!ec) fs::copy_file(shot, artifacts / "report-timeline.png", fs::copy_options::overwrite_existing, ec);
}

// A second run is a second picture with only the songs it touched; a run the
// simulator never throttled has no 429 marks.
TEST(Timeline, EachRunIsItsOwnPictureAndAnUnthrottledRunHasNo429Marks) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(3));
  Sim sim(dir.path(), fast_sim_args());
  auto out = dir / "out";
  ASSERT_EQ(run_setlist(fast_run_args(sim, dir / "album.yaml", out)).exit_code, 0);
  auto first = read_file(out / "report.html");
  EXPECT_EQ(occurrences(first, "<svg class=\"timeline\""), 1u);
  EXPECT_EQ(occurrences(timeline_of(first, 0), "<g class=\"tl-song\""), 3u);
  EXPECT_EQ(occurrences(first, "class=\"tl-429\""), 0u);
  EXPECT_EQ(occurrences(first, "class=\"tl-retry\""), 0u);

  // A rerun with nothing to do draws nothing new.
  ASSERT_EQ(run_setlist(fast_run_args(sim, dir / "album.yaml", out)).exit_code, 0);
  EXPECT_EQ(occurrences(read_file(out / "report.html"), "<svg class=\"timeline\""), 1u);

  ASSERT_EQ(run_setlist(fast_run_args(sim, dir / "album.yaml", out, {"--regenerate", "2"})).exit_code, 0);
  auto html = read_file(out / "report.html");
  EXPECT_EQ(occurrences(html, "<svg class=\"timeline\""), 2u);
  EXPECT_EQ(occurrences(timeline_of(html, 0), "<g class=\"tl-song\""), 3u) << "the first run is still shown";
  auto second = timeline_of(html, 1);
  EXPECT_EQ(occurrences(second, "<g class=\"tl-song\""), 1u);
  EXPECT_FALSE(row_of(second, 2).empty());
  // `setlist report` rebuilds the same pictures from state alone.
  fs::remove(out / "report.html");
  auto rep = run_setlist({"report", out.string()});
  ASSERT_EQ(rep.exit_code, 0) << rep.err;
  EXPECT_EQ(occurrences(read_file(out / "report.html"), "<svg class=\"timeline\""), 2u);
}
