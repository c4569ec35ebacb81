// The manifest loader: YAML text -> validated Manifest, reporting every
// problem it finds in one pass, each with file:line:col, key path and hint.
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <regex>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <system_error>
#include <unordered_map>

#include "common/hash.hpp"
#include "manifest/confined.hpp"
#include "manifest/text.hpp"
#include "setlist/manifest.hpp"
#include "setlist/provider.hpp"
#include "setlist/settings.hpp"

namespace setlist {

namespace {

namespace fs = std::filesystem;
using Severity = Diagnostic::Severity;

const std::vector<std::string_view> kTopKeys = {"album", "defaults", "settings", "songs"};
const std::vector<std::string_view> kAlbumKeys = {"title", "artist", "year",
                                                  "genre", "cover",  "description"};
const std::vector<std::string_view> kSongKeys = {
    "id",          "title",      "lyrics",        "lyrics_file",
    "description", "tags",       "negative_tags", "make_instrumental",
    "model",       "wait_audio", "track",         "length",
    "seed",        "takes"};
const std::vector<std::string_view> kDefaultKeys = {
    "lyrics",        "lyrics_file", "description",       "tags",
    "negative_tags", "model",       "make_instrumental", "wait_audio",
    "length",        "seed",        "takes"};
// Settings whose JSON Schema type is only "string": a number or boolean there
// is a type error, as for the text fields of album and songs.
const std::vector<std::string_view> kTextSettings = {"provider", "base_url", "model", "callback_url",
                                                     "output_template"};
// Settings the schema types as numbers only: a quoted value is text there.
const std::vector<std::string_view> kNumberSettings = {"submit_burst",       "max_in_flight",        "poll_batch",
                                                       "poll_burst",         "retry_max_attempts",   "download_concurrency",
                                                       "regenerate_on_error", "flag_silence_lufs",    "flag_clipped_runs",
                                                       "flag_clipped_true_peak", "flag_short_fraction",
                                                       "reject_bad_takes"};
constexpr int kMaxTakes = 100;
constexpr long long kMaxSeed = 4294967295LL;  // 2^32 - 1

using Millis = std::chrono::milliseconds;

// YAML 1.2 core schema: a plain scalar that reads as a number or a boolean
// (what the JSON Schema and editors see) rather than text. By hand, as the
// regular expression
//   [-+]?([0-9]+|[0-9]*\.[0-9]+|[0-9]+\.[0-9]*)([eE][-+]?[0-9]+)?
//   | 0o[0-7]+ | 0x[0-9a-fA-F]+ | [-+]?\.(inf|Inf|INF) | \.(nan|NaN|NAN)
// (std::regex cost more than the parse on large manifests).
bool core_number(std::string_view s) {
  auto all = [](std::string_view t, auto pred) {
    return !t.empty() && std::all_of(t.begin(), t.end(), [&](char c) { return pred(static_cast<unsigned char>(c)); });
  };
  if (s.starts_with("0o")) return all(s.substr(2), [](unsigned char c) { return c >= '0' && c <= '7'; });
  if (s.starts_with("0x")) return all(s.substr(2), [](unsigned char c) { return std::isxdigit(c) != 0; });
  if (s == ".nan" || s == ".NaN" || s == ".NAN") return true;
  std::size_t i = 0;
  const std::size_t n = s.size();
  if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
  std::string_view rest = s.substr(i);
  if (rest == ".inf" || rest == ".Inf" || rest == ".INF") return true;
  auto digits = [&] {
    std::size_t from = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') ++i;
    return i - from;
  };
  std::size_t whole = digits();
  std::size_t frac = 0;
  if (i < n && s[i] == '.') {
    ++i;
    frac = digits();
  }
  if (whole == 0 && frac == 0) return false;
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
    if (digits() == 0) return false;
  }
  return i == n;
}
bool core_bool(std::string_view s) {
  return s == "true" || s == "True" || s == "TRUE" || s == "false" || s == "False" || s == "FALSE";
}

bool contains(const std::vector<std::string_view>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// ---------------------------------------------------------------------------
// A light document tree of our own, built from yaml-cpp's parser events
// (never yaml-cpp's node tree, about 4 KB a song): a node is 20 bytes, its
// text sits in one arena. The songs list is not kept: each song is handed to
// the loader as soon as its mapping ends, then its nodes are dropped.

enum class NodeKind : std::uint8_t { null, scalar, seq, map, alias };
// yaml-cpp's tag of a scalar: "?" plain and untagged, "!" quoted or block,
// else an explicit tag.
enum class TagKind : std::uint8_t { plain, nonplain, other };

struct Item {
  NodeKind kind = NodeKind::null;
  TagKind tag = TagKind::plain;
  std::int32_t line = -1;    // yaml-cpp's 0-based mark; -1 when unknown
  std::int32_t column = -1;
  // scalar: offset and length in the arena; seq/map: first kid and number of
  // kids (a map's are key, value, key, value...); alias: node in the anchors.
  std::uint32_t a = 0;
  std::uint32_t b = 0;
};

struct Tree {
  std::vector<Item> items;
  std::string arena;
  std::vector<std::uint32_t> kids;
  const Tree* anchors = nullptr;  // where this tree's aliases point
};

constexpr std::uint32_t kStreamed = UINT32_MAX;  // a list whose items were handed out

class Node {
 public:
  Node() = default;  // undefined
  Node(const Tree* t, std::uint32_t i) : t_(t), i_(i) {
    while (t_ && item().kind == NodeKind::alias) {
      std::uint32_t to = item().a;
      t_ = t_->anchors;
      i_ = to;
    }
  }
  bool IsDefined() const { return t_ != nullptr; }
  bool IsNull() const { return !t_ || item().kind == NodeKind::null; }
  bool IsScalar() const { return t_ && item().kind == NodeKind::scalar; }
  bool IsSequence() const { return t_ && item().kind == NodeKind::seq; }
  bool IsMap() const { return t_ && item().kind == NodeKind::map; }
  bool streamed() const { return IsSequence() && item().a == kStreamed; }
  TagKind tag() const { return t_ ? item().tag : TagKind::plain; }
  std::string Scalar() const {
    if (!IsScalar()) return {};
    return t_->arena.substr(item().a, item().b);
  }
  SourcePos pos() const {
    if (!t_ || item().line < 0) return {};
    return {item().line + 1, item().column + 1};
  }
  // Items of a list, pairs of a mapping.
  std::size_t size() const {
    if (IsSequence()) return item().b;
    if (IsMap()) return item().b / 2;
    return 0;
  }
  Node at(std::size_t k) const { return Node(t_, t_->kids[item().a + k]); }  // list item
  Node key(std::size_t k) const { return Node(t_, t_->kids[item().a + 2 * k]); }
  Node value(std::size_t k) const { return Node(t_, t_->kids[item().a + 2 * k + 1]); }
  bool same(const Node& o) const { return t_ == o.t_ && i_ == o.i_; }

 private:
  const Item& item() const { return t_->items[i_]; }
  const Tree* t_ = nullptr;
  std::uint32_t i_ = 0;
};

// Builds a Tree from the events of one document. When `stream` is set, the
// list under the root's first `songs` key is not kept: `on_songs` is called
// with the root's pairs so far when it starts, `on_song` with each item as
// it ends, after which the item's nodes are dropped. An anchored node is
// copied into `anchors` when it ends, so that aliases outlive their song.
class Builder : public YAML::EventHandler {
 public:
  using Pairs = std::vector<std::pair<Node, Node>>;
  Builder(bool stream, std::function<void(const Pairs&)> on_songs,
          std::function<void(std::size_t, const Node&)> on_song)
      : stream_(stream), on_songs_(std::move(on_songs)), on_song_(std::move(on_song)) {
    tree_.anchors = &anchors_;
    anchors_.anchors = &anchors_;
  }

  const Tree& tree() const { return tree_; }
  std::optional<std::uint32_t> root() const { return root_; }
  std::vector<YAML::Mark>& starts() { return starts_; }
  // Where an alias names the songs list itself (by its anchor, `songs: &x`):
  // streamed, its items are gone by then; inside it, it is not complete.
  const std::vector<YAML::Mark>& songs_aliases() const { return songs_aliases_; }

  void OnDocumentStart(const YAML::Mark& mark) override { starts_.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    complete(begin(mark, NodeKind::null, TagKind::plain), anchor);
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    std::uint32_t i = begin(mark, NodeKind::alias, TagKind::plain);
    if (songs_anchor_ != 0 && anchor == songs_anchor_) songs_aliases_.push_back(mark);
    auto it = anchored_.find(anchor);
    if (it != anchored_.end()) {
      tree_.items[i].a = it->second;
    } else {
      // An alias of a node not yet ended (it holds itself): an empty node
      // of its kind stands in for it.
      auto open = open_anchors_.find(anchor);
      Item stand_in;
      if (open != open_anchors_.end()) stand_in = open->second;
      stand_in.a = 0;
      stand_in.b = 0;
      anchors_.items.push_back(stand_in);
      tree_.items[i].a = static_cast<std::uint32_t>(anchors_.items.size() - 1);
    }
    complete(i, 0);
  }
  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    TagKind t = tag == "?" ? TagKind::plain : tag == "!" ? TagKind::nonplain : TagKind::other;
    std::uint32_t i = begin(mark, NodeKind::scalar, t);
    tree_.items[i].a = static_cast<std::uint32_t>(tree_.arena.size());
    tree_.items[i].b = static_cast<std::uint32_t>(value.size());
    tree_.arena += value;
    complete(i, anchor);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(mark, NodeKind::seq, anchor);
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(mark, NodeKind::map, anchor);
  }
  void OnMapEnd() override { close(); }

 private:
  struct Frame {
    std::uint32_t item;
    std::size_t kids_from;  // in pending_
    YAML::anchor_t anchor;
    bool songs = false;     // the streamed songs list
    std::uint32_t count = 0;
  };
  struct Sizes {
    std::size_t items = 0, arena = 0, kids = 0;
  };

  std::uint32_t begin(const YAML::Mark& mark, NodeKind kind, TagKind tag) {
    if (!frames_.empty() && frames_.back().songs) {
      song_start_ = {tree_.items.size(), tree_.arena.size(), tree_.kids.size()};
    }
    // The value of the root's first `songs` key (a later one is a duplicate).
    starting_songs_ = false;
    if (frames_.size() == 1 && !songs_seen_ && tree_.items[frames_[0].item].kind == NodeKind::map &&
        (pending_.size() - frames_[0].kids_from) % 2 == 1) {
      Node key(&tree_, pending_.back());
      if (key.IsScalar() && key.Scalar() == "songs") songs_seen_ = starting_songs_ = true;
    }
    Item it;
    it.kind = kind;
    it.tag = tag;
    if (!mark.is_null()) {
      it.line = mark.line;
      it.column = mark.column;
    }
    tree_.items.push_back(it);
    return static_cast<std::uint32_t>(tree_.items.size() - 1);
  }

  void open(const YAML::Mark& mark, NodeKind kind, YAML::anchor_t anchor) {
    std::uint32_t i = begin(mark, kind, TagKind::plain);
    if (starting_songs_ && kind == NodeKind::seq) songs_anchor_ = anchor;
    bool songs = stream_ && starting_songs_ && kind == NodeKind::seq;
    if (songs) {
      Pairs pairs;
      for (std::size_t k = frames_[0].kids_from; k + 1 < pending_.size(); k += 2)
        pairs.emplace_back(Node(&tree_, pending_[k]), Node(&tree_, pending_[k + 1]));
      on_songs_(pairs);
    }
    if (anchor != 0) open_anchors_[anchor] = tree_.items[i];
    frames_.push_back(Frame{i, pending_.size(), anchor, songs});
  }

  void close() {
    Frame f = frames_.back();
    frames_.pop_back();
    Item& it = tree_.items[f.item];
    if (f.songs) {
      it.a = kStreamed;
      it.b = f.count;
    } else {
      it.a = static_cast<std::uint32_t>(tree_.kids.size());
      it.b = static_cast<std::uint32_t>(pending_.size() - f.kids_from);
      tree_.kids.insert(tree_.kids.end(), pending_.begin() + static_cast<std::ptrdiff_t>(f.kids_from),
                        pending_.end());
      pending_.resize(f.kids_from);
    }
    complete(f.item, f.anchor);
  }

  void complete(std::uint32_t i, YAML::anchor_t anchor) {
    if (anchor != 0) {
      anchored_[anchor] = copy(tree_, i);
      open_anchors_.erase(anchor);
    }
    if (frames_.empty()) {
      root_ = i;
      return;
    }
    if (frames_.back().songs) {
      on_song_(frames_.back().count++, Node(&tree_, i));
      tree_.items.resize(song_start_.items);
      tree_.arena.resize(song_start_.arena);
      tree_.kids.resize(song_start_.kids);
      return;
    }
    pending_.push_back(i);
  }

  // Copies node i of `from` (and what it holds) into the anchors.
  std::uint32_t copy(const Tree& from, std::uint32_t i) {
    Item it = from.items[i];
    if (it.kind == NodeKind::scalar) {
      it.a = static_cast<std::uint32_t>(anchors_.arena.size());
      anchors_.arena.append(from.arena, from.items[i].a, from.items[i].b);
    } else if ((it.kind == NodeKind::seq || it.kind == NodeKind::map) && it.a != kStreamed) {
      std::vector<std::uint32_t> kids;
      kids.reserve(it.b);
      for (std::uint32_t k = 0; k < it.b; ++k) kids.push_back(copy(from, from.kids[it.a + k]));
      it.a = static_cast<std::uint32_t>(anchors_.kids.size());
      anchors_.kids.insert(anchors_.kids.end(), kids.begin(), kids.end());
    } else if (it.kind == NodeKind::seq || it.kind == NodeKind::map) {
      it.a = 0;
      it.b = 0;  // the songs list itself: its items are gone
    }
    anchors_.items.push_back(it);
    return static_cast<std::uint32_t>(anchors_.items.size() - 1);
  }

  bool stream_;
  std::function<void(const Pairs&)> on_songs_;
  std::function<void(std::size_t, const Node&)> on_song_;
  Tree tree_;
  Tree anchors_;
  std::vector<Frame> frames_;
  std::vector<std::uint32_t> pending_;  // kids of the open containers
  Sizes song_start_;
  bool songs_seen_ = false;
  bool starting_songs_ = false;
  std::optional<std::uint32_t> root_;
  std::map<YAML::anchor_t, std::uint32_t> anchored_;  // in anchors_
  std::map<YAML::anchor_t, Item> open_anchors_;
  std::vector<YAML::Mark> starts_;
  YAML::anchor_t songs_anchor_ = 0;  // the songs list's own anchor (0: none)
  std::vector<YAML::Mark> songs_aliases_;
};

// A std::streambuf over text in memory (std::istringstream would copy it).
class TextBuf : public std::streambuf {
 public:
  explicit TextBuf(const std::string& text) {
    char* p = const_cast<char*>(text.data());
    setg(p, p, p + text.size());
  }
};

SourcePos pos_of(const Node& n) { return n.pos(); }

std::string where(const SourcePos& p) { return "line " + std::to_string(p.line); }

std::string describe(const Node& n) {
  if (n.IsNull()) return "nothing";
  if (n.IsScalar()) return text::quote(n.Scalar());
  if (n.IsSequence()) return "a list";
  if (n.IsMap()) return "a mapping";
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
  std::optional<Val<int>> track, takes;
  std::optional<Val<Millis>> length;
  std::optional<Val<long long>> seed;

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
  Node key_node;
  Node value;
  std::string path;
};

// A song's resolved fields that the model rules look at.
struct SongView {
  const SongSpec& spec;
  const Song& song;
  const Content& content;
  const std::optional<Val<std::string>>& tags;
  const std::optional<Val<std::string>>& negative;
  const std::optional<Val<bool>>& instrumental;
  const std::optional<Val<Millis>>& length;
  const std::optional<Val<long long>>& seed;
};

class Loader {
 public:
  Loader(std::string file, fs::path base, LoadOptions options)
      : file_(std::move(file)), base_(std::move(base)), options_(std::move(options)) {}

  // `stream`: songs are checked as the parser hands them out. Unset when the
  // manifest gives `settings:` or `defaults:` after its songs (they decide
  // the songs' checks): then `restart` is set and nothing else is valid.
  LoadResult run(const std::string& yaml_text, bool stream);
  bool restart = false;

  // The second read of a manifest already validated (LoadResult::songs):
  // each song goes to `each` as it is checked, its id derived on the spot,
  // none is kept; `explicit_ids` are every id the manifest gives (a derived
  // id steers clear of them, even of those further down).
  void emit_to(const SongVisitor& each, const std::set<std::string>& explicit_ids) {
    emit_ = &each;
    used_ids_ = explicit_ids;
  }
  std::set<std::string> explicit_ids() const {
    std::set<std::string> out;
    for (const auto& [id, idx] : explicit_ids_) out.insert(id);
    return out;
  }

 private:
  void add(Severity sev, SourcePos pos, std::string path, std::string message,
           std::string hint = {}) {
    if (sev == Severity::error) ++error_count_;
    diags_.push_back(
        Diagnostic{sev, file_, pos, std::move(path), std::move(message), std::move(hint)});
  }
  void error(SourcePos pos, std::string path, std::string message, std::string hint = {}) {
    add(Severity::error, pos, std::move(path), std::move(message), std::move(hint));
  }
  void warning(SourcePos pos, std::string path, std::string message, std::string hint = {}) {
    add(Severity::warning, pos, std::move(path), std::move(message), std::move(hint));
  }

  std::vector<Entry> entries(const Node& map, const std::string& path,
                             const std::vector<std::string_view>& allowed, std::string_view what);
  std::optional<Val<std::string>> get_string(const Entry& e, bool text_only = true);
  std::optional<Val<std::string>> get_tags(const Entry& e);
  std::optional<Val<bool>> get_bool(const Entry& e);
  std::optional<Val<int>> get_int(const Entry& e, int min, int max);
  std::optional<Val<long long>> get_count(const Entry& e, long long max);
  std::optional<Val<Millis>> get_duration(const Entry& e);
  bool not_text(const Node& value, const SourcePos& pos, const std::string& path,
                const std::string& key);

  void load_album(const Node& node, Album& album);
  void load_settings(const Node& node, Manifest& m);
  SongSpec load_song_fields(const Node& node, const std::string& path, bool is_defaults);
  Content resolve_content(const SongSpec& spec);
  std::optional<std::string> read_lyrics_file(const Val<std::string>& v, fs::path& resolved);
  void check_placeholders(const std::string& value, const SourcePos& pos, const std::string& path,
                          std::string_view field, const std::string& file_name = {});
  std::optional<SourcePos> block_scalar_pos(const SourcePos& pos, int text_line,
                                            std::string_view needle) const;
  bool check_model(const Val<std::string>& model);
  void check_length(const std::string& value, std::size_t max, const SourcePos& pos,
                    const std::string& path, std::string_view what, const ModelLimits& limits);
  void check_min_length(const std::string& value, std::size_t min, const SourcePos& pos,
                        const std::string& path, std::string_view what, const ModelLimits& limits);
  void check_model_rules(const SongView& v, const ModelLimits& m);
  std::string models_with(const std::function<bool(const ModelLimits&)>& has) const;
  std::string provider_words() const;
  void setup(std::optional<Node> settings, std::optional<Node> defaults);
  void load_song(std::size_t i, const Node& node);

  std::string file_;
  fs::path base_;
  std::vector<Diagnostic> diags_;
  const std::string* text_ = nullptr;
  mutable std::vector<std::size_t> line_starts_;  // of the text, built when first needed
  std::set<std::string> near_misses_;    // suggestions made by the last entries() call
  LoadOptions options_;
  const ProviderInfo* provider_ = nullptr;
  bool provider_overridden_ = false;  // from options_, not the manifest
  std::string default_model_;
  SourcePos default_model_pos_;     // where the run's model was set (settings.model), if in the file
  std::string default_model_path_;  // "settings.model", or "model" for --model/SETLIST_MODEL

  Manifest m_;
  bool setup_done_ = false;
  std::optional<Node> setup_settings_, setup_defaults_;  // what setup() was given
  SongSpec defaults_;
  Content default_content_;
  bool default_model_ok_ = true;
  // Across songs: what later songs are compared with.
  std::vector<SourcePos> song_pos_;
  std::unordered_map<std::string, std::size_t> explicit_ids_;
  std::unordered_map<std::string, std::size_t> titles_;
  std::unordered_map<int, std::size_t> tracks_;
  std::size_t after_setup_ = 0;  // diagnostics made by setup()
  std::set<std::string> kept_models_;  // without keep_songs: one song of each model is kept
  const SongVisitor* emit_ = nullptr;  // emit_to()
  std::set<std::string> used_ids_;     // emit_to(): explicit ids and the ids derived so far
  std::size_t error_count_ = 0;        // errors added (diags_ may drop some: a syntax error)
};

// A song without an id of its own takes its title's slug, kept apart from
// every explicit id and from the ids derived before it.
std::string derive_id(const Song& song, std::set<std::string>& used);

std::vector<Entry> Loader::entries(const Node& map, const std::string& path,
                                   const std::vector<std::string_view>& allowed,
                                   std::string_view what) {
  std::vector<Entry> out;
  std::map<std::string, SourcePos> seen;
  near_misses_.clear();
  auto prefix = path.empty() ? std::string() : path + ".";
  for (std::size_t pair = 0; pair < map.size(); ++pair) {
    const Node k = map.key(pair);
    const Node value = map.value(pair);
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

bool Loader::not_text(const Node& value, const SourcePos& pos, const std::string& path,
                      const std::string& key) {
  if (!value.IsScalar() || value.tag() != TagKind::plain) return false;  // quoted, block or explicitly tagged: text
  const std::string& s = value.Scalar();
  const bool number = core_number(s);
  if (!number && !core_bool(s)) return false;
  error(pos, path, std::string("expected text, got the ") + (number ? "number " : "boolean ") + s,
        "put it in quotes to mean the text: `" + key + ": \"" + s + "\"`");
  return true;
}

std::optional<Val<std::string>> Loader::get_string(const Entry& e, bool text_only) {
  SourcePos pos = pos_of(e.value);
  if (pos.line == 0) pos = pos_of(e.key_node);
  if (e.value.IsNull()) return Val<std::string>{"", pos_of(e.key_node), e.path};
  if (!e.value.IsScalar()) {
    error(pos, e.path, "expected text, got " + describe(e.value),
          e.value.IsSequence() && e.key != "tags" ? "write a single value" : "");
    return std::nullopt;
  }
  if (text_only && not_text(e.value, pos, e.path, e.key)) return std::nullopt;
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
  for (; i < e.value.size(); ++i) {
    const Node item = e.value.at(i);
    const Node* it = &item;
    std::string p = e.path + "[" + std::to_string(i) + "]";
    if (!it->IsScalar()) {
      error(pos_of(*it), p, "expected text, got " + describe(*it));
      ok = false;
      continue;
    }
    if (it->tag() == TagKind::plain && (core_number(it->Scalar()) || core_bool(it->Scalar()))) {
      error(pos_of(*it), p,
            std::string("expected text, got the ") + (core_bool(it->Scalar()) ? "boolean " : "number ") +
                it->Scalar(),
            "put it in quotes to mean the text: \"" + it->Scalar() + "\"");
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
    if (e.value.tag() != TagKind::nonplain && (is_true || is_false)) return Val<bool>{is_true, pos, e.path};
    if (e.value.tag() == TagKind::nonplain && (is_true || is_false)) {
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
  if (e.value.IsScalar() && e.value.tag() != TagKind::nonplain) {
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

std::optional<Val<long long>> Loader::get_count(const Entry& e, long long max) {
  SourcePos pos = e.value.IsNull() ? pos_of(e.key_node) : pos_of(e.value);
  if (e.value.IsScalar() && e.value.tag() != TagKind::nonplain) {
    const std::string& s = e.value.Scalar();
    bool digits = !s.empty() && s.size() <= 18 &&
                  std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (digits) {
      long long v = std::stoll(s);
      if (v <= max) return Val<long long>{v, pos, e.path};
      error(pos, e.path, "expected a whole number from 0 to " + std::to_string(max) + ", got " + s);
      return std::nullopt;
    }
  }
  error(pos, e.path, "expected a whole number, got " + describe(e.value));
  return std::nullopt;
}

std::optional<Val<Millis>> Loader::get_duration(const Entry& e) {
  SourcePos pos = e.value.IsNull() ? pos_of(e.key_node) : pos_of(e.value);
  if (e.value.IsScalar()) {
    const std::string& s = e.value.Scalar();
    if (auto d = parse_duration(s); d && d->count() > 0) return Val<Millis>{*d, pos, e.path};
    bool bare = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
    error(pos, e.path, "expected a duration such as 90s, 2m or 1m30s, got " + describe(e.value),
          bare ? "a unit is required: `" + e.key + ": " + s + "s`" : "");
    return std::nullopt;
  }
  error(pos, e.path, "expected a duration such as 90s, 2m or 1m30s, got " + describe(e.value));
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
  if (line_starts_.empty() && text_) {
    const std::string& t = *text_;
    line_starts_.push_back(0);
    for (std::size_t at = t.find('\n'); at != std::string::npos; at = t.find('\n', at + 1))
      line_starts_.push_back(at + 1);
  }
  auto line_text = [&](int n) {  // 1-based
    std::size_t b = line_starts_[static_cast<std::size_t>(n) - 1];
    std::size_t e = static_cast<std::size_t>(n) < line_starts_.size() ? line_starts_[static_cast<std::size_t>(n)] - 1
                                                                     : text_->size();
    return std::string_view(*text_).substr(b, e - b);
  };
  const int lines = static_cast<int>(line_starts_.size());
  if (pos.line <= 0 || pos.line > lines) return std::nullopt;
  std::string_view indicator = line_text(pos.line);
  std::size_t col = 0;
  for (int c = 1; c < pos.column && col < indicator.size(); ++col) {
    if ((static_cast<unsigned char>(indicator[col]) & 0xC0) != 0x80) ++c;
  }
  if (col >= indicator.size() || indicator[col] != '|') return std::nullopt;
  int line = pos.line + text_line;
  if (line > lines) return std::nullopt;
  std::string_view l = line_text(line);
  auto at = l.find(needle);
  if (at == std::string_view::npos) return std::nullopt;
  return SourcePos{line, static_cast<int>(text::utf8_length(l.substr(0, at))) + 1};
}

std::string Loader::provider_words() const {
  std::string w = "provider " + provider_->name;
  if (provider_overridden_) w += " (from " + options_.provider_origin + ")";
  return w;
}

bool Loader::check_model(const Val<std::string>& model) {
  if (!provider_ || provider_->find_model(model.value)) return true;
  std::vector<std::string_view> names = provider_->model_names();
  if (model.value.find('|') != std::string::npos) {
    error(model.pos, model.path, "model " + text::quote(model.value) + " names several models",
          "the docs write \"chirp-v3-5|chirp-v3-0\" to list the choices: pick one, e.g. `model: " +
              provider_->default_model + "`");
  } else if (model.value.empty()) {
    error(model.pos, model.path, "empty model name",
          "remove the key to use the default model (" + provider_->default_model + ")");
  } else {
    std::string hint;
    if (auto near = text::closest(model.value, names)) hint = "did you mean " + text::quote(*near) + "? ";
    hint += "provider " + provider_->name + " knows: " + text::join(names);
    error(model.pos, model.path, "unknown model " + text::quote(model.value) + " for " + provider_words(),
          hint);
  }
  return false;
}

std::string Loader::models_with(const std::function<bool(const ModelLimits&)>& has) const {
  std::vector<std::string_view> names;
  if (provider_)
    for (const auto& m : provider_->models)
      if (m.deprecated.empty() && has(m)) names.push_back(m.name);  // never suggest a deprecated model
  return text::join(names);
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

void Loader::check_min_length(const std::string& value, std::size_t min, const SourcePos& pos,
                              const std::string& path, std::string_view what,
                              const ModelLimits& limits) {
  std::size_t n = text::utf8_length(value);
  if (n >= min) return;
  error(pos, path,
        std::string(what) + " is " + std::to_string(n) + " characters long; model " + limits.name +
            " needs at least " + std::to_string(min),
        "write at least " + std::to_string(min - n) + " more characters");
}

void Loader::load_album(const Node& node, Album& album) {
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
      album.cover = p.lexically_normal();
      auto r = confined::read_confined(base_, options_.allow_paths, s, kMaxCoverBytes, "cover image");
      if (r.data) {
        album.cover_data = std::move(*r.data);
      } else if (r.problem == confined::Problem::not_found) {
        error(v->pos, e.path, "cover image not found: " + text::quote(s),
              "the path is relative to the manifest's folder");
      } else {
        error(v->pos, e.path, r.message, r.hint);
      }
    }
  }
  if (!has_title) {
    error(pos_of(node), "album", "missing required key \"title\"", "add `title: ...` to the album");
  }
}

void Loader::load_settings(const Node& node, Manifest& m) {
  if (!node.IsMap()) {
    error(pos_of(node), "settings", "expected a mapping, got " + describe(node),
          "write `settings:` followed by indented `name: value` lines");
    return;
  }
  for (const auto& e : entries(node, "settings", setting_names(), "settings")) {
    auto v = get_string(e, contains(kTextSettings, e.key));
    if (!v) continue;
    if (contains(kNumberSettings, e.key) && e.value.IsScalar() && e.value.tag() == TagKind::nonplain) {
      error(v->pos, e.path, "expected a number, got the quoted text " + text::quote(v->value),
            "remove the quotes: `" + e.key + ": " + text::trim(v->value) + "`");
      continue;
    }
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

SongSpec Loader::load_song_fields(const Node& node, const std::string& path,
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
    } else if (k == "takes") {
      s.takes = get_int(e, 1, kMaxTakes);
    } else if (k == "seed") {
      s.seed = get_count(e, kMaxSeed);
    } else if (k == "length") {
      s.length = get_duration(e);
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
  auto r = confined::read_confined(base_, options_.allow_paths, name, kMaxLyricsFileBytes, "lyrics file");
  if (!r.data) {
    error(v.pos, v.path, r.message,
          r.problem == confined::Problem::not_found ? "lyrics_file is relative to the manifest's folder"
          : r.problem == confined::Problem::too_large ? "lyrics are at most a few thousand characters"
                                                      : r.hint);
    return std::nullopt;
  }
  std::string content = std::move(*r.data);
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

std::string format_length(Millis d) {
  long long ms = d.count();
  if (ms % 1000 != 0) return std::to_string(ms) + "ms";
  long long sec = ms / 1000;
  if (sec >= 60 && sec % 60 == 0) return std::to_string(sec / 60) + "m";
  if (sec > 60) return std::to_string(sec / 60) + "m" + std::to_string(sec % 60) + "s";
  return std::to_string(sec) + "s";
}

void Loader::check_model_rules(const SongView& v, const ModelLimits& m) {
  const SongSpec& sp = v.spec;
  const Song& song = v.song;
  const Content& content = v.content;
  const std::string who = text::quote(song.title.empty() ? sp.path : song.title);
  // Content that was given but is broken, or misspelt, was reported already.
  const bool text_unknown = (content.present && !content.ok) || (!content.present && sp.content_typo);
  const bool has_lyrics = content.ok && song.lyrics.has_value();
  const bool has_desc = content.ok && song.description.has_value();
  const bool instr = song.make_instrumental;

  if (sp.title && m.title_max > 0) {
    check_length(song.title, m.title_max, sp.title->pos, sp.title->path, "the title", m);
  }

  if (m.style_prompt) {
    if (has_lyrics && m.lyrics_max == 0) {
      error(content.pos, content.path,
            who + " has lyrics, but model " + m.name + " takes none" +
                (m.instrumental_only ? " (it makes instrumental music only)" : " (it has no lyrics field)"),
            "describe the music with `description:` or `tags:` instead, or pick a model that sings: " +
                models_with([](const ModelLimits& x) { return x.lyrics_optimizer; }));
    } else if (has_lyrics) {
      check_min_length(*song.lyrics, m.lyrics_min, content.pos, content.path, "the lyrics", m);
      check_length(*song.lyrics, m.lyrics_max, content.pos, content.path, "the lyrics", m);
    }
    if (m.lyrics_required && !has_lyrics && !text_unknown) {
      error(sp.pos, sp.path,
            who + ": model " + m.name + " needs lyrics" +
                (has_desc ? " (a description only sets the style of this model)" : ""),
            "add `lyrics:` or `lyrics_file:`, or pick a model that can write them: " +
                models_with([](const ModelLimits& x) { return x.lyrics_optimizer; }));
    }
    const std::string prompt = style_prompt(song);
    SourcePos ppos = sp.pos;
    std::string ppath = sp.path;
    if (has_desc) {
      ppos = content.pos;
      ppath = content.path;
    } else if (v.tags) {
      ppos = v.tags->pos;
      ppath = v.tags->path;
    }
    if (prompt.empty()) {
      if (m.prompt_required && !(text_unknown && !has_lyrics)) {
        error(sp.pos, sp.path, who + ": model " + m.name + " needs a style prompt",
              "describe the music with `description:` or `tags:` (they are joined into the prompt)");
      } else if (!has_lyrics && !text_unknown) {
        error(sp.pos, sp.path, who + ": nothing to send to model " + m.name,
              "give lyrics, or describe the music with `description:` or `tags:`");
      }
    } else {
      check_min_length(prompt, m.prompt_min, ppos, ppath, "the style prompt (description and tags)", m);
      if (m.prompt_max > 0) {
        check_length(prompt, m.prompt_max, ppos, ppath, "the style prompt (description and tags)", m);
      }
    }
    if (v.instrumental && instr && !m.has_instrumental && !m.instrumental_only) {
      if (m.lyrics_required) {
        error(v.instrumental->pos, v.instrumental->path,
              "model " + m.name + " cannot make an instrumental (it always sings lyrics)",
              "pick a model that can: " + models_with([](const ModelLimits& x) { return x.has_instrumental; }) + ", " +
                  models_with([](const ModelLimits& x) { return x.instrumental_only; }));
      } else {
        warning(v.instrumental->pos, v.instrumental->path,
                "model " + m.name + " has no instrumental switch; make_instrumental is not sent",
                "say it in the description or tags, e.g. \"instrumental\"");
      }
    }
    if (v.instrumental && !instr && m.instrumental_only && !has_lyrics) {
      warning(v.instrumental->pos, v.instrumental->path,
              "model " + m.name + " makes instrumental music only; make_instrumental: false changes nothing",
              "remove make_instrumental, or pick a model that sings");
    }
  } else {
    const bool custom_instrumental = m.instrumental_from_style && !content.present && instr;
    if (!content.present && !sp.content_typo && !m.needs_text && !custom_instrumental) {
      error(sp.pos, sp.path, "no lyrics, lyrics_file or description",
            m.instrumental_from_style
                ? "give `lyrics:`, `lyrics_file:` or `description:`; only an instrumental "
                  "(`make_instrumental: true`) can be made from tags and title alone"
                : "give exactly one: `lyrics: |` with the text, `lyrics_file:` with a path, "
                  "or `description:` to have the lyrics written");
    }
    if (m.style_required && (has_lyrics || custom_instrumental) && song.tags.empty()) {
      error(sp.pos, sp.path,
            who + ": model " + m.name + " needs a style in custom mode" +
                (has_lyrics ? " (lyrics)" : " (an instrumental from tags)"),
            "add `tags:` (sent as the style)");
    }
    if (v.tags && m.tags_max > 0 && !has_desc) {
      check_length(song.tags, m.tags_max, v.tags->pos, v.tags->path, "tags", m);
    }
    if (has_lyrics) {
      check_min_length(*song.lyrics, m.lyrics_min, content.pos, content.path, "the lyrics", m);
      check_length(*song.lyrics, m.lyrics_max, content.pos, content.path, "the lyrics", m);
    }
    if (has_desc) {
      // Description mode has no style field: the tags are sent inside the description.
      if (song.tags.empty())
        check_length(*song.description, m.description_max, content.pos, content.path, "the description", m);
      else
        check_length(style_prompt(song), m.description_max, content.pos, content.path,
                     "the description with its tags (description mode sends them together)", m);
    }
  }

  if (v.length) {
    if (m.length_field.empty()) {
      std::string with = models_with([](const ModelLimits& x) { return !x.length_field.empty(); });
      warning(v.length->pos, v.length->path, "model " + m.name + " takes no length; it is ignored",
              with.empty() ? "remove length" : "models with a length: " + with);
    } else if (v.length->value < m.length_min || v.length->value > m.length_max) {
      error(v.length->pos, v.length->path,
            "length " + format_length(v.length->value) + " is outside what model " + m.name + " accepts (" +
                format_length(m.length_min) + " to " + format_length(m.length_max) + ")",
            "");
    } else if (m.length_unit.count() > 1 && v.length->value.count() % m.length_unit.count() != 0) {
      error(v.length->pos, v.length->path,
            "model " + m.name + " takes the length in whole " +
                (m.length_unit == std::chrono::seconds(1) ? std::string("seconds") : format_length(m.length_unit)),
            "round it, e.g. `length: " + format_length(std::chrono::duration_cast<std::chrono::seconds>(
                                             v.length->value)) + "`");
    }
  }
  if (v.seed && !m.has_seed) {
    std::string with = models_with([](const ModelLimits& x) { return x.has_seed; });
    warning(v.seed->pos, v.seed->path, "model " + m.name + " takes no seed; it is ignored",
            with.empty() ? "remove seed" : "models with a seed: " + with);
  }
  if (v.negative && !v.negative->value.empty() && !m.has_negative) {
    std::string with = models_with([](const ModelLimits& x) { return x.has_negative; });
    if (with.empty()) {
      warning(v.negative->pos, v.negative->path,
              "provider " + provider_->name + " does not support negative_tags; they are ignored",
              "use provider suno-api or sunoapi, or remove negative_tags");
    } else {
      warning(v.negative->pos, v.negative->path,
              "model " + m.name + " does not take negative_tags; they are ignored",
              "models of provider " + provider_->name + " that do: " + with + "; or remove negative_tags");
    }
  }
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

void Loader::setup(std::optional<Node> settings, std::optional<Node> defaults_node) {
  setup_done_ = true;
  setup_settings_ = settings;
  setup_defaults_ = defaults_node;
  // Settings first: the provider and model decide the limits.
  if (settings && !settings->IsNull()) load_settings(*settings, m_);
  // --provider / SETLIST_PROVIDER (options_) win over the manifest's own.
  if (!options_.provider.empty()) {
    provider_ = find_provider_info(options_.provider);
    if (provider_) {
      provider_overridden_ = true;
    } else {
      std::vector<std::string_view> names;
      for (const auto& p : provider_infos()) names.push_back(p.name);
      error({}, "provider",
            "unknown provider " + text::quote(options_.provider) + " (from " + options_.provider_origin + ")",
            "one of: " + text::join(names));
    }
  }
  if (!provider_overridden_) {
    provider_ = find_provider_info(m_.settings.count("provider") ? m_.settings["provider"].value
                                                                : std::string("aimlapi"));
  }
  default_model_ = provider_ ? provider_->default_model : std::string();
  if (m_.settings.count("model")) {
    const auto& sv = m_.settings["model"];
    if (check_model(Val<std::string>{sv.value, sv.pos, "settings.model"})) {
      default_model_ = sv.value;
      default_model_pos_ = sv.pos;
      default_model_path_ = "settings.model";
    }
  }
  if (!options_.model.empty() && provider_) {
    if (provider_->find_model(options_.model)) {
      default_model_ = options_.model;
      default_model_pos_ = {};
      default_model_path_ = "model";
    } else {
      std::string hint;
      if (auto near = text::closest(options_.model, provider_->model_names()))
        hint = "did you mean " + text::quote(*near) + "? ";
      hint += "provider " + provider_->name + " knows: " + text::join(provider_->model_names());
      error({}, "model",
            "unknown model " + text::quote(options_.model) + " (from " + options_.model_origin + ") for " +
                provider_words(),
            hint);
    }
  }

  if (defaults_node) {
    if (defaults_node->IsMap()) {
      defaults_ = load_song_fields(*defaults_node, "defaults", true);
      default_content_ = resolve_content(defaults_);
      if (defaults_.model) default_model_ok_ = check_model(*defaults_.model);
    } else if (!defaults_node->IsNull()) {
      error(pos_of(*defaults_node), "defaults",
            "expected a mapping, got " + describe(*defaults_node),
            "write `defaults:` followed by indented song fields such as `tags:`");
    }
  }
  after_setup_ = diags_.size();
}

void Loader::load_song(std::size_t i, const Node& node) {
  std::string path = "songs[" + std::to_string(i) + "]";
  Song song;
  song.track = static_cast<int>(i) + 1;
  if (!node.IsMap()) {
    error(pos_of(node), path, "expected a mapping for a song, got " + describe(node),
          "write a song as `- title: ...` with its fields indented below");
    song_pos_.push_back({});
    if (!emit_ && (options_.keep_songs || kept_models_.insert(song.model).second)) m_.songs.push_back(song);
    return;
  }
  const SongSpec sp = load_song_fields(node, path, false);
  song.pos = sp.pos;
  song_pos_.push_back(sp.pos);

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
      auto [prev, inserted] = titles_.emplace(key, i);
      if (!inserted) {
        warning(sp.title->pos, sp.title->path,
                "same title as songs[" + std::to_string(prev->second) + "] (" +
                    where(song_pos_[prev->second]) + ")",
                "both will be generated; rename one if that is not intended");
      }
    }
  }

  // Content: the song's own, or else the defaults'.
  const bool own_content = sp.has_content();
  Content content = own_content ? resolve_content(sp) : default_content_;
  song.lyrics = content.lyrics;
  song.description = content.description;
  song.lyrics_file = content.lyrics_file;

  // Plain fields, the song's own value winning.
  auto pick_s = [&](const std::optional<Val<std::string>>& own,
                    const std::optional<Val<std::string>>& dflt) { return own ? own : dflt; };
  auto tags = pick_s(sp.tags, defaults_.tags);
  auto negative = pick_s(sp.negative_tags, defaults_.negative_tags);
  auto model = pick_s(sp.model, defaults_.model);
  auto instrumental = sp.make_instrumental ? sp.make_instrumental : defaults_.make_instrumental;
  auto wait = sp.wait_audio ? sp.wait_audio : defaults_.wait_audio;
  if (tags) song.tags = tags->value;
  if (negative) song.negative_tags = negative->value;
  if (instrumental) song.make_instrumental = instrumental->value;
  if (wait) song.wait_audio = wait->value;
  if (sp.track) song.track = sp.track->value;

  auto length = sp.length ? sp.length : defaults_.length;
  auto seed = sp.seed ? sp.seed : defaults_.seed;
  auto takes = sp.takes ? sp.takes : defaults_.takes;
  if (length) song.length = length->value;
  if (seed) song.seed = seed->value;
  if (takes) song.takes = takes->value;

  bool model_ok = true;
  if (sp.model) {
    model_ok = check_model(*sp.model);
  } else if (defaults_.model) {
    model_ok = default_model_ok_;
  }
  if (model) song.model = model->value;

  // The model's rules decide what the song must and may hold.
  const ModelLimits* limits = nullptr;
  if (provider_) {
    limits = provider_->find_model(model && model_ok ? song.model : default_model_);
    if (!limits) limits = provider_->find_model(provider_->default_model);
  }

  if (!content.present && !sp.content_typo && (!limits || limits->needs_text) &&
      !(limits && limits->style_prompt)) {
    // The API requires a prompt even for an instrumental: describe it.
    error(sp.pos, sp.path, "no lyrics, lyrics_file or description",
          song.make_instrumental
              ? "an instrumental still needs a prompt: describe the music with "
                "`description: ...`"
              : "give exactly one: `lyrics: |` with the text, `lyrics_file:` with a path, "
                "or `description:` to have the lyrics written");
  }

  if (limits && !limits->deprecated.empty()) {
    // Once per place the model was chosen.
    SourcePos at = model && model_ok ? model->pos : default_model_pos_;
    std::string path = model && model_ok ? model->path : default_model_path_;
    warning(at, path, "model " + limits->name + ": " + limits->deprecated,
            "use one of its music models, e.g. `model: " + provider_->default_model +
                "`, or a Suno proxy with `provider: sunoapi`");
  }
  // (A model that takes no lyrics, or cannot make an instrumental, says so itself.)
  if (content.ok && song.lyrics && instrumental && instrumental->value &&
      (!limits || (limits->lyrics_max > 0 && limits->has_instrumental))) {
    warning(instrumental->pos, instrumental->path,
            "make_instrumental is true, so the lyrics are not sung",
            "remove the lyrics, or set make_instrumental: false");
  }

  if (limits) {
    check_model_rules(SongView{sp, song, content, tags, negative, instrumental, length, seed}, *limits);
  } else if (negative && !negative->value.empty() && provider_ && !provider_->supports_negative_tags) {
    warning(negative->pos, negative->path,
            "provider " + provider_->name + " does not support negative_tags; they are ignored",
            "use provider suno-api, or remove negative_tags");
  }
  if (provider_ && content.ok && song.description && !provider_->supports_description) {
    error(content.pos, content.path,
          "provider " + provider_->name + " does not support description mode",
          "write the lyrics instead");
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
      auto [prev, inserted] = explicit_ids_.emplace(id, i);
      if (!inserted) {
        error(sp.id->pos, sp.id->path,
              "duplicate id " + text::quote(id) + " (also songs[" + std::to_string(prev->second) +
                  "], " + where(song_pos_[prev->second]) + ")",
              "ids identify songs across runs: give each song its own");
      }
      song.id = id;
    }
  }

  auto [prev_track, new_track] = tracks_.emplace(song.track, i);
  if (!new_track && sp.track) {
    warning(sp.track->pos, sp.track->path,
            "track " + std::to_string(song.track) + " is also songs[" +
                std::to_string(prev_track->second) + "]'s track number");
  }

  if (emit_) {
    // A song found wrong on the second read is not handed out, nor any after it.
    if (error_count_ > 0) return;
    if (song.id.empty()) song.id = derive_id(song, used_ids_);
    (*emit_)(song);
    return;
  }
  if (options_.keep_songs || kept_models_.insert(song.model).second) m_.songs.push_back(std::move(song));
}

LoadResult Loader::run(const std::string& yaml_text, bool stream) {
  LoadResult result;
  m_.path = file_;
  text_ = &yaml_text;

  for (const auto& bad : text::invalid_utf8(yaml_text)) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02x", bad.byte);
    error({bad.line, bad.column}, "", std::string("invalid UTF-8 (byte ") + hex + ")",
          "save the manifest as UTF-8");
  }

  // The first document goes through our Builder (songs checked as they end);
  // yaml-cpp 0.7's LoadAll loops forever, allocating, on a stray ',' at
  // document level (jbeder/yaml-cpp#1040, fixed upstream by #1319): the
  // documents after it are counted with a bounded loop.
  const std::size_t before_parse = diags_.size();
  Builder builder(
      stream,
      [&](const Builder::Pairs& pairs) {
        std::optional<Node> settings, defaults;
        for (const auto& [k, v] : pairs) {
          if (!k.IsScalar()) continue;
          std::string key = k.Scalar();
          if (key == "settings" && !settings) settings = v;
          if (key == "defaults" && !defaults) defaults = v;
        }
        setup(settings, defaults);
      },
      [&](std::size_t i, const Node& song) { load_song(i, song); });
  std::vector<YAML::Mark>& starts = builder.starts();
  auto syntax_error = [&](const YAML::Mark& mark, const std::string& msg) {
    diags_.resize(before_parse);  // what songs said before the error is moot
    SourcePos p;
    if (!mark.is_null()) p = {mark.line + 1, mark.column + 1};
    error(p, "", "YAML syntax error: " + msg, "check the indentation and quoting around this line");
    result.diagnostics = std::move(diags_);
    return result;
  };
  try {
    TextBuf buf(yaml_text);
    std::istream stream_in(&buf);
    YAML::Parser parser(stream_in);
    if (parser.HandleNextDocument(builder)) {
      DocumentStarts handler(starts);
      for (int i = 1; i < 4 && parser.HandleNextDocument(handler); ++i) {
      }
    }
    for (std::size_t i = 1; i < starts.size(); ++i) {
      if (starts[i].pos == starts[i - 1].pos) {  // no progress: a token the parser cannot use
        return syntax_error(starts[i], "unexpected character");
      }
    }
  } catch (const YAML::Exception& e) {
    return syntax_error(e.mark, e.msg);
  }

  for (const auto& mark : builder.songs_aliases()) {
    // yaml-cpp's mark is the alias's '*': its name follows.
    std::string name = "*";
    for (std::size_t k = static_cast<std::size_t>(mark.pos) + 1;
         k < yaml_text.size() && std::string_view(" \t\r\n,[]{}").find(yaml_text[k]) == std::string_view::npos; ++k)
      name += yaml_text[k];
    error({mark.line + 1, mark.column + 1}, "",
          "the alias " + name + " names the whole songs list, which cannot be used again elsewhere",
          "write the value out here; an alias may name one song or one field of a song");
  }
  Node root = builder.root() ? Node(&builder.tree(), *builder.root()) : Node();
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

  std::optional<Node> album_node, defaults_node, settings_node, songs_node;
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
  if (setup_done_) {
    // The songs were checked with what came before them: settings or
    // defaults given after them mean checking again with everything.
    auto same = [](const std::optional<Node>& a, const std::optional<Node>& b) {
      return a.has_value() == b.has_value() && (!a || a->same(*b));
    };
    if (!same(setup_settings_, settings_node) || !same(setup_defaults_, defaults_node)) {
      restart = true;
      return result;
    }
  } else {
    setup(settings_node, defaults_node);
  }

  if (emit_) {
    // The album was checked by the first read (its cover read then).
  } else if (album_node) {
    load_album(*album_node, m_.album);
  } else {
    // Where it was before the songs were checked, among the problems without a position.
    diags_.insert(diags_.begin() + static_cast<std::ptrdiff_t>(after_setup_),
                  Diagnostic{Severity::error, file_, {}, "album", "missing required key \"album\"",
                             "add `album:` with at least a `title:`"});
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
  if (songs_node && songs_node->IsSequence() && !songs_node->streamed()) {
    for (std::size_t i = 0; i < songs_node->size(); ++i) load_song(i, songs_node->at(i));
  }

  // Ids derived from titles, kept apart from every explicit id.
  std::set<std::string> used;
  for (const auto& [id, idx] : explicit_ids_) used.insert(id);
  for (auto& song : m_.songs)
    if (song.id.empty()) song.id = derive_id(song, used);

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
  if (result.error_count() == 0) result.manifest = std::move(m_);
  return result;
}

std::string derive_id(const Song& song, std::set<std::string>& used) {
  std::string base = text::slugify(song.title);
  if (base.empty()) base = "track-" + std::to_string(song.track);
  std::string id = base;
  for (int n = 2; used.count(id); ++n) id = base + "-" + std::to_string(n);
  used.insert(id);
  return id;
}

// parse_manifest on text shared with LoadResult::songs, which reads it again.
LoadResult parse_shared(std::shared_ptr<const std::string> text, const std::string& file_name,
                        const fs::path& base_dir, const LoadOptions& options) {
  bool stream = true;
  auto loader = std::make_unique<Loader>(file_name, base_dir, options);
  auto r = loader->run(*text, stream);
  if (loader->restart) {
    stream = false;
    loader = std::make_unique<Loader>(file_name, base_dir, options);
    r = loader->run(*text, stream);
  }
  if (!r.ok() || options.keep_songs) return r;
  // The second read takes the path the first one ended on (streamed, or the
  // whole tree when settings or defaults follow the songs).
  auto ids = std::make_shared<const std::set<std::string>>(loader->explicit_ids());
  r.songs = [text, file_name, base_dir, options, ids, stream](const SongVisitor& each) -> std::optional<Diagnostic> {
    Loader again(file_name, base_dir, options);
    again.emit_to(each, *ids);
    auto second = again.run(*text, stream);
    for (auto& d : second.diagnostics)
      if (d.severity == Diagnostic::Severity::error) return d;
    if (again.restart) {  // cannot happen on the same text: said rather than ignored
      Diagnostic d;
      d.file = file_name;
      d.message = "the manifest read differently the second time";
      return d;
    }
    return std::nullopt;
  };
  return r;
}

}  // namespace

LoadResult parse_manifest(const std::string& text, const std::string& file_name,
                          const std::filesystem::path& base_dir) {
  return parse_manifest(text, file_name, base_dir, LoadOptions{});
}

LoadResult parse_manifest(const std::string& text, const std::string& file_name,
                          const std::filesystem::path& base_dir, const LoadOptions& options) {
  // The songs read again later need the text: a copy only then.
  if (options.keep_songs) {
    Loader loader(file_name, base_dir, options);
    auto r = loader.run(text, true);
    if (!loader.restart) return r;
    Loader again(file_name, base_dir, options);
    return again.run(text, false);
  }
  return parse_shared(std::make_shared<const std::string>(text), file_name, base_dir, options);
}

LoadResult load_manifest(const std::filesystem::path& file) { return load_manifest(file, LoadOptions{}); }

LoadResult load_manifest(const std::filesystem::path& file, const LoadOptions& options) {
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
  // Read in one piece (a string stream would hold the text twice).
  auto shared = std::make_shared<std::string>();
  std::string& text = *shared;
  auto size = fs::file_size(file, ec);
  if (!ec) text.reserve(static_cast<std::size_t>(size));
  char chunk[1 << 16];
  while (in.read(chunk, sizeof chunk) || in.gcount() > 0) text.append(chunk, static_cast<std::size_t>(in.gcount()));
  fs::path base = file.parent_path();
  if (base.empty()) base = ".";
  const auto digest = sha256_hex(text);
  auto loaded = parse_shared(std::move(shared), file.string(), base, options);
  if (loaded.manifest) loaded.manifest->source_sha256 = digest;
  return loaded;
}

}  // namespace setlist
