// setlist-bench: the benchmarks of scripts/bench.sh, side by side in one run,
// against setlist-sim on 127.0.0.1. Prints one Markdown report.
//
//   A  makespan of an album against the lower bound the rate limit and the
//      generation times allow, at real time and time-scaled; the same album
//      through the two scripts a user would otherwise write (the seed page's
//      one-at-a-time loop, and `xargs -P 8`)
//   B  setlist's downloader against `curl --parallel` on the same URLs
//   C  10,000 songs: peak memory, CPU and requests per song
//   D  the simulator's own capacity, so it is visibly not the bottleneck
//   E  A through AIML's music models: one id per poll
//   K  A with a pool of four keys, each with A's limits (#18)
//
// Every contender runs as a child process; wall time, CPU time and peak RSS
// come from wait4(2). See bench/README.md for what each number means.
#include <boost/json.hpp>
#include <fmt/format.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "test_support.hpp"

namespace json = boost::json;
using namespace setlist::test;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kBenchKey = "bench-key-not-a-secret";

struct Config {
  double scale = 10;  // time compression of A's side-by-side runs
  int songs = 200;
  int seq_songs = 40;  // the one-at-a-time peer runs this many and is extrapolated
  bool real_time = true;  // also run A at real time (20 s latencies)
  bool peers = true;
  int dl_files = 400;
  double dl_mib = 5;
  int dl_parallel = 16;
  int dl_rounds = 2;  // best of
  std::string dl_compare;  // another bench-download (an earlier build) run beside ours in B
  int scale_songs = 10000;
  int sim_conns = 2000;
  double sim_seconds = 3;
  std::string only = "ABCDEK";
  int keys = 4;  // K: the pool's size
  int one_id_songs = 1000;  // E: songs in flight at once
  bool quick = false;
  // K runs at real time: at A's 1/10 scale four keys would ask for 400
  // submissions a second, past what durable intents (two syncs each) allow
  // one process on this disk (docs/scaling.md).
  double key_scale = 1;
  fs::path results;  // also write the report here
};

// ---------------------------------------------------------------- helpers

struct Measured {
  Process::Usage usage;
  int exit_code = -1;
  std::string out, err;
};

Measured measure(const std::vector<std::string>& argv, const Env& env, const fs::path& dir, const std::string& name,
                 std::chrono::minutes timeout = std::chrono::minutes(30)) {
  Process p(argv, env, dir / (name + ".out"), dir / (name + ".err"));
  if (!p.wait(timeout)) {
    p.signal(SIGKILL);
    p.wait();
    throw std::runtime_error(name + " did not finish within " + std::to_string(timeout.count()) + " min");
  }
  return {p.usage(), p.exit_code(), p.out(), p.err()};
}

// The simulator of one measurement; its CPU time is read when it stops.
struct SimRun {
  json::object stats;
  Process::Usage usage;
};

SimRun stop_sim(Sim& sim) {
  SimRun r;
  r.stats = sim.stats().as_object();
  sim.stop();
  r.usage = sim.process().usage();
  return r;
}

std::uint64_t count(const json::object& stats, const std::string& route, const std::string& status = {}) {
  auto& req = stats.at("requests").as_object();
  auto it = req.find(route);
  if (it == req.end()) return 0;
  std::uint64_t n = 0;
  for (auto& [code, v] : it->value().as_object())
    if (status.empty() || code == status) n += v.to_number<std::uint64_t>();
  return n;
}

// A program on PATH, as execve(2) needs its path.
std::string on_path(const std::string& name) {
  std::istringstream dirs(std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin");
  for (std::string d; std::getline(dirs, d, ':');)
    if (!d.empty() && ::access((fs::path(d) / name).c_str(), X_OK) == 0) return (fs::path(d) / name).string();
  throw std::runtime_error(name + " is not installed (scripts/install-deps.sh installs it)");
}

std::string secs(double s) { return s >= 100 ? fmt::format("{:.0f} s", s) : fmt::format("{:.2f} s", s); }
std::string dur_arg(double seconds) { return fmt::format("{}ms", std::llround(seconds * 1000)); }
std::string rate_arg(double per_second) { return fmt::format("{:g}/s", per_second); }
std::string num(double v) { return fmt::format("{:g}", v); }

struct SongText {
  std::string title, lyrics;
};

std::vector<SongText> make_songs(int n) {
  std::vector<SongText> v;
  for (int i = 1; i <= n; ++i)
    v.push_back({"Track " + std::to_string(i), "[Verse]\nStreetlights count to " + std::to_string(i) +
                                                   "\n[Chorus]\nWe keep the night awake"});
  return v;
}

std::string manifest_yaml(const std::vector<SongText>& songs, const std::string& model = "chirp-v3-5") {
  std::string y = "album:\n  title: Bench Album\n  artist: The Benchmarks\n";
  y += "defaults:\n  tags: indie pop, dreamy\n  model: " + model + "\nsongs:\n";
  for (auto& s : songs) {
    y += "  - title: " + s.title + "\n    lyrics: |\n";
    std::istringstream lines(s.lyrics);
    for (std::string line; std::getline(lines, line);) y += "      " + line + "\n";
  }
  return y;
}

// The same songs as generate payloads, one JSON object a line, for the peers.
std::string payloads_jsonl(const std::vector<SongText>& songs) {
  std::string out;
  for (auto& s : songs) {
    json::object o;
    o["title"] = s.title;
    o["prompt"] = s.lyrics;
    o["tags"] = "indie pop, dreamy";
    o["make_instrumental"] = false;
    o["model"] = "chirp-v3-5";
    out += json::serialize(o) + "\n";
  }
  return out;
}

Env setlist_env() { return {{"AIML_API_KEY", kBenchKey}, {"GITHUB_STEP_SUMMARY", "\x01unset"}}; }

Measured run_setlist(const fs::path& dir, const Sim& sim, const std::vector<SongText>& songs,
                     const std::vector<std::string>& flags, const std::string& name,
                     const std::string& model = "chirp-v3-5", Env env = setlist_env()) {
  write_file(dir / (name + ".yaml"), manifest_yaml(songs, model));
  std::vector<std::string> argv = {setlist_bin().string(), "run", (dir / (name + ".yaml")).string(), "-o",
                                   (dir / name).string(), "--base-url", sim.base_url(), "-q"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  auto m = measure(argv, env, dir, name);
  if (m.exit_code != 0) throw std::runtime_error(name + ": setlist exited " + std::to_string(m.exit_code) + ": " + m.err);
  auto report = read_json(dir / name / "report.json");
  auto complete = report.at("totals").at("complete").to_number<int>();
  if (complete != static_cast<int>(songs.size()))
    throw std::runtime_error(name + ": " + std::to_string(complete) + " of " + std::to_string(songs.size()) +
                             " songs complete");
  return m;
}

// Checks that every clip a peer downloaded is the simulator's audio, byte for byte.
void check_peer_files(const fs::path& out, const json::object& stats, std::size_t songs, const std::string& name) {
  std::size_t ok = 0;
  auto& clips = stats.at("clips").as_object();
  for (auto& [id, c] : clips) {
    auto f = out / (std::string(id) + ".mp3");
    if (fs::exists(f) && sha256_file(f) == c.at("sha256").as_string()) ++ok;
  }
  if (ok != 2 * songs)
    throw std::runtime_error(name + ": " + std::to_string(ok) + " of " + std::to_string(2 * songs) +
                             " clips downloaded intact");
}

struct Peer {
  Measured m;
  SimRun sim;
  int songs = 0;
};

// A shell peer: one-song.sh for songs 1..n, either one at a time or via xargs -P.
Peer run_peer(const fs::path& dir, const std::vector<std::string>& sim_args, const std::vector<SongText>& songs,
              int n, int parallel, bool wait_audio, double poll_seconds, const std::string& name) {
  auto out = dir / name;
  fs::create_directories(out);
  write_file(dir / (name + ".jsonl"), payloads_jsonl(songs));
  auto auth = dir / (name + ".auth");
  write_file(auth, std::string("Authorization: Bearer ") + kBenchKey + "\n");
  fs::permissions(auth, fs::perms::owner_read | fs::perms::owner_write);
  Sim sim(dir, sim_args);
  Env env = {{"SONGS", (dir / (name + ".jsonl")).string()},
             {"OUT", out.string()},
             {"BASE_URL", sim.base_url()},
             {"AUTH_HEADER_FILE", auth.string()},
             {"POLL_SECONDS", fmt::format("{:.3f}", poll_seconds)},
             {"WAIT_AUDIO", wait_audio ? "true" : "false"}};
  std::string script = (fs::path(SETLIST_BENCH_PEERS) / "one-song.sh").string();
  std::string cmd = parallel > 1 ? fmt::format("seq 1 {} | xargs -P {} -n 1 '{}'", n, parallel, script)
                                 : fmt::format("for i in $(seq 1 {}); do '{}' \"$i\" || exit 1; done", n, script);
  Peer p;
  p.songs = n;
  p.m = measure({"/bin/bash", "-c", cmd}, env, dir, name);
  p.sim = stop_sim(sim);
  if (p.m.exit_code != 0) throw std::runtime_error(name + " failed: " + p.m.err);
  check_peer_files(out, p.sim.stats, static_cast<std::size_t>(n), name);
  return p;
}

// ------------------------------------------------------- A: lower bound

struct Bound {
  double seconds = 0;     // the makespan no client can beat
  double last_submit = 0; // earliest time the last song may be submitted
  double max_latency = 0;
};

// The lower bound of a run: the k-th accepted generate request cannot be sent
// before max(0, (k - burst + 1) / rate) (a full token bucket at the start),
// its song is not complete before that plus the longer of its two clips'
// generation times, and its audio takes size / loopback speed to download.
// The generation times are the ones the simulator drew for this very run, in
// the order it accepted the requests (the same seed gives the same sequence).
Bound lower_bound(const json::object& stats, double rate, double burst, double bytes_per_second) {
  struct SongTimes {
    double created = 1e300, latency = 0, bytes = 0;
  };
  std::map<std::string, SongTimes> by_payload;
  for (auto& [id, cv] : stats.at("clips").as_object()) {
    auto& c = cv.as_object();
    auto& s = by_payload[std::string(c.at("payload").as_string())];
    s.created = std::min(s.created, c.at("created_ms").to_number<double>() / 1000);
    s.latency = std::max(s.latency, c.at("latency_ms").to_number<double>() / 1000);
    s.bytes += c.at("bytes").to_number<double>();
  }
  std::vector<SongTimes> order;
  for (auto& [p, s] : by_payload) order.push_back(s);
  std::sort(order.begin(), order.end(), [](auto& a, auto& b) { return a.created < b.created; });
  Bound b;
  for (std::size_t k = 0; k < order.size(); ++k) {
    double submit = std::max(0.0, (static_cast<double>(k) - burst + 1) / rate);
    double done = submit + order[k].latency + order[k].bytes / bytes_per_second;
    b.seconds = std::max(b.seconds, done);
    b.last_submit = std::max(b.last_submit, submit);
    b.max_latency = std::max(b.max_latency, order[k].latency);
  }
  return b;
}

struct Makespan {
  double scale = 1;
  Measured m;
  SimRun sim;
  Bound bound;
  std::uint64_t late_429 = 0;  // 429s after the first tenth of the run
};

// The simulator of A at time scale `s`: the issue's numbers divided by s
// (durations) or multiplied by s (rates); bursts are counts and stay.
std::vector<std::string> sim_args_a(double s, bool log) {
  std::vector<std::string> a = {"--latency", dur_arg(20 / s), "--latency-jitter", dur_arg(5 / s),
                                "--generate-rate", num(10 * s), "--generate-burst", "10",
                                "--get-rate", num(20 * s), "--get-burst", "20",
                                "--duration", "20s..40s", "--seed", "2026"};
  if (log) a.push_back("--log");
  return a;
}

// 429s the simulator sent after the first tenth of the run, from its log
// ("+SECONDS api METHOD target -> 429 bytes").
std::uint64_t late_429s(const std::string& log, double after_seconds) {
  std::uint64_t n = 0;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    if (line.size() < 2 || line[0] != '+' || line.find(" -> 429 ") == std::string::npos) continue;
    if (std::atof(line.c_str() + 1) > after_seconds) ++n;
  }
  return n;
}

// What a user who knows A's limits would set: the submit rate at the limit
// with one token less of burst (loopback jitter must not turn into 429s),
// polls at the get limit, every song allowed in flight, and the default poll
// schedule scaled like the rest.
std::vector<std::string> flags_a(double s, std::size_t songs) {
  return {"--submit-rate", rate_arg(10 * s), "--submit-burst", s > 1 ? "8" : "9",
          "--poll-rate", rate_arg(19 * s), "--poll-burst", "19",
          "--max-in-flight", std::to_string(songs),
          "--poll-interval", dur_arg(1 / s), "--poll-interval-max", dur_arg(2 / s),
          "--retry-base", dur_arg(0.5 / s), "--download-concurrency", "8"};
}

Makespan run_makespan(const fs::path& dir, const std::vector<SongText>& songs, double s, double loopback_bps,
                      const std::string& name) {
  Sim sim(dir, sim_args_a(s, true));
  Makespan r;
  r.scale = s;
  r.m = run_setlist(dir, sim, songs, flags_a(s, songs.size()), name);
  std::string log = sim.log();
  r.sim = stop_sim(sim);
  r.bound = lower_bound(r.sim.stats, 10 * s, 10, loopback_bps);
  r.late_429 = late_429s(log, r.m.usage.wall_seconds / 10);
  return r;
}

// ------------------------------------------------------- E: one id per poll

// AIML's music models answer one generation id per GET, so each song polls on
// its own schedule under the shared get limit. E puts `songs` (1000) in flight
// at once at real time: generation 20 s ± 5 s, submissions 250/s (burst 50),
// gets 500/s (burst 50), setlist's default poll interval (1 s, up to 10 s).
struct OneId {
  Makespan run;
  int songs = 0;
  double scale = 1;  // durations divided by it (the smoke test's E is quick)
  double interval = 1;
  double submit_rate = 250, submit_burst = 50, get_rate = 500;
};

OneId run_one_id(const fs::path& dir, int songs, double scale, double loopback_bps) {
  OneId e;
  e.songs = songs;
  e.scale = scale;
  e.interval = 1 / scale;
  Sim sim(dir, {"--latency", dur_arg(20 / scale), "--latency-jitter", dur_arg(5 / scale), "--generate-rate", num(e.submit_rate),
                "--generate-burst", num(e.submit_burst), "--get-rate", num(e.get_rate), "--get-burst", "50",
                "--duration", "20s..40s", "--seed", "2027"});
  e.run.scale = scale;
  e.run.m = run_setlist(dir, sim, make_songs(songs),
                        {"--submit-rate", rate_arg(e.submit_rate - 10), "--submit-burst", num(e.submit_burst - 1),
                         "--poll-rate", rate_arg(e.get_rate - 20), "--poll-burst", "48", "--max-in-flight",
                         std::to_string(songs), "--poll-interval", dur_arg(e.interval), "--poll-interval-max",
                         dur_arg(10 * e.interval), "--download-concurrency", "16"},
                        "e-one-id", "minimax/music-2.6");
  e.run.sim = stop_sim(sim);
  e.run.bound = lower_bound(e.run.sim.stats, e.submit_rate, e.submit_burst, loopback_bps);
  return e;
}

// ------------------------------------------------------- K: key pools

// Seconds from the first accepted generate request to the last (the
// submission phase), from the simulator's clips.
double submission_phase(const json::object& stats) {
  double first = 1e300, last = 0;
  for (auto& [id, cv] : stats.at("clips").as_object()) {
    double t = cv.as_object().at("created_ms").to_number<double>() / 1000;
    first = std::min(first, t);
    last = std::max(last, t);
  }
  return last > first ? last - first : 0;
}

struct Pool {
  Makespan run;
  int keys = 1;
  std::vector<std::int64_t> accepted_per_key;
  std::uint64_t throttled = 0;
};

// A's album and limits, the limits per key (each key an account that sees
// only its own generations), and a pool of `keys` keys: the bound is the one
// of the keys' combined rate and burst.
Pool run_pool(const fs::path& dir, const std::vector<SongText>& songs, double s, double loopback_bps, int keys) {
  auto args = sim_args_a(s, true);
  args.push_back("--key-scoped");
  Sim sim(dir, args);
  Pool p;
  p.keys = keys;
  p.run.scale = s;
  std::string pool;
  for (int k = 0; k < keys; ++k) pool += fmt::format("{}bench-pool-key-{}", k ? "," : "", k);
  Env env = setlist_env();
  env["AIML_API_KEY"] = "\x01unset";
  env["AIML_API_KEYS"] = pool;
  p.run.m = run_setlist(dir, sim, songs, flags_a(s, songs.size()), fmt::format("k-pool-{}", keys), "chirp-v3-5", env);
  std::string log = sim.log();
  p.run.sim = stop_sim(sim);
  p.run.bound = lower_bound(p.run.sim.stats, keys * 10 * s, keys * 10.0, loopback_bps);
  p.run.late_429 = late_429s(log, p.run.m.usage.wall_seconds / 10);
  for (auto& [fp, k] : p.run.sim.stats.at("keys").as_object()) {
    p.accepted_per_key.push_back(k.at("generate_accepted").to_number<std::int64_t>());
    p.throttled += k.at("rate_limited").to_number<std::uint64_t>();
  }
  return p;
}

// ------------------------------------------------------- B: downloads

struct Downloads {
  Measured curl, setlist, setlist_no_digest;
  std::optional<Measured> compare;  // --compare-download, with its digest
  double digest_cpu = 0;  // the SHA-256 alone over the same bytes, in memory (CPU seconds)
  SimRun sim;
  std::uint64_t bytes = 0;
  double bps() const { return static_cast<double>(bytes) / curl.usage.wall_seconds; }
};

// Best (shortest wall time) of several runs of the same command, each into an empty folder.
Measured best_of(int rounds, const fs::path& target, const std::function<Measured(int)>& once) {
  Measured best;
  for (int i = 0; i < rounds; ++i) {
    fs::remove_all(target);
    fs::create_directories(target);
    auto m = once(i);
    if (i == 0 || m.usage.wall_seconds < best.usage.wall_seconds) best = m;
  }
  return best;
}

Downloads run_downloads(const fs::path& dir, const Config& cfg) {
  // Audio at 16,000 bytes/s: this many seconds make dl_mib MiB.
  double seconds = cfg.dl_mib * 1024 * 1024 / 16000;
  Sim sim(dir, {"--latency", "1ms", "--latency-dist", "fixed", "--duration",
                fmt::format("{:.3f}s..{:.3f}s", seconds, seconds), "--seed", "5"});
  std::vector<std::string> ids;
  HttpOptions o;
  o.headers["Authorization"] = std::string("Bearer ") + kBenchKey;
  for (int i = 0; static_cast<int>(ids.size()) < cfg.dl_files; ++i) {
    json::object p{{"title", "Download " + std::to_string(i)}, {"prompt", "[Verse]\nla"}, {"tags", "pop"},
                   {"make_instrumental", false}};
    o.body = json::serialize(p);
    auto r = http("POST", sim.base_url() + "/generate/custom-mode", o);
    if (r.status != 200) throw std::runtime_error("B: submit answered " + std::to_string(r.status) + r.error);
    const json::value clips = json::parse(r.body);
    for (auto& c : clips.as_array()) ids.emplace_back(c.at("id").as_string());
  }
  ids.resize(static_cast<std::size_t>(cfg.dl_files));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // every clip complete
  auto target = dir / "files";
  std::string curl_cfg, list;
  for (auto& id : ids) {
    std::string url = sim.cdn_url() + "/audio/" + id + ".mp3";
    curl_cfg += "url = \"" + url + "\"\noutput = \"" + (target / (id + ".mp3")).string() + "\"\n";
    list += url + "\t" + (target / (id + ".mp3")).string() + "\n";
  }
  write_file(dir / "curl.cfg", curl_cfg);
  write_file(dir / "list.tsv", list);
  const json::value stats = sim.stats();
  const json::object& clips = stats.at("clips").as_object();
  auto verify = [&](const std::string& who) {
    std::uint64_t bytes = 0;
    for (auto& id : ids) {
      auto f = target / (id + ".mp3");
      if (!fs::exists(f) || sha256_file(f) != clips.at(id).at("sha256").as_string())
        throw std::runtime_error("B: " + who + " did not download " + id + " intact");
      bytes += fs::file_size(f);
    }
    return bytes;
  };
  Downloads d;
  d.curl = best_of(cfg.dl_rounds, target, [&](int i) {
    auto m = measure({on_path("curl"), "-sS", "--fail", "--parallel", "--parallel-max", std::to_string(cfg.dl_parallel),
                      "-K", (dir / "curl.cfg").string()},
                     {}, dir, "curl" + std::to_string(i));
    if (m.exit_code != 0) throw std::runtime_error("B: curl exited " + std::to_string(m.exit_code) + ": " + m.err);
    d.bytes = verify("curl");
    return m;
  });
  auto setlist_run = [&](bool digest, const std::string& program = SETLIST_BENCH_DOWNLOAD) {
    return best_of(cfg.dl_rounds, target, [&](int i) {
      std::vector<std::string> argv = {program, (dir / "list.tsv").string(),
                                       std::to_string(cfg.dl_parallel)};
      if (!digest) argv.push_back("--no-digest");
      auto m = measure(argv, {}, dir, "bench-download" + std::to_string(i));
      if (m.exit_code != 0)
        throw std::runtime_error("B: bench-download exited " + std::to_string(m.exit_code) + ": " + m.err);
      verify("setlist");
      return m;
    });
  };
  d.setlist = setlist_run(true);
  d.setlist_no_digest = setlist_run(false);
  if (!cfg.dl_compare.empty()) d.compare = setlist_run(true, cfg.dl_compare);
  {  // the digest's own cost: the same number of files of the same size, hashed in memory
    auto m = measure({SETLIST_BENCH_DOWNLOAD, "--digest-only", std::to_string(cfg.dl_files), fmt::format("{:g}", cfg.dl_mib)},
                     {}, dir, "digest-only");
    if (m.exit_code != 0) throw std::runtime_error("B: bench-download --digest-only exited " + std::to_string(m.exit_code));
    d.digest_cpu = std::atof(m.out.c_str());
  }
  fs::remove_all(target);
  d.sim = stop_sim(sim);
  return d;
}

// ------------------------------------------------------- C: scale

struct Scale {
  Measured m;
  Measured rerun;   // the same command again: everything is done, nothing to send
  Measured recheck;  // the same with --check-all: every song looked at, the reports written again
  SimRun sim;
  int songs = 0;
};

Scale run_scale(const fs::path& dir, int n) {
  Sim sim(dir, {"--latency", "300ms", "--latency-jitter", "100ms", "--duration", "1s..2s", "--seed", "9"});
  Scale s;
  s.songs = n;
  const std::vector<std::string> flags = {
      "--submit-rate", "1000/s",          "--submit-burst",      "100", "--max-in-flight", "1000",
      "--poll-rate",   "200/s",           "--poll-burst",        "20",  "--poll-interval", "100ms",
      "--poll-interval-max", "1s",        "--download-concurrency", "8"};
  s.m = run_setlist(dir, sim, make_songs(n), flags, "scale");
  // Start-up: the same command again on the finished album (the receipts
  // added since the last check, the state's change count, every file's
  // stat): nothing to do. Then with --check-all: every song looked at and
  // the reports written again, as any changed setting would.
  s.rerun = run_setlist(dir, sim, make_songs(n), flags, "scale");
  auto all = flags;
  all.push_back("--check-all");
  s.recheck = run_setlist(dir, sim, make_songs(n), all, "scale");
  s.sim = stop_sim(sim);
  return s;
}

// ------------------------------------------------------- D: simulator capacity

struct SimCapacity {
  int connections = 0;
  std::uint64_t requests = 0, errors = 0;
  double seconds = 0;
};

// `conns` keep-alive connections each send get-API requests back to back
// from one epoll loop for `seconds`.
SimCapacity run_sim_capacity(const fs::path& dir, int conns, double seconds) {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  Sim sim(dir, {"--latency", "1s"});
  HttpOptions o;
  o.headers["Authorization"] = "Bearer k";
  o.body = R"({"title":"x","prompt":"[Verse]\nla","tags":"pop","make_instrumental":false})";
  auto sub = http("POST", sim.base_url() + "/generate/custom-mode", o);
  const json::value clips = json::parse(sub.body);
  std::string target = "/?ids%5B0%5D=" + std::string(clips.at(0).at("id").as_string()) +
                       "&ids%5B1%5D=" + std::string(clips.at(1).at("id").as_string());
  const std::string req = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer k\r\n\r\n";
  int port = std::stoi(sim.base_url().substr(sim.base_url().rfind(':') + 1));

  int ep = epoll_create1(0);
  struct Conn {
    int fd = -1;
    std::string buf;
  };
  std::vector<Conn> cs(static_cast<std::size_t>(conns));
  for (std::size_t i = 0; i < cs.size(); ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      throw std::runtime_error("D: connection " + std::to_string(i) + " refused");
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    cs[i].fd = fd;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  }
  SimCapacity r;
  r.connections = conns;
  auto t0 = Clock::now();
  auto deadline = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  for (auto& c : cs) ::send(c.fd, req.data(), req.size(), MSG_NOSIGNAL);
  std::vector<epoll_event> evs(1024);
  std::vector<char> tmp(65536);
  while (Clock::now() < deadline) {
    int n = epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), 100);
    for (int k = 0; k < n; ++k) {
      Conn& c = cs[evs[static_cast<std::size_t>(k)].data.u64];
      ssize_t got = ::recv(c.fd, tmp.data(), tmp.size(), 0);
      if (got <= 0) {
        ++r.errors;
        epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
        continue;
      }
      c.buf.append(tmp.data(), static_cast<std::size_t>(got));
      for (;;) {
        auto end = c.buf.find("\r\n\r\n");
        if (end == std::string::npos) break;
        auto cl = c.buf.find("Content-Length: ");
        std::size_t len = std::stoul(c.buf.substr(cl + 16));
        if (c.buf.size() < end + 4 + len) break;
        c.buf.erase(0, end + 4 + len);
        ++r.requests;
        ::send(c.fd, req.data(), req.size(), MSG_NOSIGNAL);
      }
    }
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  for (auto& c : cs) ::close(c.fd);
  ::close(ep);
  return r;
}

// ------------------------------------------------------- the report

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

std::string machine() {
  std::string cpu = "unknown CPU";
  std::ifstream ci("/proc/cpuinfo");
  for (std::string line; std::getline(ci, line);)
    if (line.rfind("model name", 0) == 0) {
      cpu = line.substr(line.find(':') + 2);
      break;
    }
  long mem_kb = 0;
  std::ifstream mi("/proc/meminfo");
  for (std::string line; std::getline(mi, line);)
    if (line.rfind("MemTotal:", 0) == 0) mem_kb = std::atol(line.c_str() + 9);
  utsname u{};
  uname(&u);
  auto curl = run({"/bin/sh", "-c", "curl --version"});
  return fmt::format("{}, {} cores, {:.0f} GiB RAM, Linux {} ({}); compiler {}; {}", cpu,
                     std::thread::hardware_concurrency(), static_cast<double>(mem_kb) / 1024 / 1024, u.release,
                     u.machine, SETLIST_BENCH_COMPILER, first_line(curl.out));
}

std::string pct(double part, double whole) { return whole > 0 ? fmt::format("{:.0f} %", 100 * part / whole) : "-"; }
std::string ok(bool met) { return met ? "met" : "**not met**"; }

struct Report {
  std::string body;
  std::vector<std::string> targets;  // rows of the summary table
  void line(const std::string& s = {}) { body += s + "\n"; }
};

void report_makespan(Report& rep, const std::vector<Makespan>& runs, const std::vector<std::pair<std::string, Peer>>& peers,
                     int songs) {
  rep.line("## A. Makespan of a " + std::to_string(songs) + "-song album");
  rep.line();
  rep.line("Simulated generation time 20 s ± 5 s (normal), submit limit 10/s (burst 10), get limit 20/s (burst 20), "
           "divided (times) or multiplied (rates) by the time scale. The bound: each song's earliest allowed "
           "submission (a full bucket at the start) plus the generation time the simulator drew for it, plus "
           "its audio at loopback speed (B's curl).");
  rep.line();
  rep.line("| time scale | setlist makespan | lower bound | makespan ÷ bound | generate / poll / audio / cover requests per song | 429s (after the first tenth) | Retry-After violations | setlist CPU | setlist peak RSS | simulator CPU |");
  rep.line("|---|---|---|---|---|---|---|---|---|---|");
  for (auto& r : runs) {
    double per = static_cast<double>(songs);
    auto& st = r.sim.stats;
    double ratio = r.m.usage.wall_seconds / r.bound.seconds;
    rep.line(fmt::format("| 1/{:g} | {} | {} | **{:.3f}** | {:.2f} / {:.2f} / {:.2f} / {:.2f} | {} ({}) | {} | {} | {} MiB | {} ({}) |",
                         r.scale, secs(r.m.usage.wall_seconds), secs(r.bound.seconds), ratio,
                         count(st, "POST /generate/custom-mode") / per, count(st, "GET /") / per,
                         count(st, "CDN /audio") / per, count(st, "CDN /image") / per,
                         count(st, "POST /generate/custom-mode", "429") + count(st, "GET /", "429"), r.late_429,
                         st.at("retry_after_violations").to_number<std::uint64_t>(),
                         secs(r.m.usage.cpu_seconds), r.m.usage.max_rss_kb / 1024, secs(r.sim.usage.cpu_seconds),
                         pct(r.sim.usage.cpu_seconds, r.m.usage.wall_seconds)));
    rep.targets.push_back(fmt::format("| A makespan ÷ bound, time scale 1/{:g} | ≤ 1.05 | {:.3f} | {} |", r.scale,
                                      ratio, ok(ratio <= 1.05)));
    rep.targets.push_back(fmt::format("| A 429s after convergence, time scale 1/{:g} | 0 | {} | {} |", r.scale,
                                      r.late_429, ok(r.late_429 == 0)));
  }
  if (peers.empty()) return;
  const Makespan& ref = runs.back();
  rep.line();
  rep.line(fmt::format("Side by side at time scale 1/{:g} (a peer's \"every 5 s\" is {:g} s here):", ref.scale,
                       5 / ref.scale));
  rep.line();
  rep.line("| contender | songs run | wall | wall for all songs | setlist's speed-up | CPU | simulator CPU |");
  rep.line("|---|---|---|---|---|---|---|");
  rep.line(fmt::format("| setlist | {} | {} | {} | 1 | {} | {} |", songs, secs(ref.m.usage.wall_seconds),
                       secs(ref.m.usage.wall_seconds), secs(ref.m.usage.cpu_seconds), secs(ref.sim.usage.cpu_seconds)));
  for (auto& [name, p] : peers) {
    double all = p.m.usage.wall_seconds * songs / p.songs;
    rep.line(fmt::format("| {} | {} | {} | {}{} | **{:.1f}×** | {} | {} |", name, p.songs, secs(p.m.usage.wall_seconds),
                         secs(all), p.songs == songs ? "" : " (extrapolated)", all / ref.m.usage.wall_seconds,
                         secs(p.m.usage.cpu_seconds), secs(p.sim.usage.cpu_seconds)));
  }
}

void report_one_id(Report& rep, const OneId& e) {
  auto& r = e.run;
  double per = static_cast<double>(e.songs);
  auto& st = r.sim.stats;
  double ratio = r.m.usage.wall_seconds / r.bound.seconds;
  double polls = static_cast<double>(count(st, "GET /v2/generate/audio")) / per;
  // The generation times the simulator drew, and how long after each
  // generation settled a status answer first told setlist so.
  double gen_sum = 0, late_sum = 0, late_max = 0;
  std::size_t n = 0, seen = 0;
  std::vector<double> lates;
  for (auto& [id, cv] : st.at("clips").as_object()) {
    auto& c = cv.as_object();
    gen_sum += c.at("latency_ms").to_number<double>() / 1000;
    ++n;
    if (c.contains("seen_ms") && c.contains("settled_ms")) {
      double late = (c.at("seen_ms").to_number<double>() - c.at("settled_ms").to_number<double>()) / 1000;
      lates.push_back(late);
      late_sum += late;
      late_max = std::max(late_max, late);
      ++seen;
    }
  }
  double gen_mean = n ? gen_sum / static_cast<double>(n) : 0;
  double late_mean = seen ? late_sum / static_cast<double>(seen) : 1e9;
  std::sort(lates.begin(), lates.end());
  double late_p95 = lates.empty() ? 0 : lates[static_cast<std::size_t>(0.95 * static_cast<double>(lates.size() - 1))];
  double fixed = gen_mean / e.interval;  // what polling every interval from the submission costs
  rep.line(fmt::format("## E. One id per poll: {} songs in flight through AIML's music models (minimax/music-2.6)",
                       e.songs));
  rep.line();
  rep.line(fmt::format("Time scale 1/{:g}: generation 20 s ± 5 s, submit limit {:g}/s (burst {:g}), get limit {:g}/s; one clip "
                       "per request, one generation id per GET; setlist's poll interval {:g} s (up to {:g} s). Each "
                       "song's first poll comes near the time this run's generations of its model have taken, then "
                       "one every interval through their usual span, in line under the get limit. *Late*: how "
                       "long after a generation settled the first status answer that showed it (the simulator's "
                       "clock).",
                       e.scale, e.submit_rate, e.submit_burst, e.get_rate, e.interval, 10 * e.interval));
  rep.line();
  rep.line("| makespan | lower bound | makespan ÷ bound | polls per song | generation ÷ interval | late, mean | late, p95 | late, max | setlist CPU |");
  rep.line("|---|---|---|---|---|---|---|---|---|");
  rep.line(fmt::format("| {} | {} | **{:.3f}** | {:.2f} | {:.1f} | **{:.2f} s** | {:.2f} s | {:.2f} s | {} |",
                       secs(r.m.usage.wall_seconds), secs(r.bound.seconds), ratio, polls, fixed, late_mean, late_p95,
                       late_max, secs(r.m.usage.cpu_seconds)));
  rep.targets.push_back(fmt::format("| E one-id makespan ÷ bound, {} songs in flight | ≤ 1.10 | {:.3f} | {} |", e.songs,
                                    ratio, ok(ratio <= 1.10)));
  rep.targets.push_back(fmt::format("| E polls per song ÷ (generation time ÷ interval) | ≤ 1.5 | {:.2f} | {} |",
                                    polls / fixed, ok(polls <= 1.5 * fixed)));
  rep.targets.push_back(fmt::format("| E mean wait past completion ÷ interval | ≤ 1 | {:.2f} | {} |",
                                    late_mean / e.interval, ok(late_mean <= e.interval)));
}

void report_pools(Report& rep, const std::vector<Pool>& pools, int songs) {
  rep.line(fmt::format("## K. Key pools: the {}-song album of A with one key and with {}", songs, pools.back().keys));
  rep.line();
  rep.line(fmt::format("A's simulator at time scale 1/{:g}, its limits per key (`--key-scoped`: each key is an "
                       "account that sees only its own generations); setlist's flags as in A, per key. The bound is "
                       "A's bound for the keys' combined rate and burst (K × 10/s, K × 10).",
                       pools.front().run.scale));
  rep.line();
  rep.line("| keys | makespan | lower bound (K keys) | makespan ÷ bound | submission phase | accepted per key | 429s (after the first tenth) | setlist CPU |");
  rep.line("|---|---|---|---|---|---|---|---|");
  for (auto& p : pools) {
    double ratio = p.run.m.usage.wall_seconds / p.run.bound.seconds;
    std::string per;
    for (auto n : p.accepted_per_key) per += (per.empty() ? "" : " / ") + std::to_string(n);
    rep.line(fmt::format("| {} | {} | {} | **{:.3f}** | {} | {} | {} ({}) | {} |", p.keys,
                         secs(p.run.m.usage.wall_seconds), secs(p.run.bound.seconds), ratio,
                         secs(submission_phase(p.run.sim.stats)), per, p.throttled, p.run.late_429,
                         secs(p.run.m.usage.cpu_seconds)));
    rep.targets.push_back(fmt::format("| K {}-key makespan ÷ {}-key bound, time scale 1/{:g} | ≤ 1.10 | {:.3f} | {} |",
                                      p.keys, p.keys, p.run.scale, ratio, ok(ratio <= 1.10)));
  }
  if (pools.size() == 2) {
    double one = submission_phase(pools[0].run.sim.stats), many = submission_phase(pools[1].run.sim.stats);
    rep.line();
    rep.line(fmt::format("Submission phase with {} keys ÷ with one: {:.3f} (1/{} = {:.3f}).", pools[1].keys,
                         one > 0 ? many / one : 0.0, pools[1].keys, 1.0 / pools[1].keys));
  }
}

void report_downloads(Report& rep, const Downloads& d, const Config& cfg) {
  double ratio = d.setlist.usage.wall_seconds / d.curl.usage.wall_seconds;
  rep.line(fmt::format("## B. Downloads: {} files of {:g} MiB from the simulator's CDN, {} at a time", cfg.dl_files,
                       cfg.dl_mib, cfg.dl_parallel));
  rep.line();
  rep.line(fmt::format("Best of {} rounds each; every file checked against the simulator's SHA-256.", cfg.dl_rounds));
  rep.line();
  rep.line("| contender | wall | throughput | CPU | peak RSS |");
  rep.line("|---|---|---|---|---|");
  auto row = [&](const std::string& name, const Measured& m) {
    rep.line(fmt::format("| {} | {} | {:.0f} MiB/s | {} | {} MiB |", name, secs(m.usage.wall_seconds),
                         static_cast<double>(d.bytes) / m.usage.wall_seconds / 1024 / 1024, secs(m.usage.cpu_seconds),
                         m.usage.max_rss_kb / 1024));
  };
  row(fmt::format("curl --parallel --parallel-max {}", cfg.dl_parallel), d.curl);
  row("setlist's downloader (bench-download), SHA-256 of every file computed as it arrives, as the engine keeps", d.setlist);
  row("the same without the SHA-256 (`--no-digest`)", d.setlist_no_digest);
  if (d.compare) row("for comparison: " + fs::path(cfg.dl_compare).filename().string() + " (`--compare-download`), with its digest", *d.compare);
  rep.line();
  const double mib = static_cast<double>(d.bytes) / 1024 / 1024;
  rep.line(fmt::format("setlist ÷ curl: wall **{:.2f}** ({:.2f} without the digest), CPU {:.2f} ({:.2f}). "
                       "Simulator CPU over all {} rounds: {}.",
                       ratio, d.setlist_no_digest.usage.wall_seconds / d.curl.usage.wall_seconds,
                       d.setlist.usage.cpu_seconds / d.curl.usage.cpu_seconds,
                       d.setlist_no_digest.usage.cpu_seconds / d.curl.usage.cpu_seconds, 3 * cfg.dl_rounds,
                       secs(d.sim.usage.cpu_seconds)));
  rep.line();
  rep.line(fmt::format("The SHA-256 alone (OpenSSL EVP, in 64 KiB updates) over {} × {:g} MiB in memory: {} of CPU "
                       "({:.0f} MiB/s). setlist's CPU with the digest {} against curl's + the digest's {}: {}.",
                       cfg.dl_files, cfg.dl_mib, secs(d.digest_cpu), d.digest_cpu > 0 ? mib / d.digest_cpu : 0.0,
                       secs(d.setlist.usage.cpu_seconds), secs(d.curl.usage.cpu_seconds + d.digest_cpu),
                       d.setlist.usage.cpu_seconds <= d.curl.usage.cpu_seconds + d.digest_cpu ? "within" : "over"));
  if (ratio > 1.1)
    rep.line(fmt::format(
        "\nThe gap: the SHA-256 of every file, which setlist records and curl does not compute, costs {} of CPU "
        "here (on the client's digest thread, which gains wall time only when a core is free: the simulator takes "
        "one of this machine's two); without it the ratio is {:.2f}.",
        secs(d.setlist.usage.cpu_seconds - d.setlist_no_digest.usage.cpu_seconds),
        d.setlist_no_digest.usage.wall_seconds / d.curl.usage.wall_seconds));
  rep.targets.push_back(fmt::format("| B download wall, setlist ÷ curl | ≤ 1.1 | {:.2f} | {} |", ratio, ok(ratio <= 1.1)));
  const double cpu_bound = d.curl.usage.cpu_seconds + d.digest_cpu;
  rep.targets.push_back(fmt::format("| B download CPU ≤ curl's + the digest's | ≤ {} | {} | {} |", secs(cpu_bound),
                                    secs(d.setlist.usage.cpu_seconds), ok(d.setlist.usage.cpu_seconds <= cpu_bound)));
}

void report_scale(Report& rep, const Scale& s) {
  double per = s.songs;
  double rss_mib = static_cast<double>(s.m.usage.max_rss_kb) / 1024;
  rep.line(fmt::format("## C. Scale: {} songs", s.songs));
  rep.line();
  rep.line("Generation 300 ms ± 100 ms, audio 1–2 s; submit 1000/s, 1000 in flight, polls 200/s.");
  rep.line();
  rep.line("| wall | peak RSS | CPU per song | poll requests per song | generate requests per song | simulator CPU |");
  rep.line("|---|---|---|---|---|---|");
  rep.line(fmt::format("| {} | **{:.1f} MiB** | {:.2f} ms | {:.3f} | {:.2f} | {} ({}) |", secs(s.m.usage.wall_seconds),
                       rss_mib, 1000 * s.m.usage.cpu_seconds / per, count(s.sim.stats, "GET /") / per,
                       count(s.sim.stats, "POST /generate/custom-mode") / per, secs(s.sim.usage.cpu_seconds),
                       pct(s.sim.usage.cpu_seconds, s.m.usage.wall_seconds)));
  // #20's targets: the whole run of 10,000 songs in ≤ 32 MiB, ≤ 2 ms of CPU a song.
  rep.targets.push_back(fmt::format("| C peak RSS at {} songs | ≤ 32 MiB | {:.1f} MiB | {} |", s.songs, rss_mib,
                                    ok(rss_mib <= 32)));
  const double cpu_ms = 1000 * s.m.usage.cpu_seconds / per;
  rep.targets.push_back(fmt::format("| C CPU per song at {} songs | ≤ 2 ms | {:.2f} ms | {} |", s.songs, cpu_ms,
                                    ok(cpu_ms <= 2)));
  rep.line();
  rep.line(fmt::format("The finished album run again (the same command: nothing to do): wall {}, CPU {}, peak RSS "
                       "{:.1f} MiB. With --check-all (every song looked at, the reports written again): wall {}, "
                       "CPU {}, peak RSS {:.1f} MiB.",
                       secs(s.rerun.usage.wall_seconds), secs(s.rerun.usage.cpu_seconds),
                       static_cast<double>(s.rerun.usage.max_rss_kb) / 1024, secs(s.recheck.usage.wall_seconds),
                       secs(s.recheck.usage.cpu_seconds), static_cast<double>(s.recheck.usage.max_rss_kb) / 1024));
  rep.targets.push_back(fmt::format("| C no-op rerun of {} finished songs | ≤ 1 s | {} | {} |", s.songs,
                                    secs(s.rerun.usage.wall_seconds), ok(s.rerun.usage.wall_seconds <= 1)));
}

void report_sim(Report& rep, const SimCapacity& c) {
  double rps = static_cast<double>(c.requests) / c.seconds;
  rep.line("## D. The simulator's own capacity");
  rep.line();
  rep.line(fmt::format("{} keep-alive connections sending get requests back to back for {:.1f} s: **{:.0f} requests/s** "
                       "({} errors), one thread. A's heaviest load is the get limit at time scale 1/10, 200/s.",
                       c.connections, c.seconds, rps, c.errors));
}

Config parse_args(int argc, char** argv) {
  Config c;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--quick") {  // the smoke test: every section, small
      c.songs = 12, c.seq_songs = 3, c.real_time = false, c.dl_files = 8, c.dl_mib = 1, c.dl_rounds = 1;
      c.scale_songs = 200, c.sim_conns = 50, c.sim_seconds = 0.5, c.scale = 20, c.key_scale = 20;
      c.one_id_songs = 40, c.quick = true;
    } else if (a == "--only") c.only = next();
    else if (a == "--songs") c.songs = std::stoi(next());
    else if (a == "--keys") c.keys = std::stoi(next());
    else if (a == "--key-scale") c.key_scale = std::stod(next());
    else if (a == "--seq-songs") c.seq_songs = std::stoi(next());
    else if (a == "--scale") c.scale = std::stod(next());
    else if (a == "--no-real-time") c.real_time = false;
    else if (a == "--no-peers") c.peers = false;
    else if (a == "--scale-songs") c.scale_songs = std::stoi(next());
    else if (a == "--results") c.results = next();
    else if (a == "--compare-download") c.dl_compare = next();
    else throw std::runtime_error("unknown argument " + a + " (see bench/README.md)");
  }
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    Config cfg = parse_args(argc, argv);
    auto has = [&](char s) { return cfg.only.find(s) != std::string::npos; };
    TempDir dir;
    Report rep;
    auto t0 = Clock::now();
    auto note = [&](const std::string& s) {
      std::fprintf(stderr, "[%5.0f s] %s\n", std::chrono::duration<double>(Clock::now() - t0).count(), s.c_str());
    };
    double loopback_bps = 1e9;  // replaced by B's curl throughput when B runs
    std::optional<Downloads> dl;
    if (has('B')) {
      note("B: downloads");
      dl = run_downloads(dir.path(), cfg);
      loopback_bps = dl->bps();
    }
    std::vector<Makespan> spans;
    std::vector<std::pair<std::string, Peer>> peers;
    if (has('A')) {
      auto songs = make_songs(cfg.songs);
      if (cfg.real_time) {
        note("A: setlist at real time");
        spans.push_back(run_makespan(dir.path(), songs, 1, loopback_bps, "a-real"));
      }
      note(fmt::format("A: setlist at time scale 1/{:g}", cfg.scale));
      spans.push_back(run_makespan(dir.path(), songs, cfg.scale, loopback_bps, "a-scaled"));
      auto sim_args = sim_args_a(cfg.scale, false);
      if (cfg.peers) {
      note("A: xargs -P 8 peer");
      peers.emplace_back("`xargs -P 8` curl script, polling every 5 s",
                         run_peer(dir.path(), sim_args, songs, cfg.songs, 8, false, 5 / cfg.scale, "peer-xargs"));
      note("A: one-at-a-time peer");
      peers.emplace_back("the seed's way: one at a time, `wait_audio: true`, curl loop",
                         run_peer(dir.path(), sim_args, songs, std::min(cfg.seq_songs, cfg.songs), 1, true,
                                  5 / cfg.scale, "peer-seq"));
      }
    }
    std::optional<OneId> one_id;
    if (has('E')) {
      note(fmt::format("E: one id per poll, {} songs in flight", cfg.one_id_songs));
      one_id = run_one_id(dir.path(), cfg.one_id_songs, cfg.quick ? 20 : 1, loopback_bps);
    }
    std::vector<Pool> pools;
    if (has('K')) {
      auto songs = make_songs(cfg.songs);
      note(fmt::format("K: one key, time scale 1/{:g}", cfg.key_scale));
      pools.push_back(run_pool(dir.path(), songs, cfg.key_scale, loopback_bps, 1));
      note(fmt::format("K: {} keys, time scale 1/{:g}", cfg.keys, cfg.key_scale));
      pools.push_back(run_pool(dir.path(), songs, cfg.key_scale, loopback_bps, cfg.keys));
    }
    std::optional<Scale> scale;
    if (has('C')) {
      note(fmt::format("C: {} songs", cfg.scale_songs));
      scale = run_scale(dir.path(), cfg.scale_songs);
    }
    std::optional<SimCapacity> cap;
    if (has('D')) {
      note("D: simulator capacity");
      cap = run_sim_capacity(dir.path(), cfg.sim_conns, cfg.sim_seconds);
    }
    note("done");

    if (!spans.empty()) report_makespan(rep, spans, peers, cfg.songs), rep.line();
    if (one_id) report_one_id(rep, *one_id), rep.line();
    if (!pools.empty()) report_pools(rep, pools, cfg.songs), rep.line();
    if (dl) report_downloads(rep, *dl, cfg), rep.line();
    if (scale) report_scale(rep, *scale), rep.line();
    if (cap) report_sim(rep, *cap), rep.line();

    std::string doc = "# setlist benchmarks\n\n";
    doc += "Machine: " + machine() + ".\n\n";
    doc += fmt::format("`scripts/bench.sh` took {:.0f} s for the measurements below.\n\n",
                       std::chrono::duration<double>(Clock::now() - t0).count());
    doc += "| target | goal | measured | |\n|---|---|---|---|\n";
    for (auto& t : rep.targets) doc += t + "\n";
    doc += "\n" + rep.body;
    std::fputs(doc.c_str(), stdout);
    if (!cfg.results.empty()) write_file(cfg.results, doc);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "setlist-bench: %s\n", e.what());
    return 1;
  }
}
