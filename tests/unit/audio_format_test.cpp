// Audio format detection from bytes, and the whole-file check run before a
// take is tagged and published: WAV chunk sizes, chained MPEG frames, durations.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "audio_fixtures.hpp"
#include "setlist/output.hpp"
#include "test_support.hpp"

using namespace setlist;
using namespace setlist::test;

namespace {

fs::path write_to(const TempDir& dir, const std::string& name, const std::string& data) {
  auto p = dir / name;
  std::ofstream o(p, std::ios::binary);
  o << data;
  return p;
}

std::string check_error(const fs::path& p) {
  auto c = check_audio_file(p);
  if (c) return "(accepted)";
  return c.error().message;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

// --- detection ----------------------------------------------------------------

TEST(AudioFormat, DetectsMp3FromAnId3v2HeaderOrAFrameHeader) {
  EXPECT_EQ(detect_audio_format(empty_id3v2(100).substr(0, 16)), AudioFormat::mp3);
  EXPECT_EQ(detect_audio_format(mp3_frame(false).substr(0, 16)), AudioFormat::mp3);
  // MPEG-2 Layer III, 64 kbit/s, 22.05 kHz (FF F3 80 C4) and MPEG-1 Layer II.
  EXPECT_EQ(detect_audio_format(std::string("\xFF\xF3\x80\xC4", 4)), AudioFormat::mp3);
  EXPECT_EQ(detect_audio_format(std::string("\xFF\xFD\x90\x04", 4)), AudioFormat::mp3);
}

TEST(AudioFormat, DetectsWavFromRiffWave) {
  auto wav = make_wav(8000, 1, 100);
  EXPECT_EQ(detect_audio_format(wav.substr(0, 12)), AudioFormat::wav);
  EXPECT_EQ(detect_audio_format(wav.substr(0, 16)), AudioFormat::wav);
  // Eleven bytes cannot show "WAVE".
  EXPECT_EQ(detect_audio_format(wav.substr(0, 11)), AudioFormat::unknown);
  EXPECT_EQ(detect_audio_format("RIFF" + le32(100) + "AVI LIST"), AudioFormat::unknown);
}

TEST(AudioFormat, RefusesWhatIsNotAudio) {
  EXPECT_EQ(detect_audio_format(""), AudioFormat::unknown);
  EXPECT_EQ(detect_audio_format("<!DOCTYPE html><html>"), AudioFormat::unknown);
  EXPECT_EQ(detect_audio_format("{\"message\":\"Forbidden\"}"), AudioFormat::unknown);
  EXPECT_EQ(detect_audio_format("None.mp3"), AudioFormat::unknown);
  EXPECT_EQ(detect_audio_format(std::string("\xFF\xD8\xFF\xE0\x00\x10JFIF", 10)), AudioFormat::unknown);
  // ADTS AAC shares the 0xFFF sync but has layer bits 00.
  EXPECT_EQ(detect_audio_format(std::string("\xFF\xF1\x50\x80\x2E\x7F\xFC", 7)), AudioFormat::unknown);
  // Sync with a reserved version, a bad bitrate, a reserved sample rate.
  EXPECT_EQ(detect_audio_format(std::string("\xFF\xEB\x90\xC0", 4)), AudioFormat::unknown);
  EXPECT_EQ(detect_audio_format(std::string("\xFF\xFB\xF0\xC0", 4)), AudioFormat::unknown);
  EXPECT_EQ(detect_audio_format(std::string("\xFF\xFB\x9C\xC0", 4)), AudioFormat::unknown);
  // "ID3" without a plausible header (version 9, or a size byte with its top bit).
  EXPECT_EQ(detect_audio_format(std::string("ID3\x09\x00\x00\x00\x00\x00\x10", 10)), AudioFormat::unknown);
  EXPECT_EQ(detect_audio_format(std::string("ID3\x04\x00\x00\x80\x00\x00\x10", 10)), AudioFormat::unknown);
  // Raw PCM (the API's "pcm" format) has no header at all.
  EXPECT_EQ(detect_audio_format(pcm16_sine(8000, 1, 8)), AudioFormat::unknown);
}

TEST(AudioFormat, ExtensionsAndNames) {
  EXPECT_EQ(extension(AudioFormat::mp3), ".mp3");
  EXPECT_EQ(extension(AudioFormat::wav), ".wav");
  EXPECT_EQ(extension(AudioFormat::unknown), "");
  EXPECT_EQ(format_name(AudioFormat::wav), "WAV");
  EXPECT_EQ(format_name(AudioFormat::mp3), "MP3");
}

TEST(AudioFormat, DescribesWhatWasSentInstead) {
  EXPECT_EQ(describe_content(""), "nothing (empty)");
  EXPECT_EQ(describe_content("\xEF\xBB\xBF\n  <!doctype html>"), "an HTML page");
  EXPECT_EQ(describe_content("<HTML><body>403"), "an HTML page");
  EXPECT_EQ(describe_content("<?xml version=\"1.0\"?><Error>"), "an XML document");
  EXPECT_EQ(describe_content(" {\"statusCode\":403}"), "JSON");
  EXPECT_EQ(describe_content("Access denied"), "text");
  EXPECT_EQ(describe_content(std::string("\xFF\xD8\xFF\xE0", 4)), "a JPEG image");
  EXPECT_EQ(describe_content("fLaC\x00\x00\x00\x22"), "FLAC audio (not supported)");
  EXPECT_EQ(describe_content(std::string("\x00\x01\x02\x03", 4)), "binary data that is neither MP3 nor WAV");
}

// --- WAV ------------------------------------------------------------------------

TEST(AudioCheckWav, AWholeWavIsAcceptedWithItsExactDuration) {
  TempDir dir;
  auto p = write_to(dir, "a.wav", make_wav(44100, 2, 22050));
  auto c = check_audio_file(p);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->format, AudioFormat::wav);
  EXPECT_DOUBLE_EQ(c->duration_seconds, 0.5);
  EXPECT_EQ(c->sample_rate, 44100);
  EXPECT_EQ(c->channels, 2);
  EXPECT_EQ(c->bits_per_sample, 16);
  EXPECT_EQ(c->audio_offset, 44u);  // the canonical 44-byte header
  EXPECT_EQ(c->audio_bytes, 22050u * 4);
  auto d = audio_duration(p);
  ASSERT_TRUE(d);
  EXPECT_DOUBLE_EQ(*d, 0.5);
}

TEST(AudioCheckWav, ChunksAfterTheDataAreFineOddSizesIncluded) {
  TempDir dir;
  // A LIST INFO chunk with an odd-sized value and its pad byte, then a JUNK chunk.
  std::string info = "INFO" + riff_chunk("ISFT", std::string("Lavf60\0", 7));
  auto p = write_to(dir, "b.wav", make_wav(16000, 1, 1600, riff_chunk("LIST", info) + riff_chunk("JUNK", "x")));
  auto c = check_audio_file(p);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_DOUBLE_EQ(c->duration_seconds, 0.1);
}

TEST(AudioCheckWav, ATruncatedWavIsRejected) {
  TempDir dir;
  auto wav = make_wav(44100, 2, 4410);
  auto p = write_to(dir, "cut.wav", wav.substr(0, wav.size() - 100));
  auto err = check_error(p);
  EXPECT_TRUE(contains(err, "truncated WAV: the RIFF header declares " + std::to_string(wav.size()))) << err;

  // The RIFF size patched to match the cut file: the data chunk still overruns it.
  auto cut = wav.substr(0, wav.size() - 100);
  cut.replace(4, 4, le32(static_cast<std::uint32_t>(cut.size() - 8)));
  p = write_to(dir, "cut2.wav", cut);
  err = check_error(p);
  EXPECT_TRUE(contains(err, "truncated WAV: chunk 'data' at byte 36 declares 17640 bytes, only 17540 follow")) << err;
}

TEST(AudioCheckWav, APaddedWavIsRejected) {
  TempDir dir;
  auto wav = make_wav(44100, 2, 4410);
  auto p = write_to(dir, "padded.wav", wav + std::string(64, '\0'));
  auto err = check_error(p);
  EXPECT_TRUE(contains(err, "WAV with 64 bytes after the end its RIFF header declares")) << err;

  // The RIFF size grown to cover the extra bytes: they are not a chunk.
  auto grown = wav + std::string(6, '\0');
  grown.replace(4, 4, le32(static_cast<std::uint32_t>(grown.size() - 8)));
  p = write_to(dir, "padded2.wav", grown);
  err = check_error(p);
  EXPECT_TRUE(contains(err, "6 stray bytes")) << err;
}

TEST(AudioCheckWav, StreamedWavWithPlaceholderSizesIsRejected) {
  TempDir dir;
  auto wav = make_wav(8000, 1, 800);
  auto riff = wav;
  riff.replace(4, 4, le32(0xFFFFFFFF));
  EXPECT_TRUE(contains(check_error(write_to(dir, "s1.wav", riff)), "never filled in"));
  auto data = wav;
  data.replace(40, 4, le32(0xFFFFFFFF));
  EXPECT_TRUE(contains(check_error(write_to(dir, "s2.wav", data)), "data size was never filled in"));
}

TEST(AudioCheckWav, MalformedFormatOrDataIsRejected) {
  TempDir dir;
  // Three bytes of 16-bit stereo samples: not a whole sample frame.
  auto partial = riff_wave(riff_chunk("fmt ", wav_fmt(8000, 2, 16)) + riff_chunk("data", "abc"));
  EXPECT_TRUE(contains(check_error(write_to(dir, "p.wav", partial)), "not a whole number of 4-byte sample frames"));
  // No fmt chunk; no data chunk; no samples.
  EXPECT_TRUE(contains(check_error(write_to(dir, "nf.wav", riff_wave(riff_chunk("data", "abcd")))),
                       "without a 'fmt ' chunk"));
  EXPECT_TRUE(contains(check_error(write_to(dir, "nd.wav", riff_wave(riff_chunk("fmt ", wav_fmt(8000, 1, 16))))),
                       "without a 'data' chunk"));
  EXPECT_TRUE(contains(
      check_error(write_to(dir, "ns.wav", riff_wave(riff_chunk("fmt ", wav_fmt(8000, 1, 16)) + riff_chunk("data", "")))),
      "without any samples"));
  // A byte rate that disagrees with rate x block align.
  auto fmt = wav_fmt(8000, 1, 16);
  fmt.replace(8, 4, le32(12345));
  EXPECT_TRUE(contains(check_error(write_to(dir, "br.wav", riff_wave(riff_chunk("fmt ", fmt) + riff_chunk("data", "abcd")))),
                       "inconsistent"));
}

// --- MP3 -------------------------------------------------------------------------

TEST(AudioCheckMp3, ChainedFramesAreAcceptedWithTheirDuration) {
  TempDir dir;
  // Every third frame padded (418 bytes): a length that ignored the padding bit would lose the chain.
  auto p = write_to(dir, "a.mp3", mp3_frames(40));
  auto c = check_audio_file(p);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->format, AudioFormat::mp3);
  EXPECT_EQ(c->mpeg_frames, 40u);
  EXPECT_EQ(c->sample_rate, 44100);
  EXPECT_EQ(c->channels, 1);
  EXPECT_NEAR(c->duration_seconds, 40 * kMp3FrameSeconds, 1e-9);
  EXPECT_EQ(c->audio_offset, 0u);
  EXPECT_EQ(c->audio_bytes, mp3_frames(40).size());
}

TEST(AudioCheckMp3, AnId3v2TagBeforeAndAnId3v1TagAfterAreSkipped) {
  TempDir dir;
  std::string v1 = "TAG" + std::string(125, ' ');
  auto p = write_to(dir, "t.mp3", empty_id3v2(300) + mp3_frames(20) + v1);
  auto c = check_audio_file(p);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->audio_offset, 310u);
  EXPECT_EQ(c->mpeg_frames, 20u);
  EXPECT_NEAR(c->duration_seconds, 20 * kMp3FrameSeconds, 1e-9);
}

TEST(AudioCheckMp3, GarbageAfterTheId3TagIsRejected) {
  TempDir dir;
  auto p = write_to(dir, "g.mp3", empty_id3v2(20) + "<html>oops</html>" + mp3_frames(20));
  auto err = check_error(p);
  EXPECT_TRUE(contains(err, "no MPEG frame at byte 30 (right after the ID3v2 tag): found bytes 3c68746d")) << err;
  // An ID3 tag and nothing else.
  EXPECT_TRUE(contains(check_error(write_to(dir, "only-tag.mp3", empty_id3v2(64))), "no audio after it"));
  // A tag that claims more bytes than the file has.
  EXPECT_TRUE(contains(check_error(write_to(dir, "big-tag.mp3", empty_id3v2(64).substr(0, 40))),
                       "more than the file holds"));
}

TEST(AudioCheckMp3, ACutLastFrameIsRejected) {
  TempDir dir;
  auto mp3 = mp3_frames(20);
  auto err = check_error(write_to(dir, "cut.mp3", mp3.substr(0, mp3.size() - 100)));
  EXPECT_TRUE(contains(err, "truncated MP3")) << err;
  EXPECT_TRUE(contains(err, "after 19 whole frames")) << err;
}

TEST(AudioCheckMp3, FewerThanFourFramesOrABrokenChainIsRejected) {
  TempDir dir;
  EXPECT_TRUE(contains(check_error(write_to(dir, "three.mp3", mp3_frames(3))), "only 3 MPEG frame(s)"));
  // Frame 10's header overwritten: the chain breaks in the middle.
  auto mp3 = mp3_frames(20, 0);
  mp3.replace(10 * 417, 4, "junk");
  auto err = check_error(write_to(dir, "broken.mp3", mp3));
  EXPECT_TRUE(contains(err, "neither MPEG frames nor a tag at byte 4170 (after 10 frames)")) << err;
  // A frame length computed without the padding byte lands one byte early.
  auto lying = mp3_frames(6, 0);
  lying[2] = '\x92';  // first frame claims padding, but holds 417 bytes
  err = check_error(write_to(dir, "lying.mp3", lying));
  EXPECT_TRUE(contains(err, "only 1 MPEG frame(s) in a row at byte 0")) << err;
  // A frame at a different sample rate does not continue the stream.
  auto mixed = mp3_frames(8, 0);
  mixed[4 * 417 + 2] = '\x94';  // 48 kHz
  EXPECT_TRUE(contains(check_error(write_to(dir, "mixed.mp3", mixed)), "at byte 1668 (after 4 frames)"));
}

TEST(AudioCheckMp3, AnInfoHeaderFrameIsNotCountedAsAudio) {
  TempDir dir;
  auto mp3 = mp3_frames(10, 0);
  mp3.replace(4 + 17, 4, "Info");  // MPEG-1 mono: the LAME/Xing header follows 17 bytes of side information
  auto c = check_audio_file(write_to(dir, "info.mp3", mp3));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->mpeg_frames, 10u);
  EXPECT_NEAR(c->duration_seconds, 9 * kMp3FrameSeconds, 1e-9);
}

TEST(AudioCheck, NonAudioAndMissingFilesAreErrors) {
  TempDir dir;
  auto err = check_error(write_to(dir, "page.mp3", "<!DOCTYPE html><html><body>Access denied</body></html>"));
  EXPECT_EQ(err, "page.mp3: not MP3 or WAV audio: an HTML page");
  EXPECT_TRUE(contains(check_error(write_to(dir, "e.wav", "")), "nothing (empty)"));
  auto missing = check_audio_file(dir / "missing.wav");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind, ErrorKind::io);
  auto bad = check_audio_file(write_to(dir, "j.mp3", "{\"statusCode\":403}"));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, ErrorKind::protocol);
}

// --- files made by a real encoder (ffmpeg), when it is installed --------------------

TEST(AudioCheck, FilesEncodedByFfmpegAreAcceptedWithDurationsLikeFfprobe) {
  const std::string ffmpeg = which("ffmpeg"), ffprobe = which("ffprobe");
  if (ffmpeg.empty() || ffprobe.empty()) GTEST_SKIP() << "ffmpeg/ffprobe not installed (scripts/install-deps.sh installs ffmpeg)";
  TempDir dir;
  for (std::string name : {"real.mp3", "real.wav"}) {
    auto out = dir / name;
    auto r = run({ffmpeg, "-nostdin", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=2:sample_rate=44100",
                  "-ac", "2", out.string()},
                 {}, std::chrono::seconds(60));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto c = check_audio_file(out);
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->format, name == "real.mp3" ? AudioFormat::mp3 : AudioFormat::wav);
    EXPECT_EQ(c->sample_rate, 44100);
    EXPECT_EQ(c->channels, 2);
    auto probe = run({ffprobe, "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", out.string()},
                     {}, std::chrono::seconds(60));
    ASSERT_EQ(probe.exit_code, 0) << probe.err;
    double theirs = std::stod(probe.out);
    // The encoder's delay and padding make an MP3 a few hundredths longer than 2 s.
    EXPECT_NEAR(c->duration_seconds, 2.0, name == "real.mp3" ? 0.08 : 1e-9) << name;
    EXPECT_NEAR(c->duration_seconds, theirs, name == "real.mp3" ? 0.06 : 1e-3) << name;
  }
}
