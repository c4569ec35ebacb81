#include "sim/config.hpp"
#include "sim/tone.hpp"

#include <CLI/CLI.hpp>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <stdexcept>

namespace sim {

namespace {

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

double parse_number(const std::string& text, const std::string& what) {
  try {
    std::size_t used = 0;
    double v = std::stod(text, &used);
    if (used != text.size() || !std::isfinite(v)) throw std::invalid_argument(text);
    return v;
  } catch (const std::exception&) {
    throw std::runtime_error("bad " + what + ": '" + text + "'");
  }
}

Scope parse_scope(const std::string& s) {
  if (s == "api") return Scope::api;
  if (s == "generate") return Scope::generate;
  if (s == "get") return Scope::get;
  if (s == "cdn") return Scope::cdn;
  if (s == "audio") return Scope::audio;
  if (s == "image") return Scope::image;
  if (s == "clips") return Scope::clips;
  if (s == "tasks") return Scope::tasks;
  throw std::runtime_error("unknown fault scope '" + s + "'");
}

}  // namespace

Micros parse_duration(const std::string& raw) {
  std::string text = trim(raw);
  std::size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
  if (i == 0) throw std::runtime_error("bad duration: '" + raw + "'");
  double v = parse_number(text.substr(0, i), "duration");
  std::string unit = trim(text.substr(i));
  double us = 0;
  if (unit.empty() || unit == "ms") us = v * 1e3;
  else if (unit == "us") us = v;
  else if (unit == "s") us = v * 1e6;
  else if (unit == "m" || unit == "min") us = v * 60e6;
  else if (unit == "h") us = v * 3600e6;
  else if (unit == "d") us = v * 86400e6;
  else throw std::runtime_error("bad duration unit in '" + raw + "'");
  return Micros(static_cast<std::int64_t>(std::llround(us)));
}

std::uint64_t parse_size(const std::string& raw) {
  std::string text = trim(raw);
  std::size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  std::string unit = trim(text.substr(i));
  std::uint64_t factor = unit.empty() || unit == "B" ? 1
                         : unit == "KiB"             ? 1ull << 10
                         : unit == "MiB"             ? 1ull << 20
                         : unit == "GiB"             ? 1ull << 30
                                                     : 0;
  if (i == 0 || i > 12 || factor == 0) throw std::runtime_error("bad size '" + raw + "' (e.g. 16MiB, 512KiB, 100)");
  return std::stoull(text.substr(0, i)) * factor;
}

FaultRule parse_fault(const std::string& raw) {
  FaultRule r;
  r.text = trim(raw);
  auto at = r.text.rfind('@');
  if (at == std::string::npos) throw std::runtime_error("fault '" + raw + "' needs @WHEN (probability or nN)");
  std::string head = r.text.substr(0, at);
  std::string when = r.text.substr(at + 1);
  std::string scope;
  auto slash = head.rfind('/');
  auto eq = head.find('=');
  if (slash != std::string::npos && (eq == std::string::npos || slash > eq)) {
    std::string s = head.substr(slash + 1);
    static const char* scopes[] = {"api", "generate", "get", "cdn", "audio", "image", "clips", "tasks"};
    bool known = std::find(std::begin(scopes), std::end(scopes), s) != std::end(scopes);
    if (known || eq == std::string::npos) {  // a '/' inside a message is part of the message
      scope = s;
      head = head.substr(0, slash);
    }
  }
  std::string kind = head, param;
  if (eq != std::string::npos) {
    kind = head.substr(0, eq);
    param = head.substr(eq + 1);
  }
  Scope def = Scope::api;
  if (kind == "500" || kind == "502" || kind == "503") {
    r.kind = kind == "500" ? FaultKind::http500 : kind == "502" ? FaultKind::http502 : FaultKind::http503;
    if (!param.empty()) r.param = parse_duration(param);  // Retry-After on the error
  }
  else if (kind == "reset") r.kind = FaultKind::reset;
  else if (kind == "delay") {
    r.kind = FaultKind::delay;
    r.param = parse_duration(param.empty() ? "1s" : param);
  } else if (kind == "trickle") {
    r.kind = FaultKind::trickle;
    r.param = parse_duration(param.empty() ? "20ms" : param);
    def = Scope::audio;
  } else if (kind == "truncate") {
    r.kind = FaultKind::truncate;
    def = Scope::audio;
  } else if (kind == "redirect") {
    r.kind = FaultKind::redirect;
    r.count = param.empty() ? 1 : static_cast<int>(parse_number(param, "redirect count"));
    if (r.count < 1 || r.count > 10) throw std::runtime_error("redirect count must be 1..10");
    def = Scope::audio;
  } else if (kind == "redirect-to") {
    r.kind = FaultKind::redirect_to;
    r.location = param;
    if (param.empty()) throw std::runtime_error("redirect-to needs a URL: redirect-to=URL");
    def = Scope::audio;
  } else if (kind == "huge-json") {
    r.kind = FaultKind::huge_json;
    r.size = parse_size(param.empty() ? "16MiB" : param);
  } else if (kind == "huge-length") {
    r.kind = FaultKind::huge_length;
    r.size = parse_size(param.empty() ? "1GiB" : param);
    def = Scope::audio;
  } else if (kind == "no-length") {
    r.kind = FaultKind::no_length;
    def = Scope::audio;
  } else if (kind == "cdn403" || kind == "403") {
    r.kind = FaultKind::cdn403;
    def = Scope::audio;
  } else if (kind == "html") {
    r.kind = FaultKind::html;
    def = Scope::audio;
  } else if (kind == "clip-error" || kind == "clip_error") {
    r.kind = FaultKind::clip_error;
    r.message = param.empty() ? "Unable to generate: the prompt contained artist name" : param;
    def = Scope::clips;
  } else if (kind == "audio-url") {
    r.kind = FaultKind::audio_url;
    r.location = param;
    if (param.empty()) throw std::runtime_error("audio-url needs a URL: audio-url=URL");
    def = Scope::clips;
  } else if (kind == "maintenance" || kind == "455") {
    r.kind = FaultKind::maintenance;
    if (!param.empty()) r.param = parse_duration(param);  // Retry-After, as for a 5xx
  } else if (kind == "moderation") {
    r.kind = FaultKind::moderation;
    r.message = param.empty() ? "The prompt contains sensitive words and was refused by moderation" : param;
    def = Scope::tasks;
  } else if (kind == "task-fail" || kind == "task_fail") {
    r.kind = FaultKind::task_fail;
    auto colon = param.find(':');
    r.status = param.substr(0, colon);
    if (colon != std::string::npos) r.message = param.substr(colon + 1);
    static const char* statuses[] = {"CREATE_TASK_FAILED", "GENERATE_AUDIO_FAILED", "CALLBACK_EXCEPTION",
                                     "SENSITIVE_WORD_ERROR"};
    if (std::find(std::begin(statuses), std::end(statuses), r.status) == std::end(statuses))
      throw std::runtime_error("task-fail=STATUS[:MESSAGE] with STATUS one of CREATE_TASK_FAILED, "
                               "GENERATE_AUDIO_FAILED, CALLBACK_EXCEPTION, SENSITIVE_WORD_ERROR");
    if (r.message.empty()) r.message = "task failed: " + r.status;
    def = Scope::tasks;
  } else if (kind == "dup-clips" || kind == "dup_clips") {
    r.kind = FaultKind::dup_clips;
    def = Scope::tasks;
  } else if (kind == "short-length") {
    r.kind = FaultKind::short_length;
    def = Scope::audio;
  } else if (kind == "stuck") {
    r.kind = FaultKind::stuck;
    if (param == "streaming") r.stuck_streaming = true;
    else if (!param.empty() && param != "queued") throw std::runtime_error("stuck=queued or stuck=streaming");
    def = Scope::clips;
  } else {
    throw std::runtime_error("unknown fault kind '" + kind + "'");
  }
  r.scope = scope.empty() ? def : parse_scope(scope);
  bool clip_kind = r.kind == FaultKind::clip_error || r.kind == FaultKind::stuck || r.kind == FaultKind::audio_url;
  bool task_kind =
      r.kind == FaultKind::moderation || r.kind == FaultKind::task_fail || r.kind == FaultKind::dup_clips;
  if (clip_kind && r.scope != Scope::clips)
    throw std::runtime_error("fault '" + raw + "': clip faults go with scope clips only");
  if (task_kind && r.scope != Scope::tasks)
    throw std::runtime_error("fault '" + raw + "': moderation, task-fail and dup-clips go with scope tasks only");
  if (r.scope == Scope::clips && !clip_kind)
    throw std::runtime_error("fault '" + raw + "': scope clips takes clip-error, stuck and audio-url only");
  if (r.scope == Scope::tasks && !task_kind)
    throw std::runtime_error("fault '" + raw + "': scope tasks takes moderation, task-fail and dup-clips only");
  bool api_scope = r.scope == Scope::api || r.scope == Scope::generate || r.scope == Scope::get;
  if (r.kind == FaultKind::huge_json && !api_scope)
    throw std::runtime_error("fault '" + raw + "': huge-json goes with scope api, generate or get");
  if (r.kind == FaultKind::redirect_to && (api_scope || r.scope == Scope::clips))
    throw std::runtime_error("fault '" + raw + "': redirect-to goes with scope cdn, audio or image");
  std::size_t pos = 0;
  while (pos <= when.size()) {
    auto comma = when.find(',', pos);
    std::string item = trim(when.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos));
    if (!item.empty()) {
      if (item[0] == 'n' || item[0] == '#') {
        double n = parse_number(item.substr(1), "n-th index");
        if (n < 1) throw std::runtime_error("n-th index starts at 1");
        r.nth.push_back(static_cast<std::uint64_t>(n));
      } else {
        r.probability = parse_number(item, "probability");
        if (r.probability < 0 || r.probability > 1) throw std::runtime_error("probability must be in 0..1");
      }
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return r;
}

namespace {

// Turns a scenario file into flag tokens, placed before the real command line
// so that flags override the scenario.
void scenario_tokens(const std::string& file, std::vector<std::string>& out, std::vector<std::string>& keys) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(file);
  } catch (const std::exception& e) {
    throw std::runtime_error("scenario " + file + ": " + e.what());
  }
  if (!root.IsMap()) throw std::runtime_error("scenario " + file + ": expected a map of settings");
  for (auto kv : root) {  // yaml-cpp iterators yield temporaries: copy the nodes
    std::string key = kv.first.as<std::string>();
    for (auto& c : key)
      if (c == '_') c = '-';
    YAML::Node v = kv.second;
    if (key == "accept-keys") {  // keys may live in a scenario file, never on argv
      if (v.IsSequence())
        for (auto k : v) keys.push_back(k.as<std::string>());
      else
        keys.push_back(v.as<std::string>());
      continue;
    }
    if (key == "scenario" || key == "description" || key == "name") continue;
    if (key == "faults") key = "fault";
    if (key == "accept-key-envs") key = "accept-key-env";
    if (v.IsSequence()) {
      for (auto item : v) {
        out.push_back("--" + key);
        out.push_back(item.as<std::string>());
      }
    } else if (v.IsScalar()) {
      std::string s = v.as<std::string>();
      if (s == "true" || s == "false") {
        if (key == "log" || key == "help" || key == "deprecated-chirp" || key == "body-codes-http200") {
          if (s == "true") out.push_back("--" + key);
          continue;
        }
      }
      out.push_back("--" + key);
      out.push_back(s);
    } else if (v.IsMap() && key == "model-cost") {  // model_cost: {google/lyria2: 50000}
      for (auto m : v) {
        out.push_back("--model-cost");
        out.push_back(m.first.as<std::string>() + "=" + m.second.as<std::string>());
      }
    } else if (v.IsNull()) {
      continue;
    } else {
      throw std::runtime_error("scenario " + file + ": setting '" + key + "' must be a value or a list");
    }
  }
}

}  // namespace

std::optional<Config> parse_command_line(int argc, char** argv) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  std::vector<std::string> tokens;
  std::vector<std::string> scenario_keys;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string file;
    if (args[i] == "--scenario" && i + 1 < args.size()) file = args[i + 1];
    else if (args[i].rfind("--scenario=", 0) == 0) file = args[i].substr(11);
    if (!file.empty()) scenario_tokens(file, tokens, scenario_keys);
  }
  tokens.insert(tokens.end(), args.begin(), args.end());

  Config c;
  CLI::App app{"setlist-sim: a local, fault-injecting stand-in for the music-generation API", "setlist-sim"};
  app.footer("Prints \"listening on URL\" (the API) and \"cdn on URL\" first; stops on SIGINT or SIGTERM.\n"
             "Exit codes: 0 stopped by SIGINT or SIGTERM; 2 bad flags or scenario, or a port it cannot bind.\n"
             "See docs/simulator.md.");
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  std::string scenario, latency, jitter, dist = "normal", duration = "20s..40s", wait_max = "100s",
                        retry_after = "seconds", idle = "120s";
  std::vector<std::string> key_envs, faults;
  app.add_option("--scenario", scenario, "YAML scenario file; every flag is a key (flags win)");
  app.add_option("--host", c.host, "address to bind (default 127.0.0.1)");
  app.add_option("--port", c.port, "API port (0: the kernel picks)");
  app.add_option("--cdn-port", c.cdn_port, "CDN port (0: the kernel picks)");
  app.add_option("--cdn-host", c.cdn_host,
                 "host name put in CDN URLs, e.g. localhost so the CDN is another host than the API "
                 "(default: --host)");
  app.add_option("--flavor", c.flavor, "aimlapi (default), aimlapi-v2, suno-api or sunoapi");
  app.add_option("--seed", c.seed, "seed for every random choice");
  app.add_option("--latency", latency, "mean time from submit to complete (default 20s)");
  app.add_option("--latency-jitter", jitter, "spread of that time (default 5s)");
  app.add_option("--latency-dist", dist, "normal (default), uniform, fixed, exponential");
  app.add_option("--duration", duration, "audio length range per clip, e.g. 5s..10s (default 20s..40s)");
  app.add_flag("--real-audio", c.real_audio,
               "serve real audio: a 997 Hz tone per clip at a known loudness (-20..-10 LUFS), "
               "encoded once (MP3 through LAME, or WAV); stats give each clip's intended loudness");
  std::string loudness_profile;
  app.add_option("--loudness-profile", loudness_profile,
                 "with --real-audio: profiles of the clips in the order they are made, e.g. "
                 "quiet,loud,silent,clipped (normal for the rest)");
  app.add_option("--wait-max", wait_max, "longest hold of a wait_audio request (default 100s)");
  app.add_option("--accept-key-env", key_envs,
                 "environment variable holding an accepted key (comma-separated keys allowed); repeatable")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--cost", c.cost, "tokens charged per generate request (default 200000)");
  std::vector<std::string> model_costs;
  app.add_option("--model-cost", model_costs,
                 "MODEL=N: charge per request of that model (AIML music default 120000, others --cost); repeatable")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_flag("--deprecated-chirp", c.deprecated_chirp,
               "legacy chirp-* routes answer 404 'model is deprecated and no longer available'");
  app.add_flag("--body-codes-http200", c.body_codes_http200,
               "sunoapi: every answer is HTTP 200, errors included; the code is only in the body");
  app.add_option("--rate-limit-code", c.rate_limit_code, "sunoapi: body code when rate limited (430 or 405)");
  std::string file_ttl = "14d";
  app.add_option("--file-ttl", file_ttl, "CDN files vanish this long after their clip completed (default 14d; 0: never)");
  app.add_option("--sensitive-word", c.sensitive_words,
                 "a prompt, lyrics, style or title containing WORD is moderated; repeatable")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--balance", c.balance, "starting balance of each key in tokens (default -1: unlimited)");
  app.add_option("--generate-rate", c.generate_rate, "generate requests per second per key (0: unlimited)");
  app.add_option("--generate-burst", c.generate_burst, "generate bucket size (default: max(1, rate))");
  app.add_option("--get-rate", c.get_rate, "get-API requests per second per key (0: unlimited)");
  app.add_option("--get-burst", c.get_burst, "get bucket size (default: max(1, rate))");
  app.add_option("--retry-after", retry_after, "form of Retry-After on 429: seconds (default), date, none");
  std::string grace = "100ms";
  app.add_option("--retry-after-grace", grace,
                 "requests this soon after a 429 count as in flight, not as violations (default 100ms)");
  app.add_option("--hourly-limit", c.hourly_limit, "accepted generate requests per key per window (0: off)");
  app.add_flag("--key-scoped", c.key_scoped,
               "each key is an account: a GET sees only the generations its own key made (others: not found)");
  std::string hourly_window = "1h";
  app.add_option("--hourly-window", hourly_window, "length of the hourly-limit window (default 1h)");
  app.add_option("--fault", faults, "fault rule KIND[=PARAM][/SCOPE]@WHEN; repeatable (docs/simulator.md)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--tls-cert", c.tls_cert, "PEM certificate chain: serve https on both ports");
  app.add_option("--tls-key", c.tls_key, "PEM private key");
  app.add_flag("--log", c.log, "print one line per request");
  app.add_option("--stats-file", c.stats_file, "write the stats JSON here at exit");
  app.add_option("--idle-timeout", idle, "close idle keep-alive connections after this (default 120s)");

  std::vector<std::string> rev(tokens.rbegin(), tokens.rend());
  try {
    app.parse(rev);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return std::nullopt;
  } catch (const CLI::ParseError& e) {
    throw std::runtime_error(e.what());
  }

  if (!latency.empty()) c.latency = parse_duration(latency);
  if (!jitter.empty()) c.latency_jitter = parse_duration(jitter);
  else if (!latency.empty()) c.latency_jitter = c.latency / 4;
  if (dist == "normal") c.latency_dist = LatencyDist::normal;
  else if (dist == "uniform") c.latency_dist = LatencyDist::uniform;
  else if (dist == "fixed") c.latency_dist = LatencyDist::fixed;
  else if (dist == "exponential") c.latency_dist = LatencyDist::exponential;
  else throw std::runtime_error("unknown --latency-dist '" + dist + "'");
  {
    auto dots = duration.find("..");
    std::string lo = dots == std::string::npos ? duration : duration.substr(0, dots);
    std::string hi = dots == std::string::npos ? duration : duration.substr(dots + 2);
    auto to_s = [](const std::string& s) {
      std::string t = trim(s);
      bool has_unit = !t.empty() && std::isalpha(static_cast<unsigned char>(t.back()));
      return has_unit ? static_cast<double>(parse_duration(t).count()) / 1e6 : parse_number(t, "duration");
    };
    c.duration_min = to_s(lo);
    c.duration_max = to_s(hi);
    if (c.duration_min <= 0 || c.duration_max < c.duration_min)
      throw std::runtime_error("bad --duration '" + duration + "'");
  }
  c.wait_max = parse_duration(wait_max);
  for (std::size_t pos = 0; !loudness_profile.empty() && pos <= loudness_profile.size();) {
    auto comma = loudness_profile.find(',', pos);
    std::string p = trim(loudness_profile.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos));
    if (!parse_loudness(p)) throw std::runtime_error("unknown --loudness-profile entry '" + p + "'");
    c.loudness_profile.push_back(p);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  if (!c.loudness_profile.empty() && !c.real_audio)
    throw std::runtime_error("--loudness-profile needs --real-audio");
  c.hourly_window = parse_duration(hourly_window);
  c.retry_after_grace = parse_duration(grace);
  if (c.hourly_limit < 0 || c.hourly_window.count() <= 0) throw std::runtime_error("bad hourly limit");
  c.idle_timeout = parse_duration(idle);
  if (retry_after == "seconds") c.retry_after = RetryAfter::seconds;
  else if (retry_after == "date") c.retry_after = RetryAfter::date;
  else if (retry_after == "none") c.retry_after = RetryAfter::none;
  else throw std::runtime_error("unknown --retry-after '" + retry_after + "'");
  if (c.generate_rate < 0 || c.get_rate < 0) throw std::runtime_error("rates must be >= 0");
  if (c.generate_burst <= 0) c.generate_burst = std::max(1.0, c.generate_rate);
  if (c.get_burst <= 0) c.get_burst = std::max(1.0, c.get_rate);
  if (c.cost < 0) throw std::runtime_error("--cost must be >= 0");
  for (auto& mc : model_costs) {
    auto eq = mc.rfind('=');
    if (eq == std::string::npos || eq == 0) throw std::runtime_error("--model-cost MODEL=N, got '" + mc + "'");
    double n = parse_number(trim(mc.substr(eq + 1)), "model cost");
    if (n < 0) throw std::runtime_error("--model-cost must be >= 0");
    c.model_cost[trim(mc.substr(0, eq))] = static_cast<std::int64_t>(n);
  }
  c.file_ttl = parse_duration(file_ttl);
  if (c.rate_limit_code != 430 && c.rate_limit_code != 405) throw std::runtime_error("--rate-limit-code must be 430 or 405");
  for (auto& w : c.sensitive_words)
    for (auto& ch : w) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (c.flavor != "aimlapi" && c.flavor != "aimlapi-v2" && c.flavor != "suno-api" && c.flavor != "sunoapi")
    throw std::runtime_error("unknown --flavor '" + c.flavor + "'");
  if (c.tls_cert.empty() != c.tls_key.empty()) throw std::runtime_error("--tls-cert and --tls-key go together");
  for (auto& f : faults) c.faults.push_back(parse_fault(f));
  c.accept_keys = scenario_keys;
  for (auto& var : key_envs) {
    const char* v = std::getenv(var.c_str());
    if (!v || !*v) throw std::runtime_error("--accept-key-env: variable " + var + " is not set");
    std::string s = v;
    std::size_t pos = 0;
    while (pos <= s.size()) {
      auto comma = s.find(',', pos);
      std::string k = trim(s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos));
      if (!k.empty()) c.accept_keys.push_back(k);
      if (comma == std::string::npos) break;
      pos = comma + 1;
    }
  }
  return c;
}

}  // namespace sim
