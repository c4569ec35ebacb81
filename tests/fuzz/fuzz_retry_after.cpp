// Fuzz target: Retry-After (seconds or HTTP-date). Never crashes, never
// returns more than the clamp, never a negative wait.
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "setlist/policy.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace std::chrono_literals;
  std::string_view v(reinterpret_cast<const char*>(data), size);
  const auto max = std::chrono::duration_cast<setlist::policy::Micros>(600s);
  auto d = setlist::policy::parse_retry_after(v, 1'700'000'000, max);
  if (d && (*d < setlist::policy::Micros(0) || *d > max)) std::abort();
  (void)setlist::policy::parse_http_date(v);
  return 0;
}
