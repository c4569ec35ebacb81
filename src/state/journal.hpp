// The receipts journal's line format (receipts.cpp); state.cpp appends.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "setlist/state.hpp"

namespace setlist::journal {

// One JSON object and a newline.
std::string line(const JournalEntry& e);
// nullopt for a line that is not a receipt of a known kind.
std::optional<JournalEntry> parse(std::string_view line);

// Appends to OUT/.setlist/receipts.jsonl: opened once, O_APPEND, never
// through a link, 0600. Throws StateError when a receipt cannot be kept
// (the request must then not be sent).
class Writer {
 public:
  explicit Writer(std::filesystem::path file) : file_(std::move(file)) {}
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;
  // `sync`: fdatasync before returning, which makes every earlier line
  // durable too. Lines appended without it are synced when the writer closes.
  void append(const JournalEntry& e, bool sync);
  void open();  // throws StateError; also ends a torn last line

 private:
  std::filesystem::path file_;
  int fd_ = -1;
  bool unsynced_ = false;
};

}  // namespace setlist::journal
