// A small driver for the fuzz targets when libFuzzer is not available (the
// GCC build): runs every seed file, then mutations of them (bit flips, byte
// insertions and deletions, splices, duplicated runs) drawn from a seed, for
// a bounded number of inputs or seconds. Not coverage-guided: scripts/fuzz.sh
// builds the same targets with clang's libFuzzer for that.
//   fuzz_X [--seed N] [--iterations N] [--seconds S] CORPUS_DIR_OR_FILE...
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

std::string read(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void run(const std::string& s) { LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()); }

std::string mutate(std::string s, const std::vector<std::string>& corpus, std::mt19937_64& rng) {
  auto pick = [&](std::size_t n) { return n ? std::uniform_int_distribution<std::size_t>(0, n - 1)(rng) : 0; };
  int steps = 1 + static_cast<int>(pick(4));
  for (int i = 0; i < steps; ++i) {
    switch (pick(6)) {
      case 0:  // flip a bit
        if (!s.empty()) s[pick(s.size())] ^= static_cast<char>(1u << pick(8));
        break;
      case 1:  // insert an interesting byte
        s.insert(s.begin() + static_cast<long>(pick(s.size() + 1)), "\0\n:-[]{}\",#&*!|>'\xff\x80 9"[pick(20)]);
        break;
      case 2:  // delete a run
        if (!s.empty()) {
          auto at = pick(s.size());
          s.erase(at, pick(std::min<std::size_t>(16, s.size() - at) + 1));
        }
        break;
      case 3: {  // splice with another seed
        const auto& o = corpus[pick(corpus.size())];
        if (!o.empty()) s = s.substr(0, pick(s.size() + 1)) + o.substr(pick(o.size()));
        break;
      }
      case 4:  // duplicate a run
        if (!s.empty()) {
          auto at = pick(s.size());
          s.insert(at, s.substr(at, pick(32) + 1));
        }
        break;
      default:  // replace a byte with a digit or a boundary value
        if (!s.empty()) s[pick(s.size())] = "0123456789\x7f\x00"[pick(12)];
    }
  }
  return s.size() > 65536 ? s.substr(0, 65536) : s;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t seed = 1, iterations = 20000;
  double seconds = 5;
  std::vector<std::string> corpus;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--seed" && i + 1 < argc) seed = std::stoull(argv[++i]);
    else if (a == "--iterations" && i + 1 < argc) iterations = std::stoull(argv[++i]);
    else if (a == "--seconds" && i + 1 < argc) seconds = std::stod(argv[++i]);
    else if (std::filesystem::is_directory(a)) {
      for (auto& e : std::filesystem::recursive_directory_iterator(a))
        if (e.is_regular_file()) corpus.push_back(read(e.path()));
    } else if (std::filesystem::exists(a)) {
      corpus.push_back(read(a));
    }
  }
  if (corpus.empty()) corpus.push_back("");
  std::printf("fuzz: seed %llu, %zu seed inputs\n", static_cast<unsigned long long>(seed), corpus.size());
  std::fflush(stdout);
  for (auto& c : corpus) run(c);
  std::mt19937_64 rng(seed);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  std::uint64_t n = 0;
  for (; n < iterations && std::chrono::steady_clock::now() < deadline; ++n) {
    const auto& base = corpus[std::uniform_int_distribution<std::size_t>(0, corpus.size() - 1)(rng)];
    run(mutate(base, corpus, rng));
  }
  std::printf("fuzz: %llu mutated inputs, no crash\n", static_cast<unsigned long long>(n));
  return 0;
}
