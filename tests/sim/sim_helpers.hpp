// Small helpers shared by the simulator tests.
#pragma once

#include "test_support.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace simtest {

using namespace setlist::test;
namespace json = boost::json;

inline HttpOptions auth(const std::string& key = "test-key", const std::string& body = {}) {
  HttpOptions o;
  o.headers["Authorization"] = "Bearer " + key;
  o.body = body;
  return o;
}

inline std::string custom_body(const std::string& title = "Song", bool wait = false,
                               const std::string& model = "chirp-v3-5") {
  json::object o;
  o["prompt"] = "[Verse]\nla la la\n[Chorus]\noh oh";
  o["tags"] = "pop";
  o["title"] = title;
  o["make_instrumental"] = false;
  o["wait_audio"] = wait;
  o["model"] = model;
  return json::serialize(o);
}

inline HttpResult submit(const Sim& sim, const std::string& title = "Song", const std::string& key = "test-key") {
  return http("POST", sim.base_url() + "/generate/custom-mode", auth(key, custom_body(title)));
}

inline std::vector<std::string> ids_of(const HttpResult& r) {
  std::vector<std::string> ids;
  auto v = json::parse(r.body);
  for (auto& c : v.as_array()) ids.push_back(std::string(c.at("id").as_string()));
  return ids;
}

inline std::string get_url(const Sim& sim, const std::vector<std::string>& ids) {
  std::string url = sim.base_url() + "/?";
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i) url += "&";
    url += "ids%5B" + std::to_string(i) + "%5D=" + ids[i];
  }
  return url;
}

inline json::array poll(const Sim& sim, const std::vector<std::string>& ids, const std::string& key = "test-key") {
  auto r = http_get(get_url(sim, ids), auth(key));
  EXPECT_EQ(r.status, 200) << r.body << r.error;
  if (r.status != 200) return {};
  return json::parse(r.body).as_array();
}

// Polls until every clip has one of the given statuses or the timeout passes.
inline json::array wait_status(const Sim& sim, const std::vector<std::string>& ids, const std::string& status,
                               std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  json::array last;
  while (std::chrono::steady_clock::now() < deadline) {
    last = poll(sim, ids);
    bool all = last.size() == ids.size();
    for (auto& c : last)
      if (c.at("status").as_string() != status.c_str()) all = false;
    if (all) return last;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return last;
}

inline std::string str(const json::value& v, const char* k) {
  auto& o = v.as_object();
  auto* p = o.if_contains(k);
  if (!p || !p->is_string()) return {};
  return std::string(p->as_string());
}

inline std::uint64_t count(const json::value& stats, const std::string& route, const std::string& status) {
  auto* r = stats.at("requests").as_object().if_contains(route);
  if (!r) return 0;
  auto* s = r->as_object().if_contains(status);
  return s ? s->to_number<std::uint64_t>() : 0;
}

inline const char* kFast[] = {"--latency", "200ms", "--latency-jitter", "50ms", "--duration", "1s..2s", "--seed", "7"};
inline std::vector<std::string> fast(std::vector<std::string> extra = {}) {
  std::vector<std::string> a(std::begin(kFast), std::end(kFast));
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

inline int port_of(const std::string& url) { return std::stoi(url.substr(url.rfind(':') + 1)); }

struct RawResult {
  std::string data;  // every byte received before close/timeout
  int err = 0;       // errno of the failing recv (ECONNRESET on a reset), 0 on orderly close
  bool timed_out = false;
};

// Sends `request` verbatim over a fresh TCP connection and reads until the peer closes.
inline RawResult raw_exchange(const std::string& url, const std::string& request,
                              std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  RawResult out;
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port_of(url)));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    out.err = errno;
    ::close(fd);
    return out;
  }
  timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  char buf[65536];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      out.data.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) out.timed_out = true;
      else out.err = errno;
    }
    break;
  }
  ::close(fd);
  return out;
}

inline std::string raw_get(const std::string& target, const std::string& extra_headers = {}) {
  return "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra_headers + "Connection: close\r\n\r\n";
}

// --- AIML music models (POST/GET /v2/generate/audio) -----------------------

inline HttpResult music_submit(const Sim& sim, const std::string& body, const std::string& key = "test-key") {
  return http("POST", sim.base_url() + "/v2/generate/audio", auth(key, body));
}

// Submits and returns the generation id ("" when not 201).
inline std::string music_id(const Sim& sim, const std::string& body) {
  auto r = music_submit(sim, body);
  EXPECT_EQ(r.status, 201) << r.body;
  if (r.status != 201) return {};
  return std::string(json::parse(r.body).at("id").as_string());
}

inline HttpResult music_poll(const Sim& sim, const std::string& id) {
  return http_get(sim.base_url() + "/v2/generate/audio?generation_id=" + id, auth());
}

// Polls until the generation has `status` (or the timeout passes); the last answer.
inline json::value music_wait(const Sim& sim, const std::string& id, const std::string& status,
                              std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  json::value last;
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = music_poll(sim, id);
    EXPECT_EQ(r.status, 200) << r.body;
    if (r.status != 200) return {};
    last = json::parse(r.body);
    if (str(last, "status") == status) return last;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return last;
}

inline std::set<std::string> keys_of(const json::value& v) {
  std::set<std::string> k;
  if (v.is_object())
    for (auto& kv : v.as_object()) k.insert(std::string(kv.key()));
  return k;
}

// --- sunoapi flavor (POST /api/v1/generate, GET .../record-info) -------------

inline std::string suno_body(const std::string& model = "V5", const std::string& title = "Song",
                             const std::string& prompt = "[Verse]\nla la la\n[Chorus]\noh oh") {
  json::object o;
  o["customMode"] = true;
  o["instrumental"] = false;
  o["model"] = model;
  o["prompt"] = prompt;
  o["style"] = "pop rock";
  o["title"] = title;
  o["negativeTags"] = "metal";
  o["callBackUrl"] = "https://example.test/callback";
  return json::serialize(o);
}

inline HttpResult suno_submit(const Sim& sim, const std::string& body, const std::string& key = "test-key") {
  return http("POST", sim.base_url() + "/api/v1/generate", auth(key, body));
}

inline std::string task_id(const Sim& sim, const std::string& body) {
  auto r = suno_submit(sim, body);
  EXPECT_EQ(r.status, 200) << r.body;
  auto v = json::parse(r.body);
  EXPECT_EQ(v.at("code").to_number<int>(), 200) << r.body;
  if (v.at("code").to_number<int>() != 200) return {};
  return std::string(v.at("data").at("taskId").as_string());
}

inline HttpResult record_info(const Sim& sim, const std::string& task) {
  return http_get(sim.base_url() + "/api/v1/generate/record-info?taskId=" + task, auth());
}

// The `data` of record-info once its status is `status` (or the last one seen).
inline json::value wait_task(const Sim& sim, const std::string& task, const std::string& status,
                             std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  json::value last;
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = record_info(sim, task);
    EXPECT_EQ(r.status, 200) << r.body;
    if (r.status != 200) return {};
    last = json::parse(r.body).at("data");
    if (str(last, "status") == status) return last;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return last;
}

inline int code_of(const HttpResult& r) {
  auto v = json::parse(r.body);
  return v.at("code").to_number<int>();
}

// --- WAV ----------------------------------------------------------------------

struct WavHeader {
  bool ok = false;
  std::string why;
  std::uint32_t riff_size = 0, fmt_size = 0, rate = 0, byte_rate = 0, data_size = 0;
  std::uint16_t format = 0, channels = 0, block_align = 0, bits = 0;
  double seconds() const { return block_align ? static_cast<double>(data_size) / block_align / rate : 0; }
};

inline WavHeader parse_wav(const std::string& b) {
  WavHeader h;
  auto u32 = [&](std::size_t at) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(b[at])) |
           static_cast<std::uint32_t>(static_cast<unsigned char>(b[at + 1])) << 8 |
           static_cast<std::uint32_t>(static_cast<unsigned char>(b[at + 2])) << 16 |
           static_cast<std::uint32_t>(static_cast<unsigned char>(b[at + 3])) << 24;
  };
  auto u16 = [&](std::size_t at) {
    return static_cast<std::uint16_t>(static_cast<unsigned char>(b[at]) | static_cast<unsigned char>(b[at + 1]) << 8);
  };
  if (b.size() < 44) return h.why = "shorter than a header", h;
  if (b.compare(0, 4, "RIFF") != 0 || b.compare(8, 4, "WAVE") != 0) return h.why = "no RIFF/WAVE", h;
  h.riff_size = u32(4);
  if (b.compare(12, 4, "fmt ") != 0) return h.why = "no fmt chunk first", h;
  h.fmt_size = u32(16);
  h.format = u16(20);
  h.channels = u16(22);
  h.rate = u32(24);
  h.byte_rate = u32(28);
  h.block_align = u16(32);
  h.bits = u16(34);
  std::size_t data = 20 + h.fmt_size;
  if (data + 8 > b.size() || b.compare(data, 4, "data") != 0) return h.why = "no data chunk after fmt", h;
  h.data_size = u32(data + 4);
  h.ok = true;
  return h;
}

}  // namespace simtest
