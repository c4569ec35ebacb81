// The bytes the simulated CDN serves: silent MP3 streams and small JPEG covers,
// both deterministic functions of the clip id. No Asio or Beast here.
#pragma once

#include <cstddef>
#include <cstdint>
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

// A 64x64 baseline JPEG (YCbCr 4:4:4, DC-only 8x8 blocks) with colours from the id.
std::string make_jpeg(std::string_view clip_id);

}  // namespace sim
