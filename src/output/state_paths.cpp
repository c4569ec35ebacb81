// Paths read from state, checked before use (output.hpp, docs/security.md).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "setlist/output.hpp"

namespace setlist {

namespace fs = std::filesystem;

std::optional<std::string> state_path_problem(const fs::path& out_dir, std::string_view rel,
                                              std::set<std::string>* real_folders) {
  if (rel.empty()) return "an empty path";
  if (rel.find('\0') != std::string_view::npos) return "a path with a NUL byte";
  if (rel.find('\\') != std::string_view::npos) return "a path with a backslash";
  if (rel.front() == '/') return "an absolute path";
  // Components, '/'-separated: none may be "." or "..", none empty but a
  // trailing one is not a file either.
  std::vector<std::string_view> parts;
  for (std::size_t b = 0; b <= rel.size();) {
    auto e = rel.find('/', b);
    if (e == std::string_view::npos) e = rel.size();
    parts.push_back(rel.substr(b, e - b));
    b = e + 1;
  }
  for (auto p : parts) {
    if (p == "..") return "a path that leaves OUT (\"..\")";
    if (p == "." || p.empty()) return "a path that is not in normal form";
  }
  // Every folder on the way, inside OUT, must be a real folder: a link
  // there would lead outside OUT.
  if (real_folders && parts.size() > 1) {
    if (real_folders->count(std::string(rel.substr(0, rel.rfind('/'))))) return std::nullopt;
  }
  fs::path dir = out_dir;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    dir /= std::string(parts[i]);
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;  // nothing there to follow
      return "a path whose folder " + dir.string() + " cannot be examined";
    }
    if (S_ISLNK(st.st_mode))
      return "a path through " + dir.string() + ", a symbolic link (it may lead outside OUT)";
    if (!S_ISDIR(st.st_mode)) return "a path through " + dir.string() + ", which is not a folder";
  }
  if (real_folders && parts.size() > 1) real_folders->insert(std::string(rel.substr(0, rel.rfind('/'))));
  return std::nullopt;
}

std::string damaged_state_message(std::string_view rel, std::string_view problem) {
  std::string shown;
  for (char c : rel.substr(0, 200)) shown += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  return "damaged state: a files row names \"" + shown + "\", " + std::string(problem) +
         "; it is ignored (nothing is read, moved or reported through it)";
}

std::string read_out_file(const fs::path& out_dir, std::string_view rel, std::uintmax_t limit) {
  if (state_path_problem(out_dir, rel)) return {};
  const fs::path p = out_dir / fs::path(std::string(rel));
  int fd = ::open(p.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return {};
  std::string data;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && static_cast<std::uintmax_t>(st.st_size) <= limit) {
    data.resize(static_cast<std::size_t>(st.st_size));
    std::size_t got = 0;
    while (got < data.size()) {
      ssize_t n = ::read(fd, data.data() + got, data.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    data.resize(got);
  }
  ::close(fd);
  return data;
}

}  // namespace setlist
