// Provider-independent parts: clip statuses, song keys, canonical JSON, and
// the flavor factory.
#include "setlist/provider.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <stdexcept>

#include "common/hash.hpp"
#include "provider/flavors.hpp"

namespace setlist {

std::string_view to_string(ClipStatus s) {
  switch (s) {
    case ClipStatus::submitted: return "submitted";
    case ClipStatus::queued: return "queued";
    case ClipStatus::streaming: return "streaming";
    case ClipStatus::complete: return "complete";
    case ClipStatus::error: return "error";
    case ClipStatus::unknown: break;
  }
  return "unknown";
}

ClipStatus parse_clip_status(std::string_view s) {
  if (s == "submitted") return ClipStatus::submitted;
  if (s == "queued" || s == "queue") return ClipStatus::queued;
  if (s == "streaming") return ClipStatus::streaming;
  if (s == "complete" || s == "completed") return ClipStatus::complete;
  if (s == "error" || s == "failed") return ClipStatus::error;
  return ClipStatus::unknown;
}

bool is_terminal(ClipStatus s) { return s == ClipStatus::complete || s == ClipStatus::error; }

bool is_valid_clip_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  });
}

namespace {
void canonical_into(const boost::json::value& v, std::string& out) {
  switch (v.kind()) {
    case boost::json::kind::object: {
      const auto& o = v.get_object();
      std::vector<std::string_view> keys;
      for (auto& kv : o) keys.push_back(kv.key());
      std::sort(keys.begin(), keys.end());
      out += '{';
      bool first = true;
      for (auto k : keys) {
        if (!first) out += ',';
        first = false;
        out += boost::json::serialize(boost::json::string(k));
        out += ':';
        canonical_into(o.at(k), out);
      }
      out += '}';
      break;
    }
    case boost::json::kind::array: {
      out += '[';
      bool first = true;
      for (auto& e : v.get_array()) {
        if (!first) out += ',';
        first = false;
        canonical_into(e, out);
      }
      out += ']';
      break;
    }
    default:
      out += boost::json::serialize(v);
  }
}
}  // namespace

std::string canonical_json(const boost::json::value& v) {
  std::string out;
  canonical_into(v, out);
  return out;
}

std::string song_key(std::string_view flavor, const SubmitPayload& payload) {
  boost::json::object o;
  o["flavor"] = flavor;
  o["route"] = payload.route;
  o["body"] = payload.body;
  return sha256_hex(canonical_json(o));
}

std::unique_ptr<Provider> make_provider(std::string_view name) {
  const ProviderInfo* info = find_provider_info(name);
  if (!info) return nullptr;
  if (name == "aimlapi") return make_aimlapi_v1(*info);
  if (name == "aimlapi-v2") return make_aimlapi_v2(*info);
  if (name == "suno-api") return make_suno_api(*info);
  return nullptr;
}

}  // namespace setlist
