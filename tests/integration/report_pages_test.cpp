// #20: report.html of a large album stays small. Beyond 100 songs it holds
// the album and an index, and the songs' cards (players, waveforms, lyrics)
// are on report-pages/page-NNN.html, 100 a page. A 230-song album made by
// the simulator: report.html's size per song is bounded (it was ~14 KB a
// song with every waveform inline), every index link and page link
// resolves, every take is on exactly one page, and a page draws its
// waveforms in a real browser.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <cstdlib>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <string>

#include "integration_support.hpp"

using namespace setlist::test;
namespace json = boost::json;

namespace {

constexpr int kSongs = 230;  // three pages: 100, 100, 30

std::size_t occurrences(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + needle.size())) ++n;
  return n;
}

// As report.html writes a path into src/href (keeps '/', %-encodes the rest).
std::string url_path(const std::string& p) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : p) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0xF];
    }
  }
  return out;
}

std::optional<fs::path> program(const std::string& name) {
  for (const char* dir : {"/usr/bin", "/usr/local/bin", "/bin"}) {
    fs::path p = fs::path(dir) / name;
    if (fs::exists(p)) return p;
  }
  return std::nullopt;
}

}  // namespace

// One album for the three parts (230 songs take a while to make).
TEST(ReportPages, LargeAlbumIsAnIndexOfBoundedSizeWithEveryTakeOnOnePageDrawnInChromium) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(kSongs));
  Sim sim(dir.path(), fast_sim_args({"--latency", "200ms", "--latency-jitter", "50ms", "--duration", "2s..2s"}));
  struct {
    fs::path out;
  } a{dir / "out"};
  auto r = run_setlist(fast_run_args(sim, dir / "album.yaml", a.out,
                                     {"--submit-rate", "200/s", "--submit-burst", "50", "--max-in-flight", "100"}),
                       {}, std::chrono::minutes(4));
  ASSERT_EQ(r.exit_code, 0) << r.err;

  // 1. report.html: an index of bounded size per song.
  auto report = read_json(a.out / "report.json").as_object();
  ASSERT_EQ(report.at("songs").as_array().size(), static_cast<std::size_t>(kSongs));
  const auto takes = report.at("totals").at("takes_downloaded").to_number<std::size_t>();
  ASSERT_EQ(takes, 2u * kSongs);
  const std::string html = read_file(a.out / "report.html");
  // Bounded per song: with every take's waveform inline it was ~14 KB a song.
  EXPECT_LE(html.size(), 1200u * kSongs) << "report.html grows with each take's waveform again";
  // report.json says where the songs are.
  ASSERT_TRUE(report.at("html_pages").is_object()) << json::serialize(report.at("html_pages"));
  auto& pages = report.at("html_pages").as_object();
  EXPECT_EQ(pages.at("folder").as_string(), "report-pages");
  EXPECT_EQ(pages.at("songs_per_page").as_int64(), 100);
  EXPECT_EQ(pages.at("count").as_int64(), 3);
  EXPECT_EQ(occurrences(html, "<svg class=\"waveform\""), 0u);
  EXPECT_EQ(occurrences(html, "<audio"), 0u);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  // The index: a row per song, the loudness chart as a picture of fixed parts.
  EXPECT_EQ(occurrences(html, "<tr class=\"song\""), static_cast<std::size_t>(kSongs));
  EXPECT_NE(html.find("<svg class=\"album-loudness dense\""), std::string::npos);
  EXPECT_EQ(occurrences(html, "<rect class=\"bar"), 0u);

  // 2. Every index link and page link resolves; every take is on exactly one page.
  std::map<std::string, std::string> page_text;
  auto page = [&](const std::string& name) -> const std::string& {
    auto it = page_text.find(name);
    if (it == page_text.end()) {
      auto p = a.out / "report-pages" / name;
      it = page_text.emplace(name, fs::is_regular_file(p) ? read_file(p) : std::string()).first;
    }
    return it->second;
  };
  // Each song's link: report-pages/page-NNN.html#song-KEY16, and that anchor is on that page.
  std::regex link("<a href=\"report-pages/(page-[0-9]{3}\\.html)#(song-[0-9a-f]{16})\">");
  std::size_t links = 0;
  for (auto it = std::sregex_iterator(html.begin(), html.end(), link); it != std::sregex_iterator(); ++it) {
    ++links;
    const std::string& text = page((*it)[1]);
    ASSERT_FALSE(text.empty()) << (*it)[1] << " is missing";
    EXPECT_NE(text.find("id=\"" + (*it)[2].str() + "\""), std::string::npos) << (*it)[0];
  }
  EXPECT_EQ(links, static_cast<std::size_t>(kSongs));
  // Page links on report.html, and each page's previous/next.
  for (std::string name : {"page-001.html", "page-002.html", "page-003.html"}) {
    EXPECT_NE(html.find("href=\"report-pages/" + name + "\""), std::string::npos) << name;
    const std::string& text = page(name);
    ASSERT_FALSE(text.empty()) << name;
    EXPECT_EQ(text.find("<script"), std::string::npos);
    EXPECT_NE(text.find("href=\"../report.html#songs\""), std::string::npos) << name;
  }
  EXPECT_NE(page("page-001.html").find("rel=\"next\" href=\"page-002.html\""), std::string::npos);
  EXPECT_NE(page("page-002.html").find("rel=\"prev\" href=\"page-001.html\""), std::string::npos);
  EXPECT_EQ(page("page-003.html").find("rel=\"next\""), std::string::npos);
  EXPECT_FALSE(fs::exists(a.out / "report-pages" / "page-004.html"));
  // Every take: its player (relative to OUT through ../) and its waveform on exactly one page.
  auto songs = read_json(a.out / "report.json").at("songs").as_array();
  for (std::size_t i = 0; i < songs.size(); ++i) {
    const std::string& text = page(i < 100 ? "page-001.html" : i < 200 ? "page-002.html" : "page-003.html");
    for (auto& c : songs[i].at("clips").as_array()) {
      std::string path(c.at("audio").at("path").as_string());
      std::string id(c.at("id").as_string());
      EXPECT_EQ(occurrences(text, "src=\"../" + url_path(path) + "\""), 1u) << path;
      EXPECT_EQ(occurrences(text, "<svg class=\"waveform\" data-clip=\"" + id + "\""), 1u) << id;
      ASSERT_TRUE(fs::is_regular_file(a.out / path)) << path;
    }
  }
  std::size_t audio = 0;
  for (auto& [name, text] : page_text) audio += occurrences(text, "<audio");
  EXPECT_EQ(audio, 2u * kSongs);

  // 3. A page draws its waveforms in a real browser; the index shows every song.
  const char* skip = std::getenv("SETLIST_SKIP_BROWSER");
  bool opted_out = skip && std::string(skip) == "1";
  auto chromium = program("chromium");
  if (!chromium) chromium = program("chromium-browser");
  if (opted_out) GTEST_SKIP() << "SETLIST_SKIP_BROWSER=1: the browser part not run";
  ASSERT_TRUE(chromium) << "chromium is not installed: run scripts/install-deps.sh (or set SETLIST_SKIP_BROWSER=1)";
  TempDir home;
  auto browser = [&](const fs::path& file) {
    auto profile = home / ("chromium-profile-" + file.stem().string());
    fs::create_directories(profile);
    return run({chromium->string(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--user-data-dir=" + profile.string(), "--dump-dom", "file://" + file.string()},
               {{"HOME", home.path().string()}}, std::chrono::seconds(120));
  };
  auto dom = browser(a.out / "report-pages" / "page-002.html");
  ASSERT_EQ(dom.exit_code, 0) << dom.err;
  // 100 songs, two takes each: a waveform per take, each a path with a bar per point.
  EXPECT_EQ(occurrences(dom.out, "<svg class=\"waveform\""), 200u);
  auto at = dom.out.find("<svg class=\"waveform\"");
  ASSERT_NE(at, std::string::npos);
  auto svg = dom.out.substr(at, dom.out.find("</svg>", at) - at);
  EXPECT_NE(svg.find("<path d=\"M"), std::string::npos) << svg.substr(0, 300);
  EXPECT_GE(occurrences(svg, "V"), 250u) << "a bar per waveform point";
  EXPECT_EQ(occurrences(dom.out, "<li class=\"song\""), 100u);
  auto index = browser(a.out / "report.html");
  ASSERT_EQ(index.exit_code, 0) << index.err;
  EXPECT_EQ(occurrences(index.out, "<tr class=\"song\""), static_cast<std::size_t>(kSongs));

  // A page lost after the album was finished: the next run does not call
  // the album unchanged (settled_test.cpp) and writes the page again.
  auto args = fast_run_args(sim, dir / "album.yaml", a.out,
                            {"--submit-rate", "200/s", "--submit-burst", "50", "--max-in-flight", "100"});
  auto unchanged = run_setlist(args);
  ASSERT_EQ(unchanged.exit_code, 0) << unchanged.err;
  EXPECT_NE(unchanged.err.find("nothing to do"), std::string::npos) << unchanged.err;
  ASSERT_TRUE(fs::remove(a.out / "report-pages" / "page-002.html"));
  auto full = run_setlist(args);
  ASSERT_EQ(full.exit_code, 0) << full.err;
  EXPECT_EQ(full.err.find("nothing to do"), std::string::npos) << full.err;
  EXPECT_TRUE(fs::exists(a.out / "report-pages" / "page-002.html"));
}
