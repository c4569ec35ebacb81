// Factories of the flavor implementations (private to the provider part).
#pragma once

#include <memory>

#include "setlist/provider.hpp"

namespace setlist {

std::unique_ptr<Provider> make_aimlapi_v1(const ProviderInfo& info, const ProviderOptions& options);
std::unique_ptr<Provider> make_aimlapi_v2(const ProviderInfo& info);
std::unique_ptr<Provider> make_suno_api(const ProviderInfo& info);
std::unique_ptr<Provider> make_sunoapi(const ProviderInfo& info, const ProviderOptions& options);
// The AIML music-models route (internal flavor "aimlapi-audio").
std::unique_ptr<Provider> make_aiml_audio(const ProviderInfo& info);

// AIML's answers on every route: 404 and "deprecated" mean gone (the chirp-*
// routes were removed); otherwise `base` decides. `credits_403`: every 403
// means out of credits (music-models docs), else only a 403 whose message
// says so (the legacy policy).
// `gone_note` says what to do then.
Answer aiml_classify(const Provider& p, int http_status, std::string_view body, bool credits_403,
                     std::string_view gone_note);
// Why a chirp-* route is gone, and what to use instead.
extern const char* const kChirpGoneNote;

// A member of a JSON object: as an object (null when absent or not an
// object), as a string ("" when absent or not a string).
inline const boost::json::object* object_at(const boost::json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v ? v->if_object() : nullptr;
}
inline std::string string_at(const boost::json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

// The model a song asks for: its own, the run's default, or the flavor's.
std::string pick_model(const Song& song, std::string_view default_model, const ProviderInfo& info);
Error protocol_error(std::string msg);
// Percent-encodes everything but RFC 3986 unreserved characters (a query value).
std::string query_escape(std::string_view s);

// Flavors whose answers are arrays of clip objects and whose errors are
// {"message"} or {"error"} JSON: every flavor so far. A flavor overrides what differs.
class ClipArrayProvider : public Provider {
 public:
  explicit ClipArrayProvider(const ProviderInfo& info) : info_(info) {}
  const ProviderInfo& info() const override { return info_; }
  Result<std::vector<Clip>> parse_submit(std::string_view body) const override;  // a non-empty array
  Result<std::vector<Clip>> parse_poll(std::string_view body) const override;
  std::string error_message(int http_status, std::string_view body) const override;

 protected:
  const ProviderInfo& info_;
};

// Shared parsing of the clip object (flavors 1 and 2 use it as is).
Result<Clip> parse_clip_object(const boost::json::value& v);
Result<std::vector<Clip>> parse_clip_array(std::string_view body);
// {"message": ...} or {"error": ...}, else the body text trimmed to 300 bytes.
std::string json_error_message(int http_status, std::string_view body);

}  // namespace setlist
