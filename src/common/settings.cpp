// Settings layering: built-in < manifest `settings:` < SETLIST_* < flags.
#include "setlist/settings.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <set>
#include <sstream>

#include "manifest/text.hpp"
#include "setlist/manifest.hpp"
#include "setlist/provider.hpp"

namespace setlist {

namespace {

enum class Kind {
  provider,
  url,
  model,
  rate,
  positive_double,
  positive_int,
  batch,
  count,  // a whole number >= 0
  duration,
  text,
  tokens,
  optional_tokens,
  size,  // bytes, with an optional KiB/MiB/GiB unit
  number  // any finite number (loudness thresholds are negative)
};

struct Descriptor {
  std::string_view name;
  Kind kind;
  // Exactly one of these is used, depending on kind.
  std::string Settings::*str = nullptr;
  double Settings::*dbl = nullptr;
  int Settings::*integer = nullptr;
  Millis Settings::*millis = nullptr;
  long long Settings::*tokens = nullptr;
  std::uint64_t Settings::*bytes = nullptr;
};

const std::vector<Descriptor>& descriptors() {
  static const std::vector<Descriptor> d = [] {
    std::vector<Descriptor> v;
    auto s = [&](std::string_view n, Kind k, std::string Settings::*m) {
      Descriptor x{n, k};
      x.str = m;
      v.push_back(x);
    };
    auto d = [&](std::string_view n, Kind k, double Settings::*m) {
      Descriptor x{n, k};
      x.dbl = m;
      v.push_back(x);
    };
    auto i = [&](std::string_view n, Kind k, int Settings::*m) {
      Descriptor x{n, k};
      x.integer = m;
      v.push_back(x);
    };
    auto t = [&](std::string_view n, Millis Settings::*m) {
      Descriptor x{n, Kind::duration};
      x.millis = m;
      v.push_back(x);
    };
    s("provider", Kind::provider, &Settings::provider);
    s("base_url", Kind::url, &Settings::base_url);
    s("model", Kind::model, &Settings::model);
    s("callback_url", Kind::url, &Settings::callback_url);
    d("submit_rate", Kind::rate, &Settings::submit_rate);
    d("submit_burst", Kind::positive_double, &Settings::submit_burst);
    i("max_in_flight", Kind::positive_int, &Settings::max_in_flight);
    t("poll_interval", &Settings::poll_interval);
    t("poll_interval_max", &Settings::poll_interval_max);
    i("poll_batch", Kind::batch, &Settings::poll_batch);
    d("poll_rate", Kind::rate, &Settings::poll_rate);
    d("poll_burst", Kind::positive_double, &Settings::poll_burst);
    s("output_template", Kind::text, &Settings::output_template);
    v.push_back(Descriptor{"budget_tokens", Kind::optional_tokens});
    {
      Descriptor x{"cost_per_request", Kind::tokens};
      x.tokens = &Settings::cost_per_request;
      v.push_back(x);
    }
    t("connect_timeout", &Settings::connect_timeout);
    t("request_timeout", &Settings::request_timeout);
    t("stall_timeout", &Settings::stall_timeout);
    t("retry_base", &Settings::retry_base);
    t("retry_cap", &Settings::retry_cap);
    i("retry_max_attempts", Kind::positive_int, &Settings::retry_max_attempts);
    t("retry_after_max", &Settings::retry_after_max);
    i("download_concurrency", Kind::positive_int, &Settings::download_concurrency);
    {
      Descriptor x{"max_download_size", Kind::size};
      x.bytes = &Settings::max_download_size;
      v.push_back(x);
    }
    i("regenerate_on_error", Kind::count, &Settings::regenerate_on_error);
    // Flags on analysed takes (#19).
    d("flag_silence_lufs", Kind::number, &Settings::flag_silence_lufs);
    t("flag_silence_stretch", &Settings::flag_silence_stretch);
    i("flag_clipped_runs", Kind::positive_int, &Settings::flag_clipped_runs);
    d("flag_clipped_true_peak", Kind::number, &Settings::flag_clipped_true_peak);
    d("flag_short_fraction", Kind::number, &Settings::flag_short_fraction);
    i("reject_bad_takes", Kind::count, &Settings::reject_bad_takes);
    return v;
  }();
  return d;
}

const Descriptor* find_descriptor(std::string_view name) {
  for (const auto& d : descriptors()) {
    if (d.name == name) return &d;
  }
  return nullptr;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::optional<double> parse_number(std::string_view s) {
  if (s.empty()) return std::nullopt;
  // std::from_chars for double is available in GCC 12.
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

// Non-negative integer; '_' allowed between digits ("200_000").
std::optional<long long> parse_count(std::string_view s) {
  std::string digits;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '_' && i > 0 && i + 1 < s.size()) continue;
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    digits += c;
  }
  if (digits.empty()) return std::nullopt;
  long long v = 0;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec != std::errc() || p != digits.data() + digits.size()) return std::nullopt;
  return v;
}

std::string format_number(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

std::string format_size(std::uint64_t n) {
  if (n != 0 && n % (1ull << 30) == 0) return std::to_string(n >> 30) + "GiB";
  if (n != 0 && n % (1ull << 20) == 0) return std::to_string(n >> 20) + "MiB";
  if (n != 0 && n % (1ull << 10) == 0) return std::to_string(n >> 10) + "KiB";
  return std::to_string(n);
}

std::string format_duration(Millis d) {
  long long ms = d.count();
  if (ms != 0 && ms % 3600000 == 0) return std::to_string(ms / 3600000) + "h";
  if (ms != 0 && ms % 60000 == 0) return std::to_string(ms / 60000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

bool is_none(std::string_view v) {
  std::string l = lower(v);
  return l == "none" || l == "unlimited" || l == "off" || l.empty();
}

std::string provider_names() {
  std::vector<std::string_view> names;
  for (const auto& p : provider_infos()) names.push_back(p.name);
  return text::join(names);
}

// Applies a checked value.
void apply(Settings& s, const Descriptor& d, std::string_view value) {
  switch (d.kind) {
    case Kind::provider:
    case Kind::url:
    case Kind::model:
    case Kind::text:
      s.*(d.str) = std::string(value);
      break;
    case Kind::rate:
      s.*(d.dbl) = *parse_rate(value);
      break;
    case Kind::positive_double:
    case Kind::number:
      s.*(d.dbl) = *parse_number(value);
      break;
    case Kind::positive_int:
    case Kind::batch:
    case Kind::count:
      s.*(d.integer) = static_cast<int>(*parse_count(value));
      break;
    case Kind::duration:
      s.*(d.millis) = *parse_duration(value);
      break;
    case Kind::tokens:
      s.*(d.tokens) = *parse_count(value);
      break;
    case Kind::optional_tokens:
      if (is_none(value)) {
        s.budget_tokens.reset();
      } else {
        s.budget_tokens = *parse_count(value);
      }
      break;
    case Kind::size:
      s.*(d.bytes) = *parse_size(value);
      break;
  }
}

std::string flag_name(std::string_view name) {
  std::string f = "--";
  for (char c : name) f += c == '_' ? '-' : c;
  return f;
}

}  // namespace

const std::vector<std::string_view>& setting_names() {
  static const std::vector<std::string_view> names = [] {
    std::vector<std::string_view> v;
    for (const auto& d : descriptors()) v.push_back(d.name);
    return v;
  }();
  return names;
}

std::string setting_env_name(std::string_view name) {
  std::string out = "SETLIST_";
  for (char c : name) out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::optional<std::string> check_setting(std::string_view name, std::string_view value) {
  const Descriptor* d = find_descriptor(name);
  if (!d) {
    std::string msg = "unknown setting \"" + std::string(name) + "\"";
    if (auto near = text::closest(name, setting_names()))
      msg += " (did you mean \"" + *near + "\"?)";
    return msg;
  }
  const std::string v(value);
  switch (d->kind) {
    case Kind::provider:
      if (!find_provider_info(value)) {
        return "unknown provider \"" + v + "\" (one of: " + provider_names() + ")";
      }
      return std::nullopt;
    case Kind::url: {
      if (value.empty()) return std::nullopt;  // the provider's default
      std::string_view rest;
      if (value.starts_with("http://")) {
        rest = value.substr(7);
      } else if (value.starts_with("https://")) {
        rest = value.substr(8);
      } else {
        return "invalid URL \"" + v + "\" (expected http://HOST[:PORT][/PATH] or https://...)";
      }
      if (rest.empty() || rest.front() == '/' || rest.front() == ':' ||
          rest.find_first_of(" \t\r\n") != std::string_view::npos) {
        return "invalid URL \"" + v + "\" (expected http://HOST[:PORT][/PATH] or https://...)";
      }
      return std::nullopt;
    }
    case Kind::model:
      if (value.find('|') != std::string_view::npos) {
        return "invalid model \"" + v + "\": pick one model, e.g. \"chirp-v3-5\"";
      }
      if (value.find_first_of(" \t\r\n") != std::string_view::npos) {
        return "invalid model \"" + v + "\" (a model name has no spaces)";
      }
      return std::nullopt;
    case Kind::rate: {
      auto r = parse_rate(value);
      if (!r || *r <= 0) {
        return "invalid rate \"" + v +
               "\" (expected a positive rate such as 2, 10/s, 600/min, 3600/h)";
      }
      return std::nullopt;
    }
    case Kind::positive_double: {
      auto n = parse_number(value);
      if (!n || *n < 1) return "invalid value \"" + v + "\" (expected a number >= 1)";
      return std::nullopt;
    }
    case Kind::number:
      if (!parse_number(value)) return "invalid value \"" + v + "\" (expected a number)";
      return std::nullopt;
    case Kind::positive_int: {
      auto n = parse_count(value);
      if (!n || *n < 1 || *n > 1000000) {
        return "invalid value \"" + v + "\" (expected a whole number >= 1)";
      }
      return std::nullopt;
    }
    case Kind::batch: {
      auto n = parse_count(value);
      if (!n || *n > 1000) {
        return "invalid value \"" + v +
               "\" (expected a whole number, 0 for the provider's default)";
      }
      return std::nullopt;
    }
    case Kind::count: {
      auto n = parse_count(value);
      if (!n || *n > 1000) return "invalid value \"" + v + "\" (expected a whole number, 0 or more)";
      return std::nullopt;
    }
    case Kind::duration: {
      auto ms = parse_duration(value);
      if (!ms) {
        return "invalid duration \"" + v + "\" (expected a number with a unit: 250ms, 2s, 15m, 1h)";
      }
      if (ms->count() <= 0) return "invalid duration \"" + v + "\" (must be more than 0)";
      return std::nullopt;
    }
    case Kind::text:
      if (value.empty()) return "empty value";
      return std::nullopt;
    case Kind::tokens:
      if (!parse_count(value))
        return "invalid value \"" + v + "\" (expected a whole number of tokens)";
      return std::nullopt;
    case Kind::optional_tokens:
      if (!is_none(value) && !parse_count(value)) {
        return "invalid value \"" + v + "\" (expected a whole number of tokens, or none)";
      }
      return std::nullopt;
    case Kind::size: {
      auto n = parse_size(value);
      if (!n || *n < 1024) return "invalid size \"" + v + "\" (expected at least 1KiB: 512MiB, 64KiB, 1GiB)";
      return std::nullopt;
    }
  }
  return std::nullopt;
}

EnvLookup process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  };
}

ResolvedSettings resolve_settings(const Manifest* manifest, const EnvLookup& env,
                                  const std::map<std::string, std::string>& flags,
                                  std::vector<std::string>& errors) {
  ResolvedSettings r;
  for (const auto& d : descriptors()) {
    r.origin[std::string(d.name)] = SettingOrigin{SettingSource::builtin, ""};
  }

  auto layer = [&](const std::string& name, const std::string& value, SettingSource source,
                   const std::string& detail) {
    const Descriptor* d = find_descriptor(name);
    if (auto err = check_setting(name, value)) {
      errors.push_back(detail + ": " + *err);
      return;
    }
    apply(r.values, *d, value);
    r.origin[name] = SettingOrigin{source, detail};
  };

  if (manifest) {
    const std::string file = manifest->path.string();
    for (const auto& [name, sv] : manifest->settings) {
      std::string where = file;
      if (sv.pos.line > 0) {
        where += ":" + std::to_string(sv.pos.line) + ":" + std::to_string(sv.pos.column);
      }
      layer(name, sv.value, SettingSource::manifest, where);
    }
  }
  if (env) {
    for (const auto& d : descriptors()) {
      const std::string var = setting_env_name(d.name);
      auto v = env(var);
      if (!v || v->empty()) continue;  // an empty variable counts as unset
      layer(std::string(d.name), *v, SettingSource::environment, var);
    }
  }
  for (const auto& [name, value] : flags) {
    if (!find_descriptor(name)) {
      errors.push_back(flag_name(name) + ": " + *check_setting(name, value));
      continue;
    }
    layer(name, value, SettingSource::flag, flag_name(name));
  }

  // Defaults of the flavor that serves the effective provider and model,
  // where nobody set a value.
  // The songs of the manifest say which models are used (a song's own model,
  // else the run's); only when they all go to one flavor do its defaults apply.
  if (const ProviderInfo* pinfo = find_provider_info(r.values.provider)) {
    const std::string run_model = r.values.model.empty() ? pinfo->default_model : r.values.model;
    std::set<std::string> models;
    if (manifest)
      for (const auto& song : manifest->songs) models.insert(song.model.empty() ? run_model : song.model);
    if (models.empty()) models.insert(run_model);
    std::set<const ProviderInfo*> flavors;
    for (const auto& m : models) flavors.insert(&flavor_for_model(*pinfo, m));
    const ProviderInfo& flavor = flavors.size() == 1 ? **flavors.begin() : *pinfo;
    const std::string whose =
        "provider " + pinfo->name + "'s default" +
        (&flavor == pinfo ? std::string() : " for " + (models.size() == 1 ? *models.begin() : flavor.name));
    for (const auto& [name, value] : (flavors.size() == 1 ? flavor.setting_defaults
                                                          : decltype(flavor.setting_defaults){})) {
      const Descriptor* d = find_descriptor(name);
      if (!d || r.origin[name].source != SettingSource::builtin || check_setting(name, value)) continue;
      apply(r.values, *d, value);
      r.origin[name] = SettingOrigin{SettingSource::builtin, whose};
    }
  }

  // Checks across settings, blamed on where the value came from.
  auto at = [&](const char* name) {
    const auto& o = r.origin[name];
    return o.detail.empty() ? std::string("built-in") : o.detail;
  };
  const Settings& s = r.values;
  const ProviderInfo* info = find_provider_info(s.provider);
  if (info) {
    if (!s.model.empty() && !info->find_model(s.model)) {
      std::vector<std::string_view> names;
      for (const auto& m : info->models) names.push_back(m.name);
      errors.push_back(at("model") + ": model \"" + s.model + "\" is not a model of provider " +
                       info->name + " (one of: " + text::join(names) + ")");
    }
    if (s.poll_batch > 0 && static_cast<std::size_t>(s.poll_batch) > info->max_poll_batch) {
      errors.push_back(at("poll_batch") + ": poll_batch " + std::to_string(s.poll_batch) +
                       " is more than provider " + info->name + " accepts (at most " +
                       std::to_string(info->max_poll_batch) + ")");
    }
  }
  if (s.poll_interval_max < s.poll_interval) {
    errors.push_back(at("poll_interval_max") + ": poll_interval_max (" +
                     format_duration(s.poll_interval_max) + ") is less than poll_interval (" +
                     format_duration(s.poll_interval) + ")");
  }
  if (s.retry_cap < s.retry_base) {
    errors.push_back(at("retry_cap") + ": retry_cap (" + format_duration(s.retry_cap) +
                     ") is less than retry_base (" + format_duration(s.retry_base) + ")");
  }
  return r;
}

long long cost_per_request_for(const ResolvedSettings& rs, const ModelLimits* model) {
  auto it = rs.origin.find("cost_per_request");
  bool user_set = it != rs.origin.end() && it->second.source != SettingSource::builtin;
  if (!user_set && model && model->cost_estimate > 0) return model->cost_estimate;
  return rs.values.cost_per_request;
}

LoadOptions effective_load_options(const EnvLookup& env, const std::map<std::string, std::string>& flags) {
  LoadOptions o;
  auto pick = [&](const char* name, std::string& value, std::string& origin) {
    if (auto it = flags.find(name); it != flags.end() && !it->second.empty()) {
      value = it->second;
      origin = flag_name(name);
      return;
    }
    if (!env) return;
    const std::string var = setting_env_name(name);
    if (auto v = env(var); v && !v->empty()) {
      value = *v;
      origin = var;
    }
  };
  pick("provider", o.provider, o.provider_origin);
  pick("model", o.model, o.model_origin);
  return o;
}

ProviderOptions provider_options(const Settings& s) {
  ProviderOptions o;
  if (!s.callback_url.empty()) o.callback_url = s.callback_url;
  return o;
}

std::string setting_value_text(const Settings& s, std::string_view name) {
  const Descriptor* d = find_descriptor(name);
  if (!d) return {};
  switch (d->kind) {
    case Kind::provider:
    case Kind::url:
    case Kind::model:
    case Kind::text:
      return s.*(d->str);
    case Kind::rate:
      return format_number(s.*(d->dbl)) + "/s";
    case Kind::positive_double:
    case Kind::number:
      return format_number(s.*(d->dbl));
    case Kind::positive_int:
    case Kind::batch:
    case Kind::count:
      return std::to_string(s.*(d->integer));
    case Kind::duration:
      return format_duration(s.*(d->millis));
    case Kind::tokens:
      return std::to_string(s.*(d->tokens));
    case Kind::optional_tokens:
      return s.budget_tokens ? std::to_string(*s.budget_tokens) : "none";
    case Kind::size:
      return format_size(s.*(d->bytes));
  }
  return {};
}

std::optional<Millis> parse_duration(std::string_view text_in) {
  // One or more NUMBER UNIT parts: "1m30s", "1.5s", "250ms".
  std::string t = lower(text::trim(text_in));
  if (t.empty()) return std::nullopt;
  double total = 0;
  std::size_t i = 0;
  while (i < t.size()) {
    std::size_t b = i;
    while (i < t.size() && (std::isdigit(static_cast<unsigned char>(t[i])) || t[i] == '.')) ++i;
    auto num = parse_number(std::string_view(t).substr(b, i - b));
    if (!num) return std::nullopt;
    std::size_t u = i;
    while (i < t.size() && std::isalpha(static_cast<unsigned char>(t[i]))) ++i;
    std::string unit = t.substr(u, i - u);
    double factor = 0;
    if (unit == "ms") {
      factor = 1;
    } else if (unit == "s" || unit == "sec" || unit == "secs") {
      factor = 1000;
    } else if (unit == "m" || unit == "min" || unit == "mins") {
      factor = 60000;
    } else if (unit == "h" || unit == "hr" || unit == "hour" || unit == "hours") {
      factor = 3600000;
    } else {
      return std::nullopt;  // includes a bare number: the unit is required
    }
    total += *num * factor;
  }
  if (total > 365.0 * 24 * 3600000) return std::nullopt;
  return Millis(static_cast<long long>(std::llround(total)));
}

std::optional<std::uint64_t> parse_size(std::string_view text_in) {
  std::string t = text::trim(text_in);
  std::size_t i = 0;
  while (i < t.size() && (std::isdigit(static_cast<unsigned char>(t[i])) || t[i] == '_')) ++i;
  auto n = parse_count(std::string_view(t).substr(0, i));
  std::string unit = lower(text::trim(std::string_view(t).substr(i)));
  int shift = unit.empty() || unit == "b" ? 0 : unit == "kib" ? 10 : unit == "mib" ? 20 : unit == "gib" ? 30 : -1;
  if (!n || shift < 0 || *n > (std::numeric_limits<long long>::max() >> shift)) return std::nullopt;
  return static_cast<std::uint64_t>(*n) << shift;
}

std::optional<double> parse_rate(std::string_view text_in) {
  std::string t = lower(text::trim(text_in));
  auto slash = t.find('/');
  std::string num = text::trim(t.substr(0, slash));
  auto n = parse_number(num);
  if (!n || *n < 0) return std::nullopt;
  if (slash == std::string::npos) return *n;
  std::string unit = text::trim(t.substr(slash + 1));
  if (unit == "s" || unit == "sec" || unit == "second") return *n;
  if (unit == "m" || unit == "min" || unit == "minute") return *n / 60.0;
  if (unit == "h" || unit == "hr" || unit == "hour") return *n / 3600.0;
  return std::nullopt;
}

// --- help: what each setting means, in which unit ----------------------------
// One row per setting of descriptors() (a unit test checks that none is
// missing). The default is not written here: it is read from Settings{} and
// from each provider's own defaults, so help cannot drift from behaviour.
namespace {

struct SettingDoc {
  std::string_view name;
  std::string_view metavar;
  std::string_view unit;
  std::string_view meaning;
  std::string_view default_text = {};  // when the value alone would mislead
};

constexpr std::string_view kDuration = "duration: 250ms, 2s, 15m, 1h, 1m30s";
constexpr std::string_view kRate = "requests per second: 2, 10/s, 600/min, 3600/h";

const std::vector<SettingDoc>& setting_docs() {
  static const std::vector<SettingDoc> docs = {
      {"provider", "NAME", "aimlapi, sunoapi, aimlapi-v2 or suno-api", "which API to talk to"},
      {"base_url", "URL", "http(s)://HOST[:PORT][/PATH]", "the API's address, to reach a proxy or the simulator"},
      {"model", "NAME", "a model of the provider", "model of the songs that name none"},
      {"callback_url", "URL", "http(s)://HOST[:PORT][/PATH]",
       "sent as sunoapi's required callBackUrl; setlist polls and never relies on it"},
      {"submit_rate", "RATE", kRate, "how fast generate requests are sent (each one costs money)"},
      {"submit_burst", "N", "requests, a number >= 1", "generate requests that may go at once after a quiet spell"},
      {"max_in_flight", "N", "songs, a whole number >= 1", "songs submitted and not yet finished, at most"},
      {"poll_interval", "DURATION", kDuration,
       "wait between status requests: batched polls start at it and back off; one-id models (AIML music, "
       "sunoapi) poll at it through the span this run's generations take, first near their time"},
      {"poll_interval_max", "DURATION", kDuration, "longest wait between two status requests for a clip"},
      {"poll_batch", "N", "clip ids per request, a whole number (0: the provider's)",
       "clip ids asked for in one status request"},
      {"poll_rate", "RATE", kRate, "how fast status requests are sent"},
      {"poll_burst", "N", "requests, a number >= 1", "status requests that may go at once after a quiet spell"},
      {"output_template", "TEMPLATE", "text with {album} {artist} {track} {track:02} {title} {take} {clip_id} {song_id}",
       "file name of each take; .mp3 becomes .wav for WAV audio"},
      {"budget_tokens", "TOKENS", "tokens, a whole number (1_000_000 allowed) or none",
       "stop submitting before a run would charge more than this"},
      {"cost_per_request", "TOKENS", "tokens (sunoapi: credits), a whole number",
       "what one generate request costs, for plan and the budget", "each model's estimate (see `setlist plan`)"},
      {"connect_timeout", "DURATION", kDuration, "limit on each of name lookup, TCP connect and TLS handshake"},
      {"request_timeout", "DURATION", kDuration,
       "limit on the whole answer of an API request; for a download, on each read"},
      {"stall_timeout", "DURATION", kDuration, "a clip whose status does not change for this long fails"},
      {"retry_base", "DURATION", kDuration, "first wait before retrying a failed request; it doubles up to retry_cap"},
      {"retry_cap", "DURATION", kDuration, "longest wait between two retries"},
      {"retry_max_attempts", "N", "attempts, a whole number >= 1", "tries of one request before its song fails"},
      {"retry_after_max", "DURATION", kDuration, "longest Retry-After obeyed; a longer one is cut to this"},
      {"download_concurrency", "N", "downloads, a whole number >= 1", "files downloaded at once"},
      {"max_download_size", "SIZE", "bytes, or with KiB, MiB, GiB (at least 1KiB)",
       "a larger file is refused and nothing past the limit is written"},
      {"regenerate_on_error", "N", "requests, a whole number >= 0",
       "resubmit a song whose clip ended in error up to N times (each is paid)"},
      {"flag_silence_lufs", "LUFS", "loudness in LUFS, a number", "a take quieter than this is flagged silent"},
      {"flag_silence_stretch", "DURATION", kDuration,
       "a silent stretch (below -60 dBFS) this long flags the take silent"},
      {"flag_clipped_runs", "N", "runs of clipped samples, a whole number >= 1",
       "with a true peak above flag_clipped_true_peak, this many clipped runs flag the take clipped"},
      {"flag_clipped_true_peak", "DBTP", "true peak in dBTP, a number", "the true peak above which a take may be clipped"},
      {"flag_short_fraction", "FRACTION", "a share of the requested length, a number",
       "a take shorter than this share of its song's requested length is flagged short"},
      {"reject_bad_takes", "N", "attempts, a whole number >= 0",
       "buy a song again (a new attempt, paid) while its take A is flagged, until it has had N attempts more than the "
       "first; 0: never"},
  };
  return docs;
}

const SettingDoc* find_doc(std::string_view name) {
  for (const auto& d : setting_docs())
    if (d.name == name) return &d;
  return nullptr;
}

// The value a setting has when nobody sets it, with each provider (on its
// default model) whose own default differs: "10s (aimlapi-v2, suno-api: 1s; sunoapi: 20s)".
std::string default_text(std::string_view name) {
  struct Probe {
    std::string provider;
    Settings values;
  };
  static const std::vector<Probe> probes = [] {
    std::vector<Probe> v;
    std::vector<std::string> errors;
    v.push_back({"", resolve_settings(nullptr, EnvLookup{}, {}, errors).values});
    for (const auto& p : provider_infos())
      v.push_back({p.name, resolve_settings(nullptr, EnvLookup{}, {{"provider", p.name}}, errors).values});
    return v;
  }();
  const Settings& base = probes.front().values;
  std::string value = setting_value_text(base, name);
  if (value.empty()) {
    const ProviderInfo* info = find_provider_info(base.provider);
    std::string theirs = !info ? "" : name == "base_url" ? info->default_base_url : name == "model" ? info->default_model : "";
    return theirs.empty() ? "the provider's" : "the provider's (" + base.provider + ": " + theirs + ")";
  }
  if (name == "provider") return value;
  std::vector<std::pair<std::string, std::vector<std::string>>> others;  // value -> providers
  for (std::size_t i = 1; i < probes.size(); ++i) {
    std::string v = setting_value_text(probes[i].values, name);
    if (v == value) continue;
    auto it = std::find_if(others.begin(), others.end(), [&](auto& o) { return o.first == v; });
    if (it == others.end()) others.push_back({v, {probes[i].provider}});
    else it->second.push_back(probes[i].provider);
  }
  if (others.empty()) return value;
  std::string out = value + " (";
  for (std::size_t i = 0; i < others.size(); ++i) {
    if (i) out += "; ";
    std::vector<std::string_view> names(others[i].second.begin(), others[i].second.end());
    out += text::join(names) + ": " + others[i].first;
  }
  return out + ")";
}

}  // namespace

SettingHelp setting_help(std::string_view name) {
  SettingHelp h;
  const SettingDoc* d = find_doc(name);
  if (!d || !find_descriptor(name)) return h;
  h.metavar = std::string(d->metavar);
  h.unit = std::string(d->unit);
  h.meaning = std::string(d->meaning);
  h.default_text = d->default_text.empty() ? default_text(name) : std::string(d->default_text);
  return h;
}

std::string setting_help_line(std::string_view name) {
  SettingHelp h = setting_help(name);
  if (h.meaning.empty()) return "setting " + std::string(name);
  return h.meaning + " [" + h.unit + "; default " + h.default_text + "; env " + setting_env_name(name) + "]";
}

}  // namespace setlist
