// The simulated service without any I/O: routes, clips, keys, billing, rate
// limits, faults and stats. The server (server.cpp) feeds it requests and
// performs what the returned Response asks for (sans-io, like Boost.MySQL's
// protocol layer). Single-threaded: everything runs on one io_context.
//
// Each API flavor is a table of routes in its own file (flavor_*.cpp); what
// every route shares (faults, auth, rate limits, billing, the CDN, stats)
// happens once, in model.cpp.
#pragma once

#include "sim/config.hpp"
#include "sim/media.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

namespace sim {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;

struct Request {
  std::string method;  // "GET", "POST", "HEAD", ...
  std::string target;  // origin-form, with query
  std::string authorization;
  std::string range;
  std::string if_range;
  std::string body;
  bool cdn = false;  // arrived on the CDN listener
};

// What the server must do to answer.
struct Response {
  enum class Action { send, reset };
  Action action = Action::send;
  int status = 200;
  std::string reason;               // reason phrase when the status has no standard one (430, 455)
  int code = 0;                     // sunoapi: the code in the body (stats count it, not the HTTP status)
  std::vector<std::pair<std::string, std::string>> headers;
  std::string content_type = "application/json";
  std::string body;                 // used unless `media` is set
  std::optional<Audio> media;       // stream bytes [media_offset, media_offset + media_length)
  std::uint64_t media_offset = 0;
  std::uint64_t media_length = 0;
  std::string route;                // stats label, e.g. "POST /generate"
  Micros delay{0};                  // hold before answering
  Micros trickle{0};                // gap between small body pieces
  bool truncate = false;            // send half the promised body, then close
  bool no_length = false;           // no Content-Length: the body ends at close
  std::uint64_t announce_length = 0;  // when set, the Content-Length sent (a lie), then close
  bool short_length = false;        // Content-Length: half the body, the whole body sent, then close
  std::uint64_t json_size = 0;      // huge-json: pad the JSON body to this many bytes
  bool head = false;                // HEAD: headers only
  // Long poll (wait_audio, v2 GETs): the server waits until `wait_until`
  // (or hold_deadline) and then asks render_wait() for the body.
  bool wait = false;
  std::vector<std::string> wait_ids;
  TimePoint wait_until{};
  int wait_kind = 0;  // 0: aimlapi list, 1: v2 single clip, 2: v2 list
  std::string key;    // authenticated key, for stats of the final status
  std::uint64_t body_size() const { return media ? media_length : body.size(); }
};

enum class Stage { submitted, queued, streaming, complete, error };
const char* stage_name(Stage s);

struct Clip {
  std::string id, title, prompt, lyric, tags, model, description, created_at, payload_hash;
  bool instrumental = false;
  bool description_mode = false;
  TimePoint t0;
  Micros to_queued{0}, to_streaming{0}, to_complete{0};
  bool fails = false;
  std::string error_message;
  bool stuck = false;
  bool stuck_streaming = false;
  std::string audio_url;  // when set: the audio_url once complete (fault audio-url)
  std::string error_name = "GenerationError";  // AIML music: error.name
  bool moderated = false;
  std::string task_id;
  std::string owner;  // the key that made it
  std::int64_t credits = 0;  // what the request that made it was charged
  std::uint64_t order = 0;  // 1 for the first clip made
  Audio audio;
  mutable std::string sha;  // cached audio digest
  // When a status answer first showed it settled (complete or error): how
  // long after its completion a client learned of it (bench E).
  mutable std::optional<TimePoint> seen_settled;
  void seen(Stage st, TimePoint now) const {
    if ((st == Stage::complete || st == Stage::error) && !seen_settled) seen_settled = now;
  }

  Stage stage(TimePoint now) const;
  // When the clip reaches streaming-or-later; nullopt if never.
  std::optional<TimePoint> ready_at() const;
  std::optional<TimePoint> settled_at() const;  // complete or error
};

// One accepted generate request: its clips (two, or one for AIML music models).
struct Task {
  std::string id;  // sunoapi taskId; AIML music: the generation id (= its clip's id)
  std::vector<std::string> clips;
  std::string model, param;  // param: the request body as received
  std::int64_t cost = 0;
  std::int64_t create_ms = 0;  // wall clock, ms since the epoch
  std::string owner;           // the key that made it
  std::string fail_status, fail_message;  // fault task-fail
};

class Model;

enum class RouteClass { generate, get };

// One API request on its way through a route's handler.
struct Call {
  const Request& req;
  std::string path;
  std::vector<std::pair<std::string, std::string>> params;  // decoded query, in order
  std::string key;
  TimePoint now;
  std::string route;  // stats label, e.g. "POST /generate"
};

using Handler = Response (Model::*)(Call&);

struct Route {
  std::string_view method, path;
  RouteClass cls;
  Handler handler;
  bool chirp = false;  // a legacy Suno route: 404 "deprecated" under --deprecated-chirp
};

// How a flavor words its errors.
enum class ErrorStyle {
  aiml,      // {"message","path","requestId","statusCode","timestamp"}
  suno_api,  // {"error": ...}
  sunoapi,   // {"code","msg","data": null}, maybe HTTP 200 (--body-codes-http200)
};

// What went wrong, worded and numbered by the flavor (Model::fail).
enum class Fail { bad_request, too_long, unauthorized, no_credits, not_found, rate_limited, server_error,
                  unavailable, maintenance };

class Model {
 public:
  explicit Model(Config cfg);

  const Config& config() const { return cfg_; }
  void set_ports(int api_port, int cdn_port, bool tls);

  Response handle(const Request& req, TimePoint now);
  // Body for a finished long poll.
  std::string render_wait(const Response& r, TimePoint now);

  // Bookkeeping the server reports back.
  void count_response(const std::string& route, int status);  // status 0: connection reset
  void count_bytes(std::uint64_t n) { bytes_served_ += n; }
  void connection_opened();
  void connection_closed();

  boost::json::object stats(TimePoint now);
  std::string log_line(const Request& req, const Response& res) const;

 private:
  struct Bucket {
    double tokens = 0;
    TimePoint last{};
    bool init = false;
    TimePoint retry_not_before{};
    TimePoint limited_at{};
  };
  struct KeyState {
    std::int64_t balance = -1;
    Bucket generate, get;
    std::deque<TimePoint> accepted;  // for the hourly limit
    // stats, under the key's fingerprint ("k-" + 8 hex of its SHA-256, as setlist names it)
    std::uint64_t generate_requests = 0, generate_accepted = 0, get_requests = 0, rate_limited = 0;
    std::int64_t tokens = 0;
  };
  // --key-scoped: whether `call`'s key may see what `owner` made.
  bool sees(const Call& call, const std::string& owner) const { return !cfg_.key_scoped || owner == call.key; }
  struct RuleState {
    std::uint64_t seen = 0;
    std::uint64_t fired = 0;
  };

  Response handle_api(const Request& req, TimePoint now);
  Response handle_cdn(const Request& req, TimePoint now);
  // The faults of an API request, in one place for every flavor: a final
  // answer (5xx, reset, maintenance) or modifiers (delay, huge-json, ...) in `mods`.
  std::optional<Response> api_faults(bool is_gen, const std::string& path, Response& mods);
  Response error(int status, const std::string& message, const std::string& path);
  Response fail(Fail f, const std::string& message, const std::string& path);
  bool authorize(const Request& req, std::string& key);
  std::optional<Response> rate_limit(const std::string& key, bool generate, const std::string& path,
                                     TimePoint now);
  std::optional<Response> hourly_limit(const std::string& key, const std::string& path, TimePoint now);
  Response too_many(Bucket& b, double wait_seconds, const std::string& message, const std::string& path,
                    TimePoint now);
  std::optional<Response> bill(const std::string& key, std::int64_t cost, const std::string& path);
  // Fires the rules of a scope; returns the indices of the rules that fired.
  std::vector<const FaultRule*> draw_faults(bool is_generate, bool is_get, bool is_audio, bool is_image,
                                            bool is_cdn);
  bool draw(std::size_t rule);  // counts one item of the rule's scope; true when it fires
  Clip& new_clip(TimePoint now);
  // What follows validation of a generate request: hourly limit, billing and
  // the payload ledger. nullopt: accepted (and charged); `payload_hash` set.
  std::optional<Response> admit(const Call& call, const boost::json::object& body, std::int64_t cost,
                                std::string& payload_hash);
  // An accepted request's task with `n` fresh clips (clip faults drawn), its
  // task faults drawn and the sensitive words checked against `texts`.
  Task& new_task(const Call& call, int n, const std::string& payload_hash, std::int64_t cost,
                 const std::string& model, const std::vector<std::string>& texts, bool own_id);
  std::int64_t cost_of(const std::string& model, std::int64_t fallback) const;
  double drawn_duration(const std::string& clip_id) const;
  // The audio of a clip: silent MP3 / noise WAV, or with --real-audio a tone.
  Audio clip_audio(const Clip& c, double seconds, bool wav = false, std::uint32_t rate = 44100,
                   std::uint16_t channels = 1) const;  // --duration, a function of the id
  bool expired(const Clip& c, TimePoint now) const;

  // flavor_legacy.cpp: the Suno flavors of api.md (aimlapi v1, aimlapi-v2, suno-api)
  static const std::vector<Route>& aiml_legacy_routes();
  static const std::vector<Route>& aiml_v2_routes();
  static const std::vector<Route>& suno_api_routes();
  Response legacy_custom(Call& call);
  Response legacy_description(Call& call);
  Response legacy_generate(Call& call, bool custom);
  Response legacy_get(Call& call);
  Response v2_get_one(Call& call);
  Response v2_get_many(Call& call);
  Response v2_long_poll(Call& call, std::vector<std::string> ids, int kind);
  boost::json::object clip_json(const Clip& c, TimePoint now) const;
  boost::json::array clips_json(const std::vector<std::string>& ids, TimePoint now, const std::string& key) const;
  std::optional<Response> deprecated_chirp(const Call& call, const Route& route);

  // flavor_aiml_music.cpp: AIML's music models, POST/GET /v2/generate/audio
  static const std::vector<Route>& aiml_music_routes();
  Response music_submit(Call& call);
  Response music_poll(Call& call);

  // flavor_sunoapi.cpp: sunoapi.org-style proxies, /api/v1/generate
  static const std::vector<Route>& sunoapi_routes();
  Response sunoapi_generate(Call& call);
  Response sunoapi_record_info(Call& call);
  std::string task_status(const Task& t, TimePoint now) const;
  boost::json::object track_json(const Clip& c, const Task& t, TimePoint now) const;

 public:
  std::string cdn_base() const;

 private:
  std::string new_request_id();

  Config cfg_;
  std::mt19937_64 rng_;
  std::uint64_t clip_counter_ = 0;
  std::uint64_t request_counter_ = 0;
  int api_port_ = 0, cdn_port_ = 0;
  bool tls_ = false;
  TimePoint started_ = Clock::now();

  std::vector<Route> routes_;
  ErrorStyle style_ = ErrorStyle::aiml;

  std::unordered_map<std::string, Clip> clips_;
  std::vector<std::string> clip_order_;
  std::unordered_map<std::string, Task> tasks_;
  std::uint64_t task_counter_ = 0;
  std::string last_task_;  // the latest task made (fault dup-clips)
  std::unordered_map<std::string, KeyState> keys_;
  std::vector<RuleState> rules_;

  // stats
  std::map<std::string, std::map<std::string, std::uint64_t>> requests_;
  std::uint64_t requests_total_ = 0;
  std::uint64_t generate_requests_ = 0;
  std::uint64_t generate_accepted_ = 0;
  std::uint64_t get_requests_ = 0;
  std::int64_t tokens_charged_ = 0;
  std::map<std::string, std::uint64_t> submissions_by_payload_;
  std::uint64_t rate_limited_ = 0;
  std::uint64_t hourly_limited_ = 0;
  std::uint64_t retry_after_violations_ = 0;
  std::uint64_t retry_after_in_flight_ = 0;
  std::uint64_t unauthorized_ = 0;
  std::uint64_t exhausted_ = 0;
  std::uint64_t connections_ = 0, peak_connections_ = 0, connections_total_ = 0;
  std::uint64_t bytes_served_ = 0;
  std::uint64_t cdn_with_authorization_ = 0;
  std::uint64_t stream_url_downloads_ = 0;
  std::uint64_t deprecated_refused_ = 0;
  std::uint64_t expired_requests_ = 0;
  std::map<std::string, std::uint64_t> faults_fired_;
};

}  // namespace sim
