// Audio formats from the bytes: detection, a structural check of a whole
// file (WAV chunk sizes, chained MPEG frames) and the duration it implies.
// No TagLib here: the check must not depend on a tag library's leniency.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>

#include "setlist/output.hpp"

namespace setlist {

namespace {

Error bad_audio(const std::filesystem::path& path, std::string msg) {
  Error e;
  e.kind = ErrorKind::protocol;
  e.message = path.filename().string() + ": " + std::move(msg);
  return e;
}

Error io_failure(const std::filesystem::path& path, const std::string& what, int err) {
  Error e;
  e.kind = ErrorKind::io;
  e.message = what + " " + path.string() + ": " + std::strerror(err);
  return e;
}

std::uint32_t le32(const unsigned char* p) {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}
std::uint16_t le16(const unsigned char* p) {
  return static_cast<std::uint16_t>(p[0] | p[1] << 8);
}

const unsigned char* bytes_of(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

// --- MPEG audio frame headers ---------------------------------------------------

struct MpegHeader {
  int version = 0;  // 10 = MPEG-1, 20 = MPEG-2, 25 = MPEG-2.5
  int layer = 0;    // 1, 2, 3
  int bitrate_kbps = 0;
  int sample_rate = 0;
  bool crc = false;
  int channel_mode = 0;  // 3 = mono
  std::uint32_t length = 0;   // whole frame, header included
  std::uint32_t samples = 0;  // per channel
};

// Kbit/s by bitrate index 1..14.
constexpr int kBitrateV1[3][14] = {
    {32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448},  // layer I
    {32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384},     // layer II
    {32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320},      // layer III
};
constexpr int kBitrateV2[2][14] = {
    {32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256},  // layer I
    {8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160},       // layers II and III
};
constexpr int kSampleRate[3][3] = {{44100, 48000, 32000}, {22050, 24000, 16000}, {11025, 12000, 8000}};

// Free-format frames (bitrate index 0) have no computable length and are
// refused, as are reserved values.
std::optional<MpegHeader> parse_mpeg_header(const unsigned char* b) {
  if (b[0] != 0xFF || (b[1] & 0xE0) != 0xE0) return std::nullopt;
  int vbits = (b[1] >> 3) & 3, lbits = (b[1] >> 1) & 3;
  int bidx = b[2] >> 4, sidx = (b[2] >> 2) & 3;
  if (vbits == 1 || lbits == 0 || bidx == 0 || bidx == 15 || sidx == 3 || (b[3] & 3) == 2) return std::nullopt;
  MpegHeader h;
  h.version = vbits == 3 ? 10 : vbits == 2 ? 20 : 25;
  h.layer = 4 - lbits;
  h.crc = (b[1] & 1) == 0;
  h.channel_mode = b[3] >> 6;
  h.sample_rate = kSampleRate[h.version == 10 ? 0 : h.version == 20 ? 1 : 2][sidx];
  h.bitrate_kbps = h.version == 10 ? kBitrateV1[h.layer - 1][bidx - 1] : kBitrateV2[h.layer == 1 ? 0 : 1][bidx - 1];
  const std::uint32_t pad = (b[2] >> 1) & 1;
  const std::uint32_t br = static_cast<std::uint32_t>(h.bitrate_kbps) * 1000;
  const std::uint32_t sr = static_cast<std::uint32_t>(h.sample_rate);
  if (h.layer == 1) {
    h.length = (12 * br / sr + pad) * 4;
    h.samples = 384;
  } else if (h.layer == 2 || h.version == 10) {
    h.length = 144 * br / sr + pad;
    h.samples = 1152;
  } else {  // layer III, MPEG-2 and 2.5: half the samples
    h.length = 72 * br / sr + pad;
    h.samples = 576;
  }
  return h;
}

bool same_stream(const MpegHeader& a, const MpegHeader& b) {
  return a.version == b.version && a.layer == b.layer && a.sample_rate == b.sample_rate;
}

// Where an Xing/Info (LAME) or VBRI header sits in the first frame: that
// frame carries no audio.
std::size_t xing_offset(const MpegHeader& h) {
  std::size_t side = h.version == 10 ? (h.channel_mode == 3 ? 17 : 32) : (h.channel_mode == 3 ? 9 : 17);
  return 4 + (h.crc ? 2 : 0) + side;
}

// A complete ID3v2 header: "ID3", version 2..4, a revision, flags, a synchsafe size.
bool id3v2_header(const unsigned char* b) {
  return b[0] == 'I' && b[1] == 'D' && b[2] == '3' && b[3] >= 2 && b[3] <= 4 && b[4] != 0xFF && b[6] < 0x80 &&
         b[7] < 0x80 && b[8] < 0x80 && b[9] < 0x80;
}
std::uint64_t id3v2_total_size(const unsigned char* b) {
  std::uint64_t n = (static_cast<std::uint64_t>(b[6]) << 21) | (static_cast<std::uint64_t>(b[7]) << 14) |
                    (static_cast<std::uint64_t>(b[8]) << 7) | b[9];
  return 10 + n + ((b[5] & 0x10) ? 10 : 0);  // footer
}

// --- reading a file in blocks ----------------------------------------------------

class BlockReader {
 public:
  explicit BlockReader(int fd, std::uint64_t size) : fd_(fd), size_(size) {}
  std::uint64_t size() const { return size_; }
  int error() const { return errno_; }

  // Copies n bytes (n <= 64) at `off`; false when the file has fewer or a read fails.
  bool read(std::uint64_t off, std::size_t n, unsigned char* out) {
    if (off > size_ || n > size_ - off) return false;
    if (off < block_off_ || off + n > block_off_ + len_) {
      if (!fill(off)) return false;
      if (off + n > block_off_ + len_) return false;
    }
    std::memcpy(out, block_.data() + (off - block_off_), n);
    return true;
  }

 private:
  bool fill(std::uint64_t off) {
    block_off_ = off;
    len_ = 0;
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(block_.size(), size_ - off));
    while (len_ < want) {
      ssize_t r = ::pread(fd_, block_.data() + len_, want - len_, static_cast<off_t>(off + len_));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) {
        errno_ = errno;
        return false;
      }
      if (r == 0) break;  // the file shrank under us
      len_ += static_cast<std::size_t>(r);
    }
    return true;
  }

  int fd_;
  std::uint64_t size_;
  std::array<unsigned char, 256 * 1024> block_{};
  std::uint64_t block_off_ = 0;
  std::size_t len_ = 0;
  int errno_ = 0;
};

std::string chunk_name(const unsigned char* id) {
  std::string s;
  for (int i = 0; i < 4; ++i) {
    if (id[i] >= 0x20 && id[i] < 0x7F) {
      s += static_cast<char>(id[i]);
    } else {
      static const char* hex = "0123456789abcdef";
      s += "\\x";
      s += hex[id[i] >> 4];
      s += hex[id[i] & 15];
    }
  }
  return "'" + s + "'";
}

constexpr std::uint32_t kPlaceholder = 0xFFFFFFFFu;

Result<AudioCheck> check_wav(const std::filesystem::path& path, BlockReader& r) {
  const std::uint64_t file_size = r.size();
  unsigned char h[12];
  if (!r.read(0, 12, h)) return bad_audio(path, "WAV header cut short");
  const std::uint32_t riff_size = le32(h + 4);
  if (riff_size == 0 || riff_size == kPlaceholder)
    return bad_audio(path, "WAV whose RIFF size was never filled in (a streamed or unfinished file)");
  const std::uint64_t end = static_cast<std::uint64_t>(riff_size) + 8;
  if (end > file_size)
    return bad_audio(path, "truncated WAV: the RIFF header declares " + std::to_string(end) + " bytes, the file has " +
                               std::to_string(file_size));
  if (end < file_size)
    return bad_audio(path, "WAV with " + std::to_string(file_size - end) +
                               " bytes after the end its RIFF header declares (" + std::to_string(end) + ")");

  std::optional<std::array<unsigned char, 16>> fmt;
  std::optional<std::uint64_t> data_off;
  std::uint64_t data_size = 0;
  std::uint64_t pos = 12;
  while (pos < end) {
    if (end - pos < 8)
      return bad_audio(path, "WAV with " + std::to_string(end - pos) + " stray bytes at its end (byte " +
                                 std::to_string(pos) + ")");
    unsigned char c[8];
    if (!r.read(pos, 8, c)) break;  // reported below as a read error
    const std::uint32_t size = le32(c + 4);
    const std::uint64_t body = pos + 8, body_end = body + size;
    const bool is_data = std::memcmp(c, "data", 4) == 0, is_fmt = std::memcmp(c, "fmt ", 4) == 0;
    if (is_data && size == kPlaceholder)
      return bad_audio(path, "WAV whose data size was never filled in (a streamed or unfinished file)");
    if (body_end > end)
      return bad_audio(path, "truncated WAV: chunk " + chunk_name(c) + " at byte " + std::to_string(pos) +
                                 " declares " + std::to_string(size) + " bytes, only " + std::to_string(end - body) +
                                 " follow");
    if (is_fmt) {
      if (fmt) return bad_audio(path, "WAV with two 'fmt ' chunks");
      if (size < 16) return bad_audio(path, "WAV 'fmt ' chunk of " + std::to_string(size) + " bytes (16 at least)");
      std::array<unsigned char, 16> f{};
      if (!r.read(body, 16, f.data())) break;
      fmt = f;
    } else if (is_data) {
      if (data_off) return bad_audio(path, "WAV with two 'data' chunks");
      data_off = body;
      data_size = size;
    }
    pos = body_end + (size & 1);  // chunks are word-aligned; a missing last pad byte is tolerated
  }
  if (r.error()) return io_failure(path, "cannot read", r.error());
  if (!fmt) return bad_audio(path, "WAV without a 'fmt ' chunk");
  if (!data_off) return bad_audio(path, "WAV without a 'data' chunk");

  const unsigned char* f = fmt->data();
  const unsigned tag = le16(f), channels = le16(f + 2), block_align = le16(f + 12), bits = le16(f + 14);
  const std::uint32_t rate = le32(f + 4), byte_rate = le32(f + 8);
  if (channels == 0 || rate == 0 || byte_rate == 0 || block_align == 0)
    return bad_audio(path, "WAV 'fmt ' chunk with a zero channel count, rate or block size");
  const bool pcm_like = tag == 1 || tag == 3 || tag == 0xFFFE;  // PCM, IEEE float, extensible
  if (pcm_like) {
    if (bits == 0 || block_align != channels * ((bits + 7) / 8) ||
        static_cast<std::uint64_t>(byte_rate) != static_cast<std::uint64_t>(rate) * block_align)
      return bad_audio(path, "WAV 'fmt ' chunk is inconsistent (" + std::to_string(channels) + " channels, " +
                                 std::to_string(bits) + " bits, block " + std::to_string(block_align) + ", " +
                                 std::to_string(byte_rate) + " bytes/s at " + std::to_string(rate) + " Hz)");
    if (data_size % block_align != 0)
      return bad_audio(path, "WAV data of " + std::to_string(data_size) + " bytes is not a whole number of " +
                                 std::to_string(block_align) + "-byte sample frames");
  }
  if (data_size == 0) return bad_audio(path, "WAV without any samples");

  AudioCheck out;
  out.format = AudioFormat::wav;
  out.sample_rate = static_cast<int>(rate);
  out.channels = static_cast<int>(channels);
  out.bits_per_sample = static_cast<int>(bits);
  out.audio_offset = *data_off;
  out.audio_bytes = data_size;
  out.duration_seconds = static_cast<double>(data_size) / static_cast<double>(byte_rate);
  return out;
}

constexpr int kMinFrames = 4;

Result<AudioCheck> check_mp3(const std::filesystem::path& path, BlockReader& r) {
  const std::uint64_t size = r.size();
  std::uint64_t pos = 0;
  unsigned char b[10];
  // Leading ID3v2 tags (some files carry more than one).
  while (r.read(pos, 10, b) && id3v2_header(b)) {
    std::uint64_t n = id3v2_total_size(b);
    if (pos + n > size)
      return bad_audio(path, "MP3 whose ID3v2 tag at byte " + std::to_string(pos) + " declares " + std::to_string(n) +
                                 " bytes, more than the file holds");
    pos += n;
  }
  const std::uint64_t after_tags = pos;
  // Some taggers pad outside the tag's declared size: zero bytes only.
  while (pos < size && r.read(pos, 1, b) && b[0] == 0) ++pos;
  if (r.error()) return io_failure(path, "cannot read", r.error());
  if (pos >= size)
    return bad_audio(path, after_tags > 0 ? "MP3 with an ID3v2 tag and no audio after it" : "MP3 without audio");

  std::optional<MpegHeader> first;
  std::uint64_t frames = 0, samples = 0, audio_offset = pos;
  std::string stop;  // why the walk ended before the end of the file
  while (pos < size) {
    unsigned char fh[4];
    std::optional<MpegHeader> h;
    if (r.read(pos, 4, fh)) h = parse_mpeg_header(fh);
    if (!h || (first && !same_stream(*h, *first))) {
      stop = "tail";
      break;
    }
    if (pos + h->length > size)
      return bad_audio(path, "truncated MP3: the MPEG frame at byte " + std::to_string(pos) + " needs " +
                                 std::to_string(h->length) + " bytes, only " + std::to_string(size - pos) +
                                 " are left (after " + std::to_string(frames) + " whole frames)");
    bool header_frame = false;
    if (!first) {
      first = h;
      unsigned char tag[4];
      std::size_t x = xing_offset(*h);
      header_frame = (x + 4 <= h->length && r.read(pos + x, 4, tag) &&
                      (std::memcmp(tag, "Xing", 4) == 0 || std::memcmp(tag, "Info", 4) == 0)) ||
                     (36 + 4 <= h->length && r.read(pos + 36, 4, tag) && std::memcmp(tag, "VBRI", 4) == 0);
    }
    ++frames;
    if (!header_frame) samples += h->samples;
    pos += h->length;
  }
  if (r.error()) return io_failure(path, "cannot read", r.error());
  if (frames == 0) {
    unsigned char fh[4] = {0, 0, 0, 0};
    (void)r.read(pos, 4, fh);
    static const char* hex = "0123456789abcdef";
    std::string seen;
    for (unsigned char c : fh) seen += std::string{hex[c >> 4], hex[c & 15]};
    return bad_audio(path, std::string("MP3 with no MPEG frame at byte ") + std::to_string(pos) +
                               (after_tags > 0 ? " (right after the ID3v2 tag)" : "") + ": found bytes " + seen);
  }
  if (frames < kMinFrames)
    return bad_audio(path, "MP3 with only " + std::to_string(frames) + " MPEG frame(s) in a row at byte " +
                               std::to_string(audio_offset) + " (" + std::to_string(kMinFrames) + " at least)");
  if (!stop.empty()) {
    // Only tags may follow the audio.
    unsigned char t[8] = {};
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(8, size - pos));
    (void)r.read(pos, n, t);
    auto starts = [&](const char* s) {
      std::size_t l = std::strlen(s);
      return n >= l && std::memcmp(t, s, l) == 0;
    };
    bool tag = (starts("TAG") && size - pos >= 128) || starts("APETAGEX") || starts("LYRICSBE") ||
               (n >= 3 && starts("ID3"));
    if (!tag)
      return bad_audio(path, "MP3 with " + std::to_string(size - pos) + " bytes that are neither MPEG frames nor a tag at byte " +
                                 std::to_string(pos) + " (after " + std::to_string(frames) + " frames)");
  }

  AudioCheck out;
  out.format = AudioFormat::mp3;
  out.sample_rate = first->sample_rate;
  out.channels = first->channel_mode == 3 ? 1 : 2;
  out.mpeg_frames = frames;
  out.audio_offset = audio_offset;
  out.audio_bytes = pos - audio_offset;
  out.duration_seconds = static_cast<double>(samples) / first->sample_rate;
  return out;
}

}  // namespace

AudioFormat detect_audio_format(std::string_view first_bytes) {
  const unsigned char* b = bytes_of(first_bytes);
  const std::size_t n = first_bytes.size();
  if (n >= 10 && id3v2_header(b)) return AudioFormat::mp3;
  if (n >= 4 && parse_mpeg_header(b)) return AudioFormat::mp3;
  if (n >= 12 && std::memcmp(b, "RIFF", 4) == 0 && std::memcmp(b + 8, "WAVE", 4) == 0) return AudioFormat::wav;
  return AudioFormat::unknown;
}

std::string_view extension(AudioFormat f) {
  switch (f) {
    case AudioFormat::mp3: return ".mp3";
    case AudioFormat::wav: return ".wav";
    case AudioFormat::unknown: break;
  }
  return "";
}

std::string_view format_name(AudioFormat f) {
  switch (f) {
    case AudioFormat::mp3: return "MP3";
    case AudioFormat::wav: return "WAV";
    case AudioFormat::unknown: break;
  }
  return "unknown";
}

std::string describe_content(std::string_view s) {
  if (s.empty()) return "nothing (empty)";
  const unsigned char* b = bytes_of(s);
  auto starts = [&](std::string_view p) { return s.substr(0, p.size()) == p; };
  if (starts("\xFF\xD8\xFF")) return "a JPEG image";
  if (starts("\x89PNG")) return "a PNG image";
  if (starts("fLaC")) return "FLAC audio (not supported)";
  if (starts("OggS")) return "an Ogg stream (not supported)";
  if (s.size() >= 8 && s.substr(4, 4) == "ftyp") return "an MP4/M4A file (not supported)";
  if (s.size() >= 2 && b[0] == 0xFF && (b[1] & 0xF6) == 0xF0) return "AAC audio in ADTS (not supported)";
  if (starts("RIFF")) return "a RIFF file that is not WAVE";
  std::string_view t = s;
  if (t.substr(0, 3) == "\xEF\xBB\xBF") t.remove_prefix(3);  // UTF-8 byte order mark
  while (!t.empty() && (t[0] == ' ' || t[0] == '\t' || t[0] == '\r' || t[0] == '\n')) t.remove_prefix(1);
  if (!t.empty() && (t[0] == '{' || t[0] == '[')) return "JSON";
  if (!t.empty() && t[0] == '<') {
    std::string low;
    for (char c : t.substr(0, 16)) low += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    if (low.rfind("<?xml", 0) == 0) return "an XML document";
    return "an HTML page";
  }
  bool text = std::all_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u >= 0x20 || u == '\t' || u == '\r' || u == '\n';
  });
  return text ? "text" : "binary data that is neither MP3 nor WAV";
}

Result<AudioCheck> check_audio_file(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io_failure(path, "cannot open", errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return io_failure(path, "cannot stat", err);
  }
  auto reader = std::make_unique<BlockReader>(fd, static_cast<std::uint64_t>(st.st_size));
  unsigned char head[16] = {};
  std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(sizeof head, reader->size()));
  bool got = reader->read(0, n, head);
  Result<AudioCheck> out = Error{};
  if (!got && reader->error()) {
    out = io_failure(path, "cannot read", reader->error());
  } else {
    std::string_view first(reinterpret_cast<const char*>(head), n);
    switch (detect_audio_format(first)) {
      case AudioFormat::mp3: out = check_mp3(path, *reader); break;
      case AudioFormat::wav: out = check_wav(path, *reader); break;
      case AudioFormat::unknown:
        out = bad_audio(path, "not MP3 or WAV audio: " + describe_content(first));
        break;
    }
  }
  ::close(fd);
  return out;
}

Result<double> audio_duration(const std::filesystem::path& path) {
  auto c = check_audio_file(path);
  if (!c) return c.error();
  return c->duration_seconds;
}

}  // namespace setlist
