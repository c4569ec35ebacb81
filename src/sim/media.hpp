// The bytes the simulated CDN serves: silent MP3 streams and small JPEG covers,
// both deterministic functions of the clip id. No Asio or Beast here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace sim {

std::uint64_t hash64(std::string_view s, std::uint64_t seed = 0);
std::uint64_t splitmix64(std::uint64_t x);
std::string sha256_hex(std::string_view data);

// MPEG-1 Layer III, 128 kbps, 48 kHz, mono: 384-byte frames of 24 ms each
// whose side information says zero bits of main data (silence); the unused
// bytes are pseudo-random from the clip id, so each clip hashes differently.
struct Mp3 {
  static constexpr std::size_t frame_bytes = 384;
  static constexpr double frame_seconds = 1152.0 / 48000.0;

  std::uint64_t key = 0;
  std::uint64_t frames = 0;

  Mp3() = default;
  Mp3(std::string_view clip_id, double seconds);
  std::uint64_t size() const { return frames * frame_bytes; }
  double seconds() const { return static_cast<double>(frames) * frame_seconds; }
  // Writes bytes [offset, offset + n) of the stream into out (random access).
  void fill(std::uint64_t offset, char* out, std::size_t n) const;
  std::string bytes(std::uint64_t offset, std::size_t n) const;
  std::string sha256() const;
};

// RIFF/WAVE, PCM 16-bit little-endian: a 44-byte header (RIFF, fmt, data
// chunks with their exact sizes) and quiet noise from the clip id.
struct Wav {
  static constexpr std::size_t header_bytes = 44;

  std::uint64_t key = 0;
  std::uint64_t frames = 0;  // sample frames (one sample per channel)
  std::uint32_t rate = 44100;
  std::uint16_t channels = 1;

  Wav() = default;
  Wav(std::string_view clip_id, double seconds, std::uint32_t rate, std::uint16_t channels);
  std::uint64_t data_bytes() const { return frames * channels * 2; }
  std::uint64_t size() const { return header_bytes + data_bytes(); }
  double seconds() const { return static_cast<double>(frames) / rate; }
  void fill(std::uint64_t offset, char* out, std::size_t n) const;
};

// Real audio (--real-audio): a tone with a known loudness (sim/tone.hpp),
// encoded on first use and kept: every copy of one clip's Audio shares the bytes.
struct Encoded {
  struct Lazy;
  std::shared_ptr<Lazy> lazy;
  std::uint64_t key = 0;
  const std::string& data() const;
  std::uint64_t size() const { return data().size(); }
  double seconds() const;
  const char* profile() const;        // normal, quiet, loud, silent, clipped
  std::optional<double> lufs() const;  // intended integrated loudness (none: silent, clipped)
  void fill(std::uint64_t offset, char* out, std::size_t n) const;
};
// is_wav and rate/channels as the clip's format asks; profile from --loudness-profile.
Encoded make_encoded(std::string_view clip_id, double seconds, bool wav, std::uint32_t rate,
                     std::uint16_t channels, std::string_view profile);

// The audio of one clip: MP3 or WAV, random access.
class Audio {
 public:
  Audio() = default;
  Audio(const Mp3& m) : wav_(false), mp3_(m) {}  // NOLINT: implicit on purpose
  Audio(const Wav& w) : wav_(true), wavd_(w) {}  // NOLINT
  Audio(const Encoded& e, bool wav) : wav_(wav), enc_(e) {}
  bool is_wav() const { return wav_; }
  bool is_encoded() const { return enc_.lazy != nullptr; }
  const Encoded& encoded() const { return enc_; }
  const Mp3& mp3() const { return mp3_; }
  std::uint64_t key() const { return is_encoded() ? enc_.key : wav_ ? wavd_.key : mp3_.key; }
  std::uint64_t size() const { return is_encoded() ? enc_.size() : wav_ ? wavd_.size() : mp3_.size(); }
  double seconds() const { return is_encoded() ? enc_.seconds() : wav_ ? wavd_.seconds() : mp3_.seconds(); }
  void fill(std::uint64_t offset, char* out, std::size_t n) const {
    if (is_encoded()) enc_.fill(offset, out, n);
    else if (wav_) wavd_.fill(offset, out, n);
    else mp3_.fill(offset, out, n);
  }
  std::string bytes(std::uint64_t offset, std::size_t n) const;
  std::string sha256() const;
  const char* content_type() const { return wav_ ? "audio/wav" : "audio/mpeg"; }
  const char* extension() const { return wav_ ? ".wav" : ".mp3"; }
  const char* format() const { return wav_ ? "wav" : "mp3"; }

 private:
  bool wav_ = false;
  Mp3 mp3_;
  Wav wavd_;
  Encoded enc_;
};

// A 64x64 baseline JPEG (YCbCr 4:4:4, DC-only 8x8 blocks) with colours from the id.
std::string make_jpeg(std::string_view clip_id);

}  // namespace sim
