// Real audio for --real-audio: a 997 Hz tone at a loudness the simulator
// chooses, encoded once per clip (MP3 through libsndfile/LAME, or 16-bit
// WAV). The loudness is known by construction, not measured: a sine of peak
// amplitude A in one channel is 20*log10(A) - 3.01 LUFS (ITU-R BS.1770's
// calibration), +10*log10(channels) when every channel carries it.
// No Asio, Beast or libsndfile types here.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sim {

enum class Loudness { normal, quiet, loud, silent, clipped };

std::optional<Loudness> parse_loudness(std::string_view name);
const char* loudness_name(Loudness l);

struct ToneSpec {
  Loudness profile = Loudness::normal;
  double seconds = 1;
  bool wav = false;
  std::uint32_t rate = 48000;
  std::uint16_t channels = 1;
  double amplitude = 0;              // peak, before any clipping (0: silence)
  std::optional<double> lufs;        // intended integrated loudness; none: silent or clipped
  double clip_at = 0;                // > 0: samples hard-clipped at +-clip_at
};

// The tone a clip gets: normal ones between -20 and -10 LUFS (from the id),
// quiet -35, loud -7, silent all zeros, clipped a sine of peak 2.0 clipped
// at full scale (runs of samples at +-1.0; its true peak exceeds 0 dBTP).
ToneSpec tone_for(std::string_view clip_id, Loudness profile, double seconds, bool wav,
                  std::uint32_t rate, std::uint16_t channels);

// Encodes the tone; throws std::runtime_error if libsndfile cannot.
std::string encode_tone(const ToneSpec& spec);

}  // namespace sim
