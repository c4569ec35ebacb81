// The bytes and the books: media validity (an independent JPEG entropy
// decoder, MP3 frame headers), exact stats, the hourly limit.
#include "sim_helpers.hpp"

#include <map>

using namespace simtest;
using std::chrono::milliseconds;

namespace {

// A baseline JPEG decoder up to (not including) the IDCT: parses the
// segments, builds the Huffman tables from DHT and decodes every block of
// every MCU, so a bad table, bad bit packing or wrong block count fails.
struct JpegCheck {
  int width = 0, height = 0, components = 0;
  int blocks = 0;
  std::vector<int> dc;  // decoded DC values per block, in scan order
  std::string error;
};

JpegCheck decode_jpeg(const std::string& b) {
  JpegCheck out;
  auto u8 = [&](std::size_t i) { return static_cast<unsigned>(static_cast<unsigned char>(b.at(i))); };
  auto u16 = [&](std::size_t i) { return u8(i) * 256 + u8(i + 1); };
  if (b.size() < 4 || u8(0) != 0xFF || u8(1) != 0xD8) return out.error = "no SOI", out;
  struct Table {
    std::map<std::pair<int, int>, int> codes;  // (length, code) -> symbol
  };
  std::map<int, Table> tables;  // class*16 + id
  std::vector<std::pair<int, int>> comp_tables;
  std::size_t pos = 2;
  bool sof = false;
  for (;;) {
    if (u8(pos) != 0xFF) return out.error = "expected marker", out;
    unsigned m = u8(pos + 1);
    unsigned len = u16(pos + 2);
    std::size_t seg = pos + 4;
    if (m == 0xC0) {
      sof = true;
      if (u8(seg) != 8) return out.error = "precision", out;
      out.height = static_cast<int>(u16(seg + 1));
      out.width = static_cast<int>(u16(seg + 3));
      out.components = static_cast<int>(u8(seg + 5));
      for (int c = 0; c < out.components; ++c)
        if (u8(seg + 6 + 3 * c + 1) != 0x11) return out.error = "sampling", out;
    } else if (m == 0xC4) {
      std::size_t p = seg;
      while (p < pos + 2 + len) {
        int tc = static_cast<int>(u8(p));
        Table t;
        int code = 0;
        std::size_t v = p + 17;
        for (int l = 1; l <= 16; ++l) {
          for (unsigned i = 0; i < u8(p + static_cast<std::size_t>(l)); ++i) {
            if (code >= (1 << l) - 1) return out.error = "over-full Huffman table", out;
            t.codes[{l, code++}] = static_cast<int>(u8(v++));
          }
          code <<= 1;
        }
        tables[(tc >> 4) * 16 + (tc & 15)] = t;
        p = v;
      }
    } else if (m == 0xDA) {
      int ns = static_cast<int>(u8(seg));
      for (int i = 0; i < ns; ++i) {
        int t = static_cast<int>(u8(seg + 2 + 2 * static_cast<std::size_t>(i)));
        comp_tables.push_back({t >> 4, t & 15});
      }
      pos = pos + 2 + len;
      break;
    } else if (m == 0xC1 || m == 0xC2 || m == 0xD9) {
      return out.error = "unexpected marker", out;
    }
    pos = pos + 2 + len;
  }
  if (!sof || static_cast<int>(comp_tables.size()) != out.components) return out.error = "SOF/SOS", out;
  // entropy-coded data, unstuffed
  std::vector<int> bits;
  std::size_t p = pos;
  for (; p + 1 < b.size(); ++p) {
    unsigned c = u8(p);
    if (c == 0xFF) {
      if (u8(p + 1) == 0x00) {
        ++p;
      } else {
        break;
      }
    }
    for (int i = 7; i >= 0; --i) bits.push_back((c >> i) & 1);
  }
  if (u8(p) != 0xFF || u8(p + 1) != 0xD9 || p + 2 != b.size()) return out.error = "no EOI after data", out;
  std::size_t bp = 0;
  auto read_bits = [&](int n, int& v) {
    v = 0;
    for (int i = 0; i < n; ++i) {
      if (bp >= bits.size()) return false;
      v = v * 2 + bits[bp++];
    }
    return true;
  };
  auto decode = [&](const Table& t, int& sym) {
    int code = 0;
    for (int l = 1; l <= 16; ++l) {
      if (bp >= bits.size()) return false;
      code = code * 2 + bits[bp++];
      auto it = t.codes.find({l, code});
      if (it != t.codes.end()) return sym = it->second, true;
    }
    return false;
  };
  int mcus = (out.width / 8) * (out.height / 8);
  std::vector<int> pred(static_cast<std::size_t>(out.components), 0);
  for (int mcu = 0; mcu < mcus; ++mcu) {
    for (int c = 0; c < out.components; ++c) {
      const Table& dct = tables[0 * 16 + comp_tables[static_cast<std::size_t>(c)].first];
      const Table& act = tables[1 * 16 + comp_tables[static_cast<std::size_t>(c)].second];
      int s = 0, v = 0;
      if (!decode(dct, s) || s > 11 || !read_bits(s, v)) return out.error = "DC decode", out;
      if (s > 0 && v < (1 << (s - 1))) v -= (1 << s) - 1;
      pred[static_cast<std::size_t>(c)] += v;
      out.dc.push_back(pred[static_cast<std::size_t>(c)]);
      for (int k = 1; k < 64;) {
        int rs = 0;
        if (!decode(act, rs)) return out.error = "AC decode", out;
        if (rs == 0) break;
        int r = rs >> 4, sz = rs & 15;
        if (sz == 0 && r != 15) return out.error = "bad AC symbol", out;
        int extra = 0;
        if (!read_bits(sz, extra)) return out.error = "AC bits", out;
        k += r + 1;
      }
      ++out.blocks;
    }
  }
  // what is left is padding: fewer than 8 one-bits
  if (bits.size() - bp >= 8) return out.error = "trailing data", out;
  for (std::size_t i = bp; i < bits.size(); ++i)
    if (!bits[i]) return out.error = "padding not ones", out;
  return out;
}

}  // namespace

TEST(SimMedia, CoverDecodesAsBaselineJpeg) {
  TempDir dir;
  Sim sim(dir.path(), fast());
  auto ids = ids_of(submit(sim));
  auto clips = wait_status(sim, ids, "complete");
  ASSERT_EQ(clips.size(), 2u);
  for (auto& c : clips) {
    auto img = http_get(str(c, "image_url"));
    ASSERT_EQ(img.status, 200);
    auto j = decode_jpeg(img.body);
    ASSERT_EQ(j.error, "");
    EXPECT_EQ(j.width, 64);
    EXPECT_EQ(j.height, 64);
    EXPECT_EQ(j.components, 3);
    EXPECT_EQ(j.blocks, 64 * 3);
    for (int v : j.dc) {
      EXPECT_GE(v, -128);
      EXPECT_LE(v, 127);
    }
  }
}

TEST(SimMedia, Mp3FramesAreSilentLayer3) {
  TempDir dir;
  Sim sim(dir.path(), fast());
  auto ids = ids_of(submit(sim));
  auto clips = wait_status(sim, ids, "complete");
  ASSERT_EQ(clips.size(), 2u);
  auto a = http_get(str(clips[0], "audio_url"));
  ASSERT_EQ(a.body.size() % 384, 0u);
  for (std::size_t off = 0; off < a.body.size(); off += 384) {
    auto h = [&](std::size_t i) { return static_cast<unsigned char>(a.body[off + i]); };
    ASSERT_EQ(h(0), 0xFF);
    ASSERT_EQ(h(1) & 0xFE, 0xFA);        // sync, MPEG-1, Layer III
    ASSERT_EQ(h(2) >> 4, 9);             // 128 kbps
    ASSERT_EQ((h(2) >> 2) & 3, 1);       // 48 kHz
    ASSERT_EQ(h(3) >> 6, 3);             // mono
    for (std::size_t i = 4; i < 21; ++i) ASSERT_EQ(h(i), 0) << "side info must say: no main data";
  }
}

TEST(SimStats, BytesServedMatchWhatClientsReceived) {
  TempDir dir;
  Sim sim(dir.path(), fast());
  auto ids = ids_of(submit(sim));
  auto clips = wait_status(sim, ids, "complete");
  ASSERT_EQ(clips.size(), 2u);
  auto body_of = [](const std::string& raw) { return raw.substr(raw.find("\r\n\r\n") + 4); };
  // raw sockets see every byte, headers included; a stats answer counts
  // everything sent before it, not itself
  auto s1 = raw_exchange(sim.base_url(), raw_get("/__sim/stats"));
  auto before = json::parse(body_of(s1.data)).at("bytes_served").to_number<std::size_t>();
  auto r1 = raw_exchange(sim.cdn_url(), raw_get(str(clips[0], "audio_url").substr(sim.cdn_url().size())));
  auto r2 = raw_exchange(sim.cdn_url(), raw_get(str(clips[1], "image_url").substr(sim.cdn_url().size())));
  auto r3 = raw_exchange(sim.base_url(), raw_get("/__sim/health"));
  auto r4 = raw_exchange(sim.cdn_url(), raw_get("/audio/" + ids[0] + ".mp3", "Range: bytes=0-9\r\n"));
  auto s2 = raw_exchange(sim.base_url(), raw_get("/__sim/stats"));
  auto s = json::parse(body_of(s2.data));
  auto after = s.at("bytes_served").to_number<std::size_t>();
  EXPECT_EQ(after - before, s1.data.size() + r1.data.size() + r2.data.size() + r3.data.size() + r4.data.size());
  EXPECT_EQ(body_of(r4.data).size(), 10u);
  EXPECT_EQ(count(s, "CDN /audio", "200"), 1u);
  EXPECT_EQ(count(s, "CDN /audio", "206"), 1u);
  EXPECT_EQ(count(s, "CDN /image", "200"), 1u);
}

TEST(SimStats, ExactCountsPerRouteAndStatus) {
  TempDir dir;
  Sim sim(dir.path(), fast({"--fault", "503/get@n2", "--accept-key-env", "K"}), {{"K", "good"}});
  ASSERT_EQ(submit(sim, "a", "good").status, 200);
  EXPECT_EQ(submit(sim, "a", "bad").status, 401);
  for (int i = 0; i < 5; ++i) http_get(get_url(sim, {"x"}), auth("good"));
  http_get(sim.base_url() + "/nope");
  auto s = sim.stats();
  EXPECT_EQ(count(s, "POST /generate/custom-mode", "200"), 1u);
  EXPECT_EQ(count(s, "POST /generate/custom-mode", "401"), 1u);
  EXPECT_EQ(count(s, "GET /", "200"), 4u);
  EXPECT_EQ(count(s, "GET /", "503"), 1u);
  EXPECT_EQ(count(s, "other", "404"), 1u);
  EXPECT_EQ(s.at("requests_total").to_number<int>(), 8);
  EXPECT_EQ(s.at("unauthorized").to_number<int>(), 1);
  EXPECT_EQ(s.at("generate_requests").to_number<int>(), 1);
  EXPECT_EQ(s.at("duplicate_submissions").to_number<int>(), 0);
}

TEST(SimRateLimit, HourlyLimitPerKey) {
  TempDir dir;
  Sim sim(dir.path(), fast({"--hourly-limit", "2", "--hourly-window", "1s"}));
  EXPECT_EQ(submit(sim, "a").status, 200);
  EXPECT_EQ(submit(sim, "b").status, 200);
  auto r = submit(sim, "c");
  ASSERT_EQ(r.status, 429);
  EXPECT_EQ(r.headers["retry-after"], "1");
  EXPECT_NE(r.body.find("hourly"), std::string::npos);
  EXPECT_EQ(submit(sim, "c", "other").status, 200);
  std::this_thread::sleep_for(milliseconds(1050));
  EXPECT_EQ(submit(sim, "c").status, 200);
  auto s = sim.stats();
  EXPECT_EQ(s.at("hourly_limited").to_number<int>(), 1);
  EXPECT_EQ(s.at("retry_after_violations").to_number<int>(), 0);
}

TEST(SimStats, CurrentAndPeakConnections) {
  TempDir dir;
  Sim sim(dir.path(), fast());
  std::vector<int> fds;
  for (int i = 0; i < 30; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port_of(i % 2 ? sim.cdn_url() : sim.base_url())));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    fds.push_back(fd);
  }
  std::this_thread::sleep_for(milliseconds(100));
  auto s = sim.stats();
  EXPECT_EQ(s.at("connections").to_number<int>(), 31);  // ours plus the stats request's own
  EXPECT_EQ(s.at("peak_connections").to_number<int>(), 31);
  for (int fd : fds) ::close(fd);
  std::this_thread::sleep_for(milliseconds(100));
  s = sim.stats();
  EXPECT_EQ(s.at("connections").to_number<int>(), 1);
  EXPECT_EQ(s.at("peak_connections").to_number<int>(), 31);
  EXPECT_EQ(s.at("connections_total").to_number<int>(), 32);  // 30 + two stats calls
}

TEST(SimMedia, HeadAndMissingFiles) {
  TempDir dir;
  Sim sim(dir.path(), fast({"--latency", "1s", "--latency-dist", "fixed"}));
  auto ids = ids_of(submit(sim));
  // not complete yet: no file
  EXPECT_EQ(http_get(sim.cdn_url() + "/audio/" + ids[0] + ".mp3").status, 404);
  EXPECT_EQ(http_get(sim.cdn_url() + "/audio/00000000-0000-4000-8000-000000000000.mp3").status, 404);
  EXPECT_EQ(http_get(sim.cdn_url() + "/other").status, 404);
  auto clips = wait_status(sim, ids, "complete");
  ASSERT_EQ(clips.size(), 2u);
  auto head = raw_exchange(sim.cdn_url(), "HEAD /audio/" + ids[0] + ".mp3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  ASSERT_EQ(head.data.rfind("HTTP/1.1 200", 0), 0u) << head.data;
  auto bytes = sim.stats().at("clips").at(ids[0]).at("bytes").to_number<std::uint64_t>();
  EXPECT_NE(head.data.find("Content-Length: " + std::to_string(bytes)), std::string::npos) << head.data;
  EXPECT_EQ(head.data.size(), head.data.find("\r\n\r\n") + 4);  // no body
}

TEST(SimStartup, BadSettingsExitTwoWithAMessage) {
  auto bin = sim_bin().string();
  auto r1 = run({bin, "--port", "0", "--cdn-port", "0", "--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.pem"},
                {}, std::chrono::seconds(5));
  EXPECT_EQ(r1.exit_code, 2);
  EXPECT_FALSE(r1.err.empty());
  auto r2 = run({bin, "--port", "0", "--cdn-port", "0", "--latency", "fast"}, {}, std::chrono::seconds(5));
  EXPECT_EQ(r2.exit_code, 2);
  EXPECT_NE(r2.err.find("duration"), std::string::npos) << r2.err;
  auto r3 = run({bin, "--port", "0", "--cdn-port", "0", "--accept-key-env", "SETLIST_SIM_TEST_UNSET_VAR"},
                {{"SETLIST_SIM_TEST_UNSET_VAR", "\x01unset"}}, std::chrono::seconds(5));
  EXPECT_EQ(r3.exit_code, 2);
  auto r4 = run({bin, "--help"}, {}, std::chrono::seconds(5));
  EXPECT_EQ(r4.exit_code, 0);
  EXPECT_NE(r4.out.find("--fault"), std::string::npos);
}

TEST(SimCdnHost, CdnUrlsUseAnotherHostNameAndKeyLeaksAreCounted) {
  TempDir dir;
  Sim sim(dir.path(), fast({"--cdn-host", "localhost"}));
  EXPECT_EQ(sim.cdn_url().rfind("http://localhost:", 0), 0u) << sim.cdn_url();
  auto ids = ids_of(submit(sim));
  auto clips = wait_status(sim, ids, "complete");
  ASSERT_EQ(clips.size(), 2u);
  std::string url = str(clips[0], "audio_url");
  EXPECT_EQ(url.rfind(sim.cdn_url() + "/audio/", 0), 0u) << url;
  EXPECT_EQ(http_get(url).status, 200);
  EXPECT_EQ(sim.stats().at("cdn_requests_with_authorization").to_number<int>(), 0);
  EXPECT_EQ(http_get(url, auth()).status, 200);  // served, but counted
  EXPECT_EQ(sim.stats().at("cdn_requests_with_authorization").to_number<int>(), 1);
}
