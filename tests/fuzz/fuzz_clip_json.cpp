// Fuzz target: clip and error answers of every flavor, and what they mean
// (classify). Must never crash, whatever the bytes: a bad answer is an
// Error value.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "setlist/manifest.hpp"
#include "setlist/provider.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto owners = [] {
    std::vector<std::unique_ptr<setlist::Provider>> v;
    for (auto n : {"aimlapi", "aimlapi-v2", "suno-api", "sunoapi"}) v.push_back(setlist::make_provider(n));
    return v;
  }();
  // Every flavor, including the AIML music-models one behind "aimlapi".
  static const auto providers = [] {
    std::vector<const setlist::Provider*> v;
    for (auto& p : owners) v.push_back(p.get());
    setlist::Song s;
    s.title = "t";
    s.tags = "x";
    v.push_back(&owners[0]->for_payload(owners[0]->payload(s, "minimax/music-2.6")));
    return v;
  }();
  std::string_view body(reinterpret_cast<const char*>(data), size);
  for (std::size_t i = 0; i < providers.size(); ++i) {
    const auto* p = providers[i];
    const bool live = i >= 3;  // sunoapi and the AIML music models set audio_url only when complete
    auto submitted = p->parse_submit(body);
    if (submitted)
      for (auto& c : submitted.value())
        if (!setlist::is_valid_clip_id(c.id)) __builtin_trap();
    auto clips = p->parse_poll(body);
    if (clips)
      for (auto& c : clips.value()) {
        if (!setlist::is_valid_clip_id(c.id)) __builtin_trap();  // parsing must have refused it
        // Only a finished clip has an audio URL to download.
        if (live && !c.audio_url.empty() && c.status != setlist::ClipStatus::complete) __builtin_trap();
      }
    (void)p->error_message(500, body);
    (void)p->classify(200, body);
    (void)p->classify(503, body);
  }
  // Slot and server ids round-trip.
  auto id = setlist::encode_server_id(body);
  if (!id.empty()) {
    auto back = setlist::decode_server_id(id);
    if (!back || *back != body) __builtin_trap();
  }
  return 0;
}
