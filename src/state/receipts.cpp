// The receipts journal beside the state database, the checks that decide
// whether a database can be trusted with money, and recovery from the journal.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <boost/json.hpp>
#include <tuple>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <set>

#include "setlist/output.hpp"
#include "state/journal.hpp"
#include "common/hash.hpp"

namespace setlist {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace journal {

namespace {
constexpr std::pair<JournalEntry::Kind, const char*> kKinds[] = {
    {JournalEntry::Kind::intent, "intent"},         {JournalEntry::Kind::ack, "ack"},
    {JournalEntry::Kind::rejected, "rejected"},     {JournalEntry::Kind::uncertain, "uncertain"},
    {JournalEntry::Kind::attempt, "attempt"},       {JournalEntry::Kind::superseded, "superseded"},
    {JournalEntry::Kind::file, "file"},             {JournalEntry::Kind::forget_files, "forget_files"},
    {JournalEntry::Kind::failed, "failed"},
};

std::string str(const json::object& o, const char* k) {
  auto* v = o.if_contains(k);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}
std::int64_t num(const json::object& o, const char* k) {
  auto* v = o.if_contains(k);
  if (!v) return 0;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) return static_cast<std::int64_t>(v->as_uint64());
  return 0;
}
}  // namespace

std::string line(const JournalEntry& e) {
  using K = JournalEntry::Kind;
  json::object o;
  o["v"] = 1;
  for (auto& [k, name] : kKinds)
    if (k == e.kind) o["e"] = name;
  if (e.submission) o["sub"] = e.submission;
  o["song"] = e.song_key;
  switch (e.kind) {
    case K::intent:
      o["id"] = e.song_id;
      o["title"] = e.title;
      o["track"] = e.track;
      o["payload"] = e.payload_hash;
      o["attempt"] = e.attempt;
      if (!e.key_fp.empty()) o["key"] = e.key_fp;
      break;
    case K::ack: {
      json::array ids;
      for (auto& id : e.clip_ids) ids.push_back(json::string(id));
      o["clips"] = std::move(ids);
      break;
    }
    case K::rejected:
      o["http"] = e.http_status;
      o["error"] = e.error;
      break;
    case K::uncertain:
    case K::failed:
      o["error"] = e.error;
      break;
    case K::attempt:
      o["attempt"] = e.attempt;
      break;
    case K::file:
      o["path"] = e.file.path;
      o["clip"] = e.file.clip_id;
      o["kind"] = e.file.kind;
      o["bytes"] = e.file.bytes;
      o["sha256"] = e.file.sha256;
      o["source_sha256"] = e.file.source_sha256;
      o["mtime_ns"] = e.file.mtime_ns;
      break;
    case K::superseded:
    case K::forget_files:
      break;
  }
  o["at"] = e.at;
  return json::serialize(o) + "\n";
}

std::optional<JournalEntry> parse(std::string_view text) {
  using K = JournalEntry::Kind;
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  auto& o = v.as_object();
  if (num(o, "v") != 1) return std::nullopt;
  JournalEntry e;
  const auto kind = str(o, "e");
  bool known = false;
  for (auto& [k, name] : kKinds)
    if (kind == name) {
      e.kind = k;
      known = true;
    }
  if (!known) return std::nullopt;
  e.submission = num(o, "sub");
  e.song_key = str(o, "song");
  e.at = num(o, "at");
  if (e.song_key.empty()) return std::nullopt;
  switch (e.kind) {
    case K::intent:
      e.song_id = str(o, "id");
      e.title = str(o, "title");
      e.track = static_cast<int>(num(o, "track"));
      e.payload_hash = str(o, "payload");
      e.attempt = static_cast<int>(std::max<std::int64_t>(1, num(o, "attempt")));
      e.key_fp = str(o, "key");
      if (e.submission <= 0) return std::nullopt;
      break;
    case K::ack:
      if (e.submission <= 0) return std::nullopt;
      if (auto* c = o.if_contains("clips"); c && c->is_array())
        for (auto& id : c->as_array())
          if (id.is_string()) e.clip_ids.emplace_back(id.as_string());
      break;
    case K::rejected:
    case K::uncertain:
      if (e.submission <= 0) return std::nullopt;
      e.http_status = static_cast<int>(num(o, "http"));
      e.error = str(o, "error");
      break;
    case K::attempt:
      e.attempt = static_cast<int>(std::max<std::int64_t>(1, num(o, "attempt")));
      break;
    case K::failed:
      e.error = str(o, "error");
      break;
    case K::file:
      e.file.path = str(o, "path");
      e.file.song_key = e.song_key;
      e.file.clip_id = str(o, "clip");
      e.file.kind = str(o, "kind");
      e.file.bytes = static_cast<std::uint64_t>(num(o, "bytes"));
      e.file.sha256 = str(o, "sha256");
      e.file.source_sha256 = str(o, "source_sha256");
      e.file.mtime_ns = num(o, "mtime_ns");
      if (e.file.path.empty()) return std::nullopt;
      break;
    case K::superseded:
    case K::forget_files:
      break;
  }
  return e;
}

Writer::~Writer() {
  if (fd_ < 0) return;
  if (unsynced_) ::fdatasync(fd_);
  ::close(fd_);
}

void Writer::open() {
  if (fd_ >= 0) return;
  const bool existed = ::access(file_.c_str(), F_OK) == 0;
  fd_ = ::open(file_.c_str(), O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd_ < 0) throw StateError("cannot open the receipts journal " + file_.string() + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ::geteuid()) {
    ::close(fd_);
    fd_ = -1;
    throw StateError("the receipts journal " + file_.string() + " is not a regular file of this user");
  }
  // A line torn by a crash (or a full disk) stays one bad line: the next
  // receipt starts on a line of its own.
  char last = '\n';
  if (st.st_size > 0 && ::pread(fd_, &last, 1, st.st_size - 1) == 1 && last != '\n' && ::write(fd_, "\n", 1) != 1)
    throw StateError("cannot write the receipts journal " + file_.string() + ": " + std::strerror(errno));
  if (!existed) {  // its name must survive a power cut too
    int dir = ::open(file_.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
      ::fsync(dir);
      ::close(dir);
    }
  }
}

void Writer::append(const JournalEntry& e, bool sync) {
  open();
  const std::string text = line(e);
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd_, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw StateError("cannot write the receipts journal " + file_.string() + ": " + std::strerror(errno));
    done += static_cast<std::size_t>(n);
  }
  unsynced_ = true;
  if (!sync) return;
  if (::fdatasync(fd_) != 0)
    throw StateError("cannot sync the receipts journal " + file_.string() + ": " + std::strerror(errno));
  unsynced_ = false;
}

}  // namespace journal

fs::path journal_path(const fs::path& out_dir) { return out_dir / ".setlist" / "receipts.jsonl"; }

JournalScan scan_journal(const fs::path& file, std::uint64_t from, const std::function<void(JournalEntry&&)>& each,
                         bool (*wanted)(std::string_view line)) {
  JournalScan scan;
  scan.end = from;
  int fd = ::open(file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return scan;
  struct Close {
    int fd;
    ~Close() { ::close(fd); }
  } close_fd{fd};
  auto one = [&](std::string_view text) {
    if (text.empty() || (wanted && !wanted(text))) return;
    if (auto e = journal::parse(text))
      each(std::move(*e));
    else
      ++scan.bad_lines;
  };
  // Read a block at a time; only the line that straddles two blocks is kept.
  std::string carry;
  std::vector<char> buf(1 << 16);
  for (auto at = static_cast<off_t>(from);;) {
    ssize_t n = ::pread(fd, buf.data(), buf.size(), at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    at += n;
    std::string_view block(buf.data(), static_cast<std::size_t>(n));
    for (;;) {
      auto nl = block.find('\n');
      if (nl == std::string_view::npos) break;
      if (carry.empty()) {
        one(block.substr(0, nl));
      } else {
        carry.append(block.substr(0, nl));
        one(carry);
        carry.clear();
      }
      block.remove_prefix(nl + 1);
      scan.end = static_cast<std::uint64_t>(at) - block.size();
    }
    carry.append(block);
  }
  one(carry);  // a torn last line: a bad line (never part of `end`)
  return scan;
}

Journal read_journal(const fs::path& file, std::uint64_t from) {
  Journal j;
  auto scan = scan_journal(file, from, [&](JournalEntry&& e) { j.entries.push_back(std::move(e)); });
  j.end = scan.end;
  j.bad_lines = scan.bad_lines;
  return j;
}

namespace {

Error refusal(std::string message) {
  Error e;
  e.kind = ErrorKind::invalid;
  e.message = std::move(message);
  return e;
}

std::string plural(std::size_t n, const std::string& one, const std::string& many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// The clip ids of .setlist/clips/<id>.json.
std::set<std::string> clip_files(const fs::path& out_dir) {
  std::set<std::string> ids;
  std::error_code ec;
  for (fs::directory_iterator it(out_dir / ".setlist" / "clips", ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file(ec) || it->path().extension() != ".json") continue;
    ids.insert(it->path().stem().string());
  }
  return ids;
}

struct TaggedTake {
  fs::path rel;
  TakeIds ids;
};

// Audio in OUT (outside .setlist, links not followed) tagged by setlist;
// files at the paths in `skip` are not read.
// Walks `dir` (relative `rel` inside OUT) by its entries' types as the
// folder lists them (no stat per file; one only where the type is not
// given); links are never followed.
void walk_takes(const fs::path& out_dir, const std::string& rel, const std::set<std::string>& skip,
                std::vector<TaggedTake>& out) {
  const fs::path dir = rel.empty() ? out_dir : out_dir / rel;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  std::vector<std::string> folders;
  while (auto* e = ::readdir(d)) {
    std::string_view name(e->d_name);
    if (name == "." || name == "..") continue;
    unsigned char type = e->d_type;
    if (type == DT_UNKNOWN) {
      struct stat st {};
      if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_LNK;
    }
    std::string path = rel.empty() ? std::string(name) : rel + "/" + std::string(name);
    if (type == DT_DIR) {
      if (!(rel.empty() && name == ".setlist")) folders.push_back(std::move(path));
      continue;
    }
    if (type != DT_REG) continue;
    auto dot = name.rfind('.');
    if (dot == std::string_view::npos) continue;
    auto ext = name.substr(dot);
    if (ext != ".mp3" && ext != ".wav") continue;
    if (skip.count(path)) continue;
    if (auto ids = read_take_ids(out_dir / path)) out.push_back({fs::path(path), std::move(*ids)});
  }
  ::closedir(d);
  for (auto& f : folders) walk_takes(out_dir, f, skip, out);
}

// Audio in OUT (outside .setlist, links not followed) tagged by setlist;
// files at the paths in `skip` are not read.
std::vector<TaggedTake> tagged_takes(const fs::path& out_dir, const std::set<std::string>& skip = {}) {
  std::vector<TaggedTake> out;
  walk_takes(out_dir, "", skip, out);
  return out;
}

const char kMagic[16] = {'S', 'Q', 'L', 'i', 't', 'e', ' ', 'f', 'o', 'r', 'm', 'a', 't', ' ', '3', '\0'};

bool has_sqlite_header(const fs::path& db) {
  char head[16] = {};
  int fd = ::open(db.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = ::read(fd, head, sizeof head);
  ::close(fd);
  return n == static_cast<ssize_t>(sizeof head) && std::memcmp(head, kMagic, sizeof head) == 0;
}

// What makes an existing database file unusable before it is opened, if anything.
std::optional<std::string> file_problem(const fs::path& db, const struct stat& st) {
  if (!S_ISREG(st.st_mode)) return db.string() + " is not a regular file";
  if (!(st.st_mode & S_IWUSR) || ::access(db.parent_path().c_str(), W_OK) != 0)
    return db.string() +
           " is read-only: setlist records every request there before sending it, so it cannot run without "
           "writing it. Make it writable (chmod u+w " +
           db.string() + ") and run again";
  if (!has_sqlite_header(db)) return db.string() + " is not an SQLite database (damaged or replaced)";
  return std::nullopt;
}

const std::string kRecoverHint = "; `setlist recover OUT` rebuilds it from the receipts journal, the clip files "
                                 "and the takes' tags without buying anything (a damaged database is kept aside)";

std::string with_out(std::string text, const fs::path& out_dir) {
  for (auto pos = text.find("OUT"); pos != std::string::npos; pos = text.find("OUT", pos)) {
    text.replace(pos, 3, out_dir.string());
    pos += out_dir.string().size();
  }
  return text;
}

// Whether `store` knows everything the journal and the clip files show.
// What state lacks that the receipts, the clip files or the takes record.
struct Lag {
  std::size_t missing_subs = 0, missing_answers = 0, mismatched = 0;
  std::set<std::string> missing_clips;
  std::optional<std::set<std::string>> known;  // state's clip ids (safe_component), read once

  const std::set<std::string>& known_clips(StateStore& store) {
    if (!known) {
      known.emplace();
      for (auto& c : store.clip_ids()) known->insert(safe_component(c));
    }
    return *known;
  }
  bool any() const { return mismatched || missing_subs || missing_answers || !missing_clips.empty(); }
};

// Checks receipts against state one at a time (see Lag).
class LagCheck {
 public:
  LagCheck(StateStore& store, Lag& lag) : store_(store), lag_(lag) {}
  void operator()(const JournalEntry& e) {
    using K = JournalEntry::Kind;
    if (e.kind != K::intent && e.kind != K::ack && e.kind != K::rejected && e.kind != K::uncertain) return;
    if (!subs_) {
      subs_.emplace();
      for (auto& s : store_.all_submissions()) subs_->emplace(s.id, Sub{s.song_key, s.state});
    }
    auto it = subs_->find(e.submission);
    if (it == subs_->end()) {
      ++(e.kind == K::intent ? lag_.missing_subs : lag_.missing_answers);
      return;
    }
    if (it->second.song_key != e.song_key) {
      ++lag_.mismatched;
      return;
    }
    if (e.kind != K::intent && it->second.state == "intent") ++lag_.missing_answers;
    if (e.kind == K::ack && it->second.state != "acked") ++lag_.missing_answers;
    if (e.kind == K::ack)
      for (auto& id : e.clip_ids)
        if (!lag_.known_clips(store_).count(safe_component(id))) lag_.missing_clips.insert(id);
  }

 private:
  struct Sub {
    std::string song_key, state;
  };
  StateStore& store_;
  Lag& lag_;
  std::optional<std::map<std::int64_t, Sub>> subs_;  // read at the first receipt that needs it
};

// File receipts say nothing the lag check uses: their lines (most of a
// journal) are not parsed. Every line setlist writes starts this way.
bool not_a_file_receipt(std::string_view line) { return line.rfind(R"({"v":1,"e":"file")", 0) != 0; }

// Checks the receipts from `from` on against state, streaming; the end reached.
std::uint64_t journal_lag(StateStore& store, const fs::path& file, std::uint64_t from, Lag& lag) {
  LagCheck check(store, lag);
  return scan_journal(file, from, [&](JournalEntry&& e) { check(e); }, not_a_file_receipt).end;
}

std::optional<std::string> lag_message(const Lag& lag) {
  if (lag.mismatched)
    return "state.db does not match the receipts journal: " +
           plural(lag.mismatched, "submission belongs", "submissions belong") +
           " to other songs there (was the database replaced by another album's?)";
  if (!lag.any()) return std::nullopt;
  std::vector<std::string> parts;
  if (lag.missing_subs) parts.push_back(plural(lag.missing_subs, "submission", "submissions"));
  if (lag.missing_answers) parts.push_back(plural(lag.missing_answers, "answer", "answers"));
  if (!lag.missing_clips.empty()) parts.push_back(plural(lag.missing_clips.size(), "clip", "clips"));
  std::string list;
  for (std::size_t i = 0; i < parts.size(); ++i) list += (i ? (i + 1 == parts.size() ? " and " : ", ") : "") + parts[i];
  return "state.db is behind OUT: it lacks " + list +
         " that the receipts journal, .setlist/clips/ or the takes' tags record (was its -wal file lost, or an "
         "older copy restored?)";
}

std::optional<std::string> behind(StateStore& store, Lag& lag, const std::set<std::string>& clip_file_ids,
                                  const fs::path& out_dir) {
  for (auto& id : clip_file_ids)
    if (!lag.known_clips(store).count(id)) lag.missing_clips.insert(id);
  // Takes in OUT that no file row names (a database restored from before
  // they were made): read their tags; a clip the database does not know
  // would be bought again. Recorded files are not read, so this costs a
  // directory walk when all is well.
  std::set<std::string> recorded;
  store.each_file([&](const FileRow& f) { recorded.insert(f.path); });
  for (auto& t : tagged_takes(out_dir, recorded))
    if (!store.has_clip(t.ids.clip_id)) lag.missing_clips.insert(t.ids.clip_id);
  return lag_message(lag);
}

// Where the journal check may start: meta `journal_checked` holds the offset
// the last passing check reached and a digest of the 64 KiB before it.
constexpr std::uint64_t kCheckedWindow = 64 << 10;

std::string journal_mark(const fs::path& file, std::uint64_t end) {
  int fd = ::open(file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return {};
  const std::uint64_t from = end > kCheckedWindow ? end - kCheckedWindow : 0;
  std::string window(static_cast<std::size_t>(end - from), '\0');
  std::size_t got = 0;
  while (got < window.size()) {
    ssize_t n = ::pread(fd, window.data() + got, window.size() - got, static_cast<off_t>(from + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  if (got != window.size()) return {};
  return std::to_string(end) + " " + sha256_hex(window);
}

std::uint64_t checked_until(StateStore& store, const fs::path& file) {
  auto mark = store.meta("journal_checked");
  if (!mark) return 0;
  std::uint64_t end = 0;
  auto [p, ec] = std::from_chars(mark->data(), mark->data() + mark->size(), end);
  if (ec != std::errc() || p == mark->data() || end == 0) return 0;
  return journal_mark(file, end) == *mark ? end : 0;
}

}  // namespace

std::optional<std::string> album_state_damage(StateStore& store, const fs::path& out_dir) {
  if (auto damage = store.quick_check())
    return with_out((out_dir / ".setlist" / "state.db").string() + " is damaged (SQLite: " + *damage +
                        "). Nothing was sent" + kRecoverHint,
                    out_dir);
  return std::nullopt;
}

Result<std::unique_ptr<StateStore>> open_album_state(const fs::path& out_dir, bool create, bool check_pages) {
  const auto db = out_dir / ".setlist" / "state.db";
  struct stat st {};
  const bool exists = ::lstat(db.c_str(), &st) == 0;
  if (!exists || (S_ISREG(st.st_mode) && st.st_size == 0)) {
    // Nothing to trust: only safe when OUT holds nothing a run paid for.
    std::size_t receipts = 0;
    scan_journal(
        journal_path(out_dir), 0, [&](JournalEntry&& e) { receipts += e.kind == JournalEntry::Kind::intent; },
        not_a_file_receipt);
    auto clips = clip_files(out_dir);
    std::vector<TaggedTake> takes;
    if (!receipts && clips.empty()) takes = tagged_takes(out_dir);
    if (receipts || !clips.empty() || !takes.empty()) {
      std::vector<std::string> parts;
      if (receipts) parts.push_back(plural(receipts, "submission", "submissions") + " in the receipts journal");
      if (!clips.empty()) parts.push_back(plural(clips.size(), "clip file", "clip files") + " in .setlist/clips/");
      if (!takes.empty()) parts.push_back(plural(takes.size(), "take", "takes") + " tagged by setlist");
      std::string list;
      for (std::size_t i = 0; i < parts.size(); ++i) list += (i ? ", " : "") + parts[i];
      return refusal(with_out(db.string() + (exists ? " is empty" : " is missing") + ", but OUT holds " + list +
                                  ": a new database would buy those songs again. Nothing was sent" + kRecoverHint,
                              out_dir));
    }
    if (!create) return std::unique_ptr<StateStore>();
    auto fresh = StateStore::open(db);
    if (fresh) try {
        fresh.value()->open_journal();
      } catch (const StateError& e) {
        return refusal(std::string(e.what()) + ". Nothing was sent");
      }
    return fresh;
  }
  if (auto problem = file_problem(db, st)) {
    const bool read_only = problem->find("read-only") != std::string::npos;
    return refusal(with_out(*problem + ". Nothing was sent" + (read_only ? "" : kRecoverHint), out_dir));
  }
  auto store = StateStore::open(db);
  if (!store) {
    auto why = store.error().message;
    if (why.find("not a setlist state database") == std::string::npos &&
        why.find("newer than this setlist") == std::string::npos)
      why = db.string() + " is damaged (" + why + ")";
    return refusal(with_out(why + ". Nothing was sent" + kRecoverHint, out_dir));
  }
  if (check_pages)
    if (auto damage = album_state_damage(*store.value(), out_dir)) return refusal(*damage);
  try {
    const auto jp = journal_path(out_dir);
    const auto from = checked_until(*store.value(), jp);
    Lag lag;
    const auto end = journal_lag(*store.value(), jp, from, lag);
    if (auto message = behind(*store.value(), lag, clip_files(out_dir), out_dir))
      return refusal(with_out(*message + ". Nothing was sent" + kRecoverHint, out_dir));
    if (create) {
      store.value()->open_journal();
      if (end != from)
        if (auto mark = journal_mark(jp, end); !mark.empty()) store.value()->set_meta("journal_checked", mark);
    }
  } catch (const StateError& e) {
    // Pages not checked yet may be what failed: say so as quick_check does.
    if (auto damage = album_state_damage(*store.value(), out_dir)) return refusal(*damage);
    return refusal(std::string(e.what()) + ". Nothing was sent");
  }
  return store;
}


bool check_new_receipts(StateStore& store, const fs::path& out_dir) {
  const auto jp = journal_path(out_dir);
  const auto from = checked_until(store, jp);
  Lag lag;
  const auto end = journal_lag(store, jp, from, lag);
  if (end == from) return true;
  if (lag.any()) return false;
  if (auto mark = journal_mark(jp, end); !mark.empty()) store.set_meta("journal_checked", mark);
  return true;
}

Result<RecoverySummary> recover_state(const fs::path& out_dir) {
  RecoverySummary sum;
  const auto dir = out_dir / ".setlist";
  const auto db = dir / "state.db";
  auto j = read_journal(journal_path(out_dir));
  sum.receipts = static_cast<int>(j.entries.size());
  sum.bad_lines = j.bad_lines;

  std::unique_ptr<StateStore> store;
  struct stat st {};
  if (::lstat(db.c_str(), &st) == 0) {
    if (!(S_ISREG(st.st_mode) && st.st_size == 0)) {
      auto problem = file_problem(db, st);
      if (problem && problem->find("read-only") != std::string::npos) return refusal(*problem);
      if (!problem) {
        auto opened = StateStore::open(db);
        if (opened && !opened.value()->quick_check()) store = std::move(opened.value());
      }
    }
    if (!store) {
      // Damaged, foreign or empty (a -wal beside an empty file may still
      // hold the database): kept aside, never deleted.
      auto aside = dir / ("damaged-" + std::to_string(unix_millis_now()));
      std::error_code ec;
      fs::create_directories(aside, ec);
      for (const char* suffix : {"", "-wal", "-shm"}) {
        auto from = fs::path(db.string() + suffix);
        struct stat fst {};
        if (::lstat(from.c_str(), &fst) != 0) continue;
        fs::rename(from, aside / from.filename(), ec);
        if (ec) return refusal("cannot move " + from.string() + " aside: " + ec.message());
      }
      sum.kept_aside = aside.string();
    }
  }
  if (!store) {
    auto opened = StateStore::open(db);
    if (!opened) return opened.error();
    store = std::move(opened.value());
  }
  // A journal and a database of different albums: which one is this
  // album's cannot be told here, and merging them would mix their receipts.
  {
    std::map<std::int64_t, std::string> owner;
    for (auto& sub : store->all_submissions()) owner[sub.id] = sub.song_key;
    std::size_t disagree = 0;
    for (auto& e : j.entries) {
      if (e.kind == JournalEntry::Kind::intent) {
        auto it = owner.find(e.submission);
        if (it != owner.end() && it->second != e.song_key) ++disagree;
      }
    }
    if (disagree)
      return refusal(std::to_string(disagree) + " submission(s) in the receipts journal belong to other songs in " +
                     db.string() + ": the journal and the database are of different albums. Move away the one "
                     "that is not this album's (" + journal_path(out_dir).string() + " or " + db.string() +
                     "), then run recover again; nothing was changed");
  }
  try {
    store->apply_journal(j.entries, out_dir);
    // Takes on disk with setlist's tags that no receipt names (the journal
    // lost too, or made before it existed), or whose file row was lost.
    std::set<std::string> recorded;
    store->each_file([&](const FileRow& f) { recorded.insert(f.path); });
    auto takes = tagged_takes(out_dir);
    // "Title (B)" -> 1: a take's place comes from its label; adopted in that
    // order, so take A stays A.
    auto label_of = [](std::string& title) {
      int take = 0;
      auto p = title.rfind(" (");
      if (p == std::string::npos || title.back() != ')') return take;
      auto label = title.substr(p + 2, title.size() - p - 3);
      if (label.empty() || !std::all_of(label.begin(), label.end(), [](char c) { return c >= 'A' && c <= 'Z'; }))
        return take;
      for (char c : label) take = take * 26 + (c - 'A' + 1);
      title.erase(p);
      return take - 1;
    };
    std::vector<std::pair<int, TaggedTake*>> ordered;
    for (auto& t : takes) ordered.push_back({label_of(t.ids.title), &t});
    std::stable_sort(ordered.begin(), ordered.end(), [](auto& a, auto& b) {
      return std::tie(a.second->ids.song_key, a.first) < std::tie(b.second->ids.song_key, b.first);
    });
    for (auto& [take, tp] : ordered) {
      auto& t = *tp;
      if (recorded.count(t.rel.string()) && store->has_clip(t.ids.clip_id)) continue;
      auto digest = file_digest(out_dir / t.rel);
      struct stat fst {};
      if (!digest || ::lstat((out_dir / t.rel).c_str(), &fst) != 0) continue;
      FileRow f;
      f.path = t.rel.string();
      f.song_key = t.ids.song_key;
      f.clip_id = t.ids.clip_id;
      f.kind = "audio";
      f.bytes = digest.value().first;
      f.sha256 = digest.value().second;
      f.mtime_ns = static_cast<std::int64_t>(fst.st_mtim.tv_sec) * 1'000'000'000 + fst.st_mtim.tv_nsec;
      const bool known = store->has_clip(f.clip_id);
      store->adopt_take(f, t.ids.title, t.ids.track, take, out_dir);
      if (!known) ++sum.adopted;
    }
  } catch (const StateError& e) {
    return refusal(std::string("recovery stopped: ") + e.what());
  }
  for (auto& s : store->all_submissions()) {
    ++sum.submissions;
    if (s.state == "acked") ++sum.answered;
    if (s.state == "intent" || s.state == "uncertain") ++sum.unanswered;
  }
  auto ids = store->clip_ids();
  sum.clips = static_cast<int>(ids.size());
  store->each_file([&](const FileRow&) { ++sum.files; });
  std::set<std::string> safe;
  for (auto& id : ids) safe.insert(safe_component(id));
  // Clip files no receipt and no take names: their songs cannot be told.
  // Moved (never deleted) to .setlist/clips/unmatched/, so that they do not
  // keep every later run refused.
  for (auto& id : clip_files(out_dir))
    if (!safe.count(id)) {
      std::error_code ec;
      fs::create_directories(dir / "clips" / "unmatched", ec);
      fs::rename(dir / "clips" / (id + ".json"), dir / "clips" / "unmatched" / (id + ".json"), ec);
      ++sum.unmatched_clip_files;
    }
  return sum;
}

}  // namespace setlist
