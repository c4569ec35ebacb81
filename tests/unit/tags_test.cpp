// write_tags: every frame read back with TagLib from a small MP3 built here;
// WAV files read back with TagLib, mutagen and ffprobe (independent readers).
#include <gtest/gtest.h>

#include <taglib/attachedpictureframe.h>
#include <taglib/id3v1tag.h>
#include <taglib/id3v2tag.h>
#include <taglib/mpegfile.h>
#include <taglib/textidentificationframe.h>
#include <taglib/infotag.h>
#include <taglib/unsynchronizedlyricsframe.h>
#include <taglib/wavfile.h>

#include <boost/json.hpp>

#include <fstream>
#include <map>
#include <vector>

#include "audio_fixtures.hpp"
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

// Every ID3v2.4 frame setlist writes for sample(), the same in MP3 and WAV.
static void expect_sample_id3(TagLib::ID3v2::Tag* tag, const TagInfo& info) {
  ASSERT_NE(tag, nullptr);
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
}

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
  expect_sample_id3(f.ID3v2Tag(), info);

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

// --- WAV ------------------------------------------------------------------------

namespace {

struct Chunk {
  std::string id;
  std::string body;
};

// The top-level chunks of a RIFF file, in order (a LIST's body starts with its type).
std::vector<Chunk> riff_chunks(const std::string& file) {
  std::vector<Chunk> out;
  std::size_t pos = 12;
  while (pos + 8 <= file.size()) {
    auto b = reinterpret_cast<const unsigned char*>(file.data() + pos + 4);
    std::size_t size = b[0] | b[1] << 8 | b[2] << 16 | static_cast<std::size_t>(b[3]) << 24;
    out.push_back({file.substr(pos, 4), file.substr(pos + 8, size)});
    pos += 8 + size + (size & 1);
  }
  return out;
}

// INFO sub-chunks of a LIST body ("INFO" + chunks), values without their NUL terminators.
std::map<std::string, std::string> info_fields(const std::string& list_body) {
  std::map<std::string, std::string> out;
  if (list_body.substr(0, 4) != "INFO") return out;
  auto chunks = riff_chunks("RIFF....WAVE" + list_body.substr(4));
  for (auto& c : chunks) {
    std::string v = c.body;
    while (!v.empty() && v.back() == '\0') v.pop_back();
    out[c.id] = v;
  }
  return out;
}

std::vector<Chunk> chunks_named(const std::vector<Chunk>& all, const std::string& id) {
  std::vector<Chunk> out;
  for (auto& c : all)
    if (c.id == id) out.push_back(c);
  return out;
}

std::string json_str(const boost::json::value& v, std::initializer_list<const char*> path) {
  const boost::json::value* cur = &v;
  for (const char* k : path) {
    if (!cur->is_object() || !cur->as_object().contains(k)) return "(absent)";
    cur = &cur->as_object().at(k);
  }
  return cur->is_string() ? std::string(cur->as_string()) : boost::json::serialize(*cur);
}

}  // namespace

TEST(TagsWav, Id3ChunkAndRiffInfoReadBackWithTagLibAndTheSamplesAreUntouched) {
  TempDir dir;
  auto wav = dir / "take.wav";
  const std::string original = setlist::test::make_wav(44100, 2, 44100 / 4);
  write_bytes(wav, original);
  auto info = sample();
  auto st = write_tags(wav, info);
  ASSERT_TRUE(st) << st.error().message;

  {
    TagLib::RIFF::WAV::File f(wav.c_str());
    ASSERT_TRUE(f.isValid());
    ASSERT_TRUE(f.hasID3v2Tag());
    ASSERT_TRUE(f.hasInfoTag());
    expect_sample_id3(f.ID3v2Tag(), info);
    EXPECT_EQ(text_frame(f.ID3v2Tag(), "TPE2"), "The Setlists");

    auto* riff = f.InfoTag();
    EXPECT_EQ(riff->fieldText("INAM").to8Bit(true), info.title);
    EXPECT_EQ(riff->fieldText("IART").to8Bit(true), "The Setlists");
    EXPECT_EQ(riff->fieldText("IPRD").to8Bit(true), "Night Drive");
    EXPECT_EQ(riff->fieldText("ITRK").to8Bit(true), "3");
    EXPECT_EQ(riff->fieldText("ICRD").to8Bit(true), "2026");
    EXPECT_EQ(riff->fieldText("IGNR").to8Bit(true), "synthwave");
    ASSERT_NE(f.audioProperties(), nullptr);
    EXPECT_EQ(f.audioProperties()->sampleRate(), 44100);
    EXPECT_EQ(f.audioProperties()->channels(), 2);
  }

  // The raw chunks: one fmt, one data with the very same samples, one ID3, one LIST INFO (UTF-8 text).
  const std::string bytes = setlist::test::read_file(wav);
  auto chunks = riff_chunks(bytes);
  auto orig_chunks = riff_chunks(original);
  ASSERT_EQ(chunks_named(chunks, "data").size(), 1u);
  EXPECT_TRUE(chunks_named(chunks, "data")[0].body == chunks_named(orig_chunks, "data")[0].body);
  EXPECT_TRUE(chunks_named(chunks, "fmt ")[0].body == chunks_named(orig_chunks, "fmt ")[0].body);
  auto id3 = chunks_named(chunks, "ID3 ");
  ASSERT_EQ(id3.size(), 1u);
  EXPECT_EQ(id3[0].body.substr(0, 4), std::string("ID3\x04", 4));
  auto lists = chunks_named(chunks, "LIST");
  ASSERT_EQ(lists.size(), 1u);
  auto fields = info_fields(lists[0].body);
  EXPECT_EQ(fields["INAM"], info.title);  // the UTF-8 bytes themselves
  EXPECT_EQ(fields["IART"], "The Setlists");
  EXPECT_EQ(fields["ITRK"], "3");
  EXPECT_EQ(fields.size(), 6u);

  // Still a whole WAV by the publication check, with the same duration.
  auto c = check_audio_file(wav);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->format, AudioFormat::wav);
  EXPECT_DOUBLE_EQ(c->duration_seconds, 0.25);
}

TEST(TagsWav, RetaggingReplacesEveryOldTag) {
  TempDir dir;
  auto wav = dir / "take.wav";
  // As an encoder might deliver it: a LIST INFO with its software name.
  std::string list = "INFO" + setlist::test::riff_chunk("ISFT", std::string("Lavf60.16.100\0", 14)) +
                     setlist::test::riff_chunk("ICMT", std::string("made elsewhere\0", 15));
  write_bytes(wav, setlist::test::make_wav(8000, 1, 800, setlist::test::riff_chunk("LIST", list)));
  auto info = sample();
  ASSERT_TRUE(write_tags(wav, info));
  info.title = "Neon Rain (B)";
  info.lyrics.clear();
  info.cover_jpeg.clear();
  info.year.reset();
  ASSERT_TRUE(write_tags(wav, info));

  auto chunks = riff_chunks(setlist::test::read_file(wav));
  ASSERT_EQ(chunks_named(chunks, "ID3 ").size() + chunks_named(chunks, "id3 ").size(), 1u);
  ASSERT_EQ(chunks_named(chunks, "LIST").size(), 1u);
  auto fields = info_fields(chunks_named(chunks, "LIST")[0].body);
  EXPECT_EQ(fields.count("ISFT"), 0u);
  EXPECT_EQ(fields.count("ICMT"), 0u);
  EXPECT_EQ(fields.count("ICRD"), 0u);
  EXPECT_EQ(fields["INAM"], "Neon Rain (B)");

  TagLib::RIFF::WAV::File f(wav.c_str());
  auto* tag = f.ID3v2Tag();
  EXPECT_EQ(tag->frameListMap()["TIT2"].size(), 1u);
  EXPECT_EQ(text_frame(tag, "TIT2"), "Neon Rain (B)");
  EXPECT_TRUE(tag->frameListMap()["USLT"].isEmpty());
  EXPECT_TRUE(tag->frameListMap()["APIC"].isEmpty());
  EXPECT_TRUE(tag->frameListMap()["TDRC"].isEmpty());
  EXPECT_EQ(tag->frameListMap()["TXXX"].size(), 2u);
  EXPECT_TRUE(check_audio_file(wav));
}

TEST(TagsWav, PngCoverIsLabelledPng) {
  TempDir dir;
  auto wav = dir / "take.wav";
  write_bytes(wav, setlist::test::make_wav(8000, 1, 800));
  auto info = sample();
  info.cover_jpeg = std::string("\x89PNG\r\n\x1a\n", 8) + std::string(50, 'p');
  ASSERT_TRUE(write_tags(wav, info));
  TagLib::RIFF::WAV::File f(wav.c_str());
  auto& apic = f.ID3v2Tag()->frameListMap()["APIC"];
  ASSERT_EQ(apic.size(), 1u);
  auto* pic = dynamic_cast<TagLib::ID3v2::AttachedPictureFrame*>(apic.front());
  EXPECT_EQ(pic->mimeType().to8Bit(), "image/png");
  EXPECT_EQ(std::string(pic->picture().data(), pic->picture().size()), info.cover_jpeg);
}

TEST(TagsWav, NotAudioIsAnErrorAndTheFileIsLeftAlone) {
  TempDir dir;
  auto page = dir / "page.wav";
  const std::string html = "<!DOCTYPE html><html><body>Forbidden</body></html>";
  write_bytes(page, html);
  auto st = write_tags(page, sample());
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("not MP3 or WAV audio but an HTML page"), std::string::npos) << st.error().message;
  EXPECT_EQ(setlist::test::read_file(page), html);
  // A RIFF WAVE header with no chunks at all.
  auto empty = dir / "empty.wav";
  write_bytes(empty, setlist::test::riff_wave(""));
  EXPECT_FALSE(write_tags(empty, sample()));
}

TEST(TagsWav, MutagenReadsTheId3Chunk) {
  // Debian's python3-mutagen is for /usr/bin/python3; a python3 earlier on PATH may lack it.
  std::string python;
  for (std::string candidate : {setlist::test::which("python3"), std::string("/usr/bin/python3")})
    if (!candidate.empty() &&
        setlist::test::run({candidate, "-c", "import mutagen.wave"}, {}, std::chrono::seconds(30)).exit_code == 0) {
      python = candidate;
      break;
    }
  if (python.empty())
    GTEST_SKIP() << "python3-mutagen not installed (scripts/install-deps.sh installs it)";
  TempDir dir;
  auto wav = dir / "take.wav";
  write_bytes(wav, setlist::test::make_wav(22050, 1, 22050));
  auto info = sample();
  ASSERT_TRUE(write_tags(wav, info));

  const char* script = R"PY(
import hashlib, json, sys
from mutagen.wave import WAVE
w = WAVE(sys.argv[1])
t = w.tags
out = {"version": ".".join(str(v) for v in t.version), "length": w.info.length,
       "sample_rate": w.info.sample_rate}
for k in ("TIT2", "TPE1", "TPE2", "TALB", "TRCK", "TDRC", "TCON"):
    out[k] = str(t[k]) if k in t else None
out["USLT"] = [[u.lang, u.text] for u in t.getall("USLT")]
out["APIC"] = [[a.mime, int(a.type), hashlib.sha256(a.data).hexdigest()] for a in t.getall("APIC")]
out["TXXX"] = {x.desc: x.text[0] for x in t.getall("TXXX")}
print(json.dumps(out))
)PY";
  auto r = setlist::test::run({python, "-c", script, wav.string()}, {}, std::chrono::seconds(60));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = boost::json::parse(r.out);
  EXPECT_EQ(json_str(j, {"version"}), "2.4.0");
  EXPECT_EQ(json_str(j, {"TIT2"}), info.title);
  EXPECT_EQ(json_str(j, {"TPE1"}), "The Setlists");
  EXPECT_EQ(json_str(j, {"TPE2"}), "The Setlists");
  EXPECT_EQ(json_str(j, {"TALB"}), "Night Drive");
  EXPECT_EQ(json_str(j, {"TRCK"}), "3/12");
  EXPECT_EQ(json_str(j, {"TDRC"}), "2026");
  EXPECT_EQ(json_str(j, {"TCON"}), "synthwave");
  auto& uslt = j.at("USLT").as_array();
  ASSERT_EQ(uslt.size(), 1u);
  EXPECT_EQ(uslt[0].at(0).as_string(), "eng");
  EXPECT_EQ(uslt[0].at(1).as_string(), info.lyrics);
  auto& apic = j.at("APIC").as_array();
  ASSERT_EQ(apic.size(), 1u);
  EXPECT_EQ(apic[0].at(0).as_string(), "image/jpeg");
  EXPECT_EQ(apic[0].at(1).as_int64(), 3);  // front cover
  EXPECT_EQ(apic[0].at(2).as_string(), setlist::test::sha256_hex(info.cover_jpeg));
  EXPECT_EQ(json_str(j, {"TXXX", "SETLIST_CLIP_ID"}), "0f1e-aa-clip");
  EXPECT_EQ(json_str(j, {"TXXX", "SETLIST_SONG_KEY"}), "abc123key");
  EXPECT_NEAR(j.at("length").to_number<double>(), 1.0, 1e-6);
  EXPECT_EQ(j.at("sample_rate").to_number<int>(), 22050);
}

TEST(TagsWav, FfprobeReadsTheInfoChunkTheCoverAndTheId3Chunk) {
  const std::string ffprobe = setlist::test::which("ffprobe");
  if (ffprobe.empty()) GTEST_SKIP() << "ffprobe not installed (scripts/install-deps.sh installs ffmpeg)";
  TempDir dir;
  auto wav = dir / "take.wav";
  write_bytes(wav, setlist::test::make_wav(48000, 2, 48000 * 3 / 2));
  auto info = sample();
  ASSERT_TRUE(write_tags(wav, info));
  auto probe = [&](const std::filesystem::path& p) {
    auto r = setlist::test::run({ffprobe, "-v", "fatal", "-of", "json", "-show_format", "-show_streams", p.string()},
                                {}, std::chrono::seconds(60));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return std::make_pair(boost::json::parse(r.out), r.out);
  };

  // ffmpeg takes a WAV's text tags from LIST INFO when there is one...
  auto [j, out] = probe(wav);
  EXPECT_EQ(json_str(j, {"format", "format_name"}), "wav");
  EXPECT_NEAR(std::stod(json_str(j, {"format", "duration"})), 1.5, 1e-3);
  EXPECT_EQ(json_str(j, {"format", "tags", "title"}), info.title) << out;
  EXPECT_EQ(json_str(j, {"format", "tags", "artist"}), "The Setlists") << out;
  EXPECT_EQ(json_str(j, {"format", "tags", "album"}), "Night Drive") << out;
  EXPECT_EQ(json_str(j, {"format", "tags", "genre"}), "synthwave") << out;
  EXPECT_EQ(json_str(j, {"format", "tags", "date"}), "2026") << out;
  EXPECT_EQ(json_str(j, {"format", "tags", "track"}), "3") << out;
  // ... and the cover from the ID3 chunk's APIC, as an attached picture stream.
  auto& streams = j.at("streams").as_array();
  ASSERT_EQ(streams.size(), 2u) << out;
  EXPECT_EQ(json_str(streams[0], {"codec_name"}), "pcm_s16le");
  EXPECT_EQ(json_str(streams[1], {"codec_name"}), "mjpeg");
  EXPECT_EQ(json_str(streams[1], {"disposition", "attached_pic"}), "1");

  // Without the LIST chunk, ffmpeg reads every text frame of the ID3 chunk.
  std::string bytes = setlist::test::read_file(wav), kept;
  for (auto& c : riff_chunks(bytes))
    if (c.id != "LIST") kept += setlist::test::riff_chunk(c.id, c.body);
  auto id3_only = dir / "id3-only.wav";
  write_bytes(id3_only, setlist::test::riff_wave(kept));
  auto [k, out2] = probe(id3_only);
  EXPECT_EQ(json_str(k, {"format", "tags", "title"}), info.title) << out2;
  EXPECT_EQ(json_str(k, {"format", "tags", "artist"}), "The Setlists") << out2;
  EXPECT_EQ(json_str(k, {"format", "tags", "album_artist"}), "The Setlists") << out2;
  EXPECT_EQ(json_str(k, {"format", "tags", "album"}), "Night Drive") << out2;
  EXPECT_EQ(json_str(k, {"format", "tags", "track"}), "3/12") << out2;
  EXPECT_EQ(json_str(k, {"format", "tags", "date"}), "2026") << out2;
  EXPECT_EQ(json_str(k, {"format", "tags", "genre"}), "synthwave") << out2;
  EXPECT_EQ(json_str(k, {"format", "tags", "lyrics-eng"}), info.lyrics) << out2;
  EXPECT_EQ(json_str(k, {"format", "tags", "SETLIST_CLIP_ID"}), "0f1e-aa-clip") << out2;
  EXPECT_EQ(json_str(k, {"format", "tags", "SETLIST_SONG_KEY"}), "abc123key") << out2;
}
