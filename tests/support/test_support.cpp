#include "test_support.hpp"

#include <malloc.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json/parse.hpp>
#include <boost/url/parse.hpp>
#include <openssl/evp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <mutex>
#include <atomic>
#include <array>

extern char** environ;

namespace setlist::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  fs::path root = base && *base ? base : "/tmp";
  std::random_device rd;
  for (int i = 0; i < 100; ++i) {
    fs::path p = root / ("setlist-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    std::error_code ec;
    if (fs::create_directory(p, ec)) {
      path_ = p;
      return;
    }
  }
  throw std::runtime_error("cannot create a temporary directory");
}

TempDir::~TempDir() {
  if (std::getenv("SETLIST_KEEP_TMP")) return;
  std::error_code ec;
  fs::remove_all(path_, ec);
}

Process::Process(const std::vector<std::string>& argv, const Env& env, const fs::path& out_file,
                 const fs::path& err_file, const fs::path& cwd)
    : out_file_(out_file), err_file_(err_file) {
  std::map<std::string, std::string> vars;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    auto eq = kv.find('=');
    if (eq != std::string::npos) vars[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (auto& [k, v] : env) {
    if (v == "\x01unset")
      vars.erase(k);
    else
      vars[k] = v;
  }
  std::vector<std::string> env_strings;
  for (auto& [k, v] : vars) env_strings.push_back(k + "=" + v);
  std::vector<char*> cenv, cargv;
  for (auto& s : env_strings) cenv.push_back(s.data());
  cenv.push_back(nullptr);
  std::vector<std::string> args = argv;
  for (auto& s : args) cargv.push_back(s.data());
  cargv.push_back(nullptr);

  std::fflush(nullptr);  // or the child inherits (and repeats) unwritten output
  // A child's peak RSS (wait4's ru_maxrss) starts from this process's RSS
  // at the fork, which exec carries over: memory this process freed but
  // malloc kept (a large report.json read back by the benchmarks) would be
  // counted as the child's. Given back first.
  ::malloc_trim(0);
  started_ = std::chrono::steady_clock::now();
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    ::setpgid(0, 0);
    FILE* o = std::freopen(out_file.c_str(), "w", stdout);
    FILE* e = std::freopen(err_file.c_str(), "w", stderr);
    FILE* i = std::freopen("/dev/null", "r", stdin);
    (void)o, (void)e, (void)i;
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) _exit(126);
    ::execve(cargv[0], cargv.data(), cenv.data());
    std::fprintf(stderr, "exec %s: %s\n", cargv[0], std::strerror(errno));
    _exit(127);
  }
}

Process::~Process() {
  if (!done_ && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    wait(std::chrono::seconds(10));
  }
}

void Process::signal(int sig) {
  if (!done_ && pid_ > 0) ::kill(pid_, sig);
}

bool Process::running() {
  if (done_) return false;
  int status = 0;
  rusage ru{};
  pid_t r = ::wait4(pid_, &status, WNOHANG, &ru);
  if (r == pid_) {
    done_ = true;
    usage_.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    auto secs = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; };
    usage_.cpu_seconds = secs(ru.ru_utime) + secs(ru.ru_stime);
    usage_.max_rss_kb = ru.ru_maxrss;
    if (WIFEXITED(status)) exit_code_ = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) term_signal_ = WTERMSIG(status);
    return false;
  }
  return true;
}

bool Process::wait(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

std::string Process::out() const { return read_file(out_file_); }
std::string Process::err() const { return read_file(err_file_); }

RunResult run(const std::vector<std::string>& argv, const Env& env, std::chrono::milliseconds timeout,
              const fs::path& cwd) {
  TempDir tmp;
  Process p(argv, env, tmp / "out", tmp / "err", cwd);
  RunResult r;
  if (!p.wait(timeout)) {
    p.signal(SIGKILL);
    p.wait();
    r.err = "timed out\n";
  }
  r.exit_code = p.exit_code();
  r.signal = p.term_signal();
  r.max_rss_kb = p.usage().max_rss_kb;
  r.out = p.out();
  r.err += p.err();
  return r;
}

Sim::Sim(const fs::path& dir, const std::vector<std::string>& args, const Env& env) {
  std::vector<std::string> argv = {sim_bin().string(), "--port", "0", "--cdn-port", "0"};
  argv.insert(argv.end(), args.begin(), args.end());
  static int counter = 0;
  std::string tag = std::to_string(++counter);
  proc_ = std::make_unique<Process>(argv, env, dir / ("sim" + tag + ".out"), dir / ("sim" + tag + ".err"));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    std::string out = proc_->out();
    std::istringstream lines(out);
    std::string line;
    while (std::getline(lines, line)) {
      if (line.rfind("listening on ", 0) == 0) base_url_ = line.substr(13);
      if (line.rfind("cdn on ", 0) == 0) cdn_url_ = line.substr(7);
    }
    if (!base_url_.empty() && !cdn_url_.empty()) return;
    if (!proc_->running()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  throw std::runtime_error("setlist-sim did not start: " + proc_->out() + proc_->err());
}

Sim::~Sim() { stop(); }

void Sim::stop() {
  if (proc_ && proc_->running()) {
    proc_->signal(SIGTERM);
    if (!proc_->wait(std::chrono::seconds(10))) {
      proc_->signal(SIGKILL);
      proc_->wait();
    }
  }
}

boost::json::value Sim::stats(const std::string& cacert) const {
  HttpOptions o;
  o.cacert = cacert;
  auto r = http_get(base_url_ + "/__sim/stats", o);
  if (r.status != 200) throw std::runtime_error("stats: " + std::to_string(r.status) + " " + r.error);
  return boost::json::parse(r.body);
}

namespace {

template <class Stream>
HttpResult exchange(Stream& stream, const std::string& method, const std::string& host,
                    const std::string& target, const HttpOptions& opt) {
  HttpResult out;
  bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(method), target, 11};
  req.set(bhttp::field::host, host);
  req.set(bhttp::field::user_agent, "setlist-tests");
  for (auto& [k, v] : opt.headers) req.set(k, v);
  if (!opt.body.empty() || method == "POST") {
    req.body() = opt.body;
    if (req[bhttp::field::content_type].empty()) req.set(bhttp::field::content_type, "application/json");
    req.prepare_payload();
  }
  bhttp::write(stream, req);
  beast::flat_buffer buf;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(1024ull * 1024 * 1024);
  beast::error_code ec;
  bhttp::read(stream, buf, parser, ec);
  if (ec && !(ec == bhttp::error::partial_message || ec == bhttp::error::end_of_stream) ) {
    if (!parser.is_header_done()) {
      out.error = ec.message();
      return out;
    }
    out.error = ec.message();
  } else if (ec) {
    out.error = ec.message();
  }
  auto& res = parser.get();
  out.status = res.result_int();
  for (auto& f : res) {
    std::string name(f.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.headers[name] = std::string(f.value());
  }
  out.body = res.body();
  return out;
}

}  // namespace

HttpResult http(const std::string& method, const std::string& url, const HttpOptions& opt) {
  HttpResult out;
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) {
    out.error = "bad url";
    return out;
  }
  std::string scheme(parsed->scheme());
  std::string host(parsed->host());
  std::string port(parsed->port());
  if (port.empty()) port = scheme == "https" ? "443" : "80";
  std::string target(parsed->encoded_target());
  if (target.empty()) target = "/";
  try {
    asio::io_context ioc;
    asio::ip::tcp::resolver resolver(ioc);
    auto endpoints = resolver.resolve(host, port);
    if (scheme == "https") {
      asio::ssl::context ctx(asio::ssl::context::tls_client);
      if (!opt.cacert.empty()) ctx.load_verify_file(opt.cacert);
      ctx.set_verify_mode(asio::ssl::verify_peer);
      std::string name = opt.sni.empty() ? host : opt.sni;
      beast::ssl_stream<beast::tcp_stream> stream(ioc, ctx);
      SSL_set_tlsext_host_name(stream.native_handle(), name.c_str());
      stream.set_verify_callback(asio::ssl::host_name_verification(name));
      beast::get_lowest_layer(stream).expires_after(opt.timeout);
      beast::get_lowest_layer(stream).connect(endpoints);
      stream.handshake(asio::ssl::stream_base::client);
      out = exchange(stream, method, host + ":" + port, target, opt);
      beast::error_code ec;
      stream.shutdown(ec);
    } else {
      beast::tcp_stream stream(ioc);
      stream.expires_after(opt.timeout);
      stream.connect(endpoints);
      out = exchange(stream, method, host + ":" + port, target, opt);
      beast::error_code ec;
      stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    }
  } catch (const std::exception& e) {
    if (out.status == 0) out.error = e.what();
  }
  return out;
}

struct ConnectProxy::Impl {
  asio::io_context ioc;
  asio::ip::tcp::acceptor acceptor{ioc};
  std::thread thread;
  mutable std::mutex mu;
  std::vector<std::string> targets;
  std::string heads;
  std::vector<std::thread> pumps;
  std::vector<std::shared_ptr<asio::ip::tcp::socket>> sockets;
  std::atomic<bool> stopping{false};

  static void pump(std::shared_ptr<asio::ip::tcp::socket> from, std::shared_ptr<asio::ip::tcp::socket> to) {
    std::array<char, 16384> buf;
    beast::error_code ec;
    for (;;) {
      std::size_t n = from->read_some(asio::buffer(buf), ec);
      if (ec || n == 0) break;
      asio::write(*to, asio::buffer(buf.data(), n), ec);
      if (ec) break;
    }
    to->shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  }

  void serve() {
    for (;;) {
      auto client = std::make_shared<asio::ip::tcp::socket>(ioc);
      beast::error_code ec;
      acceptor.accept(*client, ec);
      if (ec || stopping) return;
      std::string head;
      char ch;
      while (head.find("\r\n\r\n") == std::string::npos && client->read_some(asio::buffer(&ch, 1), ec) == 1)
        head += ch;
      std::string target;
      if (head.rfind("CONNECT ", 0) == 0) target = head.substr(8, head.find(' ', 8) - 8);
      {
        std::lock_guard<std::mutex> lock(mu);
        heads += head;
        if (!target.empty()) targets.push_back(target);
      }
      auto upstream = std::make_shared<asio::ip::tcp::socket>(ioc);
      auto colon = target.rfind(':');
      if (target.empty() || colon == std::string::npos) {
        asio::write(*client, asio::buffer(std::string("HTTP/1.1 405 Method Not Allowed\r\n\r\n")), ec);
        continue;
      }
      asio::ip::tcp::resolver resolver(ioc);
      auto eps = resolver.resolve(target.substr(0, colon), target.substr(colon + 1), ec);
      if (!ec) asio::connect(*upstream, eps, ec);
      if (ec) {
        asio::write(*client, asio::buffer(std::string("HTTP/1.1 502 Bad Gateway\r\n\r\n")), ec);
        continue;
      }
      asio::write(*client, asio::buffer(std::string("HTTP/1.1 200 Connection established\r\n\r\n")), ec);
      std::lock_guard<std::mutex> lock(mu);
      sockets.push_back(client);
      sockets.push_back(upstream);
      pumps.emplace_back(pump, client, upstream);
      pumps.emplace_back(pump, upstream, client);
    }
  }
};

ConnectProxy::ConnectProxy() : impl_(std::make_unique<Impl>()) {
  asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
  impl_->acceptor.open(ep.protocol());
  impl_->acceptor.bind(ep);
  impl_->acceptor.listen();
  impl_->thread = std::thread([this] { impl_->serve(); });
}

ConnectProxy::~ConnectProxy() {
  beast::error_code ec;
  // A blocking accept() is not woken by close() from another thread: wake it with a connection.
  impl_->stopping = true;
  {
    asio::io_context io;
    asio::ip::tcp::socket poke(io);
    poke.connect(impl_->acceptor.local_endpoint(), ec);
  }
  if (impl_->thread.joinable()) impl_->thread.join();
  impl_->acceptor.close(ec);
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    for (auto& s : impl_->sockets) s->shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  }
  for (auto& t : impl_->pumps)
    if (t.joinable()) t.join();
}

std::string ConnectProxy::url() const {
  return "http://127.0.0.1:" + std::to_string(impl_->acceptor.local_endpoint().port());
}

std::vector<std::string> ConnectProxy::targets() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->targets;
}

std::string ConnectProxy::heads() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->heads;
}

std::string sha256_hex(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (unsigned i = 0; i < len; ++i) {
    s += hex[md[i] >> 4];
    s += hex[md[i] & 15];
  }
  return s;
}

std::string sha256_file(const fs::path& file) { return sha256_hex(read_file(file)); }

std::string read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const fs::path& file, const std::string& text) {
  if (file.has_parent_path()) fs::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::binary);
  out << text;
}

boost::json::value read_json(const fs::path& file) { return boost::json::parse(read_file(file)); }

}  // namespace setlist::test
