// The HTTP client with an injected resolver: no sockets are opened.
#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "http/client.hpp"

using namespace setlist;
using namespace setlist::http;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

// Runs one GET with `opt` until it completes or 30 s pass (then: nullopt).
std::optional<Result<Response>> get_once(const ClientOptions& opt, const std::string& url) {
  asio::io_context io;
  Client client(io.get_executor(), opt);
  std::optional<Result<Response>> got;
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { got = co_await client.request("GET", *Url::parse(url), "", 5s); },
      asio::detached);
  io.run_for(30s);
  return got;
}

}  // namespace

TEST(HttpClient, ALookupThatNeverAnswersTimesOutAndIsCancelled) {
  bool cancelled = false;
  ClientOptions o;
  o.resolve_timeout = 200ms;
  o.resolve = [&cancelled](std::string, std::string) -> asio::awaitable<Result<std::vector<std::string>>> {
    asio::steady_timer never(co_await asio::this_coro::executor, asio::steady_timer::time_point::max());
    auto [ec] = co_await never.async_wait(asio::as_tuple(asio::use_awaitable));
    cancelled = ec == asio::error::operation_aborted;
    Error e;
    e.kind = ErrorKind::network;
    e.message = "the fake resolver was woken";
    co_return e;
  };
  // Without the timeout nothing completes: after 30 s `got` is empty.
  auto got = get_once(o, "http://api.example.test/");
  ASSERT_TRUE(got.has_value()) << "the request is still waiting for the lookup";
  ASSERT_FALSE(*got);
  EXPECT_EQ(got->error().message, "cannot resolve api.example.test: timed out after 200 ms");
  EXPECT_EQ(got->error().kind, ErrorKind::network);
  EXPECT_FALSE(got->error().request_sent);  // so a generate request is retried, not counted as maybe-paid
  EXPECT_TRUE(cancelled) << "the abandoned lookup was not told to stop";
}

TEST(HttpClient, ALookupWithoutAUsableAddressFailsClearly) {
  ClientOptions o;
  std::string asked;
  o.resolve = [&asked](std::string host, std::string) -> asio::awaitable<Result<std::vector<std::string>>> {
    asked = host;
    co_return std::vector<std::string>{"not an address"};
  };
  auto got = get_once(o, "http://cdn.example.test/x");
  ASSERT_TRUE(got.has_value());
  ASSERT_FALSE(*got);
  EXPECT_EQ(asked, "cdn.example.test");
  EXPECT_EQ(got->error().message, "cannot resolve cdn.example.test: no address");
}
