// The manifest loader: YAML text -> validated Manifest, reporting every
// problem it finds in one pass, each with file:line:col, key path and hint.
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <climits>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <system_error>

#include "manifest/text.hpp"
#include "setlist/manifest.hpp"
#include "setlist/provider.hpp"
#include "setlist/settings.hpp"

namespace setlist {

namespace {

namespace fs = std::filesystem;
using Severity = Diagnostic::Severity;

constexpr std::uintmax_t kMaxLyricsFileBytes = 1 << 20;

const std::vector<std::string_view> kTopKeys = {"album", "defaults", "settings", "songs"};
const std::vector<std::string_view> kAlbumKeys = {"title", "artist", "year",
                                                  "genre", "cover",  "description"};
const std::vector<std::string_view> kSongKeys = {
    "id",          "title",      "lyrics",        "lyrics_file",
    "description", "tags",       "negative_tags", "make_instrumental",
    "model",       "wait_audio", "track"};
const std::vector<std::string_view> kDefaultKeys = {
    "lyrics",        "lyrics_file", "description",       "tags",
    "negative_tags", "model",       "make_instrumental", "wait_audio"};

bool contains(const std::vector<std::string_view>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

SourcePos pos_of(const YAML::Node& n) {
  if (!n.IsDefined()) return {};
  YAML::Mark m = n.Mark();
  if (m.is_null() || m.line < 0) return {};
  return {m.line + 1, m.column + 1};
}

std::string where(const SourcePos& p) { return "line " + std::to_string(p.line); }

std::string describe(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return "nothing";
    case YAML::NodeType::Scalar:
      return text::quote(n.Scalar());
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
  }
  return "something else";
}

template <class T>
struct Val {
  T value{};
  SourcePos pos;
  std::string path;
  bool bad = false;  // given with the wrong type (already reported)
};

// The fields of a song (or of `defaults`) as written.
struct SongSpec {
  SourcePos pos;
  std::string path;
  std::optional<Val<std::string>> id, title, lyrics, lyrics_file, description, tags, negative_tags,
      model;
  std::optional<Val<bool>> make_instrumental, wait_audio;
  std::optional<Val<int>> track;

  bool has_content() const { return lyrics || lyrics_file || description; }
  bool content_typo = false;  // e.g. `lyric:` was written, and reported
};

// What a song will send as its text, once resolved (lyrics_file read).
struct Content {
  bool present = false;
  bool ok = false;
  std::optional<std::string> lyrics;
  std::optional<std::string> description;
  fs::path lyrics_file;
  SourcePos pos;
  std::string path;  // key path of the field that gave it
};

// Records where each document starts; ignores everything else.
class DocumentStarts : public YAML::EventHandler {
 public:
  explicit DocumentStarts(std::vector<YAML::Mark>& starts) : starts_(starts) {}
  void OnDocumentStart(const YAML::Mark& mark) override { starts_.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

 private:
  std::vector<YAML::Mark>& starts_;
};

struct Entry {
  std::string key;
  YAML::Node key_node;
  YAML::Node value;
  std::string path;
};

class Loader {
 public:
  Loader(std::string file, fs::path base) : file_(std::move(file)), base_(std::move(base)) {}

  LoadResult run(const std::string& yaml_text);

 private:
  void add(Severity sev, SourcePos pos, std::string path, std::string message,
           std::string hint = {}) {
    diags_.push_back(
        Diagnostic{sev, file_, pos, std::move(path), std::move(message), std::move(hint)});
  }
  void error(SourcePos pos, std::string path, std::string message, std::string hint = {}) {
    add(Severity::error, pos, std::move(path), std::move(message), std::move(hint));
  }
  void warning(SourcePos pos, std::string path, std::string message, std::string hint = {}) {
    add(Severity::warning, pos, std::move(path), std::move(message), std::move(hint));
  }

  std::vector<Entry> entries(const YAML::Node& map, const std::string& path,
                             const std::vector<std::string_view>& allowed, std::string_view what);
  std::optional<Val<std::string>> get_string(const Entry& e);
  std::optional<Val<std::string>> get_tags(const Entry& e);
  std::optional<Val<bool>> get_bool(const Entry& e);
  std::optional<Val<int>> get_int(const Entry& e, int min, int max);

  void load_album(const YAML::Node& node, Album& album);
  void load_settings(const YAML::Node& node, Manifest& m);
  SongSpec load_song_fields(const YAML::Node& node, const std::string& path, bool is_defaults);
  Content resolve_content(const SongSpec& spec);
  std::optional<std::string> read_lyrics_file(const Val<std::string>& v, fs::path& resolved);
  void check_placeholders(const std::string& value, const SourcePos& pos, const std::string& path,
                          std::string_view field, const std::string& file_name = {});
  std::optional<SourcePos> block_scalar_pos(const SourcePos& pos, int text_line,
                                            std::string_view needle) const;
  bool check_model(const Val<std::string>& model);
  void check_length(const std::string& value, std::size_t max, const SourcePos& pos,
                    const std::string& path, std::string_view what, const ModelLimits& limits);

  std::string file_;
  fs::path base_;
  std::vector<Diagnostic> diags_;
  std::vector<std::string_view> lines_;  // of the manifest text
  std::set<std::string> near_misses_;    // suggestions made by the last entries() call
  const ProviderInfo* provider_ = nullptr;
  std::string default_model_;
};

std::vector<Entry> Loader::entries(const YAML::Node& map, const std::string& path,
                                   const std::vector<std::string_view>& allowed,
                                   std::string_view what) {
  std::vector<Entry> out;
  std::map<std::string, SourcePos> seen;
  near_misses_.clear();
  auto prefix = path.empty() ? std::string() : path + ".";
  for (auto it = map.begin(); it != map.end(); ++it) {
    // Copies: the iterator hands out temporaries.
    const YAML::Node k = it->first;
    const YAML::Node value = it->second;
    if (!k.IsScalar()) {
      error(pos_of(k), path, "a key must be text, not " + describe(k));
      continue;
    }
    std::string key = k.Scalar();
    auto [prev, inserted] = seen.emplace(key, pos_of(k));
    if (!inserted) {
      error(pos_of(k), prefix + key,
            "duplicate key " + text::quote(key) + " (first given at " + where(prev->second) + ")",
            "a mapping holds each key once; remove one of them");
      continue;
    }
    if (!contains(allowed, key)) {
      std::string hint;
      if (auto near = text::closest(key, allowed)) {
        hint = "did you mean " + text::quote(*near) + "?";
        near_misses_.insert(*near);
      } else if (key == "<<") {
        hint = "YAML merge keys are not supported; put shared song fields under `defaults:`";
        near_misses_.insert("lyrics");  // what it merged in is unknown
      } else if (what == "the album" && contains(kSongKeys, key)) {
        hint = key + " is a song field: put it in a song or under `defaults:`";
      } else if (what == "defaults" && contains(kSongKeys, key)) {
        hint = key + " is different for every song: set it in each song";
      } else {
        hint = "allowed keys in " + std::string(what) + ": " + text::join(allowed);
      }
      error(pos_of(k), prefix + key, "unknown key " + text::quote(key), hint);
      continue;
    }
    out.push_back(Entry{key, k, value, prefix + key});
  }
  return out;
}

std::optional<Val<std::string>> Loader::get_string(const Entry& e) {
  SourcePos pos = pos_of(e.value);
  if (pos.line == 0) pos = pos_of(e.key_node);
  if (e.value.IsNull()) return Val<std::string>{"", pos_of(e.key_node), e.path};
  if (!e.value.IsScalar()) {
    error(pos, e.path, "expected text, got " + describe(e.value),
          e.value.IsSequence() && e.key != "tags" ? "write a single value" : "");
    return std::nullopt;
  }
  return Val<std::string>{e.value.Scalar(), pos, e.path};
}

std::optional<Val<std::string>> Loader::get_tags(const Entry& e) {
  if (!e.value.IsSequence()) {
    if (e.value.IsMap()) {
      error(pos_of(e.value), e.path, "expected text or a list of text, got a mapping",
            "write `" + e.key + ": \"pop, rock\"` or `" + e.key + ": [pop, rock]`");
      return std::nullopt;
    }
    auto v = get_string(e);
    if (v) v->value = text::trim(v->value);
    return v;
  }
  std::string joined;
  bool ok = true;
  std::size_t i = 0;
  for (auto it = e.value.begin(); it != e.value.end(); ++it, ++i) {
    std::string p = e.path + "[" + std::to_string(i) + "]";
    if (!it->IsScalar()) {
      error(pos_of(*it), p, "expected text, got " + describe(*it));
      ok = false;
      continue;
    }
    std::string t = text::trim(it->Scalar());
    if (t.empty()) continue;
    if (!joined.empty()) joined += ", ";
    joined += t;
  }
  if (!ok) return std::nullopt;
  return Val<std::string>{joined, pos_of(e.value), e.path};
}

std::optional<Val<bool>> Loader::get_bool(const Entry& e) {
  SourcePos pos = e.value.IsNull() ? pos_of(e.key_node) : pos_of(e.value);
  if (e.value.IsScalar()) {
    std::string v = e.value.Scalar();
    std::string l = v;
    for (auto& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    bool is_true = l == "true" || l == "yes" || l == "on";
    bool is_false = l == "false" || l == "no" || l == "off";
    if (e.value.Tag() != "!" && (is_true || is_false)) return Val<bool>{is_true, pos, e.path};
    if (e.value.Tag() == "!" && (is_true || is_false)) {
      error(pos, e.path, "expected true or false, got the quoted text " + text::quote(v),
            "remove the quotes: `" + e.key + ": " + l + "`");
      return std::nullopt;
    }
  }
  error(pos, e.path, "expected true or false, got " + describe(e.value));
  return std::nullopt;
}

std::optional<Val<int>> Loader::get_int(const Entry& e, int min, int max) {
  SourcePos pos = e.value.IsNull() ? pos_of(e.key_node) : pos_of(e.value);
  if (e.value.IsScalar() && e.value.Tag() != "!") {
    const std::string& s = e.value.Scalar();
    bool digits = !s.empty() && s.size() <= 9 &&
                  std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (digits) {
      int v = std::stoi(s);
      if (v >= min && v <= max) return Val<int>{v, pos, e.path};
      error(pos, e.path,
            "expected a whole number from " + std::to_string(min) + " to " + std::to_string(max) +
                ", got " + s);
      return std::nullopt;
    }
  }
  error(pos, e.path, "expected a whole number, got " + describe(e.value));
  return std::nullopt;
}

void Loader::check_placeholders(const std::string& value, const SourcePos& pos,
                                const std::string& path, std::string_view field,
                                const std::string& file_name) {
  auto found = text::find_placeholders(value);
  // Each placeholder is its own mistake; a few are enough to make the point.
  constexpr std::size_t kMaxReported = 5;
  for (std::size_t i = 0; i < found.size() && i < kMaxReported; ++i) {
    const auto& ph = found[i];
    std::string msg = "unfilled placeholder " + text::quote(ph.text);
    SourcePos at = pos;
    if (!file_name.empty()) {
      msg += " at line " + std::to_string(ph.line) + " of " + text::quote(file_name);
    } else if (auto exact = block_scalar_pos(pos, ph.line, ph.text)) {
      at = *exact;
    } else if (ph.line > 1) {
      msg += " at line " + std::to_string(ph.line) + " of the " + std::string(field);
    }
    if (i + 1 == kMaxReported && found.size() > kMaxReported) {
      msg += " (and " + std::to_string(found.size() - kMaxReported) + " more)";
    }
    error(at, path, msg, "replace it with the real text before generating");
  }
}

std::optional<SourcePos> Loader::block_scalar_pos(const SourcePos& pos, int text_line,
                                                  std::string_view needle) const {
  // In a literal block (`|`), line k of the text is k lines below the `|`.
  if (pos.line <= 0 || pos.line > static_cast<int>(lines_.size())) return std::nullopt;
  std::string_view indicator = lines_[pos.line - 1];
  std::size_t col = 0;
  for (int c = 1; c < pos.column && col < indicator.size(); ++col) {
    if ((static_cast<unsigned char>(indicator[col]) & 0xC0) != 0x80) ++c;
  }
  if (col >= indicator.size() || indicator[col] != '|') return std::nullopt;
  int line = pos.line + text_line;
  if (line > static_cast<int>(lines_.size())) return std::nullopt;
  std::string_view l = lines_[line - 1];
  auto at = l.find(needle);
  if (at == std::string_view::npos) return std::nullopt;
  return SourcePos{line, static_cast<int>(text::utf8_length(l.substr(0, at))) + 1};
}

bool Loader::check_model(const Val<std::string>& model) {
  if (!provider_ || provider_->find_model(model.value)) return true;
  std::vector<std::string_view> names;
  for (const auto& m : provider_->models) names.push_back(m.name);
  if (model.value.find('|') != std::string::npos) {
    error(model.pos, model.path, "model " + text::quote(model.value) + " names several models",
          "the docs write \"chirp-v3-5|chirp-v3-0\" to list the choices: pick one, e.g. `model: " +
              std::string(names.front()) + "`");
  } else if (model.value.empty()) {
    error(model.pos, model.path, "empty model name",
          "remove the key to use the default model (" + provider_->default_model + ")");
  } else {
    std::string hint;
    if (auto near = text::closest(model.value, names)) {
      hint = "did you mean " + text::quote(*near) + "?";
    } else {
      hint = "provider " + provider_->name + " knows: " + text::join(names);
    }
    error(model.pos, model.path,
          "unknown model " + text::quote(model.value) + " for provider " + provider_->name, hint);
  }
  return false;
}

void Loader::check_length(const std::string& value, std::size_t max, const SourcePos& pos,
                          const std::string& path, std::string_view what,
                          const ModelLimits& limits) {
  std::size_t n = text::utf8_length(value);
  if (n <= max) return;
  error(pos, path,
        std::string(what) + " is " + std::to_string(n) + " characters long; model " + limits.name +
            " accepts at most " + std::to_string(max),
        "shorten it by " + std::to_string(n - max) + " characters");
}

void Loader::load_album(const YAML::Node& node, Album& album) {
  if (!node.IsMap()) {
    error(pos_of(node), "album", "expected a mapping, got " + describe(node),
          "write `album:` followed by indented `title:` and `artist:` lines");
    return;
  }
  bool has_title = false;
  for (const auto& e : entries(node, "album", kAlbumKeys, "the album")) {
    if (e.key == "year") {
      if (auto v = get_int(e, 1, 9999)) album.year = v->value;
      continue;
    }
    auto v = get_string(e);
    if (!v) {
      if (e.key == "title") has_title = true;  // already reported
      continue;
    }
    std::string s = text::trim(v->value);
    if (e.key == "title") {
      has_title = true;
      if (s.empty()) {
        error(v->pos, e.path, "the album title is empty");
      } else {
        check_placeholders(s, v->pos, e.path, "title");
      }
      album.title = s;
    } else if (e.key == "artist") {
      album.artist = s;
    } else if (e.key == "genre") {
      album.genre = s;
    } else if (e.key == "description") {
      album.description = s;
    } else if (e.key == "cover") {
      if (s.empty()) continue;
      fs::path p = fs::path(s).is_absolute() ? fs::path(s) : base_ / s;
      std::error_code ec;
      if (!fs::is_regular_file(p, ec)) {
        error(v->pos, e.path, "cover image not found: " + text::quote(s),
              "the path is relative to the manifest's folder");
      }
      album.cover = p.lexically_normal();
    }
  }
  if (!has_title) {
    error(pos_of(node), "album", "missing required key \"title\"", "add `title: ...` to the album");
  }
}

void Loader::load_settings(const YAML::Node& node, Manifest& m) {
  if (!node.IsMap()) {
    error(pos_of(node), "settings", "expected a mapping, got " + describe(node),
          "write `settings:` followed by indented `name: value` lines");
    return;
  }
  for (const auto& e : entries(node, "settings", setting_names(), "settings")) {
    auto v = get_string(e);
    if (!v) continue;
    std::string value = text::trim(v->value);
    if (e.value.IsNull()) {
      error(v->pos, e.path, "no value given", "remove the line to use the default");
      continue;
    }
    if (auto err = check_setting(e.key, value)) {
      error(v->pos, e.path, *err);
      continue;
    }
    m.settings[e.key] = SettingValue{value, v->pos};
  }
}

SongSpec Loader::load_song_fields(const YAML::Node& node, const std::string& path,
                                  bool is_defaults) {
  SongSpec s;
  s.pos = pos_of(node);
  s.path = path;
  const auto& allowed = is_defaults ? kDefaultKeys : kSongKeys;
  auto fields = entries(node, path, allowed, is_defaults ? "defaults" : "a song");
  s.content_typo = near_misses_.count("lyrics") || near_misses_.count("lyrics_file") ||
                   near_misses_.count("description");
  for (const auto& e : fields) {
    const std::string& k = e.key;
    if (k == "tags") {
      s.tags = get_tags(e);
    } else if (k == "negative_tags") {
      s.negative_tags = get_tags(e);
    } else if (k == "make_instrumental") {
      s.make_instrumental = get_bool(e);
    } else if (k == "wait_audio") {
      s.wait_audio = get_bool(e);
    } else if (k == "track") {
      s.track = get_int(e, 1, 9999);
    } else {
      auto v = get_string(e);
      if (!v) {
        // A wrong type still counts as given, so that "missing" and "more
        // than one" are not reported on top of it.
        v = Val<std::string>{"", pos_of(e.value), e.path, true};
        if (k == "title") s.title = v;
        if (k == "lyrics") s.lyrics = v;
        if (k == "lyrics_file") s.lyrics_file = v;
        if (k == "description") s.description = v;
        continue;
      }
      if (k == "id") s.id = v;
      if (k == "title") s.title = v;
      if (k == "lyrics") s.lyrics = v;
      if (k == "lyrics_file") s.lyrics_file = v;
      if (k == "description") s.description = v;
      if (k == "model") {
        v->value = text::trim(v->value);
        s.model = v;
      }
    }
  }
  return s;
}

std::optional<std::string> Loader::read_lyrics_file(const Val<std::string>& v, fs::path& resolved) {
  std::string name = text::trim(v.value);
  fs::path p = fs::path(name).is_absolute() ? fs::path(name) : base_ / name;
  resolved = p.lexically_normal();
  std::error_code ec;
  auto st = fs::status(p, ec);
  if (ec || !fs::exists(st)) {
    error(v.pos, v.path, "file not found: " + text::quote(name),
          "lyrics_file is relative to the manifest's folder");
    return std::nullopt;
  }
  if (fs::is_directory(st)) {
    error(v.pos, v.path, text::quote(name) + " is a directory, not a file");
    return std::nullopt;
  }
  auto size = fs::file_size(p, ec);
  if (!ec && size > kMaxLyricsFileBytes) {
    error(v.pos, v.path, text::quote(name) + " is too large (" + std::to_string(size) + " bytes)",
          "lyrics are at most a few thousand characters");
    return std::nullopt;
  }
  std::ifstream in(p, std::ios::binary);
  if (!in) {
    error(v.pos, v.path, "cannot read " + text::quote(name) + ": permission denied or unreadable",
          "check the file's permissions");
    return std::nullopt;
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) {
    error(v.pos, v.path, "cannot read " + text::quote(name));
    return std::nullopt;
  }
  std::string content = buf.str();
  // A UTF-8 byte order mark is allowed and dropped.
  if (content.starts_with("\xEF\xBB\xBF")) content.erase(0, 3);
  auto bad = text::invalid_utf8(content, 1);
  if (!bad.empty()) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02x", bad.front().byte);
    error(v.pos, v.path,
          text::quote(name) + " is not valid UTF-8 (byte " + hex + " at line " +
              std::to_string(bad.front().line) + ", column " + std::to_string(bad.front().column) +
              ")",
          "save the file as UTF-8");
    return std::nullopt;
  }
  content = text::trim_right(text::normalize_newlines(content));
  if (text::trim(content).empty()) {
    error(v.pos, v.path, text::quote(name) + " is empty", "write the lyrics into the file");
    return std::nullopt;
  }
  return content;
}

Content Loader::resolve_content(const SongSpec& spec) {
  Content c;
  std::vector<const Val<std::string>*> given;
  for (const auto* f : {&spec.lyrics, &spec.lyrics_file, &spec.description}) {
    if (*f) given.push_back(&**f);
  }
  if (given.empty()) return c;
  c.present = true;
  if (given.size() > 1) {
    std::vector<std::string> owned;
    for (const auto* g : given) owned.push_back(g->path.substr(g->path.rfind('.') + 1));
    std::vector<std::string_view> names(owned.begin(), owned.end());
    const auto* second = given[1];
    error(second->pos, second->path, "only one of lyrics, lyrics_file and description may be given",
          "this song has " + text::join(names, " and ") + ": keep one");
    return c;
  }
  const auto& v = *given.front();
  if (v.bad) return c;
  std::string field = v.path.substr(v.path.rfind('.') + 1);
  c.pos = v.pos;
  c.path = v.path;
  if (field == "lyrics_file") {
    if (text::trim(v.value).empty()) {
      error(v.pos, v.path, "empty file name", "give the path of a text file with the lyrics");
      return c;
    }
    auto lyrics = read_lyrics_file(v, c.lyrics_file);
    if (!lyrics) return c;
    check_placeholders(*lyrics, v.pos, v.path, field, text::trim(v.value));
    c.lyrics = std::move(*lyrics);
  } else {
    std::string t = text::trim_right(text::normalize_newlines(v.value));
    if (text::trim(t).empty()) {
      error(v.pos, v.path, "empty " + field,
            field == "lyrics" ? "write the lyrics, or use `description:` to have them written"
                              : "describe the song in a sentence or two");
      return c;
    }
    check_placeholders(t, v.pos, v.path, field);
    if (field == "lyrics") {
      c.lyrics = std::move(t);
    } else {
      c.description = std::move(t);
    }
  }
  c.ok = true;
  return c;
}

bool valid_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (!alnum(id.front())) return false;
  return std::all_of(id.begin(), id.end(),
                     [&](char c) { return alnum(c) || c == '-' || c == '_' || c == '.'; });
}

std::string fold_case(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

LoadResult Loader::run(const std::string& yaml_text) {
  LoadResult result;
  Manifest m;
  m.path = file_;
  for (std::size_t b = 0; b <= yaml_text.size();) {
    std::size_t e = yaml_text.find('\n', b);
    if (e == std::string::npos) e = yaml_text.size();
    lines_.push_back(std::string_view(yaml_text).substr(b, e - b));
    b = e + 1;
  }

  for (const auto& bad : text::invalid_utf8(yaml_text)) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02x", bad.byte);
    error({bad.line, bad.column}, "", std::string("invalid UTF-8 (byte ") + hex + ")",
          "save the manifest as UTF-8");
  }

  // yaml-cpp 0.7's LoadAll loops forever, allocating, on a stray ',' at
  // document level (jbeder/yaml-cpp#1040, fixed upstream by #1319): count the
  // documents ourselves with a bounded loop, then Load only the first.
  YAML::Node root;
  std::vector<YAML::Mark> starts;
  auto syntax_error = [&](const YAML::Mark& mark, const std::string& msg) {
    SourcePos p;
    if (!mark.is_null()) p = {mark.line + 1, mark.column + 1};
    error(p, "", "YAML syntax error: " + msg, "check the indentation and quoting around this line");
    result.diagnostics = std::move(diags_);
    return result;
  };
  try {
    std::istringstream stream(yaml_text);
    YAML::Parser parser(stream);
    DocumentStarts handler(starts);
    for (int i = 0; i < 4 && parser.HandleNextDocument(handler); ++i) {
    }
    for (std::size_t i = 1; i < starts.size(); ++i) {
      if (starts[i].pos == starts[i - 1].pos) {  // no progress: a token the parser cannot use
        return syntax_error(starts[i], "unexpected character");
      }
    }
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    return syntax_error(e.mark, e.msg);
  }

  if (starts.empty() || root.IsNull()) {
    error({}, "", "the manifest is empty", "start from jobs/demo-album.yaml");
    result.diagnostics = std::move(diags_);
    return result;
  }
  if (starts.size() > 1) {
    error({starts[1].line + 1, starts[1].column + 1}, "",
          "more than one YAML document in the manifest",
          "remove the `---` line and everything after it, or merge the documents");
  }
  if (!root.IsMap()) {
    error(pos_of(root), "",
          "expected a mapping with album, defaults, settings and songs, got " + describe(root));
    result.diagnostics = std::move(diags_);
    return result;
  }

  // A default-constructed YAML::Node is a defined null: track presence apart.
  std::optional<YAML::Node> album_node, defaults_node, settings_node, songs_node;
  SourcePos songs_key_pos;
  for (const auto& e : entries(root, "", kTopKeys, "the manifest")) {
    if (e.key == "album") album_node = e.value;
    if (e.key == "defaults") defaults_node = e.value;
    if (e.key == "settings") settings_node = e.value;
    if (e.key == "songs") {
      songs_node = e.value;
      songs_key_pos = pos_of(e.key_node);
    }
  }

  // Settings first: the provider and model decide the limits.
  if (settings_node && !settings_node->IsNull()) load_settings(*settings_node, m);
  provider_ = find_provider_info(m.settings.count("provider") ? m.settings["provider"].value
                                                              : std::string("aimlapi"));
  default_model_ = provider_ ? provider_->default_model : std::string();
  if (m.settings.count("model")) {
    const auto& sv = m.settings["model"];
    if (check_model(Val<std::string>{sv.value, sv.pos, "settings.model"})) {
      default_model_ = sv.value;
    }
  }

  if (album_node) {
    load_album(*album_node, m.album);
  } else {
    error({}, "album", "missing required key \"album\"", "add `album:` with at least a `title:`");
  }

  SongSpec defaults;
  Content default_content;
  bool default_model_ok = true;
  if (defaults_node) {
    if (defaults_node->IsMap()) {
      defaults = load_song_fields(*defaults_node, "defaults", true);
      default_content = resolve_content(defaults);
      if (defaults.model) default_model_ok = check_model(*defaults.model);
    } else if (!defaults_node->IsNull()) {
      error(pos_of(*defaults_node), "defaults",
            "expected a mapping, got " + describe(*defaults_node),
            "write `defaults:` followed by indented song fields such as `tags:`");
    }
  }

  if (!songs_node || songs_node->IsNull()) {
    error(songs_node ? songs_key_pos : SourcePos{}, "songs",
          songs_node ? "no songs" : "missing required key \"songs\"",
          "add a `songs:` list with at least one `- title: ...` entry");
  } else if (!songs_node->IsSequence()) {
    error(pos_of(*songs_node), "songs", "expected a list of songs, got " + describe(*songs_node),
          "write each song as an item starting with `- title: ...`");
  } else if (songs_node->size() == 0) {
    error(pos_of(*songs_node), "songs", "no songs",
          "add at least one `- title: ...` entry to the list");
  }

  // Songs.
  std::vector<SongSpec> specs;
  if (songs_node && songs_node->IsSequence()) {
    std::size_t i = 0;
    for (auto it = songs_node->begin(); it != songs_node->end(); ++it, ++i) {
      std::string path = "songs[" + std::to_string(i) + "]";
      if (!it->IsMap()) {
        error(pos_of(*it), path, "expected a mapping for a song, got " + describe(*it),
              "write a song as `- title: ...` with its fields indented below");
        SongSpec bad;
        bad.path = path;
        specs.push_back(bad);
        continue;
      }
      specs.push_back(load_song_fields(*it, path, false));
    }
  }

  std::map<std::string, std::size_t> explicit_ids;
  std::map<std::string, std::size_t> titles;
  std::map<int, std::size_t> tracks;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const SongSpec& sp = specs[i];
    Song song;
    song.pos = sp.pos;
    song.track = static_cast<int>(i) + 1;
    if (sp.pos.line == 0) {  // not a mapping: already reported
      m.songs.push_back(song);
      continue;
    }

    // Title.
    if (!sp.title) {
      error(sp.pos, sp.path, "missing required key \"title\"", "every song needs `title: ...`");
    } else {
      song.title = text::trim(sp.title->value);
      if (song.title.empty()) {
        if (!sp.title->bad) error(sp.title->pos, sp.title->path, "the title is empty");
      } else {
        check_placeholders(song.title, sp.title->pos, sp.title->path, "title");
        auto key = fold_case(song.title);
        auto [prev, inserted] = titles.emplace(key, i);
        if (!inserted) {
          warning(sp.title->pos, sp.title->path,
                  "same title as songs[" + std::to_string(prev->second) + "] (" +
                      where(specs[prev->second].pos) + ")",
                  "both will be generated; rename one if that is not intended");
        }
      }
    }

    // Content: the song's own, or else the defaults'.
    const bool own_content = sp.has_content();
    Content content = own_content ? resolve_content(sp) : default_content;
    song.lyrics = content.lyrics;
    song.description = content.description;
    song.lyrics_file = content.lyrics_file;

    // Plain fields, the song's own value winning.
    auto pick_s = [&](const std::optional<Val<std::string>>& own,
                      const std::optional<Val<std::string>>& dflt) { return own ? own : dflt; };
    auto tags = pick_s(sp.tags, defaults.tags);
    auto negative = pick_s(sp.negative_tags, defaults.negative_tags);
    auto model = pick_s(sp.model, defaults.model);
    auto instrumental = sp.make_instrumental ? sp.make_instrumental : defaults.make_instrumental;
    auto wait = sp.wait_audio ? sp.wait_audio : defaults.wait_audio;
    if (tags) song.tags = tags->value;
    if (negative) song.negative_tags = negative->value;
    if (instrumental) song.make_instrumental = instrumental->value;
    if (wait) song.wait_audio = wait->value;
    if (sp.track) song.track = sp.track->value;

    if (!content.present) {
      // (A misspelt `lyric:` was reported already.)
      if (!sp.content_typo) {
        // The API requires a prompt even for an instrumental: describe it.
        error(sp.pos, sp.path, "no lyrics, lyrics_file or description",
              song.make_instrumental
                  ? "an instrumental still needs a prompt: describe the music with "
                    "`description: ...`"
                  : "give exactly one: `lyrics: |` with the text, `lyrics_file:` with a path, "
                    "or `description:` to have the lyrics written");
      }
    }

    bool model_ok = true;
    if (sp.model) {
      model_ok = check_model(*sp.model);
    } else if (defaults.model) {
      model_ok = default_model_ok;
    }
    if (model) song.model = model->value;

    if (negative && !negative->value.empty() && provider_ && !provider_->supports_negative_tags) {
      warning(negative->pos, negative->path,
              "provider " + provider_->name + " does not support negative_tags; they are ignored",
              "use provider suno-api, or remove negative_tags");
    }
    if (content.ok && song.lyrics && instrumental && instrumental->value) {
      warning(instrumental->pos, instrumental->path,
              "make_instrumental is true, so the lyrics are not sung",
              "remove the lyrics, or set make_instrumental: false");
    }

    // Per-model limits.
    if (provider_) {
      const ModelLimits* limits =
          provider_->find_model(model && model_ok ? song.model : default_model_);
      if (!limits) limits = provider_->find_model(provider_->default_model);
      if (limits) {
        if (sp.title) {
          check_length(song.title, limits->title_max, sp.title->pos, sp.title->path, "the title",
                       *limits);
        }
        if (tags) check_length(song.tags, limits->tags_max, tags->pos, tags->path, "tags", *limits);
        if (content.ok && song.lyrics) {
          check_length(*song.lyrics, limits->lyrics_max, content.pos, content.path, "the lyrics",
                       *limits);
        }
        if (content.ok && song.description) {
          check_length(*song.description, limits->description_max, content.pos, content.path,
                       "the description", *limits);
        }
      }
      if (content.ok && song.description && !provider_->supports_description) {
        error(content.pos, content.path,
              "provider " + provider_->name + " does not support description mode",
              "write the lyrics instead");
      }
    }

    // Explicit id.
    if (sp.id) {
      std::string id = text::trim(sp.id->value);
      if (!valid_id(id)) {
        std::string slug = text::slugify(id);
        error(sp.id->pos, sp.id->path, "invalid id " + text::quote(id),
              "use up to 64 letters, digits, '-', '_' or '.', starting with a letter or digit" +
                  (slug.empty() ? std::string() : ", e.g. " + text::quote(slug)));
      } else {
        auto [prev, inserted] = explicit_ids.emplace(id, i);
        if (!inserted) {
          error(sp.id->pos, sp.id->path,
                "duplicate id " + text::quote(id) + " (also songs[" + std::to_string(prev->second) +
                    "], " + where(specs[prev->second].pos) + ")",
                "ids identify songs across runs: give each song its own");
        }
        song.id = id;
      }
    }

    auto [prev_track, new_track] = tracks.emplace(song.track, i);
    if (!new_track && sp.track) {
      warning(sp.track->pos, sp.track->path,
              "track " + std::to_string(song.track) + " is also songs[" +
                  std::to_string(prev_track->second) + "]'s track number");
    }

    m.songs.push_back(std::move(song));
  }

  // Ids derived from titles, kept apart from every explicit id.
  std::set<std::string> used;
  for (const auto& [id, idx] : explicit_ids) used.insert(id);
  for (auto& song : m.songs) {
    if (!song.id.empty()) continue;
    std::string base = text::slugify(song.title);
    if (base.empty()) base = "track-" + std::to_string(song.track);
    std::string id = base;
    for (int n = 2; used.count(id); ++n) id = base + "-" + std::to_string(n);
    used.insert(id);
    song.id = id;
  }

  // Report in file order (problems without a position last), each once.
  std::stable_sort(diags_.begin(), diags_.end(), [](const Diagnostic& a, const Diagnostic& b) {
    auto key = [](const Diagnostic& d) {
      return std::pair(d.pos.line == 0 ? INT_MAX : d.pos.line, d.pos.column);
    };
    return key(a) < key(b);
  });
  std::set<std::string> seen_text;
  for (auto& d : diags_) {
    if (seen_text.insert(d.format()).second) result.diagnostics.push_back(std::move(d));
  }
  if (result.error_count() == 0) result.manifest = std::move(m);
  return result;
}

}  // namespace

LoadResult parse_manifest(const std::string& text, const std::string& file_name,
                          const std::filesystem::path& base_dir) {
  Loader loader(file_name, base_dir);
  return loader.run(text);
}

LoadResult load_manifest(const std::filesystem::path& file) {
  std::error_code ec;
  LoadResult r;
  auto fail = [&](std::string message, std::string hint) {
    r.diagnostics.push_back(Diagnostic{
        Diagnostic::Severity::error, file.string(), {}, "", std::move(message), std::move(hint)});
    return r;
  };
  if (!fs::exists(file, ec)) return fail("file not found", "check the manifest's path");
  if (fs::is_directory(file, ec)) return fail("is a directory, not a manifest file", "");
  std::ifstream in(file, std::ios::binary);
  if (!in) return fail("cannot read the file", "check the file's permissions");
  std::ostringstream buf;
  buf << in.rdbuf();
  fs::path base = file.parent_path();
  if (base.empty()) base = ".";
  return parse_manifest(buf.str(), file.string(), base);
}

}  // namespace setlist
