// The only translation unit of setlist-sim that includes Asio and Beast.
#include "sim/server.hpp"

#include "sim/model.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/json/serialize.hpp>

#include <fmt/format.h>

#include <sys/resource.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>

namespace sim {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

constexpr auto tok = asio::as_tuple(asio::use_awaitable);

struct Shared {
  Model model;
  std::unique_ptr<ssl::context> tls;
  bool log = false;
  explicit Shared(const Config& c) : model(c), log(c.log) {}
};

struct ConnGuard {
  Model& m;
  explicit ConnGuard(Model& model) : m(model) { m.connection_opened(); }
  ~ConnGuard() { m.connection_closed(); }
};

tcp::socket& lowest_socket(beast::tcp_stream& s) { return s.socket(); }
tcp::socket& lowest_socket(beast::ssl_stream<beast::tcp_stream>& s) { return s.next_layer().socket(); }
beast::tcp_stream& tcp_of(beast::tcp_stream& s) { return s; }
beast::tcp_stream& tcp_of(beast::ssl_stream<beast::tcp_stream>& s) { return s.next_layer(); }

std::string header_block(const Response& r, bool keep_alive) {
  std::string h;
  h.reserve(256);
  auto std_reason = http::obsolete_reason(static_cast<http::status>(r.status));
  std::string_view reason = r.reason.empty() ? std::string_view(std_reason.data(), std_reason.size()) : r.reason;
  h += fmt::format("HTTP/1.1 {} {}\r\n", r.status, reason);
  h += "Server: setlist-sim\r\n";
  if (!r.content_type.empty()) h += "Content-Type: " + r.content_type + "\r\n";
  if (!r.no_length)
    h += fmt::format("Content-Length: {}\r\n", r.announce_length ? r.announce_length
                                               : r.short_length  ? r.body_size() / 2
                                                                 : r.body_size());
  for (auto& [k, v] : r.headers) h += k + ": " + v + "\r\n";
  h += keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  h += "\r\n";
  return h;
}

template <class Stream>
asio::awaitable<bool> write_all(Stream& stream, const char* data, std::size_t n, Shared& sh) {
  tcp_of(stream).expires_after(std::chrono::seconds(60));
  auto [ec, written] = co_await asio::async_write(stream, asio::buffer(data, n), tok);
  sh.model.count_bytes(written);
  co_return !ec;
}

// Sends the body (or its first half when truncating), in pieces when trickling.
template <class Stream>
asio::awaitable<bool> write_body(Stream& stream, const Response& r, std::string& head, Shared& sh) {
  std::uint64_t total = r.head ? 0 : r.body_size();
  std::uint64_t send = r.truncate ? total / 2 : total;
  std::size_t piece = r.trickle.count() > 0 ? 512 : 64 * 1024;
  asio::steady_timer timer(stream.get_executor());
  if (r.trickle.count() > 0) {
    if (!co_await write_all(stream, head.data(), head.size(), sh)) co_return false;
    head.clear();
  }
  std::uint64_t off = 0;
  std::string buf;
  while (off < send || !head.empty()) {
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(piece, send - off));
    buf.assign(head);
    head.clear();
    std::size_t at = buf.size();
    buf.resize(at + n);
    if (r.media) r.media->fill(r.media_offset + off, buf.data() + at, n);
    else std::memcpy(buf.data() + at, r.body.data() + off, n);
    if (!co_await write_all(stream, buf.data(), buf.size(), sh)) co_return false;
    off += n;
    if (r.trickle.count() > 0 && off < send) {
      timer.expires_after(r.trickle);
      co_await timer.async_wait(tok);
    }
  }
  co_return true;
}

template <class Stream>
asio::awaitable<void> serve(Stream& stream, bool cdn, Shared& sh) {
  beast::flat_buffer buf;
  asio::steady_timer timer(stream.get_executor());
  const Config& cfg = sh.model.config();
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(4 * 1024 * 1024);
    tcp_of(stream).expires_after(cfg.idle_timeout);
    auto [ec, n] = co_await http::async_read(stream, buf, parser, tok);
    if (ec) co_return;
    auto& msg = parser.get();
    Request req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    req.authorization = std::string(msg[http::field::authorization]);
    req.range = std::string(msg[http::field::range]);
    req.if_range = std::string(msg[http::field::if_range]);
    req.body = std::move(msg.body());
    req.cdn = cdn;
    bool keep_alive = msg.keep_alive();

    Response res = sh.model.handle(req, Clock::now());
    if (res.action == Response::Action::reset) {
      sh.model.count_response(res.route, 0);
      if (sh.log) std::cout << sh.model.log_line(req, res) << std::endl;
      beast::error_code ignored;
      lowest_socket(stream).set_option(asio::socket_base::linger(true, 0), ignored);
      lowest_socket(stream).close(ignored);
      co_return;
    }
    tcp_of(stream).expires_never();
    if (res.delay.count() > 0) {
      timer.expires_after(res.delay);
      co_await timer.async_wait(tok);
    }
    if (res.wait) {
      if (res.wait_until > Clock::now()) {
        timer.expires_at(res.wait_until);
        co_await timer.async_wait(tok);
      }
      res.body = sh.model.render_wait(res, Clock::now());
    }
    if (res.truncate || res.no_length || res.announce_length || res.short_length) keep_alive = false;
    sh.model.count_response(res.route, res.code ? res.code : res.status);  // sunoapi: the body's code
    if (sh.log) std::cout << sh.model.log_line(req, res) << std::endl;
    std::string head = header_block(res, keep_alive);
    bool ok = co_await write_body(stream, res, head, sh);
    if (!ok || !keep_alive) {
      beast::error_code ignored;
      lowest_socket(stream).shutdown(tcp::socket::shutdown_send, ignored);
      co_return;
    }
  }
}

asio::awaitable<void> session_plain(tcp::socket sock, bool cdn, Shared& sh) {
  ConnGuard guard(sh.model);
  beast::tcp_stream stream(std::move(sock));
  co_await serve(stream, cdn, sh);
}

asio::awaitable<void> session_tls(tcp::socket sock, bool cdn, Shared& sh) {
  ConnGuard guard(sh.model);
  beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(sock)), *sh.tls);
  stream.next_layer().expires_after(std::chrono::seconds(10));
  auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, tok);
  if (ec) co_return;
  co_await serve(stream, cdn, sh);
}

asio::awaitable<void> listen(tcp::acceptor& acceptor, bool cdn, Shared& sh) {
  auto ex = co_await asio::this_coro::executor;
  for (;;) {
    auto [ec, sock] = co_await acceptor.async_accept(tok);
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      // e.g. too many open files: back off a little and go on
      asio::steady_timer t(ex, std::chrono::milliseconds(10));
      co_await t.async_wait(tok);
      continue;
    }
    beast::error_code ignored;
    sock.set_option(tcp::no_delay(true), ignored);
    if (sh.tls)
      asio::co_spawn(ex, session_tls(std::move(sock), cdn, sh), asio::detached);
    else
      asio::co_spawn(ex, session_plain(std::move(sock), cdn, sh), asio::detached);
  }
}

void raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

void write_stats(Shared& sh, const std::string& file) {
  if (file.empty()) return;
  std::string tmp = file + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << boost::json::serialize(sh.model.stats(Clock::now())) << "\n";
  }
  std::rename(tmp.c_str(), file.c_str());
}

}  // namespace

int run_server(const Config& cfg) {
  raise_fd_limit();
  asio::io_context ioc(1);
  Shared sh(cfg);
  bool tls = !cfg.tls_cert.empty();
  if (tls) {
    sh.tls = std::make_unique<ssl::context>(ssl::context::tls_server);
    sh.tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                        ssl::context::single_dh_use);
    sh.tls->use_certificate_chain_file(cfg.tls_cert);
    sh.tls->use_private_key_file(cfg.tls_key, ssl::context::pem);
  }
  auto addr = asio::ip::make_address(cfg.host);
  auto open = [&](int port) {
    tcp::acceptor a(ioc);
    tcp::endpoint ep(addr, static_cast<unsigned short>(port));
    a.open(ep.protocol());
    a.set_option(asio::socket_base::reuse_address(true));
    a.bind(ep);
    a.listen(asio::socket_base::max_listen_connections);
    return a;
  };
  tcp::acceptor api = open(cfg.port);
  tcp::acceptor cdn = open(cfg.cdn_port);
  int api_port = api.local_endpoint().port();
  int cdn_port = cdn.local_endpoint().port();
  sh.model.set_ports(api_port, cdn_port, tls);
  const char* scheme = tls ? "https" : "http";
  std::string host = addr.is_v6() ? "[" + cfg.host + "]" : cfg.host;
  std::cout << "listening on " << scheme << "://" << host << ":" << api_port << std::endl;
  std::cout << "cdn on " << sh.model.cdn_base() << std::endl;

  asio::co_spawn(ioc, listen(api, false, sh), asio::detached);
  asio::co_spawn(ioc, listen(cdn, true, sh), asio::detached);
  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](const beast::error_code&, int) { ioc.stop(); });
  ioc.run();
  write_stats(sh, cfg.stats_file);
  std::cout.flush();
  std::_Exit(0);  // skip tearing down thousands of suspended sessions
}

}  // namespace sim
