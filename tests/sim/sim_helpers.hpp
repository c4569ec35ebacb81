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

}  // namespace simtest
