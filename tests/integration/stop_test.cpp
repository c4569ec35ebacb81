// Stopping a run anywhere: first and second signals at each phase (a slow
// download, a backoff after 429 or 5xx, a long poll), SIGTERM, an exception
// inside a coroutine, and a 50-song album interrupted at random moments.
// CI runs these under ASan and UBSan (scripts/test.sh --sanitize --stop-tests):
// a destructor touching freed memory fails them there.
#include <gtest/gtest.h>

#include <algorithm>
#include <signal.h>

#include <boost/json.hpp>
#include <random>
#include <thread>

#include "integration_support.hpp"

using namespace setlist::test;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

// Waits until `p`'s stderr holds `text`; false when it exits or time runs out first.
bool wait_for_err(Process& p, const std::string& text, std::chrono::milliseconds timeout = 30s) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (p.err().find(text) != std::string::npos) return true;
    if (!p.running()) return false;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

std::int64_t stat(Sim& sim, const char* name) {
  return sim.stats().as_object().at(name).as_int64();
}

int count(const std::map<std::string, std::string>& st, const std::string& status) {
  int n = 0;
  for (auto& [t, s] : st) n += s == status;
  return n;
}

// A run that exited on a signal: 130, the resume hint, reports written.
void expect_clean_interrupt(Process& p, const fs::path& out) {
  EXPECT_EQ(p.term_signal(), 0) << "killed by signal " << p.term_signal() << "\n" << p.err();
  EXPECT_EQ(p.exit_code(), 130) << p.err();
  EXPECT_NE(p.err().find("run the same command again to resume"), std::string::npos) << p.err();
  EXPECT_TRUE(fs::exists(out / "report.json"));
  EXPECT_TRUE(fs::exists(out / "junit.xml"));
}

}  // namespace

TEST(Stop, FirstSignalMidDownloadFromASlowCdnExits130WithReportsAndResumes) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(4));
  // Every audio file trickles: 512 bytes every 40 ms, a few seconds each.
  Sim sim(dir.path(), fast_sim_args({"--fault", "trickle=40ms/audio@n1,n2,n3,n4,n5,n6,n7,n8"}));
  auto out = dir / "out";
  auto args =
      fast_run_args(sim, dir / "album.yaml", out, {"--submit-rate", "20/s", "--submit-burst", "4"});
  auto p = start_setlist(dir, args, "first");
  ASSERT_TRUE(wait_for_err(*p, "downloading")) << p->err();
  std::this_thread::sleep_for(200ms);
  p->signal(SIGINT);
  ASSERT_TRUE(p->wait(20s));
  expect_clean_interrupt(*p, out);
  EXPECT_EQ(count(statuses(out), "uncertain"), 0);

  auto r = run_setlist(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count(statuses(out), "complete"), 4);
  EXPECT_EQ(stat(sim, "generate_requests"), 4);
  EXPECT_EQ(stat(sim, "duplicate_submissions"), 0);
}

// A take whose download is refused (503) while the run is stopping is not
// tried again then, and its song is not failed for it: it stays bought (its
// clips known) and the next run fetches it without paying. (Seen once in the
// 50-song test below: a 503 on take B during the stop left a song failed.)
TEST(Stop, ADownloadRefusedDuringTheStopLeavesTheSongForTheNextRunNotFailed) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(1));
  // The CDN refuses the first 30 audio requests, then serves.
  std::string when;
  for (int i = 1; i <= 30; ++i) when += (i > 1 ? ",n" : "n") + std::to_string(i);
  Sim sim(dir.path(), fast_sim_args({"--fault", "503/audio@" + when}));
  auto out = dir / "out";
  auto args = with_arg(fast_run_args(sim, dir / "album.yaml", out, {"--retry-max-attempts", "100"}), "--retry-cap",
                       "200ms");
  auto p = start_setlist(dir, args, "first");
  auto refused = [&] {
    auto stats = sim.stats();
    auto& req = stats.as_object().at("requests").as_object();
    auto it = req.find("CDN /audio");
    if (it == req.end()) return std::int64_t(0);
    auto& by = it->value().as_object();
    return by.contains("503") ? by.at("503").as_int64() : std::int64_t(0);
  };
  for (int i = 0; i < 3000 && refused() < 2 && p->running(); ++i) std::this_thread::sleep_for(10ms);
  ASSERT_GE(refused(), 2) << p->err();
  p->signal(SIGINT);
  ASSERT_TRUE(p->wait(20s));
  expect_clean_interrupt(*p, out);
  auto st = statuses(out);
  ASSERT_EQ(st.size(), 1u);
  EXPECT_NE(st.begin()->second, "failed") << p->err();
  EXPECT_NE(st.begin()->second, "uncertain") << p->err();

  auto r = run_setlist(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count(statuses(out), "complete"), 1) << r.err;
  EXPECT_EQ(stat(sim, "generate_requests"), 1) << "the song was bought again";
}

// A song whose every request was refused (429 or 503, with Retry-After) and
// that was stopped while waiting to try again is pending, never uncertain:
// plan and status say so, and the next run pays for it once.
TEST(Stop, FirstSignalDuringBackoffLeavesRefusedSongsPendingNotUncertain) {
  const std::vector<std::vector<std::string>> refusals = {
      {"--generate-rate", "0.5", "--generate-burst", "1", "--retry-after",
       "seconds"},                                       // 429 + Retry-After
      {"--fault", "503=3s/generate@n2,n3,n4,n5,n6,n7"},  // 503 + Retry-After
  };
  for (auto& refusal : refusals) {
    TempDir dir;
    write_file(dir / "album.yaml", album_yaml(4));
    Sim sim(dir.path(), fast_sim_args(refusal));
    auto out = dir / "out";
    auto args = with_arg(with_arg(fast_run_args(sim, dir / "album.yaml", out,
                                                {"-v", "--submit-rate", "50/s", "--submit-burst",
                                                 "4", "--max-in-flight", "1"}),
                                  "--retry-base", "2s"),
                         "--retry-cap", "4s");
    auto p = start_setlist(dir, args, "first");
    ASSERT_TRUE(wait_for_err(*p, "retrying in")) << p->err();
    p->signal(SIGINT);
    ASSERT_TRUE(p->wait(20s));
    expect_clean_interrupt(*p, out);
    auto st = statuses(out);
    EXPECT_EQ(count(st, "uncertain"), 0) << refusal[0] << "\n" << p->err();
    EXPECT_GE(count(st, "pending"), 1) << refusal[0];

    auto plan = run_setlist({"plan", (dir / "album.yaml").string(), "-o", out.string()});
    EXPECT_EQ(plan.exit_code, 0) << plan.err;
    EXPECT_EQ(plan.out.find("uncertain"), std::string::npos) << plan.out;
    auto status = run_setlist({"status", out.string()});
    EXPECT_EQ(status.out.find("uncertain"), std::string::npos) << status.out;

    auto r = run_setlist(args);
    EXPECT_EQ(r.exit_code, 0) << refusal[0] << "\n" << r.err;
    EXPECT_EQ(count(statuses(out), "complete"), 4);
    EXPECT_EQ(stat(sim, "duplicate_submissions"), 0);
  }
}

TEST(Stop, FirstSignalMidLongPollExits130AtOnce) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(3));
  Sim sim(dir.path(), {"--flavor", "aimlapi-v2", "--latency", "4s", "--latency-jitter", "100ms",
                       "--duration", "2s..3s", "--seed", "5"});
  auto out = dir / "out";
  auto args = fast_run_args(sim, dir / "album.yaml", out,
                            {"--provider", "aimlapi-v2", "--submit-rate", "20/s"});
  auto p = start_setlist(dir, args, "first");
  ASSERT_TRUE(wait_for_err(*p, "submitting")) << p->err();
  std::this_thread::sleep_for(600ms);  // the long polls are held by the server now
  auto t0 = std::chrono::steady_clock::now();
  p->signal(SIGINT);
  ASSERT_TRUE(p->wait(20s));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s) << "a held long poll must not hold the stop";
  expect_clean_interrupt(*p, out);
  EXPECT_EQ(count(statuses(out), "uncertain"), 0);

  auto r = run_setlist(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(stat(sim, "generate_requests"), 3);
}

TEST(Stop, SecondSignalStopsAtOnceAndTheRunResumes) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(3));
  // The first downloads crawl (512 bytes every 200 ms); later ones do not.
  Sim sim(dir.path(), fast_sim_args({"--fault", "trickle=200ms/audio@n1,n2"}));
  auto out = dir / "out";
  auto args =
      fast_run_args(sim, dir / "album.yaml", out, {"--submit-rate", "20/s", "--submit-burst", "3"});
  auto p = start_setlist(dir, args, "first");
  ASSERT_TRUE(wait_for_err(*p, "downloading")) << p->err();
  p->signal(SIGINT);
  ASSERT_TRUE(wait_for_err(*p, "interrupted")) << p->err();
  auto t0 = std::chrono::steady_clock::now();
  p->signal(SIGINT);
  ASSERT_TRUE(p->wait(20s));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s)
      << "the second signal cancels what is left at once";
  expect_clean_interrupt(*p, out);

  auto r = run_setlist(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count(statuses(out), "complete"), 3);
  EXPECT_EQ(stat(sim, "generate_requests"), 3);
}

TEST(Stop, SigtermStopsLikeTheFirstSigint) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(4));
  Sim sim(dir.path(), {"--latency", "3s", "--latency-jitter", "100ms", "--duration", "2s..3s"});
  auto out = dir / "out";
  auto args =
      fast_run_args(sim, dir / "album.yaml", out, {"--submit-rate", "20/s", "--submit-burst", "4"});
  auto p = start_setlist(dir, args, "first");
  ASSERT_TRUE(wait_for_err(*p, "submitting")) << p->err();
  std::this_thread::sleep_for(300ms);
  p->signal(SIGTERM);
  ASSERT_TRUE(p->wait(20s));
  expect_clean_interrupt(*p, out);
  auto st = statuses(out);
  EXPECT_EQ(count(st, "uncertain"), 0);
  auto r = run_setlist(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(stat(sim, "duplicate_submissions"), 0);
}

// An exception escaping a song's coroutine (here injected with
// SETLIST_TEST_FAULT) ends the run as "could not run": every other coroutine
// is cancelled and unwinds, the reports are written, nothing is lost.
TEST(Stop, AnExceptionInACoroutineEndsTheRunCleanlyWithExit3) {
  for (std::string fault : {"throw-in-download", "throw-in-submit"}) {
    TempDir dir;
    write_file(dir / "album.yaml", album_yaml(4));
    Sim sim(dir.path(), fast_sim_args());
    auto out = dir / "out";
    auto args = fast_run_args(sim, dir / "album.yaml", out,
                              {"--submit-rate", "20/s", "--submit-burst", "4"});
    auto p = start_setlist(dir, args, "first", {{"SETLIST_TEST_FAULT", fault}});
    ASSERT_TRUE(p->wait(60s));
    EXPECT_EQ(p->term_signal(), 0) << fault << ": killed by signal " << p->term_signal() << "\n"
                                   << p->err();
    EXPECT_EQ(p->exit_code(), 3) << fault << "\n" << p->err();
    EXPECT_NE(p->err().find("internal error: injected fault"), std::string::npos) << p->err();
    EXPECT_TRUE(fs::exists(out / "report.json"));
    EXPECT_EQ(count(statuses(out), "uncertain"), 0) << fault;

    auto r = run_setlist(args);
    EXPECT_EQ(r.exit_code, 0) << fault << "\n" << r.err;
    EXPECT_EQ(count(statuses(out), "complete"), 4);
    EXPECT_EQ(stat(sim, "duplicate_submissions"), 0) << fault;
  }
}

// Issue 15's "done when": a 50-song album interrupted at random moments
// (once, or twice in quick succession) under the flaky and the rate-limited
// scenarios always exits 130 with its reports written, and resumes to a
// complete album. Only a second signal may cut a request on the wire (and so
// leave a song uncertain); each of those is resubmitted on request at the end,
// and no other song is ever charged twice.
TEST(Stop, FiftySongsInterruptedAtRandomMomentsAlwaysExit130AndResume) {
  unsigned seed = std::random_device{}();
  if (const char* s = std::getenv("SETLIST_STOP_SEED")) seed = static_cast<unsigned>(std::stoul(s));
  int iterations = 20;
  if (const char* s = std::getenv("SETLIST_STOP_ITERATIONS")) iterations = std::stoi(s);
  std::cout << "stop test seed " << seed << " (replay with SETLIST_STOP_SEED=" << seed << ")"
            << std::endl;
  std::mt19937 rng(seed);

  for (std::string scenario : {"flaky", "rate-limited"}) {
    TempDir dir;
    write_file(dir / "album.yaml", album_yaml(50));
    auto sim_args = fast_sim_args({"--seed", std::to_string(seed), "--latency", "1500ms", "--fault",
                                   "trickle=3ms/audio@0.3"});
    if (scenario == "flaky") {
      for (const char* f :
           {"500/api@0.1", "502/api@0.05", "503=1s/generate@0.1", "503/cdn@0.1", "reset/get@0.05"})
        sim_args.insert(sim_args.end(), {"--fault", f});
    } else {
      sim_args.insert(sim_args.end(), {"--generate-rate", "4", "--generate-burst", "2",
                                       "--get-rate", "20", "--retry-after", "seconds"});
    }
    Sim sim(dir.path(), sim_args);
    auto out = dir / "out";
    auto args = fast_run_args(sim, dir / "album.yaml", out,
                              {"--submit-rate", "6/s", "--submit-burst", "3"});
    int interrupted = 0;
    int uncertain_before = 0;  // left by earlier double signals; they stay until resubmitted
    for (int i = 0; i < iterations; ++i) {
      auto p = start_setlist(dir, args, scenario + std::to_string(i));
      auto at = std::chrono::milliseconds(std::uniform_int_distribution<int>(100, 1500)(rng));
      if (p->wait(at)) {
        ASSERT_TRUE(p->exit_code() == 0 || p->exit_code() == 1)
            << scenario << " " << i << ": " << p->err();
        continue;  // it finished before the signal
      }
      const bool twice = i % 2 == 1;
      p->signal(SIGINT);
      if (twice) {
        std::this_thread::sleep_for(
            std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 300)(rng)));
        p->signal(SIGINT);
      }
      ASSERT_TRUE(p->wait(30s)) << scenario << " " << i;
      if (p->term_signal() == SIGINT && p->err().empty()) {
        // The signal came before main() could take it over (a slow start
        // under the sanitizers): the process ended having done nothing.
        continue;
      }
      if (p->exit_code() != 130) {
        // The last song may have ended just as the signal came.
        ASSERT_TRUE(p->exit_code() == 0 || p->exit_code() == 1)
            << scenario << " iteration " << i << ": exit " << p->exit_code() << " signal "
            << p->term_signal() << "\n"
            << p->err();
        continue;
      }
      ++interrupted;
      expect_clean_interrupt(*p, out);
      const int uncertain_now = count(statuses(out), "uncertain");
      if (!twice) {
        // A first signal alone lets answers on the wire be recorded: no new uncertain song.
        EXPECT_EQ(uncertain_now, uncertain_before) << scenario << " iteration " << i << "\n" << p->err();
      }
      uncertain_before = uncertain_now;
    }
    std::cout << scenario << ": " << interrupted << " interrupted runs" << std::endl;
    // Not vacuous: a good share of the runs were stopped mid-way. Not half:
    // once most songs are done, a run can finish before its signal, and how
    // soon that happens depends on the machine's speed and load (9 of 20
    // under ASan on a busy machine, 12 of 30 once a finished album's rerun
    // became fast).
    EXPECT_GE(interrupted, std::max(3, iterations / 4)) << scenario;

    auto calm = run_setlist(args);
    ASSERT_TRUE(calm.exit_code == 0 || calm.exit_code == 1) << calm.err;
    std::set<std::string> uncertain;
    for (auto& [title, st] : statuses(out)) {
      EXPECT_TRUE(st == "complete" || st == "uncertain")
          << scenario << ": " << title << " is " << st;
      if (st == "uncertain") uncertain.insert(title);
    }
    auto last = run_setlist(fast_run_args(sim, dir / "album.yaml", out, {"--resubmit-uncertain"}));
    ASSERT_EQ(last.exit_code, 0) << scenario << "\n" << last.err;
    EXPECT_EQ(count(statuses(out), "complete"), 50);
    auto stats = sim.stats().as_object();
    auto titles = payload_titles(stats);
    for (auto& [payload, n] : stats.at("submissions_by_payload").as_object()) {
      if (n.as_int64() > 1) {
        EXPECT_TRUE(uncertain.count(titles[std::string(payload)]))
            << scenario << ": " << titles[std::string(payload)]
            << " was charged twice without being reported uncertain";
      }
    }
    auto v = run_setlist({"verify", out.string()});
    EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  }
}

// A second Ctrl-C while the engine is torn down, after its signal set is gone
// (asio then puts back the default action) but while its client and
// io_context (the digest and name resolver threads) still are: the run ends
// as it would have, never killed by the signal (SETLIST_TEST_FAULT pauses
// there).
TEST(Stop, ASignalDuringTheEnginesTeardownDoesNotKillTheRun) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(2));
  Sim sim(dir.path(), fast_sim_args());
  auto out = dir / "out";
  auto args = fast_run_args(sim, dir / "album.yaml", out);
  auto p = start_setlist(dir, args, "teardown", {{"SETLIST_TEST_FAULT", "teardown-pause"}});
  bool paused = false;
  for (int i = 0; i < 600 && !paused; ++i) {
    std::this_thread::sleep_for(50ms);
    paused = p->err().find("test: teardown pause") != std::string::npos;
  }
  ASSERT_TRUE(paused) << p->err();
  p->signal(SIGINT);
  ASSERT_TRUE(p->wait(30s));
  EXPECT_EQ(p->term_signal(), 0) << "killed by signal " << p->term_signal() << "\n" << p->err();
  EXPECT_EQ(p->exit_code(), 0) << p->err();
  EXPECT_EQ(count(statuses(out), "complete"), 2);
}
