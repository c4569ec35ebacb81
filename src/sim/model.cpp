#include "sim/model.hpp"

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <ctime>

namespace sim {

namespace json = boost::json;

namespace {

constexpr const char* kCustomPath = "/generate/custom-mode";
constexpr const char* kDescPath = "/generate";
constexpr const char* kV2Generate = "/v2/generate/audio/suno-ai/clip";
constexpr const char* kV2Clips = "/v2/generate/audio/suno-ai/clips";

std::string iso_now() {
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03d}Z", buf, static_cast<int>(ms));
}

std::string http_date(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

std::string uuid_from(std::uint64_t a, std::uint64_t b) {
  a = (a & 0xFFFFFFFFFFFF0FFFull) | 0x0000000000004000ull;  // version 4
  b = (b & 0x3FFFFFFFFFFFFFFFull) | 0x8000000000000000ull;  // variant
  return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", a >> 32, (a >> 16) & 0xFFFF, a & 0xFFFF, b >> 48,
                     b & 0xFFFFFFFFFFFFull);
}

// JSON with object keys sorted, so equal payloads hash equally.
void canonical(const json::value& v, std::string& out) {
  if (v.is_object()) {
    std::vector<std::pair<std::string_view, const json::value*>> items;
    for (auto& kv : v.get_object()) items.emplace_back(kv.key(), &kv.value());
    std::sort(items.begin(), items.end(), [](auto& a, auto& b) { return a.first < b.first; });
    out += '{';
    bool first = true;
    for (auto& [k, val] : items) {
      if (!first) out += ',';
      first = false;
      out += json::serialize(json::string(k));
      out += ':';
      canonical(*val, out);
    }
    out += '}';
  } else if (v.is_array()) {
    out += '[';
    bool first = true;
    for (auto& e : v.get_array()) {
      if (!first) out += ',';
      first = false;
      canonical(e, out);
    }
    out += ']';
  } else {
    out += json::serialize(v);
  }
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// Clients send `ids[0]=...` with raw brackets; RFC 3986 wants them escaped.
// Percent-encode whatever a strict parser would refuse, then parse.
std::string lenient_target(const std::string& t) {
  static const char* ok = "-._~!$&'()*+,;=:@/?%";
  std::string out;
  out.reserve(t.size() + 16);
  for (unsigned char c : t) {
    if (std::isalnum(c) || std::strchr(ok, c)) out += static_cast<char>(c);
    else out += fmt::format("%{:02X}", static_cast<unsigned>(c));
  }
  return out;
}

std::string lyrics_for(const std::string& description, std::uint64_t h) {
  static const char* lines[] = {"the night is long and the road is wide", "we sing it loud, we sing it true",
                                "under neon rain", "hold the line until the morning comes",
                                "every echo finds its way back home", "count the stars we never named"};
  std::string s = "[Verse]\n";
  for (int i = 0; i < 4; ++i) s += std::string(lines[(h >> (i * 8)) % 6]) + "\n";
  s += "[Chorus]\n" + description.substr(0, 60) + "\n";
  return s;
}

}  // namespace

// ---------------------------------------------------------------------------
// Clip

Stage Clip::stage(TimePoint now) const {
  auto age = now - t0;
  if (age < to_queued) return Stage::submitted;
  if (age < to_streaming) return Stage::queued;
  if (stuck && !stuck_streaming) return Stage::queued;
  if (fails) return Stage::error;
  if (age < to_complete) return Stage::streaming;
  if (stuck) return Stage::streaming;
  return Stage::complete;
}

std::optional<TimePoint> Clip::ready_at() const {
  if (stuck && !stuck_streaming) return std::nullopt;
  return t0 + to_streaming;
}

std::optional<TimePoint> Clip::settled_at() const {
  if (fails && !stuck) return t0 + to_streaming;
  if (stuck) return std::nullopt;
  return t0 + to_complete;
}

static const char* stage_name(Stage s) {
  switch (s) {
    case Stage::submitted: return "submitted";
    case Stage::queued: return "queued";
    case Stage::streaming: return "streaming";
    case Stage::complete: return "complete";
    case Stage::error: return "error";
  }
  return "?";
}

// ---------------------------------------------------------------------------
// Model

Model::Model(Config cfg) : cfg_(std::move(cfg)), rng_(splitmix64(cfg_.seed)), rules_(cfg_.faults.size()) {}

void Model::set_ports(int api_port, int cdn_port, bool tls) {
  api_port_ = api_port;
  cdn_port_ = cdn_port;
  tls_ = tls;
}

std::string Model::cdn_base() const {
  std::string host = cfg_.cdn_host;
  if (host.empty()) {
    host = cfg_.host;
    if (host == "0.0.0.0") host = "127.0.0.1";
    if (host == "::") host = "::1";
  }
  if (host.find(':') != std::string::npos && host.front() != '[') host = "[" + host + "]";
  return fmt::format("{}://{}:{}", tls_ ? "https" : "http", host, cdn_port_);
}

std::string Model::new_request_id() {
  ++request_counter_;
  return uuid_from(splitmix64(cfg_.seed ^ 0x72657121ull ^ request_counter_),
                   splitmix64(request_counter_ * 31 + 7));
}

void Model::connection_opened() {
  ++connections_;
  ++connections_total_;
  peak_connections_ = std::max(peak_connections_, connections_);
}
void Model::connection_closed() {
  if (connections_ > 0) --connections_;
}

void Model::count_response(const std::string& route, int status) {
  ++requests_total_;
  requests_[route][status == 0 ? std::string("reset") : std::to_string(status)]++;
}

Response Model::error(int status, const std::string& message, const std::string& path) {
  Response r;
  r.status = status;
  json::object o;
  if (cfg_.flavor == "suno-api") {
    o["error"] = message;
  } else {
    o["message"] = message;
    o["path"] = path;
    o["requestId"] = new_request_id();
    o["statusCode"] = status;
    o["timestamp"] = iso_now();
  }
  r.body = json::serialize(o);
  return r;
}

std::vector<const FaultRule*> Model::draw_faults(bool is_generate, bool is_get, bool is_audio, bool is_image,
                                                 bool is_cdn) {
  std::vector<const FaultRule*> fired;
  for (std::size_t i = 0; i < cfg_.faults.size(); ++i) {
    const FaultRule& f = cfg_.faults[i];
    bool in = false;
    switch (f.scope) {
      case Scope::api: in = is_generate || is_get; break;
      case Scope::generate: in = is_generate; break;
      case Scope::get: in = is_get; break;
      case Scope::cdn: in = is_cdn; break;
      case Scope::audio: in = is_audio; break;
      case Scope::image: in = is_image; break;
      case Scope::clips: in = false; break;
    }
    if (!in) continue;
    auto& st = rules_[i];
    ++st.seen;
    bool fire = std::find(f.nth.begin(), f.nth.end(), st.seen) != f.nth.end();
    if (!fire && f.probability > 0) fire = std::uniform_real_distribution<double>(0, 1)(rng_) < f.probability;
    if (fire) {
      ++st.fired;
      faults_fired_[f.text]++;
      fired.push_back(&f);
    }
  }
  return fired;
}

bool Model::authorize(const Request& req, std::string& key) {
  std::string_view a = req.authorization;
  if (starts_with(a, "Bearer ") || starts_with(a, "bearer ")) {
    key = std::string(a.substr(7));
    while (!key.empty() && key.back() == ' ') key.pop_back();
  } else {
    key.clear();
  }
  if (cfg_.flavor == "suno-api" && cfg_.accept_keys.empty()) {
    key = "(none)";
    return true;
  }
  if (key.empty()) return false;
  if (cfg_.accept_keys.empty()) return true;
  return std::find(cfg_.accept_keys.begin(), cfg_.accept_keys.end(), key) != cfg_.accept_keys.end();
}

std::optional<Response> Model::rate_limit(const std::string& key, bool generate, const std::string& path,
                                          TimePoint now) {
  KeyState& ks = keys_[key];
  Bucket& b = generate ? ks.generate : ks.get;
  if (b.init && now < b.retry_not_before) {
    if (now - b.limited_at < cfg_.retry_after_grace) ++retry_after_in_flight_;
    else ++retry_after_violations_;
  }
  double rate = generate ? cfg_.generate_rate : cfg_.get_rate;
  double burst = generate ? cfg_.generate_burst : cfg_.get_burst;
  if (rate <= 0) return std::nullopt;
  if (!b.init) {
    b.init = true;
    b.tokens = burst;
    b.last = now;
  }
  double elapsed = std::chrono::duration<double>(now - b.last).count();
  b.tokens = std::min(burst, b.tokens + elapsed * rate);
  b.last = now;
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return std::nullopt;
  }
  return too_many(b, (1.0 - b.tokens) / rate,
                  cfg_.flavor == "suno-api" ? "Too Many Requests" : "Too many requests, please slow down", path,
                  now);
}

std::optional<Response> Model::hourly_limit(const std::string& key, const std::string& path, TimePoint now) {
  if (cfg_.hourly_limit <= 0) return std::nullopt;
  KeyState& ks = keys_[key];
  while (!ks.accepted.empty() && ks.accepted.front() + cfg_.hourly_window <= now) ks.accepted.pop_front();
  if (ks.accepted.size() < static_cast<std::size_t>(cfg_.hourly_limit)) return std::nullopt;
  ++hourly_limited_;
  double wait = std::chrono::duration<double>(ks.accepted.front() + cfg_.hourly_window - now).count();
  ks.generate.init = true;
  return too_many(ks.generate, wait, "hourly limit reached for this key", path, now);
}

Response Model::too_many(Bucket& b, double wait, const std::string& message, const std::string& path,
                         TimePoint now) {
  ++rate_limited_;
  auto secs = static_cast<std::int64_t>(std::ceil(wait));
  if (secs < 1) secs = 1;
  Response r = error(429, message, path);
  // only a 429 outside an earlier Retry-After window opens a grace period, so a
  // client hammering every few ms cannot slide the window along
  if (now >= b.retry_not_before) b.limited_at = now;
  if (cfg_.retry_after == RetryAfter::seconds) {
    r.headers.emplace_back("Retry-After", std::to_string(secs));
    b.retry_not_before = now + std::chrono::seconds(secs);
  } else if (cfg_.retry_after == RetryAfter::date) {
    auto sys = std::chrono::system_clock::now();
    auto target = std::chrono::system_clock::to_time_t(sys) + secs + 1;  // whole seconds, rounded up
    auto until = std::chrono::system_clock::from_time_t(target);
    r.headers.emplace_back("Retry-After", http_date(target));
    b.retry_not_before = now + std::chrono::duration_cast<Clock::duration>(until - sys);
  }
  return r;
}

std::optional<Response> Model::bill(const std::string& key, const std::string& path) {
  KeyState& ks = keys_[key];
  if (cfg_.balance >= 0) {
    if (ks.balance == -1) ks.balance = cfg_.balance;  // first sight of this key
    if (ks.balance < cfg_.cost) {
      ++exhausted_;
      if (cfg_.flavor == "suno-api") return error(402, "Payment Required: insufficient credits", path);
      return error(403, "resource limit exhausted", path);
    }
    ks.balance -= cfg_.cost;
  }
  tokens_charged_ += cfg_.cost;
  return std::nullopt;
}

Clip& Model::new_clip(TimePoint now) {
  std::uint64_t idx = ++clip_counter_;
  std::uint64_t s = splitmix64(cfg_.seed * 0x2545F4914F6CDD1Dull + idx);
  std::string id = uuid_from(splitmix64(s ^ 1), splitmix64(s ^ 2));
  Clip& c = clips_[id];
  clip_order_.push_back(id);
  c.id = id;
  c.t0 = now;
  c.created_at = iso_now();
  std::mt19937_64 r(s);
  double mean = static_cast<double>(cfg_.latency.count());
  double jit = static_cast<double>(cfg_.latency_jitter.count());
  double total = mean;
  switch (cfg_.latency_dist) {
    case LatencyDist::normal: total = std::normal_distribution<double>(mean, jit > 0 ? jit : 1e-9)(r); break;
    case LatencyDist::uniform: total = std::uniform_real_distribution<double>(mean - jit, mean + jit)(r); break;
    case LatencyDist::fixed: total = mean; break;
    case LatencyDist::exponential: total = std::exponential_distribution<double>(1.0 / std::max(mean, 1.0))(r); break;
  }
  total = std::max(total, 1000.0);  // at least 1 ms
  // per-stage shares: submitted 10%, queued 25%, streaming 65% (each jittered)
  double f1 = 0.10 * std::uniform_real_distribution<double>(0.5, 1.5)(r);
  double f2 = f1 + 0.25 * std::uniform_real_distribution<double>(0.5, 1.5)(r);
  c.to_queued = Micros(static_cast<std::int64_t>(total * f1));
  c.to_streaming = Micros(static_cast<std::int64_t>(total * f2));
  c.to_complete = Micros(static_cast<std::int64_t>(total));
  double u = static_cast<double>(hash64(id, 0x647572) >> 11) / static_cast<double>(1ull << 53);
  c.mp3 = Mp3(id, cfg_.duration_min + (cfg_.duration_max - cfg_.duration_min) * u);
  // clip faults
  for (std::size_t i = 0; i < cfg_.faults.size(); ++i) {
    const FaultRule& f = cfg_.faults[i];
    if (f.scope != Scope::clips) continue;
    auto& st = rules_[i];
    ++st.seen;
    bool fire = std::find(f.nth.begin(), f.nth.end(), st.seen) != f.nth.end();
    if (!fire && f.probability > 0) fire = std::uniform_real_distribution<double>(0, 1)(rng_) < f.probability;
    if (!fire) continue;
    ++st.fired;
    faults_fired_[f.text]++;
    if (f.kind == FaultKind::clip_error && !c.stuck) {
      c.fails = true;
      c.error_message = f.message;
    } else if (f.kind == FaultKind::audio_url) {
      c.audio_url = f.location;
    } else if (f.kind == FaultKind::stuck && !c.fails) {
      c.stuck = true;
      c.stuck_streaming = f.stuck_streaming;
    }
  }
  return c;
}

json::object Model::clip_json(const Clip& c, TimePoint now) const {
  Stage st = c.stage(now);
  json::object o;
  o["id"] = c.id;
  o["title"] = c.title;
  o["status"] = stage_name(st);
  std::string audio, image, video;
  if (st == Stage::streaming) {
    audio = cdn_base() + "/stream/" + c.id + ".mp3";
    image = cdn_base() + "/image/" + c.id + ".jpeg";
  } else if (st == Stage::complete) {
    audio = c.audio_url.empty() ? cdn_base() + "/audio/" + c.id + ".mp3" : c.audio_url;
    image = cdn_base() + "/image/" + c.id + ".jpeg";
  } else if (st == Stage::error) {
    audio = "None.mp3";
  }
  o["audio_url"] = audio;
  o["image_url"] = image;
  o["video_url"] = video;
  o["lyric"] = c.lyric;
  json::value duration = nullptr;
  if (st == Stage::complete) duration = std::round(c.mp3.seconds() * 1000.0) / 1000.0;
  bool v2 = cfg_.flavor == "aimlapi-v2";
  if (v2) {
    json::object meta;
    meta["prompt"] = c.lyric;
    meta["tags"] = c.tags;
    meta["duration"] = duration;
    if (c.description_mode) meta["gpt_description_prompt"] = c.description;
    o["metadata"] = std::move(meta);
  } else {
    o["prompt"] = c.lyric;
    o["tags"] = c.tags;
    o["duration"] = duration;
    if (c.description_mode) o["gpt_description_prompt"] = c.description;
  }
  o["model_name"] = c.model;
  o["type"] = "gen";
  o["created_at"] = c.created_at;
  if (st == Stage::error) o["error_message"] = c.error_message;
  else o["error_message"] = nullptr;
  return o;
}

json::array Model::clips_json(const std::vector<std::string>& ids, TimePoint now) const {
  json::array a;
  for (auto& id : ids) {
    auto it = clips_.find(id);
    if (it != clips_.end()) a.push_back(clip_json(it->second, now));
  }
  return a;
}

Response Model::generate(const Request& req, const std::string& path, bool custom, TimePoint now,
                         const std::string& key) {
  ++generate_requests_;
  if (auto r = rate_limit(key, true, path, now)) return *r;
  json::value body;
  boost::system::error_code ec;
  body = json::parse(req.body, ec);
  if (ec || !body.is_object()) return error(400, "body must be a JSON object", path);
  auto& o = body.as_object();
  auto str = [&](const char* k, std::string& out, bool& bad) {
    if (auto* v = o.if_contains(k)) {
      if (v->is_string()) out = std::string(v->as_string());
      else if (!v->is_null()) bad = true;
    }
  };
  bool bad = false;
  std::string prompt, tags, title, model = "chirp-v3-5", desc;
  bool instrumental = false, wait_audio = false;
  bool v2 = cfg_.flavor == "aimlapi-v2";
  str("prompt", prompt, bad);
  str("tags", tags, bad);
  str("title", title, bad);
  str("gpt_description_prompt", desc, bad);
  if (auto* v = o.if_contains("model")) {
    if (!v->is_string()) bad = true;
    else model = std::string(v->as_string());
  }
  if (auto* v = o.if_contains("make_instrumental")) {
    if (v->is_bool()) instrumental = v->as_bool();
    else if (!v->is_null()) bad = true;
  }
  if (auto* v = o.if_contains("wait_audio")) {
    if (v->is_bool()) wait_audio = v->as_bool();
    else if (!v->is_null()) bad = true;
  }
  if (bad) return error(400, "body validation failed: wrong field type", path);
  if (v2) {
    custom = desc.empty();
    if (!custom) prompt.clear();
  }
  if (prompt.empty() && (custom || !v2)) {
    return error(400, v2 && !custom ? "gpt_description_prompt is required" : "prompt is required", path);
  }
  if (custom && title.empty() && !v2) return error(400, "title is required", path);
  if (model != "chirp-v3-5" && model != "chirp-v3-0")
    return error(400, "model must be one of chirp-v3-5, chirp-v3-0", path);
  if (auto r = hourly_limit(key, path, now)) return *r;
  if (auto r = bill(key, path)) return *r;
  keys_[key].accepted.push_back(now);
  if (keys_[key].accepted.size() > 100000) keys_[key].accepted.pop_front();

  json::object hashed = o;
  hashed.erase("wait_audio");
  std::string canon = path + " ";
  canonical(hashed, canon);
  std::string phash = sha256_hex(canon).substr(0, 16);
  submissions_by_payload_[phash]++;
  ++generate_accepted_;

  std::vector<std::string> ids;
  for (int i = 0; i < 2; ++i) {
    Clip& c = new_clip(now);
    c.payload_hash = phash;
    c.model = model;
    c.instrumental = instrumental;
    c.tags = tags;
    c.description_mode = !custom;
    if (custom) {
      c.title = title;
      c.lyric = prompt;
    } else {
      c.description = v2 ? desc : prompt;
      c.title = title.empty() ? c.description.substr(0, 40) : title;
      c.lyric = instrumental ? "" : lyrics_for(c.description, hash64(c.id));
    }
    ids.push_back(c.id);
  }
  Response r;
  if (v2) {
    json::object out;
    json::array a;
    for (auto& id : ids) a.push_back(json::string(id));
    out["clip_ids"] = std::move(a);
    r.body = json::serialize(out);
    return r;
  }
  if (wait_audio) {
    r.wait = true;
    r.wait_ids = ids;
    TimePoint until = now + cfg_.wait_max;
    TimePoint latest = now;
    for (auto& id : ids) {
      auto t = clips_[id].ready_at();
      if (!t) latest = until;
      else latest = std::max(latest, *t);
    }
    r.wait_until = std::min(latest, until);
    return r;
  }
  r.body = json::serialize(clips_json(ids, now));
  return r;
}

namespace {

// huge-json: spaces after the opening bracket keep the answer valid JSON.
std::string pad_json(std::string body, std::uint64_t size) {
  if (size > body.size() && !body.empty()) body.insert(1, static_cast<std::size_t>(size - body.size()), ' ');
  return body;
}

}  // namespace

std::string Model::render_wait(const Response& r, TimePoint now) {
  if (r.wait_kind == 1) {
    auto a = clips_json(r.wait_ids, now);
    return pad_json(a.empty() ? "{}" : json::serialize(a[0]), r.json_size);
  }
  return pad_json(json::serialize(clips_json(r.wait_ids, now)), r.json_size);
}

Response Model::handle(const Request& req, TimePoint now) {
  return req.cdn ? handle_cdn(req, now) : handle_api(req, now);
}

Response Model::handle_api(const Request& req, TimePoint now) {
  std::string target = lenient_target(req.target);
  auto parsed = boost::urls::parse_origin_form(target);
  if (!parsed) {
    Response r = error(400, "bad request target", req.target);
    r.route = "other";
    return r;
  }
  std::string path = parsed->path();
  const std::string& flavor = cfg_.flavor;
  bool post = req.method == "POST";
  bool get = req.method == "GET";

  if (path == "/__sim/health") {
    Response r;
    r.route = "GET /__sim/health";
    r.body = "{\"ok\":true}";
    return r;
  }
  if (path == "/__sim/stats") {
    Response r;
    r.route = "GET /__sim/stats";
    r.body = json::serialize(stats(now));
    return r;
  }

  enum { none, gen_custom, gen_desc, get_clips, v2_one, v2_many } kind = none;
  if (flavor == "aimlapi") {
    if (post && path == kCustomPath) kind = gen_custom;
    else if (post && path == kDescPath) kind = gen_desc;
    else if (get && path == "/") kind = get_clips;
  } else if (flavor == "suno-api") {
    if (post && path == "/api/custom_generate") kind = gen_custom;
    else if (post && path == "/api/generate") kind = gen_desc;
    else if (get && path == "/api/get") kind = get_clips;
  } else {
    if (post && path == kV2Generate) kind = gen_custom;
    else if (get && path == kV2Generate) kind = v2_one;
    else if (get && path == kV2Clips) kind = v2_many;
  }
  if (kind == none) {
    Response r = error(404, "Cannot " + req.method + " " + path, path);
    r.route = "other";
    return r;
  }
  bool is_gen = kind == gen_custom || kind == gen_desc;
  std::string route = req.method + " " + path;

  Response fault_mods;
  for (const FaultRule* f : draw_faults(is_gen, !is_gen, false, false, false)) {
    switch (f->kind) {
      case FaultKind::http500:
      case FaultKind::http502:
      case FaultKind::http503: {
        int code = f->kind == FaultKind::http500 ? 500 : f->kind == FaultKind::http502 ? 502 : 503;
        Response r = code == 502 ? Response{} : error(code, code == 503 ? "Service Unavailable" : "Internal server error", path);
        if (code == 502) {
          r.status = 502;
          r.content_type = "text/html";
          r.body = "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>\n";
        }
        if (f->param.count() > 0) {
          auto secs = std::max<std::int64_t>(1, (f->param.count() + 999999) / 1000000);
          r.headers.emplace_back("Retry-After", std::to_string(secs));
        }
        r.route = route;
        r.delay = fault_mods.delay;
        return r;
      }
      case FaultKind::reset: {
        Response r;
        r.action = Response::Action::reset;
        r.route = route;
        return r;
      }
      case FaultKind::delay: fault_mods.delay += f->param; break;
      case FaultKind::trickle: fault_mods.trickle = f->param; break;
      case FaultKind::truncate: fault_mods.truncate = true; break;
      case FaultKind::no_length: fault_mods.no_length = true; break;
      case FaultKind::huge_length: fault_mods.announce_length = f->size; break;
      case FaultKind::huge_json: fault_mods.json_size = f->size; break;
      default: break;
    }
  }

  std::string key;
  if (!authorize(req, key)) {
    ++unauthorized_;
    Response r = error(401, key.empty() ? "Missing or empty bearer token" : "Invalid API key", path);
    if (flavor == "suno-api") r = error(401, "Unauthorized", path);
    r.route = route;
    r.delay = fault_mods.delay;
    return r;
  }

  Response r;
  if (is_gen) {
    r = generate(req, path, kind == gen_custom, now, key);
  } else {
    ++get_requests_;
    if (auto limited = rate_limit(key, false, path, now)) {
      r = *limited;
    } else {
      std::vector<std::string> ids;
      for (auto p : parsed->params()) {
        std::string k = p.key;
        if (kind == get_clips && flavor == "aimlapi" && (k == "ids" || (starts_with(k, "ids[") && k.back() == ']')))
          ids.push_back(p.value);
        else if (kind == get_clips && flavor == "suno-api" && k == "ids") {
          std::string v = p.value;
          std::size_t pos = 0;
          while (pos <= v.size()) {
            auto comma = v.find(',', pos);
            std::string id = v.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
            if (!id.empty()) ids.push_back(id);
            if (comma == std::string::npos) break;
            pos = comma + 1;
          }
        } else if (kind == v2_one && k == "clip_id") ids.push_back(p.value);
        else if (kind == v2_many && (k == "clip_ids[]" || k == "clip_ids")) ids.push_back(p.value);
      }
      if (kind == get_clips) {
        if (flavor == "suno-api" && ids.empty()) {
          // the whole library, as the real server does
          ids = clip_order_;
        }
        r.body = json::serialize(clips_json(ids, now));
      } else {
        if (ids.empty()) r = error(400, "clip_id is required", path);
        else if (kind == v2_one && !clips_.count(ids[0])) r = error(404, "clip not found", path);
        else if (kind == v2_many && ids.size() > 6) r = error(400, "at most 6 clip_ids per request", path);
        else {
          // long poll until every clip reached `status` (or a later stage), or wait-max
          std::string want = "complete";
          for (auto p : parsed->params())
            if (p.key == "status") want = p.value;
          r.wait = true;
          r.wait_kind = kind == v2_one ? 1 : 2;
          r.wait_ids = ids;
          TimePoint until = now + cfg_.wait_max;
          TimePoint latest = now;
          for (auto& id : ids) {
            auto it = clips_.find(id);
            if (it == clips_.end()) continue;
            std::optional<TimePoint> t;
            if (want == "streaming") t = it->second.ready_at();
            else if (want == "queued") t = it->second.t0 + it->second.to_queued;
            else t = it->second.settled_at();
            if (it->second.fails) t = it->second.t0 + it->second.to_streaming;
            latest = t ? std::max(latest, *t) : until;
          }
          r.wait_until = std::min(latest, until);
        }
      }
    }
  }
  r.route = route;
  r.key = key;
  r.delay += fault_mods.delay;
  r.trickle = fault_mods.trickle;
  r.truncate = fault_mods.truncate;
  r.no_length = fault_mods.no_length;
  r.announce_length = fault_mods.announce_length;
  r.json_size = fault_mods.json_size;
  if (!r.wait) r.body = pad_json(std::move(r.body), r.json_size);
  return r;
}

namespace {

struct Range {
  std::uint64_t first = 0, last = 0;  // inclusive
};
enum class RangeResult { none, ok, unsatisfiable };

RangeResult parse_range(const std::string& h, std::uint64_t size, Range& out) {
  if (h.empty()) return RangeResult::none;
  if (!starts_with(h, "bytes=")) return RangeResult::none;
  std::string spec = h.substr(6);
  if (spec.find(',') != std::string::npos) return RangeResult::none;  // multiple ranges: send it all
  auto dash = spec.find('-');
  if (dash == std::string::npos) return RangeResult::none;
  std::string a = spec.substr(0, dash), b = spec.substr(dash + 1);
  auto num = [](const std::string& s, std::uint64_t& v) {
    if (s.empty() || s.size() > 19) return false;
    for (char c : s)
      if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    v = std::stoull(s);
    return true;
  };
  std::uint64_t x = 0, y = 0;
  if (a.empty()) {
    if (!num(b, y)) return RangeResult::none;
    if (y == 0 || size == 0) return RangeResult::unsatisfiable;
    out.first = y >= size ? 0 : size - y;
    out.last = size - 1;
    return RangeResult::ok;
  }
  if (!num(a, x)) return RangeResult::none;
  if (b.empty()) y = size ? size - 1 : 0;
  else if (!num(b, y)) return RangeResult::none;
  if (!b.empty() && y < x) return RangeResult::none;
  if (x >= size) return RangeResult::unsatisfiable;
  out.first = x;
  out.last = std::min(y, size - 1);
  return RangeResult::ok;
}

}  // namespace

Response Model::handle_cdn(const Request& req, TimePoint now) {
  std::string target = lenient_target(req.target);
  auto parsed = boost::urls::parse_origin_form(target);
  Response r;
  r.content_type = "text/plain";
  if (!parsed) {
    r.status = 400;
    r.body = "bad request\n";
    r.route = "CDN other";
    return r;
  }
  std::string path = parsed->path();
  if (path == "/__sim/health") {
    r.route = "CDN /__sim/health";
    r.body = "ok\n";
    return r;
  }
  if (!req.authorization.empty()) ++cdn_with_authorization_;  // a client leaking its key
  bool get = req.method == "GET" || req.method == "HEAD";
  r.head = req.method == "HEAD";
  enum { other, audio, stream, image } kind = other;
  std::string id;
  auto take = [&](std::string_view prefix, std::string_view suffix) {
    if (starts_with(path, prefix) && path.size() > prefix.size() + suffix.size() &&
        path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0) {
      id = path.substr(prefix.size(), path.size() - prefix.size() - suffix.size());
      return true;
    }
    return false;
  };
  if (get && take("/audio/", ".mp3")) kind = audio;
  else if (get && take("/stream/", ".mp3")) kind = stream;
  else if (get && take("/image/", ".jpeg")) kind = image;
  r.route = kind == audio ? "CDN /audio" : kind == stream ? "CDN /stream" : kind == image ? "CDN /image" : "CDN other";
  auto it = clips_.find(id);
  if (kind == other || it == clips_.end()) {
    r.status = 404;
    r.body = "not found\n";
    return r;
  }
  const Clip& c = it->second;
  Stage st = c.stage(now);

  // redirect hops left from an earlier 302 skip the fault draw
  int hops = -1;
  for (auto p : parsed->params())
    if (p.key == "hops") hops = std::atoi(std::string(p.value).c_str());
  if (hops > 0) {
    r.status = 302;
    r.headers.emplace_back("Location", fmt::format("{}{}?hops={}", cdn_base(), path, hops - 1));
    r.body = "";
    return r;
  }
  if (hops < 0) {
    for (const FaultRule* f : draw_faults(false, false, kind == audio, kind == image, true)) {
      switch (f->kind) {
        case FaultKind::http500:
        case FaultKind::http502:
        case FaultKind::http503:
          r.status = f->kind == FaultKind::http500 ? 500 : f->kind == FaultKind::http502 ? 502 : 503;
          r.body = "upstream error\n";
          return r;
        case FaultKind::reset: r.action = Response::Action::reset; return r;
        case FaultKind::cdn403:
          r.status = 403;
          r.content_type = "application/xml";
          r.body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>\n";
          return r;
        case FaultKind::html:
          r.status = 200;
          r.content_type = "text/html; charset=utf-8";
          r.body = "<!DOCTYPE html>\n<html><head><title>Just a moment...</title></head><body><h1>Checking your browser</h1></body></html>\n";
          return r;
        case FaultKind::redirect:
          r.status = 302;
          r.headers.emplace_back("Location", fmt::format("{}{}?hops={}", cdn_base(), path, f->count - 1));
          return r;
        case FaultKind::redirect_to:
          r.status = 302;
          r.headers.emplace_back("Location", f->location);
          return r;
        case FaultKind::delay: r.delay += f->param; break;
        case FaultKind::trickle: r.trickle = f->param; break;
        case FaultKind::truncate: r.truncate = true; break;
        case FaultKind::no_length: r.no_length = true; break;
        case FaultKind::huge_length: r.announce_length = f->size; break;
        default: break;
      }
    }
  }

  if (kind == image) {
    if (st == Stage::submitted || st == Stage::queued || st == Stage::error) {
      r.status = 404;
      r.body = "not found\n";
      return r;
    }
    r.content_type = "image/jpeg";
    r.body = make_jpeg(c.id);
    r.headers.emplace_back("ETag", fmt::format("\"{:016x}\"", hash64(c.id, 0x696d67)));
    return r;
  }
  std::uint64_t size = 0;
  if (kind == audio) {
    if (st != Stage::complete) {
      r.status = 404;
      r.body = "not found\n";
      return r;
    }
    size = c.mp3.size();
  } else {
    if (st != Stage::streaming && st != Stage::complete) {
      r.status = 404;
      r.body = "not found\n";
      return r;
    }
    double frac = 1.0;
    if (st == Stage::streaming && !c.stuck) {
      double done = std::chrono::duration<double>(now - c.t0 - c.to_streaming).count();
      double all = std::chrono::duration<double>(c.to_complete - c.to_streaming).count();
      frac = all > 0 ? std::clamp(done / all, 0.0, 1.0) : 1.0;
    } else if (c.stuck) {
      frac = 0.3;
    }
    size = static_cast<std::uint64_t>(static_cast<double>(c.mp3.frames) * frac) * Mp3::frame_bytes;
  }
  r.content_type = "audio/mpeg";
  r.media = c.mp3;
  std::string etag = fmt::format("\"{:016x}-{:x}\"", c.mp3.key, size);
  r.headers.emplace_back("ETag", etag);
  r.headers.emplace_back("Accept-Ranges", "bytes");
  Range range;
  RangeResult rr = parse_range(req.range, size, range);
  if (rr != RangeResult::none && !req.if_range.empty() && req.if_range != etag) rr = RangeResult::none;
  if (rr == RangeResult::unsatisfiable) {
    r.media.reset();
    r.status = 416;
    r.content_type = "text/plain";
    r.headers.emplace_back("Content-Range", fmt::format("bytes */{}", size));
    r.body = "range not satisfiable\n";
    return r;
  }
  if (rr == RangeResult::ok) {
    r.status = 206;
    r.media_offset = range.first;
    r.media_length = range.last - range.first + 1;
    r.headers.emplace_back("Content-Range", fmt::format("bytes {}-{}/{}", range.first, range.last, size));
  } else {
    r.media_offset = 0;
    r.media_length = size;
  }
  return r;
}

json::object Model::stats(TimePoint now) {
  json::object o;
  json::object req;
  for (auto& [route, by] : requests_) {
    json::object s;
    for (auto& [code, n] : by) s[code] = n;
    req[route] = std::move(s);
  }
  o["requests"] = std::move(req);
  o["requests_total"] = requests_total_;
  o["generate_requests"] = generate_requests_;
  o["generate_accepted"] = generate_accepted_;
  o["get_requests"] = get_requests_;
  o["tokens_charged"] = tokens_charged_;
  json::object subs;
  std::uint64_t dups = 0;
  for (auto& [h, n] : submissions_by_payload_) {
    subs[h] = n;
    if (n > 1) dups += n - 1;
  }
  o["submissions_by_payload"] = std::move(subs);
  o["duplicate_submissions"] = dups;
  o["rate_limited"] = rate_limited_;
  o["hourly_limited"] = hourly_limited_;
  o["retry_after_violations"] = retry_after_violations_;
  o["retry_after_in_flight"] = retry_after_in_flight_;
  o["unauthorized"] = unauthorized_;
  o["balance_exhausted"] = exhausted_;
  o["connections"] = connections_;
  o["peak_connections"] = peak_connections_;
  o["connections_total"] = connections_total_;
  o["bytes_served"] = bytes_served_;
  o["cdn_requests_with_authorization"] = cdn_with_authorization_;
  json::object faults;
  for (auto& [t, n] : faults_fired_) faults[t] = n;
  o["faults_fired"] = std::move(faults);
  json::object clips;
  for (auto& id : clip_order_) {
    const Clip& c = clips_.at(id);
    Stage st = c.stage(now);
    json::object co;
    co["status"] = stage_name(st);
    co["title"] = c.title;
    co["payload"] = c.payload_hash;
    co["bytes"] = c.mp3.size();
    co["duration"] = std::round(c.mp3.seconds() * 1000.0) / 1000.0;
    // When it was created (ms since the simulator started) and the time it
    // was given to complete: what a benchmark's lower bound is made of.
    co["created_ms"] = std::chrono::duration<double, std::milli>(c.t0 - started_).count();
    co["latency_ms"] = std::chrono::duration<double, std::milli>(c.to_complete).count();
    if (c.sha.empty()) c.sha = c.mp3.sha256();
    co["sha256"] = c.sha;
    clips[id] = std::move(co);
  }
  o["clips"] = std::move(clips);
  return o;
}

std::string Model::log_line(const Request& req, const Response& res) const {
  double t = std::chrono::duration<double>(Clock::now() - started_).count();
  return fmt::format("+{:.3f}s {} {} {} -> {} {}", t, req.cdn ? "cdn" : "api", req.method, req.target,
                     res.action == Response::Action::reset ? std::string("reset") : std::to_string(res.status),
                     res.body_size());
}

}  // namespace sim
