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

// One task per song and what each resumes to, read from state without
// writing anything: whether the run needs the API at all (needs_api()) is
// known before any file moves or any row changes.
void Engine::plan_tasks() {
  StateReadBatch batch(state_);  // reads only, before any other thread runs
  std::set<std::string> used;
  for (auto& song : m_.songs) {
    auto t = std::make_unique<SongTask>();
    t->song = &song;
    t->selected = (opt_.only.empty() || opt_.only.count(song.id) > 0) && (!opt_.shard || opt_.shard->owns(song.id));
    t->payload = provider_.payload(song, s_.model);
    t->api = &provider_.for_payload(t->payload);
    t->key = song_key(provider_.info().name, t->payload);
    t->requests_needed = provider_.requests_for(song, s_.model);
    t->cost = request_cost(s_, opt_.cost_per_request_given, provider_.model_limits(song, s_.model));
    const auto takes = static_cast<std::size_t>(t->requests_needed *
                                                std::max(1, t->api->info().clips_per_request));
    for (std::size_t take = 0; take < takes; ++take) t->audio_paths.push_back(unique_path(audio_path(*t, take), used));
    // Earlier attempts' takes still in the album folder (--keep-attempts):
    // this attempt's takes have their own names, before renames are followed.
    if (auto row = state_.song(t->key); row && row->attempt > 1) {
      std::set<std::string> current;
      for (auto& c : state_.attempt_clips(t->key)) current.insert(c.clip_id);
      for (auto& f : state_.files(t->key))
        if (f.kind == "audio" && !current.count(f.clip_id)) {
          t->attempt = row->attempt;
          name_attempt_takes(*t);
          break;
        }
    }
    if (t->selected)
      for (auto& p : t->audio_paths) planned_paths_.insert(p.string());
    ResumeOptions ro{opt_.retry_failed, opt_.resubmit_uncertain, opt_.regenerate.count(song.id) > 0};
    const auto facts = song_facts(state_, t->key, opt_.out_dir, t->requests_needed);
    // reject_bad_takes (#19): a flagged take A an earlier run kept is bought
    // again, as --regenerate would (plan.cpp announces the same).
    if (t->selected && !ro.regenerate && facts.known)
      if (auto why = take_to_reject(state_, t->key, s_.reject_bad_takes)) {
        ResumeOptions again = ro;
        again.regenerate = true;
        if (!regenerate_refusal(facts, again)) {
          ro = again;
          t->rejected = *why;
        }
      }
    t->decision = decide_resume(facts, ro);
    if (auto row = state_.song(t->key)) named_before_[t->key] = {row->title, row->track};
    tasks_.push_back(std::move(t));
  }
}

// A song needs the API when it sends a generate request or polls a clip
// that is not final. Downloading a final clip's audio and cover goes to the
// CDN, which never gets the key, so a repair needs none.
bool Engine::needs_api() const {
  for (auto& t : tasks_) {
    if (!t->selected) continue;
    const auto& d = t->decision;
    if (d.action != Resume::fetch && d.action != Resume::submit) continue;
    if (d.action == Resume::submit || d.paid_requests > 0 || d.new_attempt) return true;
    for (auto& c : state_.attempt_clips(t->key)) {
      if (!is_terminal(parse_clip_status(c.status))) return true;
      if (parse_clip_status(c.status) == ClipStatus::error && s_.regenerate_on_error > 0) return true;
    }
  }
  return false;
}

void Engine::prepare() {
  if (tasks_.empty()) plan_tasks();
  boost::json::array keys;
  std::vector<std::string> key_list;
  for (auto& t : tasks_) {
    key_list.push_back(t->key);
    SongRow row;
    row.key = t->key;
    row.song_id = t->song->id;
    row.title = t->song->title;
    row.track = t->song->track;
    state_.upsert_song(row);
    keys.push_back(boost::json::string(t->key));
  }
  state_.set_meta("manifest_keys", boost::json::serialize(keys));
  state_.set_meta("provider", provider_.info().name);
  // Which share of the album this OUT holds ("" : all of it) and which album
  // it is a share of: `setlist merge` checks both.
  state_.set_meta("shard", opt_.shard ? opt_.shard->label() : std::string());
  state_.set_meta("manifest_hash", album_identity(provider_.info().name, m_.album.title, m_.album.artist, key_list));
  if (auto before = state_.meta("tokens_charged_to_date")) {
    try {
      charged_before_ = std::stoll(*before);
    } catch (const std::exception&) {
      charged_before_ = 0;
    }
  } else {
    // A state written before the album's cost was kept: every request that
    // was, or may have been, accepted for the songs of this manifest, at
    // today's estimate.
    for (auto& t : tasks_)
      for (auto& s : state_.submissions(t->key))
        if (s.state == "acked" || s.state == "uncertain" || s.state == "intent") charged_before_ += t->cost;
    state_.set_meta("tokens_charged_to_date", std::to_string(charged_before_));
  }
  supersede_old_versions(planned_paths_);
  follow_renames();

  for (auto& t : tasks_) {
    auto row = state_.song(t->key);
    if (row) t->attempt = row->attempt;
    if (!t->selected) {
      // --only: left alone entirely; its row, files and clips stay as they are.
      t->final = row ? row->status : SongStatus::pending;
      t->phase = SongTask::Phase::done;
      continue;
    }
    const ResumeOptions ro{opt_.retry_failed, opt_.resubmit_uncertain,
                           opt_.regenerate.count(t->song->id) > 0};
    if (auto why = regenerate_refusal(song_facts(state_, t->key, opt_.out_dir, t->requests_needed), ro))
      emit(Event::Kind::warning, t.get(), "not regenerated: " + *why);
    if (!t->rejected.empty())
      emit(Event::Kind::warning, t.get(),
           t->rejected + ": rejected (reject_bad_takes " + std::to_string(s_.reject_bad_takes) +
               "), bought again as attempt " + std::to_string(t->attempt + 1));
    settle_without_work(*t);
  }
}

// Takes of attempt 2 and later, when the earlier attempts' takes stay in the
// album folder (--keep-attempts): "NAME (attempt N).mp3", so no name collides.
void Engine::name_attempt_takes(SongTask& t) {
  if (t.attempt <= 1) return;
  const std::string suffix = " (attempt " + std::to_string(t.attempt) + ")";
  for (auto& p : t.audio_paths) {
    if (p.stem().string().ends_with(suffix)) continue;
    p.replace_filename(p.stem().string() + suffix + p.extension().string());
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
    case Resume::submit: {
      if (opt_.resubmit_uncertain)
        for (auto& s : state_.submissions(t.key))
          if (s.state == "intent" && s.attempt == t.attempt)
            state_.record_uncertain(s.id,
                                    "no answer recorded; submitted again at the user's request");
      if (t.decision.new_attempt) start_new_attempt(t);
      for (auto& c : state_.attempt_clips(t.key)) t.clips.push_back(clip_from_row(c));
      bind_resumed_clips(t);
      // Earlier attempts' takes still listed in OUT (--keep-attempts): this
      // attempt's takes get their own names.
      std::set<std::string> current;
      for (auto& c : t.clips) current.insert(c.id);
      for (auto& f : state_.files(t.key))
        if (f.kind == "audio" && !current.count(f.clip_id)) {
          name_attempt_takes(t);
          break;
        }
      return;
    }
  }
}

// Resumed clips are polled with the key that submitted them (state keeps its
// fingerprint). One whose key is not in this run's pool goes with the first
// key, said once per run: the API may not show it to another account.
void Engine::bind_resumed_clips(SongTask& t) {
  if (t.clips.empty()) return;
  std::map<std::int64_t, std::string> fp_of;
  for (auto& s : state_.submissions(t.key)) fp_of[s.id] = s.key_fp;
  auto rows = state_.attempt_clips(t.key);
  for (auto& c : rows) {
    const std::string& fp = fp_of[c.submission_id];
    KeyLane* lane = nullptr;
    for (auto& l : lanes_)
      if (l->fingerprint == fp) lane = l.get();
    if (lane && !t.home) t.home = lane;  // more requests for this song go out with the same key
    if (!lane) {
      lane = lanes_.front().get();
      if (!fp.empty() && !opt_.api_keys.empty() && missing_keys_warned_.insert(fp).second)
        emit(Event::Kind::warning, &t,
             "submitted with key " + fp + ", which is not in this run's keys; polling with key " +
                 lane->fingerprint + " instead");
    }
    clip_lane_[c.clip_id] = lane;
  }
}

// A paid retry: the earlier attempt's files move to
// OUT/.setlist/superseded/<key>/attempt-N/, so the new takes never overwrite
// them and no file is left behind unlisted.
void Engine::start_new_attempt(SongTask& t) {
  const int old = t.attempt;
  if (opt_.keep_attempts) {
    // --keep-attempts: the earlier takes stay where they are, still listed;
    // the new attempt's takes carry an attempt suffix.
    t.attempt = state_.new_attempt(t.key);
    name_attempt_takes(t);
    emit(Event::Kind::info, &t,
         "new attempt " + std::to_string(t.attempt) + "; the previous takes stay in the album folder");
    return;
  }
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

// A song whose key changed (its lyrics, tags, model... were edited; or its
// title, where the title is sent) is a new song. The old version's files move
// to OUT/.setlist/superseded/<key>/ when the new version takes its place
// (same song id, a new song at its track number, or the same file name):
// nothing is silently overwritten or deleted.
void Engine::supersede_old_versions(const std::set<std::string>& planned_paths) {
  std::set<std::string> current_keys, current_ids;  // ids: of the selected songs (--only)
  std::set<int> new_tracks;  // tracks of songs state does not know yet
  for (auto& t : tasks_) {
    current_keys.insert(t->key);
    if (t->selected) current_ids.insert(t->song->id);
    if (t->selected && !named_before_.count(t->key)) new_tracks.insert(t->song->track);
  }
  for (auto& old : state_.songs()) {
    if (current_keys.count(old.key) || old.status == SongStatus::superseded) continue;
    auto files = state_.files(old.key);
    bool same_song = current_ids.count(old.song_id) > 0 || new_tracks.count(old.track) > 0;
    bool collides = std::any_of(files.begin(), files.end(),
                                [&](const FileRow& f) { return planned_paths.count(f.path) > 0; });
    // A song --only leaves alone keeps its files, even when it was edited,
    // unless a selected song's new take would take a file's place.
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
