// Fuzz target: the manifest loader. Any text yields diagnostics or a
// manifest, never a crash or a hang. Seed corpus: the manifests in jobs/.
#include <cstdint>
#include <string>

#include "setlist/manifest.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 64 * 1024) return 0;
  std::string text(reinterpret_cast<const char*>(data), size);
  auto r = setlist::parse_manifest(text, "fuzz.yaml", "/nonexistent-fuzz-dir");
  for (auto& d : r.diagnostics) (void)d.format();
  return 0;
}
