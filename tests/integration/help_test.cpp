// What --help and --version print: each setting's unit and default, each
// command's own exit codes, and the programs' names.
#include <gtest/gtest.h>

#include <regex>

#include "integration_support.hpp"

using namespace setlist::test;

namespace {

std::string help_of(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {setlist_bin().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = run(argv);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.out;
}

// The block after "Exit codes:" in a help page.
std::string exit_codes_section(const std::string& help) {
  auto at = help.find("Exit codes:");
  return at == std::string::npos ? "" : help.substr(at);
}

}  // namespace

TEST(Help, ASettingFlagShowsItsUnitDefaultAndMeaning) {
  auto h = help_of({"run", "--help"});
  EXPECT_NE(h.find("--max-download-size SIZE"), std::string::npos) << h;
  EXPECT_NE(h.find("default 512MiB"), std::string::npos) << h;
  EXPECT_NE(h.find("a larger file is refused"), std::string::npos) << h;
  EXPECT_NE(h.find("--submit-rate RATE"), std::string::npos) << h;
  EXPECT_NE(h.find("default 2/s (sunoapi: 1.5/s)"), std::string::npos) << h;
  EXPECT_NE(h.find("env SETLIST_SUBMIT_RATE"), std::string::npos) << h;
}

TEST(Help, ConfigHelpDoesNotSendTheReaderToItself) {
  auto h = help_of({"config", "--help"});
  // Each setting flag said "(see `setlist config`)": here, that is itself.
  EXPECT_EQ(h.find("`setlist config`"), std::string::npos) << h;
  EXPECT_NE(h.find("--poll-interval DURATION"), std::string::npos) << h;
}

TEST(Help, VerifyListsItsOwnExitCodesNotRuns) {
  auto codes = exit_codes_section(help_of({"verify", "--help"}));
  EXPECT_NE(codes.find("1    some files are missing or changed"), std::string::npos) << codes;
  EXPECT_NE(codes.find("3    OUT has no setlist state"), std::string::npos) << codes;
  EXPECT_EQ(codes.find("130"), std::string::npos) << codes;
  EXPECT_EQ(codes.find("every song complete"), std::string::npos) << codes;
}

TEST(Help, RunListsItsExitCodes) {
  auto codes = exit_codes_section(help_of({"run", "--help"}));
  EXPECT_NE(codes.find("0    every song complete"), std::string::npos) << codes;
  EXPECT_NE(codes.find("130  interrupted"), std::string::npos) << codes;
}

TEST(Help, ValidateSaysTwoForErrors) {
  auto codes = exit_codes_section(help_of({"validate", "--help"}));
  EXPECT_NE(codes.find("2    the manifest has errors"), std::string::npos) << codes;
  EXPECT_EQ(codes.find("1 "), std::string::npos) << codes;
}

TEST(Help, VersionNamesTheVersionAndTheCommit) {
  auto r = run({setlist_bin().string(), "--version"});
  EXPECT_EQ(r.exit_code, 0);
  // A commit hash (12 hex digits, maybe -dirty), or "unknown" outside git.
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(^setlist \d+\.\d+\.\d+ \(git ([0-9a-f]{12}(-dirty)?|unknown)\)\n$)")))
      << r.out;
}

TEST(Help, TheSimulatorNamesItself) {
  auto r = run({sim_bin().string(), "--help"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Usage: setlist-sim"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("listening on URL"), std::string::npos) << r.out;
}
