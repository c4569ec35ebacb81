// Client::download's content check (Expect) against a canned answer from a
// one-shot server on 127.0.0.1 in the same io_context (a loopback socket, no
// other process).
#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include "audio_fixtures.hpp"
#include "http/client.hpp"
#include "setlist/output.hpp"
#include "test_support.hpp"

using namespace setlist;
using namespace setlist::http;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

struct Answer {
  std::string content_type;
  std::string body;
  bool content_length = true;  // false: the body ends when the connection closes
};

// Serves `a` once, downloads it into `file` with `expect`. `requests`
// counts the requests the server received.
std::optional<Result<Download>> download_once(const Answer& a, Expect expect, const std::filesystem::path& file,
                                              std::string if_range = {},
                                              std::function<void(const std::string&)> on_validator = {},
                                              int* requests = nullptr) {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const auto port = acceptor.local_endpoint().port();
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto [aec, sock] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
        if (aec) co_return;
        std::string req;
        auto [rec, rn] =
            co_await asio::async_read_until(sock, asio::dynamic_buffer(req), "\r\n\r\n", asio::as_tuple(asio::use_awaitable));
        if (rec) co_return;
        if (requests) ++*requests;
        std::string head = "HTTP/1.1 200 OK\r\nConnection: close\r\n";
        if (!a.content_type.empty()) head += "Content-Type: " + a.content_type + "\r\n";
        if (a.content_length) head += "Content-Length: " + std::to_string(a.body.size()) + "\r\n";
        std::string all = head + "\r\n" + a.body;
        co_await asio::async_write(sock, asio::buffer(all), asio::as_tuple(asio::use_awaitable));
        sock.shutdown(asio::ip::tcp::socket::shutdown_both);
      },
      asio::detached);
  Client client(io.get_executor(), ClientOptions{});
  std::optional<Result<Download>> got;
  auto url = Url::parse("http://127.0.0.1:" + std::to_string(port) + "/output.wav");
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        got = co_await client.download(*url, file, if_range, expect, 5s, on_validator);
        acceptor.close();  // a download refused before connecting leaves the accept waiting
      },
      asio::detached);
  io.run_for(30s);
  return got;
}

}  // namespace

TEST(HttpDownload, ExpectAudioTakesWavAndMp3) {
  setlist::test::TempDir dir;
  const std::string wav = setlist::test::make_wav(8000, 1, 800);
  auto got = download_once({"audio/wav", wav}, Expect::audio, dir / "a.part");
  ASSERT_TRUE(got.has_value());
  ASSERT_TRUE(*got) << got->error().message;
  EXPECT_EQ((*got)->bytes, wav.size());
  EXPECT_EQ(setlist::test::read_file(dir / "a.part"), wav);

  // Whatever the Content-Type says: the bytes decide.
  const std::string mp3 = setlist::test::mp3_frames(8);
  got = download_once({"application/octet-stream", mp3}, Expect::audio, dir / "b.part");
  ASSERT_TRUE(got.has_value());
  ASSERT_TRUE(*got) << got->error().message;
  EXPECT_EQ(setlist::test::read_file(dir / "b.part"), mp3);
}

TEST(HttpDownload, ExpectAudioRefusesHtmlJsonAndTextSayingWhat) {
  setlist::test::TempDir dir;
  struct Case {
    Answer answer;
    std::string message;
  };
  std::vector<Case> cases = {
      {{"text/html", "<!DOCTYPE html><html><body>Access Denied</body></html>"},
       "server sent something that is not MP3 or WAV audio: an HTML page (Content-Type text/html)"},
      {{"application/json", "{\"statusCode\":403,\"message\":\"expired\"}"},
       "server sent something that is not MP3 or WAV audio: JSON (Content-Type application/json)"},
      {{"", "None.mp3 is not available"}, "server sent something that is not MP3 or WAV audio: text"},
      // Shorter than "RIFF" <size> "WAVE", with and without a Content-Length.
      {{"audio/wav", "RIFF"}, "server sent something that is not MP3 or WAV audio: a RIFF file that is not WAVE (Content-Type audio/wav)"},
      {{"", std::string("RIFF\x10\0\0\0WAV", 11), false},
       "server sent something that is not MP3 or WAV audio: a RIFF file that is not WAVE"},
  };
  for (auto& c : cases) {
    auto file = dir / "x.part";
    auto got = download_once(c.answer, Expect::audio, file);
    ASSERT_TRUE(got.has_value());
    ASSERT_FALSE(*got) << c.answer.body;
    EXPECT_EQ(got->error().message, c.message);
    EXPECT_EQ(got->error().kind, ErrorKind::protocol);
    EXPECT_EQ(std::filesystem::file_size(file), 0u) << "the refused bytes were kept";
  }
  auto empty = download_once({"audio/wav", ""}, Expect::audio, dir / "e.part");
  ASSERT_TRUE(empty.has_value());
  ASSERT_FALSE(*empty);
  EXPECT_EQ(empty->error().message, "download is empty");
}

TEST(HttpDownload, ExpectMp3StillMeansMp3Only) {
  setlist::test::TempDir dir;
  auto got = download_once({"audio/mpeg", setlist::test::mp3_frames(8)}, Expect::mp3, dir / "a.part");
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(*got) << got->error().message;
  got = download_once({"audio/wav", setlist::test::make_wav(8000, 1, 800)}, Expect::mp3, dir / "b.part");
  ASSERT_TRUE(got.has_value());
  ASSERT_FALSE(*got);
  EXPECT_EQ(got->error().message, "server sent something that is not MP3 audio (Content-Type audio/wav)");
}

// A resumable ".part" lives in OUT/.setlist/partial, a folder anyone who can
// write OUT can plant things in. A link there must never be written through
// (nor sized: the size would go out in a Range header).
TEST(HttpDownload, APartFileThatIsALinkIsRefusedBeforeAnyRequest) {
  setlist::test::TempDir dir;
  const auto victim = dir / "victim.txt";
  setlist::test::write_file(victim, "precious");
  const std::string wav = setlist::test::make_wav(8000, 1, 800);
  for (std::string if_range : {"", "\"v1\""}) {
    auto part = dir / "clip.audio.part";
    std::filesystem::remove(part);
    std::filesystem::create_symlink(victim, part);
    int requests = 0;
    auto got = download_once({"audio/wav", wav}, Expect::audio, part, if_range, {}, &requests);
    ASSERT_TRUE(got.has_value());
    ASSERT_FALSE(*got) << "wrote through the link";
    EXPECT_EQ(got->error().kind, ErrorKind::io);
    EXPECT_EQ(got->error().message,
              "refusing to download into " + part.string() + ": it is a symbolic link (remove it and run again)");
    EXPECT_EQ(requests, 0);
    EXPECT_EQ(setlist::test::read_file(victim), "precious");
    EXPECT_TRUE(std::filesystem::is_symlink(part));
  }
  // A dangling link would create its target.
  auto part = dir / "dangling.audio.part";
  std::filesystem::create_symlink(dir / "created-elsewhere", part);
  auto got = download_once({"audio/wav", wav}, Expect::audio, part);
  ASSERT_TRUE(got.has_value());
  ASSERT_FALSE(*got);
  EXPECT_FALSE(std::filesystem::exists(dir / "created-elsewhere"));
}

TEST(HttpDownload, ALinkPlantedAfterTheCheckIsRefusedAtTheOpen) {
  setlist::test::TempDir dir;
  const auto victim = dir / "victim.txt";
  setlist::test::write_file(victim, "precious");
  auto part = dir / "clip.audio.part";
  // The answer's headers are in, the file not opened yet: the window between check and open.
  auto plant = [&](const std::string&) { std::filesystem::create_symlink(victim, part); };
  auto got = download_once({"audio/wav", setlist::test::make_wav(8000, 1, 800)}, Expect::audio, part, "", plant);
  ASSERT_TRUE(got.has_value());
  ASSERT_FALSE(*got) << "wrote through the link";
  EXPECT_EQ(got->error().kind, ErrorKind::io);
  EXPECT_NE(got->error().message.find("symbolic link"), std::string::npos) << got->error().message;
  EXPECT_EQ(setlist::test::read_file(victim), "precious");
}

TEST(HttpDownload, APartFileThatIsNotARegularFileOfOursIsRefused) {
  setlist::test::TempDir dir;
  const std::string wav = setlist::test::make_wav(8000, 1, 800);
  // A FIFO: opening it for writing would block the network thread until someone reads.
  auto fifo = dir / "fifo.audio.part";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto got = download_once({"audio/wav", wav}, Expect::audio, fifo, "\"v1\"");
  ASSERT_TRUE(got.has_value());
  ASSERT_FALSE(*got);
  EXPECT_EQ(got->error().kind, ErrorKind::io);
  EXPECT_EQ(got->error().message, "refusing to download into " + fifo.string() + ": it is not a regular file");

  if (::geteuid() != 0) GTEST_SKIP() << "another user's file needs root to make";
  auto theirs = dir / "theirs.audio.part";
  setlist::test::write_file(theirs, "someone else's bytes");
  ASSERT_EQ(::chown(theirs.c_str(), 65534, 65534), 0);
  got = download_once({"audio/wav", wav}, Expect::audio, theirs, "\"v1\"");
  ASSERT_TRUE(got.has_value());
  ASSERT_FALSE(*got);
  EXPECT_EQ(got->error().message, "refusing to download into " + theirs.string() + ": it belongs to another user (uid 65534)");
  EXPECT_EQ(setlist::test::read_file(theirs), "someone else's bytes");
}
