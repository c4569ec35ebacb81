// Decoding with libsndfile and loudness with libebur128; their types stay here.
#include "setlist/analysis.hpp"

#include <ebur128.h>
#include <fmt/format.h>
#include <fcntl.h>
#include <sndfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

namespace setlist {

namespace {
double energy_of(double lufs) { return std::pow(10.0, (lufs + 0.691) / 10.0); }
double lufs_of(double energy) { return -0.691 + 10.0 * std::log10(energy); }
double bin_centre(int b) { return BlockHistogram::kFloor + (b + 0.5) * BlockHistogram::kStep; }

Error decode_error(std::string msg) {
  Error e;
  e.kind = ErrorKind::protocol;
  e.message = std::move(msg);
  return e;
}
struct SndCloser {
  void operator()(SNDFILE* f) const { sf_close(f); }
};
struct R128Closer {
  void operator()(ebur128_state* s) const { ebur128_destroy(&s); }
};

// The file as libsndfile reads it, through a block buffer of our own: its
// MPEG decoder asks for a frame header, then the frame (a few hundred bytes),
// and seeks between: thousands of read and lseek calls for one take. Here a
// read system call fetches 256 KiB, and seeks move in memory.
class BufferedFile {
 public:
  explicit BufferedFile(const std::filesystem::path& p)
      : fd_(::open(p.c_str(), O_RDONLY | O_CLOEXEC)) {
    struct stat st {};
    if (fd_ >= 0 && ::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode)) size_ = st.st_size;
  }
  ~BufferedFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  BufferedFile(const BufferedFile&) = delete;
  BufferedFile& operator=(const BufferedFile&) = delete;
  bool ok() const { return fd_ >= 0 && size_ >= 0; }

  static SF_VIRTUAL_IO io() {
    SF_VIRTUAL_IO v{};
    v.get_filelen = [](void* u) -> sf_count_t { return self(u).size_; };
    v.seek = [](sf_count_t off, int whence, void* u) -> sf_count_t {
      auto& f = self(u);
      const sf_count_t base = whence == SEEK_CUR ? f.pos_ : whence == SEEK_END ? f.size_ : 0;
      if (base + off < 0) return -1;
      f.pos_ = base + off;
      return f.pos_;
    };
    v.read = [](void* out, sf_count_t n, void* u) -> sf_count_t { return self(u).read(static_cast<char*>(out), n); };
    v.write = [](const void*, sf_count_t, void*) -> sf_count_t { return 0; };
    v.tell = [](void* u) -> sf_count_t { return self(u).pos_; };
    return v;
  }

 private:
  static BufferedFile& self(void* u) { return *static_cast<BufferedFile*>(u); }
  sf_count_t read(char* out, sf_count_t n) {
    sf_count_t done = 0;
    while (done < n && pos_ < size_) {
      if (pos_ < block_at_ || pos_ >= block_at_ + block_len_) {
        block_.resize(kBlock);
        ssize_t got;
        do got = ::pread(fd_, block_.data(), kBlock, pos_);
        while (got < 0 && errno == EINTR);
        if (got <= 0) break;
        block_at_ = pos_;
        block_len_ = got;
      }
      const sf_count_t from = pos_ - block_at_;
      const sf_count_t take = std::min(n - done, block_len_ - from);
      std::memcpy(out + done, block_.data() + from, static_cast<std::size_t>(take));
      done += take;
      pos_ += take;
    }
    return done;
  }
  static constexpr std::size_t kBlock = 256 << 10;
  int fd_ = -1;
  sf_count_t size_ = -1, pos_ = 0;
  std::vector<char> block_;
  sf_count_t block_at_ = 0, block_len_ = 0;
};

// The true peak (BS.1770 Annex 2: the peak of the signal oversampled 4x)
// for a fraction of libebur128's cost (bench F): our own 4x interpolator
// (windowed sinc, 12 taps per phase, in float, vectorisable), run only over
// the 100 ms chunks that can raise the peak found so far. An interpolated
// value is a sum of 12 samples times one phase's taps, so it can never exceed
// the largest |sample| within reach times G, the largest sum of |taps| of a
// phase: a chunk whose samples (and the 11 before them) stay at or below
// peak / G is skipped without changing the result.
class TruePeakMeter {
 public:
  explicit TruePeakMeter(unsigned channels) : hist_(channels, std::vector<float>(kHist, 0.0f)) {
    constexpr double pi = 3.14159265358979323846;
    for (int p = 0; p < 3; ++p) {
      const double frac = (p + 1) / 4.0;
      double sum = 0;
      for (int j = 0; j < kTaps; ++j) {
        const double t = frac - (j - 5);  // tap j weighs x[m - 5 + j] for the point m + frac
        const double sinc = std::sin(pi * t) / (pi * t);
        const double window = 0.5 * (1 + std::cos(pi * t / 6.0));
        taps_[p][j] = static_cast<float>(sinc * window);
        sum += sinc * window;
      }
      double l1 = 0;
      for (int j = 0; j < kTaps; ++j) {
        taps_[p][j] = static_cast<float>(taps_[p][j] / sum);  // unity gain at DC
        l1 += std::fabs(taps_[p][j]);
      }
      bound_ = std::max(bound_, static_cast<float>(l1) * 1.0001f);
    }
  }

  // `frames` interleaved frames and their largest |sample|.
  void add(const float* interleaved, std::size_t frames, float chunk_peak) {
    const float reach = std::max(previous_peak_, chunk_peak);
    previous_peak_ = chunk_peak;
    const bool compute = reach * bound_ > peak_;
    const std::size_t channels = hist_.size();
    for (std::size_t c = 0; c < channels; ++c) {
      lane_.assign(hist_[c].begin(), hist_[c].end());
      lane_.resize(kHist + frames);
      for (std::size_t i = 0; i < frames; ++i) lane_[kHist + i] = interleaved[i * channels + c];
      if (compute) {
        const std::size_t n = frames;  // points between lane_[5 + i] and lane_[6 + i]
        acc_.resize(n);
        for (int p = 0; p < 3; ++p) {
          std::fill(acc_.begin(), acc_.end(), 0.0f);
          for (int j = 0; j < kTaps; ++j) {
            const float h = taps_[p][j];
            const float* src = lane_.data() + j;
            float* acc = acc_.data();
            for (std::size_t i = 0; i < n; ++i) acc[i] += h * src[i];
          }
          float m = 0;
          for (std::size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(acc_[i]));
          peak_ = std::max(peak_, m);
        }
      }
      std::copy(lane_.end() - kHist, lane_.end(), hist_[c].begin());
    }
  }
  double peak() const { return peak_; }

 private:
  static constexpr int kHist = 11, kTaps = 12;
  float taps_[3][kTaps]{};
  float bound_ = 1.0f;
  std::vector<std::vector<float>> hist_;  // per channel: the last kHist samples
  std::vector<float> lane_, acc_;
  float previous_peak_ = 0, peak_ = 0;
};
}  // namespace

void BlockHistogram::add(double block_lufs) {
  if (!(block_lufs >= kFloor)) return;  // NaN and -inf too
  int b = static_cast<int>(std::floor((block_lufs - kFloor) / kStep));
  ++bins[b];
}

void BlockHistogram::merge(const BlockHistogram& other) {
  for (auto& [b, n] : other.bins) bins[b] += n;
}

std::uint64_t BlockHistogram::blocks() const {
  std::uint64_t n = 0;
  for (auto& kv : bins) n += kv.second;
  return n;
}

std::string BlockHistogram::encode() const {
  std::string s;
  for (auto& [b, n] : bins) {
    if (!s.empty()) s += ',';
    s += std::to_string(b) + ':' + std::to_string(n);
  }
  return s;
}

std::optional<BlockHistogram> BlockHistogram::decode(std::string_view text) {
  BlockHistogram h;
  while (!text.empty()) {
    auto comma = text.find(',');
    auto item = text.substr(0, comma);
    auto colon = item.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    int b = 0;
    std::uint32_t n = 0;
    auto r1 = std::from_chars(item.data(), item.data() + colon, b);
    auto r2 = std::from_chars(item.data() + colon + 1, item.data() + item.size(), n);
    if (r1.ec != std::errc() || r1.ptr != item.data() + colon || r2.ec != std::errc() ||
        r2.ptr != item.data() + item.size() || b < 0)
      return std::nullopt;
    h.bins[b] += n;
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return h;
}

std::optional<double> gated_loudness(const BlockHistogram& h) {
  double sum = 0;
  std::uint64_t n = 0;
  for (auto& [b, c] : h.bins) {
    sum += energy_of(bin_centre(b)) * c;
    n += c;
  }
  if (n == 0) return std::nullopt;
  const double relative_gate = lufs_of(sum / static_cast<double>(n)) - 10.0;
  sum = 0;
  n = 0;
  for (auto& [b, c] : h.bins) {
    if (bin_centre(b) < relative_gate) continue;
    sum += energy_of(bin_centre(b)) * c;
    n += c;
  }
  if (n == 0) return std::nullopt;
  return lufs_of(sum / static_cast<double>(n));
}

Result<AudioAnalysis> analyze_audio(const std::filesystem::path& path, const AnalysisOptions& opt) {
  SF_INFO info{};
  BufferedFile file(path);
  if (!file.ok()) return decode_error("cannot decode " + path.filename().string() + ": cannot open it");
  SF_VIRTUAL_IO vio = BufferedFile::io();
  std::unique_ptr<SNDFILE, SndCloser> sf(sf_open_virtual(&vio, SFM_READ, &info, &file));
  if (!sf) return decode_error("cannot decode " + path.filename().string() + ": " + sf_strerror(nullptr));
  if (info.channels <= 0 || info.samplerate <= 0)
    return decode_error("cannot decode " + path.filename().string() + ": no audio");
  const auto channels = static_cast<unsigned>(info.channels);
  const auto rate = static_cast<unsigned long>(info.samplerate);
  int mode = EBUR128_MODE_I | EBUR128_MODE_LRA | EBUR128_MODE_SAMPLE_PEAK;
  const bool r128_true_peak = opt.true_peak && !opt.fast_true_peak;
  if (r128_true_peak) mode |= EBUR128_MODE_TRUE_PEAK;
  std::optional<TruePeakMeter> fast_tp;
  if (opt.true_peak && opt.fast_true_peak) fast_tp.emplace(static_cast<unsigned>(info.channels));
  std::unique_ptr<ebur128_state, R128Closer> st(ebur128_init(channels, rate, mode));
  if (!st) return decode_error("cannot measure loudness at " + std::to_string(rate) + " Hz");

  AudioAnalysis a;
  a.sample_rate = info.samplerate;
  a.channels = info.channels;
  // 100 ms per chunk: after each one the momentary loudness is exactly the
  // gating block that ends there (BS.1770: 400 ms blocks, 100 ms apart).
  const sf_count_t chunk = std::max<sf_count_t>(1, info.samplerate / 10);
  std::vector<float> buf(static_cast<std::size_t>(chunk) * channels);
  const std::uint64_t expected = info.frames > 0 && info.frames < SF_COUNT_MAX ? static_cast<std::uint64_t>(info.frames) : 0;
  const std::uint64_t points = static_cast<std::uint64_t>(std::max(1, opt.waveform_points));
  std::uint64_t slice = std::max<std::uint64_t>(1, (expected + points - 1) / points);
  if (expected == 0) slice = static_cast<std::uint64_t>(rate);  // unknown length: a point a second, thinned below
  float slice_peak = 0;
  std::uint64_t in_slice = 0;

  constexpr float kSilence = 0.001f;  // -60 dBFS
  constexpr float kFull = 0.98f;      // about -0.18 dBFS
  std::uint64_t frames = 0, silent_run = 0, longest_silent = 0;
  std::vector<std::uint32_t> full_run(channels, 0);
  int chunks = 0;
  for (;;) {
    // A whole 100 ms unless the file ends (a decoder may hand back less per call).
    sf_count_t got = 0;
    while (got < chunk) {
      sf_count_t n = sf_readf_float(sf.get(), buf.data() + static_cast<std::size_t>(got) * channels, chunk - got);
      if (n <= 0) break;
      got += n;
    }
    if (got <= 0) break;
    if (ebur128_add_frames_float(st.get(), buf.data(), static_cast<std::size_t>(got)) != EBUR128_SUCCESS)
      return decode_error("loudness measurement failed");
    float chunk_peak = 0;
    for (sf_count_t i = 0; i < got; ++i) {
      float frame_peak = 0;
      for (unsigned c = 0; c < channels; ++c) {
        float v = std::fabs(buf[static_cast<std::size_t>(i) * channels + c]);
        frame_peak = std::max(frame_peak, v);
        if (v >= kFull) {
          if (++full_run[c] == 3) ++a.clipped_runs;
        } else {
          full_run[c] = 0;
        }
      }
      if (frame_peak < kSilence) {
        longest_silent = std::max(longest_silent, ++silent_run);
      } else {
        silent_run = 0;
      }
      slice_peak = std::max(slice_peak, frame_peak);
      chunk_peak = std::max(chunk_peak, frame_peak);
      if (++in_slice == slice) {
        a.waveform.push_back(slice_peak);
        slice_peak = 0;
        in_slice = 0;
      }
    }
    if (fast_tp) fast_tp->add(buf.data(), static_cast<std::size_t>(got), chunk_peak);
    frames += static_cast<std::uint64_t>(got);
    if (got < chunk) break;  // the end: a partial 100 ms makes no block
    if (++chunks >= 4) {
      double m = 0;
      if (ebur128_loudness_momentary(st.get(), &m) == EBUR128_SUCCESS) a.blocks.add(m);
    }
  }
  if (in_slice > 0) a.waveform.push_back(slice_peak);
  while (a.waveform.size() > points * 2) {  // unknown length: halve until near the target
    std::vector<float> half;
    for (std::size_t i = 0; i < a.waveform.size(); i += 2)
      half.push_back(std::max(a.waveform[i], i + 1 < a.waveform.size() ? a.waveform[i + 1] : 0.0f));
    a.waveform.swap(half);
  }
  if (frames == 0) return decode_error("cannot decode " + path.filename().string() + ": no audio frames");
  a.duration_seconds = static_cast<double>(frames) / static_cast<double>(rate);
  a.longest_silence_seconds = static_cast<double>(longest_silent) / static_cast<double>(rate);

  double global = 0;
  if (ebur128_loudness_global(st.get(), &global) == EBUR128_SUCCESS && std::isfinite(global))
    a.integrated_lufs = global;
  double lra = 0;
  if (ebur128_loudness_range(st.get(), &lra) == EBUR128_SUCCESS && std::isfinite(lra)) a.loudness_range_lu = lra;
  double tp = 0;
  for (unsigned c = 0; c < channels; ++c) {
    double p = 0;
    if (ebur128_sample_peak(st.get(), c, &p) == EBUR128_SUCCESS) a.sample_peak = std::max(a.sample_peak, p);
    if (r128_true_peak && ebur128_true_peak(st.get(), c, &p) == EBUR128_SUCCESS) tp = std::max(tp, p);
  }
  if (fast_tp) tp = fast_tp->peak();
  if (opt.true_peak) a.true_peak = std::max(tp, a.sample_peak);
  return a;
}

std::vector<std::string> flag_take(const AudioAnalysis& a, const FlagThresholds& t,
                                   std::optional<double> requested_seconds) {
  std::vector<std::string> flags;
  if (!a.integrated_lufs || *a.integrated_lufs < t.silence_lufs ||
      (t.silence_stretch_s > 0 && a.longest_silence_seconds >= t.silence_stretch_s))
    flags.emplace_back("silent");
  const double peak = a.true_peak.value_or(a.sample_peak);
  if (a.clipped_runs >= static_cast<std::uint64_t>(std::max(1, t.clipped_runs)) && to_db(peak) > t.clipped_true_peak_db)
    flags.emplace_back("clipped");
  if (requested_seconds && *requested_seconds > 0 && a.duration_seconds < t.short_fraction * *requested_seconds)
    flags.emplace_back("short");
  return flags;
}

void AlbumLoudnessSum::add(const AudioAnalysis& a) {
  all_.merge(a.blocks);
  sum_.peak = std::max(sum_.peak, a.true_peak.value_or(a.sample_peak));
  ++sum_.takes;
}

AlbumLoudness AlbumLoudnessSum::result() const {
  AlbumLoudness out = sum_;
  out.lufs = gated_loudness(all_);
  return out;
}

AlbumLoudness album_loudness(const std::vector<const AudioAnalysis*>& takes) {
  AlbumLoudnessSum sum;
  for (const auto* a : takes)
    if (a) sum.add(*a);
  return sum.result();
}

std::string replaygain_gain_text(double lufs) {
  return fmt::format("{:.2f} dB", kReplayGainReference - lufs);
}

std::string replaygain_peak_text(double linear_peak) { return fmt::format("{:.6f}", linear_peak); }

double to_db(double linear) { return linear > 0 ? 20.0 * std::log10(linear) : -200.0; }

}  // namespace setlist
