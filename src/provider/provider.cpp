// Provider-independent parts: clip statuses, song keys, canonical JSON, and
// the flavor factory.
#include "setlist/provider.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include "common/hash.hpp"
#include "provider/flavors.hpp"
#include "setlist/manifest.hpp"
#include "setlist/policy.hpp"

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

std::unique_ptr<Provider> make_provider(std::string_view name) { return make_provider(name, ProviderOptions{}); }

std::unique_ptr<Provider> make_provider(std::string_view name, const ProviderOptions& options) {
  const ProviderInfo* info = find_provider_info(name);
  if (!info) return nullptr;
  if (name == "aimlapi") return make_aimlapi_v1(*info, options);
  if (name == "aimlapi-v2") return make_aimlapi_v2(*info);
  if (name == "suno-api") return make_suno_api(*info);
  if (name == "sunoapi") return make_sunoapi(*info, options);
  return nullptr;
}

std::string_view to_string(AnswerKind k) {
  switch (k) {
    case AnswerKind::ok: return "ok";
    case AnswerKind::throttled: return "throttled";
    case AnswerKind::retry: return "retry";
    case AnswerKind::maybe_accepted: return "maybe_accepted";
    case AnswerKind::fail_song: return "fail_song";
    case AnswerKind::bad_key: return "bad_key";
    case AnswerKind::out_of_credits: return "out_of_credits";
    case AnswerKind::gone: return "gone";
  }
  return "unknown";
}

std::string key_hint(const ProviderInfo& info) {
  return "check " + info.key_env + " (or --api-key-file)";
}

Answer Provider::classify(int http_status, std::string_view body) const {
  Answer a;
  a.code = http_status;
  if (http_status >= 200 && http_status < 300) return a;
  a.message = http_status == 0 ? std::string("no answer (network error)") : error_message(http_status, body);
  if (http_status == 429) {
    a.kind = AnswerKind::throttled;
    return a;
  }
  if (http_status == 504) {
    a.kind = AnswerKind::maybe_accepted;
    return a;
  }
  switch (policy::classify(http_status, a.message)) {
    case policy::Action::retry: a.kind = AnswerKind::retry; break;
    case policy::Action::fail_song: a.kind = AnswerKind::fail_song; break;
    case policy::Action::abort_run:
      a.kind = AnswerKind::bad_key;
      a.message = "the API rejected the key (" + a.message + "); " + key_hint(info());
      break;
    case policy::Action::stop_submitting: a.kind = AnswerKind::out_of_credits; break;
  }
  return a;
}

const ModelLimits* Provider::model_limits(const Song& song, std::string_view default_model) const {
  std::string model = pick_model(song, default_model, info());
  return info().find_model(model);
}

int Provider::requests_for(const Song& song, std::string_view default_model) const {
  if (song.takes <= 0) return 1;
  int per = for_payload(payload(song, default_model)).info().clips_per_request;
  if (per < 1) per = 1;
  return (song.takes + per - 1) / per;
}

namespace {
bool id_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::string encode_server_id(std::string_view server_id) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (char c : server_id) {
    if (id_char(c)) {
      out += c;
    } else if (c == '_') {
      out += "__";
    } else {
      auto b = static_cast<unsigned char>(c);
      out += '_';
      out += hex[b >> 4];
      out += hex[b & 15];
    }
  }
  if (!is_valid_clip_id(out)) return {};
  return out;
}

std::optional<std::string> decode_server_id(std::string_view clip_id) {
  if (clip_id.empty()) return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i < clip_id.size(); ++i) {
    char c = clip_id[i];
    if (id_char(c)) {
      out += c;
      continue;
    }
    if (c != '_' || i + 1 >= clip_id.size()) return std::nullopt;
    if (clip_id[i + 1] == '_') {
      out += '_';
      ++i;
      continue;
    }
    if (i + 2 >= clip_id.size()) return std::nullopt;
    int hi = hex_value(clip_id[i + 1]), lo = hex_value(clip_id[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    auto byte = static_cast<char>(hi * 16 + lo);
    if (id_char(byte) || byte == '_') return std::nullopt;  // not how encode_server_id writes it
    out += byte;
    i += 2;
  }
  return out;
}

std::string slot_clip_id(std::string_view task_id, int slot) {
  std::string enc = encode_server_id(task_id);
  if (enc.empty() || slot < 1 || slot > 9) return {};
  std::string id = enc + "-" + std::to_string(slot);
  return is_valid_clip_id(id) ? id : std::string();
}

std::optional<std::pair<std::string, int>> split_slot_clip_id(std::string_view clip_id) {
  auto dash = clip_id.rfind('-');
  if (dash == std::string_view::npos || dash == 0 || dash + 2 != clip_id.size()) return std::nullopt;
  char d = clip_id[dash + 1];
  if (d < '1' || d > '9') return std::nullopt;
  auto task = decode_server_id(clip_id.substr(0, dash));
  if (!task) return std::nullopt;
  return std::pair(std::move(*task), d - '0');
}

std::string style_prompt(const Song& song) {
  auto trim = [](std::string_view t) {
    while (!t.empty() && std::isspace(static_cast<unsigned char>(t.front()))) t.remove_prefix(1);
    while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.remove_suffix(1);
    return std::string(t);
  };
  std::string out = song.description ? trim(*song.description) : std::string();
  std::string tags = trim(song.tags);
  if (tags.empty()) return out;
  if (out.empty()) return tags;
  char last = out.back();
  bool punct = last == '.' || last == '!' || last == '?' || last == ',' || last == ';' || last == ':';
  return out + (punct ? " " : ", ") + tags;
}

std::string clip_lyrics(std::string_view clip_json) {
  boost::json::error_code ec;
  auto v = boost::json::parse(clip_json, ec);
  if (ec || !v.is_object()) return {};
  const auto& o = v.get_object();
  auto text_at = [](const boost::json::object& obj, std::string_view key) -> std::string {
    auto* f = obj.if_contains(key);
    if (!f || !f->is_string()) return {};
    std::string_view t = f->get_string();
    while (!t.empty() && std::isspace(static_cast<unsigned char>(t.front()))) t.remove_prefix(1);
    while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.remove_suffix(1);
    return std::string(t);
  };
  if (auto t = text_at(o, "lyric"); !t.empty()) return t;
  if (auto* m = o.if_contains("metadata"); m && m->is_object())
    if (auto t = text_at(m->get_object(), "prompt"); !t.empty()) return t;
  return text_at(o, "prompt");
}

std::string query_escape(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (char c : s) {
    auto b = static_cast<unsigned char>(c);
    if (std::isalnum(b) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += hex[b >> 4];
      out += hex[b & 15];
    }
  }
  return out;
}

}  // namespace setlist
