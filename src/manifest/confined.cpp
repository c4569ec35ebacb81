// Files a manifest names, read only from inside its folder (confined.hpp).
#include "manifest/confined.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <iterator>
#include <system_error>

namespace setlist::confined {

namespace fs = std::filesystem;

namespace {

std::string quote(const std::string& s) { return "\"" + s + "\""; }

std::string size_text(std::uintmax_t n) {
  if (n >= (1u << 20) && n % (1u << 20) == 0) return std::to_string(n >> 20) + " MiB";
  if (n >= (1u << 10) && n % (1u << 10) == 0) return std::to_string(n >> 10) + " KiB";
  return std::to_string(n) + " bytes";
}

// Where an open descriptor really is (Linux: /proc/self/fd); empty when unknown.
fs::path path_of_fd(int fd) {
  char buf[PATH_MAX + 1];
  auto link = "/proc/self/fd/" + std::to_string(fd);
  ssize_t n = ::readlink(link.c_str(), buf, PATH_MAX);
  if (n <= 0) return {};
  return fs::path(std::string(buf, static_cast<std::size_t>(n)));
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

bool is_within(const fs::path& real, const fs::path& root) {
  auto r = real.begin();
  for (auto it = root.begin(); it != root.end(); ++it, ++r) {
    if (it->empty() && std::next(it) == root.end()) break;  // a trailing separator
    if (r == real.end() || *r != *it) return false;
  }
  return true;
}

ReadResult read_confined(const fs::path& base, const std::vector<fs::path>& allowed, const std::string& name,
                         std::uintmax_t cap, const std::string& what) {
  ReadResult out;
  auto fail = [&](Problem p, std::string message, std::string hint = {}) {
    out.problem = p;
    out.message = std::move(message);
    out.hint = std::move(hint);
    return out;
  };
  const fs::path given = fs::path(name).is_absolute() ? fs::path(name) : base / name;
  std::error_code ec;
  // Every link resolved: where the bytes would really come from.
  const fs::path real = fs::canonical(given, ec);
  if (ec) {
    if (ec == std::errc::permission_denied)
      return fail(Problem::unreadable, "cannot read " + quote(name) + ": permission denied or unreadable",
                  "check the file's permissions");
    return fail(Problem::not_found, "file not found: " + quote(name));
  }
  std::vector<fs::path> roots;
  for (const auto& dir : std::vector<fs::path>{base.empty() ? fs::path(".") : base}) {
    auto r = fs::canonical(dir, ec);
    if (!ec) roots.push_back(r);
  }
  for (const auto& dir : allowed) {
    auto r = fs::canonical(dir, ec);
    if (!ec) roots.push_back(r);
  }
  auto inside = [&](const fs::path& p) {
    for (auto& r : roots)
      if (is_within(p, r)) return true;
    return false;
  };
  const std::string folder = roots.empty() ? base.string() : roots.front().string();
  const std::string hint =
      "a manifest reads files only from its own folder and below; to read from another folder, pass "
      "--allow-path DIR";
  if (!inside(real)) {
    std::string resolved = real.string() != name ? " (it resolves to " + real.string() + ")" : "";
    return fail(Problem::outside, quote(name) + " is outside the manifest's folder " + folder + resolved, hint);
  }

  // Open what was checked, never following a link at its last component (a
  // swap after the check); O_NONBLOCK so that a FIFO cannot hang the load.
  Fd f;
  f.fd = ::open(real.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (f.fd < 0) {
    int err = errno;
    if (err == ENOENT) return fail(Problem::not_found, "file not found: " + quote(name));
    if (err == ELOOP)
      return fail(Problem::outside, quote(name) + " changed into a symbolic link while it was being read", hint);
    return fail(Problem::unreadable, "cannot read " + quote(name) + ": permission denied or unreadable",
                "check the file's permissions");
  }
  struct stat st {};
  if (::fstat(f.fd, &st) != 0)
    return fail(Problem::unreadable, "cannot read " + quote(name), "check the file's permissions");
  if (S_ISDIR(st.st_mode)) return fail(Problem::directory, quote(name) + " is a directory, not a file");
  if (!S_ISREG(st.st_mode))
    return fail(Problem::not_regular, quote(name) + " is not a regular file (a device, FIFO or socket)");
  // Where the descriptor really is: a folder on the way swapped for a link
  // between the check and the open shows here.
  if (auto where = path_of_fd(f.fd); !where.empty() && where.is_absolute() && !inside(where))
    return fail(Problem::outside, quote(name) + " is outside the manifest's folder " + folder + " (it resolves to " +
                                      where.string() + ")",
                hint);
  const auto too_large = [&](std::uintmax_t n) {
    return fail(Problem::too_large,
                quote(name) + " is too large (" + std::to_string(n) + " bytes; a " + what + " may have at most " +
                    size_text(cap) + ")");
  };
  if (static_cast<std::uintmax_t>(st.st_size) > cap) return too_large(static_cast<std::uintmax_t>(st.st_size));
  // Read at most cap + 1 bytes: a file that grows meanwhile is still capped.
  std::string data;
  data.resize(static_cast<std::size_t>(cap) + 1);
  std::size_t got = 0;
  while (got < data.size()) {
    ssize_t n = ::read(f.fd, data.data() + got, data.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(Problem::unreadable, "cannot read " + quote(name));
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  if (got > cap) return too_large(got);
  data.resize(got);
  out.data = std::move(data);
  return out;
}

}  // namespace setlist::confined
