// Tags with TagLib: ID3v2.4 in MP3; an ID3v2.4 chunk and RIFF INFO in WAV.
// TagLib types stay in this file.
#include <fcntl.h>
#include <unistd.h>

#include <taglib/attachedpictureframe.h>
#include <taglib/id3v2tag.h>
#include <taglib/infotag.h>
#include <taglib/mpegfile.h>
#include <taglib/textidentificationframe.h>
#include <taglib/tstringlist.h>
#include <taglib/unsynchronizedlyricsframe.h>
#include <taglib/wavfile.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "setlist/output.hpp"

namespace setlist {

namespace {

Error tag_error(std::string msg) {
  Error e;
  e.kind = ErrorKind::io;
  e.message = std::move(msg);
  return e;
}

TagLib::String utf8(const std::string& s) { return TagLib::String(s, TagLib::String::UTF8); }

void add_text(TagLib::ID3v2::Tag& tag, const char* id, const std::string& value) {
  if (value.empty()) return;
  auto f = std::make_unique<TagLib::ID3v2::TextIdentificationFrame>(TagLib::ByteVector(id, 4),
                                                                    TagLib::String::UTF8);
  f->setText(utf8(value));
  tag.addFrame(f.release());  // the tag owns its frames
}

void add_user_text(TagLib::ID3v2::Tag& tag, const char* description, const std::string& value) {
  if (value.empty()) return;
  auto f = std::make_unique<TagLib::ID3v2::UserTextIdentificationFrame>(
      utf8(description), TagLib::StringList(utf8(value)), TagLib::String::UTF8);
  tag.addFrame(f.release());
}

// Every frame of `info`, into an emptied ID3v2 tag: the same for MP3 and WAV.
void fill_id3v2(TagLib::ID3v2::Tag& tag, const TagInfo& info) {
  {
    TagLib::ID3v2::FrameList old = tag.frameList();  // a copy: removeFrame edits the list
    for (auto* f : old) tag.removeFrame(f, true);
  }
  add_text(tag, "TIT2", info.title);
  add_text(tag, "TPE1", info.artist);
  add_text(tag, "TPE2", info.artist);
  add_text(tag, "TALB", info.album);
  if (info.track > 0)
    add_text(tag, "TRCK",
             std::to_string(info.track) + (info.track_total > 0 ? "/" + std::to_string(info.track_total) : ""));
  if (info.year) add_text(tag, "TDRC", std::to_string(*info.year));
  add_text(tag, "TCON", info.genre);
  if (!info.lyrics.empty()) {
    auto f = std::make_unique<TagLib::ID3v2::UnsynchronizedLyricsFrame>(TagLib::String::UTF8);
    f->setLanguage(TagLib::ByteVector("eng", 3));
    f->setDescription(TagLib::String());
    f->setText(utf8(info.lyrics));
    tag.addFrame(f.release());
  }
  if (!info.cover_jpeg.empty()) {
    auto f = std::make_unique<TagLib::ID3v2::AttachedPictureFrame>();
    f->setTextEncoding(TagLib::String::UTF8);
    // Covers are JPEG from the API; a manifest's album.cover may be PNG.
    bool png = info.cover_jpeg.compare(0, 4, "\x89PNG") == 0;
    f->setMimeType(png ? "image/png" : "image/jpeg");
    f->setType(TagLib::ID3v2::AttachedPictureFrame::FrontCover);
    f->setDescription(utf8("Cover"));
    f->setPicture(TagLib::ByteVector(info.cover_jpeg.data(), static_cast<unsigned int>(info.cover_jpeg.size())));
    tag.addFrame(f.release());
  }
  add_user_text(tag, "SETLIST_CLIP_ID", info.clip_id);
  add_user_text(tag, "SETLIST_SONG_KEY", info.song_key);
  add_user_text(tag, "REPLAYGAIN_TRACK_GAIN", info.replaygain_track_gain);
  add_user_text(tag, "REPLAYGAIN_TRACK_PEAK", info.replaygain_track_peak);
  add_user_text(tag, "REPLAYGAIN_ALBUM_GAIN", info.replaygain_album_gain);
  add_user_text(tag, "REPLAYGAIN_ALBUM_PEAK", info.replaygain_album_peak);
}

Status tag_mp3(const std::filesystem::path& mp3, const TagInfo& info) {
  TagLib::MPEG::File file(mp3.c_str(), false);
  // TagLib opens almost anything: insist on at least one MPEG audio frame.
  if (!file.isValid() || !file.isOpen() || file.firstFrameOffset() < 0)
    return tag_error("cannot read MPEG audio in " + mp3.string());
  if (file.readOnly()) return tag_error("cannot write tags: " + mp3.string() + " is read-only");
  // Whatever tags the file came with (ID3v1, APE, an older ID3v2) go.
  file.strip(TagLib::MPEG::File::ID3v1 | TagLib::MPEG::File::APE);
  TagLib::ID3v2::Tag* tag = file.ID3v2Tag(true);
  if (!tag) return tag_error("cannot create an ID3v2 tag in " + mp3.string());
  fill_id3v2(*tag, info);
  if (!file.save(TagLib::MPEG::File::ID3v2, TagLib::File::StripOthers, TagLib::ID3v2::v4,
                 TagLib::File::DoNotDuplicate))
    return tag_error("cannot save tags to " + mp3.string());
  return Ok{};
}

// RIFF INFO text, written as UTF-8 (TagLib's default Info::StringHandler;
// what ffmpeg writes and reads). No value is written for an empty string.
void set_info(TagLib::RIFF::Info::Tag& tag, const char* id, const std::string& value) {
  if (value.empty()) return;
  tag.setFieldText(TagLib::ByteVector(id, 4), utf8(value));
}

Status tag_wav(const std::filesystem::path& wav, const TagInfo& info) {
  TagLib::RIFF::WAV::File file(wav.c_str(), true);  // properties: proof that a fmt chunk was read
  if (!file.isValid() || !file.isOpen() || !file.audioProperties() || file.audioProperties()->sampleRate() <= 0 ||
      file.audioProperties()->channels() <= 0)
    return tag_error("cannot read WAV audio in " + wav.string());
  if (file.readOnly()) return tag_error("cannot write tags: " + wav.string() + " is read-only");
  // Both tags always exist in memory for a WAV file; empty them.
  TagLib::ID3v2::Tag* id3 = file.ID3v2Tag();
  TagLib::RIFF::Info::Tag* riff = file.InfoTag();
  if (!id3 || !riff) return tag_error("cannot create tags in " + wav.string());
  fill_id3v2(*id3, info);
  {
    TagLib::RIFF::Info::FieldListMap old = riff->fieldListMap();  // a copy
    for (const auto& kv : old) riff->removeField(kv.first);
  }
  set_info(*riff, "INAM", info.title);
  set_info(*riff, "IART", info.artist);
  set_info(*riff, "IPRD", info.album);
  if (info.track > 0) set_info(*riff, "ITRK", std::to_string(info.track));
  if (info.year) set_info(*riff, "ICRD", std::to_string(*info.year));
  set_info(*riff, "IGNR", info.genre);
  if (!file.save(TagLib::RIFF::WAV::File::AllTags, TagLib::File::StripOthers, TagLib::ID3v2::v4))
    return tag_error("cannot save tags to " + wav.string());
  return Ok{};
}

}  // namespace

Status write_tags(const std::filesystem::path& audio, const TagInfo& info) {
  AudioFormat format = AudioFormat::unknown;
  std::string what;
  {
    int fd = ::open(audio.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return tag_error("cannot open " + audio.string() + ": " + std::strerror(errno));
    char head[16];
    ssize_t n = ::read(fd, head, sizeof head);
    ::close(fd);
    if (n < 0) return tag_error("cannot read " + audio.string());
    std::string_view first(head, static_cast<std::size_t>(n));
    format = detect_audio_format(first);
    what = describe_content(first);
  }
  // Anything not recognised as WAV goes to TagLib's MPEG reader, as before
  // WAV existed (it finds MPEG frames after leading junk too).
  auto tagged = format == AudioFormat::wav ? tag_wav(audio, info) : tag_mp3(audio, info);
  if (!tagged && format == AudioFormat::unknown)
    return tag_error("cannot tag " + audio.string() + ": not MP3 or WAV audio but " + what);
  // Not synced here: a tagged file is always a copy that publish() syncs
  // before it takes the final name (one fsync per published file).
  return tagged;
}

namespace {
std::optional<TakeIds> ids_from(TagLib::ID3v2::Tag* tag) {
  if (!tag) return std::nullopt;
  TakeIds ids;
  for (auto* frame : tag->frameList("TXXX")) {
    auto* user = dynamic_cast<TagLib::ID3v2::UserTextIdentificationFrame*>(frame);
    if (!user || user->fieldList().size() < 2) continue;
    auto value = user->fieldList()[1].to8Bit(true);
    if (user->description() == "SETLIST_CLIP_ID") ids.clip_id = value;
    if (user->description() == "SETLIST_SONG_KEY") ids.song_key = value;
  }
  if (ids.clip_id.empty() || ids.song_key.empty()) return std::nullopt;
  ids.title = tag->title().to8Bit(true);
  ids.track = static_cast<int>(tag->track());
  return ids;
}
}  // namespace

std::optional<TakeIds> read_take_ids(const std::filesystem::path& audio) {
  char head[16] = {};
  {
    int fd = ::open(audio.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return std::nullopt;
    ssize_t n = ::read(fd, head, sizeof head);
    ::close(fd);
    if (n <= 0) return std::nullopt;
  }
  if (detect_audio_format(std::string_view(head, sizeof head)) == AudioFormat::wav) {
    TagLib::RIFF::WAV::File file(audio.c_str(), false);
    if (!file.isValid()) return std::nullopt;
    return ids_from(file.ID3v2Tag());
  }
  TagLib::MPEG::File file(audio.c_str(), false);
  if (!file.isValid()) return std::nullopt;
  return ids_from(file.ID3v2Tag(false));
}

}  // namespace setlist

// --- ReplayGain album values (#19) -----------------------------------------------
namespace setlist {

namespace {
TagLib::ID3v2::UserTextIdentificationFrame* user_frame(TagLib::ID3v2::Tag* tag, const char* description) {
  if (!tag) return nullptr;
  for (auto* frame : tag->frameList("TXXX")) {
    auto* user = dynamic_cast<TagLib::ID3v2::UserTextIdentificationFrame*>(frame);
    if (user && user->description() == description) return user;
  }
  return nullptr;
}
std::string user_value(TagLib::ID3v2::Tag* tag, const char* description) {
  auto* f = user_frame(tag, description);
  if (!f || f->fieldList().size() < 2) return {};
  return f->fieldList()[1].to8Bit(true);
}
void replace_user_text(TagLib::ID3v2::Tag& tag, const char* description, const std::string& value) {
  while (auto* f = user_frame(&tag, description)) tag.removeFrame(f, true);
  add_user_text(tag, description, value);
}
bool is_wav_file(const std::filesystem::path& audio) {
  char head[16] = {};
  int fd = ::open(audio.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return false;
  ssize_t n = ::read(fd, head, sizeof head);
  ::close(fd);
  return n > 0 && detect_audio_format(std::string_view(head, static_cast<std::size_t>(n))) == AudioFormat::wav;
}
}  // namespace

std::pair<std::string, std::string> read_replaygain_album(const std::filesystem::path& audio) {
  if (is_wav_file(audio)) {
    TagLib::RIFF::WAV::File file(audio.c_str(), false);
    if (!file.isValid()) return {};
    return {user_value(file.ID3v2Tag(), "REPLAYGAIN_ALBUM_GAIN"), user_value(file.ID3v2Tag(), "REPLAYGAIN_ALBUM_PEAK")};
  }
  TagLib::MPEG::File file(audio.c_str(), false);
  if (!file.isValid()) return {};
  auto* tag = file.ID3v2Tag(false);
  return {user_value(tag, "REPLAYGAIN_ALBUM_GAIN"), user_value(tag, "REPLAYGAIN_ALBUM_PEAK")};
}

Status write_replaygain_album(const std::filesystem::path& audio, const std::string& gain, const std::string& peak) {
  bool saved = false;
  if (is_wav_file(audio)) {
    TagLib::RIFF::WAV::File file(audio.c_str(), false);
    if (!file.isValid() || file.readOnly()) return tag_error("cannot write tags to " + audio.string());
    auto* tag = file.ID3v2Tag();
    if (!tag) return tag_error("no ID3v2 tag in " + audio.string());
    replace_user_text(*tag, "REPLAYGAIN_ALBUM_GAIN", gain);
    replace_user_text(*tag, "REPLAYGAIN_ALBUM_PEAK", peak);
    saved = file.save(TagLib::RIFF::WAV::File::AllTags, TagLib::File::StripOthers, TagLib::ID3v2::v4);
  } else {
    TagLib::MPEG::File file(audio.c_str(), false);
    if (!file.isValid() || file.readOnly()) return tag_error("cannot write tags to " + audio.string());
    auto* tag = file.ID3v2Tag(true);
    replace_user_text(*tag, "REPLAYGAIN_ALBUM_GAIN", gain);
    replace_user_text(*tag, "REPLAYGAIN_ALBUM_PEAK", peak);
    saved = file.save(TagLib::MPEG::File::ID3v2, TagLib::File::StripOthers, TagLib::ID3v2::v4,
                      TagLib::File::DoNotDuplicate);
  }
  if (!saved) return tag_error("cannot save tags to " + audio.string());
  return Ok{};  // publish() syncs the copy before it takes the final name
}

}  // namespace setlist
