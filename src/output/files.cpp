#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <mutex>
#include <set>
#include <string>
#include <cstring>

#include "common/hash.hpp"
#include "setlist/output.hpp"

namespace setlist {

namespace {
Error io(std::string msg) {
  Error e;
  e.kind = ErrorKind::io;
  e.message = std::move(msg) + ": " + std::strerror(errno);
  return e;
}

Error refused(std::string msg) {
  Error e;
  e.kind = ErrorKind::io;
  e.message = std::move(msg);
  return e;
}

// Six characters from the kernel's CSPRNG, for names nobody can guess.
std::optional<std::string> random_suffix() {
  static constexpr char alphabet[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::array<unsigned char, 6> bytes{};
  std::size_t got = 0;
  while (got < bytes.size()) {
    ssize_t n = ::getrandom(bytes.data() + got, bytes.size() - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::nullopt;
    }
    got += static_cast<std::size_t>(n);
  }
  std::string s;
  for (unsigned char b : bytes)
    s += alphabet[b % (sizeof(alphabet) - 1)];  // 62 symbols: a slight bias, harmless
  return s;
}

// ".NAME.XXXXXX.tmp" beside `path`, NAME cut (at a UTF-8 boundary) so the
// whole stays within the 255 bytes of a file name.
std::filesystem::path temp_name_for(const std::filesystem::path& path, const std::string& suffix) {
  std::string name = path.filename().string();
  constexpr std::size_t max_name = 255 - (1 + 1 + 6 + 4);  // "." NAME "." XXXXXX ".tmp"
  if (name.size() > max_name) {
    std::size_t cut = max_name;
    while (cut > 0 && (static_cast<unsigned char>(name[cut]) & 0xC0) == 0x80) --cut;
    name.resize(cut);
  }
  return path.parent_path() / ("." + name + "." + suffix + ".tmp");
}
}  // namespace

Status check_publish_target(const std::filesystem::path& final) {
  struct stat st {};
  if (::lstat(final.c_str(), &st) != 0) {
    if (errno == ENOENT) return Ok{};
    return io("cannot check " + final.string());
  }
  if (S_ISLNK(st.st_mode))
    return refused("refusing to write " + final.string() +
                   ": it is a symbolic link (setlist never writes through or replaces a link in "
                   "the output folder; "
                   "remove it and run again)");
  if (!S_ISREG(st.st_mode))
    return refused("refusing to write " + final.string() + ": it exists and is not a regular file");
  return Ok{};
}

namespace {
// Folders whose new names still need an fsync (publish, sync_published_folders).
class FolderSyncs {
 public:
  void add(const std::filesystem::path& dir) {
    std::set<std::string> due;
    {
      std::lock_guard lock(mu_);
      pending_.insert(dir.empty() ? std::string(".") : dir.string());
      const auto now = std::chrono::steady_clock::now();
      if (now - last_ < std::chrono::milliseconds(200)) return;
      last_ = now;
      due.swap(pending_);
    }
    sync(due);
  }
  void flush() {
    std::set<std::string> due;
    {
      std::lock_guard lock(mu_);
      last_ = std::chrono::steady_clock::now();
      due.swap(pending_);
    }
    sync(due);
  }
  ~FolderSyncs() { flush(); }

 private:
  static void sync(const std::set<std::string>& dirs) {
    for (auto& d : dirs) {
      int dfd = ::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (dfd < 0) continue;  // gone meanwhile: nothing left to make durable
      (void)::fsync(dfd);
      ::close(dfd);
    }
  }
  std::mutex mu_;
  std::set<std::string> pending_;
  std::chrono::steady_clock::time_point last_{};
};

FolderSyncs& folder_syncs() {
  static FolderSyncs f;
  return f;
}
}  // namespace

Status publish(const std::filesystem::path& tmp, const std::filesystem::path& final) {
  // The bytes first, then the name: after a power cut the file under its
  // final name is whole or absent, never empty.
  int fd = ::open(tmp.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ELOOP)
      return refused("refusing to publish " + tmp.string() + ": it is a symbolic link");
    return io("cannot open " + tmp.string());
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return refused("refusing to publish " + tmp.string() + ": not a regular file");
  }
  int synced = ::fsync(fd);
  ::close(fd);
  if (synced != 0) return io("cannot fsync " + tmp.string());
  // rename() would replace a link rather than follow it; refusing says so
  // instead of silently dropping what someone put there.
  if (auto ok = check_publish_target(final); !ok) return ok;
  if (::rename(tmp.c_str(), final.c_str()) != 0)
    return io("cannot rename " + tmp.string() + " to " + final.string());
  folder_syncs().add(final.parent_path());
  return Ok{};
}

void sync_published_folders() { folder_syncs().flush(); }

Status write_file_atomic(const std::filesystem::path& path, std::string_view data) {
  return write_file_atomic(path, [data](const TextEmit& emit) { emit(data); });
}

Status write_file_atomic(const std::filesystem::path& path,
                         const std::function<void(const TextEmit&)>& produce) {
  // Refused before anything is produced or created.
  if (auto ok = check_publish_target(path); !ok) return ok;
  // A fresh, unguessable name opened with O_EXCL|O_NOFOLLOW: nothing planted
  // beside the file (a link at a predictable temporary name) is ever written through.
  std::filesystem::path tmp;
  int fd = -1;
  for (int tries = 0; fd < 0 && tries < 16; ++tries) {
    auto suffix = random_suffix();
    if (!suffix) return io("cannot draw a random temporary name for " + path.string());
    tmp = temp_name_for(path, *suffix);
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0 && errno != EEXIST) return io("cannot create " + tmp.string());
  }
  if (fd < 0) return io("cannot create a temporary file beside " + path.string());
  bool failed = false;
  try {
    produce([&](std::string_view piece) {
      const char* p = piece.data();
      std::size_t n = piece.size();
      while (n > 0 && !failed) {
        ssize_t w = ::write(fd, p, n);
        if (w < 0) {
          if (errno == EINTR) continue;
          failed = true;
          break;
        }
        p += w;
        n -= static_cast<std::size_t>(w);
      }
    });
  } catch (...) {  // nothing half-written is left behind
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  int saved = errno;
  ::close(fd);
  if (failed) {
    ::unlink(tmp.c_str());
    errno = saved;
    return io("cannot write " + tmp.string());
  }
  auto published = publish(tmp, path);  // fsyncs it
  if (!published) ::unlink(tmp.c_str());
  return published;
}

Result<std::pair<std::uint64_t, std::string>> file_digest(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return io("cannot open " + path.string());
  Sha256 h;
  std::array<char, 65536> buf;
  std::uint64_t total = 0;
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      return io("cannot read " + path.string());
    }
    if (n == 0) break;
    h.update(buf.data(), static_cast<std::size_t>(n));
    total += static_cast<std::uint64_t>(n);
  }
  ::close(fd);
  return std::make_pair(total, h.hex_digest());
}

}  // namespace setlist
