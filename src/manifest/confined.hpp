// Reading a file a manifest names (lyrics_file, album.cover) only when it is
// inside the manifest's folder or a folder the user allowed (--allow-path),
// after every symbolic link is resolved. Private to the manifest loader and
// its tests. docs/security.md, "Files a manifest names".
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace setlist::confined {

enum class Problem { none, not_found, directory, unreadable, outside, not_regular, too_large };

struct ReadResult {
  std::optional<std::string> data;  // the whole file, when it could be read
  Problem problem = Problem::none;
  std::string message;              // otherwise: what is wrong (names the file as given)
  std::string hint;
};

// Whether `real` (an absolute path without links, "." or "..") is `root` or below it.
bool is_within(const std::filesystem::path& real, const std::filesystem::path& root);

// Reads `name` (relative to `base`, or absolute) when its real path is inside
// `base` or one of `allowed`, it is a regular file and it holds at most
// `cap` bytes. The file is opened by its resolved path with O_NOFOLLOW and
// O_NONBLOCK (a FIFO never blocks) and then checked through the descriptor
// (fstat, and /proc/self/fd for where it really is), so a link swapped in
// between the check and the open is refused, never read.
// `what` names the kind of file in messages ("lyrics file", "cover image").
ReadResult read_confined(const std::filesystem::path& base, const std::vector<std::filesystem::path>& allowed,
                         const std::string& name, std::uintmax_t cap, const std::string& what);

}  // namespace setlist::confined
