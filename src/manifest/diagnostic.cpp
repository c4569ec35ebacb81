#include "setlist/manifest.hpp"

#include <algorithm>

namespace setlist {

std::string Diagnostic::format() const {
  std::string out = file.empty() ? std::string("<manifest>") : file;
  if (pos.line > 0) {
    out += ":" + std::to_string(pos.line);
    if (pos.column > 0) out += ":" + std::to_string(pos.column);
  }
  out += severity == Severity::error ? ": error: " : ": warning: ";
  if (!path.empty()) out += path + ": ";
  out += message;
  if (!hint.empty()) out += " (hint: " + hint + ")";
  return out;
}

std::size_t LoadResult::error_count() const {
  return static_cast<std::size_t>(
      std::count_if(diagnostics.begin(), diagnostics.end(),
                    [](const Diagnostic& d) { return d.severity == Diagnostic::Severity::error; }));
}

std::size_t LoadResult::warning_count() const { return diagnostics.size() - error_count(); }

}  // namespace setlist
