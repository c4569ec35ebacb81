#include "manifest/text.hpp"

#include <algorithm>
#include <cctype>

namespace setlist::text {

namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 when invalid.
std::size_t valid_sequence(std::string_view s, std::size_t i) {
  auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  if (c < 0x80) return 1;
  std::size_t n = 0;
  unsigned cp = 0;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  if (n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) return 0;
  if (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) return 0;
  return n;
}

char fold(char c) {
  if (c == '-') return '_';
  return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}

bool is_word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

}  // namespace

std::vector<Utf8Error> invalid_utf8(std::string_view s, std::size_t max) {
  std::vector<Utf8Error> out;
  int line = 1, column = 1;
  int reported_line = 0;
  std::size_t i = 0;
  while (i < s.size() && out.size() < max) {
    std::size_t n = valid_sequence(s, i);
    if (n == 0) {
      if (reported_line != line) {
        out.push_back({i, line, column, static_cast<unsigned char>(s[i])});
        reported_line = line;
      }
      n = 1;
    } else if (s[i] == '\n') {
      ++line;
      column = 0;
    }
    ++column;
    i += n;
  }
  return out;
}

bool is_valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    std::size_t n = valid_sequence(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::size_t utf8_length(std::string_view s) {
  std::size_t count = 0;
  for (std::size_t i = 0; i < s.size(); ++count) {
    std::size_t n = valid_sequence(s, i);
    i += n == 0 ? 1 : n;
  }
  return count;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  const std::size_t n = a.size(), m = b.size();
  std::vector<std::vector<std::size_t>> d(n + 1, std::vector<std::size_t>(m + 1));
  for (std::size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= n; ++i) {
    for (std::size_t j = 1; j <= m; ++j) {
      std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[n][m];
}

std::optional<std::string> closest(std::string_view word,
                                   const std::vector<std::string_view>& candidates) {
  std::string w(word.size(), ' ');
  std::transform(word.begin(), word.end(), w.begin(), fold);
  std::optional<std::string> best;
  std::size_t best_d = 0;
  for (auto c : candidates) {
    std::string f(c.size(), ' ');
    std::transform(c.begin(), c.end(), f.begin(), fold);
    std::size_t d = edit_distance(w, f);
    std::size_t limit = std::min<std::size_t>(c.size(), w.size()) <= 4 ? 1 : 2;
    // A candidate that contains the word or is contained by it ("lyric" in
    // "lyrics_file") is also a near miss.
    bool contains =
        w.size() >= 4 && (f.find(w) != std::string::npos || w.find(f) != std::string::npos);
    if (d > limit && !contains) continue;
    if (contains && d > limit) d = limit + 1;
    if (!best || d < best_d) {
      best = std::string(c);
      best_d = d;
    }
  }
  return best;
}

std::string join(const std::vector<std::string_view>& items, std::string_view sep) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += sep;
    out += items[i];
  }
  return out;
}

namespace {

// ASCII spellings of U+00C0..U+00FF (Latin-1 letters); "" separates words.
const char* const kLatin1[64] = {
    "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i",  "i",
    "d", "n", "o", "o", "o", "o", "o",  "",  "o", "u", "u", "u", "u", "y", "th", "ss",
    "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i",  "i",
    "d", "n", "o", "o", "o", "o", "o",  "",  "o", "u", "u", "u", "u", "y", "th", "y"};

}  // namespace

std::string slugify(std::string_view s) {
  std::string out;
  bool dash = false;
  auto put = [&](std::string_view letters) {
    if (dash && !out.empty()) out += '-';
    dash = false;
    out += letters;
  };
  for (std::size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80 && std::isalnum(c)) {
      char lower = static_cast<char>(std::tolower(c));
      put(std::string_view(&lower, 1));
    } else if (c == '\'') {
      // "Don't" -> "dont"
    } else if (c == 0xC3 && i + 1 < s.size() &&
               (static_cast<unsigned char>(s[i + 1]) & 0xC0) == 0x80) {
      // U+00C0..U+00FF: two bytes, C3 80..BF.
      const char* ascii = kLatin1[static_cast<unsigned char>(s[i + 1]) & 0x3F];
      ++i;
      if (*ascii) {
        put(ascii);
      } else {
        dash = true;
      }
    } else {
      dash = true;
    }
  }
  return out;
}

std::string trim(std::string_view s) {
  auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  std::size_t b = 0, e = s.size();
  while (b < e && ws(s[b])) ++b;
  while (e > b && ws(s[e - 1])) --e;
  return std::string(s.substr(b, e - b));
}

std::string trim_right(std::string_view s) {
  std::size_t e = s.size();
  while (e > 0 && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\n' || s[e - 1] == '\r')) {
    --e;
  }
  return std::string(s.substr(0, e));
}

std::string normalize_newlines(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') continue;
    out += s[i];
  }
  return out;
}

std::vector<Placeholder> find_placeholders(std::string_view s) {
  std::vector<Placeholder> out;
  int line = 1;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\n') {
      ++line;
      continue;
    }
    if (c == '<' && (i == 0 || !is_word_char(s[i - 1]))) {
      // "<verse 2 here>", but not "a<b and c>d".
      std::size_t e = i + 1;
      while (e < s.size() && e - i <= 80 && s[e] != '>' && s[e] != '<' && s[e] != '\n') ++e;
      if (e < s.size() && s[e] == '>' && e > i + 1 && s[i + 1] != ' ' &&
          (e + 1 == s.size() || !is_word_char(s[e + 1]))) {
        out.push_back({std::string(s.substr(i, e - i + 1)), line});
        i = e;
      }
      continue;
    }
    if (c == '[') {
      std::size_t k = i + 1;
      while (k < s.size() && s[k] == ' ') ++k;
      std::string word;
      for (std::size_t j = k; j < s.size() && j < k + 6; ++j) word += fold(s[j]);
      if (word == "insert") {
        std::size_t e = k;
        while (e < s.size() && s[e] != ']' && s[e] != '\n') ++e;
        std::size_t end = e < s.size() && s[e] == ']' ? e + 1 : e;
        out.push_back({std::string(s.substr(i, end - i)), line});
        i = end == 0 ? 0 : end - 1;
      }
      continue;
    }
    if ((i == 0 || !is_word_char(s[i - 1])) && std::isupper(static_cast<unsigned char>(c))) {
      for (std::string_view w : {"TODO", "FIXME", "TBD"}) {
        if (s.substr(i, w.size()) == w &&
            (i + w.size() == s.size() || !is_word_char(s[i + w.size()]))) {
          out.push_back({std::string(w), line});
          i += w.size() - 1;
          break;
        }
      }
    }
  }
  return out;
}

std::string quote(std::string_view s, std::size_t max) {
  std::string out = "\"";
  std::size_t count = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (count >= max) {
      out += "...";
      break;
    }
    // Count code points, not bytes, toward the limit.
    if ((c & 0xC0) != 0x80) ++count;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20) {
          static const char* hex = "0123456789abcdef";
          out += "\\x";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
  return out;
}

}  // namespace setlist::text
