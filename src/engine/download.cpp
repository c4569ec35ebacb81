// Downloading: each complete take not yet on disk as recorded is fetched
// (resumable .part files), tagged and published on the disk thread, so the
// network never waits for a disk. Takes already on disk are kept as they are.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>


#include "common/hash.hpp"
#include "engine/analyze.hpp"
#include "engine/engine_impl.hpp"
#include "setlist/output.hpp"

namespace setlist::engine {

namespace {

Error protocol_error_result(std::string msg) {
  Error e;
  e.kind = ErrorKind::protocol;
  e.message = std::move(msg);
  return e;
}

std::int64_t mtime_ns(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return 0;
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

// The validator kept beside a .part file: read only from a regular file of
// ours, never through a link (a planted link would send another file's first
// line to the CDN as If-Range).
std::string read_validator(const fs::path& p) {
  int fd = ::open(p.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return {};
  std::string v;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == ::geteuid() && st.st_size < 1024) {
    char buf[1024];
    auto n = ::read(fd, buf, sizeof buf);
    if (n > 0) v.assign(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return v.substr(0, v.find('\n'));
}

DownloadOutcome outcome_of(const Error& e) {
  if (e.kind == ErrorKind::io) return DownloadOutcome::local;
  if (e.kind == ErrorKind::tls)
    return DownloadOutcome::local;  // an unverifiable CDN does not pass by retrying
  if (e.kind == ErrorKind::http && (e.http_status == 404 || e.http_status == 410))
    return DownloadOutcome::gone;
  if (e.kind == ErrorKind::network || e.kind == ErrorKind::protocol)
    return DownloadOutcome::retryable;
  if (e.kind == ErrorKind::http && (policy::is_retryable(e.http_status) || e.http_status == 403))
    return DownloadOutcome::retryable;
  return DownloadOutcome::gone;
}

}  // namespace

void Engine::record_published(const SongTask& t, const fs::path& rel, const std::string& clip_id,
                              const char* kind, std::uint64_t bytes, const std::string& sha256,
                              const std::string& source_sha256) {
  FileRow f;
  f.path = rel.generic_string();
  f.song_key = t.key;
  f.clip_id = clip_id;
  f.kind = kind;
  f.bytes = bytes;
  f.sha256 = sha256;
  f.source_sha256 = source_sha256;
  f.mtime_ns = mtime_ns(opt_.out_dir / rel);
  state_.record_file(f);
}

// Writes a small file atomically under OUT and records it.
asio::awaitable<bool> Engine::write_and_record(const SongTask& t, fs::path rel, std::string data,
                                               std::string clip_id, const char* kind) {
  const fs::path path = opt_.out_dir / rel;
  bool written = co_await on_disk([&] {
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    return write_file_atomic(path, data).ok();
  });
  if (!written) co_return false;
  auto sha = sha256_hex(data);
  record_published(t, rel, clip_id, kind, data.size(), sha, sha);
  co_return true;
}

// Lyrics the API wrote for one take: beside the take, named after it
// ("01 - Title (A).txt"), recorded with the take's clip id.
asio::awaitable<void> Engine::save_written_lyrics(const SongTask& t, fs::path audio_rel, std::string text,
                                                  std::string clip_id) {
  auto lyr_rel = audio_rel.replace_extension(".txt");
  if (!co_await write_and_record(t, lyr_rel, text + "\n", clip_id, "lyrics"))
    emit(Event::Kind::warning, &t, "lyrics file not written: " + lyr_rel.generic_string());
}

asio::awaitable<Result<http::Download>> Engine::download_with_retries(SongTask& t,
                                                                      const std::string& url_text,
                                                                      const fs::path& part,
                                                                      http::Expect expect) {
  auto url = http::Url::parse(url_text);
  if (!url) {
    Error e;
    e.kind = ErrorKind::protocol;
    e.message = "unusable URL in clip";
    co_return e;
  }
  // https only, unless the API itself is plain http on this machine (the
  // simulator, a local suno-api) and so is the file.
  if (!url->https()) {
    auto api = http::Url::parse(base_url_);
    if (!(api && !api->https() && api->is_loopback() && url->is_loopback())) {
      Error e;
      e.kind = ErrorKind::protocol;
      e.message = "refusing to download over plain http (" + url->origin() +
                  ") from an API that is not plain http on this machine";
      co_return e;
    }
  }
  // The validator of the bytes already in `part`: the next attempt resumes
  // with Range/If-Range instead of restarting. It is kept in memory, and
  // beside `part` only after a failed attempt (so a later run resumes too).
  // A hint, not a record: a lost validator only means the whole file again.
  auto etag_file = part;
  etag_file += ".etag";
  std::string validator = read_validator(etag_file);
  const bool had_file = !validator.empty();
  auto keep_etag = [&validator](const std::string& etag) { validator = etag; };
  for (int attempt = 0;; ++attempt) {
    ++requests_["download"];
    auto r =
        co_await client_.download(*url, part, validator, expect, s_.request_timeout, keep_etag);
    if (r) {
      std::error_code ec;
      if (had_file || attempt > 0) fs::remove(etag_file, ec);
      co_return r;
    }
    if (r.error().kind == ErrorKind::protocol &&
        (r.error().http_status == 416 || r.error().http_status == 206))
      validator.clear();  // the partial file cannot be continued: restart from zero
    if (validator.empty()) {
      std::error_code ec;
      fs::remove(etag_file, ec);
    } else if (!write_file_atomic(etag_file, validator)) {  // refuses links; a lost hint costs a full download
      validator.clear();
    }
    const bool attempts_left = attempt + 1 < s_.retry_max_attempts && !stopping();
    if (!download_should_retry(outcome_of(r.error()), attempts_left)) co_return r;
    ++retries_;
    auto delay =
        policy::backoff_delay(attempt, std::chrono::duration_cast<Micros>(s_.retry_base),
                              std::chrono::duration_cast<Micros>(s_.retry_cap), unit_random());
    mark(&t, "retry", delay.count() / 1000, "download: " + r.error().message);
    emit(Event::Kind::retry, &t, "download: " + r.error().message + "; retrying");
    co_await sleep(delay);
  }
}

asio::awaitable<bool> Engine::download_song(SongTask& t) {
  t.phase = SongTask::Phase::downloading;
  mark(&t, "ready");
  co_await downloads_.acquire();
  SlotGuard slot(downloads_);
  mark(&t, "download");

  auto partial_dir = opt_.out_dir / ".setlist" / "partial";
  fs::create_directories(partial_dir);
  std::string failures;
  auto fail = [&](std::string why) { failures += (failures.empty() ? "" : "; ") + why; };
  int published = 0;
  // A take whose download failed in a way worth retrying while the run was
  // stopping (no retry then): the song is not failed but left as it is
  // (bought, clips known) for the next run, which fetches it for nothing.
  bool left_for_next_run = false;
  const auto recorded = state_.files(t.key);
  emit(Event::Kind::downloading, &t, "downloading");
  for (std::size_t take = 0; take < t.clips.size(); ++take) {
    auto& c = t.clips[take];
    const std::string label = take_label(static_cast<int>(take));
    if (test_fault_ == "throw-in-download")
      throw std::runtime_error("injected fault (SETLIST_TEST_FAULT)");
    // The clip as the API described it (failed ones too), for later inspection.
    if (!c.raw_json.empty())
      co_await write_and_record(t,
                                fs::path(".setlist") / "clips" / (safe_component(c.id) + ".json"),
                                c.raw_json, c.id, "clip_json");
    if (c.status != ClipStatus::complete) {
      fail("take " + label +
           " ended in error: " + (c.error_message.empty() ? "no reason given" : c.error_message));
      continue;
    }
    // Lyrics the API wrote (description mode): each take has its own words,
    // saved like given lyrics: in its tag and in a .txt beside it.
    const std::string written = t.song->lyrics ? std::string() : clip_lyrics(c.raw_json);
    // Already on disk as recorded (a resumed or repaired song): keep it.
    const FileRow* have = nullptr;
    for (auto& f : recorded)
      if (f.clip_id == c.id && f.kind == "audio") {
        if (auto problem = state_path_problem(opt_.out_dir, f.path)) {
          // Damaged state: that path is never looked at, moved or reused;
          // the take is fetched (free) under the name it would have anyway.
          emit(Event::Kind::warning, &t, damaged_state_message(f.path, *problem));
          continue;
        }
        have = &f;
      }
    if (have && file_intact(opt_.out_dir, *have)) {
      ++published;
      if (!written.empty()) co_await save_written_lyrics(t, have->path, written, c.id);
      continue;
    }
    if (c.audio_url.empty()) {
      fail("clip " + c.id + " is complete but has no audio_url");
      continue;
    }
    fs::path rel = have ? fs::path(have->path) : audio_path(t, take);
    if (have) {
      // Changed or replaced since it was published: keep that file aside, never lose it.
      auto from = opt_.out_dir / rel;
      std::error_code ec;
      if (fs::exists(fs::symlink_status(from, ec))) {
        auto to = opt_.out_dir / ".setlist" / "superseded" / t.key.substr(0, 16) / "changed" / rel;
        fs::create_directories(to.parent_path(), ec);
        fs::rename(from, to, ec);
        emit(Event::Kind::warning, &t,
             rel.generic_string() +
                 " changed since it was published: downloading it again (the changed file is in " +
                 fs::relative(to, opt_.out_dir).generic_string() + ")");
      }
    }
    const std::string safe_id = safe_component(c.id);
    auto part = partial_dir / (safe_id + ".audio.part");

    // The cover first: it goes into the audio's tag (APIC).
    auto cover_rel = rel;
    cover_rel.replace_extension(".jpg");
    auto cpart = partial_dir / (safe_id + ".jpg.part");
    std::optional<http::Download> cover_dl;
    if (!c.image_url.empty()) {
      auto cr = co_await download_with_retries(t, c.image_url, cpart, http::Expect::jpeg);
      if (cr)
        cover_dl = *cr;
      else
        emit(Event::Kind::warning, &t, "cover not downloaded: " + cr.error().message);
    }

    // The whole file is checked before anything else: a truncated WAV or
    // an MP3 with no frame sequence is a failed download, retried, never a
    // complete song. Its real format names the file.
    Result<AudioCheck> audio = protocol_error_result("not downloaded");
    std::string streamed_sha256;  // the downloaded bytes' digest, computed as they arrived ("" unknown)
    for (int attempt = 0;; ++attempt) {
      auto r = co_await download_with_retries(t, c.audio_url, part, http::Expect::audio);
      if (!r) {
        audio = r.error();
        break;
      }
      streamed_sha256 = r->sha256;
      audio = co_await on_disk([&] { return check_audio_file(part); });
      if (audio || attempt + 1 >= s_.retry_max_attempts || stopping()) break;
      std::error_code ec;
      fs::remove(part, ec);  // not resumable: its bytes are wrong
      emit(Event::Kind::retry, &t,
           "take " + label + ": " + audio.error().message + "; downloading again");
    }
    if (!audio && stopping() && outcome_of(audio.error()) == DownloadOutcome::retryable) {
      left_for_next_run = true;
      emit(Event::Kind::info, &t,
           "take " + label + " not downloaded before the stop (" + audio.error().message +
               "); the next run fetches it");
      continue;
    }
    if (!audio) {
      std::error_code ec;
      if (audio.error().kind == ErrorKind::protocol) fs::remove(part, ec);
      std::string why = audio.error().message;
      const auto ttl = t.api->info().file_ttl;
      if (ttl.count() > 0 && outcome_of(audio.error()) == DownloadOutcome::gone)
        why += " (the service keeps files about " + std::to_string(ttl.count() / 86'400'000) +
               " days: this audio has probably expired and cannot be fetched any more)";
      fail("take " + label + " download failed: " + why);
      continue;
    }
    if (!have) rel.replace_extension(extension(audio->format));
    cover_rel = rel;
    cover_rel.replace_extension(".jpg");
    if (!c.duration && audio->duration_seconds > 0) {
      c.duration = audio->duration_seconds;  // the API gave none: the audio's own
      state_.update_clips({c});
    }
    // Tag the temporary file, then publish: the file under its final name is
    // always the tagged one. bytes/sha256 describe it as published;
    // source_sha256 the bytes the API sent.
    auto info = tag_info_for(m_, *t.song, t.key, c.id, static_cast<int>(take));
    if (!written.empty()) info.lyrics = written;
    struct Finished {
      std::string tag_error;  // published without tags
      std::string error;      // not published
      std::uint64_t bytes = 0;
      std::string sha256;
      std::string source_sha256;
      std::optional<std::pair<std::uint64_t, std::string>> cover;  // published cover: size, digest
      std::optional<AnalysisRow> analysis;  // the take decoded and measured (#19)
      std::string analysis_error;
    };
    const fs::path final_path = opt_.out_dir / rel, cover_path = opt_.out_dir / cover_rel;
    const bool have_cover = cover_dl.has_value();
    const auto tag_start = unix_millis_now();
    // Decoded and measured before tagging (the track's ReplayGain goes into
    // the tag pass), on the analysis threads: the disk thread meanwhile tags
    // and publishes other songs' takes, so the album's end does not wait for
    // every take's decoding one after another.
    Finished measured = co_await on_analysis([&] {
      Finished f;
      f.source_sha256 = streamed_sha256;
      if (f.source_sha256.empty()) {  // not known from the download (a prefix that could not be read back)
        auto source = file_digest(part);
        if (!source) {
          f.error = source.error().message;
          return f;
        }
        f.source_sha256 = source->second;
      }
      if (auto an = analyze_take(part, s_, *t.song, t.key, c.id, f.source_sha256))
        f.analysis = std::move(*an);
      else
        f.analysis_error = an.error().message;
      return f;
    });
    Finished done = co_await on_disk([&] {
      Finished f = std::move(measured);
      if (!f.error.empty()) return f;
      if (f.analysis)
        if (auto l = f.analysis->audio.integrated_lufs) {
          info.replaygain_track_gain = replaygain_gain_text(*l);
          info.replaygain_track_peak =
              replaygain_peak_text(f.analysis->audio.true_peak.value_or(f.analysis->audio.sample_peak));
        }
      info.cover_jpeg = have_cover ? read_small_file(cpart) : std::string();
      if (info.cover_jpeg.empty()) info.cover_jpeg = album_cover_;
      if (auto tagged = write_tags(part, info); !tagged) f.tag_error = tagged.error().message;
      auto digest = file_digest(part);
      if (!digest) {
        f.error = digest.error().message;
        return f;
      }
      f.bytes = digest->first;
      f.sha256 = digest->second;
      std::error_code ec;
      fs::create_directories(final_path.parent_path(), ec);
      if (auto pub = publish(part, final_path); !pub) {
        f.error = pub.error().message;
        return f;
      }
      if (have_cover) {
        if (!cover_dl->sha256.empty()) {  // the cover is published as downloaded: its streamed digest holds
          if (publish(cpart, cover_path)) f.cover = std::make_pair(cover_dl->bytes, cover_dl->sha256);
        } else if (auto cd = file_digest(cpart); cd && publish(cpart, cover_path)) {
          f.cover = *cd;
        }
      }
      return f;
    });
    mark(&t, "tag", unix_millis_now() - tag_start, label);
    if (!done.tag_error.empty())
      emit(Event::Kind::warning, &t,
           "take " + label + " published without tags: " + done.tag_error);
    if (!done.error.empty()) {
      fail(done.error);
      continue;
    }
    ++published;
    record_published(t, rel, c.id, "audio", done.bytes, done.sha256, done.source_sha256);
    if (done.analysis) {
      state_.record_analysis(*done.analysis);
      if (!done.analysis->flags.empty())
        emit(Event::Kind::info, &t, "take " + label + " flagged: " + join_flags(done.analysis->flags));
    } else if (!done.analysis_error.empty()) {
      emit(Event::Kind::info, &t, "take " + label + " not analysed: " + done.analysis_error);
    }
    if (done.cover)
      record_published(t, cover_rel, c.id, "cover", done.cover->first, done.cover->second,
                       done.cover->second);
    if (!written.empty()) co_await save_written_lyrics(t, rel, written, c.id);
  }

  if (published > 0 && t.song->lyrics) {
    auto lyr_rel = lyrics_path_for(audio_path(t, 0));
    std::string text = *t.song->lyrics;
    if (!text.empty() && text.back() != '\n') text += '\n';
    if (!co_await write_and_record(t, lyr_rel, text, "", "lyrics"))
      emit(Event::Kind::warning, &t, "lyrics file not written: " + lyr_rel.generic_string());
  }
  const SongStatus st = status_after_downloads(published, static_cast<int>(t.clips.size()));
  if (st != SongStatus::complete && left_for_next_run && failures.empty())
    co_return false;  // still submitted (bought): the next run downloads what is missing
  set_status(t, st, st == SongStatus::complete ? std::string() : failures);
  co_return st == SongStatus::complete;
}

}  // namespace setlist::engine
