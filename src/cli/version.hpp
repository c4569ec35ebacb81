// `setlist --version`: the version (CMake's project VERSION) and the git
// commit it was built from, captured at build time.
#pragma once

#include <string>

std::string version_text();  // "setlist 0.1.0 (git 8b5aa53c1f2e)"
