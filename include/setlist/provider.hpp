// Provider: one flavor of the music API. Builds requests and parses answers;
// never does I/O, rate limiting, retries or disk.
#pragma once

#include <boost/json/object.hpp>

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "setlist/result.hpp"

namespace setlist {

struct Song;

enum class ClipStatus { submitted, queued, streaming, complete, error, unknown };
std::string_view to_string(ClipStatus s);
ClipStatus parse_clip_status(std::string_view s);  // accepts "completed", "queue"
bool is_terminal(ClipStatus s);

struct Clip {
  std::string id;
  std::string title;
  ClipStatus status = ClipStatus::unknown;
  std::string audio_url;
  std::string image_url;
  std::string error_message;
  std::optional<double> duration;  // seconds, once complete
  std::string raw_json;            // the clip object as received
};

// Limits of one model, as data.
struct ModelLimits {
  std::string name;
  std::size_t title_max = 80;
  std::size_t tags_max = 120;
  std::size_t lyrics_max = 3000;
  std::size_t description_max = 400;
};

// What is known about a flavor, as data in one place.
struct ProviderInfo {
  std::string name;              // "aimlapi", "aimlapi-v2", "suno-api"
  std::string default_base_url;
  std::string key_env;           // environment variable holding the key
  bool key_required = true;
  std::size_t poll_batch = 10;   // ids per get request by default
  std::size_t max_poll_batch = 50;
  std::string default_model;
  std::vector<ModelLimits> models;
  bool supports_negative_tags = false;
  bool supports_description = true;
  bool supports_wait_audio = true;
  // Get requests are held by the server until the clips are done (aimlapi-v2):
  // each song waits on its own long poll instead of the shared poller.
  bool long_poll = false;

  const ModelLimits* find_model(std::string_view name) const;
};

// All flavors, and one by name (nullptr when unknown).
const std::vector<ProviderInfo>& provider_infos();
const ProviderInfo* find_provider_info(std::string_view name);

// An HTTP request the engine should send to the API origin.
struct ApiRequest {
  std::string method;   // "GET" or "POST"
  std::string target;   // path and query, relative to the base URL's path
  std::string body;     // JSON, empty for GET
};

// The part of a generate request that identifies the song: route and body
// without transport-only fields such as wait_audio.
struct SubmitPayload {
  std::string route;
  boost::json::object body;
};

class Provider {
 public:
  virtual ~Provider() = default;
  virtual const ProviderInfo& info() const = 0;

  // Route and canonical body for a song (no wait_audio).
  virtual SubmitPayload payload(const Song& song, std::string_view default_model) const = 0;
  // The request that submits it.
  virtual ApiRequest submit_request(const SubmitPayload& payload, bool wait_audio) const = 0;
  // Clips from a successful (2xx) generate answer.
  virtual Result<std::vector<Clip>> parse_submit(std::string_view body) const = 0;
  // A get request for up to info().max_poll_batch ids (never empty).
  virtual ApiRequest poll_request(std::span<const std::string> ids) const = 0;
  virtual Result<std::vector<Clip>> parse_poll(std::string_view body) const = 0;
  // The server's message from an error body (falls back to the raw text).
  virtual std::string error_message(int http_status, std::string_view body) const = 0;
};

std::unique_ptr<Provider> make_provider(std::string_view name);

// Song key: hex SHA-256 of the canonical JSON {"body":..,"flavor":..,"route":..}.
std::string song_key(std::string_view flavor, const SubmitPayload& payload);
// Canonical JSON: objects with keys sorted, no spaces.
std::string canonical_json(const boost::json::value& v);

// A clip id is safe to put in a URL or file name.
bool is_valid_clip_id(std::string_view id);

}  // namespace setlist
