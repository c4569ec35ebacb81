// Test support: temporary directories, child processes, the simulator as a
// child process, and a small blocking HTTP(S) client for observing servers.
#pragma once

#include <boost/json/value.hpp>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace setlist::test {

namespace fs = std::filesystem;

// A fresh directory under $TMPDIR, removed at the end unless SETLIST_KEEP_TMP is set.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& rel) const { return path_ / rel; }

 private:
  fs::path path_;
};

using Env = std::map<std::string, std::string>;

struct RunResult {
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;
  long max_rss_kb = 0;  // peak resident memory of the process
  std::string out;
  std::string err;
};

// A child process with stdout/stderr sent to files.
class Process {
 public:
  // `env` is added to (and overrides) the current environment; a value of
  // "\x01unset" removes the variable.
  Process(const std::vector<std::string>& argv, const Env& env, const fs::path& out_file,
          const fs::path& err_file, const fs::path& cwd = {});
  ~Process();  // kills with SIGKILL if still running
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  int pid() const { return pid_; }
  void signal(int sig);
  // Waits for exit; returns false on timeout (the process keeps running).
  bool wait(std::chrono::milliseconds timeout = std::chrono::minutes(5));
  bool running();
  int exit_code() const { return exit_code_; }
  int term_signal() const { return term_signal_; }
  std::string out() const;
  std::string err() const;

  // Once it has exited: what it (and the children it waited for) used.
  struct Usage {
    double wall_seconds = 0;  // from start to the moment its exit was seen
    double cpu_seconds = 0;   // user + system
    long max_rss_kb = 0;      // peak resident set of the largest process
  };
  const Usage& usage() const { return usage_; }

 private:
  int pid_ = -1;
  bool done_ = false;
  int exit_code_ = -1;
  int term_signal_ = 0;
  fs::path out_file_, err_file_;
  std::chrono::steady_clock::time_point started_;
  Usage usage_;
};

// Runs to completion (or kills at timeout) and captures the output.
RunResult run(const std::vector<std::string>& argv, const Env& env = {},
              std::chrono::milliseconds timeout = std::chrono::minutes(5),
              const fs::path& cwd = {});

// setlist-sim as a child process on 127.0.0.1, ports chosen by the kernel.
class Sim {
 public:
  // Extra arguments follow `--port 0 --cdn-port 0`.
  Sim(const fs::path& dir, const std::vector<std::string>& args = {}, const Env& env = {});
  ~Sim();
  const std::string& base_url() const { return base_url_; }  // http(s)://127.0.0.1:PORT
  const std::string& cdn_url() const { return cdn_url_; }
  boost::json::value stats(const std::string& cacert = {}) const;  // GET /__sim/stats
  Process& process() { return *proc_; }
  void stop();  // SIGTERM and wait
  std::string log() const { return proc_->out() + proc_->err(); }

 private:
  std::unique_ptr<Process> proc_;
  std::string base_url_, cdn_url_;
};

struct HttpResult {
  int status = 0;                              // 0: no answer (see error)
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string error;
};

struct HttpOptions {
  std::map<std::string, std::string> headers;
  std::string body;
  std::chrono::milliseconds timeout{10000};
  std::string cacert;        // PEM file to trust for https
  std::string sni;           // host name to verify (default: the URL's host)
};

HttpResult http(const std::string& method, const std::string& url, const HttpOptions& opt = {});
inline HttpResult http_get(const std::string& url, const HttpOptions& opt = {}) {
  return http("GET", url, opt);
}

// A minimal HTTP CONNECT proxy on 127.0.0.1 (port chosen by the kernel),
// recording the tunnels it opened and every request head it received.
class ConnectProxy {
 public:
  ConnectProxy();
  ~ConnectProxy();
  std::string url() const;  // http://127.0.0.1:PORT
  std::vector<std::string> targets() const;  // "host:port" of each tunnel
  std::string heads() const;  // every request head received, concatenated

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

std::string sha256_hex(const std::string& data);
std::string sha256_file(const fs::path& file);
std::string read_file(const fs::path& file);
void write_file(const fs::path& file, const std::string& text);
boost::json::value read_json(const fs::path& file);

// Path of the built binaries and of the source tree.
inline fs::path setlist_bin() { return SETLIST_BIN; }
inline fs::path sim_bin() { return SETLIST_SIM_BIN; }
inline fs::path source_dir() { return SETLIST_SOURCE_DIR; }

}  // namespace setlist::test
