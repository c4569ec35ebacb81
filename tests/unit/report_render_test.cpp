// The report renderers as pure functions of ReportData, and write_reports
// over a state database built here.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <regex>
#include <set>
#include <sstream>

#include "report/model.hpp"
#include "setlist/engine.hpp"
#include "setlist/manifest.hpp"
#include "setlist/provider.hpp"
#include "setlist/report.hpp"
#include "setlist/state.hpp"
#include "test_support.hpp"

using namespace setlist;
using namespace setlist::report;

namespace {

std::size_t count(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (auto p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + needle.size())) ++n;
  return n;
}

FileInfo file(std::string path) {
  FileInfo f;
  f.path = std::move(path);
  f.bytes = 10;
  f.sha256 = "ab";
  f.exists = true;
  return f;
}

ReportData sample() {
  ReportData d;
  d.album.title = "Night <Drive> & Co";
  d.album.artist = "The \"Setlists\"";
  d.album.year = 2026;
  d.cover = "cover.jpg";
  d.playlist = "album.m3u8";
  d.generated_at = 1'800'000'000'000;
  SongInfo ok;
  ok.key = "k1";
  ok.title = "<script>alert(1)</script>";
  ok.track = 1;
  ok.status = "complete";
  ok.submitted_at = 1'800'000'000'000;
  ok.completed_at = 1'800'000'004'500;
  ok.lyrics_text = "[Verse]\n</pre><script>alert(2)</script>";
  for (int take = 0; take < 2; ++take) {
    ClipInfo c;
    c.id = take ? "clip-b" : "clip-a";
    c.take = take;
    c.status = "complete";
    c.duration = 61.6;
    c.audio = file(std::string("01 - <script> #1 ?x (") + (take ? "B" : "A") + ").mp3");
    c.cover = file(std::string("01 - x (") + (take ? "B" : "A") + ").jpg");
    ok.clips.push_back(c);
  }
  SongInfo bad;
  bad.key = "k2";
  bad.title = "Broken & \"quoted\"";
  bad.track = 2;
  bad.status = "failed";
  bad.reason = "take A ended in error: <b>moderation</b> & \"policy\"\nsecond line";
  SongInfo skip;
  skip.key = "k3";
  skip.title = "Later";
  skip.track = 3;
  skip.status = "skipped";
  skip.reason = "budget";
  SongInfo unsure;
  unsure.key = "k4";
  unsure.title = "Maybe";
  unsure.track = 4;
  unsure.status = "uncertain";
  unsure.reason = "timeout after sending";
  d.songs = {ok, bad, skip, unsure};
  d.totals = {{"complete", 1}, {"failed", 1}, {"skipped", 1}, {"uncertain", 1}};
  d.run = boost::json::parse(R"({"duration_s": 12.5, "tokens_charged": 400000, "requests": {"generate": 4}})").as_object();
  return d;
}

}  // namespace

TEST(ReportHtml, UserTextIsInertAndAudioSourcesAreRelative) {
  auto h = render_html(sample());
  // No script element at all: every '<' of a title, lyric or reason is escaped.
  EXPECT_EQ(h.find("<script"), std::string::npos);
  EXPECT_NE(h.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(h.find("&lt;/pre&gt;&lt;script&gt;alert(2)"), std::string::npos);
  EXPECT_NE(h.find("&lt;b&gt;moderation&lt;/b&gt; &amp; &quot;policy&quot;"), std::string::npos);
  EXPECT_NE(h.find("Night &lt;Drive&gt; &amp; Co"), std::string::npos);
  // One player per downloaded take, paths %-encoded and relative.
  EXPECT_EQ(count(h, "<audio "), 2u);
  EXPECT_NE(h.find("src=\"01%20-%20%3Cscript%3E%20%231%20%3Fx%20%28A%29.mp3\""), std::string::npos) << h;
  EXPECT_NE(h.find("<img src=\"cover.jpg\""), std::string::npos);
  EXPECT_NE(h.find("<details><summary>Lyrics</summary>"), std::string::npos);
  // Self-contained: nothing fetched from elsewhere.
  EXPECT_EQ(h.find("http://"), std::string::npos);
  EXPECT_EQ(h.find("https://"), std::string::npos);
  EXPECT_EQ(h.find("<link"), std::string::npos);
  EXPECT_NE(h.find("<style>"), std::string::npos);
  EXPECT_NE(h.find("badge failed"), std::string::npos);
}

TEST(ReportHtml, MissingFilesGetNoPlayer) {
  auto d = sample();
  d.songs[0].clips[1].audio->exists = false;
  d.cover.clear();
  auto h = render_html(d);
  EXPECT_EQ(count(h, "<audio "), 1u);
  EXPECT_EQ(h.find("cover.jpg"), std::string::npos);
}

TEST(ReportJunit, OneCasePerSongWithEscapedFailures) {
  auto x = render_junit(sample());
  EXPECT_EQ(x.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite ", 0), 0u);
  EXPECT_EQ(count(x, "<testsuite "), 1u);
  EXPECT_EQ(count(x, "</testsuite>"), 1u);
  EXPECT_EQ(count(x, "<testcase "), 4u);
  EXPECT_NE(x.find("tests=\"4\" failures=\"2\" errors=\"0\" skipped=\"1\""), std::string::npos) << x;
  EXPECT_EQ(count(x, "<failure "), 2u);
  EXPECT_EQ(count(x, "<skipped "), 1u);
  EXPECT_NE(x.find("message=\"take A ended in error: &lt;b&gt;moderation&lt;/b&gt; &amp; &quot;policy&quot;&#10;second line\""),
            std::string::npos)
      << x;
  EXPECT_NE(x.find("name=\"01 - &lt;script&gt;alert(1)&lt;/script&gt;\""), std::string::npos);
  EXPECT_NE(x.find("name=\"Night &lt;Drive&gt; &amp; Co\""), std::string::npos);
  // No raw markup characters outside tags: every '<' opens a known element.
  std::regex tag(R"(<(/?)(\?xml|testsuite|testcase|failure|skipped)\b)");
  std::size_t lt = count(x, "<");
  auto n = static_cast<std::size_t>(std::distance(std::sregex_iterator(x.begin(), x.end(), tag), std::sregex_iterator()));
  EXPECT_EQ(lt, n) << x;
}

TEST(ReportJunit, ControlCharactersAndBadUtf8AreMadeValid) {
  auto d = sample();
  d.songs[1].reason = std::string("bell\x07 and \xFF\xFE bytes");
  auto x = render_junit(d);
  EXPECT_NE(x.find("bell? and \xEF\xBF\xBD\xEF\xBF\xBD bytes"), std::string::npos) << x;
}

TEST(ReportPlaylist, ExtinfWithDurationsAndRelativePaths) {
  auto m = render_m3u8(sample());
  EXPECT_EQ(m.rfind("#EXTM3U\n", 0), 0u);
  EXPECT_NE(m.find("#EXTINF:62,The \"Setlists\" - <script>alert(1)</script> (A)\n01 - <script> #1 ?x (A).mp3\n"),
            std::string::npos)
      << m;
  EXPECT_EQ(count(m, "#EXTINF:"), 2u);
}

TEST(ReportSummary, MarkdownTableCellsCannotBreakTheTable) {
  auto s = render_step_summary(sample());
  EXPECT_NE(s.find("| # | song | status | takes | duration | loudness | flags | reason |"), std::string::npos);
  EXPECT_EQ(count(s, "\n| "), 5u);  // header + 4 songs
  EXPECT_NE(s.find("&lt;b&gt;moderation&lt;/b&gt; &amp; \"policy\" second line"), std::string::npos) << s;
  EXPECT_EQ(s.find("<script>"), std::string::npos);
}

TEST(ReportEscape, Helpers) {
  EXPECT_EQ(html_escape("<a href='x'>&\"</a>"), "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;");
  EXPECT_EQ(url_path_escape("dir/a b#?%:é.mp3"), "dir/a%20b%23%3F%25%3A%C3%A9.mp3");
  EXPECT_EQ(valid_utf8("ok é \xC0\xAF end"), "ok é \xEF\xBF\xBD\xEF\xBF\xBD end");
  EXPECT_EQ(valid_utf8("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // a surrogate
}

// write_reports from a state database alone, as `setlist report` does.
TEST(ReportWrite, RebuildFromStateWritesEveryOutput) {
  test::TempDir dir;
  auto out = dir.path();
  std::filesystem::create_directories(out / ".setlist");
  auto st = StateStore::open(out / ".setlist" / "state.db");
  ASSERT_TRUE(st) << st.error().message;
  auto& s = *st.value();
  SongRow row;
  row.key = "key-1";
  row.song_id = "one";
  row.title = "One & Only";
  row.track = 1;
  s.upsert_song(row);
  s.set_meta("manifest_keys", "[\"key-1\"]");
  auto id = s.record_intent("key-1", "h", 1);
  Clip a, b;
  a.id = "ca";
  a.status = ClipStatus::complete;
  a.duration = 3.2;
  b.id = "cb";
  b.status = ClipStatus::complete;
  b.duration = 4.0;
  s.record_ack(id, {a, b});
  s.update_clips({a, b});
  s.set_song_status("key-1", SongStatus::complete);
  for (auto [name, clip] : {std::pair{"01 - One (A).mp3", "ca"}, std::pair{"01 - One (B).mp3", "cb"}}) {
    test::write_file(out / name, "audio");
    FileRow f;
    f.path = name;
    f.song_key = "key-1";
    f.clip_id = clip;
    f.kind = "audio";
    f.bytes = 5;
    f.sha256 = test::sha256_hex("audio");
    s.record_file(f);
  }
  test::write_file(out / "01 - One (A).jpg", "\xFF\xD8jpeg");
  FileRow c;
  c.path = "01 - One (A).jpg";
  c.song_key = "key-1";
  c.clip_id = "ca";
  c.kind = "cover";
  s.record_file(c);
  test::write_file(out / "01 - One.txt", "la la <la>\n");
  FileRow l;
  l.path = "01 - One.txt";
  l.song_key = "key-1";
  l.kind = "lyrics";
  s.record_file(l);

  // The run wrote the album; the rebuild has only state.
  Manifest m;
  m.album.title = "Album X";
  m.album.artist = "Band Y";
  RunSummary run;
  run.started_at = 1'800'000'000'000;
  run.ended_at = 1'800'000'010'000;
  run.songs = 1;
  run.complete = 1;
  run.tokens_charged = 200000;
  ASSERT_TRUE(write_reports(out, s, &m, &run));
  auto first_json = boost::json::parse(test::read_file(out / "report.json")).as_object();
  auto first_html = test::read_file(out / "report.html");
  auto first_m3u = test::read_file(out / "album.m3u8");
  auto first_junit = test::read_file(out / "junit.xml");
  for (auto f : {"report.json", "report.html", "junit.xml", "album.m3u8"}) std::filesystem::remove(out / f);

  auto summary = dir / "step-summary.md";
  setenv("GITHUB_STEP_SUMMARY", summary.c_str(), 1);
  auto w = write_reports(out, s, nullptr, nullptr);
  unsetenv("GITHUB_STEP_SUMMARY");
  ASSERT_TRUE(w) << w.error().message;
  auto json = boost::json::parse(test::read_file(out / "report.json")).as_object();
  EXPECT_EQ(json.at("album").at("title").as_string(), "Album X");
  EXPECT_EQ(json.at("album").at("cover").as_string(), "cover.jpg");
  EXPECT_EQ(json.at("run").at("tokens_charged").as_int64(), 200000);
  EXPECT_EQ(json.at("run").at("duration_s").as_double(), 10.0);
  auto& song = json.at("songs").at(0).as_object();
  EXPECT_EQ(song.at("lyrics").at("path").as_string(), "01 - One.txt");
  EXPECT_EQ(song.at("clips").at(1).at("duration").as_double(), 4.0);
  EXPECT_EQ(test::read_file(out / "cover.jpg"), "\xFF\xD8jpeg");
  EXPECT_EQ(test::read_file(out / "album.m3u8"), first_m3u);
  EXPECT_EQ(first_m3u,
            "#EXTM3U\n#PLAYLIST:Album X\n#EXTINF:3,Band Y - One & Only (A)\n01 - One (A).mp3\n"
            "#EXTINF:4,Band Y - One & Only (B)\n01 - One (B).mp3\n");
  // Same content apart from when it was generated.
  auto strip_time = [](std::string s) {
    return std::regex_replace(s, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)"), "T");
  };
  EXPECT_EQ(strip_time(test::read_file(out / "report.html")), strip_time(first_html));
  EXPECT_EQ(strip_time(test::read_file(out / "junit.xml")), strip_time(first_junit));
  json.erase("generated_at");
  first_json.erase("generated_at");
  EXPECT_EQ(json, first_json);
  auto md = test::read_file(summary);
  EXPECT_NE(md.find("| 1 | One &amp; Only | complete | "), std::string::npos) << md;
  EXPECT_NE(test::read_file(out / "report.html").find("la la &lt;la&gt;"), std::string::npos);
}

namespace {

void collect_keys(const boost::json::value& v, std::set<std::string>& keys) {
  if (v.is_object()) {
    for (auto& [k, x] : v.get_object()) {
      keys.insert(std::string(k));
      collect_keys(x, keys);
    }
  } else if (v.is_array()) {
    for (auto& x : v.get_array()) collect_keys(x, keys);
  }
}

}  // namespace

// docs/report.md and report.json agree: every documented field is written,
// and every field written is documented.
TEST(ReportJson, FieldsMatchDocsReportMd) {
  auto d = sample();
  d.songs[0].lyrics = file("01 - x.txt");
  d.songs[0].clips[0].clip_json = file(".setlist/clips/clip-a.json");
  d.run = boost::json::parse(run_summary_json(RunSummary{})).as_object();
  d.damaged = {"damaged state: a files row names \"../x\", a path that leaves OUT (\"..\"); it is ignored"};
  auto v = boost::json::parse(render_json(d));
  std::set<std::string> keys;
  collect_keys(v, keys);
  for (auto& r : v.at("run").at("requests").as_object()) keys.erase(std::string(r.key()));

  auto doc = test::read_file(test::source_dir() / "docs" / "report.md");
  auto begin = doc.find("## report.json");
  auto end = doc.find("## junit.xml");
  ASSERT_NE(begin, std::string::npos);
  auto section = doc.substr(begin, end - begin);
  std::set<std::string> documented;
  std::istringstream lines(section);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("| `", 0) != 0) continue;
    auto cell = line.substr(1, line.find('|', 1) - 1);
    std::regex tick("`([a-z_0-9]+)`");
    for (auto it = std::sregex_iterator(cell.begin(), cell.end(), tick); it != std::sregex_iterator(); ++it)
      documented.insert((*it)[1]);
  }
  EXPECT_GT(documented.size(), 30u);
  for (auto& k : documented) EXPECT_TRUE(keys.count(k)) << "documented but not written: " << k;
  for (auto& k : keys)
    EXPECT_NE(section.find("`" + k + "`"), std::string::npos) << "written but not documented: " << k;
}

// #20: beyond kPageSongs songs report.html is an index (a row per song linking
// to its card on its page, a chart drawn as paths) and the cards are on pages
// whose media paths lead back to OUT.
TEST(ReportHtml, MoreSongsThanAPageMakeAnIndexAndPages) {
  ReportData d = sample();
  SongInfo proto = d.songs[0];
  proto.clips[0].analysis = AudioAnalysis{};
  proto.clips[0].analysis->integrated_lufs = -14.0;
  proto.clips[0].analysis->waveform.assign(300, 0.5f);
  d.songs.clear();
  for (int i = 1; i <= 150; ++i) {
    SongInfo s = proto;
    char key[32];
    std::snprintf(key, sizeof key, "%016x", i);
    s.key = key;
    s.track = i;
    s.title = "Song " + std::to_string(i);
    d.songs.push_back(s);
  }
  d.totals = {{"complete", 150}};
  const std::string h = render_html(d);
  EXPECT_EQ(count(h, "<tr class=\"song\""), 150u);
  EXPECT_EQ(count(h, "<audio"), 0u);
  EXPECT_EQ(count(h, "<svg class=\"waveform\""), 0u);
  EXPECT_NE(h.find("<a href=\"report-pages/page-001.html#song-0000000000000001\">Song 1</a>"), std::string::npos);
  EXPECT_NE(h.find("<a href=\"report-pages/page-002.html#song-0000000000000065\">Song 101</a>"), std::string::npos);
  EXPECT_NE(h.find("album-loudness dense"), std::string::npos);
  EXPECT_EQ(count(h, "<rect class=\"bar"), 0u);
  // Page 2: songs 101-150, their players through ../, a waveform per analysed take.
  std::vector<SongInfo> second(d.songs.begin() + 100, d.songs.end());
  const std::string p = page_html(d, second, 2, 2);
  EXPECT_EQ(count(p, "<li class=\"song\""), 50u);
  EXPECT_NE(p.find("id=\"song-0000000000000065\""), std::string::npos);
  EXPECT_EQ(count(p, "<audio"), 100u);
  EXPECT_EQ(count(p, "src=\"../01%20-%20"), 200u);  // audio and covers
  EXPECT_EQ(count(p, "<svg class=\"waveform\""), 50u);
  EXPECT_NE(p.find("rel=\"prev\" href=\"page-001.html\""), std::string::npos);
  EXPECT_EQ(p.find("rel=\"next\""), std::string::npos);
  EXPECT_EQ(p.find("<script>alert"), std::string::npos);
  // A small album is one page, as before.
  d.songs.resize(kPageSongs);
  EXPECT_EQ(count(render_html(d), "<audio"), 2u * kPageSongs);
}
