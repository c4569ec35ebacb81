#include "http/client.hpp"

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <pthread.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <charconv>

#include "common/hash.hpp"
#include "setlist/output.hpp"

namespace setlist::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bh = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// Beast's own buffer for bodies read through its parser (chunked, or
// without a length): each socket read of it moves up to this much.
constexpr std::size_t kParserBuffer = 64 * 1024;

Error net_error(std::string msg, bool sent) {
  Error e;
  e.kind = ErrorKind::network;
  e.message = std::move(msg);
  e.request_sent = sent;
  return e;
}

Error proto_error(std::string msg) {
  Error e;
  e.kind = ErrorKind::protocol;
  e.message = std::move(msg);
  return e;
}

Error io_error(std::string msg) {
  Error e;
  e.kind = ErrorKind::io;
  e.message = std::move(msg);
  return e;
}

// "8 MiB", "512 MiB", "16 KiB", "1000 bytes": limits as people write them.
std::string size_text(std::uint64_t n) {
  if (n >= (1u << 20) && n % (1u << 20) == 0) return std::to_string(n >> 20) + " MiB";
  if (n >= (1u << 10) && n % (1u << 10) == 0) return std::to_string(n >> 10) + " KiB";
  return std::to_string(n) + " bytes";
}

std::string duration_text(Millis d) {
  return d.count() % 1000 == 0 ? std::to_string(d.count() / 1000) + " s" : std::to_string(d.count()) + " ms";
}

// The scheme of a Location value, lower-case; empty for a relative reference.
std::string scheme_of(std::string_view ref) {
  std::string s;
  for (char c : ref) {
    if (c == ':') return s;
    bool ok = std::isalpha(static_cast<unsigned char>(c)) ||
              (!s.empty() && (std::isdigit(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.'));
    if (!ok || s.size() >= 32) return {};
    s += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return {};
}

// The default ResolveFn: the system resolver (getaddrinfo on Asio's own thread).
asio::awaitable<Result<std::vector<std::string>>> system_resolve(std::string host, std::string port) {
  tcp::resolver resolver(co_await asio::this_coro::executor);
  auto [ec, results] = co_await resolver.async_resolve(host, port, use_tuple);
  if (ec) co_return net_error("cannot resolve " + host + ": " + ec.message(), false);
  std::vector<std::string> addresses;
  for (const auto& r : results) addresses.push_back(r.endpoint().address().to_string());
  co_return addresses;
}

std::string host_header(const Url& u) {
  bool default_port = (u.https() && u.port == "443") || (!u.https() && u.port == "80");
  std::string h = u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host;
  return default_port ? h : h + ":" + u.port;
}

// One stream type for plain TCP and TLS alike: Beast's composed operations
// (HTTP reads and writes, with their parsers and serializers) are
// instantiated for it once, instead of once per stream type. Each
// read_some/write_some goes to the stream underneath at run time, the
// handler type-erased (any_completion_handler), the buffers flattened to a
// few plain ones. A view: the streams belong to the connection.
// A read or write's completion handler, type-erased. Its executor is kept
// as an any_io_executor beside it: Beast posts completions with
// blocking.never, which Boost 1.81's any_completion_executor does not offer.
class ErasedHandler {
 public:
  using executor_type = asio::any_io_executor;
  using cancellation_slot_type = asio::cancellation_slot;

  template <class H>
  ErasedHandler(H&& h, const executor_type& fallback)
      : ex_(asio::get_associated_executor(h, fallback)), h_(std::forward<H>(h)) {}
  executor_type get_executor() const noexcept { return ex_; }
  cancellation_slot_type get_cancellation_slot() const noexcept { return h_.get_cancellation_slot(); }
  void operator()(beast::error_code ec, std::size_t n) { std::move(h_)(ec, n); }

 private:
  executor_type ex_;
  asio::any_completion_handler<void(beast::error_code, std::size_t)> h_;
};

class AnyStream {
 public:
  using executor_type = asio::any_io_executor;
  using Handler = ErasedHandler;
  using Tls = beast::ssl_stream<beast::tcp_stream>;

  AnyStream(beast::tcp_stream* plain, Tls* tls) : plain_(plain), tls_(tls) {}
  executor_type get_executor() noexcept { return tls_ ? tls_->get_executor() : plain_->get_executor(); }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    // A read may fill less than it is given: the first non-empty buffer is enough.
    asio::mutable_buffer first;
    for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers); ++it)
      if (asio::mutable_buffer b(*it); b.size() > 0) {
        first = b;
        break;
      }
    return asio::async_initiate<Token, void(beast::error_code, std::size_t)>(
        [this](auto handler, asio::mutable_buffer b) { start_read(b, Handler(std::move(handler), get_executor())); }, token, first);
  }

  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    // A write may take less than it is given: the first few buffers (a
    // serializer's header pieces and body) are enough.
    Gather g;
    for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers) && g.n < g.b.size();
         ++it)
      if (asio::const_buffer b(*it); b.size() > 0) g.b[g.n++] = b;
    return asio::async_initiate<Token, void(beast::error_code, std::size_t)>(
        [this](auto handler, const Gather& gather) { start_write(gather, Handler(std::move(handler), get_executor())); }, token, g);
  }

 private:
  struct Gather {
    using value_type = asio::const_buffer;
    using const_iterator = const asio::const_buffer*;
    std::array<asio::const_buffer, 8> b;
    std::size_t n = 0;
    const asio::const_buffer* begin() const { return b.data(); }
    const asio::const_buffer* end() const { return b.data() + n; }
  };
  // Out of line: the only places the concrete streams' operations are instantiated.
  void start_read(asio::mutable_buffer b, Handler h);
  void start_write(const Gather& g, Handler h);

  beast::tcp_stream* plain_;
  Tls* tls_;
};

void AnyStream::start_read(asio::mutable_buffer b, Handler h) {
  if (tls_)
    tls_->async_read_some(b, std::move(h));
  else
    plain_->async_read_some(b, std::move(h));
}

void AnyStream::start_write(const Gather& g, Handler h) {
  if (tls_)
    tls_->async_write_some(g, std::move(h));
  else
    plain_->async_write_some(g, std::move(h));
}

struct Conn {
  std::string origin;
  std::unique_ptr<beast::tcp_stream> plain;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;
  beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
  // Whichever stream the connection has, for Beast's HTTP operations.
  AnyStream stream() { return AnyStream(plain.get(), tls.get()); }
};

// Every HTTP write and read goes through these: one instantiation each.
asio::awaitable<std::tuple<beast::error_code, std::size_t>> write_msg(AnyStream s,
                                                                      bh::request<bh::string_body>& m) {
  co_return co_await bh::async_write(s, m, use_tuple);
}

template <class Parser>
asio::awaitable<std::tuple<beast::error_code, std::size_t>> read_header(AnyStream s, beast::flat_buffer& buffer,
                                                                        Parser& p) {
  co_return co_await bh::async_read_header(s, buffer, p, use_tuple);
}

asio::awaitable<std::tuple<beast::error_code, std::size_t>> read_raw(Conn& c, asio::mutable_buffer b) {
  AnyStream s = c.stream();
  co_return co_await s.async_read_some(b, use_tuple);
}

template <class Parser>
asio::awaitable<std::tuple<beast::error_code, std::size_t>> read_some(Conn& c, Parser& p) {
  AnyStream s = c.stream();
  co_return co_await bh::async_read(s, c.buffer, p, use_tuple);
}

// Bytes a server sends after a response that should have been its last
// (the request said Connection: close): those already read, else any that
// arrive within `wait` before the server closes. 0 when none.
asio::awaitable<std::size_t> trailing_bytes(Conn& c, std::chrono::milliseconds wait) {
  if (c.buffer.size() > 0) co_return c.buffer.size();
  std::array<char, 512> tmp;
  c.lowest().expires_after(wait);
  auto [ec, n] = co_await read_raw(c, asio::buffer(tmp));
  co_return ec && n == 0 ? 0 : n;
}

std::string describe_tls_failure(beast::error_code ec, Conn& c, const Url& u) {
  std::string msg = "TLS handshake with " + u.host + ":" + u.port + " failed";
  long verify = X509_V_OK;
  if (c.tls) verify = SSL_get_verify_result(c.tls->native_handle());
  if (verify != X509_V_OK) {
    msg += ": certificate not trusted (";
    msg += X509_verify_cert_error_string(verify);
    msg += ")";
    if (verify == X509_V_ERR_HOSTNAME_MISMATCH || verify == X509_V_ERR_IP_ADDRESS_MISMATCH)
      msg += "; the certificate is not valid for " + u.host;
    else if (verify == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT || verify == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
             verify == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY)
      msg += "; pass --cacert FILE (or set SSL_CERT_FILE) to trust this server's CA";
  } else {
    std::string reason = ec.message();
    msg += ": " + reason;
    if (reason.find("version") != std::string::npos || reason.find("protocol") != std::string::npos)
      msg += " (setlist requires TLS 1.2 or newer)";
  }
  return msg;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

template <class Fields>
Headers collect_headers(const Fields& f) {
  Headers h;
  for (auto& field : f) h.emplace_back(lower(std::string(field.name_string())), std::string(field.value()));
  return h;
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// A download's file (a resumable ".part" in OUT/.setlist/partial) may be
// absent or a regular file of ours; a link (someone else's file behind it),
// a FIFO, a device or another user's file is refused, never opened for writing.
std::optional<Error> part_refused(const std::filesystem::path& file, const struct stat& st) {
  if (S_ISLNK(st.st_mode))
    return io_error("refusing to download into " + file.string() + ": it is a symbolic link (remove it and run again)");
  if (!S_ISREG(st.st_mode))
    return io_error("refusing to download into " + file.string() + ": it is not a regular file");
  if (st.st_uid != ::geteuid())
    return io_error("refusing to download into " + file.string() + ": it belongs to another user (uid " +
                    std::to_string(st.st_uid) + ")");
  return std::nullopt;
}

// The size of the bytes already there (0 when absent), or why the file is refused.
Result<std::uint64_t> part_size(const std::filesystem::path& file) {
  struct stat st {};
  if (::lstat(file.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::uint64_t{0};
    return io_error("cannot check " + file.string() + ": " + std::strerror(errno));
  }
  if (auto why = part_refused(file, st)) return *why;
  return static_cast<std::uint64_t>(st.st_size);
}

// Opens it for writing without following a link, and checks what was opened.
Result<int> open_part(const std::filesystem::path& file) {
  // Read and write: a resumed download hashes the prefix already there.
  int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) {
    if (errno == ELOOP)
      return io_error("refusing to download into " + file.string() + ": it is a symbolic link (remove it and run again)");
    return io_error("cannot open " + file.string() + ": " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int saved = errno;
    ::close(fd);
    return io_error("cannot check " + file.string() + ": " + std::strerror(saved));
  }
  if (auto why = part_refused(file, st)) {
    ::close(fd);
    return *why;
  }
  return fd;
}

// Hashes the first `n` bytes of `fd` (a resumed download's prefix); false
// when they cannot all be read.
bool hash_prefix(int fd, std::uint64_t n, Sha256& hash) {
  std::array<char, 65536> buf;
  std::uint64_t at = 0;
  while (at < n) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), n - at));
    ssize_t r = ::pread(fd, buf.data(), want, static_cast<off_t>(at));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    hash.update(buf.data(), static_cast<std::size_t>(r));
    at += static_cast<std::uint64_t>(r);
  }
  return true;
}

bool write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

// ------------------------------------------------ the digest thread
//
// A download's SHA-256 is computed off the network thread (unless
// ClientOptions::digest_place says inline_): each
// filled buffer, once written to the file, is handed to one digest thread, which
// hashes the buffers of every download in the order they were handed over
// and gives each back to its download. A buffer is never refilled before it
// is back, so the file's bytes and the digest are the same bytes.
//
// Lifetimes: a download's buffers and its Sha256 belong to its DigestJob,
// shared by the download and every queued buffer of it; a download that
// ends early (an error, a stop: its frame unwinds) abandons its job, and the
// digest thread then skips its queued buffers and frees them with the job,
// never touching memory of the frame. The thread posts to the io_context
// only to wake a download that waits for a buffer, never after the job was
// abandoned, and it is joined in ~Client (before the io_context goes).

// Download buffers, kept for the next downloads instead of freed (a buffer
// near malloc's mmap threshold would be mapped and unmapped each time: page
// faults, and TLB shootdowns once there are two threads), the last one
// given back reused first (still in cache). It holds at most what was in use at once.
struct BufferPool {
  explicit BufferPool(std::size_t s) : size(s) {}
  const std::size_t size;
  std::mutex m;
  std::vector<std::unique_ptr<char[]>> free;
  std::unique_ptr<char[]> get() {
    {
      std::lock_guard l(m);
      if (!free.empty()) {
        auto b = std::move(free.back());
        free.pop_back();
        return b;
      }
    }
    return std::make_unique<char[]>(size);
  }
  void put(std::unique_ptr<char[]> b) {
    std::lock_guard l(m);
    free.push_back(std::move(b));
  }
};

struct DigestJob {
  DigestJob(asio::any_io_executor e, std::shared_ptr<BufferPool> p, std::size_t most)
      : ex(std::move(e)), pool(std::move(p)), buffer_size(pool->size), max_buffers(std::max<std::size_t>(1, most)) {}
  ~DigestJob() {  // whoever lets go last (the download, or the digest thread after a stop)
    for (auto& b : spare) pool->put(std::move(b));
  }
  const asio::any_io_executor ex;
  const std::shared_ptr<BufferPool> pool;
  const std::size_t buffer_size;
  const std::size_t max_buffers;
  Sha256 hash;  // the digest thread's while buffers are out; the download's once all are back

  std::mutex m;  // guards the members below
  std::vector<std::unique_ptr<char[]>> spare;  // back from the digest thread, to fill again
  std::size_t allocated = 0;
  std::size_t out = 0;      // handed over, not back yet
  bool waiting = false;     // the download waits for one to come back: wake it
  std::atomic<bool> abandoned = false;  // the download is gone: skip, wake no one (set under m)

  // The io thread's only: the timer the download waits on, while it waits.
  asio::steady_timer* waiter = nullptr;

  // A buffer to fill, or null when all `max_buffers` are out (then
  // `waiting` is set: the digest thread wakes the download on the next return).
  std::unique_ptr<char[]> take_spare() {
    {
      std::lock_guard l(m);
      if (!spare.empty()) {
        auto b = std::move(spare.back());
        spare.pop_back();
        return b;
      }
      if (allocated >= max_buffers) {
        waiting = true;
        return nullptr;
      }
      ++allocated;
    }
    return pool->get();
  }
  // True when every buffer handed over is back (the digest is complete);
  // otherwise `waiting` is set.
  bool all_back() {
    std::lock_guard l(m);
    if (out == 0) return true;
    waiting = true;
    return false;
  }
};

class DigestWorker {
 public:
  explicit DigestWorker(std::function<void(std::size_t)> hook)
      : hook_(std::move(hook)), thread_([this] { run(); }) {}
  ~DigestWorker() {
    {
      std::lock_guard l(m_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  DigestWorker(const DigestWorker&) = delete;
  DigestWorker& operator=(const DigestWorker&) = delete;

  // Hands `n` bytes of `b` (already written to the file) over to be hashed.
  // The thread is woken once a few buffers wait (a wake-up per buffer
  // costs more than hashing it), or when a download waits (kick).
  void submit(const std::shared_ptr<DigestJob>& job, std::unique_ptr<char[]> b, std::size_t n) {
    {
      std::lock_guard jl(job->m);
      ++job->out;
    }
    bool wake;
    {
      std::lock_guard l(m_);
      queue_.push_back({job, std::move(b), n});
      wake = idle_ && queue_.size() >= kBatch;
    }
    if (wake) cv_.notify_one();
  }
  // A download waits for its buffers: whatever is queued is hashed now.
  void kick() {
    bool wake;
    {
      std::lock_guard l(m_);
      wake = idle_ && !queue_.empty();
    }
    if (wake) cv_.notify_one();
  }

 private:
  struct Item {
    std::shared_ptr<DigestJob> job;
    std::unique_ptr<char[]> buffer;
    std::size_t n = 0;
  };

  void run() {
    (void)::pthread_setname_np(::pthread_self(), "setlist-digest");  // as top and perf show it
    for (;;) {
      Item item;
      {
        std::unique_lock l(m_);
        idle_ = true;
        cv_.wait(l, [&] { return stop_ || !queue_.empty(); });
        idle_ = false;
        if (stop_) return;  // what is queued is freed with the queue
        item = std::move(queue_.front());
        queue_.pop_front();
      }
      DigestJob& job = *item.job;
      if (!job.abandoned.load(std::memory_order_acquire)) {
        if (hook_) hook_(item.n);
        job.hash.update(item.buffer.get(), item.n);
      }
      std::lock_guard jl(job.m);
      --job.out;
      job.spare.push_back(std::move(item.buffer));  // to the pool with the job, if abandoned
      if (job.waiting && !job.abandoned.load(std::memory_order_relaxed)) {
        job.waiting = false;
        asio::post(job.ex, [j = item.job] {
          if (j->waiter) j->waiter->cancel();
        });
      }
    }
  }

  static constexpr std::size_t kBatch = 8;
  std::function<void(std::size_t)> hook_;
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<Item> queue_;
  bool stop_ = false;
  bool idle_ = false;
  std::thread thread_;  // last: started once the rest is ready
};

// Waits (on the io thread) for the digest thread to give one of `job`'s
// buffers back. Called right after take_spare or all_back set `waiting`:
// the digest thread's wake-up runs on this thread, so after this suspends.
asio::awaitable<void> wait_for_digest(DigestJob& job, DigestWorker* worker) {
  if (worker) worker->kick();
  asio::steady_timer timer(job.ex);
  timer.expires_at(asio::steady_timer::time_point::max());
  job.waiter = &timer;
  struct Clear {
    DigestJob& j;
    ~Clear() { j.waiter = nullptr; }
  } clear{job};
  co_await timer.async_wait(use_tuple);  // cancelled by the wake-up; a stop throws here or at the next wait
}

// A buffer of `job` to fill: a spare one, a new one, or the first to come
// back from the digest thread.
asio::awaitable<std::unique_ptr<char[]>> buffer_to_fill(DigestJob& job, DigestWorker* worker) {
  for (;;) {
    if (auto b = job.take_spare()) co_return std::move(b);
    co_await wait_for_digest(job, worker);
  }
}

// Until every buffer of `job` handed to the digest thread is hashed.
asio::awaitable<void> all_digested(DigestJob& job, DigestWorker* worker) {
  while (!job.all_back()) co_await wait_for_digest(job, worker);
}

}  // namespace

std::string Response::header(std::string_view name) const {
  for (auto& [k, v] : headers)
    if (k == name) return v;
  return {};
}

bool looks_like_mp3(std::string_view b) {
  if (b.size() >= 3 && b.substr(0, 3) == "ID3") return true;
  return b.size() >= 2 && static_cast<unsigned char>(b[0]) == 0xFF &&
         (static_cast<unsigned char>(b[1]) & 0xE0) == 0xE0;
}

bool looks_like_jpeg(std::string_view b) {
  return b.size() >= 3 && static_cast<unsigned char>(b[0]) == 0xFF && static_cast<unsigned char>(b[1]) == 0xD8 &&
         static_cast<unsigned char>(b[2]) == 0xFF;
}

struct Client::Impl {
  asio::any_io_executor ex;
  ClientOptions opt;
  asio::ssl::context ssl{asio::ssl::context::tls_client};
  std::map<std::string, std::vector<std::string>> credentials;
  std::map<std::string, std::vector<std::unique_ptr<Conn>>> idle;
  std::shared_ptr<BufferPool> buffers =
      std::make_shared<BufferPool>(std::max<std::size_t>(opt.download_buffer, 16));
  // Started by the first download that hashes; last, so joined first.
  std::unique_ptr<DigestWorker> digester;
  bool digester_failed = false;  // no thread to be had: downloads hash on this thread

  DigestWorker* digest_worker() {
    if (!digester && !digester_failed) {
      try {
        digester = std::make_unique<DigestWorker>(opt.digest_hook);
      } catch (const std::system_error&) {
        digester_failed = true;
      }
    }
    return digester.get();
  }

  Impl(asio::any_io_executor e, ClientOptions o) : ex(std::move(e)), opt(std::move(o)) {
    SSL_CTX_set_min_proto_version(ssl.native_handle(), TLS1_2_VERSION);
    ssl.set_verify_mode(asio::ssl::verify_peer);
    if (!opt.cacert.empty())
      ssl.load_verify_file(opt.cacert);
    else
      ssl.set_default_verify_paths();
  }

  std::unique_ptr<Conn> take_idle(const std::string& origin) {
    auto it = idle.find(origin);
    if (it == idle.end() || it->second.empty()) return nullptr;
    auto c = std::move(it->second.back());
    it->second.pop_back();
    return c;
  }

  void give_back(std::unique_ptr<Conn> c) {
    auto& v = idle[c->origin];
    if (v.size() < 64) v.push_back(std::move(c));
  }

  // The proxy an https URL goes through, if any.
  std::optional<Url> proxy_for(const Url& u) const {
    if (!u.https() || opt.https_proxy.empty() || proxy_bypassed(u.host, opt.no_proxy)) return std::nullopt;
    std::string p = opt.https_proxy;
    if (p.find("://") == std::string::npos) p = "http://" + p;
    return Url::parse(p);
  }

  // Asks the proxy for a tunnel to `u` (HTTP CONNECT). The API key is never
  // sent to the proxy: it travels inside the TLS session that follows.
  asio::awaitable<Status> open_tunnel(Conn& c, const Url& u, const Url& proxy) {
    std::string authority = (u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host) + ":" + u.port;
    // The same message and parser types as every other request (one
    // instantiation), on the TCP stream itself: TLS starts after the tunnel.
    bh::request<bh::string_body> req{bh::verb::connect, authority, 11};
    req.set(bh::field::host, authority);
    req.set(bh::field::user_agent, opt.user_agent);
    const AnyStream tcp_only(&c.lowest(), nullptr);
    c.lowest().expires_after(opt.connect_timeout);
    auto [wec, wn] = co_await write_msg(tcp_only, req);
    if (wec) co_return net_error("proxy " + proxy.host + ":" + proxy.port + ": " + wec.message(), false);
    bh::response_parser<bh::buffer_body> parser;
    parser.skip(true);  // a 2xx answer to CONNECT has no body: the tunnel starts right after
    auto [rec, rn] = co_await read_header(tcp_only, c.buffer, parser);
    if (rec) co_return net_error("proxy " + proxy.host + ":" + proxy.port + " did not answer CONNECT: " + rec.message(), false);
    int status = parser.get().result_int();
    if (status / 100 != 2)
      co_return net_error("proxy " + proxy.host + ":" + proxy.port + " refused the tunnel to " + authority +
                              " (HTTP " + std::to_string(status) + ")",
                          false);
    co_return Ok{};
  }

  // The addresses of `hop`, within resolve_timeout. The lookup runs as a
  // coroutine of its own, so that one that never answers cannot hold the
  // request: on timeout it is cancelled and left behind.
  asio::awaitable<Result<std::vector<tcp::endpoint>>> resolve(const Url& hop) {
    struct Lookup {
      explicit Lookup(const asio::any_io_executor& e) : done(e) {}
      asio::steady_timer done;
      asio::cancellation_signal cancel;
      std::optional<Result<std::vector<std::string>>> result;
    };
    auto lookup = std::make_shared<Lookup>(ex);
    lookup->done.expires_after(opt.resolve_timeout);
    ResolveFn fn = opt.resolve ? opt.resolve : ResolveFn(system_resolve);
    asio::co_spawn(
        ex,
        [lookup, fn, host = hop.host, port = hop.port]() -> asio::awaitable<void> {
          auto r = co_await fn(host, port);
          lookup->result = std::move(r);
          lookup->done.cancel();
        },
        asio::bind_cancellation_slot(lookup->cancel.slot(), asio::detached));
    if (!lookup->result) co_await lookup->done.async_wait(use_tuple);  // the lookup may have finished inline
    if (!lookup->result) {
      lookup->cancel.emit(asio::cancellation_type::terminal);
      co_return net_error("cannot resolve " + hop.host + ": timed out after " + duration_text(opt.resolve_timeout),
                          false);
    }
    if (!*lookup->result) co_return lookup->result->error();
    std::vector<tcp::endpoint> endpoints;
    unsigned short port = 0;
    auto [pend, pec] = std::from_chars(hop.port.data(), hop.port.data() + hop.port.size(), port);
    if (pec != std::errc{} || pend != hop.port.data() + hop.port.size())
      co_return net_error("bad port " + hop.port + " for " + hop.host, false);
    for (const auto& a : lookup->result->value()) {
      boost::system::error_code aec;
      auto address = asio::ip::make_address(a, aec);
      if (!aec) endpoints.emplace_back(address, port);
    }
    if (endpoints.empty()) co_return net_error("cannot resolve " + hop.host + ": no address", false);
    co_return endpoints;
  }

  // The kinds of address the API itself is on (looked up once): a download
  // may go to a loopback, link-local or private address only when the API is
  // on one of that kind too.
  std::optional<std::set<AddressScope>> api_scopes;

  asio::awaitable<std::set<AddressScope>> api_address_scopes() {
    if (!api_scopes) {
      std::set<AddressScope> s;
      const std::optional<Url> api = Url::parse(opt.api_base);
      const std::optional<AddressScope> literal = api ? address_scope(api->host) : std::nullopt;
      if (literal) {
        s.insert(*literal);
      } else if (api && host_is_loopback(api->host)) {
        s.insert(AddressScope::loopback);
      } else if (api) {
        Result<std::vector<tcp::endpoint>> r = co_await resolve(*api);
        if (r)
          for (auto& ep : r.value()) s.insert(address_scope(ep.address().to_string()).value_or(AddressScope::global));
      }
      api_scopes = std::move(s);
    }
    co_return *api_scopes;
  }

  // Refuses a download address that reaches into this machine or its
  // network when the API is not there itself: a hostile API answer or CDN
  // redirect must not make setlist fetch from a router, a metadata service
  // (169.254.169.254) or a local admin page.
  // Parameters by value, called with named locals only: GCC 12 mishandles
  // temporaries that live across a co_await.
  asio::awaitable<std::optional<Error>> refuse_address(std::string host, std::string address) {
    auto scope = address_scope(address).value_or(AddressScope::global);
    if (scope == AddressScope::global) co_return std::nullopt;
    const auto allowed = co_await api_address_scopes();
    if (allowed.count(scope)) co_return std::nullopt;
    Error e;
    e.kind = ErrorKind::invalid;
    e.message = "refusing to download from " + host + (address == host ? "" : " (" + address + ")") + ": it is " +
                scope_description(scope) + " and the API is not on such an address; a file URL or redirect must not "
                "reach into this machine or its network";
    co_return e;
  }

  asio::awaitable<Result<std::unique_ptr<Conn>>> connect(const Url& u, bool download = false) {
    const bool guarded = download && !opt.api_base.empty();
    if (guarded && (address_scope(u.host) || host_is_loopback(u.host))) {  // a literal: refused before anything
      std::string address = address_scope(u.host) ? u.host : std::string("127.0.0.1");
      std::optional<Error> refused = co_await refuse_address(u.host, address);
      if (refused) co_return *refused;
    }
    auto proxy = proxy_for(u);
    if (u.https() && !opt.https_proxy.empty() && !proxy_bypassed(u.host, opt.no_proxy) && !proxy)
      co_return net_error("HTTPS_PROXY is not a usable http://host:port URL", false);
    const Url& first_hop = proxy ? *proxy : u;
    auto resolved = co_await resolve(first_hop);
    if (!resolved) co_return resolved.error();
    const auto& results = resolved.value();
    if (guarded && !proxy) {  // every address the name gave, before connecting to any
      for (const auto& ep : results) {
        std::string address = ep.address().to_string();
        std::optional<Error> refused = co_await refuse_address(u.host, address);
        if (refused) co_return *refused;
      }
    }
    auto c = std::make_unique<Conn>();
    c->origin = u.origin();
    if (u.https()) {
      c->tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(ex, ssl);
      SSL* ssl_handle = c->tls->native_handle();
      // Host name (or IP address) checked by OpenSSL itself, so a mismatch is reported as such.
      boost::system::error_code aec;
      asio::ip::make_address(u.host, aec);
      bool ok = aec ? SSL_set1_host(ssl_handle, u.host.c_str()) == 1 &&
                          SSL_set_tlsext_host_name(ssl_handle, u.host.c_str()) == 1  // SNI: names only
                    : X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_handle), u.host.c_str()) == 1;
      if (!ok) co_return net_error("cannot set up TLS verification for " + u.host, false);
    } else {
      c->plain = std::make_unique<beast::tcp_stream>(ex);
    }
    c->lowest().expires_after(opt.connect_timeout);
    auto [cec, ep] = co_await c->lowest().async_connect(results, use_tuple);
    if (cec) {
      std::string why = cec == beast::error::timeout ? "timed out after " + duration_text(opt.connect_timeout)
                                                     : cec.message();
      co_return net_error(std::string(proxy ? "cannot connect to proxy " : "cannot connect to ") + first_hop.host +
                              ":" + first_hop.port + ": " + why,
                          false);
    }
    if (proxy) {
      auto t = co_await open_tunnel(*c, u, *proxy);
      if (!t) co_return t.error();
      c->buffer.consume(c->buffer.size());
    }
    if (c->tls) {
      c->lowest().expires_after(opt.connect_timeout);
      auto [hec] = co_await c->tls->async_handshake(asio::ssl::stream_base::client, use_tuple);
      if (hec == beast::error::timeout)  // a silent server, not an untrusted one
        co_return net_error("TLS handshake with " + u.host + ":" + u.port + " timed out after " +
                                duration_text(opt.connect_timeout),
                            false);
      if (hec) {
        Error e = net_error(describe_tls_failure(hec, *c, u), false);
        e.kind = ErrorKind::tls;
        co_return e;
      }
    }
    co_return std::move(c);
  }

  void set_common(bh::request<bh::string_body>& req, const Url& url, std::size_t credential = 0) {
    req.set(bh::field::host, host_header(url));
    req.set(bh::field::user_agent, opt.user_agent);
    auto it = credentials.find(url.origin());
    if (it != credentials.end() && !it->second.empty())
      req.set(bh::field::authorization, it->second[credential < it->second.size() ? credential : 0]);
  }
};

Client::Client(asio::any_io_executor ex, ClientOptions opt)
    : impl_(std::make_unique<Impl>(std::move(ex), std::move(opt))) {}
Client::~Client() = default;

void Client::set_credential(const std::string& origin, std::string authorization) {
  impl_->credentials[origin] = {std::move(authorization)};
}

void Client::set_credentials(const std::string& origin, std::vector<std::string> authorizations) {
  impl_->credentials[origin] = std::move(authorizations);
}


asio::awaitable<Result<Response>> Client::request(std::string method, Url url, std::string body,
                                                  Millis timeout, std::size_t credential) {
  auto& I = *impl_;
  const bool reusable = method == "GET";
  const std::string where = url.host + ":" + url.port;
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::unique_ptr<Conn> c;
    bool reused = false;
    if (reusable) {
      c = I.take_idle(url.origin());
      reused = c != nullptr;
    }
    if (!c) {
      auto r = co_await I.connect(url);
      if (!r) co_return r.error();
      c = std::move(r.value());
    }
    bh::request<bh::string_body> req{bh::string_to_verb(method), url.target, 11};
    I.set_common(req, url, credential);
    req.set(bh::field::accept, "application/json");
    if (!body.empty() || method == "POST") {
      req.set(bh::field::content_type, "application/json");
      req.body() = body;
      req.prepare_payload();
    }
    req.keep_alive(reusable);
    c->lowest().expires_after(timeout);
    auto [wec, wn] = co_await write_msg(c->stream(), req);
    if (wec) {
      if (reused && attempt == 0) continue;  // a stale pooled connection
      co_return net_error("sending to " + where + " failed: " + wec.message(), false);
    }
    bh::response_parser<bh::string_body> parser;
    parser.body_limit(I.opt.max_body);
    parser.header_limit(64 * 1024);
    c->lowest().expires_after(timeout);
    auto [rec, rn] = co_await read_some(*c, parser);
    if (rec) {
      if (reused && attempt == 0 && !parser.got_some()) continue;  // closed while idle; GET only
      std::string why = rec == beast::error::timeout        ? "timed out waiting for the answer"
                        : rec == bh::error::partial_message ? "answer cut short"
                                                            : rec.message();
      // Too big: the connection is dropped unread; for a POST the server may have acted on it.
      if (rec == bh::error::body_limit)
        co_return proto_error("answer from " + where + " larger than the " + size_text(I.opt.max_body) + " limit");
      if (rec == bh::error::header_limit)
        co_return proto_error("answer from " + where + " with headers larger than the 64 KiB limit");
      co_return net_error("no answer from " + where + ": " + why, true);
    }
    auto& msg = parser.get();
    Response r;
    r.status = msg.result_int();
    r.headers = collect_headers(msg);
    r.body = std::move(msg.body());
    if (reusable && msg.keep_alive()) I.give_back(std::move(c));
    co_return r;
  }
  co_return net_error("no answer from " + where, true);
}

asio::awaitable<Result<Download>> Client::download(Url url, std::filesystem::path file, std::string if_range,
                                                   Expect expect, Millis idle_timeout,
                                                   std::function<void(const std::string&)> on_validator) {
  auto& I = *impl_;
  const Url start = url;
  const std::uint64_t cap = I.opt.max_download;
  // Checked before any request: a link's target is never sized (its size
  // would go out in a Range header) nor written.
  auto have = part_size(file);
  if (!have) co_return have.error();
  std::uint64_t existing = *have;
  if (if_range.empty()) existing = 0;  // without a validator a resume could splice two versions
  if (existing >= cap) existing = 0;   // nothing may be added to it

  for (int hop = 0; hop <= I.opt.max_redirects; ++hop) {
    auto cr = co_await I.connect(url, true);
    if (!cr) co_return cr.error();
    auto c = std::move(cr.value());
    bh::request<bh::string_body> req{bh::verb::get, url.target, 11};
    I.set_common(req, url);
    req.set(bh::field::accept, "*/*");
    if (existing > 0) {
      req.set(bh::field::range, "bytes=" + std::to_string(existing) + "-");
      req.set(bh::field::if_range, if_range);
    }
    req.keep_alive(false);
    c->lowest().expires_after(idle_timeout);
    auto [wec, wn] = co_await write_msg(c->stream(), req);
    if (wec) co_return net_error("download request to " + url.host + " failed: " + wec.message(), false);

    bh::response_parser<bh::buffer_body> p;
    p.body_limit(cap);  // a larger Content-Length fails the header read
    p.header_limit(64 * 1024);
    c->lowest().expires_after(idle_timeout);
    auto [hec, hn] = co_await read_header(c->stream(), c->buffer, p);
    if (hec == bh::error::body_limit)
      co_return proto_error("download refused: " + url.host + " announced " +
                            std::string(p.get()[bh::field::content_length]) + " bytes, more than the " +
                            size_text(cap) + " limit");
    if (hec) co_return net_error("download from " + url.host + ": " + hec.message(), true);
    int status = p.get().result_int();

    if (status >= 300 && status < 400 && status != 304) {
      std::string loc(p.get()[bh::field::location]);
      if (loc.empty()) co_return proto_error("redirect without a Location");
      std::string scheme = scheme_of(loc);
      if (!scheme.empty() && scheme != "http" && scheme != "https")
        co_return proto_error("refusing redirect to a " + scheme + ": URL (only http and https are followed)");
      auto next = url.resolve(loc);
      if (!next) co_return proto_error("redirect to an unusable Location");
      // https only, unless the download started on plain http on loopback and stays there.
      bool plain_ok = !start.https() && start.is_loopback() && !url.https() && next->is_loopback();
      if (!next->https() && !plain_ok)
        co_return proto_error("refusing redirect from " + url.origin() + " to plain http (" + next->origin() + ")");
      url = *next;
      continue;
    }
    if (status == 416) {
      Error e = proto_error("range not satisfiable (416); the file was left as it was");
      e.http_status = 416;  // the caller should restart from zero
      co_return e;
    }
    if (status != 200 && status != 206) {
      Error e;
      e.kind = ErrorKind::http;
      e.http_status = status;
      e.message = "download from " + url.host + " answered HTTP " + std::to_string(status);
      co_return e;
    }
    bool append = false;
    if (status == 206) {
      auto start = content_range_start(std::string(p.get()[bh::field::content_range]));
      if (!start || *start != existing || existing == 0) {
        Error e = proto_error("206 with a Content-Range that does not start at byte " + std::to_string(existing) +
                              "; the file was left as it was");
        e.http_status = 206;  // the caller should restart from zero
        co_return e;
      }
      append = true;
    }
    // The file may not grow past the cap, resumed prefix included.
    const std::uint64_t room = cap - (append ? existing : 0);
    if (auto len = p.content_length(); len && *len > room)
      co_return proto_error("download refused: " + std::to_string(*len) +
                            " more bytes would make the file larger than the " + size_text(cap) + " limit");
    p.body_limit(room);  // a body without Content-Length stops there
    Download d;
    d.status = status;
    d.resumed = append;
    d.etag = std::string(p.get()[bh::field::etag]);
    d.final_url = url.str();
    if (on_validator) on_validator(d.etag);

    auto opened = open_part(file);  // again, at the open itself: the file may have changed meanwhile
    if (!opened) co_return opened.error();
    Fd fd(*opened);
    std::uint64_t total = 0;
    if (append) {
      if (::ftruncate(fd.get(), static_cast<off_t>(existing)) != 0 ||
          ::lseek(fd.get(), static_cast<off_t>(existing), SEEK_SET) < 0)
        co_return io_error("cannot seek in " + file.string());
      total = existing;
    } else if (::ftruncate(fd.get(), 0) != 0) {
      co_return io_error("cannot truncate " + file.string());
    }

    // SHA-256 of the file as it will be: the resumed prefix read back once
    // (here), then every buffer of the body on the digest thread, once written.
    auto job = std::make_shared<DigestJob>(I.ex, I.buffers, I.opt.download_buffers);
    struct Abandon {  // however the download ends, the digest thread lets go of it
      DigestJob& j;
      ~Abandon() {
        std::lock_guard l(j.m);
        j.abandoned.store(true, std::memory_order_release);
      }
    } abandon{*job};
    bool hashing = I.opt.digest_downloads;
    if (hashing && append && !hash_prefix(fd.get(), existing, job->hash))
      hashing = false;  // unknown: the caller hashes the file
    // Null: hashed here, on the network thread, right after each read.
    DigestWorker* const worker =
        hashing && I.opt.digest_place == ClientOptions::DigestPlace::thread ? I.digest_worker() : nullptr;
    d.digest_threaded = worker != nullptr;
    const std::size_t size = job->buffer_size;
    std::unique_ptr<char[]> cur;  // the buffer being filled: `fill` bytes so far
    std::size_t fill = 0;
    bool checked = append || expect == Expect::any;
    std::string head;
    auto refused = [&] {
      std::string ct(p.get()[bh::field::content_type]);
      return proto_error(std::string("server sent something that is not ") +
                         (expect == Expect::mp3     ? "MP3 audio"
                          : expect == Expect::audio ? "MP3 or WAV audio: " + describe_content(head)
                                                    : "a JPEG image") +
                         (ct.empty() ? "" : " (Content-Type " + ct + ")"));
    };
    // The bytes gathered in `cur`, in order: the signature checked once
    // enough of them (or the whole body, `last`) are here, then written, then
    // hashed (here, or on the digest thread: the buffer goes there and comes back hashed).
    auto flush = [&](bool last) -> std::optional<Error> {
      if (fill == 0) return std::nullopt;
      const char* data = cur.get();
      if (!checked) {
        head.append(data, std::min<std::size_t>(fill, 16 - std::min<std::size_t>(16, head.size())));
        // "RIFF" <size> "WAVE" needs 12 bytes; the other signatures 4.
        if (head.size() >= (expect == Expect::audio ? 12u : 4u) || last) {
          bool ok = expect == Expect::mp3     ? looks_like_mp3(head)
                    : expect == Expect::audio ? detect_audio_format(head) != AudioFormat::unknown
                                              : looks_like_jpeg(head);
          if (!ok) {
            (void)::ftruncate(fd.get(), 0);
            return refused();
          }
          checked = true;
        }
      }
      if (!write_all(fd.get(), data, fill))
        return io_error("cannot write " + file.string() + ": " + std::strerror(errno));
      total += fill;
      if (worker)
        worker->submit(job, std::move(cur), fill);  // back in job->spare once hashed
      else if (hashing)
        job->hash.update(data, fill);
      fill = 0;
      return std::nullopt;
    };
    auto cut = [&](beast::error_code rec) {
      std::string why = rec == beast::error::timeout ? "stalled (no data within the idle timeout)"
                        : rec == bh::error::partial_message || rec == bh::error::end_of_stream ||
                                rec == asio::error::eof || rec == asio::ssl::error::stream_truncated
                            ? "cut short"
                            : rec.message();
      return net_error("download from " + url.host + " " + why + " after " + std::to_string(total) + " bytes", true);
    };
    if (const auto length = p.content_length(); length && !p.chunked()) {
      // A known length: the bytes the header read already buffered, then
      // straight from the socket into `cur`, never more than the length
      // (what follows it is left for trailing_bytes below).
      std::uint64_t left = *length;
      while (left > 0 && c->buffer.size() > 0) {
        if (!cur) cur = co_await buffer_to_fill(*job, worker);
        const std::size_t n = static_cast<std::size_t>(
            std::min<std::uint64_t>(std::min(c->buffer.size(), size - fill), left));
        std::memcpy(cur.get() + fill, c->buffer.data().data(), n);
        c->buffer.consume(n);
        fill += n;
        left -= n;
        if (fill == size || left == 0)
          if (auto e = flush(left == 0)) co_return *e;
      }
      while (left > 0) {
        if (!cur) cur = co_await buffer_to_fill(*job, worker);
        const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(size - fill, left));
        c->lowest().expires_after(idle_timeout);
        auto [rec, rn] = co_await read_raw(*c, asio::buffer(cur.get() + fill, want));
        fill += rn;
        left -= rn;
        const bool failed = rec && left > 0;
        if (fill == size || left == 0 || failed)  // what came before a failure is kept (a resume continues it)
          if (auto e = flush(left == 0)) co_return *e;
        if (failed) co_return cut(rec);
      }
    } else {
      // Chunked, or ending when the connection closes: through the parser,
      // which undoes the chunking and stops at the body limit.
      // Beast sizes each socket read by the buffer's free capacity (at least
      // 512 bytes): without room, a 5 MB file takes ten thousand reads.
      c->buffer.reserve(kParserBuffer);
      while (!p.is_done()) {
        if (!cur) cur = co_await buffer_to_fill(*job, worker);
        p.get().body().data = cur.get() + fill;
        p.get().body().size = size - fill;
        c->lowest().expires_after(idle_timeout);
        auto [rec, rn] = co_await read_some(*c, p);
        if (rec == bh::error::need_buffer) rec = {};
        fill = size - p.get().body().size;
        if (fill == size || p.is_done() || rec)
          if (auto e = flush(p.is_done())) co_return *e;
        if (rec) {
          if (rec == bh::error::body_limit) {
            (void)::ftruncate(fd.get(), 0);
            co_return proto_error("download stopped: " + url.host + " sent more than the " + size_text(cap) +
                                  " limit");
          }
          co_return cut(rec);
        }
      }
    }
    if (!checked && head.empty()) co_return proto_error("download is empty");
    if (!checked) {  // a body shorter than the signature whose end came in a read of its own
      (void)::ftruncate(fd.get(), 0);
      co_return refused();
    }
    // More bytes than the Content-Length announced: the length lied and the
    // file would be published cut short. A failed download (retried).
    if (auto len = p.content_length()) {
      const std::size_t extra = co_await trailing_bytes(*c, std::chrono::milliseconds(200));
      if (extra > 0) {
        (void)::ftruncate(fd.get(), 0);
        co_return proto_error("download from " + url.host + " sent more bytes than its Content-Length (" +
                              std::to_string(*len) + "): the file would be cut short");
      }
    }
    // No fsync here: the caller rewrites the file (tags) and makes the
    // version it publishes durable; a blocking fsync would stall every other
    // transfer on this thread.
    d.bytes = total;
    if (hashing) {
      co_await all_digested(*job, worker);
      d.sha256 = job->hash.hex_digest();
    }
    co_return d;
  }
  co_return proto_error("too many redirects (more than " + std::to_string(I.opt.max_redirects) + ")");
}

}  // namespace setlist::http
