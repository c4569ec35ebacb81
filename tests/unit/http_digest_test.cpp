// Client::download's streamed SHA-256 (Download::sha256) and its direct
// path for bodies with a Content-Length, against canned answers from a
// server on 127.0.0.1 in the same io_context (one answer per connection, in
// order; a loopback socket, no other process).
#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "audio_fixtures.hpp"
#include "common/hash.hpp"
#include "http/client.hpp"
#include "test_support.hpp"

using namespace setlist;
using namespace setlist::http;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

struct Served {
  std::optional<Result<Download>> result;
  std::vector<std::string> requests;  // as the server received them
};

// Answers the i-th connection with answers[i] (raw bytes: status line,
// headers, body), then closes it; downloads `path` into `file`.
Served serve_and_download(const std::vector<std::string>& answers, const std::string& path,
                          const std::filesystem::path& file, std::string if_range = {},
                          ClientOptions options = {}) {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const auto port = acceptor.local_endpoint().port();
  Served s;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        for (const auto& answer : answers) {
          auto [aec, sock] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
          if (aec) co_return;
          std::string req;
          auto [rec, rn] = co_await asio::async_read_until(sock, asio::dynamic_buffer(req), "\r\n\r\n",
                                                           asio::as_tuple(asio::use_awaitable));
          if (rec) co_return;
          s.requests.push_back(req);
          co_await asio::async_write(sock, asio::buffer(answer), asio::as_tuple(asio::use_awaitable));
          boost::system::error_code ignored;
          sock.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
        }
      },
      asio::detached);
  Client client(io.get_executor(), options);
  auto url = Url::parse("http://127.0.0.1:" + std::to_string(port) + path);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        s.result = co_await client.download(*url, file, if_range, Expect::audio, 5s);
        acceptor.close();
      },
      asio::detached);
  io.run_for(30s);
  return s;
}

std::string ok_answer(const std::string& body, const std::string& extra_headers = {}) {
  return "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: audio/mpeg\r\nETag: \"v1\"\r\n" + extra_headers +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// MP3 frames large enough to take many reads (well past one 64 KiB buffer).
std::string big_mp3() { return setlist::test::mp3_frames(4000); }

}  // namespace

TEST(HttpDigest, AFreshDownloadCarriesTheDigestOfTheFile) {
  setlist::test::TempDir dir;
  for (const std::string& body : {setlist::test::mp3_frames(2), big_mp3()}) {
    auto file = dir / "a.part";
    auto s = serve_and_download({ok_answer(body)}, "/a.mp3", file);
    ASSERT_TRUE(s.result.has_value());
    ASSERT_TRUE(*s.result) << s.result->error().message;
    const Download& d = s.result->value();
    EXPECT_EQ(d.bytes, body.size());
    EXPECT_FALSE(d.resumed);
    EXPECT_EQ(setlist::test::read_file(file), body);
    EXPECT_EQ(d.sha256, sha256_hex(body));
  }
}

TEST(HttpDigest, BodiesWithoutALengthAreHashedThroughTheParserToo) {
  setlist::test::TempDir dir;
  const std::string body = big_mp3();
  // Until the connection closes.
  auto s = serve_and_download({"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + body}, "/a.mp3", dir / "a.part");
  ASSERT_TRUE(s.result.has_value());
  ASSERT_TRUE(*s.result) << s.result->error().message;
  EXPECT_EQ(s.result->value().sha256, sha256_hex(body));
  EXPECT_EQ(setlist::test::read_file(dir / "a.part"), body);
  // Chunked, in uneven chunks.
  std::string chunked = "HTTP/1.1 200 OK\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (std::size_t at = 0; at < body.size();) {
    const std::size_t n = std::min<std::size_t>(body.size() - at, 1000 + at % 7777);
    char len[32];
    std::snprintf(len, sizeof len, "%zx\r\n", n);
    chunked += len + body.substr(at, n) + "\r\n";
    at += n;
  }
  chunked += "0\r\n\r\n";
  s = serve_and_download({chunked}, "/a.mp3", dir / "b.part");
  ASSERT_TRUE(s.result.has_value());
  ASSERT_TRUE(*s.result) << s.result->error().message;
  EXPECT_EQ(s.result->value().sha256, sha256_hex(body));
  EXPECT_EQ(setlist::test::read_file(dir / "b.part"), body);
}

TEST(HttpDigest, AResumedDownloadHashesThePrefixAlreadyThere) {
  setlist::test::TempDir dir;
  const std::string body = big_mp3();
  const std::size_t have = 100'003;  // not a multiple of any buffer
  auto file = dir / "a.part";
  setlist::test::write_file(file, body.substr(0, have));
  const std::string answer = "HTTP/1.1 206 Partial Content\r\nConnection: close\r\nETag: \"v1\"\r\nContent-Range: bytes " +
                             std::to_string(have) + "-" + std::to_string(body.size() - 1) + "/" +
                             std::to_string(body.size()) + "\r\nContent-Length: " + std::to_string(body.size() - have) +
                             "\r\n\r\n" + body.substr(have);
  auto s = serve_and_download({answer}, "/a.mp3", file, "\"v1\"");
  ASSERT_TRUE(s.result.has_value());
  ASSERT_TRUE(*s.result) << s.result->error().message;
  ASSERT_EQ(s.requests.size(), 1u);
  EXPECT_NE(s.requests[0].find("Range: bytes=" + std::to_string(have) + "-"), std::string::npos) << s.requests[0];
  const Download& d = s.result->value();
  EXPECT_TRUE(d.resumed);
  EXPECT_EQ(d.bytes, body.size());
  EXPECT_EQ(setlist::test::read_file(file), body);
  EXPECT_EQ(d.sha256, sha256_hex(body)) << "the digest must cover the resumed prefix too";

  // A 200 to the same request replaces the file: the digest is of the new bytes only.
  setlist::test::write_file(file, "old bytes that are not kept");
  const std::string fresh = setlist::test::mp3_frames(50);
  s = serve_and_download({ok_answer(fresh)}, "/a.mp3", file, "\"v1\"");
  ASSERT_TRUE(s.result.has_value());
  ASSERT_TRUE(*s.result) << s.result->error().message;
  EXPECT_FALSE(s.result->value().resumed);
  EXPECT_EQ(setlist::test::read_file(file), fresh);
  EXPECT_EQ(s.result->value().sha256, sha256_hex(fresh));
}

TEST(HttpDigest, ARedirectedDownloadHashesOnlyTheFinalBody) {
  setlist::test::TempDir dir;
  const std::string body = big_mp3();
  // The redirect has a body of its own, which must not count.
  const std::string redirect =
      "HTTP/1.1 302 Found\r\nConnection: close\r\nLocation: /final.mp3\r\nContent-Length: 11\r\n\r\nmoved here.";
  auto s = serve_and_download({redirect, ok_answer(body)}, "/first.mp3", dir / "a.part");
  ASSERT_TRUE(s.result.has_value());
  ASSERT_TRUE(*s.result) << s.result->error().message;
  ASSERT_EQ(s.requests.size(), 2u);
  EXPECT_EQ(s.requests[1].rfind("GET /final.mp3 ", 0), 0u) << s.requests[1];
  const Download& d = s.result->value();
  EXPECT_NE(d.final_url.find("/final.mp3"), std::string::npos) << d.final_url;
  EXPECT_EQ(setlist::test::read_file(dir / "a.part"), body);
  EXPECT_EQ(d.sha256, sha256_hex(body));
}

TEST(HttpDigest, NoDigestWhenTurnedOff) {
  setlist::test::TempDir dir;
  ClientOptions o;
  o.digest_downloads = false;
  const std::string body = setlist::test::mp3_frames(20);
  auto s = serve_and_download({ok_answer(body)}, "/a.mp3", dir / "a.part", {}, o);
  ASSERT_TRUE(s.result.has_value());
  ASSERT_TRUE(*s.result) << s.result->error().message;
  EXPECT_EQ(s.result->value().sha256, "");
  EXPECT_EQ(setlist::test::read_file(dir / "a.part"), body);
}

// The direct path reads no further than the Content-Length; whatever the
// server sends past it (already buffered with the header, or arriving
// later on the socket) makes the download fail instead of a file cut short.
TEST(HttpDigest, ABodyLongerThanItsContentLengthFailsOnTheDirectPath) {
  setlist::test::TempDir dir;
  // One frame: header, body and the 7 extra bytes come in Beast's first
  // (512-byte) read, so the extra bytes wait in the buffer; the large body's
  // come later, on the socket.
  for (const std::string& body : {setlist::test::mp3_frames(1), big_mp3()}) {
    const std::string answer = "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: " +
                               std::to_string(body.size()) + "\r\n\r\n" + body + "garbage";
    ASSERT_TRUE(body.size() > 1000 || answer.size() <= 512) << answer.size();
    auto file = dir / "a.part";
    auto s = serve_and_download({answer}, "/a.mp3", file);
    ASSERT_TRUE(s.result.has_value());
    ASSERT_FALSE(*s.result) << "a body longer than its Content-Length was accepted (" << body.size() << " bytes)";
    EXPECT_NE(s.result->error().message.find("sent more bytes than its Content-Length (" + std::to_string(body.size()) +
                                             ")"),
              std::string::npos)
        << s.result->error().message;
    EXPECT_EQ(std::filesystem::file_size(file), 0u);
  }
}

TEST(HttpDigest, ABodyShorterThanItsContentLengthIsCutShort) {
  setlist::test::TempDir dir;
  const std::string body = big_mp3();
  const std::string answer = "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: " +
                             std::to_string(body.size() + 10) + "\r\n\r\n" + body;
  auto s = serve_and_download({answer}, "/a.mp3", dir / "a.part");
  ASSERT_TRUE(s.result.has_value());
  ASSERT_FALSE(*s.result);
  EXPECT_EQ(s.result->error().message,
            "download from 127.0.0.1 cut short after " + std::to_string(body.size()) + " bytes");
  EXPECT_TRUE(s.result->error().request_sent);
}

// ------------------------------------------------ the digest thread
// Each filled buffer is written, then hashed on the client's digest thread
// while the next ones fill; a buffer comes back to the download only once
// hashed. These use small buffers so a body takes hundreds of them.

namespace {

// An MP3 frame (for the sniffing), then bytes that never repeat at any
// buffer's period: a buffer refilled before it is hashed changes the digest.
std::string varied_body(std::size_t size) {
  std::string body = setlist::test::mp3_frames(1);
  std::uint64_t x = 88172645463325252ull;
  while (body.size() < size) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    body += static_cast<char>(x >> 56);
  }
  return body;
}

// On the digest thread unless told otherwise.
ClientOptions small_buffers(std::size_t size, std::size_t count,
                            ClientOptions::DigestPlace place = ClientOptions::DigestPlace::thread) {
  ClientOptions o;
  o.download_buffer = size;
  o.download_buffers = count;
  o.digest_place = place;
  return o;
}

std::uint64_t size_of(const std::filesystem::path& p) {
  std::error_code ec;
  auto n = std::filesystem::file_size(p, ec);
  return ec ? 0 : n;
}

}  // namespace

// The same bytes hashed on the digest thread and on the network thread
// (ClientOptions::digest_place; inline is also the fallback without a thread).
class HttpDigestPlaces : public ::testing::TestWithParam<ClientOptions::DigestPlace> {};
INSTANTIATE_TEST_SUITE_P(HttpDigest, HttpDigestPlaces,
                         ::testing::Values(ClientOptions::DigestPlace::thread, ClientOptions::DigestPlace::inline_),
                         [](const auto& info) {
                           return info.param == ClientOptions::DigestPlace::thread ? std::string("OnTheDigestThread")
                                                                                   : std::string("OnTheNetworkThread");
                         });

TEST_P(HttpDigestPlaces, ABodyReadInManyBuffersHasTheDigestOfTheFile) {
  setlist::test::TempDir dir;
  const auto place = GetParam();
  const bool threaded = place == ClientOptions::DigestPlace::thread;
  const std::string body = varied_body(3'000'017);
  for (std::size_t size : {std::size_t{4096}, std::size_t{65'537}, std::size_t{1} << 20}) {
    // With a length (straight from the socket), and chunked (through the parser).
    std::string chunked = "HTTP/1.1 200 OK\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (std::size_t at = 0; at < body.size();) {
      const std::size_t n = std::min<std::size_t>(body.size() - at, 3000 + at % 9973);
      char len[32];
      std::snprintf(len, sizeof len, "%zx\r\n", n);
      chunked += len + body.substr(at, n) + "\r\n";
      at += n;
    }
    chunked += "0\r\n\r\n";
    int i = 0;
    for (const std::string& answer : {ok_answer(body), chunked}) {
      auto file = dir / ("a" + std::to_string(size) + "-" + std::to_string(i++) + ".part");
      std::atomic<int> hooked = 0;
      ClientOptions o = small_buffers(size, 2, place);
      o.digest_hook = [&](std::size_t) { ++hooked; };
      auto s = serve_and_download({answer}, "/a.mp3", file, {}, o);
      ASSERT_TRUE(s.result.has_value());
      ASSERT_TRUE(*s.result) << s.result->error().message;
      EXPECT_EQ(s.result->value().digest_threaded, threaded);
      EXPECT_EQ(hooked.load() > 0, threaded) << "the digest went elsewhere than asked";
      EXPECT_EQ(s.result->value().bytes, body.size());
      EXPECT_TRUE(setlist::test::read_file(file) == body) << "buffer " << size;
      EXPECT_EQ(s.result->value().sha256, sha256_hex(body)) << "buffer " << size;
    }
  }
  // A resume: the prefix read back here, the rest on the digest thread.
  const std::size_t have = 1'234'567;
  auto file = dir / "r.part";
  setlist::test::write_file(file, body.substr(0, have));
  const std::string answer = "HTTP/1.1 206 Partial Content\r\nConnection: close\r\nETag: \"v1\"\r\nContent-Range: bytes " +
                             std::to_string(have) + "-" + std::to_string(body.size() - 1) + "/" +
                             std::to_string(body.size()) + "\r\nContent-Length: " + std::to_string(body.size() - have) +
                             "\r\n\r\n" + body.substr(have);
  auto s = serve_and_download({answer}, "/a.mp3", file, "\"v1\"", small_buffers(4096, 3, place));
  ASSERT_TRUE(s.result.has_value());
  ASSERT_TRUE(*s.result) << s.result->error().message;
  EXPECT_TRUE(s.result->value().resumed);
  EXPECT_EQ(s.result->value().sha256, sha256_hex(body));
}

// The digest thread is held on the download's first buffer for a second
// (or until the download writes more than its buffers hold): the download
// must wait meanwhile with all its buffers out, not refill one that is not
// hashed yet, or the digest would not be the file's.
TEST(HttpDigest, ABufferIsNotRefilledBeforeItIsHashed) {
  setlist::test::TempDir dir;
  const std::string body = varied_body(1'000'003);
  const std::size_t size = 8192, count = 3;
  auto file = dir / "a.part";
  std::atomic<int> calls = 0;
  std::atomic<std::uint64_t> written_while_held = 0;
  ClientOptions o = small_buffers(size, count);
  o.digest_hook = [&](std::size_t) {
    if (calls++ > 0) return;
    const auto until = std::chrono::steady_clock::now() + 1s;
    while (size_of(file) <= size * count && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(1ms);
    written_while_held = size_of(file);
  };
  auto s = serve_and_download({ok_answer(body)}, "/a.mp3", file, {}, o);
  ASSERT_TRUE(s.result.has_value());
  ASSERT_TRUE(*s.result) << s.result->error().message;
  EXPECT_EQ(written_while_held.load(), size * count)
      << "while its first buffer was being hashed, the download wrote other than all its buffers";
  EXPECT_TRUE(setlist::test::read_file(file) == body);
  EXPECT_EQ(s.result->value().sha256, sha256_hex(body)) << "a buffer was refilled before it was hashed";
}

// Stopped (cancelled, as the engine's stop does) while the digest thread
// holds one of the download's buffers and the rest wait in its queue: the
// download ends at once, the digest thread finishes the buffer it holds (the
// download's frame is gone by then: ASan checks nothing of it is touched),
// skips the queued ones, and the client's destruction joins it.
TEST(Stop, ADownloadStoppedWhileTheDigestThreadHoldsItsBuffers) {
  setlist::test::TempDir dir;
  const std::string body = varied_body(400'000);
  const std::size_t size = 4096, count = 4;
  auto file = dir / "a.part";
  std::mutex m;
  std::condition_variable cv;
  bool released = false;
  std::atomic<int> calls = 0;
  bool ended = false, threw = false;
  {
    asio::io_context io;
    asio::ip::tcp::acceptor acceptor(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    const auto port = acceptor.local_endpoint().port();
    // Half the body, then silence until the client closes the connection.
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          auto [aec, sock] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
          if (aec) co_return;
          std::string req;
          co_await asio::async_read_until(sock, asio::dynamic_buffer(req), "\r\n\r\n", asio::as_tuple(asio::use_awaitable));
          const std::string answer = "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: " +
                                     std::to_string(body.size()) + "\r\n\r\n" + body.substr(0, body.size() / 2);
          co_await asio::async_write(sock, asio::buffer(answer), asio::as_tuple(asio::use_awaitable));
          char c;
          co_await sock.async_read_some(asio::buffer(&c, 1), asio::as_tuple(asio::use_awaitable));
        },
        asio::detached);
    ClientOptions o = small_buffers(size, count);
    o.digest_hook = [&](std::size_t) {
      ++calls;
      std::unique_lock l(m);
      cv.wait(l, [&] { return released; });
    };
    Client client(io.get_executor(), o);
    auto url = Url::parse("http://127.0.0.1:" + std::to_string(port) + "/a.mp3");
    asio::cancellation_signal stop;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> { (void)co_await client.download(*url, file, "", Expect::audio, 30s); },
        asio::bind_cancellation_slot(stop.slot(), [&](std::exception_ptr e) {
          ended = true;
          threw = e != nullptr;
          std::lock_guard l(m);
          released = true;  // only now: the download's frame is gone
          cv.notify_all();
        }));
    // Stop once the download waits for the digest thread: all its buffers
    // out, the file holding every byte of them.
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          asio::steady_timer t(io);
          for (int i = 0; i < 10000 && !(calls > 0 && size_of(file) >= size * count); ++i) {
            t.expires_after(1ms);
            co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
          }
          stop.emit(asio::cancellation_type::terminal);
        },
        asio::detached);
    io.run_for(30s);
    EXPECT_TRUE(ended) << "the download did not end when stopped";
    EXPECT_TRUE(threw);
    EXPECT_EQ(size_of(file), size * count);
    std::lock_guard l(m);
    released = true;  // whatever happened above, never leave the digest thread held
    cv.notify_all();
  }  // the client joins its digest thread here
  EXPECT_EQ(calls.load(), 1) << "a stopped download's queued buffers were hashed";
}
