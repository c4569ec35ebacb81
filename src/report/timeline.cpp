// #19: the run timeline in report.html. Each run that recorded moments in
// state (schema v4's timeline table) is one inline SVG: a row per song it
// touched, bars for submitting (from the first send to the acceptance,
// 429 waits included), generation (waiting for the API), downloading and
// tagging, with a mark at every 429 and every retry, and the rate achieved.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>

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

// The time axis's tick: a round step giving about ten ticks over `total_s`.
double axis_step(double total_s) {
  for (double c : {0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0})
    if (total_s / c <= 10) return c;
  return 3600;
}

const char* phase_name(const std::string& p) {
  if (p == "submit") return "submitting";
  if (p == "generate") return "generation (waiting for the API)";
  if (p == "download") return "downloading";
  return "decoding, analysis and tagging";
}

}  // namespace

namespace {
// A song's moments in one run, summed as the rows come (never every row at once).
struct SongMoments {
  std::int64_t submit_at = 0, accepted_at = 0, ready_at = 0, end_at = 0, last = 0;
  std::string end;
  std::vector<TimelineSpan> tags;
  std::vector<TimelineMark> marks;
};
struct RunMoments {
  TimelineRun run;
  std::int64_t first_submit = 0, last_accepted = 0;
  std::map<std::string, SongMoments> songs;
};

void add_row(RunMoments& m, const TimelineRow& r) {
  TimelineRun& run = m.run;
  run.start = std::min(run.start, r.at - (r.kind == "tag" ? r.ms : 0));
  run.end = std::max(run.end, r.at);
  if (r.kind == "submit") {
    ++run.submits;
    if (!m.first_submit) m.first_submit = r.at;
  } else if (r.kind == "accepted") {
    ++run.accepted;
    m.last_accepted = std::max(m.last_accepted, r.at);
  } else if (r.kind == "429") {
    ++run.throttled;
  } else if (r.kind == "retry") {
    ++run.retries;
  }
  if (r.song_key.empty()) {
    if (r.kind == "429" || r.kind == "retry") run.marks.push_back({r.kind, r.at, r.ms, r.detail});
    return;
  }
  SongMoments& s = m.songs[r.song_key];
  s.last = std::max(s.last, r.at);
  if (r.kind == "submit" && !s.submit_at) s.submit_at = r.at;
  if (r.kind == "accepted") s.accepted_at = r.at;
  if (r.kind == "ready" && !s.ready_at) s.ready_at = r.at;
  if (r.kind == "done" || r.kind == "failed") {
    s.end_at = r.at;
    s.end = r.kind;
  }
  if (r.kind == "tag") s.tags.push_back({"tag", r.at - r.ms, r.at});
  if (r.kind == "429" || r.kind == "retry") s.marks.push_back({r.kind, r.at, r.ms, r.detail});
}

void finish_run(RunMoments& m, const std::vector<SongRef>& songs, std::vector<TimelineRun>& out) {
  TimelineRun& run = m.run;
  if (run.accepted > 0 && m.last_accepted > m.first_submit)
    run.rate = run.accepted / ((static_cast<double>(m.last_accepted - m.first_submit)) / 1000.0);
  for (auto& s : songs) {
    auto it = m.songs.find(s.key);
    if (it == m.songs.end()) continue;
    SongMoments& sm = it->second;
    TimelineSong ts{s.key, s.track, s.title, sm.end, {}, std::move(sm.marks)};
    const std::int64_t stop = sm.end_at ? sm.end_at : std::max(sm.last, run.end);
    if (sm.submit_at) ts.spans.push_back({"submit", sm.submit_at, sm.accepted_at ? sm.accepted_at : stop});
    // Generation: from the acceptance, or from the run's start for a song
    // this run resumed (submitted by an earlier one), until its downloads began.
    const std::int64_t gen_from = sm.accepted_at ? sm.accepted_at : (!sm.submit_at ? run.start : 0);
    if (gen_from) ts.spans.push_back({"generate", gen_from, sm.ready_at ? sm.ready_at : stop});
    if (sm.ready_at) ts.spans.push_back({"download", sm.ready_at, stop});
    ts.spans.insert(ts.spans.end(), sm.tags.begin(), sm.tags.end());
    m.songs.erase(it);
    run.songs.push_back(std::move(ts));
  }
  if (!run.songs.empty() || !run.marks.empty()) out.push_back(std::move(run));
}
}  // namespace

std::vector<TimelineRun> gather_timeline(StateStore& state, const std::vector<SongRef>& songs) {
  std::vector<TimelineRun> out;
  std::optional<RunMoments> cur;
  state.for_each_timeline([&](const TimelineRow& r) {
    if (!cur || cur->run.start_id != r.run) {
      if (cur) finish_run(*cur, songs, out);
      cur.emplace();
      cur->run.start_id = r.run;
      cur->run.start = r.run;
      cur->run.end = r.run;
    }
    add_row(*cur, r);
  });
  if (cur) finish_run(*cur, songs, out);
  return out;
}

std::string timeline_svg(const TimelineRun& run, std::size_t index, const std::set<std::string>* only) {
  std::vector<const TimelineSong*> rows;
  for (auto& song : run.songs)
    if (!only || only->count(song.key)) rows.push_back(&song);
  const std::size_t n = rows.size();
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
  const double step = axis_step(total_s);
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
    const TimelineSong& song = *rows[i];
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

// #20: a run of many songs in one picture of fixed size: songs in each phase
// over time, stacked (download, generation, submitting), and the throttling
// answers as ticks on the axis. The rows of each song are on the pages.
std::string timeline_load_svg(const TimelineRun& run, std::size_t index) {
  const int bins = 480, width = 960, left = 48, right = 12, top = 22, height = 160;
  const int plot_h = height - top - 16;
  const double span_ms = std::max<std::int64_t>(run.end - run.start, 1000);
  auto bin = [&](std::int64_t t) {
    return std::clamp(static_cast<int>(static_cast<double>(t - run.start) / span_ms * bins), 0, bins - 1);
  };
  // Difference arrays per phase: +1 where a span starts, -1 after it ends.
  std::vector<std::array<int, 3>> delta(bins + 1, {0, 0, 0});
  auto phase_index = [](const std::string& p) { return p == "download" ? 0 : p == "generate" ? 1 : p == "submit" ? 2 : -1; };
  for (auto& song : run.songs)
    for (auto& sp : song.spans) {
      int k = phase_index(sp.phase);
      if (k < 0) continue;
      ++delta[bin(sp.from)][k];
      --delta[bin(sp.to) + 1][k];
    }
  std::vector<std::array<int, 3>> level(bins, {0, 0, 0});
  std::array<int, 3> cur{0, 0, 0};
  int peak = 1;
  for (int i = 0; i < bins; ++i) {
    for (int k = 0; k < 3; ++k) cur[k] += delta[i][k];
    level[i] = cur;
    peak = std::max(peak, cur[0] + cur[1] + cur[2]);
  }
  const double bw = static_cast<double>(width - left - right) / bins;
  auto y = [&](int v) { return top + plot_h - plot_h * static_cast<double>(v) / peak; };
  std::string s = "<svg class=\"timeline timeline-load\" data-run=\"" + std::to_string(index) + "\" viewBox=\"0 0 " +
                  std::to_string(width) + " " + std::to_string(height) + "\" width=\"" + std::to_string(width) +
                  "\" height=\"" + std::to_string(height) +
                  "\" role=\"img\" aria-label=\"Run timeline: songs in each phase over time\">";
  // Axes: songs at the left, time below (seconds, or minutes for longer runs).
  s += "<text class=\"tl-axis\" x=\"" + std::to_string(left - 4) + "\" y=\"" + num(y(peak) + 4) +
       "\" text-anchor=\"end\">" + std::to_string(peak) + "</text><text class=\"tl-axis\" x=\"" +
       std::to_string(left - 4) + "\" y=\"" + num(y(0)) + "\" text-anchor=\"end\">0</text>";
  const double total_s = span_ms / 1000.0;
  const double step = axis_step(total_s);
  for (double t = 0; t <= total_s + 1e-9; t += step) {
    double px = left + (width - left - right) * (t / total_s);
    std::string label = step >= 60 ? num(t / 60, 0) + "m" : num(t, step < 1 ? 1 : 0) + "s";
    s += "<text class=\"tl-axis\" x=\"" + num(px) + "\" y=\"" + std::to_string(height - 2) +
         "\" text-anchor=\"middle\">" + label + "</text>";
  }
  // Stacked areas, one path each: from the bottom of its band to its top.
  const char* cls[3] = {"tl-download", "tl-generate", "tl-submit"};
  for (int k = 0; k < 3; ++k) {
    std::string top_line, bottom_line;
    for (int i = 0; i < bins; ++i) {
      int below = 0;
      for (int j = 0; j < k; ++j) below += level[i][j];
      const double x0 = left + i * bw;
      top_line += (i ? "L" : "M") + num(x0, 1) + " " + num(y(below + level[i][k]), 1) + "H" + num(x0 + bw, 1);
      bottom_line = "L" + num(x0 + bw, 1) + " " + num(y(below), 1) + "H" + num(x0, 1) + bottom_line;
    }
    s += "<path class=\"" + std::string(cls[k]) + "\" d=\"" + top_line + bottom_line + "Z\"><title>" +
         std::string(phase_name(k == 0 ? "download" : k == 1 ? "generate" : "submit")) + "</title></path>";
  }
  // Throttling answers and retries: one tick per bin that had some.
  std::vector<int> throttled(bins, 0);
  for (auto& m : run.marks) ++throttled[bin(m.at)];
  for (auto& song : run.songs)
    for (auto& m : song.marks) ++throttled[bin(m.at)];
  std::string ticks;
  for (int i = 0; i < bins; ++i)
    if (throttled[i]) ticks += "M" + num(left + (i + 0.5) * bw, 1) + " " + std::to_string(top - 10) + "v6";
  if (!ticks.empty())
    s += "<path class=\"tl-429-ticks\" stroke=\"#b3261e\" d=\"" + ticks + "\"><title>429 answers and retries</title></path>";
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
