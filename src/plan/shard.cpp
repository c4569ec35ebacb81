#include "setlist/shard.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "common/hash.hpp"

namespace setlist {

int shard_of(std::string_view song_id, int count) {
  if (count <= 1) return 0;
  const std::string hex = sha256_hex(song_id);
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 16; ++i) {
    char c = hex[i];
    v = (v << 4) | static_cast<std::uint64_t>(c <= '9' ? c - '0' : c - 'a' + 10);
  }
  return static_cast<int>(v % static_cast<std::uint64_t>(count));
}

bool Shard::owns(std::string_view song_id) const { return shard_of(song_id, count) == index; }

std::string Shard::label() const { return std::to_string(index) + "/" + std::to_string(count); }

namespace {

std::optional<long long> whole_number(std::string_view s) {
  if (s.empty() || s.size() > 9 || !std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); }))
    return std::nullopt;
  long long v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

Error invalid(std::string message) {
  Error e;
  e.kind = ErrorKind::invalid;
  e.message = std::move(message);
  return e;
}

}  // namespace

Result<Shard> parse_shard(std::string_view spec, const char* completion_index) {
  const std::string given(spec);
  auto slash = spec.find('/');
  if (slash == std::string_view::npos)
    return invalid("--shard " + given +
                   ": give I/N (this process runs share I of N, 0 <= I < N) or auto/N (I from "
                   "JOB_COMPLETION_INDEX, as a Kubernetes Indexed Job sets it)");
  auto n = whole_number(spec.substr(slash + 1));
  if (!n || *n < 1 || *n > kMaxShards)
    return invalid("--shard " + given + ": N must be a whole number from 1 to " + std::to_string(kMaxShards));
  std::string_view i_text = spec.substr(0, slash);
  std::string from = "--shard " + given;
  if (i_text == "auto") {
    if (!completion_index || !*completion_index)
      return invalid("--shard " + given +
                     ": auto takes I from JOB_COMPLETION_INDEX, which is not set (a Kubernetes Indexed Job sets "
                     "it); elsewhere give I/N");
    i_text = completion_index;
    from = "JOB_COMPLETION_INDEX=" + std::string(completion_index);
  }
  auto i = whole_number(i_text);
  if (!i) return invalid(from + ": the shard index must be a whole number from 0 to N-1");
  if (*i >= *n)
    return invalid(from + ": shard index " + std::to_string(*i) + " is not below N=" + std::to_string(*n) +
                   " (indexes run from 0 to " + std::to_string(*n - 1) + ")");
  return Shard{static_cast<int>(*i), static_cast<int>(*n)};
}

std::string album_identity(std::string_view provider, std::string_view title, std::string_view artist,
                           const std::vector<std::string>& song_keys) {
  Sha256 h;
  auto field = [&](std::string_view v) {
    h.update(std::to_string(v.size()) + ":");
    h.update(v);
  };
  field(provider);
  field(title);
  field(artist);
  for (auto& k : song_keys) field(k);
  return h.hex_digest();
}

std::optional<Shard> shard_from_label(std::string_view label) {
  auto slash = label.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto i = whole_number(label.substr(0, slash)), n = whole_number(label.substr(slash + 1));
  if (!i || !n || *n < 1 || *i >= *n) return std::nullopt;
  return Shard{static_cast<int>(*i), static_cast<int>(*n)};
}

}  // namespace setlist
