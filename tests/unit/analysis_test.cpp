// Audio analysis (#19): decoding and loudness against signals whose loudness
// is known by construction (a sine of peak A in one channel measures
// 20*log10(A) - 3.01 LUFS, ITU-R BS.1770), written here with libsndfile.
#include <gtest/gtest.h>
#include <sndfile.h>

#include <cmath>
#include <filesystem>
#include <numbers>
#include <vector>

#include "setlist/analysis.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace setlist;

namespace {

// Writes `seconds` of a 997 Hz sine (peak `amp`, clipped at +-clip when clip > 0)
// in every channel; silence from `silent_from` seconds on when >= 0.
void write_tone(const fs::path& p, int format, double amp, double seconds, int rate = 48000, int channels = 1,
                double clip = 0, double silent_from = -1) {
  SF_INFO info{};
  info.samplerate = rate;
  info.channels = channels;
  info.format = format;
  SNDFILE* f = sf_open(p.c_str(), SFM_WRITE, &info);
  ASSERT_NE(f, nullptr) << sf_strerror(nullptr);
  const auto total = static_cast<long>(std::lround(seconds * rate));
  std::vector<float> buf(static_cast<std::size_t>(channels));
  for (long i = 0; i < total; ++i) {
    double v = amp * std::sin(2 * std::numbers::pi * 997.0 * static_cast<double>(i) / rate);
    if (clip > 0) v = std::clamp(v, -clip, clip);
    if (silent_from >= 0 && static_cast<double>(i) >= silent_from * rate) v = 0;
    for (auto& s : buf) s = static_cast<float>(v);
    sf_writef_float(f, buf.data(), 1);
  }
  sf_close(f);
}

double lufs_of_sine(double amp, int channels = 1) {
  return 20 * std::log10(amp) - 3.0103 + 10 * std::log10(static_cast<double>(channels));
}

constexpr int kWav16 = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
constexpr int kMp3 = SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III;

}  // namespace

TEST(Analysis, SineInWavMeasuresItsKnownLoudnessPeakAndDuration) {
  test::TempDir dir;
  auto p = dir / "tone.wav";
  write_tone(p, kWav16, 0.25, 5.0);
  auto a = analyze_audio(p);
  ASSERT_TRUE(a) << a.error().message;
  ASSERT_TRUE(a->integrated_lufs);
  EXPECT_NEAR(*a->integrated_lufs, lufs_of_sine(0.25), 0.1);
  EXPECT_NEAR(a->sample_peak, 0.25, 0.001);
  ASSERT_TRUE(a->true_peak);
  EXPECT_NEAR(*a->true_peak, 0.25, 0.005);
  EXPECT_NEAR(a->loudness_range_lu, 0.0, 0.2);  // a steady tone
  EXPECT_DOUBLE_EQ(a->duration_seconds, 5.0);
  EXPECT_EQ(a->sample_rate, 48000);
  EXPECT_EQ(a->channels, 1);
  EXPECT_LT(a->longest_silence_seconds, 0.01);
  EXPECT_EQ(a->clipped_runs, 0u);
  EXPECT_GE(a->waveform.size(), 290u);
  EXPECT_LE(a->waveform.size(), 310u);
  for (float w : a->waveform) EXPECT_NEAR(w, 0.25, 0.01);
  // the block histogram alone gives the same integrated loudness
  auto from_blocks = gated_loudness(a->blocks);
  ASSERT_TRUE(from_blocks);
  EXPECT_NEAR(*from_blocks, *a->integrated_lufs, 0.1);
  EXPECT_EQ(a->blocks.blocks(), 47u);  // (5 s - 0.4 s) / 0.1 s + 1
  EXPECT_TRUE(flag_take(*a, {}, 6.0).empty());
}

TEST(Analysis, StereoAndTruePeakOff) {
  test::TempDir dir;
  auto p = dir / "stereo.wav";
  write_tone(p, SF_FORMAT_WAV | SF_FORMAT_FLOAT, 0.1, 2.0, 44100, 2);
  AnalysisOptions opt;
  opt.true_peak = false;
  auto a = analyze_audio(p, opt);
  ASSERT_TRUE(a) << a.error().message;
  ASSERT_TRUE(a->integrated_lufs);
  EXPECT_NEAR(*a->integrated_lufs, lufs_of_sine(0.1, 2), 0.1);
  EXPECT_FALSE(a->true_peak);
  EXPECT_EQ(a->channels, 2);
}

TEST(Analysis, Mp3DecodesThroughLibsndfileWithinHalfALoudnessUnit) {
  test::TempDir dir;
  auto p = dir / "tone.mp3";
  write_tone(p, kMp3, 0.5, 4.0);
  auto a = analyze_audio(p);
  ASSERT_TRUE(a) << a.error().message;
  ASSERT_TRUE(a->integrated_lufs);
  EXPECT_NEAR(*a->integrated_lufs, lufs_of_sine(0.5), 0.5);
  EXPECT_NEAR(a->duration_seconds, 4.0, 0.05);
}

TEST(Analysis, DigitalSilenceHasNoLoudnessAndIsFlaggedSilent) {
  test::TempDir dir;
  auto p = dir / "silence.wav";
  write_tone(p, kWav16, 0.0, 3.0);
  auto a = analyze_audio(p);
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_FALSE(a->integrated_lufs);
  EXPECT_EQ(a->blocks.blocks(), 0u);
  EXPECT_DOUBLE_EQ(a->longest_silence_seconds, 3.0);
  EXPECT_EQ(flag_take(*a, {}, std::nullopt), std::vector<std::string>{"silent"});
}

TEST(Analysis, LongSilentStretchIsFlaggedEvenWhenTheRestIsLoud) {
  test::TempDir dir;
  auto p = dir / "gap.wav";
  write_tone(p, kWav16, 0.5, 6.0, 8000, 1, 0, 2.0);  // 2 s of tone, 4 s of nothing
  auto a = analyze_audio(p);
  ASSERT_TRUE(a) << a.error().message;
  ASSERT_TRUE(a->integrated_lufs);
  EXPECT_NEAR(a->longest_silence_seconds, 4.0, 0.01);
  FlagThresholds t;
  t.silence_stretch_s = 3;
  EXPECT_EQ(flag_take(*a, t, std::nullopt), std::vector<std::string>{"silent"});
  t.silence_stretch_s = 5;
  EXPECT_TRUE(flag_take(*a, t, std::nullopt).empty());
}

TEST(Analysis, ClippedSineIsFlaggedClippedAndACleanLoudOneIsNot) {
  test::TempDir dir;
  auto clipped = dir / "clipped.wav", clean = dir / "clean.wav";
  write_tone(clipped, SF_FORMAT_WAV | SF_FORMAT_FLOAT, 2.0, 2.0, 48000, 1, 1.0);
  write_tone(clean, SF_FORMAT_WAV | SF_FORMAT_FLOAT, 0.95, 2.0);
  auto a = analyze_audio(clipped);
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_GT(a->clipped_runs, 1000u);  // two flat tops per 997 Hz period
  ASSERT_TRUE(a->true_peak);
  EXPECT_GT(to_db(*a->true_peak), 0.0);  // the reconstructed wave overshoots full scale
  EXPECT_EQ(flag_take(*a, {}, std::nullopt), std::vector<std::string>{"clipped"});
  auto b = analyze_audio(clean);
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_EQ(b->clipped_runs, 0u);
  EXPECT_TRUE(flag_take(*b, {}, std::nullopt).empty());
}

TEST(Analysis, ShortAgainstTheRequestedLength) {
  AudioAnalysis a;
  a.integrated_lufs = -14;
  a.duration_seconds = 20;
  EXPECT_EQ(flag_take(a, {}, 60.0), std::vector<std::string>{"short"});
  EXPECT_TRUE(flag_take(a, {}, 39.0).empty());
  EXPECT_TRUE(flag_take(a, {}, std::nullopt).empty());
}

TEST(Analysis, AlbumLoudnessPoolsTheBlocksOfItsTakes) {
  test::TempDir dir;
  auto p1 = dir / "a.wav", p2 = dir / "b.wav", both = dir / "both.wav";
  write_tone(p1, kWav16, 0.1, 3.0);
  write_tone(p2, kWav16, 0.3, 3.0);
  auto a = analyze_audio(p1), b = analyze_audio(p2);
  ASSERT_TRUE(a && b);
  auto album = album_loudness({&*a, &*b});
  ASSERT_TRUE(album.lufs);
  EXPECT_EQ(album.takes, 2u);
  // equal lengths, both above the relative gate: the mean of their energies
  double expect = 10 * std::log10((std::pow(10, lufs_of_sine(0.1) / 10) + std::pow(10, lufs_of_sine(0.3) / 10)) / 2);
  EXPECT_NEAR(*album.lufs, expect, 0.1);
  EXPECT_NEAR(album.peak, 0.3, 0.01);
  // a silent take adds nothing to the loudness
  auto s = dir / "s.wav";
  write_tone(s, kWav16, 0.0, 3.0);
  auto silent = analyze_audio(s);
  ASSERT_TRUE(silent);
  EXPECT_NEAR(*album_loudness({&*a, &*b, &*silent}).lufs, expect, 0.1);
  EXPECT_FALSE(album_loudness({&*silent}).lufs);
}

TEST(Analysis, HistogramRoundTripsAndRefusesGarbage) {
  BlockHistogram h;
  h.add(-14.03);
  h.add(-14.04);
  h.add(-80);  // below the absolute gate: not kept
  h.add(-3.2);
  auto text = h.encode();
  auto back = BlockHistogram::decode(text);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->bins, h.bins);
  EXPECT_EQ(back->blocks(), 3u);
  EXPECT_TRUE(BlockHistogram::decode("")->bins.empty());
  EXPECT_FALSE(BlockHistogram::decode("12"));
  EXPECT_FALSE(BlockHistogram::decode("a:1"));
  EXPECT_FALSE(BlockHistogram::decode("-3:1"));
}

TEST(Analysis, ReplayGainTextIsRelativeToMinus18Lufs) {
  EXPECT_EQ(replaygain_gain_text(-14.0), "-4.00 dB");
  EXPECT_EQ(replaygain_gain_text(-23.456), "5.46 dB");
  EXPECT_EQ(replaygain_peak_text(0.5), "0.500000");
}

TEST(Analysis, NotAudioIsAnError) {
  test::TempDir dir;
  auto p = dir / "page.mp3";
  test::write_file(p, "<html>not audio</html>\n");
  auto a = analyze_audio(p);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().kind, ErrorKind::protocol);
  EXPECT_FALSE(analyze_audio(dir / "missing.wav"));
}

// The cheaper true peak (TruePeakMeter: our 4x interpolator over the chunks
// that can raise the peak) reads what libebur128's true peak reads, within
// 0.2 dB, on signals whose intersample peaks differ from their sample peaks.
TEST(Analysis, FastTruePeakAgreesWithLibebur128) {
  test::TempDir dir;
  auto write = [&](const fs::path& p, const std::vector<float>& mono, int rate) {
    SF_INFO info{};
    info.samplerate = rate;
    info.channels = 1;
    info.format = SF_FORMAT_WAV | SF_FORMAT_FLOAT;
    SNDFILE* f = sf_open(p.c_str(), SFM_WRITE, &info);
    ASSERT_NE(f, nullptr) << sf_strerror(nullptr);
    sf_writef_float(f, mono.data(), static_cast<sf_count_t>(mono.size()));
    sf_close(f);
  };
  const int rate = 48000;
  std::vector<fs::path> files;
  {
    // fs/4 at 45 degrees: every sample at 0.707 of the wave's peak (+3 dB between them).
    std::vector<float> v(rate * 2);
    for (std::size_t i = 0; i < v.size(); ++i)
      v[i] = static_cast<float>(0.9 * std::sin(std::numbers::pi / 2 * static_cast<double>(i) + std::numbers::pi / 4));
    files.push_back(dir / "quarter.wav");
    write(files.back(), v, rate);
  }
  {
    // Noise rising over 5 s, one loud click in the middle, a quiet end: the
    // chunks that can raise the peak move as it plays.
    std::vector<float> v(rate * 5);
    std::uint32_t x = 12345;
    for (std::size_t i = 0; i < v.size(); ++i) {
      x = x * 1664525u + 1013904223u;
      const double r = (static_cast<double>(x >> 8) / 16777216.0) * 2 - 1;
      const double env = i < v.size() * 4 / 5 ? 0.1 + 0.5 * static_cast<double>(i) / static_cast<double>(v.size()) : 0.05;
      v[i] = static_cast<float>(r * env);
    }
    for (int k = 0; k < 4; ++k) v[rate * 2 + static_cast<std::size_t>(k)] = k % 2 ? -0.97f : 0.97f;
    files.push_back(dir / "noise.wav");
    write(files.back(), v, rate);
  }
  files.push_back(dir / "clipped.wav");
  write_tone(files.back(), SF_FORMAT_WAV | SF_FORMAT_FLOAT, 2.0, 2.0, rate, 1, 1.0);
  files.push_back(dir / "tone.wav");
  write_tone(files.back(), SF_FORMAT_WAV | SF_FORMAT_FLOAT, 0.25, 2.0, rate, 2);
  for (auto& f : files) {
    AnalysisOptions fast, r128;
    r128.fast_true_peak = false;
    auto a = analyze_audio(f, fast);
    auto b = analyze_audio(f, r128);
    ASSERT_TRUE(a && b) << f;
    ASSERT_TRUE(a->true_peak && b->true_peak) << f;
    EXPECT_NEAR(to_db(*a->true_peak), to_db(*b->true_peak), 0.2) << f.filename();
    EXPECT_EQ(a->integrated_lufs, b->integrated_lufs) << "true peak changes nothing else";
  }
  auto q = analyze_audio(files[0]);
  ASSERT_TRUE(q && q->true_peak);
  EXPECT_NEAR(q->sample_peak, 0.9 * std::sqrt(0.5), 0.001);
  EXPECT_NEAR(to_db(*q->true_peak), to_db(0.9), 0.2) << "the peak between the samples";
}
