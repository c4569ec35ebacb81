// setlist: the command line. Flags, config layering, progress, exit codes.
#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <fmt/core.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <cstring>
#include <deque>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/exit_codes.hpp"
#include "cli/help_text.hpp"
#include "cli/version.hpp"
#include "http/url.hpp"
#include "setlist/engine.hpp"
#include "setlist/manifest.hpp"
#include "setlist/merge.hpp"
#include "setlist/output.hpp"
#include "setlist/plan.hpp"
#include "setlist/provider.hpp"
#include "setlist/report.hpp"
#include "setlist/settings.hpp"
#include "setlist/shard.hpp"
#include "setlist/state.hpp"

namespace fs = std::filesystem;
using namespace setlist;

namespace {

// SIGINT/SIGTERM during `run` before the engine takes them over (loading the
// manifest, opening state): counted here and handed to the engine, so a
// Ctrl-C at any moment ends in the same clean stop.
volatile std::sig_atomic_t g_early_signals = 0;
extern "C" void count_early_signal(int) { g_early_signals = g_early_signals + 1; }

// The top-level help: what the codes mean across commands; each
// subcommand's --help lists its own (help_text.hpp).
const char* kExitCodes =
    "Exit codes (each command's --help lists its own):\n"
    "  0    success (run: every song complete)\n"
    "  1    run: some songs failed, were skipped or are uncertain; verify: files missing or changed\n"
    "  2    usage or manifest error; nothing was sent\n"
    "  3    could not run (lock held, key rejected, out of credits, API unreachable, no state in OUT)\n"
    "  130  run interrupted (run again to resume)\n";

std::string flag_name(std::string_view setting) {
  std::string f = "--";
  for (char c : setting) f += c == '_' ? '-' : c;
  return f;
}

boost::json::object diagnostic_json(const Diagnostic& d) {
  boost::json::object o;
  o["severity"] = d.severity == Diagnostic::Severity::error ? "error" : "warning";
  o["file"] = d.file;
  o["line"] = d.pos.line;
  o["column"] = d.pos.column;
  o["path"] = d.path;
  o["message"] = d.message;
  o["hint"] = d.hint;
  return o;
}

// Diagnostics on stderr: text, or one JSON object per line under --log-format json.
bool g_json_log = false;
void print_diagnostics(const std::vector<Diagnostic>& ds) {
  for (auto& d : ds) {
    if (g_json_log) {
      auto o = diagnostic_json(d);
      o["event"] = "diagnostic";
      std::cerr << boost::json::serialize(o) << "\n";
    } else {
      std::cerr << d.format() << "\n";
    }
  }
}

const char* kind_name(Event::Kind k) {
  switch (k) {
    case Event::Kind::info: return "info";
    case Event::Kind::warning: return "warning";
    case Event::Kind::submitted: return "submitted";
    case Event::Kind::progress: return "progress";
    case Event::Kind::downloading: return "downloading";
    case Event::Kind::song_done: return "done";
    case Event::Kind::song_failed: return "failed";
    case Event::Kind::retry: return "retry";
    case Event::Kind::throttled: return "throttled";
    case Event::Kind::tick: return "tick";
  }
  return "info";
}

// Progress for people and machines:
//  - json: one JSON object per event (--log-format json);
//  - a terminal: a live status line, with failures and warnings printed above it;
//  - otherwise: one plain line per event.
// -q keeps failures and warnings only; -v adds polls and retries.
class ProgressSink : public EventSink {
 public:
  ProgressSink(int verbosity, bool json, int songs)
      : verbosity_(verbosity), json_(json), tty_(!json && ::isatty(2)), songs_(songs),
        start_(std::chrono::steady_clock::now()) {}

  ~ProgressSink() override {
    if (tty_ && drawn_) std::cerr << "\r\x1b[2K" << std::flush;
  }

  void on_event(const Event& e) override {
    pace_ = e;
    if (e.kind == Event::Kind::tick) {  // the clock: only the status line shows it
      if (tty_) draw();
      return;
    }
    if (e.kind == Event::Kind::submitted) note_submit();
    track_state(e);
    bool important = e.kind == Event::Kind::song_failed || e.kind == Event::Kind::warning;
    if (json_) {
      if (verbosity_ < 0 && !important) return;
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start_);
      boost::json::object o;
      o["t_ms"] = ms.count();
      o["event"] = kind_name(e.kind);
      o["track"] = e.track;
      o["title"] = e.title;
      o["message"] = e.message;
      std::cerr << boost::json::serialize(o) << "\n";
      return;
    }
    bool chatty = e.kind == Event::Kind::progress || e.kind == Event::Kind::retry;
    bool print = verbosity_ < 0 ? important : verbosity_ == 0 ? (!chatty || important) : true;
    if (tty_ && !important && verbosity_ <= 0) print = false;  // the status line shows it
    if (print) {
      if (tty_ && drawn_) std::cerr << "\r\x1b[2K";
      std::string who = e.title.empty() ? "" : fmt::format("[{:02}] {}: ", e.track, e.title);
      std::cerr << who << e.message << "\n";
      drawn_ = false;
    }
    if (tty_) draw();
  }

 private:
  void track_state(const Event& e) {
    if (e.track == 0) return;
    std::string& st = state_[e.track];
    switch (e.kind) {
      case Event::Kind::submitted: st = "submitted"; break;
      case Event::Kind::progress: st = "generating"; break;
      case Event::Kind::downloading: st = "downloading"; break;
      case Event::Kind::song_done: st = "done"; break;
      case Event::Kind::song_failed: st = "failed"; break;
      default: break;
    }
  }

  // Generate requests sent in the last kRateWindow: the rate actually achieved.
  static constexpr std::chrono::seconds kRateWindow{10};
  void note_submit() {
    auto now = std::chrono::steady_clock::now();
    submits_.push_back(now);
    while (!submits_.empty() && submits_.front() < now - kRateWindow) submits_.pop_front();
  }
  double submit_rate() {
    auto now = std::chrono::steady_clock::now();
    while (!submits_.empty() && submits_.front() < now - kRateWindow) submits_.pop_front();
    auto window = std::min<double>(static_cast<double>(kRateWindow.count()),
                                   std::chrono::duration<double>(now - start_).count());
    return window > 0.5 ? static_cast<double>(submits_.size()) / window : 0.0;
  }

  // "· 0.8/s (limit 2/s) · waiting 12s (rate limited) · 3 throttled", or less.
  std::string pace() {
    std::string out;
    if (pace_.submit_limit > 0)
      out += fmt::format(" · {:.1f}/s (limit {:.3g}/s)", submit_rate(), pace_.submit_limit);
    if (pace_.throttle_wait_ms > 0)
      out += fmt::format(" · waiting {}s (rate limited)", (pace_.throttle_wait_ms + 999) / 1000);
    if (pace_.throttled > 0) out += fmt::format(" · {} throttled", pace_.throttled);
    return out;
  }

  void draw() {
    std::map<std::string, int> n;
    for (auto& [track, st] : state_) ++n[st];
    int known = static_cast<int>(state_.size());
    int finished = n["done"] + n["failed"];
    auto elapsed = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start_);
    std::string eta = "--";
    if (finished > 0 && finished < songs_) {
      auto per = elapsed.count() / static_cast<double>(finished);
      eta = fmt::format("{:.0f}s", per * (songs_ - finished));
    }
    // The clock first, so a narrow terminal cuts the pace, not the time.
    auto line = fmt::format("[{}s, ETA {}] {} queued · {} submitted · {} generating · {} downloading · {} done · "
                            "{} failed{}",
                            elapsed.count(), eta, songs_ - known, n["submitted"], n["generating"], n["downloading"],
                            n["done"], n["failed"], pace());
    std::cerr << "\r\x1b[2K" << fit_terminal(line) << std::flush;
    drawn_ = true;
  }

  // One terminal row: a longer line would wrap, and "\r" would then redraw
  // only its last row.
  static std::string fit_terminal(std::string line) {
    struct winsize ws {};
    if (::ioctl(2, TIOCGWINSZ, &ws) != 0 || ws.ws_col < 10) return line;
    std::size_t cols = 0, i = 0;
    for (; i < line.size(); ++i) {
      if ((static_cast<unsigned char>(line[i]) & 0xC0) == 0x80) continue;  // inside a character
      if (++cols > static_cast<std::size_t>(ws.ws_col) - 1) break;
    }
    line.resize(i);
    return line;
  }

  int verbosity_;
  bool json_;
  bool tty_;
  int songs_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_;
  std::map<int, std::string> state_;
  Event pace_;
  std::deque<std::chrono::steady_clock::time_point> submits_;
};

std::string song_time(std::int64_t ms) {
  if (ms <= 0) return "-";
  if (ms < 60'000) return fmt::format("{:.1f} s", static_cast<double>(ms) / 1000.0);
  return fmt::format("{} min {} s", ms / 60'000, (ms % 60'000) / 1000);
}

// The per-song table at the end of a run: every song of the album, the ones
// --only left alone included.
// "at 2026-11-30 05:10 UTC"
std::string utc_minute(std::int64_t unix_ms) {
  std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "at %Y-%m-%d %H:%M UTC", &tm);
  return buf;
}

void print_song_table(const RunSummary& s, std::ostream& out) {
  if (s.song_results.empty()) return;
  std::size_t width = 5;
  for (auto& r : s.song_results) width = std::max(width, std::min<std::size_t>(40, r.title.size()));
  out << fmt::format("{:>5}  {:<{}}  {:<24} {:>5} {:>10} {:>12}\n", "track", "title", width, "status", "takes",
                     "time", "tokens");
  for (auto& r : s.song_results) {
    std::string title = r.title;
    if (title.size() > width) {  // cut on a character boundary
      title.resize(width - 1);
      while (!title.empty() && (static_cast<unsigned char>(title.back()) & 0xC0) == 0x80) title.pop_back();
      if (!title.empty() && (static_cast<unsigned char>(title.back()) & 0xC0) == 0xC0) title.pop_back();
      title += "…";
    }
    std::string status = r.selected ? r.status : r.status + " (not selected)";
    out << fmt::format("{:>5}  {:<{}}  {:<24} {:>5} {:>10} {:>12}\n", r.track, title, width, status, r.takes,
                       song_time(r.ms), r.selected ? std::to_string(r.tokens) : std::string("-"));
  }
}

boost::json::object song_table_json(const RunSummary& s) {
  boost::json::array songs;
  for (auto& r : s.song_results) {
    boost::json::object o;
    o["track"] = r.track;
    o["title"] = r.title;
    o["status"] = r.status;
    o["selected"] = r.selected;
    o["takes"] = r.takes;
    o["ms"] = r.ms;
    o["tokens"] = r.tokens;
    songs.push_back(std::move(o));
  }
  boost::json::object o;
  o["event"] = "songs";
  o["songs"] = std::move(songs);
  return o;
}

// The longest key accepted: real keys are well under 200 bytes.
constexpr std::size_t kMaxKeyBytes = 4096;

// Why `key` cannot be sent in an Authorization header, or nothing. The
// message names where the key came from and what is wrong, never the key.
std::optional<std::string> key_problem(std::string_view key, const std::string& where) {
  if (key.size() > kMaxKeyBytes)
    return fmt::format("the API key in {} is {} bytes long, more than the {} allowed; nothing was sent", where,
                       key.size(), kMaxKeyBytes);
  for (std::size_t i = 0; i < key.size(); ++i) {
    auto c = static_cast<unsigned char>(key[i]);
    std::string what;
    if (c == '\r') what = "a carriage return (CR)";
    else if (c == '\n') what = "a line feed (LF)";
    else if (c == 0) what = "a NUL byte";
    else if (c < 0x20 || c == 0x7f) what = fmt::format("a control character (0x{:02x})", c);
    else if (c == ' ') what = "a space";
    if (!what.empty())
      return fmt::format(
          "the API key in {} contains {} at byte {}; a key is one line of printable characters (nothing was sent)",
          where, what, i + 1);
  }
  return std::nullopt;
}

// The most keys a pool takes, and the largest key file read.
constexpr std::size_t kMaxKeys = 1000;
constexpr std::size_t kMaxKeyFileBytes = 1u << 20;

// Adds `key` (from `where`) to the pool unless it is already there; a key
// given twice would look like two accounts and draw 429s, so that is refused.
bool add_pool_key(std::vector<std::string>& keys, std::vector<std::string>& wheres, std::string key,
                  const std::string& where, bool duplicate_is_error, std::string& error) {
  if (auto why = key_problem(key, where)) {
    error = *why;
    return false;
  }
  for (std::size_t i = 0; i < keys.size(); ++i)
    if (keys[i] == key) {
      if (!duplicate_is_error) return true;
      error = "the API key in " + where + " repeats the one in " + wheres[i] +
              "; each key of a pool must be another account's (nothing was sent)";
      return false;
    }
  if (keys.size() >= kMaxKeys) {
    error = fmt::format("more than {} API keys given (the last in {}); nothing was sent", kMaxKeys, where);
    return false;
  }
  keys.push_back(std::move(key));
  wheres.push_back(where);
  return true;
}

// The API keys: a private key file with one key per line (blank lines and
// lines starting with # skipped), or the provider's variables: KEY, and
// KEYS with several separated by commas or blanks (#18: a key pool). Each is
// checked (key_problem) before it goes anywhere. Empty: no key given.
std::optional<std::vector<std::string>> load_api_keys(const ProviderInfo& info, const std::string& key_file,
                                                      std::string& error) {
  std::vector<std::string> keys, wheres;
  if (!key_file.empty()) {
    struct stat st {};
    if (::stat(key_file.c_str(), &st) != 0) {
      error = "cannot read --api-key-file " + key_file;
      return std::nullopt;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
      error = "--api-key-file " + key_file + " is readable by other users; run: chmod 600 " + key_file;
      return std::nullopt;
    }
    if (S_ISDIR(st.st_mode)) {
      error = "--api-key-file " + key_file + " is a directory";
      return std::nullopt;
    }
    std::ifstream in(key_file, std::ios::binary);
    if (!in) {
      error = "cannot read --api-key-file " + key_file;
      return std::nullopt;
    }
    std::string text(kMaxKeyFileBytes + 1, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(in.gcount()));
    if (text.size() > kMaxKeyFileBytes) {
      error = fmt::format("--api-key-file {} is larger than {} bytes; it should hold keys, one per line (nothing "
                          "was sent)",
                          key_file, kMaxKeyFileBytes);
      return std::nullopt;
    }
    std::size_t line_no = 0, pos = 0;
    const bool several_lines = text.substr(0, text.find_last_not_of("\r\n") + 1).find('\n') != std::string::npos;
    while (pos < text.size()) {
      auto nl = text.find('\n', pos);
      std::string key = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
      pos = nl == std::string::npos ? text.size() : nl + 1;
      ++line_no;
      // The line's end and trailing blanks are not part of the key.
      while (!key.empty() && (key.back() == '\r' || key.back() == ' ' || key.back() == '\t')) key.pop_back();
      if (key.empty() || key[0] == '#') continue;
      const std::string where =
          several_lines ? fmt::format("--api-key-file {} line {}", key_file, line_no) : "--api-key-file " + key_file;
      if (!add_pool_key(keys, wheres, std::move(key), where, true, error)) return std::nullopt;
    }
    if (keys.empty()) {
      error = "--api-key-file " + key_file + " is empty";
      return std::nullopt;
    }
    return keys;
  }
  const std::string pool_env = info.key_env + "S";
  if (const char* v = std::getenv(pool_env.c_str()); v && *v) {
    std::string text(v);
    std::size_t n = 0;
    for (std::size_t pos = 0; pos < text.size();) {
      auto end = text.find_first_of(", \t\n\r", pos);
      if (end == std::string::npos) end = text.size();
      if (end > pos) {
        ++n;
        if (!add_pool_key(keys, wheres, text.substr(pos, end - pos), fmt::format("{} (key {})", pool_env, n), true,
                          error))
          return std::nullopt;
      }
      pos = end + 1;
    }
  }
  if (const char* v = std::getenv(info.key_env.c_str()); v && *v)
    if (!add_pool_key(keys, wheres, std::string(v), info.key_env, false, error)) return std::nullopt;
  return keys;
}

// While the process holds the key, no core dump (nor a same-user ptrace
// attach or /proc/PID/mem read) may copy it out of memory.
void disable_core_dumps() {
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
    std::cerr << "setlist: warning: could not mark the process non-dumpable: " << std::strerror(errno) << "\n";
  struct rlimit none {};
  if (::setrlimit(RLIMIT_CORE, &none) != 0)
    std::cerr << "setlist: warning: could not disable core dumps: " << std::strerror(errno) << "\n";
}

struct Common {
  std::map<std::string, std::string> flag_values;
  std::map<std::string, std::string> raw;  // bound to CLI11 options
  std::vector<std::string> allow_paths;     // --allow-path DIR (repeatable)
};

void add_setting_flags(CLI::App* cmd, Common& c) {
  for (auto name : setting_names()) {
    std::string n(name);
    cmd->add_option(flag_name(n), c.raw[n], setting_help_line(n))
        ->type_name(setting_help(n).metavar)
        ->group("Settings (also manifest `settings:` and SETLIST_* variables; flags win)");
  }
  // Every command that loads a manifest takes it (docs/security.md).
  cmd->add_option("--allow-path", c.allow_paths,
                  "the manifest may also read files (lyrics_file, album.cover) from DIR; repeatable")
      ->check(CLI::ExistingDirectory)
      ->take_all()
      ->allow_extra_args(false);  // one folder per flag: the manifest argument is never taken as a second
}

std::map<std::string, std::string> given_flags(CLI::App* cmd, Common& c) {
  std::map<std::string, std::string> out;
  for (auto& [name, value] : c.raw)
    if (cmd->count(flag_name(name)) > 0) out[name] = value;
  return out;
}

// Manifest checks follow the provider and model the run would use: the
// manifest's own, unless SETLIST_PROVIDER/--provider (or the model's) say otherwise.
LoadOptions load_options(CLI::App* cmd, Common& c) {
  auto o = effective_load_options(process_environment(), given_flags(cmd, c));
  o.allow_paths.assign(c.allow_paths.begin(), c.allow_paths.end());
  return o;
}

std::optional<Manifest> load_or_report(const std::string& path, const LoadOptions& opts) {
  auto r = load_manifest(path, opts);
  print_diagnostics(r.diagnostics);
  if (!r.ok()) {
    std::cerr << fmt::format("{}: {} error(s); nothing was sent\n", path, r.error_count());
    return std::nullopt;
  }
  return std::move(r.manifest);
}

// Checks of the resolved values that need more than one setting's own
// syntax (the naming template's placeholders): config, plan, validate and
// run all ask here, so `config` never prints what `run` would refuse.
void check_resolved(const ResolvedSettings& rs, std::vector<std::string>& errors) {
  if (auto bad = check_template(rs.values.output_template)) {
    auto it = rs.origin.find("output_template");
    std::string where = it == rs.origin.end() || it->second.detail.empty() ? "output_template" : it->second.detail;
    errors.push_back(where + ": " + *bad);
  }
}

std::optional<ResolvedSettings> settings_or_report(const Manifest* m, CLI::App* cmd, Common& c) {
  std::vector<std::string> errors;
  auto s = resolve_settings(m, process_environment(), given_flags(cmd, c), errors);
  check_resolved(s, errors);
  for (auto& e : errors) std::cerr << "setlist: " << e << "\n";
  if (!errors.empty()) return std::nullopt;
  return s;
}

// cost_per_request set by the user prices every request; otherwise each model's estimate does.
bool cost_given(const ResolvedSettings& rs) {
  auto it = rs.origin.find("cost_per_request");
  return it != rs.origin.end() && it->second.source != SettingSource::builtin;
}

void print_config(const ResolvedSettings& rs) {
  static const char* names[] = {"built-in", "manifest", "environment", "flag"};
  for (auto name : setting_names()) {
    std::string n(name);
    auto it = rs.origin.find(n);
    std::string src = it == rs.origin.end() ? "built-in" : names[static_cast<int>(it->second.source)];
    std::string detail = it == rs.origin.end() || it->second.detail.empty() ? "" : " (" + it->second.detail + ")";
    std::cout << fmt::format("{:<22} {:<40} {}{}\n", n, setting_value_text(rs.values, n), src, detail);
  }
}

// `setlist recover OUT`: the state database rebuilt from what OUT holds.
int recover_album(const fs::path& out) {
  std::error_code ec;
  if (!fs::is_directory(out, ec)) {
    std::cerr << "setlist: " << out.string() << " is not a folder: nothing to recover from\n";
    return exit_code::cannot_run;
  }
  fs::create_directories(out / ".setlist", ec);  // the takes' tags may be all that is left
  auto lock = RunLock::acquire(out / ".setlist");
  if (!lock) {
    std::cerr << "setlist: " << lock.error().message << "\n";
    return exit_code::cannot_run;
  }
  auto r = recover_state(out);
  if (!r) {
    std::cerr << "setlist: " << r.error().message << "\n";
    return exit_code::cannot_run;
  }
  auto& s = r.value();
  if (!s.kept_aside.empty()) std::cout << "the damaged database was moved to " << s.kept_aside << "\n";
  std::cout << fmt::format(
      "recovered {}: {} receipts read, {} submissions ({} answered, {} without an answer), {} clips, {} files",
      (out / ".setlist" / "state.db").string(), s.receipts, s.submissions, s.answered, s.unanswered, s.clips,
      s.files);
  if (s.adopted) std::cout << fmt::format(", {} takes known only by their tags", s.adopted);
  std::cout << "\n";
  if (s.bad_lines)
    std::cout << fmt::format("skipped {} journal line(s) that were not receipts (a line torn by a crash is one)\n",
                             s.bad_lines);
  if (s.unmatched_clip_files)
    std::cout << fmt::format(
        "{} clip file(s) in .setlist/clips/ match no receipt and no tagged take: their songs cannot be told, so they "
        "were moved to .setlist/clips/unmatched/ (a song they belong to may be bought again: check `setlist plan`)\n",
        s.unmatched_clip_files);
  if (s.unanswered)
    std::cout << "songs whose request has no recorded answer stay uncertain: a run reports them and sends nothing "
                 "for them unless --resubmit-uncertain is given\n";
  std::cout << "run the same `setlist run` again: it fetches what is missing without buying it again\n";
  return exit_code::ok;
}

// `setlist merge SHARD_OUT... -o ALBUM`: one album from its shards.
int merge_album(const std::vector<std::string>& shards, const fs::path& album) {
  std::vector<fs::path> dirs(shards.begin(), shards.end());
  auto r = merge_shards(dirs, album);
  if (!r) {
    std::cerr << "setlist: " << r.error().message << "\n";
    return r.error().kind == ErrorKind::invalid ? exit_code::usage : exit_code::cannot_run;
  }
  auto& s = r.value();
  for (auto& w : s.warnings) std::cerr << "setlist: warning: " << w << "\n";
  std::cout << fmt::format(
      "merged {} folder(s) into {}: {} song(s) taken, {} already there; {} file(s) copied, {} already there; {} "
      "receipt(s) added\n",
      s.merged.size(), album.string(), s.songs_taken, s.songs_kept, s.files_copied, s.files_present, s.journal_lines);
  auto song_line = [](const MergedSong& m) {
    return fmt::format("  [{:02}] {} ({}){}\n", m.track, m.title, m.status,
                       m.shard >= 0 ? fmt::format(", shard {}", m.shard) : std::string());
  };
  if (!s.missing.empty()) {
    std::string list;
    for (int i : s.missing) list += (list.empty() ? "" : ", ") + std::to_string(i) + "/" + std::to_string(s.count);
    std::cerr << fmt::format("missing shard(s): {} (never merged into {}); the {} song(s) they hold:\n", list,
                             album.string(), s.missing_songs.size());
    for (auto& m : s.missing_songs) std::cerr << song_line(m);
    std::cerr << "merge again with those shards' folders once they ran: only what is new is added\n";
  }
  std::set<std::string> missing_ids;
  for (auto& m : s.missing_songs) missing_ids.insert(m.id);
  std::vector<MergedSong> unfinished;
  for (auto& m : s.unfinished)
    if (!missing_ids.count(m.id)) unfinished.push_back(m);
  if (!unfinished.empty()) {
    std::cerr << unfinished.size() << " song(s) of the merged shards are not complete:\n";
    for (auto& m : unfinished) std::cerr << song_line(m);
    std::cerr << "run the shard again (or `setlist run MANIFEST -o " << album.string()
              << "`): nothing already bought is bought again\n";
  }
  std::cout << "report: " << (album / "report.html").string() << "\n";
  return s.missing.empty() && s.unfinished.empty() ? exit_code::ok : exit_code::incomplete;
}

const char* kSelectorHelp =
    "a comma list of track numbers (3,5), ranges (2-4), song ids or title globs ('Neon*')";

// --only / --regenerate on the manifest's songs: the ids selected, or an
// error naming what matched nothing.
std::optional<std::set<std::string>> select_ids(const std::vector<SongRef>& refs, const std::string& spec,
                                                const std::string& flag) {
  auto sel = select_songs(refs, spec, flag);
  if (!sel) {
    std::cerr << "setlist: " << sel.error().message << "\n";
    return std::nullopt;
  }
  std::set<std::string> ids;
  for (std::size_t i = 0; i < refs.size(); ++i)
    if ((*sel)[i]) ids.insert(refs[i].id);
  return ids;
}

std::optional<std::set<std::string>> select_ids(const Manifest& m, const std::string& spec, const std::string& flag) {
  std::vector<SongRef> refs;
  for (auto& song : m.songs) refs.push_back({song.track, song.id, song.title});
  return select_ids(refs, spec, flag);
}

const char* kShardHelp =
    "work only on share I of N of the songs (0 <= I < N), chosen by song id so that editing a song never moves "
    "it; auto/N takes I from JOB_COMPLETION_INDEX (Kubernetes Indexed Jobs). Each shard runs in its own OUT; "
    "`setlist merge` makes one album of them";

// --shard I/N or auto/N; nullopt (after printing why) when it is wrong.
std::optional<std::optional<Shard>> shard_option(const std::string& spec) {
  if (spec.empty()) return std::optional<Shard>();
  auto s = parse_shard(spec, std::getenv("JOB_COMPLETION_INDEX"));
  if (!s) {
    std::cerr << "setlist: " << s.error().message << "\n";
    return std::nullopt;
  }
  return std::optional<Shard>(*s);
}

// `setlist plan` (and `run --dry-run`): what a run would send and cost,
// each song's row printed as soon as it is planned (plan_each), the lines
// about particular songs after the total. Exit 2 when a --regenerate would
// be refused.
class PlanPrinter {
 public:
  explicit PlanPrinter(bool keep_attempts) : keep_attempts_(keep_attempts) {}

  void song(const PlannedSong& s) {
    header();
    std::cout << fmt::format("{:>5}  {:<18} {:<24} {:>12}  {}\n", s.song->track, s.action,
                             s.generate_requests ? "POST " + s.route : "-", s.tokens, s.song->title);
    if (s.regenerate && s.refusal.empty())
      regenerated_.push_back(fmt::format(
          "regenerate: [{:02}] {} is bought again on purpose: {} request(s), {} tokens; {}\n", s.song->track,
          s.song->title, s.generate_requests, s.tokens,
          keep_attempts_ ? "its earlier takes stay in the album folder (--keep-attempts)"
                         : "its earlier takes, if any, move to .setlist/superseded/"));
    if (!s.rejected.empty())
      rejected_.push_back(fmt::format(
          "reject_bad_takes: [{:02}] {}: {}; bought again: {} request(s), {} tokens; {}\n", s.song->track,
          s.song->title, s.rejected, s.generate_requests, s.tokens,
          keep_attempts_ ? "its earlier takes stay in the album folder (--keep-attempts)"
                         : "its earlier takes move to .setlist/superseded/"));
    if (!s.refusal.empty())
      refused_.push_back(
          fmt::format("setlist: --regenerate refused for [{:02}] {}: {}\n", s.song->track, s.song->title, s.refusal));
  }

  int finish(const Plan& p) {
    header();
    std::cout << fmt::format("total: {} generate request(s), {} tokens\n", p.generate_requests, p.tokens);
    for (auto& line : regenerated_) std::cout << line;
    for (auto& line : rejected_) std::cout << line;
    if (p.reject_requests_max > 0)
      std::cout << fmt::format(
          "reject_bad_takes: a take flagged once analysed is bought again: at most {} more request(s), {} tokens, "
          "beyond the total\n",
          p.reject_requests_max, p.reject_tokens_max);
    if (p.budget)
      std::cout << fmt::format("budget: {} tokens: {}\n", *p.budget,
                               p.fits_budget ? "fits" : "does NOT fit; the run would skip songs once it is spent");
    std::cout.flush();
    for (auto& line : refused_) std::cerr << line;
    return refused_.empty() ? exit_code::ok : exit_code::usage;
  }

 private:
  void header() {
    if (started_) return;
    started_ = true;
    std::cout << fmt::format("{:>5}  {:<18} {:<24} {:>12}  {}\n", "track", "action", "request", "tokens", "title");
  }

  bool keep_attempts_;
  bool started_ = false;
  // The lines about particular songs (few: those --regenerate names, those rejected).
  std::vector<std::string> regenerated_, rejected_, refused_;
};

// `setlist verify OUT`: 0 when every recorded file is there with its size and hash.
int verify_files(const fs::path& out, StateStore& state) {
  int bad = 0, good = 0;
  for (auto& f : state.files()) {
    if (auto problem = state_path_problem(out, f.path)) {  // never opened
      std::cout << "DAMAGED  " << damaged_state_message(f.path, *problem) << "\n";
      ++bad;
      continue;
    }
    auto d = file_digest(out / f.path);
    if (!d) {
      std::cout << "MISSING  " << f.path << "\n";
      ++bad;
    } else if (d->first != f.bytes || d->second != f.sha256) {
      std::cout << fmt::format("CHANGED  {} (expected {} bytes sha256 {}, found {} bytes sha256 {})\n", f.path,
                               f.bytes, f.sha256, d->first, d->second);
      ++bad;
    } else {
      ++good;
    }
  }
  std::cerr << fmt::format("{} file(s) ok, {} missing or changed\n", good, bad);
  return bad == 0 ? exit_code::ok : exit_code::incomplete;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"setlist: generate whole albums with a music-generation API", "setlist"};
  app.footer(kExitCodes);
  app.require_subcommand(1);
  app.set_version_flag("--version", version_text());

  // run
  Common run_c;
  std::string manifest_path, out_dir, key_file, cacert;
  bool resubmit_uncertain = false, retry_failed = false, explain = false, quiet = false;
  int verbose = 0;
  auto* run = app.add_subcommand("run", "generate the album described by MANIFEST into OUT");
  run->add_option("manifest", manifest_path, "album manifest (YAML)")->required();
  run->add_option("-o,--out", out_dir, "output folder")->required();
  run->add_option("--api-key-file", key_file,
                  "read the API key from FILE (must not be group/world readable); one key per line, several "
                  "make a key pool (each its own rate limit)");
  run->add_option("--cacert", cacert, "trust the CA certificates in FILE instead of the system store");
  run->add_flag("--resubmit-uncertain", resubmit_uncertain,
                "submit again songs whose earlier request may have been accepted (may pay twice)");
  run->add_flag("--retry-failed", retry_failed, "submit again songs that failed in an earlier run");
  std::string run_only, run_regenerate;
  bool keep_attempts = false, dry_run = false, check_all = false;
  run->add_option("--only", run_only,
                  std::string("work only on these songs: ") + kSelectorHelp +
                      "; the others are left alone (not sent, not polled, files kept) and still listed in the reports")
      ->type_name("SONGS");
  run->add_option("--regenerate", run_regenerate,
                  std::string("buy these songs again on purpose (paid: see `plan --regenerate`): ") + kSelectorHelp +
                      "; their earlier takes move to OUT/.setlist/superseded/ (or stay, with --keep-attempts). Refused "
                      "while a song's request is uncertain (unless --resubmit-uncertain) or its paid takes are not "
                      "downloaded yet")
      ->type_name("SONGS");
  std::string run_shard;
  run->add_option("--shard", run_shard, kShardHelp)->type_name("I/N");
  run->add_flag("--keep-attempts", keep_attempts,
                "a new attempt (--regenerate, --retry-failed, regenerate_on_error) leaves the earlier takes in the "
                "album folder; the new takes are named \"... (attempt N)\"");
  run->add_flag("--check-all", check_all,
                "look at every song and write the reports again even when the album is finished and nothing changed "
                "since the run that finished it (by default such a run says so and stops)");
  run->add_flag("--dry-run", dry_run, "print what the run would send and cost (as `setlist plan`); send nothing, "
                                      "no key needed");
  run->add_flag("--explain-config", explain, "print each setting's effective value and origin, then exit");
  run->add_flag("-q,--quiet", quiet, "print failures only");
  run->add_flag("-v,--verbose", verbose, "print every event");
  std::string log_format = "text";
  run->add_option("--log-format", log_format, "text (default) or json: one JSON object per event on stderr")
      ->check(CLI::IsMember({"text", "json"}));
  add_setting_flags(run, run_c);

  // validate
  std::string validate_path;
  Common validate_c;
  auto* validate = app.add_subcommand("validate", "check a manifest; exit 0 when clean, 2 with errors");
  add_setting_flags(validate, validate_c);
  validate->add_option("manifest", validate_path, "album manifest (YAML)")->required();
  std::string validate_format = "text";
  validate->add_option("--format", validate_format, "text (default) or json: the diagnostics as one JSON document")
      ->check(CLI::IsMember({"text", "json"}));

  // plan
  Common plan_c;
  std::string plan_manifest, plan_out;
  bool plan_retry_failed = false, plan_resubmit = false;
  auto* plan = app.add_subcommand("plan", "show what a run would send and cost, without sending anything");
  plan->add_option("manifest", plan_manifest, "album manifest (YAML)")->required();
  plan->add_option("-o,--out", plan_out, "output folder (its state says what is already done)")->required();
  plan->add_flag("--retry-failed", plan_retry_failed, "count songs that failed before as to be resubmitted");
  plan->add_flag("--resubmit-uncertain", plan_resubmit, "count uncertain songs as to be resubmitted");
  std::string plan_only, plan_regenerate;
  bool plan_keep_attempts = false;
  plan->add_option("--only", plan_only,
                   std::string("plan only these songs: ") + kSelectorHelp + "; the others show as not selected")
      ->type_name("SONGS");
  plan->add_option("--regenerate", plan_regenerate,
                   std::string("count these songs as bought again on purpose (paid): ") + kSelectorHelp)
      ->type_name("SONGS");
  plan->add_flag("--keep-attempts", plan_keep_attempts, "as for `run`: earlier takes stay in the album folder");
  std::string plan_shard;
  plan->add_option("--shard", plan_shard,
                   "plan only share I of N of the songs (as `run --shard`); the others show as not selected")
      ->type_name("I/N");
  add_setting_flags(plan, plan_c);

  // config
  Common cfg_c;
  std::string cfg_manifest;
  auto* config = app.add_subcommand("config", "print every setting's effective value and where it came from");
  config->add_option("manifest", cfg_manifest, "album manifest (YAML)");
  add_setting_flags(config, cfg_c);

  // status
  std::string status_out;
  auto* status = app.add_subcommand("status", "print the state of each song in OUT");
  status->add_option("out", status_out, "output folder")->required();
  std::string status_only;
  status->add_option("--only", status_only, std::string("show only these songs: ") + kSelectorHelp)
      ->type_name("SONGS");
  std::string status_shard;
  status->add_option("--shard", status_shard, "show only the songs of share I of N (as `run --shard`; auto/N too)")
      ->type_name("I/N");

  // verify
  std::string verify_out;
  auto* verify = app.add_subcommand("verify", "recheck every file in OUT against the sizes and SHA-256 in its state");
  verify->add_option("out", verify_out, "output folder")->required();

  // report
  std::string report_out;
  auto* report = app.add_subcommand("report", "rebuild the reports of OUT from its state, without network");
  report->add_option("out", report_out, "output folder")->required();
  std::string report_format = "files";
  report->add_option("--format", report_format,
                     "files (default): rewrite report.json, report.html (with report-pages/ past 100 songs), junit.xml and "
                     "album.m3u8; md: print the "
                     "Markdown summary (for $GITHUB_STEP_SUMMARY) on stdout and write nothing")
      ->check(CLI::IsMember({"files", "md"}));

  // merge
  std::vector<std::string> merge_sources;
  std::string merge_out;
  auto* merge = app.add_subcommand(
      "merge", "make one album folder of the OUT folders of a manifest's shards (run --shard I/N)");
  merge->add_option("shards", merge_sources, "the shards' OUT folders")->required();
  merge->add_option("-o,--out", merge_out, "the album folder to create or bring up to date")->required();

  // recover
  std::string recover_out;
  auto* recover = app.add_subcommand(
      "recover", "rebuild OUT's state database from its receipts journal, clip files and tagged takes");
  recover->add_option("out", recover_out, "output folder")->required();

  for (auto* sub : app.get_subcommands([](const CLI::App*) { return true; }))
    sub->footer(help_text::exit_code_footer(sub->get_name()));
  recover->footer(
      "When state.db is lost, emptied, damaged or behind (its -wal lost), `run` refuses to start rather than buy "
      "the album again. `recover` rebuilds it from .setlist/receipts.jsonl, .setlist/clips/ and the tags of the "
      "takes in OUT; a damaged database is moved to .setlist/damaged-<time>/, never deleted. Nothing is sent.\n\n" +
      help_text::exit_code_footer("recover"));

  // A key on the command line shows in `ps` and shell history: refuse it
  // before the parser could echo the value back in an error message.
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if ((a.starts_with("--api-key") && !a.starts_with("--api-key-file")) || a.starts_with("--key=") || a == "--key" ||
        a.starts_with("--token")) {
      std::cerr << "setlist: the API key is never taken from the command line (it would show in `ps` and shell "
                   "history); set the provider's key variable (AIML_API_KEY, SUNOAPI_KEY, SUNO_API_KEY) or use "
                   "--api-key-file FILE\n";
      return exit_code::usage;
    }
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : exit_code::usage;
  }

  if (*validate) {
    auto validate_options = load_options(validate, validate_c);
    validate_options.keep_songs = false;  // checked as they are read, not kept: memory stays flat
    auto r = load_manifest(validate_path, validate_options);
    // The settings as `run` would resolve them: a value that only fails once
    // layered (the naming template's placeholders) is an error here too.
    if (r.manifest) {
      std::vector<std::string> errors;
      auto rs = resolve_settings(&*r.manifest, process_environment(), given_flags(validate, validate_c), errors);
      errors.clear();  // the loader has reported the manifest's own values already
      check_resolved(rs, errors);
      for (auto& e : errors) {
        Diagnostic d;
        d.severity = Diagnostic::Severity::error;
        d.file = validate_path;
        d.path = "settings.output_template";
        d.message = e;
        if (auto it = r.manifest->settings.find("output_template");
            it != r.manifest->settings.end() && rs.origin["output_template"].source == SettingSource::manifest) {
          d.pos = it->second.pos;
          d.message = e.substr(e.find(": ") + 2);
        }
        r.diagnostics.push_back(std::move(d));
      }
      if (!errors.empty()) r.manifest.reset();
    }
    if (validate_format == "json") {
      boost::json::array ds;
      for (auto& d : r.diagnostics) ds.push_back(diagnostic_json(d));
      boost::json::object doc;
      doc["file"] = validate_path;
      doc["ok"] = r.ok();
      doc["errors"] = r.error_count();
      doc["warnings"] = r.warning_count();
      doc["diagnostics"] = std::move(ds);
      std::cout << boost::json::serialize(doc) << "\n";
      return r.ok() ? exit_code::ok : exit_code::usage;
    }
    print_diagnostics(r.diagnostics);
    std::cerr << fmt::format("{}: {} error(s), {} warning(s)\n", validate_path, r.error_count(), r.warning_count());
    return r.ok() ? exit_code::ok : exit_code::usage;
  }

  auto plan_options = [](bool retry, bool resubmit) {
    PlanOptions po;
    po.retry_failed = retry;
    po.resubmit_uncertain = resubmit;
    return po;
  };
  // `plan`, and `run --dry-run` (the same output; nothing sent, no key read).
  auto do_plan = [&](const std::string& manifest_file, const std::string& out, CLI::App* cmd, Common& c,
                     PlanOptions po, const std::string& only, const std::string& regenerate, bool keep,
                     const std::string& shard) {
    auto sh = shard_option(shard);
    if (!sh) return exit_code::usage;
    po.shard = *sh;
    // The songs are checked, then read again one at a time as they are
    // planned and printed: memory stays that of `validate` however many.
    auto lo = load_options(cmd, c);
    lo.keep_songs = false;
    auto loaded = load_manifest(manifest_file, lo);
    print_diagnostics(loaded.diagnostics);
    if (!loaded.ok()) {
      std::cerr << fmt::format("{}: {} error(s); nothing was sent\n", manifest_file, loaded.error_count());
      return exit_code::usage;
    }
    SongSource songs = [&loaded](const std::function<void(const Song&)>& each) -> Status {
      if (auto d = loaded.songs(each)) {
        Error e;
        e.kind = ErrorKind::io;
        e.message = "the manifest read differently the second time (a file it names changed?): " + d->format();
        return e;
      }
      return Ok{};
    };
    auto rs = settings_or_report(&*loaded.manifest, cmd, c);
    if (!rs) return exit_code::usage;
    if (!only.empty() || !regenerate.empty()) {
      std::vector<SongRef> refs;
      auto read = songs([&](const Song& song) { refs.push_back({song.track, song.id, song.title}); });
      if (!read) {
        std::cerr << "setlist: " << read.error().message << "\n";
        return exit_code::cannot_run;
      }
      if (!only.empty()) {
        auto ids = select_ids(refs, only, "--only");
        if (!ids) return exit_code::usage;
        po.only = std::move(*ids);
      }
      if (!regenerate.empty()) {
        auto ids = select_ids(refs, regenerate, "--regenerate");
        if (!ids) return exit_code::usage;
        po.regenerate = std::move(*ids);
      }
    }
    for (auto& id : po.regenerate) {
      if (!po.only.empty() && !po.only.count(id)) {
        std::cerr << "setlist: --regenerate names '" << id << "', which --only leaves out\n";
        return exit_code::usage;
      }
      if (po.shard && !po.shard->owns(id)) {
        std::cerr << "setlist: --regenerate names '" << id << "', which belongs to shard "
                  << shard_of(id, po.shard->count) << "/" << po.shard->count << ", not " << po.shard->label()
                  << "\n";
        return exit_code::usage;
      }
    }
    po.cost_per_request_given = cost_given(*rs);
    PlanPrinter printer(keep);
    auto p = plan_each(songs, rs->values, out, po, [&](const PlannedSong& s) { printer.song(s); });
    if (!p) {
      std::cout.flush();
      std::cerr << "setlist: " << p.error().message << "\n";
      return exit_code::cannot_run;
    }
    return printer.finish(*p);
  };
  if (*plan)
    return do_plan(plan_manifest, plan_out, plan, plan_c, plan_options(plan_retry_failed, plan_resubmit),
                   plan_only, plan_regenerate, plan_keep_attempts, plan_shard);
  if (*run && dry_run)
    return do_plan(manifest_path, out_dir, run, run_c, plan_options(retry_failed, resubmit_uncertain), run_only,
                   run_regenerate, keep_attempts, run_shard);

  if (*config) {
    std::optional<Manifest> m;
    if (!cfg_manifest.empty()) {
      m = load_or_report(cfg_manifest, load_options(config, cfg_c));
      if (!m) return exit_code::usage;
    }
    auto rs = settings_or_report(m ? &*m : nullptr, config, cfg_c);
    if (!rs) return exit_code::usage;
    print_config(*rs);
    return exit_code::ok;
  }

  if (*recover) return recover_album(recover_out);
  if (*merge) return merge_album(merge_sources, merge_out);

  if (*status || *report || *verify) {
    fs::path out = *status ? status_out : *report ? report_out : verify_out;
    auto db = out / ".setlist" / "state.db";
    auto st = open_album_state(out, false);
    if (!st) {
      std::cerr << "setlist: " << st.error().message << "\n";
      return exit_code::cannot_run;
    }
    if (!st.value()) {
      std::cerr << "setlist: " << out.string() << " has no setlist state (" << db.string() << " not found)\n";
      return exit_code::cannot_run;
    }
    if (*verify) return verify_files(out, *st.value());
    if (*report && report_format == "md") {
      std::vector<std::string> damaged;
      std::cout << markdown_summary(out, *st.value(), &damaged);
      for (auto& d : damaged) std::cerr << "setlist: warning: " << d << "\n";
      return exit_code::ok;
    }
    if (*report) {
      std::vector<std::string> damaged;
      auto w = write_reports(out, *st.value(), nullptr, nullptr, &damaged);
      for (auto& d : damaged) std::cerr << "setlist: warning: " << d << "\n";
      if (!w) {
        std::cerr << "setlist: " << w.error().message << "\n";
        return exit_code::cannot_run;
      }
      std::cout << (out / "report.json").string() << "\n";
      return exit_code::ok;
    }
    // The same lifecycle verdict as `plan` and `run` (as if no flag were given).
    auto rows = st.value()->songs();
    std::erase_if(rows, [](const SongRow& r) { return r.status == SongStatus::superseded; });
    if (*status) {
      auto sh = shard_option(status_shard);
      if (!sh) return exit_code::usage;
      if (*sh) std::erase_if(rows, [&](const SongRow& r) { return !(*sh)->owns(r.song_id); });
    }
    if (!status_only.empty()) {
      std::vector<SongRef> refs;
      for (auto& r : rows) refs.push_back({r.track, r.song_id, r.title});
      auto sel = select_songs(refs, status_only, "--only");
      if (!sel) {
        std::cerr << "setlist: " << sel.error().message << "\n";
        return exit_code::usage;
      }
      std::vector<SongRow> kept;
      for (std::size_t i = 0; i < rows.size(); ++i)
        if ((*sel)[i]) kept.push_back(std::move(rows[i]));
      rows = std::move(kept);
    }
    std::cout << fmt::format("{:>5}  {:<10} {:>8}  {:<22} {}\n", "track", "status", "requests", "next run", "title");
    for (auto& s : rows) {
      auto facts = song_facts(*st.value(), s.key, out, 1);
      facts.requests_needed = std::max(1, facts.acked);
      auto next = decide_resume(facts, ResumeOptions{});
      std::cout << fmt::format("{:>5}  {:<10} {:>8}  {:<22} {}{}\n", s.track, to_string(s.status), s.attempts,
                               next.label, s.title, s.reason.empty() ? "" : "  (" + s.reason + ")");
    }
    return exit_code::ok;
  }

  // run
  disable_core_dumps();  // first: the key is read below and kept until the end
  g_json_log = log_format == "json";
  std::signal(SIGINT, count_early_signal);
  std::signal(SIGTERM, count_early_signal);
  auto manifest = load_or_report(manifest_path, load_options(run, run_c));
  if (!manifest) return exit_code::usage;
  auto rs = settings_or_report(&*manifest, run, run_c);
  if (!rs) return exit_code::usage;
  if (explain) {
    print_config(*rs);
    return exit_code::ok;
  }
  // The key goes to base_url. A manifest (maybe a stranger's) may name only
  // the provider's own host or this machine; anything else must come from
  // the user: a flag or the environment (docs/security.md).
  if (auto it = rs->origin.find("base_url");
      it != rs->origin.end() && it->second.source == SettingSource::manifest && !rs->values.base_url.empty()) {
    auto named = setlist::http::Url::parse(rs->values.base_url);
    auto provider = make_provider(rs->values.provider, provider_options(rs->values));
    auto own = provider ? setlist::http::Url::parse(provider->info().default_base_url) : std::nullopt;
    if (!named || !(named->is_loopback() || (own && own->host == named->host))) {
      std::cerr << "setlist: " << manifest_path << ": settings.base_url names " << rs->values.base_url
                << ": setlist does not send your API key to a host a manifest names. If you trust it, give it "
                   "yourself with --base-url or SETLIST_BASE_URL; nothing was sent\n";
      return exit_code::usage;
    }
  }
  auto run_sh = shard_option(run_shard);
  if (!run_sh) return exit_code::usage;
  std::set<std::string> only_ids, regenerate_ids;
  if (!run_only.empty()) {
    auto ids = select_ids(*manifest, run_only, "--only");
    if (!ids) return exit_code::usage;
    only_ids = std::move(*ids);
  }
  if (!run_regenerate.empty()) {
    auto ids = select_ids(*manifest, run_regenerate, "--regenerate");
    if (!ids) return exit_code::usage;
    regenerate_ids = std::move(*ids);
    for (auto& id : regenerate_ids) {
      if (!only_ids.empty() && !only_ids.count(id)) {
        std::cerr << "setlist: --regenerate names '" << id << "', which --only leaves out\n";
        return exit_code::usage;
      }
      if (*run_sh && !(*run_sh)->owns(id)) {
        std::cerr << "setlist: --regenerate names '" << id << "', which belongs to shard "
                  << shard_of(id, (*run_sh)->count) << "/" << (*run_sh)->count << ", not "
                  << (*run_sh)->label() << "\n";
        return exit_code::usage;
      }
    }
    // Refused before anything is sent, for the same reasons `plan` gives
    // (the engine checks again under OUT's lock).
    auto po = plan_options(retry_failed, resubmit_uncertain);
    po.cost_per_request_given = cost_given(*rs);
    po.only = only_ids;
    po.regenerate = regenerate_ids;
    po.shard = *run_sh;
    auto p = make_plan(*manifest, rs->values, out_dir, po);
    if (!p) {
      std::cerr << "setlist: " << p.error().message << "\n";
      return exit_code::cannot_run;
    }
    bool refused = false;
    for (auto& ps : p->songs)
      if (!ps.refusal.empty()) {
        std::cerr << fmt::format("setlist: --regenerate refused for [{:02}] {}: {}; nothing was sent\n",
                                 ps.song->track, ps.song->title, ps.refusal);
        refused = true;
      }
    if (refused) return exit_code::usage;
  }
  const ProviderInfo* info = find_provider_info(rs->values.provider);
  if (!info) {
    std::cerr << "setlist: unknown provider '" << rs->values.provider << "'\n";
    return exit_code::usage;
  }
  std::string key_error;
  auto keys = load_api_keys(*info, key_file, key_error);
  if (!keys) {
    std::cerr << "setlist: " << key_error << "\n";
    return exit_code::usage;
  }
  if (cacert.empty())
    if (const char* v = std::getenv("SSL_CERT_FILE"); v && *v) cacert = v;

  RunOptions opt;
  opt.out_dir = out_dir;
  opt.settings = rs->values;
  opt.api_keys = std::move(*keys);
  opt.cacert = cacert;
  auto env_either = [](const char* a, const char* b) {
    const char* v = std::getenv(a);
    if (!v || !*v) v = std::getenv(b);
    return std::string(v ? v : "");
  };
  opt.https_proxy = env_either("HTTPS_PROXY", "https_proxy");
  opt.no_proxy = env_either("NO_PROXY", "no_proxy");
  opt.cost_per_request_given = cost_given(*rs);
  opt.early_signals = [] { return static_cast<int>(g_early_signals); };
  opt.resubmit_uncertain = resubmit_uncertain;
  opt.retry_failed = retry_failed;
  opt.only = only_ids;
  opt.shard = *run_sh;
  opt.regenerate = regenerate_ids;
  opt.keep_attempts = keep_attempts;
  opt.tick = std::chrono::seconds(1);
  // Reports are written while the run still holds OUT's lock, whenever it got
  // as far as its state (even when aborted); never when another run holds OUT.
  opt.before_unlock = [&](StateStore& st, RunSummary& s) {
    auto w = write_reports(out_dir, st, &*manifest, &s);
    if (!w) std::cerr << "setlist: could not write reports: " << w.error().message << "\n";
    s.reports_written = static_cast<bool>(w);
    s.flagged = flagged_takes(st);  // #19: takes the analysis flagged, for the summary
    s.flagged_total = s.flagged.size();
  };
  opt.program = version_text();
  // A CI step's summary is written by every run: no shortcut there.
  if (const char* v = std::getenv("GITHUB_STEP_SUMMARY"); v && *v) opt.settled_shortcut = false;
  if (check_all) opt.settled_shortcut = false;
  RunSummary summary;
  {
    int selected = 0;
    for (auto& song : manifest->songs)
      if ((only_ids.empty() || only_ids.count(song.id)) && (!*run_sh || (*run_sh)->owns(song.id))) ++selected;
    ProgressSink sink(quiet ? -1 : verbose, log_format == "json", selected);
    summary = run_album(*manifest, opt, sink);
  }

  if (!summary.ran) {
    // Refused before it started (no key, lock held, OUT not writable): nothing to count.
    std::cerr << "setlist: " << summary.abort_reason << "\n";
    return exit_code::cannot_run;
  }
  // The summary comes only after the run held OUT and looked at its state
  // (a refusal above prints its reason alone); the last line is where to look.
  const auto report_json = fs::path(out_dir) / "report.json";
  const auto report_html = fs::path(out_dir) / "report.html";
  if (log_format == "json") {
    std::cerr << boost::json::serialize(song_table_json(summary)) << "\n";
    boost::json::object o = boost::json::parse(run_summary_json(summary)).as_object();
    o["event"] = "summary";
    if (summary.unchanged) {
      o["unchanged"] = true;  // nothing to do (settled.hpp); the reports stand
      o["unchanged_since"] = summary.unchanged_since;
    }
    if (fs::exists(report_json)) o["report"] = report_json.string();
    if (fs::exists(report_html)) o["report_html"] = report_html.string();
    std::cerr << boost::json::serialize(o) << "\n";
  } else {
    if (!quiet) print_song_table(summary, std::cerr);
    if (summary.unchanged)
      std::cerr << fmt::format(
          "nothing to do: every song is complete and nothing changed since the run that ended {} (manifest, the "
          "files it names, settings, state and the album's files); that run's reports stand (--check-all looks at "
          "every song and writes them again)\n",
          summary.unchanged_since > 0 ? utc_minute(summary.unchanged_since) : std::string("earlier"));
    std::cerr << fmt::format(
        "{} songs: {} complete, {} failed, {} skipped, {} uncertain, {} unfinished; {} tokens charged by this run, {} "
        "by every run of this album{}\n",
        summary.songs, summary.complete, summary.failed, summary.skipped, summary.uncertain, summary.pending,
        summary.tokens_charged, summary.tokens_charged_to_date,
        summary.not_selected
            ? fmt::format(" ({} not selected by {})", summary.not_selected,
                          *run_sh ? (run_only.empty() ? "--shard " + (*run_sh)->label() : "--only and --shard")
                                  : std::string("--only"))
            : "");
    if (summary.aborted) std::cerr << "setlist: " << summary.abort_reason << "\n";
    if (summary.keys.size() > 1 && !quiet) {  // the key pool, by fingerprint
      std::cerr << fmt::format("{} keys:\n", summary.keys.size());
      for (auto& k : summary.keys)
        std::cerr << fmt::format("  {}  {} generate, {} poll, {} throttled, {} tokens{}\n", k.fingerprint, k.generate,
                                 k.poll, k.throttled, k.tokens, k.retired.empty() ? "" : "; retired: " + k.retired);
    }
    if (summary.flagged_total > 0) {
      const auto& flagged = summary.flagged;
      std::cerr << summary.flagged_total << " take(s) flagged:\n";
      std::size_t shown = 0;
      for (; shown < flagged.size() && shown < 20; ++shown) std::cerr << "  " << flagged[shown] << "\n";
      if (summary.flagged_total > shown)
        std::cerr << "  ... and " << summary.flagged_total - shown << " more (report.json: flags)\n";
    }
    if (summary.interrupted) std::cerr << "interrupted: run the same command again to resume\n";
    if (fs::exists(report_html)) std::cerr << "report: " << report_html.string() << " (open it in a browser)\n";
  }
  if (summary.interrupted) return exit_code::interrupted;
  return exit_code::for_summary(summary);
}
