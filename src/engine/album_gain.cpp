// ReplayGain album values (#19), after every song of the run has ended: the
// album's loudness over the first take (A) of every song that has an
// analysed, published one; written into every published take of the album
// whose tag does not hold these values yet (so only when the album's set of
// takes, and so its loudness, changed). Each file is changed as a copy that
// is then published: the file under its name is always whole.
#include <sys/stat.h>

#include "common/hash.hpp"
#include "engine/engine_impl.hpp"
#include "setlist/analysis.hpp"
#include "setlist/output.hpp"

namespace setlist::engine {

void Engine::tag_album_gain() {
  if (stopping()) return;
  AlbumLoudnessSum album;  // over the first takes, one at a time
  std::vector<std::pair<FileRow, std::string>> takes;  // every analysed published take: file, clip
  for (auto& t : tasks_) {
    const auto files = state_.files(t->key);
    const auto analyses = state_.analyses(t->key);
    const auto clips = state_.attempt_clips(t->key);
    for (std::size_t i = 0; i < clips.size(); ++i) {
      const AnalysisRow* a = nullptr;
      for (auto& r : analyses)
        if (r.clip_id == clips[i].clip_id) a = &r;
      const FileRow* f = nullptr;
      for (auto& r : files)
        if (r.clip_id == clips[i].clip_id && r.kind == "audio") f = &r;
      if (!a || !f || !file_intact(opt_.out_dir, *f)) continue;
      if (i == 0) album.add(a->audio);
      takes.emplace_back(*f, clips[i].clip_id);
    }
  }
  const AlbumLoudness al = album.result();
  if (!al.lufs) return;
  const std::string gain = replaygain_gain_text(*al.lufs), peak = replaygain_peak_text(al.peak);
  // What the last tagging left: these values in these files, each as
  // recorded (file_intact above checked size and mtime). The same again
  // means nothing to read or write (a finished album's rerun opens none of
  // its thousands of takes).
  auto fingerprint = [&](const std::vector<std::pair<FileRow, std::string>>& rows) {
    Sha256 h;
    h.update(gain + "\n" + peak + "\n");
    for (auto& [row, clip] : rows)
      h.update(row.path + "\t" + std::to_string(row.bytes) + "\t" + std::to_string(row.mtime_ns) + "\n");
    return h.hex_digest();
  };
  if (state_.meta("album_gain_tagged") == fingerprint(takes)) return;
  bool all_tagged = true;
  const fs::path partial = opt_.out_dir / ".setlist" / "partial";
  int changed = 0;
  for (auto& [row, clip] : takes) {
    if (hard_stopped_) return;
    const fs::path path = opt_.out_dir / row.path;
    if (read_replaygain_album(path) == std::make_pair(gain, peak)) continue;
    std::error_code ec;
    fs::create_directories(partial, ec);
    const fs::path tmp = partial / (safe_component(clip) + ".album-gain.part");
    fs::remove(tmp, ec);
    if (!fs::is_regular_file(fs::symlink_status(path, ec)) || !fs::copy_file(path, tmp, ec)) {
      all_tagged = false;
      continue;
    }
    auto w = write_replaygain_album(tmp, gain, peak);
    auto digest = w ? file_digest(tmp) : Result<std::pair<std::uint64_t, std::string>>(w.error());
    if (!w || !digest || !publish(tmp, path)) {
      fs::remove(tmp, ec);
      emit(Event::Kind::warning, nullptr, "album ReplayGain not written to " + row.path);
      all_tagged = false;
      continue;
    }
    FileRow f = row;
    f.bytes = digest->first;
    f.sha256 = digest->second;
    struct stat st {};
    f.mtime_ns = ::stat(path.c_str(), &st) == 0
                     ? static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec
                     : 0;
    f.created_at = 0;
    state_.record_file(f);
    row = f;
    ++changed;
  }
  if (all_tagged) state_.set_meta("album_gain_tagged", fingerprint(takes));
  if (changed > 0)
    emit(Event::Kind::info, nullptr,
         "album ReplayGain " + gain + " (album " + std::to_string(*al.lufs).substr(0, 6) + " LUFS over " +
             std::to_string(al.takes) + " first takes) written to " + std::to_string(changed) + " take(s)");
}

}  // namespace setlist::engine
