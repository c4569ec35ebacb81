#include "sim/tone.hpp"

#include <sndfile.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>
#include <stdexcept>

#include "sim/media.hpp"

namespace sim {

std::optional<Loudness> parse_loudness(std::string_view n) {
  if (n == "normal") return Loudness::normal;
  if (n == "quiet") return Loudness::quiet;
  if (n == "loud") return Loudness::loud;
  if (n == "silent") return Loudness::silent;
  if (n == "clipped") return Loudness::clipped;
  return std::nullopt;
}

const char* loudness_name(Loudness l) {
  switch (l) {
    case Loudness::normal: return "normal";
    case Loudness::quiet: return "quiet";
    case Loudness::loud: return "loud";
    case Loudness::silent: return "silent";
    case Loudness::clipped: return "clipped";
  }
  return "normal";
}

ToneSpec tone_for(std::string_view clip_id, Loudness profile, double seconds, bool wav, std::uint32_t rate,
                  std::uint16_t channels) {
  ToneSpec s;
  s.profile = profile;
  s.seconds = seconds;
  s.wav = wav;
  s.rate = wav ? rate : 48000;
  s.channels = wav ? channels : 1;
  const double ch_gain = 10.0 * std::log10(static_cast<double>(s.channels));
  auto amplitude_for = [&](double lufs) { return std::pow(10.0, (lufs + 3.0103 - ch_gain) / 20.0); };
  double target = 0;
  switch (profile) {
    case Loudness::normal: {
      double u = static_cast<double>(hash64(clip_id, 0x6c756673) >> 11) / static_cast<double>(1ull << 53);
      target = std::round((-20.0 + 10.0 * u) * 10.0) / 10.0;
      break;
    }
    case Loudness::quiet: target = -35; break;
    case Loudness::loud: target = -7; break;
    case Loudness::silent: return s;
    case Loudness::clipped:
      s.amplitude = 2.0;
      s.clip_at = 1.0;
      return s;
  }
  s.amplitude = amplitude_for(target);
  s.lufs = target;
  return s;
}

namespace {
struct Sink {
  std::string data;
  sf_count_t pos = 0;
};
sf_count_t vlen(void* u) { return static_cast<sf_count_t>(static_cast<Sink*>(u)->data.size()); }
sf_count_t vseek(sf_count_t off, int whence, void* u) {
  auto* s = static_cast<Sink*>(u);
  sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? s->pos : static_cast<sf_count_t>(s->data.size());
  s->pos = std::max<sf_count_t>(0, base + off);
  return s->pos;
}
sf_count_t vread(void* ptr, sf_count_t n, void* u) {
  auto* s = static_cast<Sink*>(u);
  sf_count_t avail = std::max<sf_count_t>(0, static_cast<sf_count_t>(s->data.size()) - s->pos);
  n = std::min(n, avail);
  if (n > 0) std::memcpy(ptr, s->data.data() + s->pos, static_cast<std::size_t>(n));
  s->pos += n;
  return n;
}
sf_count_t vwrite(const void* ptr, sf_count_t n, void* u) {
  auto* s = static_cast<Sink*>(u);
  auto end = static_cast<std::size_t>(s->pos + n);
  if (s->data.size() < end) s->data.resize(end);
  std::memcpy(s->data.data() + s->pos, ptr, static_cast<std::size_t>(n));
  s->pos += n;
  return n;
}
sf_count_t vtell(void* u) { return static_cast<Sink*>(u)->pos; }
}  // namespace

std::string encode_tone(const ToneSpec& spec) {
  SF_INFO info{};
  info.samplerate = static_cast<int>(spec.rate);
  info.channels = spec.channels;
  info.format = spec.wav ? (SF_FORMAT_WAV | SF_FORMAT_PCM_16) : (SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III);
  SF_VIRTUAL_IO io{vlen, vseek, vread, vwrite, vtell};
  Sink sink;
  SNDFILE* f = sf_open_virtual(&io, SFM_WRITE, &info, &sink);
  if (!f) throw std::runtime_error(std::string("libsndfile cannot encode: ") + sf_strerror(nullptr));
  const auto total = static_cast<std::int64_t>(std::llround(spec.seconds * spec.rate));
  constexpr std::int64_t kChunk = 4096;
  std::vector<float> buf(static_cast<std::size_t>(kChunk) * spec.channels);
  const double w = 2.0 * std::numbers::pi * 997.0 / spec.rate;
  for (std::int64_t at = 0; at < total; at += kChunk) {
    std::int64_t n = std::min(kChunk, total - at);
    for (std::int64_t i = 0; i < n; ++i) {
      double v = spec.amplitude * std::sin(w * static_cast<double>(at + i));
      if (spec.clip_at > 0) v = std::clamp(v, -spec.clip_at, spec.clip_at);
      for (std::uint16_t c = 0; c < spec.channels; ++c)
        buf[static_cast<std::size_t>(i) * spec.channels + c] = static_cast<float>(v);
    }
    sf_writef_float(f, buf.data(), n);
  }
  sf_close(f);
  return std::move(sink.data);
}

}  // namespace sim
