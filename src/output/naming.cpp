#include <algorithm>
#include <array>
#include <cctype>

#include "setlist/output.hpp"

namespace setlist {

namespace {

Error bad(std::string msg) {
  Error e;
  e.kind = ErrorKind::invalid;
  e.message = std::move(msg);
  return e;
}

// Cuts at most `max` bytes without splitting a UTF-8 sequence.
std::string utf8_truncate(std::string s, std::size_t max) {
  if (s.size() <= max) return s;
  std::size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  s.resize(cut);
  return s;
}

bool is_reserved(std::string upper) {
  auto dot = upper.find('.');
  if (dot != std::string::npos) upper.resize(dot);
  static const std::array<const char*, 22> names = {"CON",  "PRN",  "AUX",  "NUL",  "COM1", "COM2", "COM3", "COM4",
                                                    "COM5", "COM6", "COM7", "COM8", "COM9", "LPT1", "LPT2", "LPT3",
                                                    "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9"};
  for (auto* n : names)
    if (upper == n) return true;
  return false;
}

}  // namespace

std::string safe_component(std::string_view in) {
  std::string s;
  s.reserve(in.size());
  for (unsigned char c : in) {
    if (c < 0x20 || c == 0x7F || c == '/' || c == '\\' || c == ':' || c == '*' || c == '?' || c == '"' || c == '<' ||
        c == '>' || c == '|')
      s += '_';
    else
      s += static_cast<char>(c);
  }
  // Trim spaces and dots at the ends (Windows drops them; a leading dot hides files).
  auto first = s.find_first_not_of(" .");
  if (first == std::string::npos) return "_";
  auto last = s.find_last_not_of(" .");
  s = s.substr(first, last - first + 1);
  std::string upper = s;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (is_reserved(upper)) s = "_" + s;
  return utf8_truncate(s, 255);
}

std::optional<std::string> check_template(std::string_view tmpl) {
  NameFields probe{"album", "artist", "title", "song", "clip", 1, 0};
  auto r = render_name(tmpl, probe);
  if (!r) return r.error().message;
  return std::nullopt;
}

Result<std::filesystem::path> render_name(std::string_view tmpl, const NameFields& f) {
  if (tmpl.empty()) return bad("output template is empty");
  if (tmpl.front() == '/') return bad("output template must be a relative path");
  std::string out;
  for (std::size_t i = 0; i < tmpl.size();) {
    char c = tmpl[i];
    if (c == '{') {
      auto close = tmpl.find('}', i);
      if (close == std::string_view::npos) return bad("output template has an unclosed '{'");
      std::string_view spec = tmpl.substr(i + 1, close - i - 1);
      std::string_view name = spec, fmt;
      if (auto colon = spec.find(':'); colon != std::string_view::npos) {
        name = spec.substr(0, colon);
        fmt = spec.substr(colon + 1);
      }
      std::string value;
      if (name == "track") {
        value = std::to_string(f.track);
        if (!fmt.empty()) {
          if (fmt.size() != 2 || fmt[0] != '0' || !std::isdigit(static_cast<unsigned char>(fmt[1])))
            return bad("output template: {track:" + std::string(fmt) + "}: use {track:02} style zero padding");
          std::size_t width = static_cast<std::size_t>(fmt[1] - '0');
          if (value.size() < width) value.insert(0, width - value.size(), '0');
        }
      } else if (!fmt.empty()) {
        return bad("output template: only {track} takes a format, not {" + std::string(spec) + "}");
      } else if (name == "album") {
        value = f.album;
      } else if (name == "artist") {
        value = f.artist;
      } else if (name == "title") {
        value = f.title;
      } else if (name == "take") {
        value = take_label(f.take);
      } else if (name == "clip_id") {
        value = f.clip_id;
      } else if (name == "song_id") {
        value = f.song_id;
      } else {
        return bad("output template: unknown placeholder {" + std::string(name) +
                   "}; use {album} {artist} {track} {track:02} {title} {take} {clip_id} {song_id}");
      }
      // Values never create folders: make them a single safe component (without trimming dots, which are fine inside).
      std::string safe;
      for (unsigned char ch : value) {
        if (ch < 0x20 || ch == 0x7F || ch == '/' || ch == '\\')
          safe += '_';
        else
          safe += static_cast<char>(ch);
      }
      out += safe;
      i = close + 1;
    } else {
      out += c;
      ++i;
    }
  }
  // Now sanitize each component made by the template's own '/'.
  std::filesystem::path p;
  std::size_t start = 0;
  while (start <= out.size()) {
    auto slash = out.find('/', start);
    std::string part = out.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (part == "..") return bad("output template must not contain '..'");
    if (!part.empty() && part != ".") p /= safe_component(part);
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  if (p.empty()) return bad("output template renders an empty name");
  return p;
}

std::filesystem::path unique_path(const std::filesystem::path& rel, std::set<std::string>& used) {
  if (used.insert(rel.string()).second) return rel;
  auto stem = rel.stem().string();
  auto ext = rel.extension().string();
  for (int n = 2;; ++n) {
    std::string suffix = " (" + std::to_string(n) + ")";
    std::string name = stem;
    if (name.size() + suffix.size() + ext.size() > 255) {
      name.resize(255 - suffix.size() - ext.size());
      while (!name.empty() && (static_cast<unsigned char>(name.back()) & 0xC0) == 0x80) name.pop_back();
      if (!name.empty() && (static_cast<unsigned char>(name.back()) & 0xC0) == 0xC0) name.pop_back();
    }
    auto candidate = rel.parent_path() / (name + suffix + ext);
    if (used.insert(candidate.string()).second) return candidate;
  }
}

}  // namespace setlist
