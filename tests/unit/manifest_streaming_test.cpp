// The manifest loader on large manifests, whose songs are checked as the
// parser hands them out and then dropped: positions deep inside the file,
// anchors and aliases that outlive the song that defined them, settings
// given after the songs, and 20,000 songs at once (functional, not timed).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "manifest_messages.hpp"
#include "setlist/manifest.hpp"
#include "test_support.hpp"

namespace setlist {
namespace {

using test_manifest::Lines;
using test_manifest::messages;

// A manifest text that counts its own lines, so that a test knows where
// each song it writes starts.
struct Writer {
  std::string text;
  int line = 1;  // of the next line written
  int add(const std::string& l) {
    text += l;
    text += '\n';
    return line++;
  }
  // A song of block lyrics; returns the line of its `- title:`.
  int song(int i, const std::string& extra = {}) {
    int at = add("  - title: \"Song " + std::to_string(i) + "\"");
    if (!extra.empty()) add(extra);
    add("    lyrics: |");
    add("      [Verse]");
    add("      Line one of song " + std::to_string(i));
    add("      [Chorus]");
    add("      The chorus of song " + std::to_string(i));
    return at;
  }
};

Writer header() {
  Writer w;
  w.add("album:");
  w.add("  title: Big");
  w.add("songs:");
  return w;
}

TEST(ManifestStreaming, DiagnosticsDeepInsideALargeManifestNameFileLineAndColumn) {
  Writer w = header();
  int first_id = 0, typo = 0, placeholder = 0, dup_id = 0, bad_bool = 0;
  for (int i = 0; i < 20000; ++i) {
    if (i == 3) {
      first_id = w.song(i, "    id: same") + 1;
    } else if (i == 12345) {
      typo = w.song(i, "    tagz: pop") + 1;
    } else if (i == 15000) {
      bad_bool = w.song(i, "    make_instrumental: maybe") + 1;
    } else if (i == 17000) {
      placeholder = w.add("  - title: \"Song 17000\"");
      w.add("    lyrics: |");
      w.add("      [Verse]");
      w.add("      All of <CHORUS HERE> again");
    } else if (i == 19999) {
      dup_id = w.song(i, "    id: same") + 1;
    } else {
      w.song(i);
    }
  }
  auto r = parse_manifest(w.text, "big.yaml", ".");
  auto pos = [](int l, int c) { return "big.yaml:" + std::to_string(l) + ":" + std::to_string(c); };
  EXPECT_EQ(messages(r),
            (Lines{pos(typo, 5) + ": error: songs[12345].tagz: unknown key \"tagz\" (hint: did you mean \"tags\"?)",
                   pos(bad_bool, 24) + ": error: songs[15000].make_instrumental: expected true or false, got "
                                       "\"maybe\"",
                   pos(placeholder + 3, 14) + ": error: songs[17000].lyrics: unfilled placeholder \"<CHORUS HERE>\" "
                                              "(hint: replace it with the real text before generating)",
                   pos(dup_id, 9) + ": error: songs[19999].id: duplicate id \"same\" (also songs[3], line " +
                       std::to_string(first_id - 1) +
                       ") (hint: ids identify songs across runs: give each song its own)"}));
  EXPECT_FALSE(r.ok());
}

TEST(ManifestStreaming, AnchorsOutliveTheSongThatDefinedThem) {
  Writer w = header();
  w.add("  - title: First");
  w.add("    tags: &style [dream pop, shoegaze]");
  w.add("    lyrics: &words |");
  w.add("      [Verse]");
  w.add("      Shared words");
  for (int i = 1; i < 3000; ++i) w.song(i);
  w.add("  - title: Last");
  w.add("    tags: *style");
  w.add("    lyrics: *words");
  auto r = parse_manifest(w.text, "a.yaml", ".");
  ASSERT_TRUE(r.ok()) << ::testing::PrintToString(messages(r));
  const auto& last = r.manifest->songs.back();
  EXPECT_EQ(last.title, "Last");
  EXPECT_EQ(last.tags, "dream pop, shoegaze");
  ASSERT_TRUE(last.lyrics);
  EXPECT_EQ(*last.lyrics, "[Verse]\nShared words");
}

TEST(ManifestStreaming, AnAliasedMistakeIsReportedWhereItWasWritten) {
  // yaml-cpp's node tree made an alias the very node it names: its position
  // is the anchor's. The streamed loader says the same.
  const std::string yaml =
      "album: {title: A}\n"
      "songs:\n"
      "  - {title: A, lyrics: x, make_instrumental: &m maybe}\n"
      "  - {title: B, lyrics: y, make_instrumental: *m}\n"
      "  - &whole {title: C, lyrics: z}\n"
      "  - *whole\n"
      "  - <<: *whole\n"
      "    title: D\n";
  EXPECT_EQ(messages(parse_manifest(yaml, "a.yaml", ".")),
            (Lines{"a.yaml:3:46: error: songs[0].make_instrumental: expected true or false, got \"maybe\"",
                   "a.yaml:3:46: error: songs[1].make_instrumental: expected true or false, got \"maybe\"",
                   "a.yaml:5:20: warning: songs[3].title: same title as songs[2] (line 5) (hint: both will be "
                   "generated; rename one if that is not intended)",
                   "a.yaml:7:5: error: songs[4].<<: unknown key \"<<\" (hint: YAML merge keys are not supported; "
                   "put shared song fields under `defaults:`)"}));
}

TEST(ManifestStreaming, SettingsAndDefaultsAfterTheSongsStillApply) {
  const std::string songs =
      "songs:\n"
      "  - {title: A, lyrics: \"[Verse] hi\"}\n"
      "  - {title: B, lyrics: \"[Verse] ho\", model: V4}\n";
  const std::string rest = "settings: {provider: sunoapi, model: V4}\ndefaults: {tags: rock}\n";
  auto before = parse_manifest("album: {title: A}\n" + rest + songs, "a.yaml", ".");
  auto after = parse_manifest("album: {title: A}\n" + songs + rest, "a.yaml", ".");
  ASSERT_TRUE(before.ok()) << ::testing::PrintToString(messages(before));
  ASSERT_TRUE(after.ok()) << ::testing::PrintToString(messages(after));
  ASSERT_EQ(after.manifest->songs.size(), 2u);
  EXPECT_EQ(after.manifest->songs[0].tags, "rock");
  EXPECT_EQ(after.manifest->settings.at("provider").value, "sunoapi");
  // The same model checked against the provider given after the songs.
  auto bad = parse_manifest("album: {title: A}\nsongs:\n  - {title: A, lyrics: x, model: V9}\n"
                            "settings: {provider: sunoapi}\n",
                            "a.yaml", ".");
  EXPECT_EQ(messages(bad),
            (Lines{"a.yaml:3:5: error: songs[0]: \"A\": model V4_5 needs a style in custom mode (lyrics) (hint: add "
                   "`tags:` (sent as the style))",
                   "a.yaml:3:34: error: songs[0].model: unknown model \"V9\" for provider sunoapi (hint: did you mean "
                   "\"V4\"? provider sunoapi knows: V4, V4_5, V4_5PLUS, V4_5ALL, V5)"}));
}

TEST(ManifestStreaming, TwentyThousandSongsValidate) {
  Writer w = header();
  for (int i = 0; i < 20000; ++i) w.song(i);
  auto r = parse_manifest(w.text, "big.yaml", ".");
  ASSERT_TRUE(r.ok()) << ::testing::PrintToString(messages(r));
  ASSERT_EQ(r.manifest->songs.size(), 20000u);
  const auto& s = r.manifest->songs[19999];
  EXPECT_EQ(s.title, "Song 19999");
  EXPECT_EQ(s.id, "song-19999");
  EXPECT_EQ(s.track, 20000);
  ASSERT_TRUE(s.lyrics);
  EXPECT_EQ(*s.lyrics, "[Verse]\nLine one of song 19999\n[Chorus]\nThe chorus of song 19999");
  EXPECT_EQ(s.pos.line, 3 + 1 + 19999 * 6);

  // validate's way: every song checked, one kept per model.
  LoadOptions o;
  o.keep_songs = false;
  auto lean = parse_manifest(w.text, "big.yaml", ".", o);
  ASSERT_TRUE(lean.ok());
  EXPECT_EQ(lean.manifest->songs.size(), 1u);
  EXPECT_EQ(w.song(0), 120004);
  auto dup = parse_manifest(w.text, "big.yaml", ".", o);
  ASSERT_EQ(dup.diagnostics.size(), 1u) << ::testing::PrintToString(messages(dup));
  EXPECT_EQ(dup.diagnostics[0].format(),
            "big.yaml:120004:12: warning: songs[20000].title: same title as songs[0] (line 4) (hint: both will be "
            "generated; rename one if that is not intended)");
}

// Every field of a song, to compare the songs kept with the songs read again.
std::string describe_song(const Song& s) {
  auto opt = [](const auto& o) { return o ? ::testing::PrintToString(*o) : std::string("-"); };
  return s.id + "|" + s.title + "|" + opt(s.lyrics) + "|" + opt(s.description) + "|" + s.lyrics_file.string() + "|" +
         s.tags + "|" + s.negative_tags + "|" + std::to_string(s.make_instrumental) + "|" + std::to_string(s.takes) +
         "|" + (s.length ? std::to_string(s.length->count()) : "-") + "|" + opt(s.seed) + "|" + s.model + "|" +
         std::to_string(s.wait_audio) + "|" + std::to_string(s.track) + "|" + std::to_string(s.pos.line) + ":" +
         std::to_string(s.pos.column);
}

std::vector<std::string> replayed(const LoadResult& r) {
  std::vector<std::string> out;
  EXPECT_TRUE(r.songs);
  if (!r.songs) return out;
  auto d = r.songs([&](const Song& s) { out.push_back(describe_song(s)); });
  EXPECT_FALSE(d) << d->format();
  return out;
}

TEST(ManifestStreaming, TheSongsReadAgainAreTheSongsAWholeLoadKeeps) {
  // Ids derived from titles around explicit ids given further down, tracks
  // out of order, anchors, a lyrics_file, defaults; then the same with the
  // settings and defaults after the songs (the loader's second, unstreamed read).
  const std::string songs =
      "songs:\n"
      "  - {title: Night Drive, lyrics: &words \"[Verse] one\"}\n"
      "  - {title: Night Drive, lyrics: *words, track: 9, seed: 7}\n"
      "  - {title: Words, lyrics_file: words.txt, length: 90s}\n"
      "  - {title: Last Call, lyrics: \"[Verse] three\", id: night-drive, tags: [a, b]}\n"
      "  - {title: Night Drive 2, lyrics: \"[Verse] four\", id: night-drive-3, model: chirp-v3-5}\n";
  const std::string rest = "settings: {provider: aimlapi}\ndefaults: {tags: [dream pop], takes: 2}\n";
  test::TempDir dir;
  test::write_file(dir / "words.txt", "[Verse]\nFrom a file\n");
  for (const auto& text : {"album: {title: A}\n" + rest + songs, "album: {title: A}\n" + songs + rest}) {
    auto whole = parse_manifest(text, "a.yaml", dir.path());
    ASSERT_TRUE(whole.ok()) << ::testing::PrintToString(messages(whole));
    std::vector<std::string> kept;
    for (const auto& s : whole.manifest->songs) kept.push_back(describe_song(s));
    ASSERT_EQ(kept.size(), 5u);
    EXPECT_EQ(kept[0].substr(0, kept[0].find('|')), "night-drive-2");
    EXPECT_EQ(kept[1].substr(0, kept[1].find('|')), "night-drive-4");
    LoadOptions lean;
    lean.keep_songs = false;
    auto streamed = parse_manifest(text, "a.yaml", dir.path(), lean);
    ASSERT_TRUE(streamed.ok());
    EXPECT_EQ(messages(streamed), messages(whole));
    EXPECT_EQ(replayed(streamed), kept);
    EXPECT_EQ(replayed(streamed), kept) << "a second reading differs";
  }
  // From the file too (load_manifest shares its text with the reading again).
  test::write_file(dir / "a.yaml", "album: {title: A}\n" + rest + songs);
  LoadOptions lean;
  lean.keep_songs = false;
  auto from_file = load_manifest(dir / "a.yaml", lean);
  auto whole = load_manifest(dir / "a.yaml");
  ASSERT_TRUE(from_file.ok() && whole.ok());
  std::vector<std::string> kept;
  for (const auto& s : whole.manifest->songs) kept.push_back(describe_song(s));
  EXPECT_EQ(replayed(from_file), kept);
}

TEST(ManifestStreaming, ALyricsFileChangedBeforeTheSecondReadingIsAnError) {
  test::TempDir dir;
  test::write_file(dir / "words.txt", "[Verse]\nFrom a file\n");
  test::write_file(dir / "a.yaml",
                   "album: {title: A}\nsongs:\n  - {title: One, lyrics: x}\n  - {title: Two, lyrics_file: words.txt}\n");
  LoadOptions lean;
  lean.keep_songs = false;
  auto r = load_manifest(dir / "a.yaml", lean);
  ASSERT_TRUE(r.ok());
  std::filesystem::remove(dir / "words.txt");
  std::vector<std::string> titles;
  auto d = r.songs([&](const Song& s) { titles.push_back(s.title); });
  ASSERT_TRUE(d);
  EXPECT_EQ(d->pos.line, 4);
  EXPECT_EQ(titles, (std::vector<std::string>{"One"}));
}

TEST(ManifestStreaming, AnAliasOfTheWholeSongsListIsAnErrorWhereItIsWritten) {
  // Streamed, the list's items are gone when an alias after it is read, and
  // inside it the list is not complete: each read as an empty list before
  // (tags: *all gave a song no tags, silently).
  const std::string inside =
      "album: {title: A}\n"
      "songs: &all\n"
      "  - {title: One, lyrics: x}\n"
      "  - {title: Two, lyrics: y, tags: *all}\n";
  const Lines error = {
      "a.yaml:4:35: error: the alias *all names the whole songs list, which cannot be used again elsewhere (hint: "
      "write the value out here; an alias may name one song or one field of a song)"};
  EXPECT_EQ(messages(parse_manifest(inside, "a.yaml", ".")), error);
  // The same when settings after the songs make the loader read the whole tree.
  EXPECT_EQ(messages(parse_manifest(inside + "settings: {provider: aimlapi}\n", "a.yaml", ".")), error);
  auto after = parse_manifest(
      "album: {title: A}\nsongs: &all\n  - {title: One, lyrics: x}\n"
      "defaults: {tags: *all}\n",
      "a.yaml", ".");
  EXPECT_FALSE(after.ok());
  auto said = messages(after);
  EXPECT_NE(std::find(said.begin(), said.end(),
                      "a.yaml:4:18: error: the alias *all names the whole songs list, which cannot be used again "
                      "elsewhere (hint: write the value out here; an alias may name one song or one field of a song)"),
            said.end())
      << ::testing::PrintToString(said);
}

TEST(ManifestStreaming, SongsGivenByAnAliasOfAListAnchoredBeforeAreAllChecked) {
  // `songs: *x`: the list comes whole from the anchors, every song checked
  // (a top-level `x:` is an unknown key, so such a manifest never loads).
  const std::string yaml =
      "x: &x\n"
      "  - {title: One, lyrics: a}\n"
      "  - {title: One, lyrics: b, tagz: pop}\n"
      "album: {title: A}\n"
      "songs: *x\n";
  EXPECT_EQ(messages(parse_manifest(yaml, "a.yaml", ".")),
            (Lines{"a.yaml:1:1: error: x: unknown key \"x\" (hint: allowed keys in the manifest: album, defaults, "
                   "settings, songs)",
                   "a.yaml:3:13: warning: songs[1].title: same title as songs[0] (line 2) (hint: both will be "
                   "generated; rename one if that is not intended)",
                   "a.yaml:3:29: error: songs[1].tagz: unknown key \"tagz\" (hint: did you mean \"tags\"?)"}));
}

}  // namespace
}  // namespace setlist
