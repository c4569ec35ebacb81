// setlist: the command line. Flags, config layering, progress, exit codes.
#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <fmt/core.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/exit_codes.hpp"
#include "setlist/engine.hpp"
#include "setlist/manifest.hpp"
#include "setlist/output.hpp"
#include "setlist/plan.hpp"
#include "setlist/provider.hpp"
#include "setlist/report.hpp"
#include "setlist/settings.hpp"
#include "setlist/state.hpp"

namespace fs = std::filesystem;
using namespace setlist;

namespace {

// SIGINT/SIGTERM during `run` before the engine takes them over (loading the
// manifest, opening state): counted here and handed to the engine, so a
// Ctrl-C at any moment ends in the same clean stop.
volatile std::sig_atomic_t g_early_signals = 0;
extern "C" void count_early_signal(int) { g_early_signals = g_early_signals + 1; }

const char* kExitCodes =
    "Exit codes:\n"
    "  0    every song complete\n"
    "  1    some songs failed, were skipped or are uncertain\n"
    "  2    usage or manifest error\n"
    "  3    could not run (lock held, key rejected, out of credits, OUT not writable)\n"
    "  130  interrupted (run again to resume)\n";

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
    std::cerr << fmt::format("\r\x1b[2K{} queued · {} submitted · {} generating · {} downloading · {} done · {} failed"
                             "  [{}s, ETA {}]",
                             songs_ - known, n["submitted"], n["generating"], n["downloading"], n["done"],
                             n["failed"], elapsed.count(), eta)
              << std::flush;
    drawn_ = true;
  }

  int verbosity_;
  bool json_;
  bool tty_;
  int songs_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_;
  std::map<int, std::string> state_;
};

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

// The API key: the provider's environment variable or a private key file,
// checked (key_problem) before it goes anywhere.
std::optional<std::string> load_api_key(const ProviderInfo& info, const std::string& key_file, std::string& error) {
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
    // One line: a little more than the longest key, so that a longer one is
    // seen as too long rather than cut.
    std::string key(kMaxKeyBytes + 64, '\0');
    in.read(key.data(), static_cast<std::streamsize>(key.size()));
    key.resize(static_cast<std::size_t>(in.gcount()));
    if (key.size() > kMaxKeyBytes + 2) {  // more than a key and its line end: not read to the end
      error = fmt::format("the API key in --api-key-file {} is longer than the {} bytes allowed; nothing was sent",
                          key_file, kMaxKeyBytes);
      return std::nullopt;
    }
    // The line's end and trailing blanks are not part of the key.
    while (!key.empty() && (key.back() == '\n' || key.back() == '\r' || key.back() == ' ' || key.back() == '\t'))
      key.pop_back();
    if (key.empty()) {
      error = "--api-key-file " + key_file + " is empty";
      return std::nullopt;
    }
    if (auto why = key_problem(key, "--api-key-file " + key_file)) {
      error = *why;
      return std::nullopt;
    }
    return key;
  }
  if (const char* v = std::getenv(info.key_env.c_str()); v && *v) {
    std::string key(v);
    if (auto why = key_problem(key, info.key_env)) {
      error = *why;
      return std::nullopt;
    }
    return key;
  }
  return std::string();
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
};

void add_setting_flags(CLI::App* cmd, Common& c) {
  for (auto name : setting_names()) {
    std::string n(name);
    cmd->add_option(flag_name(n), c.raw[n], "setting " + n + " (see `setlist config`)")->group("Settings");
  }
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
  return effective_load_options(process_environment(), given_flags(cmd, c));
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

std::optional<ResolvedSettings> settings_or_report(const Manifest* m, CLI::App* cmd, Common& c) {
  std::vector<std::string> errors;
  auto s = resolve_settings(m, process_environment(), given_flags(cmd, c), errors);
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
  if (!fs::is_directory(out / ".setlist", ec)) {
    std::cerr << "setlist: " << out.string() << " holds no .setlist folder: nothing to recover from\n";
    return exit_code::cannot_run;
  }
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
        "{} clip files in .setlist/clips/ match no receipt and no tagged take: their songs are not known here\n",
        s.unmatched_clip_files);
  if (s.unanswered)
    std::cout << "songs whose request has no recorded answer stay uncertain: a run reports them and sends nothing "
                 "for them unless --resubmit-uncertain is given\n";
  std::cout << "run the same `setlist run` again: it fetches what is missing without buying it again\n";
  return exit_code::ok;
}

// `setlist verify OUT`: 0 when every recorded file is there with its size and hash.
int verify_files(const fs::path& out, StateStore& state) {
  int bad = 0, good = 0;
  for (auto& f : state.files()) {
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
  CLI::App app{"setlist: generate whole albums with a music-generation API"};
  app.footer(kExitCodes);
  app.require_subcommand(1);
  app.set_version_flag("--version", "setlist 0.1.0");

  // run
  Common run_c;
  std::string manifest_path, out_dir, key_file, cacert;
  bool resubmit_uncertain = false, retry_failed = false, explain = false, quiet = false;
  int verbose = 0;
  auto* run = app.add_subcommand("run", "generate the album described by MANIFEST into OUT");
  run->add_option("manifest", manifest_path, "album manifest (YAML)")->required();
  run->add_option("-o,--out", out_dir, "output folder")->required();
  run->add_option("--api-key-file", key_file, "read the API key from FILE (must not be group/world readable)");
  run->add_option("--cacert", cacert, "trust the CA certificates in FILE instead of the system store");
  run->add_flag("--resubmit-uncertain", resubmit_uncertain,
                "submit again songs whose earlier request may have been accepted (may pay twice)");
  run->add_flag("--retry-failed", retry_failed, "submit again songs that failed in an earlier run");
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

  // verify
  std::string verify_out;
  auto* verify = app.add_subcommand("verify", "recheck every file in OUT against the sizes and SHA-256 in its state");
  verify->add_option("out", verify_out, "output folder")->required();

  // report
  std::string report_out;
  auto* report = app.add_subcommand("report", "rebuild the reports of OUT from its state, without network");
  report->add_option("out", report_out, "output folder")->required();

  // recover
  std::string recover_out;
  auto* recover = app.add_subcommand(
      "recover", "rebuild OUT's state database from its receipts journal, clip files and tagged takes");
  recover->add_option("out", recover_out, "output folder")->required();
  recover->footer(
      "When state.db is lost, emptied, damaged or behind (its -wal lost), `run` refuses to start rather than buy "
      "the album again. `recover` rebuilds it from .setlist/receipts.jsonl, .setlist/clips/ and the tags of the "
      "takes in OUT; a damaged database is moved to .setlist/damaged-<time>/, never deleted. Nothing is sent.\n\n"
      "Exit codes: 0 rebuilt (or nothing to do), 3 cannot recover (another run holds OUT, a read-only "
      "database, nothing to recover from).");

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
    auto r = load_manifest(validate_path, load_options(validate, validate_c));
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

  if (*plan) {
    auto m = load_or_report(plan_manifest, load_options(plan, plan_c));
    if (!m) return exit_code::usage;
    auto rs = settings_or_report(&*m, plan, plan_c);
    if (!rs) return exit_code::usage;
    auto p = make_plan(*m, rs->values, plan_out,
                       PlanOptions{plan_retry_failed, plan_resubmit, cost_given(*rs)});
    if (!p) {
      std::cerr << "setlist: " << p.error().message << "\n";
      return exit_code::cannot_run;
    }
    std::cout << fmt::format("{:>5}  {:<18} {:<24} {:>12}  {}\n", "track", "action", "request", "tokens", "title");
    for (auto& s : p->songs)
      std::cout << fmt::format("{:>5}  {:<18} {:<24} {:>12}  {}\n", s.song->track, s.action,
                               s.generate_requests ? "POST " + s.route : "-", s.tokens, s.song->title);
    std::cout << fmt::format("total: {} generate request(s), {} tokens\n", p->generate_requests, p->tokens);
    if (p->budget)
      std::cout << fmt::format("budget: {} tokens: {}\n", *p->budget,
                               p->fits_budget ? "fits" : "does NOT fit; the run would skip songs once it is spent");
    return exit_code::ok;
  }

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
    if (*report) {
      auto w = write_reports(out, *st.value(), nullptr, nullptr);
      if (!w) {
        std::cerr << "setlist: " << w.error().message << "\n";
        return exit_code::cannot_run;
      }
      std::cout << (out / "report.json").string() << "\n";
      return exit_code::ok;
    }
    // The same lifecycle verdict as `plan` and `run` (as if no flag were given).
    std::cout << fmt::format("{:>5}  {:<10} {:>8}  {:<22} {}\n", "track", "status", "requests", "next run", "title");
    for (auto& s : st.value()->songs()) {
      if (s.status == SongStatus::superseded) continue;
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
  const ProviderInfo* info = find_provider_info(rs->values.provider);
  if (!info) {
    std::cerr << "setlist: unknown provider '" << rs->values.provider << "'\n";
    return exit_code::usage;
  }
  std::string key_error;
  auto key = load_api_key(*info, key_file, key_error);
  if (!key) {
    std::cerr << "setlist: " << key_error << "\n";
    return exit_code::usage;
  }
  if (cacert.empty())
    if (const char* v = std::getenv("SSL_CERT_FILE"); v && *v) cacert = v;

  RunOptions opt;
  opt.out_dir = out_dir;
  opt.settings = rs->values;
  opt.api_key = *key;
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
  // Reports are written while the run still holds OUT's lock, whenever it got
  // as far as its state (even when aborted); never when another run holds OUT.
  std::vector<std::string> flagged;  // #19: takes the analysis flagged, for the summary
  opt.before_unlock = [&](StateStore& st, const RunSummary& s) {
    auto w = write_reports(out_dir, st, &*manifest, &s);
    if (!w) std::cerr << "setlist: could not write reports: " << w.error().message << "\n";
    flagged = flagged_takes(st);
  };
  RunSummary summary;
  {
    ProgressSink sink(quiet ? -1 : verbose, log_format == "json", static_cast<int>(manifest->songs.size()));
    summary = run_album(*manifest, opt, sink);
  }

  if (!summary.ran) {
    // Refused before it started (no key, lock held, OUT not writable): nothing to count.
    std::cerr << "setlist: " << summary.abort_reason << "\n";
    return exit_code::cannot_run;
  }
  auto report_path = fs::path(out_dir) / "report.json";
  if (log_format == "json") {
    boost::json::object o = boost::json::parse(run_summary_json(summary)).as_object();
    o["event"] = "summary";
    if (fs::exists(report_path)) o["report"] = report_path.string();
    std::cerr << boost::json::serialize(o) << "\n";
  } else {
    std::cerr << fmt::format(
        "{} songs: {} complete, {} failed, {} skipped, {} uncertain, {} unfinished; {} tokens charged\n",
        summary.songs, summary.complete, summary.failed, summary.skipped, summary.uncertain, summary.pending,
        summary.tokens_charged);
    if (summary.aborted) std::cerr << "setlist: " << summary.abort_reason << "\n";
    if (!flagged.empty()) {
      std::cerr << flagged.size() << " take(s) flagged:\n";
      for (std::size_t i = 0; i < flagged.size() && i < 20; ++i) std::cerr << "  " << flagged[i] << "\n";
      if (flagged.size() > 20) std::cerr << "  ... and " << flagged.size() - 20 << " more (report.json: flags)\n";
    }
    if (fs::exists(report_path)) std::cerr << "report: " << report_path.string() << "\n";
  }
  if (summary.interrupted) {
    std::cerr << "interrupted: run the same command again to resume\n";
    return exit_code::interrupted;
  }
  return exit_code::for_summary(summary);
}
