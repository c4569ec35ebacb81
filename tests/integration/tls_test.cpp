// Trust boundaries: TLS verification with certificates made at test time,
// and where the API key may come from.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <regex>
#include <thread>

#include "integration_support.hpp"

using namespace setlist::test;
using namespace std::chrono_literals;

TEST(Tls, ValidChainWithCacertCompletesOverHttps) {
  TempDir dir;
  auto certs = make_certs(dir);
  write_file(dir / "album.yaml", album_yaml(2));
  Sim sim(dir.path(), tls_args(certs, "server"));
  ASSERT_EQ(sim.base_url().rfind("https://", 0), 0u) << sim.base_url();
  ASSERT_EQ(sim.cdn_url().rfind("https://", 0), 0u) << sim.cdn_url();
  auto out = dir / "out";
  auto r = run_setlist(fast_run_args(sim, dir / "album.yaml", out, {"--cacert", (certs / "ca.pem").string()}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(sim.stats((certs / "ca.pem").string()).as_object().at("generate_requests").as_int64(), 2);
}

TEST(Tls, SslCertFileIsHonoured) {
  TempDir dir;
  auto certs = make_certs(dir);
  write_file(dir / "album.yaml", album_yaml(1));
  Sim sim(dir.path(), tls_args(certs, "server"));
  auto r = run_setlist(fast_run_args(sim, dir / "album.yaml", dir / "out"),
                       {{"SSL_CERT_FILE", (certs / "ca.pem").string()}});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

struct BadCert {
  std::string cert;
  bool with_cacert;
  std::string expected;  // in the error output
};
void PrintTo(const BadCert& c, std::ostream* os) { *os << c.cert; }


class TlsRefusal : public ::testing::TestWithParam<BadCert> {};

TEST_P(TlsRefusal, FailsClearlyAndSendsNothing) {
  TempDir dir;
  auto certs = make_certs(dir);
  write_file(dir / "album.yaml", album_yaml(2));
  Sim sim(dir.path(), tls_args(certs, GetParam().cert));
  std::vector<std::string> extra;
  if (GetParam().with_cacert) extra = {"--cacert", (certs / "ca.pem").string()};
  auto r = run_setlist(fast_run_args(sim, dir / "album.yaml", dir / "out", extra), {{"SSL_CERT_FILE", "\x01unset"}});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find(GetParam().expected), std::string::npos) << r.err;
  // Nothing got past the handshake: the simulator saw no generate request.
  HttpOptions o;
  o.cacert = (certs / GetParam().cert == certs / "selfsigned" ? certs / "selfsigned.pem" : certs / "ca.pem").string();
  if (GetParam().cert == "wronghost") o.sni = "wrong.example";
  auto stats = http_get(sim.base_url() + "/__sim/stats", o);
  if (GetParam().cert != "expired") {  // an expired certificate cannot be verified by any client
    ASSERT_EQ(stats.status, 200) << stats.error;
    EXPECT_NE(stats.body.find("\"generate_requests\":0"), std::string::npos) << stats.body;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Certificates, TlsRefusal,
    ::testing::Values(BadCert{"selfsigned", false, "pass --cacert FILE"},
                      BadCert{"wronghost", true, "the certificate is not valid for 127.0.0.1"},
                      BadCert{"expired", true, "certificate has expired"}),
    [](const auto& info) { return info.param.cert; });

TEST(Tls, ServerOfferingOnlyTls10IsRefused) {
  TempDir dir;
  auto certs = make_certs(dir);
  write_file(dir / "album.yaml", album_yaml(1));
  // A real TLS 1.0-only peer: openssl s_server, port chosen by the kernel.
  Process server({"/usr/bin/openssl", "s_server", "-accept", "127.0.0.1:0", "-tls1", "-cipher", "DEFAULT@SECLEVEL=0",
                  "-cert", (certs / "server.pem").string(), "-key", (certs / "server.key").string(), "-www"},
                 {}, dir / "s_server.out", dir / "s_server.err");
  std::string port;
  std::regex accept_re("ACCEPT 127\\.0\\.0\\.1:([0-9]+)");
  for (int i = 0; i < 500 && port.empty(); ++i) {
    std::smatch m;
    std::string o = server.out();
    if (std::regex_search(o, m, accept_re)) port = m[1];
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_FALSE(port.empty()) << server.out() << server.err();
  auto r = run_setlist({"run", (dir / "album.yaml").string(), "-o", (dir / "out").string(), "--base-url",
                        "https://127.0.0.1:" + port, "--cacert", (certs / "ca.pem").string()});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("TLS handshake with 127.0.0.1:" + port + " failed"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("TLS 1.2 or newer"), std::string::npos) << r.err;
}

TEST(Secrets, KeyFileMustBePrivate) {
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(1));
  Sim sim(dir.path(), fast_sim_args());
  auto key = dir / "key.txt";
  write_file(key, std::string(kTestKey) + "\n");
  ::chmod(key.c_str(), 0644);
  auto open = run_setlist(fast_run_args(sim, dir / "album.yaml", dir / "out", {"--api-key-file", key.string()}),
                          {{"AIML_API_KEY", "\x01unset"}});
  EXPECT_EQ(open.exit_code, 2) << open.err;
  EXPECT_NE(open.err.find("is readable by other users; run: chmod 600"), std::string::npos) << open.err;
  EXPECT_EQ(open.err.find(kTestKey), std::string::npos);

  ::chmod(key.c_str(), 0600);
  auto ok = run_setlist(fast_run_args(sim, dir / "album.yaml", dir / "out", {"--api-key-file", key.string()}),
                        {{"AIML_API_KEY", "\x01unset"}});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
}

TEST(Secrets, KeyIsNeverAcceptedAsAFlag) {
  auto r = run_setlist({"run", "x.yaml", "-o", "out", "--api-key", kTestKey});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ((r.out + r.err).find(kTestKey), std::string::npos) << "the rejected value is echoed back";
}

TEST(Proxy, HttpsGoesThroughConnectAndTheProxyNeverSeesTheKey) {
  TempDir dir;
  auto certs = make_certs(dir);
  write_file(dir / "album.yaml", album_yaml(2));
  Sim sim(dir.path(), tls_args(certs, "server"));
  ConnectProxy proxy;
  auto r = run_setlist(fast_run_args(sim, dir / "album.yaml", dir / "out", {"--cacert", (certs / "ca.pem").string()}),
                       {{"HTTPS_PROXY", proxy.url()}, {"NO_PROXY", "\x01unset"}, {"no_proxy", "\x01unset"}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto targets = proxy.targets();
  auto api = sim.base_url().substr(std::string("https://").size());
  auto cdn = sim.cdn_url().substr(std::string("https://").size());
  EXPECT_TRUE(std::count(targets.begin(), targets.end(), api) > 0) << "no tunnel to the API";
  EXPECT_TRUE(std::count(targets.begin(), targets.end(), cdn) > 0) << "no tunnel to the CDN";
  EXPECT_EQ(proxy.heads().find(kTestKey), std::string::npos);
  EXPECT_EQ(proxy.heads().find("uthorization"), std::string::npos);
}

TEST(Proxy, NoProxyBypassesIt) {
  TempDir dir;
  auto certs = make_certs(dir);
  write_file(dir / "album.yaml", album_yaml(1));
  Sim sim(dir.path(), tls_args(certs, "server"));
  ConnectProxy proxy;
  auto r = run_setlist(fast_run_args(sim, dir / "album.yaml", dir / "out", {"--cacert", (certs / "ca.pem").string()}),
                       {{"https_proxy", proxy.url()}, {"no_proxy", "example.com, 127.0.0.1"}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(proxy.targets().empty());
}

TEST(Proxy, DeadProxyIsAClearPerRequestError) {
  TempDir dir;
  auto certs = make_certs(dir);
  write_file(dir / "album.yaml", album_yaml(1));
  Sim sim(dir.path(), tls_args(certs, "server"));
  std::string dead;
  {
    ConnectProxy p;  // take a port, then free it
    dead = p.url();
  }
  auto r = run_setlist(fast_run_args(sim, dir / "album.yaml", dir / "out",
                                     {"--cacert", (certs / "ca.pem").string(), "--retry-max-attempts", "2"}),
                       {{"HTTPS_PROXY", dead}, {"NO_PROXY", "\x01unset"}, {"no_proxy", "\x01unset"}});
  EXPECT_EQ(r.exit_code, 3) << r.err;  // the API was never reached: said once, songs left pending
  EXPECT_NE(r.err.find("cannot connect to proxy 127.0.0.1:"), std::string::npos) << r.err;
  EXPECT_EQ(statuses(dir / "out").at("Song 1"), "pending");
}
