// setlist-sim: a local, fault-injecting stand-in for the music-generation API.
// See docs/simulator.md.
#include "sim/config.hpp"
#include "sim/server.hpp"

#include <exception>
#include <iostream>

int main(int argc, char** argv) {
  try {
    auto cfg = sim::parse_command_line(argc, argv);
    if (!cfg) return 0;
    return sim::run_server(*cfg);
  } catch (const std::exception& e) {
    std::cerr << "setlist-sim: " << e.what() << "\n";
    return 2;
  }
}
