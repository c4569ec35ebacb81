// Album outputs end to end: the real binaries, then every output checked by
// something other than the code that wrote it: TagLib and eyeD3/ffprobe for
// tags, headless Chromium for report.html, the file system for the playlist.
#include <gtest/gtest.h>

#include <taglib/attachedpictureframe.h>
#include <taglib/id3v2tag.h>
#include <taglib/mpegfile.h>
#include <taglib/textidentificationframe.h>
#include <taglib/unsynchronizedlyricsframe.h>

#include <boost/json.hpp>

#include <cstdlib>
#include <regex>
#include <sstream>

#include "integration_support.hpp"

using namespace setlist::test;
namespace json = boost::json;

namespace {

std::string outputs_yaml() {
  std::string y = "album:\n  title: Output Album\n  artist: Test Artist\n  year: 2025\n  genre: dream pop\n";
  y += "defaults:\n  tags: [indie pop, dreamy]\n  model: chirp-v3-5\n";
  y += "songs:\n";
  y += "  - title: Neon Rain\n    lyrics: |\n      [Verse]\n      Neon rain on the window\n      [Chorus]\n      Ooh\n";
  y += "  - title: Broken Song\n    lyrics: |\n      [Verse]\n      This one fails once\n";
  // Markup in a title and in lyrics (written so the manifest's placeholder
  // check, which refuses "<verse here>", lets them through).
  y += "  - title: '<script>document.title=''pwned''</script>Co & \"Quotes\"'\n";
  y += "    lyrics: |\n      [Verse]\n      x</pre><script>alert(1)</script>end\n";
  return y;
}

std::optional<fs::path> find_program(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (!path) return std::nullopt;
  std::stringstream ss(path);
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    auto p = fs::path(dir.empty() ? "." : dir) / name;
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return std::nullopt;
}

std::string text_frame(TagLib::ID3v2::Tag* tag, const char* id) {
  auto& l = tag->frameListMap()[TagLib::ByteVector(id, 4)];
  return l.isEmpty() ? std::string() : l.front()->toString().to8Bit(true);
}

std::string user_text(TagLib::ID3v2::Tag* tag, const char* description) {
  auto* f = TagLib::ID3v2::UserTextIdentificationFrame::find(tag, TagLib::String(description, TagLib::String::UTF8));
  if (!f || f->fieldList().size() < 2) return {};
  return f->fieldList()[1].to8Bit(true);
}

std::string html_unescape(std::string s) {
  for (auto [from, to] : {std::pair{"&quot;", "\""}, std::pair{"&#39;", "'"}, std::pair{"&lt;", "<"},
                          std::pair{"&gt;", ">"}, std::pair{"&amp;", "&"}}) {
    std::string out;
    std::size_t i = 0;
    for (auto p = s.find(from); p != std::string::npos; p = s.find(from, i)) {
      out += s.substr(i, p - i) + to;
      i = p + std::string(from).size();
    }
    s = out + s.substr(i);
  }
  return s;
}

std::string percent_decode(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::size_t count(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (auto p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + needle.size())) ++n;
  return n;
}

std::string strip_times(const std::string& s) {
  return std::regex_replace(s, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)"), "TIME");
}

struct AlbumRun {
  TempDir dir;
  fs::path out;
  fs::path step_summary;
  std::unique_ptr<Sim> sim;
  RunResult result;
  json::object report;
};

// Three songs; the third clip (song 2, take A) ends in error.
std::unique_ptr<AlbumRun> run_album() {
  auto a = std::make_unique<AlbumRun>();
  write_file(a->dir / "album.yaml", outputs_yaml());
  a->sim = std::make_unique<Sim>(a->dir.path(),
                                 fast_sim_args({"--fault", "clip-error=<b>moderated</b> & \"policy\"@n3"}));
  a->out = a->dir / "out";
  a->step_summary = a->dir / "step-summary.md";
  write_file(a->step_summary, "# earlier step\n");
  // One song at a time, in track order: the simulator's third clip is then
  // song 2's take A for certain (three songs sent at once reach it in any order).
  a->result = run_setlist(fast_run_args(*a->sim, a->dir / "album.yaml", a->out, {"--max-in-flight", "1"}),
                          {{"GITHUB_STEP_SUMMARY", a->step_summary.string()}});
  if (fs::exists(a->out / "report.json")) a->report = read_json(a->out / "report.json").as_object();
  return a;
}

}  // namespace

TEST(Outputs, TagsLyricsClipJsonPlaylistJunitAndRebuild) {
  auto a = run_album();
  auto& out = a->out;
  ASSERT_EQ(a->result.exit_code, 1) << a->result.out << a->result.err;  // one song failed
  auto& songs = a->report.at("songs").as_array();
  ASSERT_EQ(songs.size(), 3u);
  EXPECT_EQ(songs[1].at("status").as_string(), "failed");
  EXPECT_NE(std::string(songs[1].at("reason").as_string()).find("<b>moderated</b>"), std::string::npos);
  EXPECT_EQ(a->report.at("totals").at("complete").as_int64(), 2);
  EXPECT_EQ(a->report.at("totals").at("failed").as_int64(), 1);
  EXPECT_EQ(a->report.at("totals").at("takes_downloaded").as_int64(), 5);
  EXPECT_EQ(a->report.at("album").at("cover").as_string(), "cover.jpg");
  EXPECT_EQ(a->report.at("run").at("requests").at("generate").as_int64(), 3);
  EXPECT_TRUE(a->report.at("run").at("duration_s").is_double());

  auto eyed3 = find_program("eyeD3");
  auto ffprobe = find_program("ffprobe");
  if (!eyed3 && !ffprobe) std::cerr << "note: neither eyeD3 nor ffprobe installed; TagLib read-back only\n";

  std::set<std::string> audio_paths;
  std::string first_cover;
  for (std::size_t i = 0; i < songs.size(); ++i) {
    auto& s = songs[i].as_object();
    std::string title(s.at("title").as_string());
    std::string key(s.at("key").as_string());
    // Lyrics beside the audio, exactly as written in the manifest.
    ASSERT_TRUE(s.at("lyrics").is_object()) << title;
    std::string lyrics = read_file(out / std::string(s.at("lyrics").at("path").as_string()));
    EXPECT_NE(lyrics.find("[Verse]"), std::string::npos);
    EXPECT_GT(s.at("attempts").as_int64(), 0);
    EXPECT_TRUE(s.at("timings").at("submitted_at").is_string());
    for (auto& cv : s.at("clips").as_array()) {
      auto& c = cv.as_object();
      std::string id(c.at("id").as_string());
      // The raw clip JSON as the API described it.
      ASSERT_TRUE(c.at("clip_json").is_string()) << id;
      auto clip = read_json(out / std::string(c.at("clip_json").as_string()));
      EXPECT_EQ(clip.at("id").as_string(), id);
      if (c.at("status").as_string() != "complete") {
        EXPECT_TRUE(c.at("audio").is_null());
        continue;
      }
      std::string rel(c.at("audio").at("path").as_string());
      audio_paths.insert(rel);
      auto mp3 = out / rel;
      std::string bytes = read_file(mp3);
      EXPECT_EQ(sha256_hex(bytes), c.at("audio").at("sha256").as_string());
      EXPECT_EQ(bytes.size(), c.at("audio").at("bytes").as_int64());
      // Tagged in place: the published file is not the downloaded one.
      EXPECT_NE(c.at("audio").at("sha256").as_string(), c.at("audio").at("source_sha256").as_string());
      std::string cover = read_file(out / std::string(c.at("cover").at("path").as_string()));
      if (first_cover.empty()) first_cover = cover;
      std::string take_title = title + " (" + std::string(c.at("take").as_string()) + ")";

      TagLib::MPEG::File f(mp3.c_str());
      ASSERT_TRUE(f.isValid() && f.hasID3v2Tag()) << rel;
      EXPECT_FALSE(f.hasID3v1Tag());
      auto* tag = f.ID3v2Tag();
      EXPECT_EQ(tag->header()->majorVersion(), 4u);
      EXPECT_EQ(text_frame(tag, "TIT2"), take_title);
      EXPECT_EQ(text_frame(tag, "TPE1"), "Test Artist");
      EXPECT_EQ(text_frame(tag, "TALB"), "Output Album");
      EXPECT_EQ(text_frame(tag, "TRCK"), std::to_string(i + 1) + "/3");
      EXPECT_EQ(text_frame(tag, "TDRC"), "2025");
      EXPECT_EQ(text_frame(tag, "TCON"), "dream pop");
      EXPECT_EQ(user_text(tag, "SETLIST_CLIP_ID"), id);
      EXPECT_EQ(user_text(tag, "SETLIST_SONG_KEY"), key);
      auto& uslt = tag->frameListMap()["USLT"];
      ASSERT_EQ(uslt.size(), 1u);
      // The lyrics file is the tag's text plus a final newline.
      EXPECT_EQ(dynamic_cast<TagLib::ID3v2::UnsynchronizedLyricsFrame*>(uslt.front())->text().to8Bit(true) + "\n",
                lyrics);
      auto& apic = tag->frameListMap()["APIC"];
      ASSERT_EQ(apic.size(), 1u);
      auto* pic = dynamic_cast<TagLib::ID3v2::AttachedPictureFrame*>(apic.front());
      EXPECT_EQ(pic->type(), TagLib::ID3v2::AttachedPictureFrame::FrontCover);
      EXPECT_EQ(std::string(pic->picture().data(), pic->picture().size()), cover);

      // An independent reader.
      if (eyed3) {
        auto r = run({eyed3->string(), "--no-color", mp3.string()}, {}, std::chrono::seconds(60));
        ASSERT_EQ(r.exit_code, 0) << r.err;
        EXPECT_NE(r.out.find("ID3 v2.4"), std::string::npos) << r.out;
        EXPECT_NE(r.out.find("title: " + take_title), std::string::npos) << r.out;
        EXPECT_NE(r.out.find("artist: Test Artist"), std::string::npos) << r.out;
        EXPECT_NE(r.out.find("album: Output Album"), std::string::npos) << r.out;
        EXPECT_NE(r.out.find("track: " + std::to_string(i + 1) + "/3"), std::string::npos) << r.out;
        EXPECT_NE(r.out.find("genre: dream pop"), std::string::npos) << r.out;
        EXPECT_NE(r.out.find("FRONT_COVER"), std::string::npos) << r.out;
        EXPECT_NE(r.out.find("SETLIST_CLIP_ID"), std::string::npos) << r.out;
        EXPECT_NE(r.out.find(id), std::string::npos) << r.out;
        EXPECT_NE(r.out.find("Lyrics:"), std::string::npos) << r.out;
      }
      if (ffprobe) {
        auto r = run({ffprobe->string(), "-v", "error", "-show_entries", "format_tags", "-of", "json", mp3.string()}, {},
                     std::chrono::seconds(60));
        ASSERT_EQ(r.exit_code, 0) << r.err;
        auto tags = json::parse(r.out).at("format").at("tags").as_object();
        EXPECT_EQ(tags.at("title").as_string(), take_title);
        EXPECT_EQ(tags.at("album").as_string(), "Output Album");
        EXPECT_EQ(tags.at("SETLIST_CLIP_ID").as_string(), id);
      }
    }
  }
  EXPECT_EQ(audio_paths.size(), 5u);
  EXPECT_EQ(read_file(out / "cover.jpg"), first_cover);

  // album.m3u8: every entry resolves, one per downloaded take, in order.
  auto m3u = read_file(out / "album.m3u8");
  EXPECT_EQ(m3u.rfind("#EXTM3U\n", 0), 0u);
  std::istringstream lines(m3u);
  std::string line;
  std::vector<std::string> entries;
  int extinf = 0;
  while (std::getline(lines, line)) {
    if (line.rfind("#EXTINF:", 0) == 0) {
      ++extinf;
      EXPECT_TRUE(std::regex_match(line, std::regex(R"(#EXTINF:\d+,Test Artist - .+ \([AB]\))"))) << line;
    }
    if (line.empty() || line[0] == '#') continue;
    EXPECT_FALSE(fs::path(line).is_absolute());
    EXPECT_TRUE(fs::exists(out / line)) << line;
    entries.push_back(line);
  }
  EXPECT_EQ(extinf, 5);
  EXPECT_EQ(std::set<std::string>(entries.begin(), entries.end()), audio_paths);

  // junit.xml: one suite, one case per song, a failure with the reason.
  auto junit = read_file(out / "junit.xml");
  EXPECT_EQ(junit.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>", 0), 0u);
  EXPECT_EQ(count(junit, "<testsuite "), 1u);
  EXPECT_EQ(count(junit, "</testsuite>"), 1u);
  EXPECT_EQ(count(junit, "<testcase "), 3u);
  EXPECT_EQ(count(junit, "<failure "), 1u);
  EXPECT_NE(junit.find("tests=\"3\" failures=\"1\""), std::string::npos) << junit;
  EXPECT_NE(junit.find("&lt;b&gt;moderated&lt;/b&gt; &amp; &quot;policy&quot;"), std::string::npos) << junit;
  EXPECT_NE(junit.find("name=\"03 - &lt;script&gt;"), std::string::npos) << junit;
  // Well formed as far as tags go: every '<' opens a known element, and they nest.
  {
    std::regex tag(R"(<(/?)(testsuite|testcase|failure|skipped|properties|property)\b[^<>]*?(/?)>)");
    std::vector<std::string> stack;
    std::size_t tags = 0;
    for (auto it = std::sregex_iterator(junit.begin(), junit.end(), tag); it != std::sregex_iterator(); ++it) {
      ++tags;
      auto& m = *it;
      if (m[1] == "/") {
        ASSERT_FALSE(stack.empty());
        EXPECT_EQ(stack.back(), m[2].str());
        stack.pop_back();
      } else if (m[3] != "/") {
        stack.push_back(m[2]);
      }
    }
    EXPECT_TRUE(stack.empty());
    EXPECT_EQ(count(junit, "<"), tags + 1);  // + the XML declaration
  }

  // The GitHub step summary got a table appended, after what was there.
  auto md = read_file(a->step_summary);
  EXPECT_EQ(md.rfind("# earlier step\n", 0), 0u);
  EXPECT_NE(md.find("| # | song | status | takes | duration | loudness | flags | reason |"), std::string::npos) << md;
  EXPECT_NE(md.find("| 2 | Broken Song | failed |"), std::string::npos) << md;

  // `setlist report` rebuilds every report from state alone, without network.
  std::map<std::string, std::string> before;
  for (auto name : {"report.json", "report.html", "junit.xml", "album.m3u8"}) {
    before[name] = strip_times(read_file(out / name));
    fs::remove(out / name);
  }
  auto requests = a->sim->stats().as_object().at("requests_total").as_int64();
  auto rebuilt = run_setlist({"report", out.string()}, {{"GITHUB_STEP_SUMMARY", "\x01unset"}});
  ASSERT_EQ(rebuilt.exit_code, 0) << rebuilt.err;
  EXPECT_EQ(a->sim->stats().as_object().at("requests_total").as_int64(), requests + 1);  // our stats call only
  for (auto& [name, text] : before) {
    std::string now = strip_times(read_file(out / name));
    if (name == "report.json") {
      auto x = json::parse(now).as_object(), y = json::parse(text).as_object();
      EXPECT_EQ(x, y);
    } else {
      EXPECT_EQ(now, text) << name;
    }
  }
}

// report.html in a real browser: parsed DOM, players, sources, screenshot.
TEST(Outputs, ReportHtmlInHeadlessChromium) {
  const char* skip = std::getenv("SETLIST_SKIP_BROWSER");
  bool opted_out = skip && std::string(skip) == "1";
  auto chromium = find_program("chromium");
  if (!chromium) chromium = find_program("chromium-browser");
  if (!chromium && opted_out) GTEST_SKIP() << "SETLIST_SKIP_BROWSER=1 and no chromium";
  ASSERT_TRUE(chromium) << "chromium is not installed: run scripts/install-deps.sh (or set SETLIST_SKIP_BROWSER=1)";
  if (opted_out) GTEST_SKIP() << "SETLIST_SKIP_BROWSER=1";

  auto a = run_album();
  ASSERT_EQ(a->result.exit_code, 1) << a->result.err;
  auto& out = a->out;
  std::size_t takes = static_cast<std::size_t>(a->report.at("totals").at("takes_downloaded").as_int64());
  ASSERT_EQ(takes, 5u);

  auto browser = [&](std::vector<std::string> extra) {
    auto profile = a->dir / ("chromium-profile-" + std::to_string(extra.size()));
    fs::create_directories(profile);
    std::vector<std::string> argv = {chromium->string(), "--headless", "--no-sandbox", "--disable-gpu",
                                     "--disable-quic", "--no-first-run", "--disable-background-networking",
                                     "--disable-component-update", "--disable-sync",
                                     "--user-data-dir=" + profile.string()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back("file://" + (out / "report.html").string());
    return run(argv, {{"HOME", a->dir.path().string()}}, std::chrono::seconds(120));
  };

  auto dom = browser({"--dump-dom"});
  ASSERT_EQ(dom.exit_code, 0) << dom.err;
  const std::string& html = dom.out;
  ASSERT_NE(html.find("Output Album"), std::string::npos) << html.substr(0, 2000);
  // The hostile title is text, not markup: no script element survived parsing.
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;document.title='pwned'&lt;/script&gt;"), std::string::npos);
  EXPECT_EQ(html.find("<title>pwned"), std::string::npos);
  // One player per downloaded take; every source is relative and exists.
  std::regex audio(R"re(<audio\b[^>]*\bsrc="([^"]*)")re");
  std::size_t players = 0;
  for (auto it = std::sregex_iterator(html.begin(), html.end(), audio); it != std::sregex_iterator(); ++it) {
    ++players;
    std::string src = percent_decode(html_unescape((*it)[1]));
    EXPECT_EQ(src.find("://"), std::string::npos) << src;
    EXPECT_FALSE(fs::path(src).is_absolute()) << src;
    EXPECT_TRUE(fs::is_regular_file(out / src)) << src;
  }
  EXPECT_EQ(players, takes);
  EXPECT_EQ(count(html, "<audio"), takes);
  EXPECT_EQ(count(html, "<details"), 3u);  // lyrics of every song
  EXPECT_NE(html.find("&lt;b&gt;moderated&lt;/b&gt;"), std::string::npos);  // the failure reason, as text
  std::regex img(R"re(<img\b[^>]*\bsrc="([^"]*)")re");
  for (auto it = std::sregex_iterator(html.begin(), html.end(), img); it != std::sregex_iterator(); ++it)
    EXPECT_TRUE(fs::is_regular_file(out / percent_decode(html_unescape((*it)[1])))) << (*it)[1];

  auto shot = a->dir / "report.png";
  auto s = browser({"--screenshot=" + shot.string(), "--window-size=1200,900", "--hide-scrollbars"});
  ASSERT_EQ(s.exit_code, 0) << s.err;
  ASSERT_TRUE(fs::exists(shot));
  auto png = read_file(shot);
  ASSERT_GT(png.size(), 1000u);
  EXPECT_EQ(png.substr(1, 3), "PNG");
  std::error_code ec;
  auto artifacts = setlist_bin().parent_path() / "test-artifacts";
  fs::create_directories(artifacts, ec);
  if (!ec) fs::copy_file(shot, artifacts / "report.png", fs::copy_options::overwrite_existing, ec);
  if (!ec) std::cerr << "screenshot: " << (artifacts / "report.png").string() << "\n";
}

// The manifest's album.cover becomes cover.jpg and, when a take's own cover
// cannot be fetched, that take's APIC frame.
TEST(Outputs, AlbumCoverFromTheManifestAndAsFallbackArt) {
  TempDir dir;
  std::string jpeg = std::string("\xFF\xD8\xFF\xE0", 4) + std::string(200, 'c') + std::string("\xFF\xD9", 2);
  write_file(dir / "art.jpg", jpeg);
  write_file(dir / "album.yaml",
             "album:\n  title: Cover Album\n  artist: Test Artist\n  cover: art.jpg\n"
             "defaults:\n  model: chirp-v3-5\n"
             "songs:\n  - title: Only Song\n    tags: lo-fi, chill\n    lyrics: |\n      [Verse]\n      Hello there\n");
  // Every cover request is refused: no take has its own cover.
  Sim sim(dir.path(), fast_sim_args({"--fault", "cdn403/image@1"}));
  auto out = dir / "out";
  auto r = run_setlist(fast_run_args(sim, dir / "album.yaml", out, {"--retry-max-attempts", "2"}),
                       {{"GITHUB_STEP_SUMMARY", "\x01unset"}});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(read_file(out / "cover.jpg"), jpeg);
  auto report = read_json(out / "report.json").as_object();
  EXPECT_EQ(report.at("album").at("cover").as_string(), "cover.jpg");
  auto& clips = report.at("songs").at(0).at("clips").as_array();
  ASSERT_EQ(clips.size(), 2u);
  for (auto& c : clips) {
    EXPECT_TRUE(c.at("cover").is_null());
    auto mp3 = out / std::string(c.at("audio").at("path").as_string());
    TagLib::MPEG::File f(mp3.c_str());
    ASSERT_TRUE(f.hasID3v2Tag());
    auto& apic = f.ID3v2Tag()->frameListMap()["APIC"];
    ASSERT_EQ(apic.size(), 1u);
    auto* pic = dynamic_cast<TagLib::ID3v2::AttachedPictureFrame*>(apic.front());
    EXPECT_EQ(std::string(pic->picture().data(), pic->picture().size()), jpeg);
    // No album genre: the song's first style tag.
    EXPECT_EQ(text_frame(f.ID3v2Tag(), "TCON"), "lo-fi");
    EXPECT_EQ(text_frame(f.ID3v2Tag(), "TDRC"), "");
  }
}
