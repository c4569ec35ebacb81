// Small text helpers shared by the manifest loader and settings: UTF-8
// checks, "did you mean" suggestions, slugs and placeholder detection.
// Private to setlist_core.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace setlist::text {

// An invalid UTF-8 sequence: byte offset, 1-based line and column (in code
// points, counting each invalid byte as one) and the offending byte.
struct Utf8Error {
  std::size_t offset = 0;
  int line = 0;
  int column = 0;
  unsigned char byte = 0;
};

// The first invalid sequence of each line, at most `max` of them.
std::vector<Utf8Error> invalid_utf8(std::string_view s, std::size_t max = 20);
bool is_valid_utf8(std::string_view s);

// Number of code points (an invalid byte counts as one).
std::size_t utf8_length(std::string_view s);

// Optimal string alignment distance (a transposition costs 1).
std::size_t edit_distance(std::string_view a, std::string_view b);

// The candidate nearest to `word` when it is close enough to be a typo
// (case and '-' vs '_' ignored).
std::optional<std::string> closest(std::string_view word,
                                   const std::vector<std::string_view>& candidates);

// "a, b, c"
std::string join(const std::vector<std::string_view>& items, std::string_view sep = ", ");

// Lower-case ASCII slug: letters and digits kept, runs of anything else
// become one '-', no leading or trailing '-'. Empty when nothing is left.
std::string slugify(std::string_view s);

std::string trim(std::string_view s);
std::string trim_right(std::string_view s);
// "\r\n" -> "\n"
std::string normalize_newlines(std::string_view s);

// A placeholder left in text: `<...>`, `TODO`/`FIXME`/`TBD` or `[insert ...]`.
struct Placeholder {
  std::string text;
  int line = 0;  // 1-based line inside the text
};
std::vector<Placeholder> find_placeholders(std::string_view s);

// For messages: "\"text\"" with control characters escaped, long text cut.
std::string quote(std::string_view s, std::size_t max = 60);

}  // namespace setlist::text
