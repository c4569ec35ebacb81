// Output: file names from the naming template, safe file names, atomic
// publication, tags. Never touches the network.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "setlist/result.hpp"

namespace setlist {

struct Manifest;
struct Song;

struct NameFields {
  std::string album;
  std::string artist;
  std::string title;
  std::string song_id;
  std::string clip_id;
  int track = 0;
  int take = 0;  // 0 -> "A", 1 -> "B"
};

// Renders a template such as "{track:02} - {title} ({take}).mp3". Every
// placeholder value is made safe (no separators), so only '/' written in the
// template itself makes folders; ".." components are refused. Returns a
// relative path or an error message.
Result<std::filesystem::path> render_name(std::string_view tmpl, const NameFields& f);

// Checks a template once, up front (unknown placeholder, absolute path, ..).
std::optional<std::string> check_template(std::string_view tmpl);

// One safe path component: separators, control characters and characters
// that trouble other systems replaced by '_', reserved names (".", "..",
// CON, NUL ...) prefixed, trimmed to 255 bytes at a UTF-8 boundary.
std::string safe_component(std::string_view s);

// A name not yet in `used` (adds " (2)", " (3)" ... before the extension);
// inserts the result into `used`.
std::filesystem::path unique_path(const std::filesystem::path& rel, std::set<std::string>& used);

// Fsyncs `tmp` and renames it to `final` (the folder's fsync batched: see
// sync_published_folders), so after a crash or a power cut the file is whole
// under its final name, or absent.
// Refuses (ErrorKind::io, saying why) a `tmp` that is a symbolic link or not
// a regular file, and a `final` that exists as a symbolic link or anything
// but a regular file (see check_publish_target): a link planted in the
// output folder is never written through nor silently replaced.
Status publish(const std::filesystem::path& tmp, const std::filesystem::path& final);
// The renames publish() made are made durable by an fsync of their folder,
// batched: one per folder at most every 200 ms, and the rest here (called at
// the end of a run, and at exit). A power cut in between can lose a name, never
// a file's bytes under it: the next run finds the file missing and fetches
// it again for free (file_intact).
void sync_published_folders();
// Ok when `final` is absent or a regular file (not a link to one); otherwise
// an ErrorKind::io error naming the file and what it is.
Status check_publish_target(const std::filesystem::path& final);
// Writes `data` to a temporary file beside `path`, fsyncs and publishes it.
// The temporary file is ".NAME.XXXXXX.tmp" (XXXXXX from getrandom), created
// with O_CREAT|O_EXCL|O_NOFOLLOW, mode 0644 (less the umask), and removed
// when anything fails. `path` is refused as publish() refuses `final`.
Status write_file_atomic(const std::filesystem::path& path, std::string_view data);
// The same for text produced piece by piece: `produce` calls its argument
// with each piece, so a large file never has to be whole in memory.
using TextEmit = std::function<void(std::string_view)>;
Status write_file_atomic(const std::filesystem::path& path, const std::function<void(const TextEmit&)>& produce);
// Size and SHA-256 of a file on disk (never through a link at its last component).
Result<std::pair<std::uint64_t, std::string>> file_digest(const std::filesystem::path& path);

// --- Paths read from state ------------------------------------------------------
// OUT/.setlist/state.db is not trusted to name only files inside OUT (an OUT
// received from someone else, a crafted database): every path read from it
// is checked before it is opened, moved or reported.
// Why `rel` cannot be used as a file inside `out_dir`, or nothing: it must be
// a non-empty relative path ('/'-separated, no NUL or backslash), without
// "." or ".." components, and no folder on its way inside OUT may be a
// symbolic link or anything but a folder. The last component is not looked
// at: readers open it with O_NOFOLLOW, movers move the link itself.
// `real_folders`: folders (relative, as in `rel`) already found real in this
// pass; they are not examined again, and those found real are added. Only
// for many paths checked in a row (a folder replaced meanwhile is not seen).
std::optional<std::string> state_path_problem(const std::filesystem::path& out_dir, std::string_view rel,
                                              std::set<std::string>* real_folders = nullptr);
// The message for a state row whose path failed: "damaged state: ...".
std::string damaged_state_message(std::string_view rel, std::string_view problem);
// The bytes of a file inside OUT named by state: only when state_path_problem
// passes and the file is a regular file (opened with O_NOFOLLOW) of at most
// `limit` bytes; empty otherwise.
std::string read_out_file(const std::filesystem::path& out_dir, std::string_view rel,
                          std::uintmax_t limit = 16u << 20);

// --- Audio formats ------------------------------------------------------------
// What a downloaded take is, judged from its bytes (never from a URL or a
// Content-Type): the APIs answer MP3 or WAV behind any URL.
enum class AudioFormat { unknown, mp3, wav };

// At least the first 12 bytes of a file (fewer only if the file is shorter).
// mp3: an ID3v2 header ("ID3", version 2-4) or an MPEG audio frame header
// (sync, a valid version, layer, bitrate and sample rate: ADTS AAC is not
// MP3). wav: "RIFF" <size> "WAVE". Anything else (HTML, JSON, text, empty,
// raw PCM, AVI ...) is unknown.
AudioFormat detect_audio_format(std::string_view first_bytes);
// ".mp3", ".wav"; "" for unknown.
std::string_view extension(AudioFormat f);
// "MP3", "WAV"; "unknown" for unknown.
std::string_view format_name(AudioFormat f);
// For messages about bytes that are not audio: "nothing (empty)", "an HTML
// page", "JSON", "text", "an image", "binary data".
std::string describe_content(std::string_view first_bytes);

// What check_audio_file found.
struct AudioCheck {
  AudioFormat format = AudioFormat::unknown;
  double duration_seconds = 0;  // from the audio itself (sample count / rate)
  int sample_rate = 0;          // Hz
  int channels = 0;
  int bits_per_sample = 0;        // WAV only (0 for MP3)
  std::uint64_t mpeg_frames = 0;  // MP3 only: MPEG frames walked (an Xing/Info frame included)
  std::uint64_t audio_offset = 0;  // first MPEG frame, or the WAV data chunk's first sample
  std::uint64_t audio_bytes = 0;   // MPEG frames, or the WAV data chunk's size
};

// Checks that a file is whole, playable-looking audio before it is tagged
// and published; an error (ErrorKind::protocol; io when the file cannot be
// read) means the download is bad and should be fetched again.
// - WAV: the RIFF size plus 8 equals the file size (a truncated or padded
//   file fails); every chunk fits in it; one "fmt " (consistent: byte rate =
//   sample rate x block align for PCM and float) and one "data" chunk whose
//   size is a whole number of sample frames. Streamed WAVs whose header sizes
//   were never filled in (0 or 0xFFFFFFFF) fail. Chunks after the data (LIST
//   INFO, "ID3 ", as write_tags adds) are fine.
// - MP3: after any ID3v2 tags (and zero padding), at least 4 consecutive MPEG
//   frames whose header-computed lengths chain exactly, all the same version,
//   layer and sample rate, and from there frames to the end of the file; only
//   an ID3v1, APE, Lyrics3 or appended ID3v2 tag may follow the last frame.
//   A last frame cut short fails.
// The duration is exact for WAV (data size / byte rate) and for MP3 counts
// the frames (an Xing/Info/VBRI header frame is not audio). Reads the file
// once, in blocks; safe on files of any size.
Result<AudioCheck> check_audio_file(const std::filesystem::path& path);

// The duration in seconds of an audio file (MP3 or WAV, tagged or not), read
// from the audio: for reports and playlists when the API gives none.
Result<double> audio_duration(const std::filesystem::path& path);

// --- Tags ------------------------------------------------------------------------
// Tags written into one take. No TagLib types here.
struct TagInfo {
  std::string title;  // with the take, e.g. "Neon Rain (A)"
  std::string artist;
  std::string album;
  int track = 0;
  int track_total = 0;
  std::optional<int> year;
  std::string genre;
  std::string lyrics;      // USLT; none when empty
  std::string cover_jpeg;  // APIC front cover bytes, JPEG or PNG (detected); none when empty
  std::string clip_id;     // TXXX SETLIST_CLIP_ID
  std::string song_key;    // TXXX SETLIST_SONG_KEY
  // ReplayGain 2.0 (TXXX REPLAYGAIN_TRACK_GAIN ...; none when empty): "-3.52 dB", "0.988553".
  std::string replaygain_track_gain, replaygain_track_peak;
  std::string replaygain_album_gain, replaygain_album_peak;
};

// Tags a take according to its bytes (detect_audio_format), in place: call
// it on a temporary file before publishing (publish() syncs it).
// - MP3: replaces every tag with one ID3v2.4 tag holding `info` (ID3v1 and
//   APE tags are stripped).
// - WAV: replaces every tag with an "ID3 " chunk (ID3v2.4, the same frames
//   as for MP3) and a LIST INFO chunk: INAM title, IART artist, IPRD album,
//   ITRK track number, ICRD year, IGNR genre (UTF-8 text). The audio data
//   chunk is not touched.
// - Anything else: an error, the file unchanged.
Status write_tags(const std::filesystem::path& audio, const TagInfo& info);

// ReplayGain album values (#19): the TXXX REPLAYGAIN_ALBUM_GAIN and _PEAK of a
// take's ID3v2 tag (empty when absent), and a change of only those two
// frames (every other frame kept; the audio untouched). Neither syncs: both
// work on a copy that publish() syncs before it takes the final name.
std::pair<std::string, std::string> read_replaygain_album(const std::filesystem::path& audio);
Status write_replaygain_album(const std::filesystem::path& audio, const std::string& gain, const std::string& peak);

// The setlist ids a published take carries (TXXX SETLIST_CLIP_ID and
// SETLIST_SONG_KEY), with its title and track: how a take is recognised when
// the state database and the receipts journal are lost. nullopt when the
// file is not a take tagged by setlist.
struct TakeIds {
  std::string clip_id;
  std::string song_key;
  std::string title;
  int track = 0;
};
std::optional<TakeIds> read_take_ids(const std::filesystem::path& audio);

// What a song's files are called and hold, beyond the naming template.
// The ID3 tag of take `take` (0 = A) of `song`.
TagInfo tag_info_for(const Manifest& m, const Song& song, const std::string& song_key, const std::string& clip_id,
                     int take);
// The lyrics beside the takes: "01 - Title (A).mp3" -> "01 - Title.txt".
std::filesystem::path lyrics_path_for(const std::filesystem::path& first_take);
// A take's letter: A, B, ... Z, then AA, AB ...
std::string take_label(int take);
// The whole of a small local file; empty when missing, not a regular file or
// larger than `limit`.
std::string read_small_file(const std::filesystem::path& p, std::uintmax_t limit = 16u << 20);

}  // namespace setlist
