#include "http/url.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cctype>
#include <charconv>
#include <cstring>

namespace setlist::http {

std::optional<Url> Url::parse(std::string_view text) {
  auto r = boost::urls::parse_uri(text);
  if (!r) return std::nullopt;
  Url u;
  u.scheme = std::string(r->scheme());
  for (auto& c : u.scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (u.scheme != "http" && u.scheme != "https") return std::nullopt;
  if (r->has_userinfo()) return std::nullopt;  // never send credentials embedded in URLs
  // After an authority the path is empty or starts with '/'. Boost.URL 1.81
  // reads "http://127.0.0.1.evil.com/" as the address 127.0.0.1 followed by
  // the path ".evil.com/" (boostorg/url#755): such a URL names a host that
  // only starts like an address, so it is refused rather than misread.
  if (auto path = r->encoded_path(); !path.empty() && path.front() != '/') return std::nullopt;
  u.host = std::string(r->encoded_host_address());
  if (u.host.empty()) return std::nullopt;
  // IPv6 literals arrive bracketed in encoded_host_address? normalise to bare form.
  if (u.host.size() > 2 && u.host.front() == '[' && u.host.back() == ']') u.host = u.host.substr(1, u.host.size() - 2);
  u.port = std::string(r->port());
  if (u.port.empty()) u.port = u.https() ? "443" : "80";
  u.target = std::string(r->encoded_target());
  if (u.target.empty() || u.target.front() != '/') u.target = "/" + u.target;
  return u;
}

std::optional<Url> Url::resolve(std::string_view location) const {
  const std::string self = str();  // the views below point into it
  auto base = boost::urls::parse_uri(self);
  auto ref = boost::urls::parse_uri_reference(location);
  if (!base || !ref) return std::nullopt;
  boost::urls::url dest;
  auto rv = boost::urls::resolve(*base, *ref, dest);
  if (!rv) return std::nullopt;
  return parse(dest.buffer());
}

std::string Url::str() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return scheme + "://" + h + ":" + port + target;
}

bool Url::is_loopback() const { return host_is_loopback(host); }

bool host_is_loopback(std::string_view host) {
  std::string h(host);
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  std::string lower = h;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "localhost") return true;  // by name: resolved through the system's hosts file
  // Otherwise only an address literal, parsed whole: "127.0.0.1.evil.com"
  // or "127.evil" are names some DNS server answers for, not loopback.
  in_addr v4{};
  if (::inet_pton(AF_INET, h.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;  // 127.0.0.0/8
  in6_addr v6{};
  if (::inet_pton(AF_INET6, h.c_str(), &v6) == 1) {
    const unsigned char* b = v6.s6_addr;
    static constexpr unsigned char loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    if (std::memcmp(b, loopback, 16) == 0) return true;  // ::1
    static constexpr unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return std::memcmp(b, mapped, 12) == 0 && b[12] == 127;  // ::ffff:127.x.y.z
  }
  return false;
}

std::optional<AddressScope> address_scope(std::string_view literal) {
  std::string h(literal);
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  auto v4_scope = [](std::uint32_t a) {
    if ((a >> 24) == 127) return AddressScope::loopback;
    if ((a >> 16) == 0xA9FE) return AddressScope::link_local;  // 169.254/16
    if ((a >> 24) == 10 || (a >> 20) == 0xAC1 || (a >> 16) == 0xC0A8)  // 10/8, 172.16/12, 192.168/16
      return AddressScope::private_net;
    return AddressScope::global;
  };
  in_addr v4{};
  if (::inet_pton(AF_INET, h.c_str(), &v4) == 1) return v4_scope(ntohl(v4.s_addr));
  in6_addr v6{};
  if (::inet_pton(AF_INET6, h.c_str(), &v6) == 1) {
    const unsigned char* b = v6.s6_addr;
    static constexpr unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(b, mapped, 12) == 0)
      return v4_scope(static_cast<std::uint32_t>(b[12]) << 24 | static_cast<std::uint32_t>(b[13]) << 16 |
                      static_cast<std::uint32_t>(b[14]) << 8 | b[15]);
    static constexpr unsigned char loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    if (std::memcmp(b, loopback, 16) == 0) return AddressScope::loopback;
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return AddressScope::link_local;  // fe80::/10
    if ((b[0] & 0xfe) == 0xfc) return AddressScope::private_net;              // fc00::/7
    return AddressScope::global;
  }
  return std::nullopt;
}

std::string scope_description(AddressScope s) {
  switch (s) {
    case AddressScope::loopback: return "a loopback address (127.0.0.0/8, ::1)";
    case AddressScope::link_local: return "a link-local address (169.254.0.0/16, fe80::/10)";
    case AddressScope::private_net:
      return "a private address (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fc00::/7)";
    case AddressScope::global: break;
  }
  return "a public address";
}

std::optional<std::uint64_t> content_range_start(std::string_view v) {
  if (v.substr(0, 6) != "bytes ") return std::nullopt;
  v.remove_prefix(6);
  auto dash = v.find('-');
  auto slash = v.find('/');
  if (dash == std::string_view::npos || dash == 0 || slash == std::string_view::npos || slash < dash) return std::nullopt;
  std::uint64_t start = 0, end = 0;
  auto r1 = std::from_chars(v.data(), v.data() + dash, start);
  auto r2 = std::from_chars(v.data() + dash + 1, v.data() + slash, end);
  if (r1.ec != std::errc{} || r1.ptr != v.data() + dash || r2.ec != std::errc{} || r2.ptr != v.data() + slash ||
      end < start)
    return std::nullopt;
  auto total = v.substr(slash + 1);
  if (total != "*") {
    std::uint64_t t = 0;
    auto r3 = std::from_chars(total.data(), total.data() + total.size(), t);
    if (r3.ec != std::errc{} || r3.ptr != total.data() + total.size() || t <= end) return std::nullopt;
  }
  return start;
}

bool proxy_bypassed(std::string_view host, std::string_view no_proxy) {
  auto lower = [](std::string_view v) {
    std::string o(v);
    for (auto& c : o) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return o;
  };
  std::string h = lower(host);
  std::size_t i = 0;
  while (i < no_proxy.size()) {
    while (i < no_proxy.size() && (no_proxy[i] == ',' || no_proxy[i] == ' ')) ++i;
    std::size_t j = i;
    while (j < no_proxy.size() && no_proxy[j] != ',' && no_proxy[j] != ' ') ++j;
    std::string e = lower(no_proxy.substr(i, j - i));
    i = j;
    if (e.empty()) continue;
    if (e == "*") return true;
    if (e.front() == '[') {  // [::1]:port
      auto close = e.find(']');
      e = close == std::string::npos ? e : e.substr(1, close - 1);
    } else if (auto colon = e.rfind(':'); colon != std::string::npos && e.find(':') == colon) {
      e.resize(colon);  // host:port
    }
    if (!e.empty() && e.front() == '.') e.erase(0, 1);
    if (h == e) return true;
    if (h.size() > e.size() && h.compare(h.size() - e.size(), e.size(), e) == 0 && h[h.size() - e.size() - 1] == '.')
      return true;
  }
  return false;
}

std::optional<Url> join(std::string_view base_url, std::string_view target) {
  auto base = Url::parse(base_url);
  if (!base) return std::nullopt;
  std::string prefix = base->target;
  auto q = prefix.find('?');
  if (q != std::string::npos) prefix.resize(q);
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  base->target = prefix + (target.empty() || target.front() != '/' ? "/" : "") + std::string(target);
  return base;
}

}  // namespace setlist::http
