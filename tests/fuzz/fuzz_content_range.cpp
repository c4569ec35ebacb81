// Fuzz target: Content-Range, URLs and redirect Locations.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "http/url.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view v(reinterpret_cast<const char*>(data), size);
  (void)setlist::http::content_range_start(v);
  auto u = setlist::http::Url::parse(v);
  if (u && u->scheme != "http" && u->scheme != "https") std::abort();  // no file:, no other schemes
  static const auto base = *setlist::http::Url::parse("https://cdn.example.com/a/b.mp3");
  auto r = base.resolve(v);
  if (r && r->scheme != "http" && r->scheme != "https") std::abort();
  (void)setlist::http::proxy_bypassed("api.example.com", v);
  return 0;
}
