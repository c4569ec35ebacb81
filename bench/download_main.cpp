// bench-download: setlist's downloader on its own, for benchmark B.
// Fetches every URL of a list with http::Client::download exactly as the
// engine calls it (a .part file, MP3 sniffing, SHA-256 while streaming,
// Range/If-Range ready), N at a time on one io_context, then renames each
// .part to its final name. Tagging and reports are not part of it.
//
// Usage: bench-download LIST CONCURRENCY
//   LIST: one "URL<TAB>FILE" per line. Prints "files bytes failures".
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "http/client.hpp"

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace setlist;

namespace {

struct Job {
  std::string url;
  fs::path file;
};

struct Totals {
  std::size_t next = 0;
  std::size_t files = 0;
  std::uint64_t bytes = 0;
  std::size_t failures = 0;
};

asio::awaitable<void> worker(http::Client& client, const std::vector<Job>& jobs, Totals& t) {
  while (t.next < jobs.size()) {
    const Job& job = jobs[t.next++];
    auto url = http::Url::parse(job.url);
    fs::path part = job.file;
    part += ".part";
    if (!url) {
      std::fprintf(stderr, "%s: not a usable URL\n", job.url.c_str());
      ++t.failures;
      continue;
    }
    auto r = co_await client.download(*url, part, "", http::Expect::mp3, http::Millis(60000));
    std::error_code ec;
    if (r) fs::rename(part, job.file, ec);
    if (!r || ec) {
      std::fprintf(stderr, "%s: %s\n", job.url.c_str(), r ? ec.message().c_str() : r.error().message.c_str());
      ++t.failures;
      continue;
    }
    ++t.files;
    t.bytes += r->bytes;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: bench-download LIST CONCURRENCY\n");
    return 2;
  }
  std::vector<Job> jobs;
  std::ifstream in(argv[1]);
  for (std::string line; std::getline(in, line);) {
    auto tab = line.find('\t');
    if (tab != std::string::npos) jobs.push_back({line.substr(0, tab), line.substr(tab + 1)});
  }
  int concurrency = std::max(1, std::atoi(argv[2]));
  asio::io_context io;
  http::Client client(io.get_executor(), http::ClientOptions{});
  Totals totals;
  for (int i = 0; i < concurrency; ++i) asio::co_spawn(io, worker(client, jobs, totals), asio::detached);
  io.run();
  std::printf("%zu %llu %zu\n", totals.files, static_cast<unsigned long long>(totals.bytes), totals.failures);
  return totals.failures == 0 && totals.files == jobs.size() ? 0 : 1;
}
