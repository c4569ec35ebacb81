// bench-download: setlist's downloader on its own, for benchmark B.
// Fetches every URL of a list with http::Client::download exactly as the
// engine calls it (a .part file, MP3 sniffing, size caps, Range/If-Range
// ready, the SHA-256 computed on the bytes as they arrive), N at a time on
// one io_context; then, as the engine does, renames each file to its final
// name on a second thread. Tagging and reports are not part of it.
//
// Usage: bench-download LIST CONCURRENCY [--no-digest]
//   LIST: one "URL<TAB>FILE" per line. Prints "files bytes failures".
//   --no-digest skips the SHA-256, to show what the digest costs.
//   SETLIST_BENCH_DIGEST=inline computes the SHA-256 on the network thread
//   (default: the client's digest thread); stderr says where it went.
// bench-download --digest-only FILES MIB: the SHA-256 alone (the same
//   OpenSSL EVP digest) of FILES buffers of MIB MiB already in memory, one
//   digest per buffer in 64 KiB updates as a download feeds it; prints its
//   CPU seconds and MiB/s.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <cstdlib>
#include <ctime>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/hash.hpp"
#include "http/client.hpp"
#include "setlist/output.hpp"

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
  std::size_t failures = 0;  // touched by the io thread only
  std::size_t threaded = 0;  // downloads whose digest was computed on the client's digest thread
  std::atomic<std::size_t> rename_failures = 0;
};

asio::awaitable<void> worker(http::Client& client, asio::thread_pool& disk, const std::vector<Job>& jobs,
                             Totals& t, bool digest_files) {
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
    if (!r) {
      std::fprintf(stderr, "%s: %s\n", job.url.c_str(), r.error().message.c_str());
      ++t.failures;
      continue;
    }
    if (digest_files && r->sha256.size() != 64) {
      std::fprintf(stderr, "%s: no digest\n", job.url.c_str());
      ++t.failures;
      continue;
    }
    ++t.files;
    t.bytes += r->bytes;
    if (r->digest_threaded) ++t.threaded;
    asio::post(disk, [part, file = job.file, &t] {
      std::error_code ec;
      fs::rename(part, file, ec);
      if (ec) ++t.rename_failures;
    });
  }
}

}  // namespace

int digest_only(int files, double mib) {
  const std::size_t size = static_cast<std::size_t>(mib * 1024 * 1024);
  std::string data(size, '\0');
  for (std::size_t i = 0; i < size; ++i) data[i] = static_cast<char>((i * 2654435761u) >> 13);
  std::clock_t start = std::clock();
  std::size_t sink = 0;
  for (int f = 0; f < files; ++f) {
    Sha256 h;
    for (std::size_t at = 0; at < size; at += 65536) h.update(data.data() + at, std::min<std::size_t>(65536, size - at));
    sink += static_cast<unsigned char>(h.hex_digest()[0]);
  }
  double cpu = static_cast<double>(std::clock() - start) / CLOCKS_PER_SEC;
  std::printf("%.3f %.0f %zu\n", cpu, files * mib / cpu, sink % 2);
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 4 && std::string(argv[1]) == "--digest-only") return digest_only(std::atoi(argv[2]), std::atof(argv[3]));
  const bool digest_files = !(argc == 4 && std::string(argv[3]) == "--no-digest");
  if (argc != 3 && digest_files) {
    std::fprintf(stderr, "usage: bench-download LIST CONCURRENCY [--no-digest]\n");
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
  http::ClientOptions options;
  options.digest_downloads = digest_files;
  // For trying other buffer sizes by hand (bench/RESULTS.md B): KiB, count.
  if (const char* kib = std::getenv("SETLIST_BENCH_BUFFER_KIB")) options.download_buffer = std::strtoul(kib, nullptr, 10) * 1024;
  if (const char* n = std::getenv("SETLIST_BENCH_BUFFERS")) options.download_buffers = std::strtoul(n, nullptr, 10);
  // Where the digests go: SETLIST_BENCH_DIGEST=inline hashes on the network
  // thread (default: the client's digest thread, as in the engine).
  if (const char* place = std::getenv("SETLIST_BENCH_DIGEST"); place && std::string(place) == "inline")
    options.digest_place = http::ClientOptions::DigestPlace::inline_;
  http::Client client(io.get_executor(), options);
  asio::thread_pool disk(1);
  Totals totals;
  for (int i = 0; i < concurrency; ++i) asio::co_spawn(io, worker(client, disk, jobs, totals, digest_files), asio::detached);
  io.run();
  disk.join();
  std::size_t failures = totals.failures + totals.rename_failures;
  std::printf("%zu %llu %zu\n", totals.files, static_cast<unsigned long long>(totals.bytes), failures);
  std::fprintf(stderr, "digest on the digest thread: %zu of %zu downloads\n", totals.threaded, totals.files);
  return failures == 0 && totals.files == jobs.size() ? 0 : 1;
}
