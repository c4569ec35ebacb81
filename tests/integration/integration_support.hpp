// Helpers for integration tests: manifests written to a temp dir and the
// real `setlist` binary run against a real `setlist-sim`.
#pragma once

#include <boost/json.hpp>

#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace setlist::test {

// A manifest with `n` lyric songs (titles "Song 1".."Song n").
inline std::string album_yaml(int n, const std::string& extra_settings = {}) {
  std::string y = "album:\n  title: Test Album\n  artist: Test Artist\n";
  y += "defaults:\n  tags: [indie pop, dreamy]\n  model: chirp-v3-5\n";
  if (!extra_settings.empty()) y += "settings:\n" + extra_settings;
  y += "songs:\n";
  for (int i = 1; i <= n; ++i) {
    y += "  - title: Song " + std::to_string(i) + "\n";
    y += "    lyrics: |\n      [Verse]\n      Line one of song " + std::to_string(i) +
         "\n      [Chorus]\n      We sing the chorus " + std::to_string(i) + "\n";
  }
  return y;
}

inline const char* kTestKey = "sk-test-3c1f9e7a-never-leak-me";

// Runs `setlist ARGS` with the test key in the environment.
inline RunResult run_setlist(const std::vector<std::string>& args, Env env = {},
                             std::chrono::milliseconds timeout = std::chrono::minutes(3)) {
  std::vector<std::string> argv = {setlist_bin().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  if (!env.count("AIML_API_KEY")) env["AIML_API_KEY"] = kTestKey;
  // Under GitHub Actions every run would append to the job summary: only tests that ask for it.
  if (!env.count("GITHUB_STEP_SUMMARY")) env["GITHUB_STEP_SUMMARY"] = "\x01unset";
  return run(argv, env, timeout);
}

// Fast simulator settings for tests.
inline std::vector<std::string> fast_sim_args(std::vector<std::string> extra = {}) {
  std::vector<std::string> a = {"--latency", "400ms", "--latency-jitter", "100ms", "--duration", "2s..4s",
                                "--seed", "11"};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

// Certificates made by scripts/gen-test-certs.sh into DIR/certs (ca.pem, server.pem, ...).
inline fs::path make_certs(const TempDir& dir) {
  auto certs = dir / "certs";
  auto r = run({(source_dir() / "scripts" / "gen-test-certs.sh").string(), certs.string()});
  if (r.exit_code != 0) throw std::runtime_error("gen-test-certs.sh failed: " + r.err);
  return certs;
}

// Fast simulator settings serving https with certificate NAME (.pem/.key) of `certs`.
inline std::vector<std::string> tls_args(const fs::path& certs, const std::string& name,
                                         std::vector<std::string> extra = {}) {
  auto a = fast_sim_args({"--tls-cert", (certs / (name + ".pem")).string(), "--tls-key",
                          (certs / (name + ".key")).string()});
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

// Fast client settings for tests.
inline std::vector<std::string> fast_run_args(const Sim& sim, const fs::path& manifest, const fs::path& out,
                                              std::vector<std::string> extra = {}) {
  std::vector<std::string> a = {"run",           manifest.string(), "-o",  out.string(), "--base-url",
                                sim.base_url(),  "--poll-interval", "100ms", "--poll-interval-max", "400ms",
                                "--retry-base",  "50ms",            "--retry-cap", "500ms"};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

// Sets `flag`'s value in an argument list, replacing the one already there.
inline std::vector<std::string> with_arg(std::vector<std::string> a, const std::string& flag, const std::string& value) {
  for (std::size_t i = 0; i + 1 < a.size(); ++i)
    if (a[i] == flag) {
      a[i + 1] = value;
      return a;
    }
  a.push_back(flag);
  a.push_back(value);
  return a;
}

// report.json's songs, and each song's status by title.
inline boost::json::array report_songs(const fs::path& out) {
  return read_json(out / "report.json").as_object().at("songs").as_array();
}
inline std::map<std::string, std::string> statuses(const fs::path& out) {
  std::map<std::string, std::string> m;
  for (auto& s : report_songs(out))
    m[std::string(s.at("title").as_string())] = std::string(s.at("status").as_string());
  return m;
}

// Sim payload hash -> song title, from the simulator's clip table.
inline std::map<std::string, std::string> payload_titles(const boost::json::object& stats) {
  std::map<std::string, std::string> m;
  for (auto& [id, c] : stats.at("clips").as_object())
    m[std::string(c.at("payload").as_string())] = std::string(c.at("title").as_string());
  return m;
}

// `setlist ARGS` as a child process (stdout/stderr in DIR/TAG.out, .err), with the test key.
inline std::unique_ptr<Process> start_setlist(const TempDir& dir, const std::vector<std::string>& args,
                                              const std::string& tag, Env env = {}) {
  std::vector<std::string> argv = {setlist_bin().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  if (!env.count("AIML_API_KEY")) env["AIML_API_KEY"] = kTestKey;
  if (!env.count("GITHUB_STEP_SUMMARY")) env["GITHUB_STEP_SUMMARY"] = "\x01unset";
  return std::make_unique<Process>(argv, env, dir / (tag + ".out"), dir / (tag + ".err"));
}

}  // namespace setlist::test
