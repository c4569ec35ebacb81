// Audio analysis (#19): every finished take decoded once, streaming, on the
// disk thread: EBU R128 loudness, peaks, real duration, silence, clipping and
// a small waveform; ReplayGain 2.0 values from it. No libsndfile or
// libebur128 types here.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "setlist/result.hpp"

namespace setlist {

// The loudness of every 400 ms gating block (75 % overlap, BS.1770-4) of a
// take, in 0.1 LU bins: enough to compute the integrated loudness of any set
// of takes (an album) without decoding them again. Blocks below the absolute
// gate (-70 LUFS) are not kept.
struct BlockHistogram {
  static constexpr double kFloor = -70.0;  // LUFS, the absolute gate
  static constexpr double kStep = 0.1;     // LU per bin
  std::map<int, std::uint32_t> bins;       // bin -> blocks; bin b covers [kFloor + b*kStep, +kStep)

  void add(double block_lufs);
  void merge(const BlockHistogram& other);
  std::uint64_t blocks() const;
  // "bin:count,bin:count" (sorted); decode() refuses anything else.
  std::string encode() const;
  static std::optional<BlockHistogram> decode(std::string_view text);
};

// BS.1770 gated loudness of the blocks: absolute gate -70 LUFS, relative
// gate -10 LU below the loudness of the blocks above it. None when no block
// passes (digital silence).
std::optional<double> gated_loudness(const BlockHistogram& h);

struct AudioAnalysis {
  std::optional<double> integrated_lufs;  // none: silence (every block below -70 LUFS)
  double loudness_range_lu = 0;
  std::optional<double> true_peak;  // linear, the highest of the channels; none when not measured
  double sample_peak = 0;           // linear
  double duration_seconds = 0;      // decoded sample frames / rate
  int sample_rate = 0;
  int channels = 0;
  double longest_silence_seconds = 0;  // longest stretch with every channel below -60 dBFS
  std::uint64_t clipped_runs = 0;      // runs of >= 3 samples at full scale (|x| >= 0.98) in a channel
  std::vector<float> waveform;         // max |x| per slice, about AnalysisOptions::waveform_points of them
  BlockHistogram blocks;
};

struct AnalysisOptions {
  bool true_peak = true;  // 4x oversampling (BS.1770 Annex 2); false: none
  // true: our interpolator over the chunks that can raise the peak (analysis.cpp,
  // TruePeakMeter; bench F); false: libebur128's EBUR128_MODE_TRUE_PEAK over every sample.
  bool fast_true_peak = true;
  int waveform_points = 300;
};

// Decodes `path` (MP3, WAV, FLAC; whatever libsndfile reads) in chunks of
// 100 ms, never holding the whole take. ErrorKind::protocol when the file
// cannot be decoded.
Result<AudioAnalysis> analyze_audio(const std::filesystem::path& path, const AnalysisOptions& opt = {});

// When a take is flagged (thresholds from Settings::flag_*): "silent"
// (no loudness, integrated below silence_lufs, or a silent stretch of
// silence_stretch_s or more), "clipped" (clipped_runs runs or more and a
// true peak, else sample peak, above clipped_true_peak dB), "short" (under
// short_fraction of the requested length, when one was requested).
struct FlagThresholds {
  double silence_lufs = -50;
  double silence_stretch_s = 10;
  int clipped_runs = 10;
  double clipped_true_peak_db = 0;
  double short_fraction = 0.5;
};
std::vector<std::string> flag_take(const AudioAnalysis& a, const FlagThresholds& t,
                                   std::optional<double> requested_seconds);

// The album's loudness: the gating blocks of its takes pooled (BS.1770 over
// the whole album, as if played back to back), its peak the highest of theirs.
struct AlbumLoudness {
  std::optional<double> lufs;  // none: no take, or only silence
  double peak = 0;             // linear (true peak where measured)
  std::size_t takes = 0;
};
AlbumLoudness album_loudness(const std::vector<const AudioAnalysis*>& takes);
// The same, one take at a time (an album's analyses need not be held at once).
class AlbumLoudnessSum {
 public:
  void add(const AudioAnalysis& a);
  AlbumLoudness result() const;

 private:
  BlockHistogram all_;
  AlbumLoudness sum_;
};

// ReplayGain 2.0 (reference -18 LUFS): the gain in dB that brings `lufs` to
// the reference, written "-3.52 dB"; the peak as a linear "0.988553".
constexpr double kReplayGainReference = -18.0;
std::string replaygain_gain_text(double lufs);
std::string replaygain_peak_text(double linear_peak);

// dBFS / dBTP of a linear peak (-inf as -200).
double to_db(double linear);

}  // namespace setlist
