// Small audio files written by the tests themselves: a PCM WAV and MPEG-1
// Layer III frames (headers that chain; silent, meaningless payload).
#pragma once

#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace setlist::test {

inline std::string le16(std::uint16_t v) { return {static_cast<char>(v & 0xFF), static_cast<char>(v >> 8)}; }
inline std::string le32(std::uint32_t v) {
  return {static_cast<char>(v & 0xFF), static_cast<char>((v >> 8) & 0xFF), static_cast<char>((v >> 16) & 0xFF),
          static_cast<char>((v >> 24) & 0xFF)};
}

// A RIFF chunk: id, little-endian size, body, a pad byte when the size is odd.
inline std::string riff_chunk(const std::string& id, const std::string& body) {
  std::string c = id + le32(static_cast<std::uint32_t>(body.size())) + body;
  if (body.size() % 2) c += '\0';
  return c;
}

// 16-bit PCM samples of a 440 Hz sine, interleaved.
inline std::string pcm16_sine(int rate, int channels, std::uint32_t frames) {
  std::string s;
  s.reserve(static_cast<std::size_t>(frames) * channels * 2);
  for (std::uint32_t i = 0; i < frames; ++i) {
    auto v = static_cast<std::int16_t>(std::lround(8000 * std::sin(2 * M_PI * 440.0 * i / rate)));
    for (int c = 0; c < channels; ++c) s += le16(static_cast<std::uint16_t>(v));
  }
  return s;
}

inline std::string wav_fmt(int rate, int channels, int bits) {
  const auto align = static_cast<std::uint16_t>(channels * bits / 8);
  return le16(1) + le16(static_cast<std::uint16_t>(channels)) + le32(static_cast<std::uint32_t>(rate)) +
         le32(static_cast<std::uint32_t>(rate) * align) + le16(align) + le16(static_cast<std::uint16_t>(bits));
}

// "RIFF" <size> "WAVE" followed by `chunks` (already framed by riff_chunk).
inline std::string riff_wave(const std::string& chunks) {
  return "RIFF" + le32(static_cast<std::uint32_t>(4 + chunks.size())) + "WAVE" + chunks;
}

// A whole 16-bit PCM WAV: fmt, data, then `extra` chunks.
inline std::string make_wav(int rate, int channels, std::uint32_t frames, const std::string& extra = {}) {
  return riff_wave(riff_chunk("fmt ", wav_fmt(rate, channels, 16)) +
                   riff_chunk("data", pcm16_sine(rate, channels, frames)) + extra);
}

// MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, mono: 417 bytes, 418 with the
// padding bit. `padded_every` > 0 sets the padding bit on every n-th frame,
// as an encoder does to keep the average bitrate exact.
inline std::string mp3_frame(bool padded, char fill = '\x55') {
  std::string f(padded ? 418 : 417, fill);
  f[0] = '\xFF';
  f[1] = '\xFB';
  f[2] = padded ? '\x92' : '\x90';
  f[3] = '\xC0';
  for (int i = 4; i < 4 + 17; ++i) f[static_cast<std::size_t>(i)] = '\0';  // side information
  return f;
}
inline std::string mp3_frames(int n, int padded_every = 3) {
  std::string out;
  for (int i = 0; i < n; ++i) out += mp3_frame(padded_every > 0 && i % padded_every == padded_every - 1);
  return out;
}
constexpr double kMp3FrameSeconds = 1152.0 / 44100.0;

// An ID3v2.4 header declaring `body` bytes (synchsafe), followed by that many zero bytes (padding).
inline std::string empty_id3v2(std::uint32_t body) {
  std::string h = "ID3";
  h += '\x04';
  h += '\0';
  h += '\0';
  h += static_cast<char>((body >> 21) & 0x7F);
  h += static_cast<char>((body >> 14) & 0x7F);
  h += static_cast<char>((body >> 7) & 0x7F);
  h += static_cast<char>(body & 0x7F);
  return h + std::string(body, '\0');
}

// The full path of a program on $PATH, "" when absent (child processes are
// started with execve, which does not search PATH).
inline std::string which(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    std::size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string candidate = dirs.substr(start, end - start) + "/" + name;
    if (end > start && ::access(candidate.c_str(), X_OK) == 0 && std::filesystem::is_regular_file(candidate))
      return candidate;
    start = end + 1;
  }
  return "";
}

}  // namespace setlist::test
