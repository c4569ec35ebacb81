#include "sim/model.hpp"

#include "sim/util.hpp"

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

const char* stage_name(Stage s) {
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

Model::Model(Config cfg) : cfg_(std::move(cfg)), rng_(splitmix64(cfg_.seed)), rules_(cfg_.faults.size()) {
  auto add = [&](const std::vector<Route>& table) { routes_.insert(routes_.end(), table.begin(), table.end()); };
  if (cfg_.flavor == "aimlapi") {
    add(aiml_legacy_routes());
    add(aiml_music_routes());
  } else if (cfg_.flavor == "aimlapi-v2") {
    add(aiml_v2_routes());
  } else if (cfg_.flavor == "suno-api") {
    add(suno_api_routes());
    style_ = ErrorStyle::suno_api;
  } else if (cfg_.flavor == "sunoapi") {
    add(sunoapi_routes());
    style_ = ErrorStyle::sunoapi;
  }
}

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
  switch (style_) {
    case ErrorStyle::suno_api: o["error"] = message; break;
    case ErrorStyle::aiml:
      o["message"] = message;
      o["path"] = path;
      o["requestId"] = new_request_id();
      o["statusCode"] = status;
      o["timestamp"] = iso_now();
      break;
    case ErrorStyle::sunoapi:
      // the code lives in the body; the HTTP status says the same unless
      // the service answers 200 whatever happened
      o["code"] = status;
      o["msg"] = message;
      o["data"] = nullptr;
      r.code = status;
      if (cfg_.body_codes_http200) r.status = 200;
      if (r.status == 430) r.reason = "Call Frequency Too High";
      if (r.status == 455) r.reason = "System Maintenance";
      break;
  }
  r.body = json::serialize(o);
  return r;
}

Response Model::fail(Fail f, const std::string& message, const std::string& path) {
  bool sunoapi = style_ == ErrorStyle::sunoapi;
  int status = 500;
  switch (f) {
    case Fail::bad_request: status = 400; break;
    case Fail::too_long: status = sunoapi ? 413 : 400; break;
    case Fail::unauthorized: status = 401; break;
    case Fail::no_credits: status = sunoapi ? 429 : style_ == ErrorStyle::suno_api ? 402 : 403; break;
    case Fail::not_found: status = 404; break;
    case Fail::rate_limited: status = sunoapi ? cfg_.rate_limit_code : 429; break;
    case Fail::server_error: status = 500; break;
    case Fail::unavailable: status = 503; break;
    case Fail::maintenance: status = sunoapi ? 455 : 503; break;
  }
  return error(status, message, path);
}

bool Model::draw(std::size_t i) {
  const FaultRule& f = cfg_.faults[i];
  auto& st = rules_[i];
  ++st.seen;
  bool fire = std::find(f.nth.begin(), f.nth.end(), st.seen) != f.nth.end();
  if (!fire && f.probability > 0) fire = std::uniform_real_distribution<double>(0, 1)(rng_) < f.probability;
  if (fire) {
    ++st.fired;
    faults_fired_[f.text]++;
  }
  return fire;
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
      case Scope::clips:
      case Scope::tasks: in = false; break;
    }
    if (in && draw(i)) fired.push_back(&f);
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
  if (style_ == ErrorStyle::suno_api && cfg_.accept_keys.empty()) {
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
  const char* message = style_ == ErrorStyle::suno_api ? "Too Many Requests"
                        : style_ == ErrorStyle::sunoapi ? "Your call frequency is too high. Please try again later."
                                                        : "Too many requests, please slow down";
  ++ks.rate_limited;
  return too_many(b, (1.0 - b.tokens) / rate, message, path, now);
}

std::optional<Response> Model::hourly_limit(const std::string& key, const std::string& path, TimePoint now) {
  if (cfg_.hourly_limit <= 0) return std::nullopt;
  KeyState& ks = keys_[key];
  while (!ks.accepted.empty() && ks.accepted.front() + cfg_.hourly_window <= now) ks.accepted.pop_front();
  if (ks.accepted.size() < static_cast<std::size_t>(cfg_.hourly_limit)) return std::nullopt;
  ++hourly_limited_;
  ++ks.rate_limited;
  double wait = std::chrono::duration<double>(ks.accepted.front() + cfg_.hourly_window - now).count();
  ks.generate.init = true;
  return too_many(ks.generate, wait, "hourly limit reached for this key", path, now);
}

Response Model::too_many(Bucket& b, double wait, const std::string& message, const std::string& path,
                         TimePoint now) {
  ++rate_limited_;
  auto secs = static_cast<std::int64_t>(std::ceil(wait));
  if (secs < 1) secs = 1;
  Response r = fail(Fail::rate_limited, message, path);
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

std::optional<Response> Model::bill(const std::string& key, std::int64_t cost, const std::string& path) {
  KeyState& ks = keys_[key];
  if (cfg_.balance >= 0) {
    if (ks.balance == -1) ks.balance = cfg_.balance;  // first sight of this key
    if (ks.balance < cost) {
      ++exhausted_;
      const char* message = style_ == ErrorStyle::suno_api ? "Payment Required: insufficient credits"
                            : style_ == ErrorStyle::sunoapi
                                ? "Insufficient credits: the balance is too low for this request"
                                : "resource limit exhausted";
      return fail(Fail::no_credits, message, path);
    }
    ks.balance -= cost;
  }
  tokens_charged_ += cost;
  ks.tokens += cost;
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
  c.order = idx;
  c.audio = clip_audio(c, drawn_duration(id));
  // clip faults
  for (std::size_t i = 0; i < cfg_.faults.size(); ++i) {
    const FaultRule& f = cfg_.faults[i];
    if (f.scope != Scope::clips || !draw(i)) continue;
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

Audio Model::clip_audio(const Clip& c, double secs, bool wav, std::uint32_t rate, std::uint16_t channels) const {
  if (cfg_.real_audio) {
    std::string profile = c.order >= 1 && c.order <= cfg_.loudness_profile.size()
                              ? cfg_.loudness_profile[c.order - 1]
                              : std::string("normal");
    return Audio(make_encoded(c.id, secs, wav, rate, channels, profile), wav);
  }
  if (wav) return Wav(c.id, secs, rate, channels);
  return Mp3(c.id, secs);
}

double Model::drawn_duration(const std::string& id) const {
  double u = static_cast<double>(hash64(id, 0x647572) >> 11) / static_cast<double>(1ull << 53);
  return cfg_.duration_min + (cfg_.duration_max - cfg_.duration_min) * u;
}

std::int64_t Model::cost_of(const std::string& model, std::int64_t fallback) const {
  auto it = cfg_.model_cost.find(model);
  return it == cfg_.model_cost.end() ? fallback : it->second;
}

std::optional<Response> Model::admit(const Call& call, const json::object& body, std::int64_t cost,
                                     std::string& payload_hash) {
  if (auto r = hourly_limit(call.key, call.path, call.now)) return r;
  if (auto r = bill(call.key, cost, call.path)) return r;
  auto& accepted = keys_[call.key].accepted;
  accepted.push_back(call.now);
  if (accepted.size() > 100000) accepted.pop_front();
  json::object hashed = body;
  hashed.erase("wait_audio");
  std::string canon = call.path + " ";
  canonical(hashed, canon);
  payload_hash = sha256_hex(canon).substr(0, 16);
  submissions_by_payload_[payload_hash]++;
  ++generate_accepted_;
  ++keys_[call.key].generate_accepted;
  return std::nullopt;
}

Task& Model::new_task(const Call& call, int n, const std::string& payload_hash, std::int64_t cost,
                      const std::string& model, const std::vector<std::string>& texts, bool own_id) {
  std::vector<Clip*> made;
  for (int i = 0; i < n; ++i) made.push_back(&new_clip(call.now));
  std::string id;
  if (own_id) {
    ++task_counter_;
    id = fmt::format("{:016x}{:016x}", splitmix64(cfg_.seed ^ 0x7461736bull ^ task_counter_),
                     splitmix64(task_counter_ * 0x9e37 + 3));
  } else {
    id = made.front()->id;
  }
  for (Clip* c : made) c->owner = call.key;
  Task& t = tasks_[id];
  t.id = id;
  t.owner = call.key;
  t.model = model;
  t.param = call.req.body;
  t.cost = cost;
  t.create_ms = epoch_ms_now();
  auto fail_all = [&](const std::string& name, const std::string& message, bool moderated) {
    for (Clip* c : made) {
      c->fails = true;
      c->stuck = false;
      c->error_name = name;
      c->error_message = message;
      c->moderated = moderated;
    }
  };
  bool dup = false;  // dup-clips: the answer names the previous task's clips
  for (std::size_t i = 0; i < cfg_.faults.size(); ++i) {
    const FaultRule& f = cfg_.faults[i];
    if (f.scope != Scope::tasks || !draw(i)) continue;
    if (f.kind == FaultKind::dup_clips) {
      dup = true;
    } else if (f.kind == FaultKind::moderation) {
      fail_all("ContentModerationError", f.message, true);
    } else if (f.kind == FaultKind::task_fail) {
      t.fail_status = f.status;
      t.fail_message = f.message;
      if (f.status == "SENSITIVE_WORD_ERROR") fail_all("ContentModerationError", f.message, true);
      else if (f.status != "CALLBACK_EXCEPTION" || style_ != ErrorStyle::sunoapi)
        fail_all("GenerationError", f.message, false);
    }
  }
  for (auto& text : texts) {
    std::string low = lower(text);
    for (auto& w : cfg_.sensitive_words)
      if (!w.empty() && low.find(w) != std::string::npos) {
        fail_all("ContentModerationError", "Your input contains sensitive words: \"" + w + "\"", true);
        break;
      }
  }
  for (Clip* c : made) {
    c->task_id = id;
    c->credits = cost;
    c->payload_hash = payload_hash;
    c->model = model;
    t.clips.push_back(c->id);
  }
  // dup-clips: the answer names the previous task's clips (ids another
  // request already owns); the new clips exist, unnamed.
  if (dup)
    if (auto prev = tasks_.find(last_task_); prev != tasks_.end() && prev->first != id) t.clips = prev->second.clips;
  last_task_ = id;
  return t;
}

bool Model::expired(const Clip& c, TimePoint now) const {
  return cfg_.file_ttl.count() > 0 && c.stage(now) == Stage::complete && now >= c.t0 + c.to_complete + cfg_.file_ttl;
}

Response Model::handle(const Request& req, TimePoint now) {
  return req.cdn ? handle_cdn(req, now) : handle_api(req, now);
}

std::optional<Response> Model::api_faults(bool is_gen, const std::string& path, Response& mods) {
  for (const FaultRule* f : draw_faults(is_gen, !is_gen, false, false, false)) {
    switch (f->kind) {
      case FaultKind::http500:
      case FaultKind::http502:
      case FaultKind::http503:
      case FaultKind::maintenance: {
        Response r;
        if (f->kind == FaultKind::http502) {  // from a proxy in front of the service: never its own shape
          r.status = 502;
          r.content_type = "text/html";
          r.body = "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>\n";
        } else if (f->kind == FaultKind::maintenance) {
          r = fail(Fail::maintenance, "The system is under maintenance, please try again later", path);
        } else if (f->kind == FaultKind::http503) {
          r = fail(Fail::unavailable, "Service Unavailable", path);
        } else {
          r = fail(Fail::server_error, "Internal server error", path);
        }
        if (f->param.count() > 0) {
          auto secs = std::max<std::int64_t>(1, (f->param.count() + 999999) / 1000000);
          r.headers.emplace_back("Retry-After", std::to_string(secs));
        }
        r.delay = mods.delay;
        return r;
      }
      case FaultKind::reset: {
        Response r;
        r.action = Response::Action::reset;
        return r;
      }
      case FaultKind::delay: mods.delay += f->param; break;
      case FaultKind::trickle: mods.trickle = f->param; break;
      case FaultKind::truncate: mods.truncate = true; break;
      case FaultKind::no_length: mods.no_length = true; break;
      case FaultKind::huge_length: mods.announce_length = f->size; break;
      case FaultKind::short_length: mods.short_length = true; break;
      case FaultKind::huge_json: mods.json_size = f->size; break;
      default: break;
    }
  }
  return std::nullopt;
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

  const Route* route = nullptr;
  for (auto& rt : routes_)
    if (rt.method == req.method && rt.path == path) route = &rt;
  if (!route) {
    Response r = fail(Fail::not_found, "Cannot " + req.method + " " + path, path);
    r.route = "other";
    return r;
  }
  bool is_gen = route->cls == RouteClass::generate;
  Call call{req, path, {}, {}, now, req.method + " " + path};
  for (auto p : parsed->params()) call.params.emplace_back(std::string(p.key), std::string(p.value));

  // Order: route, faults, key, rate limit, then the route's own checks.
  Response r;
  Response mods;
  if (auto final_answer = api_faults(is_gen, path, mods)) {
    r = std::move(*final_answer);
  } else if (!authorize(req, call.key)) {
    ++unauthorized_;
    r = style_ == ErrorStyle::suno_api ? error(401, "Unauthorized", path)
        : fail(Fail::unauthorized, call.key.empty() ? "Missing or empty bearer token" : "Invalid API key", path);
    r.delay = mods.delay;
  } else {
    if (is_gen) ++generate_requests_, ++keys_[call.key].generate_requests;
    else ++get_requests_, ++keys_[call.key].get_requests;
    if (auto limited = rate_limit(call.key, is_gen, path, now)) r = std::move(*limited);
    else if (auto gone = deprecated_chirp(call, *route)) r = std::move(*gone);
    else r = (this->*(route->handler))(call);
    r.key = call.key;
    r.delay += mods.delay;
    r.trickle = mods.trickle;
    r.truncate = mods.truncate;
    r.no_length = mods.no_length;
    r.announce_length = mods.announce_length;
    r.short_length = mods.short_length;
    r.json_size = mods.json_size;
    if (!r.wait) r.body = pad_json(std::move(r.body), r.json_size);
  }
  r.route = call.route;
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
  std::string id, ext;
  auto take = [&](std::string_view prefix) {
    auto dot = path.rfind('.');
    if (starts_with(path, prefix) && dot != std::string::npos && dot > prefix.size()) {
      id = path.substr(prefix.size(), dot - prefix.size());
      ext = path.substr(dot);
      return true;
    }
    return false;
  };
  if (get && take("/audio/")) kind = audio;
  else if (get && take("/stream/")) kind = stream;
  else if (get && take("/image/")) kind = image;
  r.route = kind == audio ? "CDN /audio" : kind == stream ? "CDN /stream" : kind == image ? "CDN /image" : "CDN other";
  auto it = clips_.find(id);
  bool ext_ok = it != clips_.end() &&
                (kind == image ? ext == ".jpeg" : kind == stream ? ext == ".mp3" && !it->second.audio.is_wav()
                                                                 : ext == it->second.audio.extension());
  if (kind == other || !ext_ok) {
    r.status = 404;
    r.body = "not found\n";
    return r;
  }
  const Clip& c = it->second;
  Stage st = c.stage(now);
  if (kind == stream) ++stream_url_downloads_;  // a partial stream: a client should never fetch it

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
        case FaultKind::maintenance:
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
        case FaultKind::short_length: r.short_length = true; break;
        default: break;
      }
    }
  }

  if (expired(c, now)) {  // --file-ttl: the files are gone, the task is still described
    ++expired_requests_;
    r.status = 404;
    r.body = "not found\n";
    return r;
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
    size = c.audio.size();
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
    if (c.audio.is_encoded())
      size = static_cast<std::uint64_t>(static_cast<double>(c.audio.size()) * frac);
    else
      size = static_cast<std::uint64_t>(static_cast<double>(c.audio.mp3().frames) * frac) * Mp3::frame_bytes;
  }
  r.content_type = c.audio.content_type();
  r.media = c.audio;
  std::string etag = fmt::format("\"{:016x}-{:x}\"", c.audio.key(), size);
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
  json::object per_key;
  for (auto& [key, ks] : keys_) {
    if (key.empty()) continue;
    json::object k;
    k["generate_requests"] = ks.generate_requests;
    k["generate_accepted"] = ks.generate_accepted;
    k["get_requests"] = ks.get_requests;
    k["rate_limited"] = ks.rate_limited;
    k["tokens_charged"] = ks.tokens;
    per_key["k-" + sha256_hex(key).substr(0, 8)] = std::move(k);
  }
  o["keys"] = std::move(per_key);
  o["balance_exhausted"] = exhausted_;
  o["deprecated_refused"] = deprecated_refused_;
  o["connections"] = connections_;
  o["peak_connections"] = peak_connections_;
  o["connections_total"] = connections_total_;
  o["bytes_served"] = bytes_served_;
  o["cdn_requests_with_authorization"] = cdn_with_authorization_;
  o["stream_url_downloads"] = stream_url_downloads_;
  o["expired_file_requests"] = expired_requests_;
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
    co["task"] = c.task_id;
    co["model"] = c.model;
    co["credits_used"] = c.credits;
    co["format"] = c.audio.format();
    co["bytes"] = c.audio.size();
    co["duration"] = std::round(c.audio.seconds() * 1000.0) / 1000.0;
    if (c.audio.is_encoded()) {  // what the tone was made to measure
      co["loudness_profile"] = c.audio.encoded().profile();
      if (auto l = c.audio.encoded().lufs()) co["lufs"] = *l;
      else co["lufs"] = nullptr;
    }
    // When it was created (ms since the simulator started) and the time it
    // was given to complete: what a benchmark's lower bound is made of.
    co["created_ms"] = std::chrono::duration<double, std::milli>(c.t0 - started_).count();
    co["latency_ms"] = std::chrono::duration<double, std::milli>(c.to_complete).count();
    if (auto settled = c.settled_at()) co["settled_ms"] = std::chrono::duration<double, std::milli>(*settled - started_).count();
    if (c.seen_settled) co["seen_ms"] = std::chrono::duration<double, std::milli>(*c.seen_settled - started_).count();
    if (c.sha.empty()) c.sha = c.audio.sha256();
    co["sha256"] = c.sha;
    clips[id] = std::move(co);
  }
  o["clips"] = std::move(clips);
  return o;
}

std::string Model::log_line(const Request& req, const Response& res) const {
  double t = std::chrono::duration<double>(Clock::now() - started_).count();
  std::string status = res.action == Response::Action::reset ? std::string("reset") : std::to_string(res.status);
  if (res.code && res.code != res.status) status += fmt::format(" (code {})", res.code);
  return fmt::format("+{:.3f}s {} {} {} -> {} {}", t, req.cdn ? "cdn" : "api", req.method, req.target, status,
                     res.body_size());
}

}  // namespace sim
