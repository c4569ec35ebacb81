#include <gtest/gtest.h>

#include "http/url.hpp"

using namespace setlist::http;

TEST(Url, ParsesAndJoinsWithAPathPrefix) {
  auto u = Url::parse("https://api.example.com/v1?x=1");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->port, "443");
  EXPECT_EQ(u->target, "/v1?x=1");
  EXPECT_EQ(join("http://api.example.test:8080/api/", "/generate")->str(), "http://api.example.test:8080/api/generate");
  EXPECT_FALSE(Url::parse("file:///etc/passwd"));
  EXPECT_FALSE(Url::parse("ftp://x/y"));
  EXPECT_FALSE(Url::parse("https://user:pw@host/"));  // credentials in URLs are never sent
}

TEST(Url, ResolvesRedirects) {
  auto u = Url::parse("https://cdn.example.com/a/b.mp3");
  EXPECT_EQ(u->resolve("/c.mp3")->str(), "https://cdn.example.com:443/c.mp3");
  EXPECT_EQ(u->resolve("https://other.example.com/x")->host, "other.example.com");
  EXPECT_FALSE(u->resolve("file:///etc/passwd"));
}

TEST(NoProxy, CurlRules) {
  EXPECT_TRUE(proxy_bypassed("api.example.com", "example.com"));
  EXPECT_TRUE(proxy_bypassed("api.example.com", ".example.com"));
  EXPECT_TRUE(proxy_bypassed("example.com", "other.org, example.com:443"));
  EXPECT_FALSE(proxy_bypassed("notexample.com", "example.com"));
  EXPECT_TRUE(proxy_bypassed("127.0.0.1", "localhost,127.0.0.1"));
  EXPECT_TRUE(proxy_bypassed("anything", "*"));
  EXPECT_FALSE(proxy_bypassed("api.example.com", ""));
  EXPECT_TRUE(proxy_bypassed("API.Example.COM", "example.com"));
}

TEST(ContentRange, OnlyWellFormedRangesAreBelieved) {
  EXPECT_EQ(content_range_start("bytes 100-199/200"), 100u);
  EXPECT_EQ(content_range_start("bytes 0-0/*"), 0u);
  EXPECT_FALSE(content_range_start("bytes 100-99/200"));   // end before start
  EXPECT_FALSE(content_range_start("bytes 100-199/150"));  // past the total
  EXPECT_FALSE(content_range_start("bytes */200"));        // the 416 form
  EXPECT_FALSE(content_range_start("bytes -5/200"));
  EXPECT_FALSE(content_range_start("items 1-2/3"));
  EXPECT_FALSE(content_range_start("bytes 1x-2/3"));
  EXPECT_FALSE(content_range_start("bytes 99999999999999999999-1/2"));
  EXPECT_FALSE(content_range_start(""));
}

// Loopback is what the address says, never what a name starts with: plain
// http is allowed only from a loopback API to a loopback file.
TEST(Url, LoopbackIsDecidedFromTheParsedAddress) {
  auto loop = [](const char* text) {
    auto u = Url::parse(text);
    EXPECT_TRUE(u) << text;
    return u && u->is_loopback();
  };
  EXPECT_TRUE(loop("http://127.0.0.1/x"));
  EXPECT_TRUE(loop("http://127.255.3.4/"));  // all of 127.0.0.0/8
  EXPECT_TRUE(loop("http://localhost/"));
  EXPECT_TRUE(loop("http://LocalHost/"));
  EXPECT_TRUE(loop("http://[::1]:9000/"));
  EXPECT_TRUE(loop("http://[0:0:0:0:0:0:0:1]/"));
  EXPECT_TRUE(loop("http://[::ffff:127.0.0.1]/"));
  EXPECT_TRUE(loop("http://[::ffff:7f00:1]/"));  // the same address written in hex

  // Names that only look like loopback: some DNS server answers for them.
  // Boost.URL 1.81 reads "127.0.0.1.evil.com" as 127.0.0.1 plus the path
  // ".evil.com/": such URLs are refused whole, never taken for the address.
  for (auto text : {"http://127.0.0.1.evil.com/", "http://127.0.0.1evil/", "http://127.0.0.1.evil.com",
                    "http://127.0.0.1:80.evil.com/", "http://[::1].evil.com/"}) {
    auto u = Url::parse(text);
    EXPECT_FALSE(u && u->is_loopback()) << text;
    EXPECT_FALSE(u) << text << " read as " << u->str();
  }
  EXPECT_FALSE(loop("http://127.evil/"));
  EXPECT_FALSE(loop("http://localhost.evil.com/"));
  EXPECT_FALSE(loop("http://evil-localhost/"));
  // Other addresses.
  EXPECT_FALSE(loop("http://128.0.0.1/"));
  EXPECT_FALSE(loop("http://10.0.0.1/"));
  EXPECT_FALSE(loop("http://[::2]/"));
  EXPECT_FALSE(loop("http://[::ffff:10.0.0.1]/"));
  EXPECT_FALSE(loop("http://[::ffff:128.0.0.1]/"));
  EXPECT_FALSE(loop("http://[fe80::1]/"));
  // Shorthand and hex IPv4 forms are not parsed as addresses here (refusing is the safe side).
  EXPECT_FALSE(loop("http://127.1/"));
  EXPECT_FALSE(loop("http://0x7f.0.0.1/"));

  EXPECT_TRUE(host_is_loopback("[::1]"));
  EXPECT_TRUE(host_is_loopback("::ffff:127.0.0.1"));
  EXPECT_FALSE(host_is_loopback(""));
  EXPECT_FALSE(host_is_loopback("127."));
}

// Where a download may go: loopback, link-local and private addresses are
// told apart from the rest from the parsed address (docs/security.md).
TEST(Url, AddressScopesAreClassifiedFromTheParsedAddress) {
  using S = setlist::http::AddressScope;
  auto scope = [](const char* host) { return setlist::http::address_scope(host); };
  struct Case {
    const char* host;
    S scope;
  };
  for (auto c : std::vector<Case>{
           {"127.0.0.1", S::loopback},       {"127.9.8.7", S::loopback},          {"::1", S::loopback},
           {"[::1]", S::loopback},           {"::ffff:127.0.0.1", S::loopback},   {"169.254.169.254", S::link_local},
           {"169.254.0.1", S::link_local},   {"fe80::1", S::link_local},          {"[febf::1]", S::link_local},
           {"10.0.0.1", S::private_net},     {"10.255.255.255", S::private_net},  {"172.16.0.1", S::private_net},
           {"172.31.255.254", S::private_net}, {"192.168.1.1", S::private_net},   {"fc00::1", S::private_net},
           {"fd12:3456::1", S::private_net}, {"::ffff:10.1.2.3", S::private_net}, {"::ffff:192.168.0.1", S::private_net},
           {"8.8.8.8", S::global},           {"172.15.255.255", S::global},       {"172.32.0.1", S::global},
           {"169.253.1.1", S::global},       {"192.169.0.1", S::global},          {"11.0.0.1", S::global},
           {"2001:db8::1", S::global},       {"fec0::1", S::global},              {"::ffff:8.8.8.8", S::global},
       }) {
    auto s = scope(c.host);
    ASSERT_TRUE(s) << c.host;
    EXPECT_EQ(*s, c.scope) << c.host;
  }
  // Names are not addresses: they are classified once resolved.
  for (auto name : {"localhost", "10.0.0.1.example.com", "cdn.example.com", "169.254.169.254.nip.io", ""})
    EXPECT_FALSE(scope(name)) << name;
}
