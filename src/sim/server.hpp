// The network side of setlist-sim: two listeners (API and CDN), HTTP/1.1
// keep-alive sessions on one io_context, optional TLS. Beast lives only in
// server.cpp.
#pragma once

#include "sim/config.hpp"

namespace sim {

// Runs until SIGINT/SIGTERM; returns the process exit code.
int run_server(const Config& cfg);

}  // namespace sim
