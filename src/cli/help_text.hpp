// Texts of `--help` that the man page repeats (src/doc/mangen.cpp prints
// them into setlist(1)): each subcommand's exit codes, written once.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace help_text {

using Codes = std::vector<std::pair<int, std::string_view>>;

// Exit codes of each subcommand, as the code in main.cpp returns them.
inline const std::vector<std::pair<std::string_view, Codes>>& exit_codes() {
  static const std::vector<std::pair<std::string_view, Codes>> codes = {
      {"run",
       {{0, "every song complete"},
        {1, "some songs failed, were skipped or are uncertain (see report.json)"},
        {2, "usage or manifest error; nothing was sent"},
        {3, "could not run: lock held, no key where a request must be sent, key rejected, out of credits, model gone, "
            "API unreachable, OUT not writable, "
            "state.db untrustworthy (setlist recover OUT)"},
        {130, "interrupted; run the same command again to resume"}}},
      {"plan",
       {{0, "the plan was printed (also when it does not fit the budget)"},
        {2, "usage, manifest or setting error"},
        {3, "OUT's state could not be read or cannot be trusted (setlist recover OUT)"}}},
      {"validate", {{0, "no errors (warnings allowed)"}, {2, "the manifest has errors, or a usage error"}}},
      {"config", {{0, "the settings were printed"}, {2, "usage, manifest or setting error"}}},
      {"status", {{0, "the table was printed"}, {2, "usage error"}, {3, "OUT has no setlist state, or it cannot be read"}}},
      {"verify",
       {{0, "every recorded file is there with its size and SHA-256"},
        {1, "some files are missing or changed"},
        {2, "usage error"},
        {3, "OUT has no setlist state, or it cannot be read"}}},
      {"recover",
       {{0, "the database was rebuilt (or already agreed with OUT)"},
        {2, "usage error"},
        {3, "cannot recover: another run holds OUT, the database is read-only, the journal and the database are of "
            "different albums, or OUT is not a folder"}}},
      {"merge",
       {{0, "every shard is merged and every song of the album is complete"},
        {1, "merged, but shards are missing or songs are not complete (each named)"},
        {2, "usage error, or refused: shards of different albums or splits, a shard given twice, a song bought by "
            "two shards, ALBUM holding another album; nothing was changed"},
        {3, "a folder has no state or state that cannot be trusted, a run holds a shard or ALBUM, or ALBUM cannot "
            "be written"}}},
      {"report",
       {{0, "the reports were written (--format md: the summary was printed)"},
        {2, "usage error"},
        {3, "OUT has no setlist state, or the reports could not be written"}}},
  };
  return codes;
}

inline const Codes* exit_codes_of(std::string_view command) {
  for (const auto& [name, codes] : exit_codes())
    if (name == command) return &codes;
  return nullptr;
}

// "Exit codes:\n  0    ...\n" for a --help footer.
inline std::string exit_code_footer(std::string_view command) {
  std::string out = "Exit codes:\n";
  if (const Codes* codes = exit_codes_of(command))
    for (const auto& [code, meaning] : *codes) {
      std::string num = std::to_string(code);
      out += "  " + num + std::string(num.size() < 5 ? 5 - num.size() : 1, ' ') + std::string(meaning) + "\n";
    }
  return out;
}

}  // namespace help_text
