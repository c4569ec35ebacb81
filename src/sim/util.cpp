#include "sim/util.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

namespace sim {

namespace json = boost::json;

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

std::int64_t epoch_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
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

std::string pad_json(std::string body, std::uint64_t size) {
  if (size > body.size() && !body.empty()) body.insert(1, static_cast<std::size_t>(size - body.size()), ' ');
  return body;
}

std::size_t utf8_length(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool Fields::has(const char* k) const {
  auto* v = o_.if_contains(k);
  return v && !v->is_null();
}

bool Fields::string(const char* k, std::string& out) {
  auto* v = o_.if_contains(k);
  if (!v || v->is_null()) return false;
  if (!v->is_string()) {
    problem(k, "Expected string, received " + std::string(v->is_bool() ? "boolean" : v->is_number() ? "number" : v->is_array() ? "array" : "object"));
    return false;
  }
  out = std::string(v->as_string());
  return true;
}

bool Fields::boolean(const char* k, bool& out) {
  auto* v = o_.if_contains(k);
  if (!v || v->is_null()) return false;
  if (!v->is_bool()) {
    problem(k, "Expected boolean");
    return false;
  }
  out = v->as_bool();
  return true;
}

bool Fields::integer(const char* k, std::int64_t& out) {
  auto* v = o_.if_contains(k);
  if (!v || v->is_null()) return false;
  if (v->is_int64()) out = v->as_int64();
  else if (v->is_uint64() && v->as_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) out = static_cast<std::int64_t>(v->as_uint64());
  else if (v->is_double() && v->as_double() == static_cast<double>(static_cast<std::int64_t>(v->as_double())))
    out = static_cast<std::int64_t>(v->as_double());
  else {
    problem(k, "Expected integer");
    return false;
  }
  return true;
}

void Fields::problem(const std::string& field, const std::string& what) {
  if (field_.empty()) {
    field_ = field;
    what_ = what;
  }
}

}  // namespace sim
