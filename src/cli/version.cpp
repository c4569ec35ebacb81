#include "cli/version.hpp"

#include "setlist_version.hpp"  // generated into the build tree

std::string version_text() { return std::string("setlist ") + SETLIST_VERSION + " (git " + SETLIST_GIT_COMMIT + ")"; }
