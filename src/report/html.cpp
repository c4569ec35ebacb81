// report.html: one self-contained page (inline CSS, no script, nothing
// fetched from the network) to listen to the album. Every text is escaped:
// titles, lyrics and reasons are user or server input.
#include <boost/json/serialize.hpp>

#include <cmath>
#include <cstdio>
#include <set>

#include "report/model.hpp"

namespace setlist::report {

namespace {

const char* kStyle = R"css(
:root { color-scheme: light dark; --bg:#f6f5f2; --fg:#1d1d1f; --muted:#6b6b70; --card:#fff; --line:#e3e1dc;
        --ok:#1f7a3a; --bad:#b3261e; --warn:#8a5a00; --idle:#555; }
@media (prefers-color-scheme: dark) { :root { --bg:#17171a; --fg:#ececf0; --muted:#a0a0a8; --card:#222226; --line:#34343a; } }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--fg); font:15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 1100px; margin: 0 auto; padding: 24px; }
header.album { display:flex; gap:24px; align-items:flex-end; margin-bottom:24px; }
header.album img, header.album .nocover { width:180px; height:180px; object-fit:cover; border-radius:8px; background:var(--line); flex:none; }
header.album h1 { margin:0 0 4px; font-size:32px; }
.muted { color:var(--muted); }
.totals { display:flex; flex-wrap:wrap; gap:8px; margin-top:10px; }
.badge { display:inline-block; padding:2px 9px; border-radius:999px; font-size:12px; font-weight:600; color:#fff; background:var(--idle); text-transform:uppercase; letter-spacing:.03em; }
.badge.complete { background:var(--ok); } .badge.failed, .badge.uncertain { background:var(--bad); }
.badge.skipped { background:var(--warn); }
ol.songs { list-style:none; padding:0; margin:0; display:grid; gap:12px; }
li.song { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:14px 16px; }
.song-head { display:flex; align-items:baseline; gap:12px; }
.track { font-variant-numeric: tabular-nums; color:var(--muted); min-width:2ch; text-align:right; }
.song-head h2 { font-size:18px; margin:0; flex:1; overflow-wrap:anywhere; }
.reason { margin:8px 0 0; color:var(--bad); overflow-wrap:anywhere; }
.takes { display:grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap:10px; margin-top:10px; }
.take { display:flex; gap:10px; align-items:center; }
.take img { width:56px; height:56px; border-radius:6px; object-fit:cover; flex:none; }
.take .label { font-weight:600; }
.take audio { width:100%; }
.take .info { flex:1; min-width:0; }
details { margin-top:10px; } summary { cursor:pointer; color:var(--muted); }
pre.lyrics { white-space:pre-wrap; font:inherit; margin:8px 0 0; padding:10px; background:var(--bg); border-radius:6px; }
footer { margin-top:24px; font-size:13px; }
table.run { border-collapse:collapse; margin-top:8px; } table.run td { padding:2px 12px 2px 0; }
svg.waveform { display:block; max-width:100%; height:auto; margin-top:4px; }
svg .wf-bg { fill:var(--bg); } svg .wf { stroke:var(--ok); } svg .wf-bad { stroke:var(--bad); }
.loudness { font-size:12px; color:var(--muted); } .badge.flag { background:var(--bad); font-size:10px; }
section.sound { margin-bottom:24px; } svg.album-loudness .bar { fill:var(--ok); } svg.album-loudness .bar-bad { fill:var(--bad); }
svg.album-loudness .axis { font-size:10px; fill:var(--muted); } svg.album-loudness line.ref { stroke:var(--muted); stroke-dasharray:4 3; }
svg.album-loudness line.album { stroke:var(--fg); }
svg.album-loudness .bars { stroke:var(--ok); } svg.album-loudness .bars-bad { stroke:var(--bad); }
table.index { border-collapse:collapse; width:100%; font-size:13px; } table.index td, table.index th { padding:2px 8px; text-align:left; border-bottom:1px solid var(--line); }
nav.pages { margin:6px 0 14px; } a.page { display:inline-block; min-width:2.2em; }
svg.timeline { display:block; max-width:100%; height:auto; margin:6px 0 14px; }
svg.timeline .tl-axis, svg.timeline .tl-label { font-size:10px; fill:var(--muted); } svg.timeline .tl-grid { stroke:var(--line); }
svg.timeline .tl-submit { fill:#8a5a00; } svg.timeline .tl-generate { fill:#9db7d6; } svg.timeline .tl-download { fill:#1f7a3a; }
svg.timeline .tl-tag { fill:#5b2c83; } svg.timeline .tl-429 { fill:var(--bad); } svg.timeline .tl-retry { fill:none; stroke:var(--bad); }
svg.timeline .tl-wait { fill:var(--bad); opacity:.5; } svg.timeline .tl-failed { fill:var(--bad); }
.legend span { display:inline-block; width:10px; height:10px; margin:0 4px 0 12px; vertical-align:middle; }
)css";

std::string e(std::string_view s) { return html_escape(s); }

std::string duration_text(std::optional<double> d) {
  if (!d) return {};
  long s = std::lround(*d);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  return buf;
}

std::string json_text(const boost::json::object& o, const char* k) {
  auto it = o.find(k);
  if (it == o.end()) return {};
  auto& v = it->value();
  if (v.is_string()) return std::string(v.get_string());
  if (v.is_int64()) return std::to_string(v.get_int64());
  if (v.is_uint64()) return std::to_string(v.get_uint64());
  if (v.is_double()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", v.get_double());
    return buf;
  }
  if (v.is_bool()) return v.get_bool() ? "yes" : "no";
  return {};
}

}  // namespace

std::string render_html(const ReportData& d) {
  return render_to_string(d, static_cast<void (*)(const ReportData&, const TextEmit&)>(&render_html));
}

void render_html(const ReportData& d, const TextEmit& emit) {
  TextOut h(emit);
  Tally t = tally_of(d.songs);
  const bool paged = d.songs.size() > kPageSongs;
  html_begin(d, t, paged, h);
  for (std::size_t i = 0; i < d.songs.size(); ++i)
    if (paged)
      html_index_row(d.songs[i], i / kPageSongs + 1, h);
    else
      html_song_card(d.songs[i], "", h);
  html_end(d, paged, paged ? (d.songs.size() + kPageSongs - 1) / kPageSongs : 0, h);
}

namespace {

void page_head(TextOut& h, const std::string& title) {
  h += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  h += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  // Nothing may be loaded from elsewhere: local media only, no scripts.
  h += "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src 'self' file:; "
       "media-src 'self' file:; style-src 'unsafe-inline'\">\n";
  h += "<meta name=\"generator\" content=\"setlist\">\n";
  h += "<title>" + e(title) + "</title>\n<style>" + std::string(kStyle) + "</style>\n</head>\n<body>\n<main>\n";
}

std::string album_title(const ReportData& d) { return d.album.title.empty() ? "setlist album" : d.album.title; }

// "Songs 101-200 · ‹ page 1 · page 3 ›" with links; `prefix` leads to OUT.
std::string page_nav(std::size_t page, std::size_t pages, std::size_t songs) {
  std::string n = "<nav class=\"pages\"><a href=\"../report.html#songs\">Album</a>";
  const std::size_t from = (page - 1) * kPageSongs + 1, to = std::min(songs, page * kPageSongs);
  n += " · page " + std::to_string(page) + " of " + std::to_string(pages) + " (songs " + std::to_string(from) +
       "\u2013" + std::to_string(to) + ")";
  if (page > 1) n += " · <a rel=\"prev\" href=\"" + page_name(page - 1) + "\">\u2039 previous</a>";
  if (page < pages) n += " · <a rel=\"next\" href=\"" + page_name(page + 1) + "\">next \u203A</a>";
  return n + "</nav>\n";
}

}  // namespace

void html_begin(const ReportData& d, const Tally& t, bool paged, TextOut& h) {
  std::string title = album_title(d);
  page_head(h, title);

  // Album header.
  h += "<header class=\"album\">\n";
  if (!d.cover.empty())
    h += "<img src=\"" + e(url_path_escape(d.cover)) + "\" alt=\"Album cover\">\n";
  else
    h += "<div class=\"nocover\" aria-hidden=\"true\"></div>\n";
  h += "<div>\n<h1>" + e(title) + "</h1>\n";
  std::string sub = d.album.artist;
  if (d.album.year) sub += (sub.empty() ? "" : " · ") + std::to_string(*d.album.year);
  if (!d.album.genre.empty()) sub += (sub.empty() ? "" : " · ") + d.album.genre;
  if (!sub.empty()) h += "<div class=\"muted artist\">" + e(sub) + "</div>\n";
  h += "<div class=\"totals\" id=\"totals\">";
  h += "<span class=\"badge\">" + std::to_string(t.songs) + " songs</span>";
  for (auto& [status, n] : d.totals)
    h += "<span class=\"badge " + e(status) + "\">" + std::to_string(n) + " " + e(status) + "</span>";
  h += "</div>\n</div>\n</header>\n";
  // State rows that named paths outside OUT: said, never linked to.
  if (!d.damaged.empty()) {
    h += "<section class=\"damaged\" id=\"damaged-state\"><h2>Damaged state</h2>\n<ul>\n";
    for (auto& m : d.damaged) h += "<li class=\"reason\">" + e(m) + "</li>\n";
    h += "</ul>\n</section>\n";
  }

  // The album's loudness per track (#19).
  if (auto chart = album_chart_svg(d, t); !chart.empty()) {
    h += "<section class=\"sound\" id=\"album-loudness\"><h3>Loudness per track</h3>";
    if (d.album_loudness.lufs) {
      char buf[96];
      std::snprintf(buf, sizeof buf, "Album %.1f LUFS over the first take of %zu songs", *d.album_loudness.lufs,
                    d.album_loudness.takes);
      h += "<p class=\"muted\">" + e(buf) + "</p>";
    }
    h += chart + "</section>\n";
  }

  if (paged) {
    // #20: the songs on pages of kPageSongs; here one row each.
    const std::size_t pages = (t.songs + kPageSongs - 1) / kPageSongs;
    h += "<section id=\"songs\"><h3>Songs</h3><p class=\"muted\">" + std::to_string(t.songs) + " songs on " +
         std::to_string(pages) + " pages of " + std::to_string(kPageSongs) +
         " (players, waveforms, lyrics and each song's run timeline): ";
    for (std::size_t p = 1; p <= pages; ++p)
      h += std::string(p > 1 ? " " : "") + "<a class=\"page\" href=\"" + kPagesDir + "/" + page_name(p) + "\">" +
           std::to_string(p) + "</a>";
    h += "</p>\n<table class=\"index\">\n<tr><th>#</th><th>song</th><th>status</th><th>takes</th><th>loudness</th>"
         "<th>flags</th><th>reason</th></tr>\n";
  } else {
    h += "<ol class=\"songs\" id=\"songs\">\n";
  }
}

void html_index_row(const SongInfo& s, std::size_t page, TextOut& h) {
  const std::string anchor = "song-" + s.key.substr(0, 16);
  std::string takes, loud, flags;
  int on_disk = 0;
  for (auto& c : s.clips) {
    if (!c.audio || !c.audio->exists) continue;
    ++on_disk;
    if (c.analysis)
      loud += (loud.empty() ? "" : " ") + (c.analysis->integrated_lufs ? num(*c.analysis->integrated_lufs) : "silent");
    for (auto& f : c.flags)
      flags += "<span class=\"badge flag flag-" + e(f) + "\">" + e(f) + " " + take_letter(c.take) + "</span>";
  }
  h += "<tr class=\"song\" data-status=\"" + e(s.status) + "\"><td class=\"track\">" + std::to_string(s.track) +
       "</td><td><a href=\"" + std::string(kPagesDir) + "/" + page_name(page) + "#" + e(anchor) + "\">" + e(s.title) +
       "</a></td><td><span class=\"badge " + e(s.status) + "\">" + e(s.status) + "</span></td><td>" +
       std::to_string(on_disk) + "</td><td>" + loud + "</td><td>" + flags + "</td><td class=\"reason\">" +
       e(s.reason) + "</td></tr>\n";
}

void html_song_card(const SongInfo& s, std::string_view prefix, TextOut& h) {
  auto href = [&](const std::string& path) { return e(std::string(prefix) + url_path_escape(path)); };
  h += "<li class=\"song\" id=\"song-" + e(s.key.substr(0, 16)) + "\" data-status=\"" + e(s.status) + "\">\n";
  h += "<div class=\"song-head\"><span class=\"track\">" + std::to_string(s.track) + "</span><h2>" + e(s.title) +
       "</h2><span class=\"badge " + e(s.status) + "\">" + e(s.status) + "</span></div>\n";
  if (!s.reason.empty()) h += "<p class=\"reason\">" + e(s.reason) + "</p>\n";
  bool any_take = false;
  std::string takes = "<div class=\"takes\">\n";
  for (auto& c : s.clips) {
    if (!c.audio || !c.audio->exists) continue;
    any_take = true;
    takes += "<div class=\"take\">";
    if (c.cover && c.cover->exists)
      takes += "<img src=\"" + href(c.cover->path) + "\" alt=\"Cover of take " + take_letter(c.take) +
               "\" loading=\"lazy\">";
    takes += "<div class=\"info\"><div><span class=\"label\">Take " + take_letter(c.take) + "</span> <span class=\"muted\">" +
             e(duration_text(c.duration)) + "</span></div>";
    takes += "<audio controls preload=\"" + std::string(prefix.empty() ? "metadata" : "none") + "\" src=\"" +
             href(c.audio->path) + "\" title=\"" + e(take_title(s, c)) + "\"></audio>" +
             waveform_svg(c, take_title(s, c)) + loudness_line(c) + "</div></div>\n";
  }
  takes += "</div>\n";
  if (any_take) h += takes;
  for (auto& c : s.clips)
    if (!c.lyrics_text.empty())
      h += "<details><summary>Lyrics of take " + take_letter(c.take) +
           " (written by the API)</summary><pre class=\"lyrics\">" + e(c.lyrics_text) + "</pre></details>\n";
  // Earlier attempts' takes: kept beside the album (--keep-attempts) or moved aside.
  std::string earlier;
  std::size_t n_earlier = 0;
  auto item = [&](const FileInfo& f, const char* where) {
    ++n_earlier;
    earlier += "<li><a href=\"" + href(f.path) + "\">" + e(f.path) + "</a> <span class=\"muted\">" + where +
               "</span></li>\n";
  };
  for (auto& f : s.earlier_takes)
    if (f.exists) item(f, "kept in the album folder (--keep-attempts)");
  for (auto& f : s.superseded_takes) item(f, "moved aside");
  if (n_earlier > 0)
    h += "<details class=\"earlier\"><summary>Earlier takes (" + std::to_string(n_earlier) +
         ")</summary><ul class=\"earlier\">\n" + earlier + "</ul></details>\n";
  if (!s.lyrics_text.empty())
    h += "<details><summary>Lyrics</summary><pre class=\"lyrics\">" + e(s.lyrics_text) + "</pre></details>\n";
  h += "</li>\n";
}

void html_end(const ReportData& d, bool paged, std::size_t pages, TextOut& h) {
  h += paged ? "</table>\n</section>\n" : "</ol>\n";
  (void)pages;

  // The run timeline (#19): one picture per run that recorded one. A run of
  // more songs than a page (#20): songs per phase over time here, each
  // song's row on its page.
  if (!d.timeline.empty()) {
    h += "<section class=\"sound\" id=\"run-timeline\"><h3>Run timeline</h3>\n<p class=\"muted legend\">"
         "<span style=\"background:#8a5a00\"></span>submitting<span style=\"background:#9db7d6\"></span>"
         "generation<span style=\"background:#1f7a3a\"></span>download<span style=\"background:#5b2c83\"></span>"
         "decoding and tagging<span style=\"background:#b3261e\"></span>429 (\u25BC, then its wait) and retries "
         "(\u25CB)</p>\n";
    for (std::size_t i = 0; i < d.timeline.size(); ++i) {
      const bool many = paged && d.timeline[i].songs.size() > kPageSongs;
      h += "<p class=\"muted\">" + e(timeline_caption(d.timeline[i], i)) + (many ? " (songs in each phase; each song's row is on its page)" : "") + "</p>\n" +
           (many ? timeline_load_svg(d.timeline[i], i) : timeline_svg(d.timeline[i], i)) + "\n";
    }
    h += "</section>\n";
  }

  // Run totals.
  h += "<footer class=\"muted\">\n";
  if (!d.run.empty()) {
    h += "<table class=\"run\">\n";
    auto row = [&](const char* label, const std::string& v) {
      if (!v.empty()) h += "<tr><td>" + std::string(label) + "</td><td>" + e(v) + "</td></tr>\n";
    };
    row("Run started", json_text(d.run, "started_at"));
    row("Run ended", json_text(d.run, "ended_at"));
    row("Duration (s)", json_text(d.run, "duration_s"));
    row("Tokens charged by this run", json_text(d.run, "tokens_charged"));
    row("Tokens charged to date (the album, every run)", json_text(d.run, "tokens_charged_to_date"));
    std::string req;
    if (auto it = d.run.find("requests"); it != d.run.end() && it->value().is_object())
      for (auto& [k, v] : it->value().get_object())
        req += (req.empty() ? "" : ", ") + std::string(k) + " " + boost::json::serialize(v);
    row("Requests", req);
    row("Retries", json_text(d.run, "retries"));
    row("Throttled (429)", json_text(d.run, "throttled"));
    if (json_text(d.run, "interrupted") == "yes") row("Interrupted", "yes");
    row("Stopped because", json_text(d.run, "abort_reason"));
    h += "</table>\n";
    // The key pool (#18): one row per key, by fingerprint.
    if (auto it = d.run.find("keys"); it != d.run.end() && it->value().is_array() && !it->value().get_array().empty()) {
      h += "<table class=\"keys\">\n<tr><th>Key</th><th>Generate</th><th>Poll</th><th>Throttled</th>"
           "<th>Tokens</th><th>Retired</th></tr>\n";
      for (auto& kv : it->value().get_array()) {
        if (!kv.is_object()) continue;
        auto& k = kv.get_object();
        h += "<tr><td>" + e(json_text(k, "fingerprint")) + "</td><td>" + e(json_text(k, "generate_requests")) +
             "</td><td>" + e(json_text(k, "poll_requests")) + "</td><td>" + e(json_text(k, "throttled")) +
             "</td><td>" + e(json_text(k, "tokens_charged")) + "</td><td>" + e(json_text(k, "retired")) + "</td></tr>\n";
      }
      h += "</table>\n";
    }
  }
  h += "<p>Generated by setlist";
  if (d.generated_at > 0) h += " at " + iso_time(d.generated_at);
  h += ". Playlist: <a href=\"album.m3u8\">album.m3u8</a> · data: <a href=\"report.json\">report.json</a></p>\n";
  h += "</footer>\n</main>\n</body>\n</html>\n";
}

std::string page_html(const ReportData& d, const std::vector<SongInfo>& songs, std::size_t page, std::size_t pages) {
  std::string out;
  TextEmit emit([&out](std::string_view p) { out += p; });
  {
    TextOut h(emit);
    std::size_t total = 0;
    for (auto& [status, n] : d.totals) total += static_cast<std::size_t>(n);
    page_head(h, album_title(d) + " \u2014 page " + std::to_string(page));
    h += "<header class=\"page\"><h1>" + e(album_title(d)) + "</h1>\n" + page_nav(page, pages, total) + "</header>\n";
    h += "<ol class=\"songs\" start=\"" + std::to_string((page - 1) * kPageSongs + 1) + "\">\n";
    for (auto& s : songs) html_song_card(s, "../", h);
    h += "</ol>\n";
    // Each run's rows of this page's songs, on the run's whole time axis.
    std::set<std::string> keys;
    for (auto& s : songs) keys.insert(s.key);
    std::string tl;
    for (std::size_t i = 0; i < d.timeline.size(); ++i) {
      bool any = false;
      for (auto& ts : d.timeline[i].songs) any = any || keys.count(ts.key);
      if (any)
        tl += "<p class=\"muted\">Run " + std::to_string(i + 1) + ": " + e(iso_time(d.timeline[i].start)) +
              "</p>\n" + timeline_svg(d.timeline[i], i, &keys) + "\n";
    }
    if (!tl.empty()) h += "<section class=\"sound\" id=\"run-timeline\"><h3>Run timeline of these songs</h3>\n" + tl + "</section>\n";
    h += "<footer class=\"muted\">" + page_nav(page, pages, total) + "</footer>\n</main>\n</body>\n</html>\n";
  }
  return out;
}

}  // namespace setlist::report
