// The scale-out recipes (#18): jobs/ci/github-actions.yml, jobs/k8s/*.yaml
// and the GNU parallel lines of docs/scaling.md. Neither Actions nor a
// cluster runs here, so each file is parsed (YAML, the fields the engine
// needs), every setlist command in it must name real commands and flags, and
// the same commands are run locally, against setlist-sim, in the layout the
// engine would give them (artifacts in shards/, the volume in data/).
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <regex>
#include <set>
#include <sstream>

#include "integration_support.hpp"

using namespace setlist::test;

namespace {

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (std::size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size())
    s.replace(pos, from.size(), to);
}

std::set<std::string> words_of_help(const std::vector<std::string>& args) {
  auto r = run_setlist(args);
  std::set<std::string> out;
  std::regex flag("(--[a-z][a-z0-9-]*)");
  for (std::sregex_iterator it(r.out.begin(), r.out.end(), flag), end; it != end; ++it) out.insert((*it)[1].str());
  return out;
}

std::set<std::string> subcommands() {
  auto r = run_setlist({"--help"});
  std::set<std::string> out;
  bool on = false;
  std::istringstream in(r.out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Subcommands:", 0) == 0) {
      on = true;
      continue;
    }
    if (on && line.find_first_not_of(' ') == std::string::npos) break;
    if (on) {
      std::istringstream w(line);
      std::string name;
      w >> name;
      out.insert(name);
    }
  }
  return out;
}

// Every `setlist CMD --flag ...` in `text`: CMD is a command, each --flag one it takes.
int check_setlist_commands(const std::string& text, const std::string& where) {
  static const auto commands = subcommands();
  static std::map<std::string, std::set<std::string>> flags;
  std::regex call("setlist ([a-z]+)([^\\n;&|`#]*)");
  int seen = 0;
  for (std::sregex_iterator it(text.begin(), text.end(), call), end; it != end; ++it) {
    std::string cmd = (*it)[1].str();
    if (cmd == "sim") continue;  // setlist-sim
    ++seen;
    EXPECT_TRUE(commands.count(cmd)) << where << ": `setlist " << cmd << "` is not a command";
    if (!commands.count(cmd)) continue;
    if (!flags.count(cmd)) flags[cmd] = words_of_help({cmd, "--help"});
    std::string rest = (*it)[2].str();
    std::regex flag("(^|\\s)(--[a-z][a-z0-9-]*)");
    for (std::sregex_iterator f(rest.begin(), rest.end(), flag), fend; f != fend; ++f)
      EXPECT_TRUE(flags[cmd].count((*f)[2].str()))
          << where << ": `setlist " << cmd << "` takes no " << (*f)[2].str() << " (" << (*it)[0].str() << ")";
  }
  return seen;
}

// The code of a Markdown page: fenced blocks and `inline` spans.
std::string markdown_code(const std::string& md) {
  std::string code;
  bool fenced = false;
  std::istringstream in(md);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("```", 0) == 0) {
      fenced = !fenced;
      continue;
    }
    if (fenced) {
      code += line + "\n";
      continue;
    }
    for (auto open = line.find('`'); open != std::string::npos; open = line.find('`', open)) {
      auto close = line.find('`', open + 1);
      if (close == std::string::npos) break;
      code += line.substr(open + 1, close - open - 1) + "\n";
      open = close + 1;
    }
  }
  return code;
}

Env local_env(const Sim& sim) {
  return {{"PATH", setlist_bin().parent_path().string() + ":/usr/bin:/bin"},
          {"SETLIST_BASE_URL", sim.base_url()},
          {"SETLIST_POLL_INTERVAL", "100ms"},
          {"SETLIST_POLL_INTERVAL_MAX", "400ms"},
          {"SETLIST_RETRY_BASE", "50ms"},
          {"SETLIST_RETRY_CAP", "500ms"},
          {"AIML_API_KEY", kTestKey},
          {"GITHUB_STEP_SUMMARY", "\x01unset"}};
}

RunResult sh(const std::string& command, const fs::path& cwd, Env env) {
  return run({"/bin/sh", "-c", command}, env, std::chrono::minutes(2), cwd);
}

void expect_merged_album(const fs::path& album, int songs) {
  EXPECT_EQ(run_setlist({"verify", album.string()}).exit_code, 0);
  auto st = statuses(album);
  EXPECT_EQ(st.size(), static_cast<std::size_t>(songs));
  for (auto& [title, status] : st) EXPECT_EQ(status, "complete") << title;
  // Nothing to do on the album: every take on disk as its row says (size,
  // SHA-256 and modification time, though the copies here lost theirs).
  auto s = run_setlist({"status", album.string()});
  std::istringstream rows(s.out);
  std::string row;
  std::getline(rows, row);
  while (std::getline(rows, row)) EXPECT_NE(row.find(" unchanged "), std::string::npos) << row;
}

}  // namespace

TEST(Recipes, GithubActionsWorkflowParsesAndItsCommandsMakeTheAlbum) {
  const auto file = source_dir() / "jobs" / "ci" / "github-actions.yml";
  YAML::Node wf = YAML::LoadFile(file.string());
  ASSERT_TRUE(wf["name"]);
  ASSERT_TRUE(wf["on"]["schedule"].IsSequence()) << "nightly";
  ASSERT_TRUE(wf["on"]["schedule"][0]["cron"]);
  const int shards = std::stoi(wf["env"]["SHARDS"].as<std::string>());
  auto shard_job = wf["jobs"]["shard"];
  auto matrix = shard_job["strategy"]["matrix"]["shard"];
  ASSERT_TRUE(matrix.IsSequence());
  ASSERT_EQ(static_cast<int>(matrix.size()), shards) << "the matrix and SHARDS agree";
  for (int i = 0; i < shards; ++i) EXPECT_EQ(matrix[i].as<int>(), i);
  EXPECT_FALSE(shard_job["strategy"]["fail-fast"].as<bool>()) << "a failing shard must not cancel the others";
  auto merge_job = wf["jobs"]["merge"];
  EXPECT_EQ(merge_job["needs"].as<std::string>(), "shard");
  EXPECT_EQ(merge_job["if"].as<std::string>(), "always()");
  std::set<std::string> uses;
  std::vector<std::string> shard_runs, merge_runs;
  for (auto step : shard_job["steps"]) {
    if (step["uses"]) {
      auto u = step["uses"].as<std::string>();
      uses.insert(u.substr(0, u.find('@')));
      if (u.starts_with("actions/cache/save")) {
        EXPECT_EQ(step["if"].as<std::string>(), "always()");
      }
      if (u.starts_with("actions/cache/")) {
        EXPECT_EQ(step["with"]["path"].as<std::string>(), "out/shard-${{ matrix.shard }}");
      }
      if (u.starts_with("actions/upload-artifact")) {
        EXPECT_TRUE(step["with"]["include-hidden-files"].as<bool>()) << ".setlist/ must travel with the shard";
        EXPECT_EQ(step["with"]["name"].as<std::string>(), "shard-${{ matrix.shard }}");
      }
    }
    if (step["run"] && step["run"].as<std::string>().rfind("setlist ", 0) == 0)
      shard_runs.push_back(step["run"].as<std::string>());
  }
  for (const char* needed : {"actions/checkout", "actions/cache/restore", "actions/cache/save",
                             "actions/upload-artifact"})
    EXPECT_TRUE(uses.count(needed)) << needed;
  for (auto step : merge_job["steps"]) {
    if (step["uses"] && step["uses"].as<std::string>().starts_with("actions/download-artifact")) {
      EXPECT_EQ(step["with"]["path"].as<std::string>(), "shards");
    }
    if (step["run"] && step["run"].as<std::string>().rfind("setlist ", 0) == 0)
      merge_runs.push_back(step["run"].as<std::string>());
  }
  EXPECT_GE(check_setlist_commands(read_file(file), file.string()), 5);

  // The same steps, here: each shard's commands in its job's workspace, the
  // artifacts downloaded to shards/shard-I, then the merge job's commands.
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(8));
  Sim sim(dir.path(), fast_sim_args());
  auto env = local_env(sim);
  env["MANIFEST"] = "album.yaml";
  env["SHARDS"] = std::to_string(shards);
  for (int i = 0; i < shards; ++i) {
    for (auto cmd : shard_runs) {
      replace_all(cmd, "${{ matrix.shard }}", std::to_string(i));
      auto r = sh(cmd, dir.path(), env);
      ASSERT_EQ(r.exit_code, 0) << cmd << "\n" << r.err;
    }
    fs::create_directories(dir / "shards");
    fs::copy(dir / ("out/shard-" + std::to_string(i)), dir / ("shards/shard-" + std::to_string(i)),
             fs::copy_options::recursive);
  }
  for (auto& cmd : merge_runs) {
    auto r = sh(cmd, dir.path(), env);
    ASSERT_EQ(r.exit_code, 0) << cmd << "\n" << r.out << r.err;
  }
  expect_merged_album(dir / "album", 8);
  EXPECT_EQ(sim.stats().as_object().at("duplicate_submissions").as_int64(), 0);
}

TEST(Recipes, KubernetesIndexedJobAndMergeJobParseAndTheirCommandsMakeTheAlbum) {
  const auto dir_k8s = source_dir() / "jobs" / "k8s";
  auto volume = YAML::LoadFile((dir_k8s / "volume.yaml").string());
  EXPECT_EQ(volume["kind"].as<std::string>(), "PersistentVolumeClaim");
  EXPECT_EQ(volume["spec"]["accessModes"][0].as<std::string>(), "ReadWriteMany");
  const auto claim = volume["metadata"]["name"].as<std::string>();

  auto job = YAML::LoadFile((dir_k8s / "shards-job.yaml").string());
  EXPECT_EQ(job["apiVersion"].as<std::string>(), "batch/v1");
  EXPECT_EQ(job["kind"].as<std::string>(), "Job");
  auto spec = job["spec"];
  EXPECT_EQ(spec["completionMode"].as<std::string>(), "Indexed");
  const int n = spec["completions"].as<int>();
  EXPECT_EQ(spec["parallelism"].as<int>(), n) << "completions = parallelism = N";
  auto pod = spec["template"]["spec"];
  EXPECT_EQ(pod["restartPolicy"].as<std::string>(), "Never");
  auto c = pod["containers"][0];
  EXPECT_FALSE(c["image"].as<std::string>().empty());
  std::vector<std::string> args;
  for (auto a : c["args"]) args.push_back(a.as<std::string>());
  ASSERT_GE(args.size(), 4u);
  EXPECT_EQ(args[0], "run");
  auto shard_at = std::find(args.begin(), args.end(), "--shard");
  ASSERT_NE(shard_at, args.end());
  EXPECT_EQ(*(shard_at + 1), "auto/" + std::to_string(n)) << "--shard auto/N with the Job's N";
  auto out_at = std::find(args.begin(), args.end(), "-o");
  ASSERT_NE(out_at, args.end());
  EXPECT_NE((out_at + 1)->find("$(JOB_COMPLETION_INDEX)"), std::string::npos) << "each index its own folder";
  EXPECT_EQ(pod["volumes"][0]["persistentVolumeClaim"]["claimName"].as<std::string>(), claim);
  bool key_from_secret = false;
  for (auto e : c["env"])
    if (e["name"].as<std::string>() == "AIML_API_KEY") key_from_secret = bool(e["valueFrom"]["secretKeyRef"]);
  EXPECT_TRUE(key_from_secret) << "the key comes from a Secret, never from the manifest of the Job";
  std::string shard_cmd = "setlist";
  for (auto& a : args) shard_cmd += " " + a;

  auto merge = YAML::LoadFile((dir_k8s / "merge-job.yaml").string());
  EXPECT_EQ(merge["kind"].as<std::string>(), "Job");
  auto mc = merge["spec"]["template"]["spec"]["containers"][0];
  EXPECT_EQ(merge["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"].as<std::string>(),
            claim);
  std::string merge_cmd = mc["args"][0].as<std::string>();
  EXPECT_EQ(mc["command"][0].as<std::string>(), "/bin/sh");
  EXPECT_EQ(check_setlist_commands(shard_cmd, "shards-job.yaml"), 1);
  EXPECT_EQ(check_setlist_commands(merge_cmd, "merge-job.yaml"), 2);
  EXPECT_GE(check_setlist_commands(markdown_code(read_file(dir_k8s / "README.md")), "jobs/k8s/README.md"), 2);

  // The Job's pods, here: one process per index with JOB_COMPLETION_INDEX
  // set (Kubernetes expands $(VAR) from the container's environment), the
  // volume a folder; then the merge Job's shell line.
  TempDir dir;
  fs::create_directories(dir / "manifest");
  write_file(dir / "manifest" / "album.yaml", album_yaml(6));
  Sim sim(dir.path(), fast_sim_args());
  auto env = local_env(sim);
  std::vector<std::unique_ptr<Process>> pods;
  for (int i = 0; i < n; ++i) {
    std::vector<std::string> argv = {setlist_bin().string()};
    for (auto a : args) {
      replace_all(a, "$(JOB_COMPLETION_INDEX)", std::to_string(i));
      replace_all(a, "/manifest/", (dir / "manifest").string() + "/");
      replace_all(a, "/data/", (dir / "data").string() + "/");
      argv.push_back(a);
    }
    auto pod_env = env;
    pod_env["JOB_COMPLETION_INDEX"] = std::to_string(i);
    pods.push_back(std::make_unique<Process>(argv, pod_env, dir / ("pod" + std::to_string(i) + ".out"),
                                             dir / ("pod" + std::to_string(i) + ".err")));
  }
  for (auto& p : pods) {
    ASSERT_TRUE(p->wait(std::chrono::minutes(2)));
    EXPECT_EQ(p->exit_code(), 0) << p->err();
  }
  replace_all(merge_cmd, "/data/", (dir / "data").string() + "/");
  auto r = sh(merge_cmd, dir.path(), env);
  ASSERT_EQ(r.exit_code, 0) << merge_cmd << "\n" << r.out << r.err;
  expect_merged_album(dir / "data" / "album", 6);
}

// docs/scaling.md's GNU parallel lines: real commands and flags; the one for
// a single machine run with a shell in place of parallel (each {} a value).
TEST(Recipes, GnuParallelLinesInTheDocsAreRealCommands) {
  const auto doc = read_file(source_dir() / "docs" / "scaling.md");
  std::istringstream in(doc);
  std::string line;
  std::vector<std::string> lines;
  while (std::getline(in, line))
    if (line.rfind("parallel ", 0) == 0) lines.push_back(line);
  ASSERT_GE(lines.size(), 2u) << "one machine and several over SSH";
  for (auto& l : lines) EXPECT_GE(check_setlist_commands(l, "docs/scaling.md"), 1) << l;
  std::istringstream readme(read_file(source_dir() / "README.md"));
  std::string recipe_lines;
  while (std::getline(readme, line))
    if (line.find("--shard") != std::string::npos || line.find("setlist merge") != std::string::npos)
      recipe_lines += line + "\n";
  EXPECT_GE(check_setlist_commands(recipe_lines, "README.md"), 2);

  // "parallel OPTIONS setlist run ... {} ... ::: 0 1 2 3 && setlist merge ..."
  const auto& local = lines.front();
  auto start = local.find("setlist run"), sep = local.find(" ::: ");
  ASSERT_NE(start, std::string::npos);
  ASSERT_NE(sep, std::string::npos);
  std::string templ = local.substr(start, sep - start);
  auto after = local.find(" && ", sep);
  std::istringstream values(local.substr(sep + 5, after == std::string::npos ? std::string::npos : after - sep - 5));
  TempDir dir;
  write_file(dir / "album.yaml", album_yaml(5));
  Sim sim(dir.path(), fast_sim_args());
  std::string script;
  std::string v;
  int jobs = 0;
  while (values >> v) {
    auto cmd = templ;
    replace_all(cmd, "{}", v);
    script += cmd + " & ";
    ++jobs;
  }
  ASSERT_GE(jobs, 2);
  script += "wait";
  if (after != std::string::npos) script += " && " + local.substr(after + 4);
  auto r = sh(script, dir.path(), local_env(sim));
  ASSERT_EQ(r.exit_code, 0) << script << "\n" << r.out << r.err;
  ASSERT_NE(local.find("-o out/album"), std::string::npos) << local;
  expect_merged_album(dir / "out" / "album", 5);
}
