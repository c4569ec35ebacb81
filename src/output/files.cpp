#include <fcntl.h>
#include <unistd.h>

#include <array>
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
}  // namespace

Status publish(const std::filesystem::path& tmp, const std::filesystem::path& final) {
  // The bytes first, then the name: after a power cut the file under its
  // final name is whole or absent, never empty.
  int fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io("cannot open " + tmp.string());
  int synced = ::fsync(fd);
  ::close(fd);
  if (synced != 0) return io("cannot fsync " + tmp.string());
  if (::rename(tmp.c_str(), final.c_str()) != 0) return io("cannot rename " + tmp.string() + " to " + final.string());
  auto dir = final.parent_path();
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return io("cannot open " + dir.string());
  int rc = ::fsync(dfd);
  ::close(dfd);
  if (rc != 0) return io("cannot fsync " + dir.string());
  return Ok{};
}

Status write_file_atomic(const std::filesystem::path& path, std::string_view data) {
  return write_file_atomic(path, [data](const TextEmit& emit) { emit(data); });
}

Status write_file_atomic(const std::filesystem::path& path, const std::function<void(const TextEmit&)>& produce) {
  auto tmp = path;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return io("cannot create " + tmp.string());
  bool failed = false;
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
  int saved = errno;
  ::close(fd);
  if (failed) {
    errno = saved;
    return io("cannot write " + tmp.string());
  }
  return publish(tmp, path);  // fsyncs it
}

Result<std::pair<std::uint64_t, std::string>> file_digest(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
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
