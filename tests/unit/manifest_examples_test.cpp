// Every example manifest in jobs/ loads cleanly with our loader and names
// the JSON Schema on its first line.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "setlist/manifest.hpp"
#include "test_support.hpp"

namespace setlist {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> example_manifests() {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(test::source_dir() / "jobs")) {
    auto ext = e.path().extension();
    if (e.is_regular_file() && (ext == ".yaml" || ext == ".yml")) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(ManifestExamples, EveryExampleLoadsWithoutDiagnostics) {
  auto files = example_manifests();
  ASSERT_FALSE(files.empty());
  for (const auto& f : files) {
    auto r = load_manifest(f);
    std::string all;
    for (const auto& d : r.diagnostics) all += d.format() + "\n";
    EXPECT_TRUE(r.ok()) << all;
    // Clean: no example teaches a model AIML no longer serves (the demo
    // album uses the live default, minimax/music-2.6).
    EXPECT_EQ(r.warning_count(), 0u) << f << "\n" << all;
  }
}

TEST(ManifestExamples, LiveProviderExamplesUseTheirFlavor) {
  auto aiml = load_manifest(test::source_dir() / "jobs/album-aimlapi-models.yaml");
  ASSERT_TRUE(aiml.ok());
  std::set<std::string> models;
  for (const auto& s : aiml.manifest->songs) models.insert(s.model);
  EXPECT_GE(models.size(), 3u);  // shows several models side by side
  EXPECT_FALSE(models.count("chirp-v3-5"));

  auto suno = load_manifest(test::source_dir() / "jobs/album-sunoapi.yaml");
  ASSERT_TRUE(suno.ok());
  EXPECT_EQ(suno.manifest->settings.at("provider").value, "sunoapi");
}

TEST(ManifestExamples, EveryExampleNamesTheSchemaOnItsFirstLine) {
  for (const auto& f : example_manifests()) {
    std::string text = test::read_file(f);
    std::string first = text.substr(0, text.find('\n'));
    EXPECT_EQ(first, "# yaml-language-server: $schema=./setlist.schema.json") << f;
  }
}

TEST(ManifestExamples, DemoAlbumIsSixSongsWithOneInstrumental) {
  auto r = load_manifest(test::source_dir() / "jobs/demo-album.yaml");
  ASSERT_TRUE(r.ok());
  const auto& songs = r.manifest->songs;
  ASSERT_EQ(songs.size(), 6u);
  EXPECT_EQ(
      std::count_if(songs.begin(), songs.end(), [](const Song& s) { return s.make_instrumental; }),
      1);
  for (const auto& s : songs) {
    if (s.make_instrumental) {
      EXPECT_TRUE(s.description) << s.title;  // the API wants a prompt even then
    } else {
      ASSERT_TRUE(s.lyrics) << s.title;
      EXPECT_NE(s.lyrics->find("[Verse]"), std::string::npos) << s.title;
      EXPECT_NE(s.lyrics->find("[Chorus]"), std::string::npos) << s.title;
    }
    EXPECT_FALSE(s.tags.empty()) << s.title;
  }
}

}  // namespace
}  // namespace setlist
