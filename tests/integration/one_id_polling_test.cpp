// Providers that answer one generation id per GET (AIML's music models):
// each song polls on its own schedule, learned from the run's own finished
// generations (#20). Read from the simulator's request log: when each
// generation was created, and when setlist first asked about it.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <algorithm>
#include <map>
#include <sstream>

#include "integration_support.hpp"

using namespace setlist::test;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

std::string album(int songs) {
  std::string y = "album:\n  title: Pace\n  artist: The Pollers\ndefaults:\n  model: minimax/music-2.6\n"
                  "  tags: [indie pop]\nsongs:\n";
  for (int i = 1; i <= songs; ++i)
    y += "  - title: Pace " + std::to_string(i) + "\n    lyrics: |\n      [Verse]\n      Line of song " +
         std::to_string(i) + "\n";
  return y;
}

struct Generation {
  double created = 0;           // s since the simulator started
  std::vector<double> polls;    // when setlist asked about it
};

// "+1.234s api GET /v2/generate/audio?generation_id=ID -> 200 512"
std::map<std::string, Generation> polls_from_log(const std::string& log, const json::object& stats) {
  std::map<std::string, Generation> g;
  for (auto& [id, c] : stats.at("clips").as_object())
    g[std::string(id)].created = c.as_object().at("created_ms").to_number<double>() / 1000;
  std::istringstream lines(log);
  const std::string marker = " api GET /v2/generate/audio?generation_id=";
  for (std::string line; std::getline(lines, line);) {
    auto at = line.find(marker);
    if (line.empty() || line[0] != '+' || at == std::string::npos) continue;
    auto id = line.substr(at + marker.size());
    id = id.substr(0, id.find_first_of(" &"));
    if (auto it = g.find(id); it != g.end()) it->second.polls.push_back(std::atof(line.c_str() + 1));
  }
  return g;
}

}  // namespace

// Every generation takes 2 s. Before any has finished, a song's first poll
// comes at the longest poll interval (1 s here: the provider's 60 s estimate
// is far off); once five have finished, later songs are first asked about
// near 2 s, and need two or three polls each rather than a poll every
// 100 ms from the first second.
TEST(OneIdPolling, LaterSongsArePolledFirstNearTheTimeThisRunsGenerationsTook) {
  TempDir dir;
  const int songs = 24;
  write_file(dir / "album.yaml", album(songs));
  Sim sim(dir.path(), {"--latency", "2s", "--latency-jitter", "0ms", "--duration", "2s..3s", "--seed", "5", "--log"});
  auto out = dir / "out";
  auto args = fast_run_args(sim, dir / "album.yaml", out,
                            {"--submit-rate", "4/s", "--submit-burst", "1", "--max-in-flight", "24",
                             // gets are plentiful: the schedule alone decides when a song is asked about
                             "--poll-rate", "100/s", "--poll-burst", "20"});
  args = with_arg(args, "--poll-interval-max", "1s");
  auto r = run_setlist(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto gens = polls_from_log(sim.log(), sim.stats().as_object());
  ASSERT_EQ(gens.size(), static_cast<std::size_t>(songs));

  std::vector<Generation> order;
  for (auto& [id, g] : gens) order.push_back(g);
  std::sort(order.begin(), order.end(), [](auto& a, auto& b) { return a.created < b.created; });
  // The fifth generation settles 2 s after its creation; allow half a second
  // for setlist to see it. Songs created after that have a learned schedule.
  const double learned_from = order[4].created + 2.5;
  int late = 0;
  for (auto& g : order) {
    ASSERT_FALSE(g.polls.empty()) << "a generation never polled";
    const double first = *std::min_element(g.polls.begin(), g.polls.end()) - g.created;
    if (g.created < learned_from) {
      // Not yet learned: no earlier than the interval floor.
      EXPECT_GE(first, 0.09) << "created at " << g.created;
      continue;
    }
    ++late;
    EXPECT_GE(first, 1.5) << "created at " << g.created << ": first poll " << first << " s after";
    EXPECT_LE(g.polls.size(), 4u) << "created at " << g.created;
  }
  EXPECT_GE(late, 3) << "too few songs started after the schedule was learned";
}
