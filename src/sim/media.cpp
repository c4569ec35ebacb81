#include "sim/media.hpp"

#include "sim/tone.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

namespace sim {

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

std::uint64_t hash64(std::string_view s, std::uint64_t seed) {
  std::uint64_t h = 0xcbf29ce484222325ull ^ splitmix64(seed);
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return splitmix64(h);
}

namespace {
struct MdDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
std::string hex(const unsigned char* md, unsigned len) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  s.reserve(len * 2);
  for (unsigned i = 0; i < len; ++i) {
    s += digits[md[i] >> 4];
    s += digits[md[i] & 15];
  }
  return s;
}
}  // namespace

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  return hex(md, len);
}

// ---------------------------------------------------------------------------
// MP3

namespace {
// sync 0xFFF, MPEG-1 (11), Layer III (01), no CRC (1) | 128 kbps (1001), 48 kHz (01),
// no padding, private 0 | mono (11), mode ext 00, not copyrighted, original, no emphasis
constexpr unsigned char kHeader[4] = {0xFF, 0xFB, 0x94, 0xC4};
constexpr std::size_t kSideInfo = 17;  // MPEG-1 mono; all zero: no main data bits
constexpr std::size_t kPayloadStart = 4 + kSideInfo;
}  // namespace

Mp3::Mp3(std::string_view clip_id, double secs) : key(hash64(clip_id, 0x6d7033)) {
  frames = static_cast<std::uint64_t>(std::llround(secs / frame_seconds));
  if (frames == 0) frames = 1;
}

void Mp3::fill(std::uint64_t offset, char* out, std::size_t n) const {
  std::uint64_t end = std::min<std::uint64_t>(offset + n, size());
  std::uint64_t pos = offset;
  while (pos < end) {
    std::uint64_t frame = pos / frame_bytes;
    std::size_t in = static_cast<std::size_t>(pos % frame_bytes);
    std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(frame_bytes - in, end - pos));
    char* dst = out + (pos - offset);
    std::uint64_t frame_key = splitmix64(key ^ (frame * 0x9e3779b97f4a7c15ull));
    for (std::size_t i = 0; i < take;) {
      std::size_t b = in + i;
      if (b < 4) {
        dst[i++] = static_cast<char>(kHeader[b]);
      } else if (b < kPayloadStart) {
        dst[i++] = 0;
      } else {
        std::size_t j = b - kPayloadStart;
        std::uint64_t word = splitmix64(frame_key + j / 8);
        for (std::size_t k = j % 8; k < 8 && i < take; ++k) dst[i++] = static_cast<char>((word >> (8 * k)) & 0xFF);
      }
    }
    pos += take;
  }
}

std::string Mp3::bytes(std::uint64_t offset, std::size_t n) const {
  if (offset >= size()) return {};
  n = static_cast<std::size_t>(std::min<std::uint64_t>(n, size() - offset));
  std::string s(n, '\0');
  fill(offset, s.data(), n);
  return s;
}

namespace {
template <class Media>
std::string digest_of(const Media& m) {
  std::unique_ptr<EVP_MD_CTX, MdDeleter> ctx(EVP_MD_CTX_new());
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  std::vector<char> buf(Mp3::frame_bytes * 256);
  for (std::uint64_t off = 0; off < m.size(); off += buf.size()) {
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), m.size() - off));
    m.fill(off, buf.data(), n);
    EVP_DigestUpdate(ctx.get(), buf.data(), n);
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  return hex(md, len);
}
}  // namespace

std::string Mp3::sha256() const { return digest_of(*this); }

// ---------------------------------------------------------------------------
// WAV

Wav::Wav(std::string_view clip_id, double secs, std::uint32_t r, std::uint16_t ch)
    : key(hash64(clip_id, 0x776176)), rate(r), channels(ch) {
  frames = static_cast<std::uint64_t>(std::llround(secs * rate));
  if (frames == 0) frames = 1;
}

void Wav::fill(std::uint64_t offset, char* out, std::size_t n) const {
  std::uint64_t end = std::min<std::uint64_t>(offset + n, size());
  if (offset >= end) return;
  unsigned char head[header_bytes];
  auto le32 = [&](std::size_t at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) head[at + static_cast<std::size_t>(i)] = static_cast<unsigned char>((v >> (8 * i)) & 0xFF);
  };
  auto le16 = [&](std::size_t at, std::uint16_t v) {
    head[at] = static_cast<unsigned char>(v & 0xFF);
    head[at + 1] = static_cast<unsigned char>(v >> 8);
  };
  std::memcpy(head, "RIFF", 4);
  le32(4, static_cast<std::uint32_t>(size() - 8));
  std::memcpy(head + 8, "WAVEfmt ", 8);
  le32(16, 16);             // fmt chunk size
  le16(20, 1);              // PCM
  le16(22, channels);
  le32(24, rate);
  le32(28, rate * channels * 2u);  // byte rate
  le16(32, static_cast<std::uint16_t>(channels * 2));  // block align
  le16(34, 16);             // bits per sample
  std::memcpy(head + 36, "data", 4);
  le32(40, static_cast<std::uint32_t>(data_bytes()));
  std::uint64_t pos = offset;
  for (; pos < end && pos < header_bytes; ++pos) out[pos - offset] = static_cast<char>(head[pos]);
  // samples: quiet noise (|s| < 128), four 16-bit samples per 64-bit word
  while (pos < end) {
    std::uint64_t d = pos - header_bytes;
    std::uint64_t sample = d / 2;
    std::uint64_t word = splitmix64(key + sample / 4);
    auto v = static_cast<std::int16_t>(static_cast<int>((word >> (16 * (sample % 4))) & 0xFF) - 128);
    auto u = static_cast<std::uint16_t>(v);
    out[pos - offset] = static_cast<char>(d % 2 == 0 ? (u & 0xFF) : (u >> 8));
    ++pos;
  }
}

// ---------------------------------------------------------------------------
// Audio

std::string Audio::bytes(std::uint64_t offset, std::size_t n) const {
  if (offset >= size()) return {};
  n = static_cast<std::size_t>(std::min<std::uint64_t>(n, size() - offset));
  std::string s(n, '\0');
  fill(offset, s.data(), n);
  return s;
}

std::string Audio::sha256() const {
  if (is_encoded()) return sha256_hex(enc_.data());
  return wav_ ? digest_of(wavd_) : digest_of(mp3_);
}

// ---------------------------------------------------------------------------
// Encoded (real audio)

struct Encoded::Lazy {
  ToneSpec spec;
  std::optional<std::string> bytes;
};

Encoded make_encoded(std::string_view clip_id, double seconds, bool wav, std::uint32_t rate,
                     std::uint16_t channels, std::string_view profile) {
  Encoded e;
  e.key = hash64(clip_id, 0x656e63);
  e.lazy = std::make_shared<Encoded::Lazy>();
  e.lazy->spec = tone_for(clip_id, parse_loudness(profile).value_or(Loudness::normal), seconds, wav, rate, channels);
  return e;
}

const std::string& Encoded::data() const {
  if (!lazy->bytes) lazy->bytes = encode_tone(lazy->spec);  // the simulator runs on one thread
  return *lazy->bytes;
}
double Encoded::seconds() const {
  return static_cast<double>(std::llround(lazy->spec.seconds * lazy->spec.rate)) / lazy->spec.rate;
}
const char* Encoded::profile() const { return loudness_name(lazy->spec.profile); }
std::optional<double> Encoded::lufs() const { return lazy->spec.lufs; }
void Encoded::fill(std::uint64_t offset, char* out, std::size_t n) const {
  const std::string& d = data();
  if (offset >= d.size()) return;
  n = static_cast<std::size_t>(std::min<std::uint64_t>(n, d.size() - offset));
  std::memcpy(out, d.data() + offset, n);
}

// ---------------------------------------------------------------------------
// JPEG

namespace {

// Our DC table: code lengths per category 0..11 (canonical codes, Kraft sum < 1).
constexpr std::array<std::uint8_t, 16> kDcBits = {0, 0, 6, 3, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0};
constexpr std::array<std::uint8_t, 12> kDcVals = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
// Our AC table: every block is DC-only, so one symbol: EOB (0x00), code "0".
constexpr std::array<std::uint8_t, 16> kAcBits = {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
constexpr std::uint8_t kQuant = 8;

struct Code {
  std::uint16_t bits = 0;
  std::uint8_t len = 0;
};

std::array<Code, 12> dc_codes() {
  std::array<Code, 12> out{};
  std::uint16_t code = 0;
  std::size_t k = 0;
  for (int len = 1; len <= 16; ++len) {
    for (int i = 0; i < kDcBits[static_cast<std::size_t>(len - 1)]; ++i) {
      out[kDcVals[k++]] = Code{code, static_cast<std::uint8_t>(len)};
      ++code;
    }
    code = static_cast<std::uint16_t>(code << 1);
  }
  return out;
}

class BitWriter {
 public:
  explicit BitWriter(std::string& out) : out_(out) {}
  void put(std::uint32_t bits, int len) {
    for (int i = len - 1; i >= 0; --i) {
      acc_ = static_cast<std::uint8_t>((acc_ << 1) | ((bits >> i) & 1));
      if (++n_ == 8) flush_byte();
    }
  }
  void finish() {
    while (n_ != 0) put(1, 1);  // pad with ones
  }

 private:
  void flush_byte() {
    out_ += static_cast<char>(acc_);
    if (acc_ == 0xFF) out_ += '\0';  // byte stuffing
    acc_ = 0;
    n_ = 0;
  }
  std::string& out_;
  std::uint8_t acc_ = 0;
  int n_ = 0;
};

void marker(std::string& out, std::uint8_t m) {
  out += static_cast<char>(0xFF);
  out += static_cast<char>(m);
}
void u16(std::string& out, unsigned v) {
  out += static_cast<char>((v >> 8) & 0xFF);
  out += static_cast<char>(v & 0xFF);
}

}  // namespace

std::string make_jpeg(std::string_view clip_id) {
  constexpr int kSize = 64, kBlocks = kSize / 8;
  std::uint64_t h = hash64(clip_id, 0x6a7067);
  double base[3] = {static_cast<double>(h & 0xFF), static_cast<double>((h >> 8) & 0xFF),
                    static_cast<double>((h >> 16) & 0xFF)};
  double dx[3] = {static_cast<double>((h >> 24) & 0x1F) - 16, static_cast<double>((h >> 29) & 0x1F) - 16,
                  static_cast<double>((h >> 34) & 0x1F) - 16};
  double dy[3] = {static_cast<double>((h >> 39) & 0x1F) - 16, static_cast<double>((h >> 44) & 0x1F) - 16,
                  static_cast<double>((h >> 49) & 0x1F) - 16};

  std::string out;
  out.reserve(1024);
  marker(out, 0xD8);  // SOI
  marker(out, 0xE0);  // APP0 JFIF
  u16(out, 16);
  out.append("JFIF", 4);
  out += '\0';
  out += '\x01';
  out += '\x01';
  out += '\0';
  u16(out, 1);
  u16(out, 1);
  out += '\0';
  out += '\0';
  marker(out, 0xDB);  // DQT
  u16(out, 67);
  out += '\0';
  out.append(64, static_cast<char>(kQuant));
  marker(out, 0xC0);  // SOF0
  u16(out, 17);
  out += '\x08';
  u16(out, kSize);
  u16(out, kSize);
  out += '\x03';
  for (int c = 1; c <= 3; ++c) {
    out += static_cast<char>(c);
    out += '\x11';
    out += '\0';
  }
  marker(out, 0xC4);  // DHT
  u16(out, 2 + 1 + 16 + kDcVals.size() + 1 + 16 + 1);
  out += '\x00';
  for (auto b : kDcBits) out += static_cast<char>(b);
  for (auto v : kDcVals) out += static_cast<char>(v);
  out += '\x10';
  for (auto b : kAcBits) out += static_cast<char>(b);
  out += '\0';
  marker(out, 0xDA);  // SOS
  u16(out, 12);
  out += '\x03';
  for (int c = 1; c <= 3; ++c) {
    out += static_cast<char>(c);
    out += '\0';
  }
  out += '\0';
  out += '\x3F';
  out += '\0';

  auto codes = dc_codes();
  BitWriter bw(out);
  int pred[3] = {0, 0, 0};
  for (int by = 0; by < kBlocks; ++by) {
    for (int bx = 0; bx < kBlocks; ++bx) {
      double rgb[3];
      for (int k = 0; k < 3; ++k) rgb[k] = std::clamp(base[k] + dx[k] * bx + dy[k] * by, 0.0, 255.0);
      double ycc[3] = {0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2],
                       128 - 0.168736 * rgb[0] - 0.331264 * rgb[1] + 0.5 * rgb[2],
                       128 + 0.5 * rgb[0] - 0.418688 * rgb[1] - 0.081312 * rgb[2]};
      for (int c = 0; c < 3; ++c) {
        // flat block: DCT DC = 8 * (value - 128); quantized by kQuant
        int dc = static_cast<int>(std::lround(8.0 * (ycc[c] - 128.0) / kQuant));
        int diff = dc - pred[c];
        pred[c] = dc;
        int mag = diff < 0 ? -diff : diff;
        int cat = 0;
        while ((1 << cat) <= mag) ++cat;
        bw.put(codes[static_cast<std::size_t>(cat)].bits, codes[static_cast<std::size_t>(cat)].len);
        if (cat > 0) {
          unsigned extra = diff < 0 ? static_cast<unsigned>(diff + (1 << cat) - 1) : static_cast<unsigned>(diff);
          bw.put(extra, cat);
        }
        bw.put(0, 1);  // EOB
      }
    }
  }
  bw.finish();
  marker(out, 0xD9);  // EOI
  return out;
}

}  // namespace sim
