// write_file_atomic and publish against a hostile output folder: links
// planted at the old predictable temporary names and at final names, each
// pointing at a victim file outside OUT.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <regex>

#include "setlist/output.hpp"
#include "test_support.hpp"

using namespace setlist;
namespace fs = std::filesystem;
using setlist::test::read_file;
using setlist::test::TempDir;
using setlist::test::write_file;

namespace {

// OUT and a victim beside it (outside OUT) holding "precious".
struct Scene {
  TempDir dir;
  fs::path out = dir / "out";
  fs::path victim = dir / "victim.txt";
  Scene() {
    fs::create_directories(out);
    write_file(victim, "precious");
  }
  std::vector<std::string> names() const {
    std::vector<std::string> v;
    for (auto& e : fs::directory_iterator(out)) v.push_back(e.path().filename().string());
    std::sort(v.begin(), v.end());
    return v;
  }
};

}  // namespace

TEST(OutputFiles, LinksAtTheOldPredictableTemporaryNamesAreNeverWrittenThrough) {
  Scene s;
  // Before: each of these wrote "<final>.tmp" with O_CREAT|O_TRUNC, through the link.
  for (auto name : {"report.json", "album.m3u8", "01 - Song 1.txt"})
    fs::create_symlink(s.victim, s.out / (std::string(name) + ".tmp"));

  ASSERT_TRUE(write_file_atomic(s.out / "report.json", [](const TextEmit& emit) {
    emit("{\"a\":");
    emit("1}\n");
  }));
  ASSERT_TRUE(write_file_atomic(s.out / "album.m3u8", "#EXTM3U\n"));
  ASSERT_TRUE(write_file_atomic(s.out / "01 - Song 1.txt", "la la\n"));

  EXPECT_EQ(read_file(s.victim), "precious");
  EXPECT_EQ(read_file(s.out / "report.json"), "{\"a\":1}\n");
  EXPECT_EQ(read_file(s.out / "album.m3u8"), "#EXTM3U\n");
  EXPECT_EQ(read_file(s.out / "01 - Song 1.txt"), "la la\n");
  for (auto name : {"report.json", "album.m3u8", "01 - Song 1.txt"}) {
    EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(s.out / name))) << name;
    // The planted links are left as they were (not followed, not used).
    EXPECT_TRUE(fs::is_symlink(s.out / (std::string(name) + ".tmp"))) << name;
  }
  // Nothing else was left behind: the three files and the three links.
  EXPECT_EQ(s.names().size(), 6u);
}

TEST(OutputFiles, TheTemporaryFileHasARandomHiddenNameAndIsFresh) {
  Scene s;
  std::vector<std::string> seen;
  for (int i = 0; i < 2; ++i)
    ASSERT_TRUE(write_file_atomic(s.out / "report.json", [&](const TextEmit& emit) {
      for (auto& e : fs::directory_iterator(s.out))
        if (e.path().filename() != "report.json") {
          seen.push_back(e.path().filename().string());
          struct stat st {};
          ASSERT_EQ(::lstat(e.path().c_str(), &st), 0);
          EXPECT_TRUE(S_ISREG(st.st_mode));
          EXPECT_EQ(st.st_size, 0);
          EXPECT_EQ(st.st_mode & 0022, 0u) << "writable by others";
        }
      emit("x");
    }));
  ASSERT_EQ(seen.size(), 2u);
  std::regex pattern(R"(\.report\.json\.[A-Za-z0-9]{6}\.tmp)");
  for (auto& n : seen) EXPECT_TRUE(std::regex_match(n, pattern)) << n;
  EXPECT_NE(seen[0], seen[1]);
  EXPECT_EQ(s.names(), std::vector<std::string>{"report.json"});

  // A 255-byte name still gets a temporary name the file system accepts.
  std::string longest(251, 'n');
  longest += ".txt";
  ASSERT_TRUE(write_file_atomic(s.out / longest, "y"));
  EXPECT_EQ(read_file(s.out / longest), "y");
}

TEST(OutputFiles, AFinalNameThatIsALinkIsRefusedSayingSo) {
  Scene s;
  fs::create_symlink(s.victim, s.out / "report.json");
  fs::create_symlink(s.victim, s.out / "album.m3u8");
  bool produced = false;
  auto r = write_file_atomic(s.out / "report.json", [&](const TextEmit& emit) {
    produced = true;
    emit("{}");
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::io);
  EXPECT_NE(r.error().message.find("refusing to write " + (s.out / "report.json").string() + ": it is a symbolic link"),
            std::string::npos)
      << r.error().message;
  EXPECT_FALSE(produced);
  auto r2 = write_file_atomic(s.out / "album.m3u8", "#EXTM3U\n");
  ASSERT_FALSE(r2);
  EXPECT_NE(r2.error().message.find("symbolic link"), std::string::npos) << r2.error().message;

  EXPECT_EQ(read_file(s.victim), "precious");
  EXPECT_TRUE(fs::is_symlink(s.out / "report.json"));  // left for the user to look at
  EXPECT_TRUE(fs::is_symlink(s.out / "album.m3u8"));
  EXPECT_EQ(s.names(), (std::vector<std::string>{"album.m3u8", "report.json"}));  // no temporary file left

  // A dangling link is refused too (it would otherwise create its target).
  fs::create_symlink(s.dir / "would-be-created", s.out / "junit.xml");
  EXPECT_FALSE(write_file_atomic(s.out / "junit.xml", "<x/>"));
  EXPECT_FALSE(fs::exists(s.dir / "would-be-created"));

  // Not a regular file.
  fs::create_directories(s.out / "report.html");
  auto r3 = write_file_atomic(s.out / "report.html", "<html>");
  ASSERT_FALSE(r3);
  EXPECT_NE(r3.error().message.find("exists and is not a regular file"), std::string::npos) << r3.error().message;
}

TEST(OutputFiles, PublishRefusesALinkAtTheFinalNameOrAsTheTemporaryFile) {
  Scene s;
  auto part = s.dir / "take.part";
  write_file(part, "audio bytes");
  fs::create_symlink(s.victim, s.out / "01 - Song 1 (A).mp3");
  auto r = publish(part, s.out / "01 - Song 1 (A).mp3");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::io);
  EXPECT_NE(r.error().message.find("is a symbolic link"), std::string::npos) << r.error().message;
  EXPECT_TRUE(fs::is_symlink(s.out / "01 - Song 1 (A).mp3"));
  EXPECT_EQ(read_file(s.victim), "precious");
  EXPECT_EQ(read_file(part), "audio bytes");

  // A temporary file that is itself a link is not published (the link would land in OUT).
  auto linked_part = s.dir / "linked.part";
  fs::create_symlink(s.victim, linked_part);
  auto r2 = publish(linked_part, s.out / "02 - Song 2 (A).mp3");
  ASSERT_FALSE(r2);
  EXPECT_NE(r2.error().message.find("symbolic link"), std::string::npos) << r2.error().message;
  EXPECT_FALSE(fs::exists(fs::symlink_status(s.out / "02 - Song 2 (A).mp3")));

  // The ordinary case still works and replaces a regular file.
  write_file(s.out / "03.mp3", "old");
  ASSERT_TRUE(publish(part, s.out / "03.mp3"));
  EXPECT_EQ(read_file(s.out / "03.mp3"), "audio bytes");
}

// Paths read from state: only relative paths that stay inside OUT, through
// real folders, are used (docs/security.md, "State").
TEST(StatePaths, OnlyRelativePathsThroughRealFoldersInsideOutPass) {
  Scene s;
  fs::create_directories(s.out / "disc 1");
  fs::create_directories(s.dir / "elsewhere");
  fs::create_symlink(s.dir / "elsewhere", s.out / "linked");
  write_file(s.out / "plain.txt", "x");
  for (auto ok : {"01 - Song (A).mp3", "disc 1/01 - Song (A).mp3", ".setlist/clips/abc.json", "not yet/made/x.mp3",
                  "..hidden", "a..b.mp3"})
    EXPECT_FALSE(state_path_problem(s.out, ok)) << ok << ": " << *state_path_problem(s.out, ok);
  struct Case {
    std::string path;
    std::string problem;
  };
  for (auto& c : std::vector<Case>{
           {"", "an empty path"},
           {"/etc/passwd", "an absolute path"},
           {"../victim.txt", "a path that leaves OUT (\"..\")"},
           {"../../../../etc/passwd", "a path that leaves OUT (\"..\")"},
           {"disc 1/../../victim.txt", "a path that leaves OUT (\"..\")"},
           {"disc 1/..", "a path that leaves OUT (\"..\")"},
           {"./x.mp3", "a path that is not in normal form"},
           {"a//b.mp3", "a path that is not in normal form"},
           {"disc\\1.mp3", "a path with a backslash"},
           {std::string("a\0b", 3), "a path with a NUL byte"},
           {"linked/victim.txt", "a path through " + (s.out / "linked").string() +
                                     ", a symbolic link (it may lead outside OUT)"},
           {"plain.txt/x.mp3", "a path through " + (s.out / "plain.txt").string() + ", which is not a folder"},
       }) {
    auto p = state_path_problem(s.out, c.path);
    ASSERT_TRUE(p) << c.path;
    EXPECT_EQ(*p, c.problem) << c.path;
  }
  // The last component is not looked at here; read_out_file never follows it.
  fs::create_symlink(s.victim, s.out / "cover.jpg");
  EXPECT_FALSE(state_path_problem(s.out, "cover.jpg"));
  EXPECT_EQ(read_out_file(s.out, "cover.jpg"), "");
  EXPECT_EQ(read_out_file(s.out, "../victim.txt"), "");
  EXPECT_EQ(read_out_file(s.out, "linked/../../victim.txt"), "");
  EXPECT_EQ(read_out_file(s.out, "plain.txt"), "x");
  EXPECT_EQ(damaged_state_message("../victim.txt", "a path that leaves OUT (\"..\")"),
            "damaged state: a files row names \"../victim.txt\", a path that leaves OUT (\"..\"); it is ignored "
            "(nothing is read, moved or reported through it)");
}
