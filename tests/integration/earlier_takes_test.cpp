// Issue #17, end to end with the real binaries: the takes of earlier attempts
// (moved under .setlist/superseded/, or kept beside the album with
// --keep-attempts) are listed per song in report.html and report.json; an
// album renamed in the manifest retags every existing take without a request.
#include <gtest/gtest.h>

#include <taglib/id3v2tag.h>
#include <taglib/mpegfile.h>

#include <boost/json.hpp>

#include "integration_support.hpp"

using namespace setlist::test;
namespace json = boost::json;

namespace {

const char* kUnset = "\x01unset";

std::int64_t generate_requests(const Sim& sim) {
  return sim.stats().as_object().at("generate_requests").as_int64();
}

std::string id3_frame(const fs::path& mp3, const char* id) {
  TagLib::MPEG::File f(mp3.c_str());
  auto* tag = f.ID3v2Tag();
  if (!tag) return {};
  auto& frames = tag->frameListMap()[id];
  return frames.isEmpty() ? std::string() : frames.front()->toString().to8Bit(true);
}

std::vector<fs::path> takes_in(const fs::path& out) {
  std::vector<fs::path> found;
  for (auto& e : fs::directory_iterator(out))
    if (e.path().extension() == ".mp3") found.push_back(e.path());
  std::sort(found.begin(), found.end());
  return found;
}

}  // namespace

TEST(EarlierTakes, SupersededAndKeptTakesAreListedPerSongInBothReports) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(2));
  Sim sim(dir.path(), fast_sim_args());
  auto out = dir / "out";
  ASSERT_EQ(run_setlist(fast_run_args(sim, dir / "album.yaml", out)).exit_code, 0);
  const auto old_a = read_file(out / "01 - Song 1 (A).mp3");

  // A paid regeneration moves the first attempt's takes aside.
  auto r = run_setlist(fast_run_args(sim, dir / "album.yaml", out, {"--regenerate", "1"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto songs = report_songs(out);
  ASSERT_EQ(songs.size(), 2u);
  auto& aside = songs[0].at("superseded_takes").as_array();
  ASSERT_EQ(aside.size(), 2u) << songs[0];  // takes A and B of attempt 1
  bool found_old_a = false;
  const std::string html = read_file(out / "report.html");
  for (auto& v : aside) {
    const std::string path(v.at("path").as_string());
    EXPECT_TRUE(path.starts_with(".setlist/superseded/")) << path;
    ASSERT_TRUE(fs::is_regular_file(out / path)) << path;
    EXPECT_EQ(v.at("bytes").as_int64(), static_cast<std::int64_t>(fs::file_size(out / path)));
    found_old_a |= read_file(out / path) == old_a;
    // Listed under the song, by its path (spaces %-encoded in the link).
    EXPECT_NE(html.find(">" + path + "</a>"), std::string::npos) << path;
  }
  EXPECT_TRUE(found_old_a) << "the first attempt's take A is among them";
  EXPECT_TRUE(songs[1].at("superseded_takes").as_array().empty()) << songs[1];
  const auto song1 = html.find("<h2>Song 1</h2>"), song2 = html.find("<h2>Song 2</h2>");
  ASSERT_NE(song1, std::string::npos);
  ASSERT_NE(song2, std::string::npos);
  const auto earlier = html.find("Earlier takes (2)");
  EXPECT_TRUE(earlier > song1 && earlier < song2) << "in Song 1's entry";
  EXPECT_EQ(html.find("Earlier takes", song2), std::string::npos) << "Song 2 has none";

  // --keep-attempts leaves attempt 2's takes in the album folder (attempt 3's
  // are named "(attempt 3)"): listed too.
  r = run_setlist(fast_run_args(sim, dir / "album.yaml", out, {"--regenerate", "1", "--keep-attempts"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  songs = report_songs(out);
  EXPECT_EQ(songs[0].at("earlier_takes").as_array().size(), 2u) << songs[0];
  EXPECT_EQ(songs[0].at("superseded_takes").as_array().size(), 2u) << songs[0];
  const std::string html2 = read_file(out / "report.html");
  EXPECT_NE(html2.find("Earlier takes (4)"), std::string::npos);
  EXPECT_TRUE(fs::exists(out / "01 - Song 1 (A) (attempt 3).mp3")) << r.err;
  EXPECT_NE(html2.find(">01 - Song 1 (A).mp3</a> <span class=\"muted\">kept in the album folder"), std::string::npos);
  EXPECT_EQ(run_setlist({"verify", out.string()}).exit_code, 0);
  // `setlist report` rebuilds the same lists from state and disk.
  ASSERT_EQ(run_setlist({"report", out.string()}).exit_code, 0);
  EXPECT_EQ(report_songs(out)[0].at("superseded_takes").as_array().size(), 2u);
}

// The album's title is in every take's tags (TALB) and in no request: a new
// title in the manifest retags the takes already on disk, for free.
TEST(Rename, ANewAlbumTitleRetagsEveryTakeAndSendsNothing) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(2));
  Sim sim(dir.path(), fast_sim_args());
  auto out = dir / "out";
  ASSERT_EQ(run_setlist(fast_run_args(sim, dir / "album.yaml", out)).exit_code, 0);
  const auto sent = generate_requests(sim);
  auto takes = takes_in(out);
  ASSERT_EQ(takes.size(), 4u);
  for (auto& t : takes) ASSERT_EQ(id3_frame(t, "TALB"), "Test Album") << t;

  auto yaml = album_yaml(2);
  yaml.replace(yaml.find("Test Album"), 10, "Renamed Album");
  write_file(dir / "album.yaml", yaml);
  // Nothing to send, so no key is needed.
  auto second = run_setlist(fast_run_args(sim, dir / "album.yaml", out), {{"AIML_API_KEY", kUnset}});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(generate_requests(sim), sent);
  EXPECT_NE(second.err.find("4 take(s) retagged (nothing sent)"), std::string::npos) << second.err;
  EXPECT_EQ(takes_in(out), takes) << "file names do not carry the album";
  for (auto& t : takes) {
    EXPECT_EQ(id3_frame(t, "TALB"), "Renamed Album") << t;
    EXPECT_EQ(id3_frame(t, "TPE1"), "Test Artist") << t;
  }
  EXPECT_EQ(id3_frame(out / "01 - Song 1 (B).mp3", "TIT2"), "Song 1 (B)");
  // The new digests are recorded: verify is clean.
  auto verify = run_setlist({"verify", out.string()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  EXPECT_EQ(read_json(out / "report.json").at("album").at("title").as_string(), "Renamed Album");

  // Settled: the next run rewrites nothing.
  const auto mtime = fs::last_write_time(takes.front());
  auto third = run_setlist(fast_run_args(sim, dir / "album.yaml", out), {{"AIML_API_KEY", kUnset}});
  ASSERT_EQ(third.exit_code, 0) << third.err;
  EXPECT_EQ(third.err.find("retagged"), std::string::npos) << third.err;
  EXPECT_EQ(fs::last_write_time(takes.front()), mtime);
  EXPECT_EQ(generate_requests(sim), sent);
}
