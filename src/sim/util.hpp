// Small helpers shared by the model and the flavor files. No Asio or Beast.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

namespace sim {

std::string iso_now();                 // 2026-11-02T10:00:00.123Z
std::int64_t epoch_ms_now();
std::string http_date(std::time_t t);  // Mon, 02 Nov 2026 10:00:00 GMT
std::string uuid_from(std::uint64_t a, std::uint64_t b);
// JSON with object keys sorted, so equal payloads hash equally.
void canonical(const boost::json::value& v, std::string& out);
inline bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
// Clients send `ids[0]=...` with raw brackets; RFC 3986 wants them escaped.
// Percent-encode whatever a strict parser would refuse.
std::string lenient_target(const std::string& t);
std::string lyrics_for(const std::string& description, std::uint64_t h);
// huge-json: spaces after the opening bracket keep the answer valid JSON.
std::string pad_json(std::string body, std::uint64_t size);
std::size_t utf8_length(std::string_view s);  // code points
std::string lower(std::string s);

// Reading a JSON body field by field, remembering the first problem.
class Fields {
 public:
  explicit Fields(const boost::json::object& o) : o_(o) {}
  bool has(const char* k) const;
  // Fills `out` when the field is a string; a non-string (not null) is a problem.
  bool string(const char* k, std::string& out);
  bool boolean(const char* k, bool& out);
  bool integer(const char* k, std::int64_t& out);  // integral numbers only
  const boost::json::value* get(const char* k) const { return o_.if_contains(k); }
  // Records a problem with a field (first one wins).
  void problem(const std::string& field, const std::string& what);
  bool bad() const { return !field_.empty(); }
  const std::string& field() const { return field_; }
  const std::string& what() const { return what_; }
  std::string message() const { return field_ + ": " + what_; }

 private:
  const boost::json::object& o_;
  std::string field_, what_;
};

}  // namespace sim
