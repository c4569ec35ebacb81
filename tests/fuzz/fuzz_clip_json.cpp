// Fuzz target: clip and error answers of every flavor. Must never crash,
// whatever the bytes: a bad answer is an Error value.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "setlist/provider.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto providers = [] {
    std::vector<std::unique_ptr<setlist::Provider>> v;
    for (auto n : {"aimlapi", "aimlapi-v2", "suno-api"}) v.push_back(setlist::make_provider(n));
    return v;
  }();
  std::string_view body(reinterpret_cast<const char*>(data), size);
  for (auto& p : providers) {
    (void)p->parse_submit(body);
    auto clips = p->parse_poll(body);
    if (clips)
      for (auto& c : clips.value())
        if (!setlist::is_valid_clip_id(c.id)) __builtin_trap();  // parsing must have refused it
    (void)p->error_message(500, body);
  }
  return 0;
}
