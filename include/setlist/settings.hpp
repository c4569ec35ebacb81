// Settings: every tunable of a run, layered
//   built-in defaults < manifest `settings:` < environment (SETLIST_*) < flags
// and remembering where each effective value came from.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace setlist {

struct Manifest;
struct Diagnostic;
struct LoadOptions;
struct ProviderOptions;
struct ModelLimits;

using Millis = std::chrono::milliseconds;

struct Settings {
  std::string provider = "aimlapi";
  std::string base_url;          // empty: the provider's default
  std::string model;             // empty: the provider's default
  // sunoapi requires a callBackUrl; setlist polls and never relies on it.
  // Empty: this placeholder.
  std::string callback_url = "https://example.invalid/setlist-callback";
  double submit_rate = 2.0;      // generate requests per second (starting rate)
  double submit_burst = 2.0;     // token-bucket capacity
  int max_in_flight = 32;        // songs submitted and not yet finished
  Millis poll_interval{1000};    // first poll delay; backs off to poll_interval_max
  Millis poll_interval_max{10000};
  int poll_batch = 0;            // ids per get request; 0: the provider's default
  double poll_rate = 5.0;        // get requests per second
  double poll_burst = 5.0;       // its token-bucket capacity
  std::string output_template = "{track:02} - {title} ({take}).mp3";
  std::optional<long long> budget_tokens;  // unset: no budget
  long long cost_per_request = 200000;     // tokens per generate request
  Millis connect_timeout{10000};           // each of: name lookup, TCP connect, TLS handshake
  Millis request_timeout{60000};           // headers and body of one request
  Millis stall_timeout{15 * 60 * 1000};    // a clip whose status does not change
  Millis retry_base{500};
  Millis retry_cap{30000};
  int retry_max_attempts = 8;
  Millis retry_after_max{10 * 60 * 1000};  // clamp for huge Retry-After values
  int download_concurrency = 4;
  std::uint64_t max_download_size = 512ull << 20;  // a larger file is refused, not written
  // A clip that ends in `error` fails its song; with N > 0 the song is
  // submitted again up to N times (each costs a request: off by default).
  int regenerate_on_error = 0;
  // Flags on analysed takes (report, terminal, state); nothing is rejected
  // unless reject_bad_takes says so.
  double flag_silence_lufs = -50;            // near-silence: integrated loudness below (LUFS)
  Millis flag_silence_stretch{10000};        // or a silent stretch (below -60 dBFS) this long
  int flag_clipped_runs = 10;                // clipping: this many runs of >= 3 full-scale samples
  double flag_clipped_true_peak = 0;         // and a true peak above this (dBTP)
  double flag_short_fraction = 0.5;          // far too short: under this share of the requested length
  // A song whose take A is flagged is bought again, as a new attempt, until
  // it has had N attempts more than the first (each is paid: off by default).
  int reject_bad_takes = 0;
};

enum class SettingSource { builtin, manifest, environment, flag };

struct SettingOrigin {
  SettingSource source = SettingSource::builtin;
  std::string detail;  // "album.yaml:7:3", "SETLIST_SUBMIT_RATE", "--submit-rate"
};

struct ResolvedSettings {
  Settings values;
  std::map<std::string, SettingOrigin> origin;  // by setting name
};

// Names of every setting, as written in `settings:` (snake_case).
const std::vector<std::string_view>& setting_names();

// The environment variable of a setting: SETLIST_ + upper-case name.
std::string setting_env_name(std::string_view name);

// Checks a textual value for a setting; returns an error message or nothing.
std::optional<std::string> check_setting(std::string_view name, std::string_view value);

using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
EnvLookup process_environment();

// Layers the sources. `flags` maps setting name -> textual value given on the
// command line. Problems (bad values) are appended to `errors` as text.
//
// Where no layer set a value, the flavor serving the songs (each song's
// model, else the effective `model`; every song must go to the same flavor,
// and without a manifest the effective model decides) may bring its own
// default (ProviderInfo::setting_defaults: sunoapi's
// submit_rate, submit_burst, poll_interval, poll_interval_max; the AIML music
// models' poll_interval, poll_interval_max). Such a value keeps
// SettingSource::builtin, with a detail saying whose default it is:
// "provider sunoapi's default". cost_per_request stays 200000 here: the cost
// of a request depends on each song's model (cost_per_request_for).
ResolvedSettings resolve_settings(const Manifest* manifest, const EnvLookup& env,
                                  const std::map<std::string, std::string>& flags,
                                  std::vector<std::string>& errors);

// The effective provider and model from the command line and the
// environment (flags win), for load_manifest/parse_manifest, so validation
// checks the songs against what the run will use. `flags` as for
// resolve_settings: {"provider": "sunoapi"} for --provider sunoapi.
LoadOptions effective_load_options(const EnvLookup& env, const std::map<std::string, std::string>& flags);

// What one generate request of a song costs: cost_per_request when a layer
// (manifest, environment, flag) set it, else the estimate of the song's model
// (Provider::model_limits(song, settings.model)), else the built-in value.
long long cost_per_request_for(const ResolvedSettings& rs, const ModelLimits* model);

// What the provider takes from the settings (make_provider(name, options)).
ProviderOptions provider_options(const Settings& s);

// What a person needs to use a setting: for its flag's --help, the man page
// and `setlist config`. Built from the same table as the settings
// themselves (src/common/settings.cpp).
struct SettingHelp {
  std::string metavar;   // "DURATION", "RATE", "N", ...: the flag's value
  std::string unit;      // "duration: 250ms, 2s, 15m, 1h"
  std::string meaning;   // one line
  std::string default_text;  // "10s (sunoapi: 20s)": the built-in value, and where providers differ
};
// Throws nothing; an unknown name gets empty fields.
SettingHelp setting_help(std::string_view name);
// One line for a flag's help: "MEANING [UNIT; default D; env SETLIST_NAME]".
std::string setting_help_line(std::string_view name);

// Current value of a setting as text (for `setlist config`).
std::string setting_value_text(const Settings& s, std::string_view name);

// Parsers shared by settings and the CLI.
std::optional<Millis> parse_duration(std::string_view text);   // "250ms", "2s", "15m", "1h", "1.5s"
std::optional<double> parse_rate(std::string_view text);       // "10/s", "600/min", "3600/h", "2"
std::optional<std::uint64_t> parse_size(std::string_view text);  // "512MiB", "64KiB", "1GiB", "1_000_000" (bytes)

}  // namespace setlist
