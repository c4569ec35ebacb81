// write_tags: every frame read back with TagLib from a small MP3 built here.
#include <gtest/gtest.h>

#include <taglib/attachedpictureframe.h>
#include <taglib/id3v1tag.h>
#include <taglib/id3v2tag.h>
#include <taglib/mpegfile.h>
#include <taglib/textidentificationframe.h>
#include <taglib/unsynchronizedlyricsframe.h>

#include <fstream>

#include "setlist/output.hpp"
#include "test_support.hpp"

using namespace setlist;
using setlist::test::TempDir;

namespace {

// MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, no padding: 417-byte frames.
std::string tiny_mp3(int frames = 12) {
  std::string frame(417, '\0');
  frame[0] = '\xFF';
  frame[1] = '\xFB';
  frame[2] = '\x90';
  frame[3] = '\xC0';
  std::string out;
  for (int i = 0; i < frames; ++i) out += frame;
  return out;
}

void write_bytes(const std::filesystem::path& p, const std::string& data) {
  std::ofstream o(p, std::ios::binary);
  o << data;
}

std::string text_frame(TagLib::ID3v2::Tag* tag, const char* id) {
  auto& l = tag->frameListMap()[TagLib::ByteVector(id, 4)];
  if (l.isEmpty()) return {};
  return l.front()->toString().to8Bit(true);
}

std::string user_text(TagLib::ID3v2::Tag* tag, const char* description) {
  auto* f = TagLib::ID3v2::UserTextIdentificationFrame::find(tag, TagLib::String(description, TagLib::String::UTF8));
  if (!f || f->fieldList().size() < 2) return {};
  return f->fieldList()[1].to8Bit(true);
}

TagInfo sample() {
  TagInfo t;
  t.title = "Neon Rain (A) — ünïcødé";
  t.artist = "The Setlists";
  t.album = "Night Drive";
  t.track = 3;
  t.track_total = 12;
  t.year = 2026;
  t.genre = "synthwave";
  t.lyrics = "[Verse]\nNeon on the wet street\n[Chorus]\nLa la";
  t.cover_jpeg = std::string("\xFF\xD8\xFF\xE0", 4) + std::string(300, 'j') + std::string("\xFF\xD9", 2);
  t.clip_id = "0f1e-aa-clip";
  t.song_key = "abc123key";
  return t;
}

}  // namespace

TEST(Tags, EveryFrameReadsBackAsID3v24) {
  TempDir dir;
  auto mp3 = dir / "take.mp3";
  write_bytes(mp3, tiny_mp3());
  auto info = sample();
  auto st = write_tags(mp3, info);
  ASSERT_TRUE(st) << st.error().message;

  TagLib::MPEG::File f(mp3.c_str());
  ASSERT_TRUE(f.isValid());
  ASSERT_TRUE(f.hasID3v2Tag());
  EXPECT_FALSE(f.hasID3v1Tag());
  EXPECT_FALSE(f.hasAPETag());
  auto* tag = f.ID3v2Tag();
  EXPECT_EQ(tag->header()->majorVersion(), 4u);
  EXPECT_EQ(text_frame(tag, "TIT2"), info.title);
  EXPECT_EQ(text_frame(tag, "TPE1"), "The Setlists");
  EXPECT_EQ(text_frame(tag, "TALB"), "Night Drive");
  EXPECT_EQ(text_frame(tag, "TRCK"), "3/12");
  EXPECT_EQ(text_frame(tag, "TDRC"), "2026");
  EXPECT_EQ(text_frame(tag, "TCON"), "synthwave");

  auto& uslt = tag->frameListMap()["USLT"];
  ASSERT_EQ(uslt.size(), 1u);
  auto* lyr = dynamic_cast<TagLib::ID3v2::UnsynchronizedLyricsFrame*>(uslt.front());
  ASSERT_NE(lyr, nullptr);
  EXPECT_EQ(lyr->text().to8Bit(true), info.lyrics);
  EXPECT_EQ(lyr->language(), TagLib::ByteVector("eng"));

  auto& apic = tag->frameListMap()["APIC"];
  ASSERT_EQ(apic.size(), 1u);
  auto* pic = dynamic_cast<TagLib::ID3v2::AttachedPictureFrame*>(apic.front());
  ASSERT_NE(pic, nullptr);
  EXPECT_EQ(pic->mimeType().to8Bit(), "image/jpeg");
  EXPECT_EQ(pic->type(), TagLib::ID3v2::AttachedPictureFrame::FrontCover);
  EXPECT_EQ(std::string(pic->picture().data(), pic->picture().size()), info.cover_jpeg);

  EXPECT_EQ(user_text(tag, "SETLIST_CLIP_ID"), "0f1e-aa-clip");
  EXPECT_EQ(user_text(tag, "SETLIST_SONG_KEY"), "abc123key");

  // The audio frames are untouched after the tag.
  std::string bytes = setlist::test::read_file(mp3);
  auto audio = tiny_mp3();
  ASSERT_GT(bytes.size(), audio.size());
  EXPECT_EQ(bytes.substr(bytes.size() - audio.size()), audio);
  EXPECT_EQ(bytes.substr(0, 3), "ID3");
}

TEST(Tags, RetaggingReplacesOldTagsAndStripsID3v1) {
  TempDir dir;
  auto mp3 = dir / "take.mp3";
  // An ID3v1 tag at the end, as some encoders write.
  std::string v1 = "TAG" + std::string(125, '\0');
  v1.replace(3, 9, "Old Title");
  write_bytes(mp3, tiny_mp3() + v1);
  auto info = sample();
  ASSERT_TRUE(write_tags(mp3, info));
  info.title = "Neon Rain (B)";
  info.lyrics.clear();
  info.cover_jpeg.clear();
  ASSERT_TRUE(write_tags(mp3, info));

  TagLib::MPEG::File f(mp3.c_str());
  ASSERT_TRUE(f.hasID3v2Tag());
  EXPECT_FALSE(f.hasID3v1Tag());
  auto* tag = f.ID3v2Tag();
  EXPECT_EQ(tag->frameListMap()["TIT2"].size(), 1u);
  EXPECT_EQ(text_frame(tag, "TIT2"), "Neon Rain (B)");
  EXPECT_TRUE(tag->frameListMap()["USLT"].isEmpty());
  EXPECT_TRUE(tag->frameListMap()["APIC"].isEmpty());
  EXPECT_EQ(tag->frameListMap()["TXXX"].size(), 2u);
}

TEST(Tags, NotAnMp3IsAnError) {
  TempDir dir;
  auto bad = dir / "bad.mp3";
  write_bytes(bad, "this is not audio at all");
  EXPECT_FALSE(write_tags(bad, sample()));
  EXPECT_FALSE(write_tags(dir / "missing.mp3", sample()));
}

TEST(Tags, PngCoverIsLabelledPng) {
  TempDir dir;
  auto mp3 = dir / "take.mp3";
  write_bytes(mp3, tiny_mp3());
  auto info = sample();
  info.cover_jpeg = std::string("\x89PNG\r\n\x1a\n", 8) + std::string(50, 'p');
  ASSERT_TRUE(write_tags(mp3, info));
  TagLib::MPEG::File f(mp3.c_str());
  auto& apic = f.ID3v2Tag()->frameListMap()["APIC"];
  ASSERT_EQ(apic.size(), 1u);
  auto* pic = dynamic_cast<TagLib::ID3v2::AttachedPictureFrame*>(apic.front());
  EXPECT_EQ(pic->mimeType().to8Bit(), "image/png");
}
