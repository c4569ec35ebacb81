// Manifest validation against the rules of each model (data in
// src/provider/provider_info.cpp): the live AIML music models and sunoapi,
// the new song keys (length, seed, takes), strict string types, and the
// provider/model given on the command line (LoadOptions).
#include <gtest/gtest.h>

#include "manifest_messages.hpp"
#include "setlist/manifest.hpp"
#include "setlist/settings.hpp"
#include "test_support.hpp"

namespace setlist {
namespace {

using test_manifest::Lines;
using test_manifest::messages;

Lines check(const std::string& yaml, const LoadOptions& o = {}) {
  return messages(parse_manifest(yaml, "album.yaml", ".", o));
}

const std::string kAlbum = "album: {title: A}\n";

TEST(ManifestModels, WhatEachAimlModelCannotMake) {
  EXPECT_EQ(check(kAlbum + "songs:\n"
                           "  - title: Tide\n"
                           "    model: google/lyria2\n"
                           "    tags: calm piano\n"
                           "    lyrics: \"[Verse] words\"\n"
                           "  - title: Buoy\n"
                           "    model: stable-audio\n"
                           "    lyrics: \"[Verse] words\"\n"
                           "  - title: Fog\n"
                           "    model: elevenlabs/eleven_music\n"
                           "    tags: ambient\n"
                           "    lyrics: \"[Verse] words\"\n"),
            (Lines{"album.yaml:6:13: error: songs[0].lyrics: \"Tide\" has lyrics, but model google/lyria2 "
                   "takes none (it makes instrumental music only) (hint: describe the music with "
                   "`description:` or `tags:` instead, or pick a model that sings: minimax/music-2.6)",
                   "album.yaml:7:5: error: songs[1]: \"Buoy\": model stable-audio needs a style prompt (hint: "
                   "describe the music with `description:` or `tags:` (they are joined into the prompt))",
                   "album.yaml:9:13: error: songs[1].lyrics: \"Buoy\" has lyrics, but model stable-audio "
                   "takes none (it makes instrumental music only) (hint: describe the music with "
                   "`description:` or `tags:` instead, or pick a model that sings: minimax/music-2.6)",
                   "album.yaml:13:13: error: songs[2].lyrics: \"Fog\" has lyrics, but model "
                   "elevenlabs/eleven_music takes none (it has no lyrics field) (hint: describe the music "
                   "with `description:` or `tags:` instead, or pick a model that sings: minimax/music-2.6)"}));
}

TEST(ManifestModels, MinimaxTwoAndOneFiveNeedLyricsAndAStylePrompt) {
  EXPECT_EQ(check(kAlbum + "songs:\n"
                           "  - title: Ferry\n"
                           "    model: minimax/music-2.0\n"
                           "    description: city pop\n"
                           "  - title: Short\n"
                           "    model: minimax/music-1.5\n"
                           "    tags: pop\n"
                           "    lyrics: la la\n"
                           "  - title: Long\n"
                           "    model: minimax/music-1.5\n"
                           "    tags: \"" + std::string(301, 's') + "\"\n"
                           "    lyrics: \"[Verse] long enough\"\n"
                           "  - title: Instr\n"
                           "    model: minimax/music-2.0\n"
                           "    tags: synth pop, driving\n"
                           "    lyrics: \"[Verse] long enough\"\n"
                           "    make_instrumental: true\n"),
            (Lines{"album.yaml:3:5: error: songs[0]: \"Ferry\": model minimax/music-2.0 needs lyrics (a "
                   "description only sets the style of this model) (hint: add `lyrics:` or "
                   "`lyrics_file:`, or pick a model that can write them: minimax/music-2.6)",
                   "album.yaml:5:18: error: songs[0].description: the style prompt (description and tags) "
                   "is 8 characters long; model minimax/music-2.0 needs at least 10 (hint: write at least "
                   "2 more characters)",
                   "album.yaml:8:11: error: songs[1].tags: the style prompt (description and tags) is 3 "
                   "characters long; model minimax/music-1.5 needs at least 10 (hint: write at least 7 "
                   "more characters)",
                   "album.yaml:9:13: error: songs[1].lyrics: the lyrics is 5 characters long; model "
                   "minimax/music-1.5 needs at least 10 (hint: write at least 5 more characters)",
                   "album.yaml:12:11: error: songs[2].tags: the style prompt (description and tags) is 301 "
                   "characters long; model minimax/music-1.5 accepts at most 300 (hint: shorten it by 1 "
                   "characters)",
                   "album.yaml:18:24: error: songs[3].make_instrumental: model minimax/music-2.0 cannot "
                   "make an instrumental (it always sings lyrics) (hint: pick a model that can: "
                   "minimax/music-2.6, google/lyria2, stable-audio)"}));
}

TEST(ManifestModels, MinimaxTwoSixTakesAnyOfLyricsAndPrompt) {
  auto r = parse_manifest(kAlbum + "songs:\n"
                                   "  - {title: Words only, lyrics: \"[Verse] hi\"}\n"
                                   "  - {title: Style only, tags: dreamy synth-pop}\n"
                                   "  - {title: Both, description: a ballad, tags: piano, lyrics_file: \"\"}\n",
                          "album.yaml", ".");
  // (the third has an empty lyrics_file: one error, nothing about the model)
  EXPECT_EQ(messages(r), (Lines{"album.yaml:5:32: error: songs[2].description: only one of lyrics, lyrics_file "
                                "and description may be given (hint: this song has lyrics_file and "
                                "description: keep one)"}));
  EXPECT_EQ(check(kAlbum + "songs:\n  - title: Nothing\n    make_instrumental: true\n"),
            Lines{"album.yaml:3:5: error: songs[0]: \"Nothing\": nothing to send to model minimax/music-2.6 "
                  "(hint: give lyrics, or describe the music with `description:` or `tags:`)"});
  auto ok = parse_manifest(kAlbum + "songs:\n  - {title: A, lyrics: \"[Verse] hi\"}\n"
                                    "  - {title: B, tags: lo-fi, make_instrumental: true}\n",
                           "album.yaml", ".");
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(messages(ok), Lines{});
}

TEST(ManifestModels, InstrumentalSwitchesPerModel) {
  EXPECT_EQ(check(kAlbum + "songs:\n"
                           "  - title: Fog\n"
                           "    model: elevenlabs/eleven_music\n"
                           "    tags: ambient\n"
                           "    make_instrumental: true\n"
                           "  - title: Tide\n"
                           "    model: google/lyria2\n"
                           "    tags: calm piano\n"
                           "    make_instrumental: false\n"),
            (Lines{"album.yaml:6:24: warning: songs[0].make_instrumental: model elevenlabs/eleven_music has "
                   "no instrumental switch; make_instrumental is not sent (hint: say it in the description "
                   "or tags, e.g. \"instrumental\")",
                   "album.yaml:10:24: warning: songs[1].make_instrumental: model google/lyria2 makes "
                   "instrumental music only; make_instrumental: false changes nothing (hint: remove "
                   "make_instrumental, or pick a model that sings)"}));
}

TEST(ManifestModels, LengthSeedAndTakes) {
  auto r = parse_manifest(kAlbum + "defaults: {takes: 3}\nsongs:\n"
                                   "  - {title: Fog, model: elevenlabs/eleven_music, tags: ambient, length: 1m30s}\n"
                                   "  - {title: Buoy, model: stable-audio, tags: bells, length: 20s, takes: 1}\n"
                                   "  - {title: Tide, model: google/lyria2, tags: piano, seed: 42, "
                                   "negative_tags: [drums, vocals]}\n",
                          "album.yaml", ".");
  ASSERT_TRUE(r.ok()) << ::testing::PrintToString(messages(r));
  EXPECT_EQ(messages(r), Lines{});
  const auto& s = r.manifest->songs;
  ASSERT_TRUE(s[0].length);
  EXPECT_EQ(*s[0].length, std::chrono::seconds(90));
  EXPECT_EQ(s[0].takes, 3);  // from defaults
  EXPECT_EQ(s[1].takes, 1);
  EXPECT_EQ(*s[1].length, std::chrono::seconds(20));
  ASSERT_TRUE(s[2].seed);
  EXPECT_EQ(*s[2].seed, 42);
  EXPECT_EQ(s[2].negative_tags, "drums, vocals");
  EXPECT_FALSE(s[2].length);

  EXPECT_EQ(check(kAlbum + "songs:\n"
                           "  - {title: A, model: stable-audio, tags: x, length: 48s}\n"
                           "  - {title: B, model: elevenlabs/eleven_music, tags: x, length: 5m1s}\n"
                           "  - {title: C, model: stable-audio, tags: x, length: 1500ms}\n"
                           "  - {title: D, tags: x, length: 90}\n"
                           "  - {title: E, tags: x, length: 2m, seed: 7}\n"
                           "  - {title: F, tags: x, seed: -1, takes: 0}\n"
                           "  - {title: G, tags: x, takes: many}\n"),
            (Lines{"album.yaml:3:54: error: songs[0].length: length 48s is outside what model stable-audio "
                   "accepts (1s to 47s)",
                   "album.yaml:4:65: error: songs[1].length: length 5m1s is outside what model "
                   "elevenlabs/eleven_music accepts (10s to 5m)",
                   "album.yaml:5:54: error: songs[2].length: model stable-audio takes the length in whole "
                   "seconds (hint: round it, e.g. `length: 1s`)",
                   "album.yaml:6:33: error: songs[3].length: expected a duration such as 90s, 2m or 1m30s, "
                   "got \"90\" (hint: a unit is required: `length: 90s`)",
                   "album.yaml:7:33: warning: songs[4].length: model minimax/music-2.6 takes no length; it "
                   "is ignored (hint: models with a length: elevenlabs/eleven_music, stable-audio)",
                   "album.yaml:7:43: warning: songs[4].seed: model minimax/music-2.6 takes no seed; it is "
                   "ignored (hint: models with a seed: google/lyria2)",
                   "album.yaml:8:31: error: songs[5].seed: expected a whole number, got \"-1\"",
                   "album.yaml:8:42: error: songs[5].takes: expected a whole number from 1 to 100, got 0",
                   "album.yaml:9:32: error: songs[6].takes: expected a whole number, got \"many\""}));
}

TEST(ManifestModels, StringFieldsFollowTheSchemaTypes) {
  EXPECT_EQ(check("album: {title: 1999, artist: true}\nsongs:\n"
                  "  - title: 12345\n"
                  "    tags: 42\n"
                  "    description: a song\n"
                  "  - title: B\n"
                  "    tags: true\n"
                  "    negative_tags: [metal, 1.5]\n"
                  "    model: 2\n"
                  "    lyrics: 3.0e2\n"
                  "  - title: \"12345\"\n"
                  "    tags: [pop, \"1980\", 80s, yes]\n"
                  "    id: \"007\"\n"
                  "    lyrics: |\n"
                  "      42\n"
                  "settings: {output_template: 5, submit_rate: 2}\n"),
            (Lines{"album.yaml:1:16: error: album.title: expected text, got the number 1999 (hint: put it in "
                   "quotes to mean the text: `title: \"1999\"`)",
                   "album.yaml:1:30: error: album.artist: expected text, got the boolean true (hint: put it "
                   "in quotes to mean the text: `artist: \"true\"`)",
                   "album.yaml:3:12: error: songs[0].title: expected text, got the number 12345 (hint: put "
                   "it in quotes to mean the text: `title: \"12345\"`)",
                   "album.yaml:4:11: error: songs[0].tags: expected text, got the number 42 (hint: put it in "
                   "quotes to mean the text: `tags: \"42\"`)",
                   "album.yaml:7:11: error: songs[1].tags: expected text, got the boolean true (hint: put it "
                   "in quotes to mean the text: `tags: \"true\"`)",
                   "album.yaml:8:28: error: songs[1].negative_tags[1]: expected text, got the number 1.5 "
                   "(hint: put it in quotes to mean the text: \"1.5\")",
                   "album.yaml:9:12: error: songs[1].model: expected text, got the number 2 (hint: put it in "
                   "quotes to mean the text: `model: \"2\"`)",
                   "album.yaml:10:13: error: songs[1].lyrics: expected text, got the number 3.0e2 (hint: put "
                   "it in quotes to mean the text: `lyrics: \"3.0e2\"`)",
                   "album.yaml:16:29: error: settings.output_template: expected text, got the number 5 "
                   "(hint: put it in quotes to mean the text: `output_template: \"5\"`)"}));
}

TEST(ManifestModels, ChirpModelsOfAimlapiAreDeprecated) {
  auto r = parse_manifest(kAlbum + "settings: {model: chirp-v3-5}\nsongs:\n"
                                   "  - {title: A, lyrics: x}\n  - {title: B, lyrics: y}\n"
                                   "  - {title: C, lyrics: z, model: chirp-v3-0}\n",
                          "album.yaml", ".");
  EXPECT_TRUE(r.ok());  // a warning: the run is still possible (and may fail with "gone")
  const std::string why =
      "AIML lists the chirp-* (Suno) models as no longer callable (deprecated since 2025; their pages were "
      "removed in Dec 2025) (hint: use one of its music models, e.g. `model: minimax/music-2.6`, or a Suno "
      "proxy with `provider: sunoapi`)";
  EXPECT_EQ(messages(r), (Lines{"album.yaml:2:19: warning: settings.model: model chirp-v3-5: " + why,
                                "album.yaml:6:34: warning: songs[2].model: model chirp-v3-0: " + why}));
  // The same models through suno-api or aimlapi-v2 are not AIML's list.
  EXPECT_EQ(check(kAlbum + "settings: {provider: suno-api, model: chirp-v3-5}\nsongs: [{title: A, lyrics: x}]\n"),
            Lines{});
}

TEST(ManifestModels, UnknownModelListsTheKnownOnesWithDidYouMean) {
  EXPECT_EQ(check(kAlbum + "songs:\n  - {title: A, tags: x, model: minimax/musik-2.6}\n"
                           "  - {title: B, tags: x, model: lyria2}\n"),
            (Lines{"album.yaml:3:32: error: songs[0].model: unknown model \"minimax/musik-2.6\" for provider "
                   "aimlapi (hint: did you mean \"minimax/music-2.6\"? provider aimlapi knows: "
                   "minimax/music-2.6, minimax/music-2.0, minimax/music-1.5, elevenlabs/eleven_music, "
                   "google/lyria2, stable-audio, chirp-v3-5, chirp-v3-0)",
                   "album.yaml:4:32: error: songs[1].model: unknown model \"lyria2\" for provider aimlapi "
                   "(hint: did you mean \"google/lyria2\"? provider aimlapi knows: minimax/music-2.6, "
                   "minimax/music-2.0, minimax/music-1.5, elevenlabs/eleven_music, google/lyria2, "
                   "stable-audio, chirp-v3-5, chirp-v3-0)"}));
}

TEST(ManifestModels, SunoApiCustomDescriptionAndInstrumental) {
  const std::string yaml = kAlbum +
                           "settings: {provider: sunoapi, model: V4}\n"
                           "songs:\n"
                           "  - title: Lyrics\n"
                           "    tags: indie rock\n"
                           "    negative_tags: metal\n"
                           "    lyrics: \"[Verse] words\"\n"
                           "  - {title: Described, description: an upbeat song}\n"
                           "  - {title: Instrumental, tags: ambient, make_instrumental: true}\n"
                           "  - {title: Nothing, tags: ambient}\n"
                           "  - {title: No style, lyrics: \"[Verse] words\"}\n"
                           "  - {title: Bare instrumental, make_instrumental: true}\n"
                           // custom mode: the tags are the style (in description mode they join the description)
                           "  - {title: Long style, tags: \"" + std::string(201, 's') + "\", lyrics: x}\n"
                           "  - {title: Long description, description: \"" + std::string(501, 'd') + "\"}\n";
  EXPECT_EQ(check(yaml),
            (Lines{"album.yaml:10:5: error: songs[3]: no lyrics, lyrics_file or description (hint: give "
                   "`lyrics:`, `lyrics_file:` or `description:`; only an instrumental (`make_instrumental: "
                   "true`) can be made from tags and title alone)",
                   "album.yaml:11:5: error: songs[4]: \"No style\": model V4 needs a style in custom mode "
                   "(lyrics) (hint: add `tags:` (sent as the style))",
                   "album.yaml:12:5: error: songs[5]: \"Bare instrumental\": model V4 needs a style in "
                   "custom mode (an instrumental from tags) (hint: add `tags:` (sent as the style))",
                   "album.yaml:13:31: error: songs[6].tags: tags is 201 characters long; model V4 accepts "
                   "at most 200 (hint: shorten it by 1 characters)",
                   "album.yaml:14:44: error: songs[7].description: the description is 501 characters long; "
                   "model V4 accepts at most 500 (hint: shorten it by 1 characters)"}));
  // V4_5 and later take a longer style.
  LoadOptions v5;
  v5.model = "V5";
  v5.model_origin = "--model";
  auto r = parse_manifest(kAlbum + "settings: {provider: sunoapi, model: V4}\nsongs:\n"
                                   "  - {title: S, tags: \"" + std::string(900, 's') + "\", lyrics: x}\n",
                          "album.yaml", ".", v5);
  EXPECT_TRUE(r.ok()) << ::testing::PrintToString(messages(r));
}

TEST(ManifestModels, TheEffectiveProviderDecidesTheRules) {
  // The manifest says aimlapi; --provider sunoapi (or SETLIST_PROVIDER) is what the run uses.
  const std::string yaml = kAlbum + "settings: {provider: aimlapi}\nsongs:\n"
                                    "  - {title: Style only, tags: dreamy}\n";
  EXPECT_EQ(check(yaml), Lines{});
  auto opts = effective_load_options(
      [](const std::string& name) -> std::optional<std::string> {
        if (name == "SETLIST_PROVIDER") return std::string("sunoapi");
        return std::nullopt;
      },
      {});
  EXPECT_EQ(check(yaml, opts),
            Lines{"album.yaml:4:5: error: songs[0]: no lyrics, lyrics_file or description (hint: give "
                  "`lyrics:`, `lyrics_file:` or `description:`; only an instrumental (`make_instrumental: "
                  "true`) can be made from tags and title alone)"});
  // A model of the manifest that the effective provider lacks, named with where the provider came from.
  LoadOptions flag;
  flag.provider = "sunoapi";
  flag.provider_origin = "--provider";
  EXPECT_EQ(check(kAlbum + "settings: {model: google/lyria2}\nsongs: [{title: S, tags: x, make_instrumental: true}]\n",
                  flag),
            Lines{"album.yaml:2:19: error: settings.model: unknown model \"google/lyria2\" for provider sunoapi "
                  "(from --provider) (hint: provider sunoapi knows: V4, V4_5, V4_5PLUS, V4_5ALL, V5)"});
  // --model: replaces the manifest's model for the checks; an unknown one is an error without position.
  LoadOptions model;
  model.model = "google/lyria2";
  model.model_origin = "--model";
  EXPECT_EQ(check(kAlbum + "songs: [{title: S, lyrics: \"[Verse] hi\"}]\n", model),
            (Lines{"album.yaml:2:9: error: songs[0]: \"S\": model google/lyria2 needs a style prompt (hint: "
                   "describe the music with `description:` or `tags:` (they are joined into the prompt))",
                   "album.yaml:2:28: error: songs[0].lyrics: \"S\" has lyrics, but model google/lyria2 takes "
                   "none (it makes instrumental music only) (hint: describe the music with `description:` "
                   "or `tags:` instead, or pick a model that sings: minimax/music-2.6)"}));
  model.model = "google/lyria-2";
  EXPECT_EQ(check(kAlbum + "songs: [{title: S, lyrics: \"[Verse] hi\"}]\n", model),
            Lines{"album.yaml: error: model: unknown model \"google/lyria-2\" (from --model) for provider aimlapi "
                  "(hint: did you mean \"google/lyria2\"? provider aimlapi knows: minimax/music-2.6, "
                  "minimax/music-2.0, minimax/music-1.5, elevenlabs/eleven_music, google/lyria2, "
                  "stable-audio, chirp-v3-5, chirp-v3-0)"});
  LoadOptions bad;
  bad.provider = "openai";
  bad.provider_origin = "SETLIST_PROVIDER";
  EXPECT_EQ(check(kAlbum + "songs: [{title: S, lyrics: x}]\n", bad),
            Lines{"album.yaml: error: provider: unknown provider \"openai\" (from SETLIST_PROVIDER) (hint: one "
                  "of: aimlapi, aimlapi-v2, suno-api, sunoapi)"});
}

TEST(ManifestModels, LoadManifestTakesTheOptionsToo) {
  test::TempDir dir;
  test::write_file(dir / "album.yaml", kAlbum + "songs: [{title: S, tags: dreamy}]\n");
  EXPECT_TRUE(load_manifest(dir / "album.yaml").ok());
  LoadOptions o;
  o.provider = "sunoapi";
  o.provider_origin = "--provider";
  EXPECT_FALSE(load_manifest(dir / "album.yaml", o).ok());
}


// Suno's description mode has no style field: the tags travel inside the
// description, so the limit is checked on both together, at the description.
TEST(ManifestModels, DescriptionModeCountsTheTagsSentWithTheDescription) {
  const std::string desc(490, 'a');
  const std::string yaml = "album: {title: A}\nsettings: {provider: sunoapi}\nsongs:\n"
                           "  - title: Long\n"
                           "    tags: indie pop, dreamy\n"
                           "    description: " + desc + "\n";
  EXPECT_EQ(check(yaml),
            (Lines{"album.yaml:6:18: error: songs[0].description: the description with its tags (description "
                   "mode sends them together) is 509 characters long; model V4_5 accepts at most 500 (hint: shorten it by 9 "
                   "characters)"}));
  // The same description alone fits.
  EXPECT_EQ(check("album: {title: A}\nsettings: {provider: sunoapi}\nsongs:\n  - title: Long\n    description: " +
                  desc + "\n"),
            Lines{});
}

}  // namespace
}  // namespace setlist
