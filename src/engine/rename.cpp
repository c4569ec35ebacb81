// Renaming: a song whose name changed in the manifest while nothing that is
// sent changed (same song key: the title is not part of the request for the
// AIML music models and for Suno's description mode) keeps its takes, which
// follow the manifest for free: files moved to the names the template gives
// now, their tags rewritten (title, track), lyrics files moved with them.
// Where the title is sent (Suno custom mode), a new title is a new song
// (another key): supersede_old_versions() handles it like any other edit.
// The album's own fields (title, artist, year, genre) are in every take's
// tags and in no request: when they change, every take is retagged, for free.
#include <sys/stat.h>

#include <boost/json.hpp>

#include "common/hash.hpp"
#include "engine/engine_impl.hpp"
#include "setlist/output.hpp"

namespace setlist::engine {

namespace {

bool inside_out(const std::string& p) {
  fs::path path(p);
  if (p.empty() || path.is_absolute() || p.starts_with(".setlist/")) return false;
  for (auto& part : path)
    if (part == "..") return false;
  return true;
}

std::int64_t mtime_of(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return 0;
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

// The album fields every take's tags carry, as recorded in state: "album_tags"
// once this code has run, else the album the last report recorded.
std::string album_tag_fields(const boost::json::object& a) {
  boost::json::object o;
  for (auto* k : {"title", "artist", "year", "genre"})
    o[k] = a.contains(k) ? a.at(k) : boost::json::value(nullptr);
  return boost::json::serialize(o);
}

std::string album_tag_fields(const Album& a) {
  boost::json::object o;
  o["title"] = a.title;
  o["artist"] = a.artist;
  if (a.year)
    o["year"] = *a.year;
  else
    o["year"] = nullptr;
  o["genre"] = a.genre;
  return album_tag_fields(o);
}

std::string recorded_album_tag_fields(StateStore& state) {
  if (auto t = state.meta("album_tags")) return *t;
  if (auto a = state.meta("album")) {
    boost::json::error_code ec;
    auto v = boost::json::parse(*a, ec);
    if (!ec && v.is_object()) return album_tag_fields(v.get_object());
  }
  return {};
}

}  // namespace

void Engine::follow_renames() {
  // The album renamed (or its artist, year, genre changed): every selected
  // song's takes are retagged. The new fields are recorded once every song's
  // takes hold them; until then (--only, a failed rewrite) later runs retry.
  const std::string album_now = album_tag_fields(m_.album), album_before = recorded_album_tag_fields(state_);
  const bool album_changed = !album_before.empty() && album_before != album_now;
  bool album_settled = true;
  struct Move {
    SongTask* task;
    FileRow row;
    fs::path to;     // relative to OUT
    fs::path stage;  // absolute, under .setlist/partial
    bool retag = false;
    int take = 0;
  };
  std::vector<Move> moves;
  std::set<std::string> retitled;  // keys whose tags must follow even without a move
  for (auto& tp : tasks_) {
    SongTask& t = *tp;
    if (!t.selected) {  // --only leaves it alone, names included
      if (album_changed && !state_.files(t.key).empty()) album_settled = false;
      continue;
    }
    auto before = named_before_.find(t.key);
    const bool renamed = before != named_before_.end() &&
                         (before->second.first != t.song->title || before->second.second != t.song->track);
    auto files = state_.files(t.key);
    if (files.empty()) continue;
    std::map<std::string, int> take_of;
    int n = 0;
    for (auto& c : state_.attempt_clips(t.key)) take_of[c.clip_id] = n++;
    for (auto& f : files) {
      if (!inside_out(f.path)) continue;
      fs::path from(f.path), to;
      int take = 0;
      if (f.kind == "audio" || f.kind == "cover" || (f.kind == "lyrics" && !f.clip_id.empty())) {
        auto it = take_of.find(f.clip_id);
        if (it == take_of.end() || static_cast<std::size_t>(it->second) >= t.audio_paths.size()) continue;
        take = it->second;
        to = t.audio_paths[static_cast<std::size_t>(take)];
        to.replace_extension(from.extension());  // the audio's real format, .jpg, .txt
      } else if (f.kind == "lyrics") {
        if (t.audio_paths.empty()) continue;
        to = lyrics_path_for(t.audio_paths.front());
      } else {
        continue;
      }
      const bool retag = (renamed || album_changed) && f.kind == "audio";
      if (to == from && !retag) continue;
      // Missing or changed since published: the download repairs it first
      // (the changed file kept aside); a later run renames the repaired one.
      if (!file_intact(opt_.out_dir, f)) continue;
      moves.push_back(Move{&t, f, to, {}, retag, take});
    }
    if (renamed) retitled.insert(t.key);
  }
  auto settle_album = [&] {
    if (album_settled) state_.set_meta("album_tags", album_now);
  };
  if (moves.empty()) {
    settle_album();
    return;
  }

  // Two steps, so that songs may swap names: every file leaves its old name
  // for a staging name first, then takes its new one.
  const auto stage_dir = opt_.out_dir / ".setlist" / "partial";
  std::error_code ec;
  fs::create_directories(stage_dir, ec);
  for (auto& m : moves) {
    m.stage = stage_dir / ("rename-" + sha256_hex(m.row.path).substr(0, 24) + m.to.extension().string());
    fs::rename(opt_.out_dir / m.row.path, m.stage, ec);
    if (ec) {
      emit(Event::Kind::warning, m.task, "could not rename " + m.row.path + ": " + ec.message());
      m.stage.clear();
    }
  }
  std::map<std::string, std::vector<FileRow>> rows;  // per song: every file row after the moves
  for (auto& tp : tasks_)
    if (std::any_of(moves.begin(), moves.end(), [&](const Move& m) { return m.task == tp.get(); }))
      rows[tp->key] = state_.files(tp->key);
  for (auto& m : moves) {
    if (m.stage.empty()) {
      album_settled = false;
      continue;
    }
    SongTask& t = *m.task;
    fs::path dest = m.to;
    const fs::path final = opt_.out_dir / dest;
    if (fs::exists(fs::symlink_status(final, ec))) {
      // Not ours to overwrite: the take keeps a free name beside it.
      std::set<std::string> used;
      for (auto it = fs::directory_iterator(final.parent_path(), ec); !ec && it != fs::directory_iterator();
           it.increment(ec))
        used.insert(fs::relative(it->path(), opt_.out_dir, ec).generic_string());
      dest = unique_path(dest, used);
    }
    std::string why;
    if (m.retag) {
      auto info = tag_info_for(m_, *t.song, t.key, m.row.clip_id, m.take);
      if (!t.song->lyrics)
        for (auto& c : state_.attempt_clips(t.key))
          if (c.clip_id == m.row.clip_id) info.lyrics = clip_lyrics(c.raw_json);
      fs::path cover = m.row.path;
      cover.replace_extension(".jpg");
      for (auto& f : rows[t.key])
        if (f.kind == "cover" && f.clip_id == m.row.clip_id) cover = f.path;
      info.cover_jpeg = read_small_file(opt_.out_dir / cover);
      if (info.cover_jpeg.empty()) {
        for (auto& mm : moves)  // the cover may be staged already
          if (mm.task == m.task && mm.row.kind == "cover" && mm.row.clip_id == m.row.clip_id && !mm.stage.empty())
            info.cover_jpeg = read_small_file(mm.stage);
      }
      if (info.cover_jpeg.empty()) info.cover_jpeg = album_cover_;
      if (auto tagged = write_tags(m.stage, info); !tagged) why = "tags not rewritten: " + tagged.error().message;
    }
    fs::create_directories(final.parent_path(), ec);
    if (!why.empty()) album_settled = false;
    if (auto pub = publish(m.stage, opt_.out_dir / dest); !pub) {
      album_settled = false;
      emit(Event::Kind::warning, &t,
           "could not move " + m.row.path + " to " + dest.generic_string() + ": " + pub.error().message +
               " (it is in " + fs::relative(m.stage, opt_.out_dir).generic_string() + ")");
      continue;
    }
    if (!why.empty()) emit(Event::Kind::warning, &t, dest.generic_string() + ": " + why);
    for (auto& f : rows[t.key]) {
      if (f.path != m.row.path) continue;
      f.path = dest.generic_string();
      f.mtime_ns = mtime_of(opt_.out_dir / dest);
      if (m.retag)
        if (auto d = file_digest(opt_.out_dir / dest)) {
          f.bytes = d->first;
          f.sha256 = d->second;
        }
    }
    if (m.row.path != dest.generic_string())
      emit(Event::Kind::info, &t, "renamed " + m.row.path + " to " + dest.generic_string());
  }
  for (auto& [key, files] : rows) {
    state_.forget_files(key);
    for (auto& f : files) state_.record_file(f);
  }
  for (auto& key : retitled)
    for (auto& tp : tasks_)
      if (tp->key == key) emit(Event::Kind::info, tp.get(), "renamed in the manifest: files and tags follow (nothing sent)");
  if (album_changed) {
    const auto retagged = std::count_if(moves.begin(), moves.end(), [](const Move& m) { return m.retag; });
    emit(Event::Kind::info, nullptr,
         "the album's title, artist, year or genre changed in the manifest: " + std::to_string(retagged) +
             " take(s) retagged (nothing sent)");
  }
  settle_album();
}

}  // namespace setlist::engine
