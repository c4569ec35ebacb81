// #19: the run timeline in report.html. Each run that recorded moments in
// state (schema v4's timeline table) is one inline SVG: a row per song it
// touched, bars for submitting (from the first send to the acceptance,
// 429 waits included), generation (waiting for the API), downloading and
// tagging, with a mark at every 429 and every retry, and the rate achieved.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "report/model.hpp"
#include "setlist/state.hpp"

namespace setlist::report {

namespace {

std::string seconds_text(double s) {
  if (s < 120) return num(s, s < 10 ? 1 : 0) + " s";
  long m = std::lround(s) / 60, r = std::lround(s) % 60;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%ldm%02lds", m, r);
  return buf;
}

const char* phase_name(const std::string& p) {
  if (p == "submit") return "submitting";
  if (p == "generate") return "generation (waiting for the API)";
  if (p == "download") return "downloading";
  return "decoding, analysis and tagging";
}

}  // namespace

std::vector<TimelineRun> gather_timeline(StateStore& state, const std::vector<SongInfo>& songs) {
  std::map<std::int64_t, std::vector<TimelineRow>> by_run;
  for (auto& r : state.timeline()) by_run[r.run].push_back(std::move(r));
  std::vector<TimelineRun> out;
  for (auto& [id, rows] : by_run) {
    TimelineRun run;
    run.start = id;
    run.end = id;
    std::map<std::string, std::vector<const TimelineRow*>> by_song;
    std::int64_t first_submit = 0, last_accepted = 0;
    for (auto& r : rows) {
      run.start = std::min(run.start, r.at - (r.kind == "tag" ? r.ms : 0));
      run.end = std::max(run.end, r.at);
      if (r.kind == "submit") {
        ++run.submits;
        if (!first_submit) first_submit = r.at;
      } else if (r.kind == "accepted") {
        ++run.accepted;
        last_accepted = std::max(last_accepted, r.at);
      } else if (r.kind == "429") {
        ++run.throttled;
      } else if (r.kind == "retry") {
        ++run.retries;
      }
      if (r.song_key.empty()) {
        if (r.kind == "429" || r.kind == "retry") run.marks.push_back({r.kind, r.at, r.ms, r.detail});
      } else {
        by_song[r.song_key].push_back(&r);
      }
    }
    if (run.accepted > 0 && last_accepted > first_submit)
      run.rate = run.accepted / ((static_cast<double>(last_accepted - first_submit)) / 1000.0);
    for (auto& s : songs) {
      auto it = by_song.find(s.key);
      if (it == by_song.end()) continue;
      TimelineSong ts{s.key, s.track, s.title, {}, {}, {}};
      std::int64_t submit_at = 0, accepted_at = 0, ready_at = 0, end_at = 0, last = 0;
      for (auto* r : it->second) {
        last = std::max(last, r->at);
        if (r->kind == "submit" && !submit_at) submit_at = r->at;
        if (r->kind == "accepted") accepted_at = r->at;
        if (r->kind == "ready" && !ready_at) ready_at = r->at;
        if (r->kind == "done" || r->kind == "failed") {
          end_at = r->at;
          ts.end = r->kind;
        }
        if (r->kind == "tag") ts.spans.push_back({"tag", r->at - r->ms, r->at});
        if (r->kind == "429" || r->kind == "retry") ts.marks.push_back({r->kind, r->at, r->ms, r->detail});
      }
      const std::int64_t stop = end_at ? end_at : std::max(last, run.end);
      std::vector<TimelineSpan> spans;
      if (submit_at) spans.push_back({"submit", submit_at, accepted_at ? accepted_at : stop});
      // Generation: from the acceptance, or from the run's start for a song
      // this run resumed (submitted by an earlier one), until its downloads began.
      const std::int64_t gen_from = accepted_at ? accepted_at : (!submit_at ? run.start : 0);
      if (gen_from) spans.push_back({"generate", gen_from, ready_at ? ready_at : stop});
      if (ready_at) spans.push_back({"download", ready_at, stop});
      spans.insert(spans.end(), ts.spans.begin(), ts.spans.end());
      ts.spans = std::move(spans);
      run.songs.push_back(std::move(ts));
    }
    if (!run.songs.empty() || !run.marks.empty()) out.push_back(std::move(run));
  }
  return out;
}

std::string timeline_svg(const TimelineRun& run, std::size_t index) {
  const std::size_t n = run.songs.size();
  const int row = n <= 40 ? 14 : n <= 100 ? 8 : 5;
  const int width = 960, label_w = row >= 8 ? 180 : 40, right = 12, top = 22;
  const int height = top + static_cast<int>(n) * row + 6;
  const double span_ms = std::max<std::int64_t>(run.end - run.start, 1000);
  const double plot = width - label_w - right;
  auto x = [&](std::int64_t t) {
    return label_w + plot * std::clamp(static_cast<double>(t - run.start) / span_ms, 0.0, 1.0);
  };
  std::string s = "<svg class=\"timeline\" data-run=\"" + std::to_string(index) + "\" viewBox=\"0 0 " +
                  std::to_string(width) + " " + std::to_string(height) + "\" width=\"" + std::to_string(width) +
                  "\" height=\"" + std::to_string(height) +
                  "\" role=\"img\" aria-label=\"Run timeline: a row per song\">";
  // The axis: seconds, or minutes for longer runs, about ten ticks.
  const double total_s = span_ms / 1000.0;
  double step = 3600;
  for (double c : {0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0})
    if (total_s / c <= 10) {
      step = c;
      break;
    }
  for (double t = 0; t <= total_s + 1e-9; t += step) {
    double px = x(run.start + static_cast<std::int64_t>(t * 1000));
    std::string label = step >= 60 ? num(t / 60, 0) + "m" : num(t, step < 1 ? 1 : 0) + "s";
    s += "<line class=\"tl-grid\" x1=\"" + num(px) + "\" x2=\"" + num(px) + "\" y1=\"" + std::to_string(top - 4) +
         "\" y2=\"" + std::to_string(height - 4) + "\"/>";
    s += "<text class=\"tl-axis\" x=\"" + num(px) + "\" y=\"" + std::to_string(top - 8) +
         "\" text-anchor=\"middle\">" + label + "</text>";
  }
  auto marks = [&](const std::vector<TimelineMark>& ms, double y, double h) {
    std::string m;
    for (auto& k : ms) {
      double px = x(k.at);
      std::string title = (k.kind == "429" ? "429 (throttled)" : "retry") + std::string(" at ") +
                          seconds_text((k.at - run.start) / 1000.0) +
                          (k.ms > 0 ? ", waited " + seconds_text(k.ms / 1000.0) : std::string()) +
                          (k.detail.empty() ? "" : ": " + k.detail);
      if (k.ms > 0)
        m += "<rect class=\"tl-wait\" x=\"" + num(px) + "\" y=\"" + num(y + h / 2 - 1) + "\" width=\"" +
             num(std::max(1.0, x(k.at + k.ms) - px)) + "\" height=\"2\"/>";
      if (k.kind == "429")
        m += "<path class=\"tl-429\" d=\"M" + num(px - 3) + " " + num(y) + "h6l-3 " + num(h) + "z\"><title>" +
             html_escape(title) + "</title></path>";
      else
        m += "<circle class=\"tl-retry\" cx=\"" + num(px) + "\" cy=\"" + num(y + h / 2) + "\" r=\"" +
             num(std::max(1.5, h / 3)) + "\"><title>" + html_escape(title) + "</title></circle>";
    }
    return m;
  };
  s += marks(run.marks, 2, 8);  // the batch poller's, on the axis
  for (std::size_t i = 0; i < n; ++i) {
    const TimelineSong& song = run.songs[i];
    const double y = top + static_cast<double>(i) * row, h = std::max(2, row - 2);
    std::string tip = std::to_string(song.track) + ". " + song.title;
    for (auto& sp : song.spans)
      if (sp.phase != "tag") tip += "; " + std::string(phase_name(sp.phase)) + " " + seconds_text((sp.to - sp.from) / 1000.0);
    if (!song.marks.empty()) tip += "; " + std::to_string(song.marks.size()) + " waits/retries";
    if (!song.end.empty()) tip += "; " + song.end;
    s += "<g class=\"tl-song\" data-track=\"" + std::to_string(song.track) + "\"><title>" + html_escape(tip) +
         "</title>";
    if (row >= 8)
      s += "<text class=\"tl-label\" x=\"" + std::to_string(label_w - 4) + "\" y=\"" + num(y + h - 1) +
           "\" text-anchor=\"end\" font-size=\"" + std::to_string(std::min(11, row - 2)) + "\">" +
           html_escape(std::to_string(song.track) + " " +
                       (song.title.size() > 28 ? song.title.substr(0, 27) + "\xE2\x80\xA6" : song.title)) +
           "</text>";
    else if (song.track % 10 == 0 || i == 0)
      s += "<text class=\"tl-label\" x=\"" + std::to_string(label_w - 4) + "\" y=\"" + num(y + h) +
           "\" text-anchor=\"end\" font-size=\"8\">" + std::to_string(song.track) + "</text>";
    for (auto& sp : song.spans) {
      double x0 = x(sp.from), w = std::max(1.0, x(sp.to) - x0);
      const bool tag = sp.phase == "tag";
      s += "<rect class=\"tl-" + sp.phase + "\" x=\"" + num(x0) + "\" y=\"" + num(tag ? y + h / 4 : y) +
           "\" width=\"" + num(w) + "\" height=\"" + num(tag ? h / 2 : h) + "\"/>";
    }
    if (song.end == "failed")
      s += "<text class=\"tl-failed\" x=\"" + num(x(run.end) - 1) + "\" y=\"" + num(y + h - 1) +
           "\" text-anchor=\"end\" font-size=\"" + std::to_string(std::max(6, row - 2)) + "\">\xE2\x9C\x95</text>";
    s += marks(song.marks, y, h);
    s += "</g>";
  }
  s += "</svg>";
  return s;
}

// One line above a run's picture: when, how long, what was sent, the rate.
std::string timeline_caption(const TimelineRun& run, std::size_t index) {
  std::string c = "Run " + std::to_string(index + 1) + ": " + iso_time(run.start) + ", " +
                  seconds_text((run.end - run.start) / 1000.0) + "; " + std::to_string(run.songs.size()) +
                  " songs, " + std::to_string(run.submits) + " generate requests sent, " +
                  std::to_string(run.accepted) + " accepted, " + std::to_string(run.throttled) +
                  " throttled (429), " + std::to_string(run.retries) + " retries";
  if (run.rate) c += "; achieved " + num(*run.rate, 2) + " accepted requests/s (" + num(*run.rate * 60, 1) + "/min)";
  return c;
}

}  // namespace setlist::report
