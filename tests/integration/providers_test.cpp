// One album through every API flavor, each against the simulator speaking it.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "integration_support.hpp"

using namespace setlist::test;
namespace json = boost::json;

namespace {

struct Flavor {
  std::string name;
  std::string custom_route;
  std::string description_route;
  std::string poll_route;
};
void PrintTo(const Flavor& f, std::ostream* os) { *os << f.name; }


std::string album_with_description() {
  return album_yaml(3) +
         "  - title: Described\n    description: a slow piano piece for a rainy night, no drums\n"
         "    make_instrumental: true\n";
}

std::int64_t count(const json::object& requests, const std::string& route) {
  auto* r = requests.if_contains(route);
  if (!r) return 0;
  std::int64_t n = 0;
  for (auto& [status, c] : r->as_object()) n += c.as_int64();
  return n;
}

}  // namespace

class Providers : public ::testing::TestWithParam<Flavor> {};

TEST_P(Providers, SameAlbumCompletesThroughTheFlavorsOwnRoutes) {
  const auto& f = GetParam();
  TempDir dir;
  write_file(dir / "album.yaml", album_with_description());
  Sim sim(dir.path(), fast_sim_args({"--flavor", f.name}));
  Env env;
  if (f.name == "suno-api") env["AIML_API_KEY"] = "\x01unset";  // self-hosted: no key needed
  auto r = run_setlist(fast_run_args(sim, dir / "album.yaml", dir / "out", {"--provider", f.name}), env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto stats = sim.stats().as_object();
  auto& req = stats.at("requests").as_object();
  if (f.custom_route == f.description_route) {  // v2: one route, two body shapes
    EXPECT_EQ(count(req, "POST " + f.custom_route), 4) << json::serialize(req);
  } else {
    EXPECT_EQ(count(req, "POST " + f.custom_route), 3) << json::serialize(req);
    EXPECT_EQ(count(req, "POST " + f.description_route), 1) << json::serialize(req);
  }
  auto polls = count(req, "GET " + f.poll_route);
  EXPECT_GT(polls, 0) << json::serialize(req);
  if (f.name == "aimlapi-v2") {
    // Long polls: about one per song, far fewer than plain polling would need.
    EXPECT_LE(polls, 8) << json::serialize(req);
  }
  auto report = read_json(dir / "out" / "report.json");  // alive for the loop
  for (auto& s : report.as_object().at("songs").as_array())
    EXPECT_EQ(s.at("status").as_string(), "complete") << s.at("title");
}

INSTANTIATE_TEST_SUITE_P(
    Flavors, Providers,
    ::testing::Values(Flavor{"aimlapi", "/generate/custom-mode", "/generate", "/"},
                      Flavor{"aimlapi-v2", "/v2/generate/audio/suno-ai/clip", "/v2/generate/audio/suno-ai/clip",
                             "/v2/generate/audio/suno-ai/clips"},
                      Flavor{"suno-api", "/api/custom_generate", "/api/generate", "/api/get"}),
    [](const auto& info) {
      std::string n = info.param.name;
      for (auto& c : n)
        if (c == '-') c = '_';
      return n;
    });
