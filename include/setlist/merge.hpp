// Merge: one album folder from the OUT folders of its shards (`--shard I/N`),
// with one state database, the receipts journals merged, and every file
// copied (temp + fsync + rename). Never sends anything.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "setlist/result.hpp"

namespace setlist {

struct MergedSong {
  int track = 0;
  std::string id;
  std::string title;
  std::string status;
  int shard = -1;  // the shard that owns it (-1: unknown)
};

struct MergeSummary {
  int count = 0;                        // N, when the shards say I/N (0: they do not)
  std::vector<std::string> merged;      // "I/N (path)" or "path" of each source read
  std::vector<int> merged_indexes;      // every index merged into ALBUM so far, earlier merges included
  std::vector<int> missing;             // indexes of N never merged
  std::vector<MergedSong> missing_songs;  // the songs those shards hold
  int songs_taken = 0;                  // songs whose rows came from a source in this merge
  int songs_kept = 0;                   // songs ALBUM already had as the source has them, or newer
  int files_copied = 0;
  int files_present = 0;                // already in ALBUM with the same bytes
  int journal_lines = 0;                // receipts appended to ALBUM's journal
  std::vector<MergedSong> unfinished;   // songs of the album not complete in ALBUM
  std::vector<std::string> warnings;
};

// Merges `shards` into `album` (created when missing). Refusals come back as
// errors and change nothing: ErrorKind::invalid for shards of different
// albums or splits, the same index twice, songs bought by two shards
// (overlap) or ALBUM holding another album; ErrorKind::io for a folder with
// no state or state that cannot be trusted, a shard or ALBUM in use by a run,
// or ALBUM not writable. Merging again adds only what is new.
Result<MergeSummary> merge_shards(const std::vector<std::filesystem::path>& shards,
                                  const std::filesystem::path& album);

}  // namespace setlist
