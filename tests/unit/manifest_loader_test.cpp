// The manifest loader on valid input: the walking-skeleton subset,
// inheritance, defaults for id and track, lyrics files.
#include <gtest/gtest.h>

#include "setlist/manifest.hpp"
#include "test_support.hpp"

namespace setlist {
namespace {

std::vector<std::string> messages(const LoadResult& r) {
  std::vector<std::string> out;
  for (const auto& d : r.diagnostics) out.push_back(d.format());
  return out;
}

TEST(ManifestLoader, LoadsTheSkeletonSubsetWithInheritance) {
  const std::string yaml = R"(album:
  title: Night Shift
  artist: Demo Band
defaults:
  tags: [indie pop, dreamy]
  model: chirp-v3-0
  make_instrumental: false
songs:
  - title: First Song
    lyrics: |
      [Verse]
      hello
  - title: Second Song
    tags: rock
    make_instrumental: true
    description: a guitar instrumental
  - title: Third Song
    lyrics: "[Chorus] la la"
    model: chirp-v3-5
)";
  auto r = parse_manifest(yaml, "album.yaml", ".");
  ASSERT_TRUE(r.ok()) << ::testing::PrintToString(messages(r));
  // The chirp-* models of provider aimlapi are deprecated: a warning where
  // each was chosen, nothing else.
  ASSERT_EQ(r.diagnostics.size(), 2u) << ::testing::PrintToString(messages(r));
  for (const auto& d : r.diagnostics) {
    EXPECT_EQ(d.severity, Diagnostic::Severity::warning);
    EXPECT_NE(d.message.find("no longer callable"), std::string::npos) << d.format();
  }
  EXPECT_EQ(r.diagnostics[0].path, "defaults.model");
  EXPECT_EQ(r.diagnostics[1].path, "songs[2].model");
  const Manifest& m = *r.manifest;
  EXPECT_EQ(m.path, "album.yaml");
  EXPECT_EQ(m.album.title, "Night Shift");
  EXPECT_EQ(m.album.artist, "Demo Band");
  ASSERT_EQ(m.songs.size(), 3u);

  const Song& a = m.songs[0];
  EXPECT_EQ(a.id, "first-song");
  EXPECT_EQ(a.title, "First Song");
  EXPECT_EQ(a.track, 1);
  ASSERT_TRUE(a.lyrics);
  EXPECT_EQ(*a.lyrics, "[Verse]\nhello");  // trailing newline of the block dropped
  EXPECT_FALSE(a.description);
  EXPECT_EQ(a.tags, "indie pop, dreamy");
  EXPECT_EQ(a.model, "chirp-v3-0");
  EXPECT_FALSE(a.make_instrumental);
  EXPECT_FALSE(a.wait_audio);
  EXPECT_EQ(a.pos.line, 9);
  EXPECT_EQ(a.pos.column, 5);

  const Song& b = m.songs[1];
  EXPECT_EQ(b.id, "second-song");
  EXPECT_EQ(b.track, 2);
  EXPECT_EQ(b.tags, "rock");
  EXPECT_TRUE(b.make_instrumental);
  EXPECT_FALSE(b.lyrics);
  ASSERT_TRUE(b.description);
  EXPECT_EQ(*b.description, "a guitar instrumental");

  const Song& c = m.songs[2];
  EXPECT_EQ(c.model, "chirp-v3-5");
  EXPECT_EQ(c.track, 3);
  EXPECT_EQ(*c.lyrics, "[Chorus] la la");
}

TEST(ManifestLoader, ExplicitIdAndTrackWinAndDerivedIdsStayUnique) {
  const std::string yaml = R"(album: {title: A}
songs:
  - {title: "Don't Stop!", lyrics: x}
  - {title: Same, lyrics: x, id: dont-stop}
  - {title: "Don't  stop", lyrics: y, track: 9}
  - {title: "Ünïcödé", lyrics: z}
)";
  auto r = parse_manifest(yaml, "a.yaml", ".");
  ASSERT_TRUE(r.ok()) << ::testing::PrintToString(messages(r));
  const auto& s = r.manifest->songs;
  EXPECT_EQ(s[0].id, "dont-stop-2");  // "dont-stop" is taken by an explicit id
  EXPECT_EQ(s[1].id, "dont-stop");
  EXPECT_EQ(s[2].id, "dont-stop-3");
  EXPECT_EQ(s[2].track, 9);
  EXPECT_EQ(s[3].id, "unicode");
  EXPECT_EQ(s[3].track, 4);
}

TEST(ManifestLoader, FullSchemaFields) {
  test::TempDir dir;
  test::write_file(dir / "cover.jpg", "jpeg");
  test::write_file(dir / "lyrics/one.txt", "\xEF\xBB\xBF[Verse]\r\nline one\r\n\r\n");
  const std::string yaml = R"(album:
  title: T
  artist: A
  year: 2024
  genre: pop
  cover: cover.jpg
  description: about
settings:
  provider: suno-api
  submit_rate: 10/min
songs:
  - id: one
    title: One
    lyrics_file: lyrics/one.txt
    tags: [a, b]
    negative_tags: [c, d]
    wait_audio: yes
  - title: Two
    description: a song about the sea
    make_instrumental: true
)";
  auto r = parse_manifest(yaml, "album.yaml", dir.path());
  ASSERT_TRUE(r.ok()) << ::testing::PrintToString(messages(r));
  EXPECT_TRUE(r.diagnostics.empty()) << ::testing::PrintToString(messages(r));
  const Manifest& m = *r.manifest;
  EXPECT_EQ(m.album.year, 2024);
  EXPECT_EQ(m.album.genre, "pop");
  EXPECT_EQ(m.album.description, "about");
  EXPECT_EQ(m.album.cover, (dir.path() / "cover.jpg").lexically_normal());
  ASSERT_EQ(m.settings.size(), 2u);
  EXPECT_EQ(m.settings.at("provider").value, "suno-api");
  EXPECT_EQ(m.settings.at("provider").pos.line, 9);
  EXPECT_EQ(m.settings.at("provider").pos.column, 13);
  EXPECT_EQ(m.settings.at("submit_rate").value, "10/min");
  const Song& one = m.songs[0];
  EXPECT_EQ(*one.lyrics, "[Verse]\nline one");  // BOM, CRLF and trailing blank lines dropped
  EXPECT_EQ(one.lyrics_file, (dir.path() / "lyrics/one.txt").lexically_normal());
  EXPECT_EQ(one.tags, "a, b");
  EXPECT_EQ(one.negative_tags, "c, d");
  EXPECT_TRUE(one.wait_audio);
  const Song& two = m.songs[1];
  EXPECT_FALSE(two.lyrics);
  ASSERT_TRUE(two.description);
  EXPECT_EQ(*two.description, "a song about the sea");
  EXPECT_TRUE(two.lyrics_file.empty());
}

TEST(ManifestLoader, DefaultContentIsUsedOnlyWhenTheSongHasNone) {
  const std::string yaml = R"(album: {title: A}
defaults:
  description: an upbeat song
songs:
  - title: One
  - title: Two
    lyrics: words
)";
  auto r = parse_manifest(yaml, "a.yaml", ".");
  ASSERT_TRUE(r.ok()) << ::testing::PrintToString(messages(r));
  EXPECT_EQ(*r.manifest->songs[0].description, "an upbeat song");
  EXPECT_FALSE(r.manifest->songs[0].lyrics);
  EXPECT_EQ(*r.manifest->songs[1].lyrics, "words");
  EXPECT_FALSE(r.manifest->songs[1].description);
}

TEST(ManifestLoader, LoadManifestResolvesLyricsFilesNextToTheManifest) {
  test::TempDir dir;
  test::write_file(dir / "sub/l.txt", "words\n");
  test::write_file(dir / "sub/album.yaml",
                   "album: {title: A}\nsongs:\n  - {title: S, lyrics_file: l.txt}\n");
  auto r = load_manifest(dir / "sub/album.yaml");
  ASSERT_TRUE(r.ok()) << ::testing::PrintToString(messages(r));
  EXPECT_EQ(*r.manifest->songs[0].lyrics, "words");
  EXPECT_EQ(r.manifest->path, dir / "sub/album.yaml");
}

TEST(ManifestLoader, MissingManifestFile) {
  auto r = load_manifest("/nonexistent/album.yaml");
  EXPECT_FALSE(r.ok());
  ASSERT_EQ(messages(r), std::vector<std::string>{"/nonexistent/album.yaml: error: file not found "
                                                  "(hint: check the manifest's path)"});
}

TEST(Diagnostic, Format) {
  Diagnostic d{Diagnostic::Severity::error,
               "album.yaml",
               {12, 5},
               "songs[3].lyrics_file",
               "file not found: \"x.txt\"",
               "lyrics_file is relative to the manifest's folder"};
  EXPECT_EQ(d.format(),
            "album.yaml:12:5: error: songs[3].lyrics_file: file not found: \"x.txt\" "
            "(hint: lyrics_file is relative to the manifest's folder)");
  d.severity = Diagnostic::Severity::warning;
  d.hint.clear();
  d.path.clear();
  d.pos = {};
  EXPECT_EQ(d.format(), "album.yaml: warning: file not found: \"x.txt\"");
  d.pos = {3, 0};
  EXPECT_EQ(d.format(), "album.yaml:3: warning: file not found: \"x.txt\"");
}

TEST(LoadResult, Counts) {
  LoadResult r;
  r.diagnostics.push_back({Diagnostic::Severity::error, "f", {}, "", "a", ""});
  r.diagnostics.push_back({Diagnostic::Severity::warning, "f", {}, "", "b", ""});
  r.diagnostics.push_back({Diagnostic::Severity::warning, "f", {}, "", "c", ""});
  EXPECT_EQ(r.error_count(), 1u);
  EXPECT_EQ(r.warning_count(), 2u);
}

}  // namespace
}  // namespace setlist
