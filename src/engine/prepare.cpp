// Preparing: one task per song, what each resumes to (lifecycle.hpp decides),
// and the files of versions and attempts that give way to new ones.
#include <boost/json.hpp>

#include "engine/engine_impl.hpp"
#include "setlist/output.hpp"
#include "setlist/plan.hpp"

namespace setlist::engine {

namespace {

Clip clip_from_row(const ClipRow& r) {
  Clip c;
  c.id = r.clip_id;
  c.status = parse_clip_status(r.status);
  c.audio_url = r.audio_url;
  c.image_url = r.image_url;
  c.duration = r.duration;
  c.error_message = r.error_message;
  c.raw_json = r.raw_json;
  return c;
}

}  // namespace

fs::path Engine::audio_path(SongTask& t, std::size_t take) {
  if (take < t.audio_paths.size()) return t.audio_paths[take];
  NameFields f{m_.album.title, m_.album.artist,       t.song->title, t.song->id, "",
               t.song->track,  static_cast<int>(take)};
  auto name = render_name(s_.output_template, f);
  // The template was checked up front; fall back to a plain name if a value still fails.
  return name ? name.value()
              : fs::path(safe_component(std::to_string(t.song->track) + " - " + t.song->title +
                                        " (" + take_label(static_cast<int>(take)) + ").mp3"));
}

void Engine::prepare() {
  std::set<std::string> used;
  boost::json::array keys;
  for (auto& song : m_.songs) {
    auto t = std::make_unique<SongTask>();
    t->song = &song;
    t->payload = provider_.payload(song, s_.model);
    t->api = &provider_.for_payload(t->payload);
    t->key = song_key(provider_.info().name, t->payload);
    t->requests_needed = provider_.requests_for(song, s_.model);
    t->cost = request_cost(s_, opt_.cost_per_request_given, provider_.model_limits(song, s_.model));
    const auto takes = static_cast<std::size_t>(t->requests_needed *
                                                std::max(1, t->api->info().clips_per_request));
    for (std::size_t take = 0; take < takes; ++take)
      t->audio_paths.push_back(unique_path(audio_path(*t, take), used));
    SongRow row;
    row.key = t->key;
    row.song_id = song.id;
    row.title = song.title;
    row.track = song.track;
    state_.upsert_song(row);
    keys.push_back(boost::json::string(t->key));
    tasks_.push_back(std::move(t));
  }
  state_.set_meta("manifest_keys", boost::json::serialize(keys));
  state_.set_meta("provider", provider_.info().name);
  supersede_old_versions(used);

  const ResumeOptions ro{opt_.retry_failed, opt_.resubmit_uncertain};
  for (auto& t : tasks_) {
    t->decision = decide_resume(song_facts(state_, t->key, opt_.out_dir, t->requests_needed), ro);
    if (auto row = state_.song(t->key)) t->attempt = row->attempt;
    settle_without_work(*t);
  }
}

// Songs with nothing to do in this run get their final word now; the rest
// get a coroutine.
void Engine::settle_without_work(SongTask& t) {
  switch (t.decision.action) {
    case Resume::done:
      t.final = SongStatus::complete;
      t.phase = SongTask::Phase::done;
      emit(Event::Kind::song_done, &t, "already complete");
      return;
    case Resume::hold_failed: {
      auto row = state_.song(t.key);
      t.final = SongStatus::failed;
      t.phase = SongTask::Phase::done;
      emit(Event::Kind::song_failed, &t,
           "failed before: " + (row ? row->reason : std::string()) +
               " (use --retry-failed to try again)");
      return;
    }
    case Resume::hold_uncertain:
      for (auto& s : state_.submissions(t.key))
        if (s.state == "intent" && s.attempt == t.attempt)
          state_.record_uncertain(s.id, "no answer recorded (the run was interrupted)");
      t.phase = SongTask::Phase::done;
      set_status(t, SongStatus::uncertain,
                 "a generate request was sent but its answer was never recorded, so it may have "
                 "been accepted "
                 "and charged; resubmitting would pay again. Run with --resubmit-uncertain to "
                 "submit it again");
      return;
    case Resume::fetch:
    case Resume::submit:
      if (t.decision.new_attempt) start_new_attempt(t);
      if (opt_.resubmit_uncertain)
        for (auto& s : state_.submissions(t.key))
          if (s.state == "intent" && s.attempt == t.attempt)
            state_.record_uncertain(s.id,
                                    "no answer recorded; submitted again at the user's request");
      for (auto& c : state_.attempt_clips(t.key)) t.clips.push_back(clip_from_row(c));
      return;
  }
}

// A paid retry: the earlier attempt's files move to
// OUT/.setlist/superseded/<key>/attempt-N/, so the new takes never overwrite
// them and no file is left behind unlisted.
void Engine::start_new_attempt(SongTask& t) {
  const int old = t.attempt;
  auto dest_root = opt_.out_dir / ".setlist" / "superseded" / t.key.substr(0, 16) /
                   ("attempt-" + std::to_string(old));
  for (auto& f : state_.files(t.key)) {
    if (f.path.starts_with(".setlist/")) continue;
    if (auto problem = state_path_problem(opt_.out_dir, f.path)) {
      emit(Event::Kind::warning, &t, damaged_state_message(f.path, *problem));
      continue;
    }
    auto from = opt_.out_dir / f.path;
    std::error_code ec;
    if (!fs::exists(fs::symlink_status(from, ec))) continue;
    auto to = dest_root / f.path;
    fs::create_directories(to.parent_path(), ec);
    fs::rename(from, to, ec);
    if (ec) emit(Event::Kind::warning, &t, "could not move " + f.path + " aside: " + ec.message());
  }
  state_.forget_files(t.key);
  t.attempt = state_.new_attempt(t.key);
  emit(Event::Kind::info, &t,
       "new attempt " + std::to_string(t.attempt) + "; the previous takes are in " +
           fs::relative(dest_root, opt_.out_dir).generic_string());
}

// A song whose key changed (its lyrics, tags, model... were edited) is a new
// song. The old version's files move to OUT/.setlist/superseded/<key>/ when
// the new version would take their place (same song id, or same file name):
// nothing is silently overwritten or deleted.
void Engine::supersede_old_versions(const std::set<std::string>& planned_paths) {
  std::set<std::string> current_keys, current_ids;
  for (auto& t : tasks_) {
    current_keys.insert(t->key);
    current_ids.insert(t->song->id);
  }
  for (auto& old : state_.songs()) {
    if (current_keys.count(old.key) || old.status == SongStatus::superseded) continue;
    auto files = state_.files(old.key);
    bool same_song = current_ids.count(old.song_id) > 0;
    bool collides = std::any_of(files.begin(), files.end(),
                                [&](const FileRow& f) { return planned_paths.count(f.path) > 0; });
    if (!same_song && !collides) continue;
    auto dest_root = opt_.out_dir / ".setlist" / "superseded" / old.key.substr(0, 16);
    for (auto& f : files) {
      if (auto problem = state_path_problem(opt_.out_dir, f.path)) {
        emit(Event::Kind::warning, nullptr, damaged_state_message(f.path, *problem));
        continue;
      }
      auto from = opt_.out_dir / f.path;
      std::error_code ec;
      if (!fs::exists(fs::symlink_status(from, ec))) continue;
      auto to = dest_root / f.path;
      fs::create_directories(to.parent_path(), ec);
      fs::rename(from, to, ec);
      if (ec) {
        emit(Event::Kind::warning, nullptr,
             "could not move " + f.path + " to " + to.string() + ": " + ec.message());
        continue;
      }
    }
    state_.forget_files(old.key);
    state_.set_song_status(old.key, SongStatus::superseded,
                           "the manifest changed this song; old files in " +
                               fs::relative(dest_root, opt_.out_dir).generic_string());
    emit(Event::Kind::info, nullptr,
         "\"" + old.title +
             "\" changed in the manifest: regenerating it; the previous version's files are in " +
             fs::relative(dest_root, opt_.out_dir).generic_string());
  }
}

}  // namespace setlist::engine
