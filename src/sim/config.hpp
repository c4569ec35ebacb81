// setlist-sim configuration: every setting, from flags or a YAML scenario.
// No Asio or Beast here.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace sim {

using Micros = std::chrono::microseconds;

// What an AIML music model costs per request unless --model-cost says otherwise
// (the only figure published: the schema example's credits_used).
inline constexpr std::int64_t kDefaultMusicCost = 120000;

// Where a fault rule looks: it counts the requests (or clips) of its scope
// and fires on the n-th of them or with a probability.
// `tasks` counts accepted generate requests (one task each, whatever the
// number of clips it makes).
enum class Scope { api, generate, get, cdn, audio, image, clips, tasks };

enum class FaultKind {
  http500,
  http502,
  http503,
  reset,      // close the connection (RST) before any response
  delay,      // hold the response for `param` before answering
  trickle,    // send the body in small pieces, `param` apart
  truncate,   // Content-Length promises the whole body, half of it is sent
  redirect,   // 302 `count` times before the bytes
  redirect_to,  // 302 to `location`, whatever it is (another scheme, another host)
  cdn403,     // 403 instead of the bytes
  html,       // 200 text/html page instead of the bytes
  clip_error, // clip ends in error, audio_url "None.mp3", error_message
  stuck,      // clip never leaves queued (or streaming with stuck=streaming)
  audio_url,  // the complete clip's audio_url is `location`, whatever it is
  huge_json,    // the JSON answer padded with spaces to `size` bytes
  huge_length,  // Content-Length announces `size` bytes; the real body follows, then close
  no_length,    // no Content-Length: the body ends when the connection closes
  maintenance,  // the flavor's maintenance answer (sunoapi: code 455; others: 503)
  moderation,   // task: every clip ends in error as moderated (sunoapi: SENSITIVE_WORD_ERROR)
  task_fail,    // task: ends in `status` (sunoapi status name) with `message`
  dup_clips,    // task: the answer names the previous task's clips instead of new ones
  short_length, // Content-Length announces half the body; the whole body follows, then close
};

struct FaultRule {
  std::string text;  // as written, for stats and logs
  FaultKind kind{};
  Scope scope{};
  double probability = 0;          // 0..1
  std::vector<std::uint64_t> nth;  // 1-based indices within the scope
  Micros param{0};                 // delay / trickle interval / Retry-After of a 5xx
  int count = 1;                   // redirect hops
  std::string message;             // clip_error / moderation / task_fail message
  std::string status;              // task_fail: CREATE_TASK_FAILED, GENERATE_AUDIO_FAILED, CALLBACK_EXCEPTION, ...
  std::string location;            // redirect_to target, audio_url value
  std::uint64_t size = 0;          // huge_json / huge_length bytes
  bool stuck_streaming = false;
};

enum class RetryAfter { seconds, date, none };
enum class LatencyDist { normal, uniform, fixed, exponential };

struct Config {
  std::string host = "127.0.0.1";
  std::string cdn_host;  // host name in CDN URLs; empty: --host (0.0.0.0 -> 127.0.0.1)
  int port = 8080;
  int cdn_port = 0;
  std::string flavor = "aimlapi";
  std::uint64_t seed = 1;

  Micros latency = std::chrono::seconds(20);  // mean submit -> complete
  Micros latency_jitter = std::chrono::seconds(5);
  LatencyDist latency_dist = LatencyDist::normal;
  double duration_min = 20, duration_max = 40;  // seconds of audio per clip
  // Real audio: a tone per clip at a known loudness, encoded (MP3 or WAV);
  // otherwise silent MP3 frames / quiet-noise WAV made on the fly.
  bool real_audio = false;
  // With real_audio: the profile of the n-th clip made (normal, quiet, loud,
  // silent, clipped); clips past the list are normal.
  std::vector<std::string> loudness_profile;
  Micros wait_max = std::chrono::seconds(100);

  std::vector<std::string> accept_keys;  // empty: any non-empty key

  std::int64_t cost = 200000;
  std::int64_t balance = -1;  // per key; -1 unlimited
  // Per-model charge (AIML music models, sunoapi models); models not listed
  // cost `cost`, except AIML music models: kDefaultMusicCost.
  std::map<std::string, std::int64_t> model_cost;

  bool deprecated_chirp = false;    // legacy chirp-* routes answer 404 "deprecated"
  bool body_codes_http200 = false;  // sunoapi: every answer is HTTP 200, the code only in the body
  int rate_limit_code = 430;        // sunoapi: body code of a rate-limited answer (430 or 405)
  Micros file_ttl = std::chrono::hours(24 * 14);  // CDN files of a clip vanish this long after it completed; 0: never
  std::vector<std::string> sensitive_words;  // texts containing one are moderated (case-insensitive)

  double generate_rate = 0, generate_burst = 0;  // tokens/s; 0 = unlimited
  double get_rate = 0, get_burst = 0;
  RetryAfter retry_after = RetryAfter::seconds;
  // Requests arriving this soon after a 429 were in flight before the client
  // could see it: not counted as Retry-After violations.
  Micros retry_after_grace = std::chrono::milliseconds(100);
  int hourly_limit = 0;                          // accepted generates per key per window; 0 = off
  // Each key is an account of its own: a GET names only what that key made
  // (another key's ids answer "not found", as on the real services).
  bool key_scoped = false;
  Micros hourly_window = std::chrono::hours(1);  // the "hour" (shorter in tests)

  std::vector<FaultRule> faults;

  std::string tls_cert, tls_key;
  bool log = false;
  std::string stats_file;
  Micros idle_timeout = std::chrono::seconds(120);
};

// Parses "250ms", "2s", "1.5s", "100us", "1m", "14d"; a bare number means milliseconds.
Micros parse_duration(const std::string& text);
// Parses "16MiB", "512KiB", "1GiB", "100B" or a bare number of bytes.
std::uint64_t parse_size(const std::string& text);
// Parses "KIND[=PARAM][/SCOPE]@WHEN"; see docs/simulator.md.
FaultRule parse_fault(const std::string& text);

// Parses the command line (with --scenario applied first); throws
// std::runtime_error with a message on a bad setting. Returns nullopt when
// the program should exit 0 at once (--help), after printing.
std::optional<Config> parse_command_line(int argc, char** argv);

}  // namespace sim
