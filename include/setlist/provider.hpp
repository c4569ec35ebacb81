// Provider: one flavor of the music API. Builds requests and parses answers;
// never does I/O, rate limiting, retries or disk.
#pragma once

#include <boost/json/object.hpp>

#include <chrono>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
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
  std::optional<long long> credits_used;  // AIML music models: meta.usage.credits_used
};

// Limits and field rules of one model, as data (src/provider/provider_info.cpp).
// Lengths count Unicode characters; a maximum of 0 means "the model has no
// such field" unless said otherwise.
struct ModelLimits {
  std::string name;
  // The flavor whose route serves this model: empty for the provider itself,
  // else the name of an internal flavor (find_flavor_info), e.g. the AIML
  // music models of provider "aimlapi" are served by "aimlapi-audio".
  std::string flavor;
  // Tokens (AIML) or credits (sunoapi) one generate request costs: an
  // estimate where the vendor publishes no price. The README's cost table
  // and the plan's default cost come from it.
  long long cost_estimate = 0;
  std::string cost_unit = "tokens";

  // Suno-style fields: `title`, `tags` (sunoapi: `style`), lyrics in custom
  // mode, `description` in description mode (the lyrics are written for you).
  std::size_t title_max = 80;
  std::size_t tags_max = 120;
  std::size_t lyrics_min = 0;
  std::size_t lyrics_max = 3000;
  std::size_t description_max = 400;

  // Style-prompt models (AIML music models): description and tags are joined
  // into one `prompt` (style_prompt()); there is no title, tags or description
  // mode then. prompt_max 0: no documented maximum.
  bool style_prompt = false;
  std::size_t prompt_min = 0;
  std::size_t prompt_max = 0;
  bool prompt_required = false;
  bool lyrics_required = false;

  // Suno flavors: a song needs lyrics or a description...
  bool needs_text = true;
  // ...except an instrumental made from `tags` and `title` alone (sunoapi custom mode).
  bool instrumental_from_style = false;
  // Custom mode (lyrics, or such an instrumental) needs non-empty tags.
  bool style_required = false;

  bool has_instrumental = true;   // make_instrumental is sent (as make_instrumental / is_instrumental / instrumental)
  bool instrumental_only = false; // the model makes no vocals at all
  bool lyrics_optimizer = false;  // minimax 2.6: lyrics written from the prompt when none are given

  // `length:` of a song: the field it is sent as, its unit and range.
  std::string length_field;  // empty: the model takes no length
  std::chrono::milliseconds length_unit{1};
  std::chrono::milliseconds length_min{0};
  std::chrono::milliseconds length_max{0};

  bool has_seed = false;      // `seed:` is sent
  bool has_negative = false;  // `negative_tags:` is sent

  // Non-empty: the model is listed as no longer callable; a manifest that
  // uses it gets this text as a warning.
  std::string deprecated;
};

// How clips of a flavor are polled.
//   batch:     one GET for many clip ids (legacy aimlapi, suno-api)
//   long_poll: the GET is held by the server until the clips are done (aimlapi-v2)
//   one_id:    one GET per submission; poll_request() gets the ids of exactly
//              one submission (AIML music models: one id; sunoapi: its slots)
enum class PollStyle { batch, long_poll, one_id };

// What is known about a flavor, as data in one place.
struct ProviderInfo {
  std::string name;              // "aimlapi", "aimlapi-v2", "suno-api", "sunoapi"; internal: "aimlapi-audio"
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
  // Same as poll_style == PollStyle::long_poll; kept for existing callers.
  bool long_poll = false;

  PollStyle poll_style = PollStyle::batch;
  int clips_per_request = 2;                          // takes one generate request yields
  std::chrono::milliseconds expected_generation{60000};  // a generation usually takes this long: first poll near it
  std::chrono::milliseconds file_ttl{0};              // how long the service keeps the files; 0: unknown
  bool body_codes = false;                            // answers carry their own "code" (sunoapi), read before the HTTP status
  // Defaults of run settings for this flavor, as (setting name, value text),
  // applied by resolve_settings where the user set nothing.
  std::vector<std::pair<std::string, std::string>> setting_defaults;

  const ModelLimits* find_model(std::string_view name) const;
  std::vector<std::string_view> model_names() const;
};

// What to tell the user when the key is refused or missing:
// "check SUNOAPI_KEY (or --api-key-file)".
std::string key_hint(const ProviderInfo& info);

// User-selectable flavors, and one by name (nullptr when unknown).
const std::vector<ProviderInfo>& provider_infos();
const ProviderInfo* find_provider_info(std::string_view name);
// Also the internal flavors a provider delegates to ("aimlapi-audio").
const ProviderInfo* find_flavor_info(std::string_view name);
// The flavor that serves `model` of `provider`: the model's own flavor, else
// the provider itself (also for an unknown model).
const ProviderInfo& flavor_for_model(const ProviderInfo& provider, std::string_view model);

// An HTTP request the engine should send to the API origin.
struct ApiRequest {
  std::string method;   // "GET" or "POST"
  std::string target;   // path and query, relative to the base URL's path
  std::string body;     // JSON, empty for GET
};

// The part of a generate request that identifies the song: route and body
// without transport-only fields such as wait_audio or callBackUrl. It never
// holds `takes`: asking for more takes later does not make it another song.
struct SubmitPayload {
  std::string route;
  boost::json::object body;
};

// What an API answer means: read from the body's own code first where the
// flavor has one (ProviderInfo::body_codes), then from the HTTP status.
enum class AnswerKind {
  ok,
  throttled,       // slow down and retry: HTTP 429 (AIML, legacy); body 405/430 (sunoapi)
  retry,           // transient: network error (0), 408, 425, 5xx except 504; sunoapi 455, 500
  maybe_accepted,  // HTTP 504: a POST may have been taken; never resubmit blindly
  fail_song,       // this request is wrong or refused: 400, 404 (legacy suno-api), 413, 422, moderation
  bad_key,         // 401: stop the run; the message names the key's variable
  out_of_credits,  // stop submitting: 402, AIML 403 "resource limit exhausted", sunoapi body 429
  gone             // the route or model no longer exists (AIML 404, "deprecated", sunoapi 404)
};
std::string_view to_string(AnswerKind k);

struct Answer {
  AnswerKind kind = AnswerKind::ok;
  int code = 0;         // the code the kind was read from: the body's, else the HTTP status
  std::string message;  // the server's words, with what to do where it helps; empty when ok
};

// Options a flavor takes from the run's settings.
struct ProviderOptions {
  std::string callback_url = "https://example.invalid/setlist-callback";  // sunoapi's required callBackUrl; never relied on
};

class Provider {
 public:
  virtual ~Provider() = default;
  virtual const ProviderInfo& info() const = 0;

  // Route and canonical body for a song (no wait_audio, no takes).
  virtual SubmitPayload payload(const Song& song, std::string_view default_model) const = 0;
  // The request that submits it.
  virtual ApiRequest submit_request(const SubmitPayload& payload, bool wait_audio) const = 0;
  // Clips from a successful (classify() == ok) generate answer. sunoapi and
  // the AIML music models answer with ids only: the clips are `queued`.
  virtual Result<std::vector<Clip>> parse_submit(std::string_view body) const = 0;
  // A get request for up to info().max_poll_batch ids (never empty). For
  // PollStyle::one_id: the ids of one submission only.
  virtual ApiRequest poll_request(std::span<const std::string> ids) const = 0;
  virtual Result<std::vector<Clip>> parse_poll(std::string_view body) const = 0;
  // The server's message from an error body (falls back to the raw text).
  virtual std::string error_message(int http_status, std::string_view body) const = 0;

  // What an answer means (`http_status` 0: no answer, a network error). The
  // default serves the legacy flavors: today's policy::classify with
  // error_message(), 429 as throttled and 504 as maybe_accepted.
  virtual Answer classify(int http_status, std::string_view body) const;

  // The flavor that speaks for this payload's route: itself, except provider
  // "aimlapi", whose non-chirp models use the music-models route
  // (flavor "aimlapi-audio": one clip per request, PollStyle::one_id). Use it
  // for submit_request, parse_submit, poll_request, parse_poll and classify
  // of that song, and its info() for poll style, clips per request, timing.
  virtual const Provider& for_payload(const SubmitPayload&) const { return *this; }

  // The limits of the model the song uses (its own model, else
  // `default_model`, else the flavor's default); nullptr for an unknown model.
  const ModelLimits* model_limits(const Song& song, std::string_view default_model = {}) const;

  // Generate requests one song needs: ceil(takes / clips_per_request) of the
  // flavor serving it, with takes from the manifest (0, the default: 1
  // request). `default_model` is the run's `model` setting, as for payload().
  int requests_for(const Song& song, std::string_view default_model = {}) const;
};

std::unique_ptr<Provider> make_provider(std::string_view name);
std::unique_ptr<Provider> make_provider(std::string_view name, const ProviderOptions& options);

// Song key: hex SHA-256 of the canonical JSON {"body":..,"flavor":..,"route":..}.
std::string song_key(std::string_view flavor, const SubmitPayload& payload);
// Canonical JSON: objects with keys sorted, no spaces.
std::string canonical_json(const boost::json::value& v);

// A clip id is safe to put in a URL or file name: 1-128 of [A-Za-z0-9_-].
bool is_valid_clip_id(std::string_view id);

// Server ids that may hold other characters (AIML generation ids, sunoapi
// task ids) become clip ids reversibly: '_' is written "__" and any byte
// outside [A-Za-z0-9-] "_XX" (upper-case hex). Empty when the result would
// not be a valid clip id (too long).
std::string encode_server_id(std::string_view server_id);
std::optional<std::string> decode_server_id(std::string_view clip_id);

// sunoapi: one task yields clips_per_request tracks; slot n (1-based) of task
// T has the clip id encode_server_id(T) + "-" + n, e.g. "5c79be8e-1".
std::string slot_clip_id(std::string_view task_id, int slot);
// {task id, slot} of such a clip id; nothing when it is not one.
std::optional<std::pair<std::string, int>> split_slot_clip_id(std::string_view clip_id);

// The style prompt of a style-prompt model: the song's description, then its
// tags, joined by ", " (by " " when the description already ends with
// punctuation). Empty when the song has neither.
std::string style_prompt(const Song& song);

// The lyrics a clip object (Clip::raw_json, as stored) says the song was
// sung with: "lyric", else "metadata.prompt" (aimlapi-v2), else "prompt"
// (the legacy clip and a sunoapi track); trimmed, empty when none. In
// description mode these are the words the API wrote. The AIML music
// models' answers hold none.
std::string clip_lyrics(std::string_view clip_json);

}  // namespace setlist
