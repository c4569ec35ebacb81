#include <gtest/gtest.h>

#include "setlist/output.hpp"

using namespace setlist;

namespace {
NameFields fields(std::string title, int track = 3, int take = 0) {
  return NameFields{"Night Drive", "The Setlists", std::move(title), "song-id", "0f1e-aa", track, take};
}
}  // namespace

TEST(Naming, DefaultTemplate) {
  auto p = render_name("{track:02} - {title} ({take}).mp3", fields("Neon Rain"));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->string(), "03 - Neon Rain (A).mp3");
  auto b = render_name("{track:02} - {title} ({take}).mp3", fields("Neon Rain", 12, 1));
  EXPECT_EQ(b->string(), "12 - Neon Rain (B).mp3");
}

TEST(Naming, FoldersOnlyFromTheTemplate) {
  auto p = render_name("{artist}/{album}/{track} {title} [{clip_id}].mp3", fields("a/b"));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->string(), "The Setlists/Night Drive/3 a_b [0f1e-aa].mp3");
}

TEST(Naming, HostileTitleCannotEscapeOut) {
  for (std::string t : std::vector<std::string>{"../../etc/x", "..", "/etc/passwd", "..\\..\\x", std::string("a\0b", 3), "\n\r\t"}) {
    auto p = render_name("{title}.mp3", fields(t));
    ASSERT_TRUE(p) << t;
    EXPECT_FALSE(p->is_absolute()) << t;
    for (auto& part : *p) EXPECT_NE(part.string(), "..") << t;
    EXPECT_EQ(p->begin()->string(), p->string()) << "single component for " << t;
  }
  EXPECT_FALSE(render_name("../{title}.mp3", fields("x")));
  EXPECT_FALSE(render_name("/abs/{title}.mp3", fields("x")));
}

TEST(Naming, TemplateErrorsAreExplained) {
  auto r = render_name("{tittle}.mp3", fields("x"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "output template: unknown placeholder {tittle}; use {album} {artist} {track} {track:02} {title} {take} "
            "{clip_id} {song_id}");
  EXPECT_TRUE(check_template("{track:02} - {title} ({take}).mp3") == std::nullopt);
  EXPECT_TRUE(check_template("{title"));
}

TEST(SafeComponent, ReservedControlAndLength) {
  EXPECT_EQ(safe_component("CON"), "_CON");
  EXPECT_EQ(safe_component("nul.mp3"), "_nul.mp3");
  EXPECT_EQ(safe_component(" . "), "_");
  EXPECT_EQ(safe_component("a:b*c?"), "a_b_c_");
  EXPECT_EQ(safe_component(".hidden"), "hidden");
  // 200 two-byte characters = 400 bytes: cut to at most 255 bytes, on a character boundary.
  std::string longname;
  for (int i = 0; i < 200; ++i) longname += "\xC3\xA9";
  auto s = safe_component(longname);
  EXPECT_LE(s.size(), 255u);
  EXPECT_EQ(s.size() % 2, 0u);
}

TEST(UniquePath, CollisionsGetSuffixes) {
  std::set<std::string> used;
  EXPECT_EQ(unique_path("01 - Song (A).mp3", used).string(), "01 - Song (A).mp3");
  EXPECT_EQ(unique_path("01 - Song (A).mp3", used).string(), "01 - Song (A) (2).mp3");
  EXPECT_EQ(unique_path("01 - Song (A).mp3", used).string(), "01 - Song (A) (3).mp3");
}
