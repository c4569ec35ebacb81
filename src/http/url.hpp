// URLs as the HTTP part sees them: scheme, host, port, target.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace setlist::http {

struct Url {
  std::string scheme;  // "http" or "https"
  std::string host;
  std::string port;    // always set (default 80/443)
  std::string target;  // path and query, at least "/"

  static std::optional<Url> parse(std::string_view text);
  // A Location header value (absolute or relative) against this URL.
  std::optional<Url> resolve(std::string_view location) const;
  std::string origin() const { return scheme + "://" + host + ":" + port; }
  std::string str() const;
  bool https() const { return scheme == "https"; }
  // True for "localhost" (by name, any case) and for an address literal in
  // 127.0.0.0/8, ::1 or ::ffff:127.0.0.0/104, decided from the parsed
  // address: "127.0.0.1.evil.com" and "127.evil" are names, not loopback.
  bool is_loopback() const;
};

// The same test on a bare host (an IPv6 literal with or without brackets).
bool host_is_loopback(std::string_view host);

// Where an address leads, for the rule that the CDN may reach into this
// machine or its network only when the API itself is there (docs/security.md):
// loopback (127/8, ::1), link-local (169.254/16, fe80::/10), private
// (10/8, 172.16/12, 192.168/16, fc00::/7) or anything else (global). IPv4-mapped
// IPv6 addresses (::ffff:a.b.c.d) are classified as their IPv4 address.
enum class AddressScope { global, loopback, link_local, private_net };
// The scope of an address literal (an IPv6 one with or without brackets);
// nothing for a host name.
std::optional<AddressScope> address_scope(std::string_view literal);
// "a loopback address (127.0.0.0/8, ::1)", "a link-local address (...)" ...
std::string scope_description(AddressScope s);

// NO_PROXY matching, as curl does it: comma- or space-separated entries;
// "*" matches every host; "example.com" and ".example.com" match the host
// and its subdomains; an entry may carry ":port" (ignored); IPs match exactly.
bool proxy_bypassed(std::string_view host, std::string_view no_proxy);

// "bytes START-END/TOTAL" (TOTAL may be "*"): START, or nothing when the
// header is anything else (never trusted beyond what it says).
std::optional<std::uint64_t> content_range_start(std::string_view value);

// base_url + target, where the base may carry a path prefix ("https://x/api").
std::optional<Url> join(std::string_view base_url, std::string_view target);

}  // namespace setlist::http
