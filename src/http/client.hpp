// HTTP/1.1 client over TCP or TLS (Beast), for coroutines on one io_context.
// Owns connections, TLS verification, pooling, timeouts, redirects and
// streaming bodies; knows nothing about clips. Beast stays in client.cpp.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "http/url.hpp"
#include "setlist/result.hpp"

namespace setlist::http {

using Millis = std::chrono::milliseconds;
using Headers = std::vector<std::pair<std::string, std::string>>;

struct Response {
  int status = 0;
  Headers headers;  // names lower-case
  std::string body;
  std::string header(std::string_view name) const;  // "" when absent
};

// Looks up the addresses (numeric text) of a host; see ClientOptions::resolve.
using ResolveFn =
    std::function<boost::asio::awaitable<Result<std::vector<std::string>>>(std::string host, std::string port)>;

struct ClientOptions {
  Millis resolve_timeout{10000};           // name lookup
  Millis connect_timeout{10000};           // TCP connect, and then the TLS handshake
  std::size_t max_body = 8u << 20;         // JSON answers
  std::uint64_t max_download = 512ull << 20;  // a downloaded file, resumed prefix included
  // Empty: the system resolver. Tests put one here that never answers; on
  // resolve_timeout the lookup is cancelled (it should stop waiting then) and abandoned.
  ResolveFn resolve;
  std::string cacert;                      // PEM bundle; empty: system store
  std::string user_agent = "setlist/0.1";
  int max_redirects = 5;
  std::string https_proxy;  // http://host:port: https requests tunnel through it (CONNECT)
  std::string no_proxy;     // hosts that bypass the proxy (see proxy_bypassed)
  // The API's base URL: a download (and each of its redirects) may go to a
  // loopback, link-local or private address only when the API's own
  // address is of that kind too (docs/security.md). Empty: no such rule.
  std::string api_base;
  // SHA-256 of every downloaded file, computed on the bytes as they pass
  // (Download::sha256). Off only to measure what the digest costs.
  bool digest_downloads = true;
  // A download's body goes through buffers of this size: each is filled from
  // the socket, written to the file, then hashed on the client's digest
  // thread while the next ones fill. A download holds at most
  // `download_buffers` of them (allocated as needed); when all wait for the
  // digest, its reads wait. Small values are for tests (many buffers).
  std::size_t download_buffer = 64 * 1024;
  std::size_t download_buffers = 4;
  // Where a download's SHA-256 is computed: on the digest thread (each
  // filled buffer handed over once written), or on the network thread right
  // after each read (`inline_`, also the fallback when no thread can be
  // started). Measured in bench B (bench/RESULTS.md) on 2 loaded cores and
  // on one: the thread costs no more CPU than hashing inline and keeps the
  // wall time, so it stays the default; `inline_` is for tests and bench-download.
  enum class DigestPlace { thread, inline_ };
  DigestPlace digest_place = DigestPlace::thread;
  // Tests only: called on the digest thread before each buffer of a download
  // still in progress is hashed, with its size (a test holds the thread here).
  std::function<void(std::size_t)> digest_hook;
};

// What a download did.
struct Download {
  int status = 0;              // final status (200 or 206)
  std::uint64_t bytes = 0;     // size of the file now
  bool resumed = false;        // appended to an existing prefix
  std::string etag;
  std::string final_url;
  // SHA-256 (hex) of the whole file as it is now, resumed prefix included,
  // computed while the bytes arrived. Empty when unknown (digest_downloads
  // off, or the resumed prefix could not be read back): hash the file then.
  std::string sha256;
  bool digest_threaded = false;  // sha256 was computed on the digest thread (else on the network thread)
};

// What a download's first bytes must be (checked before the file is kept):
// mp3: looks_like_mp3; audio: MP3 or WAV (setlist::detect_audio_format);
// jpeg: looks_like_jpeg. HTML, JSON and text are refused, saying which.
// The first bytes only: a whole file is checked with setlist::check_audio_file.
enum class Expect { any, mp3, jpeg, audio };

// The Client must be destroyed before its io_context, and run on one thread
// of it; its digest thread (started by the first download that hashes) is
// joined by its destructor.
class Client {
 public:
  Client(boost::asio::any_io_executor ex, ClientOptions opt);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // The Authorization header values are sent to `origin` (scheme://host:port)
  // only: never to another host, never on a redirect elsewhere. Several make a
  // key pool: each request names the one it carries (`credential`, an index).
  void set_credential(const std::string& origin, std::string authorization);
  void set_credentials(const std::string& origin, std::vector<std::string> authorizations);

  // One request, no redirects. GETs may reuse a pooled connection; other
  // methods always use a fresh one, so that Error::request_sent is exact:
  // false means the server cannot have received the whole request.
  // `credential`: which of the origin's Authorization values it carries.
  boost::asio::awaitable<Result<Response>> request(std::string method, Url url, std::string body,
                                                   Millis timeout, std::size_t credential = 0);

  // Streams a GET body into `file`, hashing it on the way (Download::sha256;
  // a resume hashes the prefix already there first), following up to
  // max_redirects redirects (without credentials off-origin). When the file already holds bytes and
  // `if_range` (an ETag) is known, asks for the rest with Range/If-Range:
  // a 206 starting at the file's size is appended, a 200 replaces the file,
  // anything else leaves the file untouched. `idle_timeout` bounds each read.
  // `on_validator` receives the answer's ETag before any byte is written, so
  // the caller can keep it for a later resume even if the body is cut short.
  boost::asio::awaitable<Result<Download>> download(
      Url url, std::filesystem::path file, std::string if_range, Expect expect, Millis idle_timeout,
      std::function<void(const std::string& etag)> on_validator = {});

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Content sniffing used to refuse HTML error pages saved as audio.
bool looks_like_mp3(std::string_view first_bytes);
bool looks_like_jpeg(std::string_view first_bytes);

}  // namespace setlist::http
