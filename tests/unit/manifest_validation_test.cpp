// The manifest validator: one test per class of mistake, comparing the full
// text of every message, and one manifest with twenty mistakes at once.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "manifest_messages.hpp"
#include "setlist/manifest.hpp"
#include "test_support.hpp"

namespace setlist {
namespace {

using test_manifest::Lines;
using test_manifest::messages;

// Diagnostics for `yaml` loaded as "album.yaml" from `base`.
Lines check(const std::string& yaml, const std::filesystem::path& base = ".") {
  return messages(parse_manifest(yaml, "album.yaml", base));
}

// The same under the legacy suno-api flavor (chirp-* models, Suno fields),
// chosen as `--provider suno-api` would.
Lines check_legacy(const std::string& yaml, const std::filesystem::path& base = ".") {
  LoadOptions o;
  o.provider = "suno-api";
  o.provider_origin = "--provider";
  return messages(parse_manifest(yaml, "album.yaml", base, o));
}

const std::string kAlbum = "album: {title: A}\n";

TEST(ManifestValidation, YamlSyntaxErrorWithPosition) {
  EXPECT_EQ(check("album: {title: A}\nsongs:\n  - title: [unclosed\n    lyrics: x\n"),
            Lines{"album.yaml:4:11: error: YAML syntax error: end of sequence flow not found "
                  "(hint: check the indentation and quoting around this line)"});
  EXPECT_EQ(check("album:\n  title: A\n bad indent: 1\n"),
            Lines{"album.yaml:3:2: error: YAML syntax error: end of map not found "
                  "(hint: check the indentation and quoting around this line)"});
}

TEST(ManifestValidation, StrayCommaIsASyntaxErrorNotAHang) {
  // yaml-cpp 0.7's LoadAll loops forever on these (jbeder/yaml-cpp#1040).
  EXPECT_EQ(check(","), Lines{"album.yaml:1:1: error: YAML syntax error: unexpected character "
                              "(hint: check the indentation and quoting around this line)"});
  EXPECT_EQ(check("# comment\n,# comment\nalbum: {title: A}\n"),
            Lines{"album.yaml:2:1: error: YAML syntax error: unexpected character "
                  "(hint: check the indentation and quoting around this line)"});
  EXPECT_EQ(check(kAlbum + "songs: [{title: S, lyrics: x}]\n---\n,\n"),
            Lines{"album.yaml:4:1: error: YAML syntax error: unexpected character "
                  "(hint: check the indentation and quoting around this line)"});
}

TEST(ManifestValidation, EmptyAndNonMappingManifests) {
  EXPECT_EQ(check(""), Lines{"album.yaml: error: the manifest is empty "
                             "(hint: start from jobs/demo-album.yaml)"});
  EXPECT_EQ(check("# only a comment\n"), Lines{"album.yaml: error: the manifest is empty "
                                               "(hint: start from jobs/demo-album.yaml)"});
  EXPECT_EQ(check("- a\n- b\n"),
            Lines{"album.yaml:1:1: error: expected a mapping with album, defaults, settings and "
                  "songs, got a list"});
}

TEST(ManifestValidation, MoreThanOneDocument) {
  EXPECT_EQ(check(kAlbum + "songs: [{title: S, lyrics: x}]\n---\nalbum: {title: B}\n"),
            Lines{"album.yaml:3:1: error: more than one YAML document in the manifest (hint: "
                  "remove the `---` line and everything after it, or merge the documents)"});
}

TEST(ManifestValidation, DuplicateKeys) {
  EXPECT_EQ(check("album: {title: A}\nsongs:\n  - title: S\n    lyrics: x\n    title: T\n"
                  "album: {title: B}\n"),
            (Lines{"album.yaml:5:5: error: songs[0].title: duplicate key \"title\" (first given "
                   "at line 3) (hint: a mapping holds each key once; remove one of them)",
                   "album.yaml:6:1: error: album: duplicate key \"album\" (first given at line 1) "
                   "(hint: a mapping holds each key once; remove one of them)"}));
}

TEST(ManifestValidation, UnknownKeysWithDidYouMean) {
  EXPECT_EQ(check("albm: {title: A}\nsongs:\n  - title: S\n    lyric: x\n    Tags: pop\n"
                  "    colour: red\n"),
            (Lines{"album.yaml:1:1: error: albm: unknown key \"albm\" (hint: did you mean "
                   "\"album\"?)",
                   "album.yaml:4:5: error: songs[0].lyric: unknown key \"lyric\" (hint: did you "
                   "mean \"lyrics\"?)",
                   "album.yaml:5:5: error: songs[0].Tags: unknown key \"Tags\" (hint: did you "
                   "mean \"tags\"?)",
                   "album.yaml:6:5: error: songs[0].colour: unknown key \"colour\" (hint: allowed "
                   "keys in a song: id, title, lyrics, lyrics_file, description, tags, "
                   "negative_tags, make_instrumental, model, wait_audio, track, length, seed, takes)",
                   "album.yaml: error: album: missing required key \"album\" (hint: add `album:` "
                   "with at least a `title:`)"}));
}

TEST(ManifestValidation, KeysAtTheWrongLevel) {
  EXPECT_EQ(check("album: {title: A, tags: pop}\ndefaults: {title: X}\n"
                  "songs: [{title: S, lyrics: x}]\n"),
            (Lines{"album.yaml:1:19: error: album.tags: unknown key \"tags\" (hint: tags is a song "
                   "field: put it in a song or under `defaults:`)",
                   "album.yaml:2:12: error: defaults.title: unknown key \"title\" (hint: title is "
                   "different for every song: set it in each song)"}));
}

TEST(ManifestValidation, WrongTypes) {
  EXPECT_EQ(check("album: {title: A, year: soon}\nsongs:\n  - title: [S]\n    lyrics: {a: 1}\n"
                  "    tags: {pop: yes}\n    make_instrumental: \"true\"\n    wait_audio: 3\n"
                  "    track: -1\n  - just a title\n"),
            (Lines{"album.yaml:1:25: error: album.year: expected a whole number, got \"soon\"",
                   "album.yaml:3:12: error: songs[0].title: expected text, got a list (hint: "
                   "write a single value)",
                   "album.yaml:4:13: error: songs[0].lyrics: expected text, got a mapping",
                   "album.yaml:5:11: error: songs[0].tags: expected text or a list of text, got a "
                   "mapping (hint: write `tags: \"pop, rock\"` or `tags: [pop, rock]`)",
                   "album.yaml:6:24: error: songs[0].make_instrumental: expected true or false, "
                   "got the quoted text \"true\" (hint: remove the quotes: `make_instrumental: "
                   "true`)",
                   "album.yaml:7:17: error: songs[0].wait_audio: expected true or false, got \"3\"",
                   "album.yaml:8:12: error: songs[0].track: expected a whole number, got \"-1\"",
                   "album.yaml:9:5: error: songs[1]: expected a mapping for a song, got \"just a "
                   "title\" (hint: write a song as `- title: ...` with its fields indented "
                   "below)"}));
}

TEST(ManifestValidation, SectionsOfTheWrongShape) {
  EXPECT_EQ(check("album: Night\ndefaults: [a]\nsettings: 3\nsongs: {title: S}\n"),
            (Lines{"album.yaml:1:8: error: album: expected a mapping, got \"Night\" (hint: write "
                   "`album:` followed by indented `title:` and `artist:` lines)",
                   "album.yaml:2:11: error: defaults: expected a mapping, got a list (hint: write "
                   "`defaults:` followed by indented song fields such as `tags:`)",
                   "album.yaml:3:11: error: settings: expected a mapping, got \"3\" (hint: write "
                   "`settings:` followed by indented `name: value` lines)",
                   "album.yaml:4:8: error: songs: expected a list of songs, got a mapping (hint: "
                   "write each song as an item starting with `- title: ...`)"}));
}

TEST(ManifestValidation, MissingTitles) {
  EXPECT_EQ(check("album: {artist: B}\nsongs:\n  - lyrics: x\n  - title: \"  \"\n    lyrics: y\n"),
            (Lines{"album.yaml:1:8: error: album: missing required key \"title\" (hint: add "
                   "`title: ...` to the album)",
                   "album.yaml:3:5: error: songs[0]: missing required key \"title\" (hint: every "
                   "song needs `title: ...`)",
                   "album.yaml:4:12: error: songs[1].title: the title is empty"}));
}

TEST(ManifestValidation, ExactlyOneOfLyricsLyricsFileDescription) {
  EXPECT_EQ(check_legacy(kAlbum + "songs:\n  - title: S\n  - title: T\n    lyrics: x\n"
                           "    description: y\n  - title: U\n    lyrics: \"  \"\n"
                           "  - {title: V, make_instrumental: true}\n"),
            (Lines{"album.yaml:3:5: error: songs[0]: no lyrics, lyrics_file or description (hint: "
                   "give exactly one: `lyrics: |` with the text, `lyrics_file:` with a path, or "
                   "`description:` to have the lyrics written)",
                   "album.yaml:6:18: error: songs[1].description: only one of lyrics, lyrics_file "
                   "and description may be given (hint: this song has lyrics and description: "
                   "keep one)",
                   "album.yaml:8:13: error: songs[2].lyrics: empty lyrics (hint: write the "
                   "lyrics, or use `description:` to have them written)",
                   "album.yaml:9:5: error: songs[3]: no lyrics, lyrics_file or description (hint: "
                   "an instrumental still needs a prompt: describe the music with "
                   "`description: ...`)"}));
}

TEST(ManifestValidation, LyricsWithMakeInstrumentalIsAWarning) {
  auto r = parse_manifest(kAlbum +
                              "defaults: {make_instrumental: true}\n"
                              "songs:\n  - title: S\n    lyrics: words\n",
                          "album.yaml", ".");
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(messages(r),
            Lines{"album.yaml:2:31: warning: defaults.make_instrumental: make_instrumental is "
                  "true, so the lyrics are not sung (hint: remove the lyrics, or set "
                  "make_instrumental: false)"});
}

TEST(ManifestValidation, LyricsFileProblems) {
  test::TempDir dir;
  test::write_file(dir / "bad.txt", "[Verse]\nok line\nbad \xC3\x28 byte\n");
  test::write_file(dir / "blank.txt", " \n\n\t\n");
  std::filesystem::create_directories(dir / "folder");
  EXPECT_EQ(check(kAlbum + "songs:\n"
                           "  - {title: A, lyrics_file: missing.txt}\n"
                           "  - {title: B, lyrics_file: bad.txt}\n"
                           "  - {title: C, lyrics_file: blank.txt}\n"
                           "  - {title: D, lyrics_file: folder}\n"
                           "  - {title: E, lyrics_file: \"\"}\n",
                  dir.path()),
            (Lines{"album.yaml:3:29: error: songs[0].lyrics_file: file not found: \"missing.txt\" "
                   "(hint: lyrics_file is relative to the manifest's folder)",
                   "album.yaml:4:29: error: songs[1].lyrics_file: \"bad.txt\" is not valid UTF-8 "
                   "(byte 0xc3 at line 3, column 5) (hint: save the file as UTF-8)",
                   "album.yaml:5:29: error: songs[2].lyrics_file: \"blank.txt\" is empty (hint: "
                   "write the lyrics into the file)",
                   "album.yaml:6:29: error: songs[3].lyrics_file: \"folder\" is a directory, not a "
                   "file",
                   "album.yaml:7:29: error: songs[4].lyrics_file: empty file name (hint: give the "
                   "path of a text file with the lyrics)"}));
}

TEST(ManifestValidation, UnreadableLyricsFile) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads every file";
  test::TempDir dir;
  test::write_file(dir / "secret.txt", "words");
  ASSERT_EQ(chmod((dir / "secret.txt").c_str(), 0), 0);
  EXPECT_EQ(check(kAlbum + "songs:\n  - {title: A, lyrics_file: secret.txt}\n", dir.path()),
            Lines{"album.yaml:3:29: error: songs[0].lyrics_file: cannot read \"secret.txt\": "
                  "permission denied or unreadable (hint: check the file's permissions)"});
}

TEST(ManifestValidation, PerModelLimits) {
  const std::string title(81, 't');
  const std::string tags(121, 'g');
  EXPECT_EQ(check_legacy(kAlbum + "songs:\n  - title: " + title + "\n    tags: " + tags +
                  "\n    model: chirp-v3-0\n    lyrics: \"" + std::string(3001, 'x') +
                  "\"\n  - title: \xC3\xA9" + std::string(79, 'e') + "\n    lyrics: ok\n"),
            (Lines{"album.yaml:3:12: error: songs[0].title: the title is 81 characters long; model "
                   "chirp-v3-0 accepts at most 80 (hint: shorten it by 1 characters)",
                   "album.yaml:4:11: error: songs[0].tags: tags is 121 characters long; model "
                   "chirp-v3-0 accepts at most 120 (hint: shorten it by 1 characters)",
                   "album.yaml:6:13: error: songs[0].lyrics: the lyrics is 3001 characters long; "
                   "model chirp-v3-0 accepts at most 3000 (hint: shorten it by 1 characters)"}));
}

const std::string kAimlModels =
    "minimax/music-2.6, minimax/music-2.0, minimax/music-1.5, elevenlabs/eleven_music, google/lyria2, "
    "stable-audio, chirp-v3-5, chirp-v3-0";

TEST(ManifestValidation, UnknownModels) {
  EXPECT_EQ(
      check(kAlbum + "defaults: {model: \"chirp-v3-5|chirp-v3-0\"}\nsongs:\n"
                     "  - {title: A, lyrics: x}\n  - {title: B, lyrics: x, model: chirp-v35}\n"
                     "  - {title: C, lyrics: x, model: gpt-4}\n"),
      (Lines{"album.yaml:2:19: error: defaults.model: model \"chirp-v3-5|chirp-v3-0\" names "
             "several models (hint: the docs write \"chirp-v3-5|chirp-v3-0\" to list the "
             "choices: pick one, e.g. `model: minimax/music-2.6`)",
             "album.yaml:5:34: error: songs[1].model: unknown model \"chirp-v35\" for "
             "provider aimlapi (hint: did you mean \"chirp-v3-5\"? provider aimlapi knows: " +
                 kAimlModels + ")",
             "album.yaml:6:34: error: songs[2].model: unknown model \"gpt-4\" for provider "
             "aimlapi (hint: provider aimlapi knows: " + kAimlModels + ")"}));
}

TEST(ManifestValidation, DuplicateIdsAreErrorsAndDuplicateTitlesWarnings) {
  EXPECT_EQ(check(kAlbum + "songs:\n  - {title: Song, lyrics: x, id: one}\n"
                           "  - {title: song, lyrics: y, id: one}\n"
                           "  - {title: X, lyrics: y, id: \"no spaces\"}\n"),
            (Lines{"album.yaml:4:13: warning: songs[1].title: same title as songs[0] (line 3) "
                   "(hint: both will be generated; rename one if that is not intended)",
                   "album.yaml:4:34: error: songs[1].id: duplicate id \"one\" (also songs[0], line "
                   "3) (hint: ids identify songs across runs: give each song its own)",
                   "album.yaml:5:31: error: songs[2].id: invalid id \"no spaces\" (hint: use up to "
                   "64 letters, digits, '-', '_' or '.', starting with a letter or digit, e.g. "
                   "\"no-spaces\")"}));
}

TEST(ManifestValidation, EmptyOrMissingSongs) {
  EXPECT_EQ(check(kAlbum + "songs: []\n"),
            Lines{"album.yaml:2:8: error: songs: no songs (hint: add at least one `- title: ...` "
                  "entry to the list)"});
  EXPECT_EQ(check(kAlbum + "songs:\n"),
            Lines{"album.yaml:2:1: error: songs: no songs (hint: add a `songs:` list with at "
                  "least one `- title: ...` entry)"});
  EXPECT_EQ(check(kAlbum),
            Lines{"album.yaml: error: songs: missing required key \"songs\" (hint: add a `songs:` "
                  "list with at least one `- title: ...` entry)"});
}

TEST(ManifestValidation, UnfilledPlaceholders) {
  EXPECT_EQ(check(kAlbum + "songs:\n  - title: <song title>\n    lyrics: |\n      [Verse]\n"
                           "      first line\n      <second verse here>\n"
                           "      [Chorus] TODO write it\n"
                           "  - title: B\n    description: \"[Insert a description]\"\n"
                           "  - title: C\n    lyrics: \"line one\\n[insert chorus]\"\n"),
            (Lines{"album.yaml:3:12: error: songs[0].title: unfilled placeholder \"<song title>\" "
                   "(hint: replace it with the real text before generating)",
                   "album.yaml:7:7: error: songs[0].lyrics: unfilled placeholder \"<second verse "
                   "here>\" (hint: replace it with the real text before generating)",
                   "album.yaml:8:16: error: songs[0].lyrics: unfilled placeholder \"TODO\" (hint: "
                   "replace it with the real text before generating)",
                   "album.yaml:10:18: error: songs[1].description: unfilled placeholder "
                   "\"[Insert a description]\" (hint: replace it with the real text before "
                   "generating)",
                   "album.yaml:12:13: error: songs[2].lyrics: unfilled placeholder \"[insert "
                   "chorus]\" at line 2 of the lyrics (hint: replace it with the real text before "
                   "generating)"}));
}

TEST(ManifestValidation, PlaceholdersInLyricsFiles) {
  test::TempDir dir;
  test::write_file(dir / "l.txt", "[Verse]\nfine\nTODO\n");
  EXPECT_EQ(check(kAlbum + "songs:\n  - {title: A, lyrics_file: l.txt}\n", dir.path()),
            Lines{"album.yaml:3:29: error: songs[0].lyrics_file: unfilled placeholder \"TODO\" at "
                  "line 3 of \"l.txt\" (hint: replace it with the real text before generating)"});
}

TEST(ManifestValidation, NoFalsePlaceholders) {
  auto r = parse_manifest(kAlbum +
                              "songs:\n  - title: I <3 you\n    lyrics: |\n"
                              "      [Verse]\n      TODOS las noches, a<b and c>d\n"
                              "      [Bridge] insert coin\n",
                          "album.yaml", ".");
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(messages(r), Lines{});
}

TEST(ManifestValidation, InvalidUtf8InTheManifest) {
  EXPECT_EQ(check(kAlbum + "songs:\n  - title: Caf\xE9\n    lyrics: \xFF\xFEok\n"),
            (Lines{"album.yaml:3:15: error: invalid UTF-8 (byte 0xe9) (hint: save the manifest "
                   "as UTF-8)",
                   "album.yaml:4:13: error: invalid UTF-8 (byte 0xff) (hint: save the manifest "
                   "as UTF-8)"}));
}

TEST(ManifestValidation, Settings) {
  EXPECT_EQ(check(kAlbum + "settings:\n  submit_rat: 2/s\n  poll_interval: 5\n"
                           "  provider: openai\n  model:\n  budget_tokens: [1]\n"
                           "songs: [{title: S, lyrics: x}]\n"),
            (Lines{"album.yaml:3:3: error: settings.submit_rat: unknown key \"submit_rat\" (hint: "
                   "did you mean \"submit_rate\"?)",
                   "album.yaml:4:18: error: settings.poll_interval: invalid duration \"5\" "
                   "(expected a number with a unit: 250ms, 2s, 15m, 1h)",
                   "album.yaml:5:13: error: settings.provider: unknown provider \"openai\" (one "
                   "of: aimlapi, aimlapi-v2, suno-api, sunoapi)",
                   "album.yaml:6:3: error: settings.model: no value given (hint: remove the line "
                   "to use the default)",
                   "album.yaml:7:18: error: settings.budget_tokens: expected text, got a list "
                   "(hint: write a single value)"}));
}

TEST(ManifestValidation, SettingsDecideProviderAndModel) {
  // suno-api takes negative_tags; aimlapi warns that it ignores them.
  auto suno = parse_manifest(kAlbum +
                                 "settings: {provider: suno-api, model: chirp-v3-0}\n"
                                 "songs: [{title: S, lyrics: x, negative_tags: metal}]\n",
                             "album.yaml", ".");
  EXPECT_TRUE(suno.ok());
  EXPECT_EQ(messages(suno), Lines{});
  EXPECT_EQ(check(kAlbum + "settings: {model: chirp-v2}\n"
                           "songs: [{title: S, lyrics: x, negative_tags: metal}]\n"),
            (Lines{"album.yaml:2:19: error: settings.model: unknown model \"chirp-v2\" for "
                   "provider aimlapi (hint: provider aimlapi knows: " + kAimlModels + ")",
                   "album.yaml:3:46: warning: songs[0].negative_tags: model minimax/music-2.6 does "
                   "not take negative_tags; they are ignored (hint: models of provider aimlapi that "
                   "do: google/lyria2; or remove negative_tags)"}));
  // aimlapi-v2 has no model that takes them.
  EXPECT_EQ(check(kAlbum + "settings: {provider: aimlapi-v2}\n"
                           "songs: [{title: S, lyrics: x, negative_tags: metal}]\n"),
            Lines{"album.yaml:3:46: warning: songs[0].negative_tags: provider aimlapi-v2 does not "
                  "support negative_tags; they are ignored (hint: use provider suno-api or sunoapi, "
                  "or remove negative_tags)"});
}

TEST(ManifestValidation, AlbumCoverMustExist) {
  EXPECT_EQ(check("album: {title: A, cover: art/cover.jpg}\nsongs: [{title: S, lyrics: x}]\n"),
            Lines{"album.yaml:1:26: error: album.cover: cover image not found: \"art/cover.jpg\" "
                  "(hint: the path is relative to the manifest's folder)"});
}

TEST(ManifestValidation, MergeKeysAreNotSupported) {
  EXPECT_EQ(
      check(kAlbum + "songs:\n  - &base {title: A, lyrics: x}\n  - <<: *base\n    title: B\n"),
      Lines{"album.yaml:4:5: error: songs[1].<<: unknown key \"<<\" (hint: YAML merge keys "
            "are not supported; put shared song fields under `defaults:`)"});
}

TEST(ManifestValidation, DuplicateTrackNumbersAreWarnings) {
  EXPECT_EQ(
      check(kAlbum + "songs:\n  - {title: A, lyrics: x}\n  - {title: B, lyrics: y, track: 1}\n"),
      Lines{"album.yaml:4:34: warning: songs[1].track: track 1 is also songs[0]'s track "
            "number"});
}

TEST(ManifestValidation, TagListItemsMustBeText) {
  EXPECT_EQ(check(kAlbum + "songs:\n  - title: A\n    lyrics: x\n    tags: [pop, [rock]]\n"),
            Lines{"album.yaml:5:17: error: songs[0].tags[1]: expected text, got a list"});
}

TEST(ManifestValidation, AnInheritedProblemIsReportedOnce) {
  const std::string tags(130, 't');
  EXPECT_EQ(check_legacy(kAlbum + "defaults: {tags: " + tags +
                  "}\nsongs:\n  - {title: A, lyrics: x}\n  - {title: B, lyrics: y}\n"),
            Lines{"album.yaml:2:18: error: defaults.tags: tags is 130 characters long; model "
                  "chirp-v3-5 accepts at most 120 (hint: shorten it by 10 characters)"});
}

// The "done when" of issue 4: twenty different mistakes, twenty messages,
// one pass.
TEST(ManifestValidation, TwentyMistakesInOnePass) {
  test::TempDir dir;
  test::write_file(dir / "latin1.txt", "caf\xE9\n");
  test::write_file(dir / "empty.txt", "\n");
  const std::string yaml =
      "album:\n"
      "  title: <album title>\n"  // 1 placeholder
      "  artst: Someone\n"        // 2 unknown key, did you mean
      "  year: twenty\n"          // 3 wrong type
      "settings:\n"
      "  submit_rat: 2/s\n"   // 4 unknown setting
      "  poll_interval: 5\n"  // 5 invalid setting value
      "defaults:\n"
      "  model: chirp-v3-5|chirp-v3-0\n"  // 6 the docs' literal
      "  make_instrumental: \"false\"\n"  // 7 quoted boolean
      "songs:\n"
      "  - title: First\n"
      "    lyric: words\n"  // 8 unknown key in a song
      "  - title: Second\n"
      "    lyrics: words\n"
      "    lyrics_file: second.txt\n"  // 9 more than one
      "  - lyrics: no title here\n"    // 10 missing title
      "  - title: Fourth\n"
      "    lyrics_file: missing.txt\n"  // 11 file not found
      "  - title: Fifth\n"
      "    lyrics_file: latin1.txt\n"  // 12 not UTF-8
      "  - title: Sixth\n"
      "    lyrics_file: empty.txt\n"  // 13 empty file
      "  - title: Seventh\n"
      "    lyrics: \"[insert lyrics]\"\n"  // 14 placeholder
      "    make_instrumental: true\n"      // 15 warning: lyrics not sung
      "  - title: First\n"                 // 16 warning: duplicate title
      "    id: dup\n"
      "    lyrics: ok\n"
      "  - title: Ninth\n"
      "    id: dup\n"  // 17 duplicate id
      "    lyrics: ok\n"
      "    model: chirp-v4\n"  // 18 unknown model
      "  - title: Tenth\n"
      "    title: Tenth again\n"  // 19 duplicate key
      "    lyrics: ok\n"
      "  - title: Eleventh\n"
      "    lyrics: ok\n"
      "    track: zero\n"  // 20 wrong type
      "  - title: " +
      std::string(90, 'x') +
      "\n"  // 21 title too long
      "    lyrics: ok\n";
  // Under the legacy suno-api flavor, whose chirp-* models limit the title.
  LoadOptions legacy;
  legacy.provider = "suno-api";
  legacy.provider_origin = "--provider";
  auto r = parse_manifest(yaml, "album.yaml", dir.path(), legacy);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.error_count(), 19u);
  EXPECT_EQ(r.warning_count(), 2u);
  Lines expected{
      "album.yaml:2:10: error: album.title: unfilled placeholder \"<album title>\" (hint: replace "
      "it with the real text before generating)",
      "album.yaml:3:3: error: album.artst: unknown key \"artst\" (hint: did you mean \"artist\"?)",
      "album.yaml:4:9: error: album.year: expected a whole number, got \"twenty\"",
      "album.yaml:6:3: error: settings.submit_rat: unknown key \"submit_rat\" (hint: did you mean "
      "\"submit_rate\"?)",
      "album.yaml:7:18: error: settings.poll_interval: invalid duration \"5\" (expected a number "
      "with a unit: 250ms, 2s, 15m, 1h)",
      "album.yaml:9:10: error: defaults.model: model \"chirp-v3-5|chirp-v3-0\" names several "
      "models (hint: the docs write \"chirp-v3-5|chirp-v3-0\" to list the choices: pick one, e.g. "
      "`model: chirp-v3-5`)",
      "album.yaml:10:22: error: defaults.make_instrumental: expected true or false, got the quoted "
      "text \"false\" (hint: remove the quotes: `make_instrumental: false`)",
      "album.yaml:13:5: error: songs[0].lyric: unknown key \"lyric\" (hint: did you mean "
      "\"lyrics\"?)",
      "album.yaml:16:18: error: songs[1].lyrics_file: only one of lyrics, lyrics_file and "
      "description may be given (hint: this song has lyrics and lyrics_file: keep one)",
      "album.yaml:17:5: error: songs[2]: missing required key \"title\" (hint: every song needs "
      "`title: ...`)",
      "album.yaml:19:18: error: songs[3].lyrics_file: file not found: \"missing.txt\" (hint: "
      "lyrics_file is relative to the manifest's folder)",
      "album.yaml:21:18: error: songs[4].lyrics_file: \"latin1.txt\" is not valid UTF-8 (byte "
      "0xe9 at line 1, column 4) (hint: save the file as UTF-8)",
      "album.yaml:23:18: error: songs[5].lyrics_file: \"empty.txt\" is empty (hint: write the "
      "lyrics into the file)",
      "album.yaml:25:13: error: songs[6].lyrics: unfilled placeholder \"[insert lyrics]\" (hint: "
      "replace it with the real text before generating)",
      "album.yaml:26:24: warning: songs[6].make_instrumental: make_instrumental is true, so the "
      "lyrics are not sung (hint: remove the lyrics, or set make_instrumental: false)",
      "album.yaml:27:12: warning: songs[7].title: same title as songs[0] (line 12) (hint: both "
      "will be generated; rename one if that is not intended)",
      "album.yaml:31:9: error: songs[8].id: duplicate id \"dup\" (also songs[7], line 27) (hint: "
      "ids identify songs across runs: give each song its own)",
      "album.yaml:33:12: error: songs[8].model: unknown model \"chirp-v4\" for provider suno-api "
      "(from --provider) (hint: provider suno-api knows: chirp-v3-5, chirp-v3-0)",
      "album.yaml:35:5: error: songs[9].title: duplicate key \"title\" (first given at line 34) "
      "(hint: a mapping holds each key once; remove one of them)",
      "album.yaml:39:12: error: songs[10].track: expected a whole number, got \"zero\"",
      "album.yaml:40:12: error: songs[11].title: the title is 90 characters long; model "
      "chirp-v3-5 accepts at most 80 (hint: shorten it by 10 characters)",
  };
  EXPECT_EQ(messages(r), expected);
}

}  // namespace
}  // namespace setlist

namespace setlist {
namespace {

// Files a manifest names are read only from its folder (after links are
// resolved) or a folder given with --allow-path (docs/security.md).
TEST(ManifestValidation, FilesOutsideTheManifestsFolderAreRefused) {
  test::TempDir dir;
  const auto album = dir / "album";
  std::filesystem::create_directories(album / "lyrics");
  test::write_file(dir / "secret.txt", "the neighbour's secret");
  test::write_file(dir / "secret.jpg", "\xFF\xD8\xFFsecret");
  test::write_file(album / "lyrics/ok.txt", "[Verse]\nmine");
  std::filesystem::create_symlink(dir / "secret.txt", album / "lyrics/link.txt");
  std::filesystem::create_symlink(dir.path(), album / "up");
  std::filesystem::create_symlink(album / "lyrics/ok.txt", album / "inside-link.txt");
  const std::string real = std::filesystem::canonical(dir.path()).string();
  const std::string folder = std::filesystem::canonical(album).string();
  const std::string yaml = "album: {title: A, cover: ../secret.jpg}\nsongs:\n"
                           "  - {title: A, lyrics_file: ../secret.txt}\n"
                           "  - {title: B, lyrics_file: " + (dir / "secret.txt").string() + "}\n"
                           "  - {title: C, lyrics_file: lyrics/link.txt}\n"
                           "  - {title: D, lyrics_file: up/secret.txt}\n"
                           "  - {title: E, lyrics_file: lyrics/ok.txt}\n"
                           "  - {title: F, lyrics_file: inside-link.txt}\n";
  const std::string hint =
      " (hint: a manifest reads files only from its own folder and below; to read from another folder, pass "
      "--allow-path DIR)";
  EXPECT_EQ(messages(parse_manifest(yaml, "album.yaml", album)),
            (Lines{"album.yaml:1:26: error: album.cover: \"../secret.jpg\" is outside the manifest's folder " +
                       folder + " (it resolves to " + real + "/secret.jpg)" + hint,
                   "album.yaml:3:29: error: songs[0].lyrics_file: \"../secret.txt\" is outside the manifest's "
                   "folder " + folder + " (it resolves to " + real + "/secret.txt)" + hint,
                   "album.yaml:4:29: error: songs[1].lyrics_file: \"" + (dir / "secret.txt").string() +
                       "\" is outside the manifest's folder " + folder +
                       ((dir / "secret.txt").string() == real + "/secret.txt"
                            ? std::string()
                            : " (it resolves to " + real + "/secret.txt)") + hint,
                   "album.yaml:5:29: error: songs[2].lyrics_file: \"lyrics/link.txt\" is outside the manifest's "
                   "folder " + folder + " (it resolves to " + real + "/secret.txt)" + hint,
                   "album.yaml:6:29: error: songs[3].lyrics_file: \"up/secret.txt\" is outside the manifest's "
                   "folder " + folder + " (it resolves to " + real + "/secret.txt)" + hint}));

  // --allow-path DIR: the same files are read.
  LoadOptions o;
  o.allow_paths = {dir.path()};
  auto r = parse_manifest(yaml, "album.yaml", album, o);
  ASSERT_TRUE(r.ok()) << ::testing::PrintToString(messages(r));
  EXPECT_EQ(*r.manifest->songs[0].lyrics, "the neighbour's secret");
  EXPECT_EQ(r.manifest->album.cover_data, "\xFF\xD8\xFFsecret");
  EXPECT_EQ(*r.manifest->songs[5].lyrics, "[Verse]\nmine");  // a link that stays inside is fine
}

// Size caps: 64 KiB for a lyrics file, 10 MiB for a cover; special files refused.
TEST(ManifestValidation, FilesAManifestNamesAreCapped) {
  test::TempDir dir;
  test::write_file(dir / "long.txt", std::string(kMaxLyricsFileBytes + 1, 'a'));
  test::write_file(dir / "just.txt", std::string(kMaxLyricsFileBytes, 'a'));
  test::write_file(dir / "huge.jpg", std::string(kMaxCoverBytes + 1, 'j'));
  ASSERT_EQ(::mkfifo((dir / "fifo.txt").c_str(), 0600), 0);
  EXPECT_EQ(check("album: {title: A, cover: huge.jpg}\nsongs:\n"
                  "  - {title: A, lyrics_file: long.txt}\n"
                  "  - {title: B, lyrics_file: just.txt}\n"
                  "  - {title: C, lyrics_file: fifo.txt}\n",
                  dir.path()),
            (Lines{"album.yaml:1:26: error: album.cover: \"huge.jpg\" is too large (10485761 bytes; a cover image "
                   "may have at most 10 MiB)",
                   "album.yaml:3:29: error: songs[0].lyrics_file: \"long.txt\" is too large (65537 bytes; a lyrics "
                   "file may have at most 64 KiB) (hint: lyrics are at most a few thousand characters)",
                   // exactly 64 KiB is read; the model's own limit is another matter
                   "album.yaml:4:29: error: songs[1].lyrics_file: the lyrics is 65536 characters long; model "
                   "minimax/music-2.6 accepts at most 3000 (hint: shorten it by 62536 characters)",
                   "album.yaml:5:29: error: songs[2].lyrics_file: \"fifo.txt\" is not a regular file (a device, "
                   "FIFO or socket)"}));
}

}  // namespace
}  // namespace setlist
