// A benchmark, not a timed test: disabled by default. Run with
//   build/tests/setlist_sim_tests --gtest_also_run_disabled_tests --gtest_filter='SimBench.*'
// SIM_BENCH_CONNS (default 2000) keep-alive connections each send get-API
// requests back to back for SIM_BENCH_SECONDS (default 5) from one epoll thread.
#include "sim_helpers.hpp"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>

using namespace simtest;

namespace {
int env_int(const char* name, int def) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : def;
}
}  // namespace

TEST(SimBench, DISABLED_GetThroughputOnManyConnections) {
  const int conns = env_int("SIM_BENCH_CONNS", 2000);
  const int seconds = env_int("SIM_BENCH_SECONDS", 5);
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);

  TempDir dir;
  Sim sim(dir.path(), {"--latency", "1s"});
  auto ids = ids_of(submit(sim));
  std::string target = "/?ids%5B0%5D=" + ids[0] + "&ids%5B1%5D=" + ids[1];
  const std::string req = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer k\r\n\r\n";

  int ep = epoll_create1(0);
  struct Conn {
    int fd = -1;
    std::string buf;
  };
  std::vector<Conn> cs(static_cast<std::size_t>(conns));
  for (int i = 0; i < conns; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port_of(sim.base_url())));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << "connection " << i;
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    cs[static_cast<std::size_t>(i)].fd = fd;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = static_cast<std::uint32_t>(i);
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  }
  std::uint64_t done = 0, errors = 0;
  auto t0 = std::chrono::steady_clock::now();
  auto deadline = t0 + std::chrono::seconds(seconds);
  for (auto& c : cs) ::send(c.fd, req.data(), req.size(), MSG_NOSIGNAL);
  std::vector<epoll_event> evs(1024);
  char tmp[65536];
  while (std::chrono::steady_clock::now() < deadline) {
    int n = epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), 100);
    for (int k = 0; k < n; ++k) {
      Conn& c = cs[evs[static_cast<std::size_t>(k)].data.u32];
      ssize_t got = ::recv(c.fd, tmp, sizeof tmp, 0);
      if (got <= 0) {
        ++errors;
        epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
        continue;
      }
      c.buf.append(tmp, static_cast<std::size_t>(got));
      for (;;) {
        auto end = c.buf.find("\r\n\r\n");
        if (end == std::string::npos) break;
        auto cl = c.buf.find("Content-Length: ");
        std::size_t len = std::stoul(c.buf.substr(cl + 16));
        if (c.buf.size() < end + 4 + len) break;
        c.buf.erase(0, end + 4 + len);
        ++done;
        ::send(c.fd, req.data(), req.size(), MSG_NOSIGNAL);
      }
    }
  }
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto stats = sim.stats();
  std::printf("setlist-sim: %d keep-alive connections, %llu get-API requests in %.2f s = %.0f requests/s, "
              "%llu errors, peak_connections %lld\n",
              conns, static_cast<unsigned long long>(done), elapsed, static_cast<double>(done) / elapsed,
              static_cast<unsigned long long>(errors),
              static_cast<long long>(stats.at("peak_connections").to_number<std::int64_t>()));
  for (auto& c : cs) ::close(c.fd);
  ::close(ep);
  EXPECT_EQ(errors, 0u);
  EXPECT_GE(stats.at("peak_connections").to_number<int>(), conns);
}
