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
