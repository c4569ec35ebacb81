// Shards: a stable share of an album's songs, so that N processes (a CI
// matrix, a Kubernetes Indexed Job, GNU parallel) run one manifest, each in
// its own OUT, and `setlist merge` makes one album of them (docs/scaling.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "setlist/result.hpp"

namespace setlist {

struct Shard {
  int index = 0;  // 0-based, < count
  int count = 1;
  // Whether this shard owns the song with this id.
  bool owns(std::string_view song_id) const;
  std::string label() const;  // "I/N"
};

// The shard a song id belongs to among `count`: the first 8 bytes of the
// SHA-256 of the id, read as a big-endian number, modulo `count`. Only the
// id counts, so editing a song's lyrics, tags or title (when it has an id
// of its own) never moves it to another shard.
int shard_of(std::string_view song_id, int count);

// The largest N accepted.
inline constexpr int kMaxShards = 100000;

// `--shard I/N` (0 <= I < N), or `--shard auto/N`: I from
// JOB_COMPLETION_INDEX (Kubernetes Indexed Jobs), passed in
// `completion_index` (null when the variable is not set). The error names
// what is wrong.
Result<Shard> parse_shard(std::string_view spec, const char* completion_index);

// "I/N" as kept in state's meta row `shard` ("" for a whole album).
std::optional<Shard> shard_from_label(std::string_view label);

// What makes shards parts of one album (state's meta row `manifest_hash`):
// the SHA-256 of the provider, the album's title and artist and every song
// key of the manifest in order. Shards of one manifest run with the same
// settings agree on it; `merge` refuses shards that do not.
std::string album_identity(std::string_view provider, std::string_view title, std::string_view artist,
                           const std::vector<std::string>& song_keys);

}  // namespace setlist
