// What a manifest load said, one formatted diagnostic a line: the manifest
// tests compare these texts whole.
#pragma once

#include <string>
#include <vector>

#include "setlist/manifest.hpp"

namespace setlist::test_manifest {

using Lines = std::vector<std::string>;

inline Lines messages(const LoadResult& r) {
  Lines out;
  for (const auto& d : r.diagnostics) out.push_back(d.format());
  return out;
}

}  // namespace setlist::test_manifest
