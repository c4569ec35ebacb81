// jobs/setlist.schema.json: every example manifest validates against it,
// it agrees with the loader's settings and models, and it rejects the
// mistakes editors should flag. The checker below implements the subset of
// JSON Schema draft-07 the schema uses, and fails on any other keyword.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <boost/json.hpp>
#include <filesystem>
#include <regex>
#include <set>

#include "manifest/text.hpp"
#include "setlist/manifest.hpp"
#include "setlist/provider.hpp"
#include "setlist/settings.hpp"
#include "test_support.hpp"

namespace setlist {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

// YAML -> JSON with the YAML 1.2 core schema for plain scalars.
json::value to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      json::object o;
      for (auto it = n.begin(); it != n.end(); ++it) o[it->first.Scalar()] = to_json(it->second);
      return o;
    }
    case YAML::NodeType::Sequence: {
      json::array a;
      for (auto it = n.begin(); it != n.end(); ++it) a.push_back(to_json(*it));
      return a;
    }
    case YAML::NodeType::Scalar: {
      const std::string& s = n.Scalar();
      if (n.Tag() == "!") return json::value(s);  // quoted
      static const std::regex integer("[-+]?[0-9]+");
      static const std::regex real("[-+]?([0-9]+\\.[0-9]*|\\.[0-9]+)([eE][-+]?[0-9]+)?");
      if (s == "true" || s == "True" || s == "TRUE") return json::value(true);
      if (s == "false" || s == "False" || s == "FALSE") return json::value(false);
      if (s == "null" || s == "~" || s.empty()) return nullptr;
      if (std::regex_match(s, integer)) return json::value(std::stoll(s));
      if (std::regex_match(s, real)) return json::value(std::stod(s));
      return json::value(s);
    }
    default:
      return nullptr;
  }
}

class SchemaChecker {
 public:
  explicit SchemaChecker(json::value root) : root_(std::move(root)) {}

  std::vector<std::string> check(const json::value& v) {
    errors_.clear();
    walk(root_, v, "");
    std::sort(errors_.begin(), errors_.end());
    return errors_;
  }

 private:
  const json::value& resolve(const json::value& s) {
    const auto& o = s.as_object();
    auto ref = o.find("$ref");
    if (ref == o.end()) return s;
    std::string r(ref->value().as_string());
    const std::string prefix = "#/definitions/";
    if (!r.starts_with(prefix)) throw std::runtime_error("unsupported $ref " + r);
    return resolve(root_.at("definitions").at(r.substr(prefix.size())));
  }

  static bool has_type(const json::value& v, std::string_view t) {
    if (t == "object") return v.is_object();
    if (t == "array") return v.is_array();
    if (t == "string") return v.is_string();
    if (t == "boolean") return v.is_bool();
    if (t == "null") return v.is_null();
    if (t == "integer") return v.is_int64() || v.is_uint64();
    if (t == "number") return v.is_number();
    throw std::runtime_error("unknown type " + std::string(t));
  }

  static double number(const json::value& v) { return v.to_number<double>(); }

  bool valid(const json::value& schema, const json::value& v, const std::string& at) {
    auto saved = errors_;
    errors_.clear();
    walk(schema, v, at);
    bool ok = errors_.empty();
    errors_ = std::move(saved);
    return ok;
  }

  void fail(const std::string& at, const std::string& what) {
    errors_.push_back((at.empty() ? std::string("/") : at) + ": " + what);
  }

  void walk(const json::value& schema_in, const json::value& v, const std::string& at) {
    const json::value& schema = resolve(schema_in);
    for (const auto& [key_sv, rule] : schema.as_object()) {
      std::string key(key_sv);
      if (key == "$ref" || key == "$schema" || key == "$id" || key == "title" ||
          key == "description" || key == "definitions" || key == "default" || key == "examples") {
        continue;
      } else if (key == "type") {
        bool ok = false;
        if (rule.is_string()) {
          ok = has_type(v, rule.as_string());
        } else {
          for (const auto& t : rule.as_array()) ok = ok || has_type(v, t.as_string());
        }
        if (!ok) fail(at, "wrong type, expected " + json::serialize(rule));
      } else if (key == "enum") {
        bool ok = false;
        for (const auto& e : rule.as_array()) ok = ok || e == v;
        if (!ok) fail(at, json::serialize(v) + " not in enum " + json::serialize(rule));
      } else if (key == "required") {
        if (!v.is_object()) continue;
        for (const auto& r : rule.as_array()) {
          if (!v.as_object().contains(r.as_string())) {
            fail(at, "missing " + std::string(r.as_string()));
          }
        }
      } else if (key == "properties") {
        if (!v.is_object()) continue;
        for (const auto& [name, sub] : rule.as_object()) {
          if (auto* p = v.as_object().if_contains(name)) {
            walk(sub, *p, at + "/" + std::string(name));
          }
        }
      } else if (key == "additionalProperties") {
        if (!v.is_object()) continue;
        if (!rule.is_bool()) throw std::runtime_error("additionalProperties must be a bool here");
        if (rule.as_bool()) continue;
        const auto& props = schema.as_object().at("properties").as_object();
        for (const auto& [name, val] : v.as_object()) {
          if (!props.contains(name)) fail(at, "unknown property " + std::string(name));
        }
      } else if (key == "items") {
        if (!v.is_array()) continue;
        std::size_t i = 0;
        for (const auto& item : v.as_array()) walk(rule, item, at + "/" + std::to_string(i++));
      } else if (key == "minItems") {
        if (v.is_array() && v.as_array().size() < rule.to_number<std::size_t>()) {
          fail(at, "too few items");
        }
      } else if (key == "minLength" || key == "maxLength") {
        if (!v.is_string()) continue;
        std::size_t n = text::utf8_length(v.as_string());
        std::size_t limit = rule.to_number<std::size_t>();
        if (key == "minLength" ? n < limit : n > limit) fail(at, key + " " + std::to_string(limit));
      } else if (key == "pattern") {
        if (!v.is_string()) continue;
        std::regex re(std::string(rule.as_string()), std::regex::ECMAScript);
        if (!std::regex_search(std::string(v.as_string()), re)) {
          fail(at, json::serialize(v) + " does not match " + std::string(rule.as_string()));
        }
      } else if (key == "minimum" || key == "maximum" || key == "exclusiveMinimum") {
        if (!v.is_number()) continue;
        double x = number(v), limit = number(rule);
        bool bad = key == "minimum" ? x < limit : key == "maximum" ? x > limit : x <= limit;
        if (bad) fail(at, key + " " + json::serialize(rule));
      } else if (key == "anyOf" || key == "oneOf") {
        int matches = 0;
        for (const auto& sub : rule.as_array()) matches += valid(sub, v, at) ? 1 : 0;
        if (matches == 0 || (key == "oneOf" && matches > 1)) fail(at, "does not match " + key);
      } else if (key == "allOf") {
        for (const auto& sub : rule.as_array()) walk(sub, v, at);
      } else if (key == "not") {
        if (valid(rule, v, at)) fail(at, "matches a forbidden shape");
      } else {
        throw std::runtime_error("schema keyword not supported by this checker: " + key);
      }
    }
  }

  json::value root_;
  std::vector<std::string> errors_;
};

json::value load_schema() {
  return json::parse(test::read_file(test::source_dir() / "jobs/setlist.schema.json"));
}

std::vector<std::string> check_yaml(const std::string& yaml) {
  SchemaChecker checker(load_schema());
  return checker.check(to_json(YAML::Load(yaml)));
}

TEST(ManifestSchema, IsDraft07) {
  auto schema = load_schema();
  EXPECT_EQ(schema.at("$schema"), "http://json-schema.org/draft-07/schema#");
}

TEST(ManifestSchema, EveryExampleManifestValidates) {
  int count = 0;
  for (const auto& e : fs::directory_iterator(test::source_dir() / "jobs")) {
    auto ext = e.path().extension();
    if (!e.is_regular_file() || (ext != ".yaml" && ext != ".yml")) continue;
    ++count;
    EXPECT_EQ(check_yaml(test::read_file(e.path())), std::vector<std::string>{}) << e.path();
  }
  EXPECT_GT(count, 0);
}

TEST(ManifestSchema, SettingsMatchTheLoader) {
  auto schema = load_schema();
  std::set<std::string> in_schema;
  for (const auto& [k, v] : schema.at("properties").at("settings").at("properties").as_object()) {
    in_schema.insert(std::string(k));
  }
  std::set<std::string> in_code(setting_names().begin(), setting_names().end());
  EXPECT_EQ(in_schema, in_code);

  std::set<std::string> providers;
  for (const auto& p : provider_infos()) providers.insert(p.name);
  std::set<std::string> provider_enum;
  for (const auto& p : schema.at("properties")
                           .at("settings")
                           .at("properties")
                           .at("provider")
                           .at("enum")
                           .as_array()) {
    provider_enum.insert(std::string(p.as_string()));
  }
  EXPECT_EQ(provider_enum, providers);

  std::set<std::string> models;
  for (const auto& p : provider_infos()) {
    for (const auto& m : p.models) models.insert(m.name);
  }
  std::set<std::string> model_enum;
  for (const auto& m : schema.at("definitions").at("model").at("enum").as_array()) {
    model_enum.insert(std::string(m.as_string()));
  }
  EXPECT_EQ(model_enum, models);
}

TEST(ManifestSchema, RejectsCommonMistakes) {
  using V = std::vector<std::string>;
  EXPECT_EQ(check_yaml("album: {title: A}\nsongs: []\n"), V{"/songs: too few items"});
  EXPECT_EQ(check_yaml("album: {artist: B}\nsongs: [{lyric: x}]\n"),
            (V{"/album: missing title", "/songs/0: missing title",
               "/songs/0: unknown property lyric"}));  // sorted
  EXPECT_EQ(check_yaml("album: {title: A}\nsongs: [{title: S, lyrics: x, description: y}]\n"),
            V{"/songs/0: matches a forbidden shape"});
  EXPECT_EQ(check_yaml("album: {title: A}\n"
                       "songs: [{title: S, lyrics: x, model: \"chirp-v3-5|chirp-v3-0\"}]\n"),
            V{"/songs/0/model: \"chirp-v3-5|chirp-v3-0\" not in enum "
              "[\"minimax/music-2.6\",\"minimax/music-2.0\",\"minimax/music-1.5\","
              "\"elevenlabs/eleven_music\",\"google/lyria2\",\"stable-audio\",\"chirp-v3-5\","
              "\"chirp-v3-0\",\"V4\",\"V4_5\",\"V4_5PLUS\",\"V4_5ALL\",\"V5\"]"});
  EXPECT_EQ(check_yaml("album: {title: A}\nsettings: {poll_interval: 5, submit_rate: fast}\n"
                       "songs: [{title: S, make_instrumental: \"true\"}]\n"),
            (V{"/settings/poll_interval: wrong type, expected \"string\"",
               "/settings/submit_rate: does not match anyOf",  // sorted
               "/songs/0/make_instrumental: wrong type, expected \"boolean\""}));
  EXPECT_EQ(check_yaml("album: {title: A}\nsettings: {submit_rate: 10/min, poll_interval: 1m30s,"
                       " budget_tokens: none, cost_per_request: 157500}\n"
                       "songs: [{title: S, tags: [a, b], track: 3}]\n"),
            V{});
}

TEST(ManifestSchema, KnowsTheNewSongKeysAndTypes) {
  using V = std::vector<std::string>;
  EXPECT_EQ(check_yaml("album: {title: A}\ndefaults: {length: 90s, seed: 7, takes: 2}\n"
                       "settings: {provider: sunoapi, callback_url: \"https://hooks.example.test/cb\"}\n"
                       "songs: [{title: S, tags: x, length: 1m30s, seed: 0, takes: 3, model: V5}]\n"),
            V{});
  EXPECT_EQ(check_yaml("album: {title: A}\n"
                       "songs: [{title: 12345, tags: 42, length: 90, seed: -1, takes: 0}]\n"),
            (V{"/songs/0/length: wrong type, expected \"string\"", "/songs/0/seed: minimum 0",
               "/songs/0/tags: does not match anyOf", "/songs/0/takes: minimum 1",
               "/songs/0/title: wrong type, expected \"string\""}));
  EXPECT_EQ(check_yaml("album: {title: A}\nsongs: [{title: S, tags: true}]\n"),
            V{"/songs/0/tags: does not match anyOf"});
}


// Every key the schema knows, given a value of each JSON type (and a quoted
// number): whenever the schema refuses the value, the loader must refuse it
// too, with an error on that key's line. The loader may be stricter (files
// must exist...), never looser, so `validate` and an editor agree.
TEST(ManifestSchema, TheLoaderRefusesEveryValueTheSchemaRefuses) {
  const json::value schema = load_schema();
  auto props = [&](const json::value& node) -> const json::object& {
    const json::value* n = &node;
    while (n->as_object().contains("$ref")) {
      std::string r(n->as_object().at("$ref").as_string());
      n = &schema.at("definitions").at(r.substr(std::string("#/definitions/").size()));
    }
    return n->as_object().at("properties").as_object();
  };
  struct Section {
    std::string name;  // album, songs, defaults, settings
    const json::object* keys;
  };
  std::vector<Section> sections = {
      {"album", &props(schema.at("properties").at("album"))},
      {"songs", &props(schema.at("properties").at("songs").at("items"))},
      {"defaults", &props(schema.at("properties").at("defaults"))},
      {"settings", &props(schema.at("properties").at("settings"))},
  };
  const std::vector<std::string> values = {"42", "true", "1.5", "\"42\"", "[a]", "{a: 1}", "-3"};
  SchemaChecker checker(schema);
  int refused = 0;
  for (const auto& sec : sections) {
    for (const auto& [key_sv, rule] : *sec.keys) {
      const std::string key(key_sv);
      for (const auto& value : values) {
        // The key sits on line 3 of every document.
        std::string doc;
        const std::string line = "  " + key + ": " + value + "\n";
        if (sec.name == "album") {
          doc = "songs: [{title: S, lyrics: la la la la la la la}]\nalbum:\n" + line;
          if (key != "title") doc += "  title: A\n";
        } else if (sec.name == "songs") {
          doc = "album: {title: A}\nsongs:\n  - " + key + ": " + value + "\n";
          if (key != "title") doc += "    title: S\n";
          if (key != "lyrics" && key != "lyrics_file" && key != "description") doc += "    lyrics: la la la la\n";
        } else {
          doc = "album: {title: A}\n" + sec.name + ":\n" + line + "songs:\n  - {title: S, lyrics: la la la la la la}\n";
        }
        const std::string where = "/" + sec.name + (sec.name == "songs" ? "/0/" : "/") + key;
        bool schema_refuses = false;
        for (const auto& e : checker.check(to_json(YAML::Load(doc))))
          schema_refuses = schema_refuses || e.starts_with(where + ":");
        if (!schema_refuses) continue;
        ++refused;
        auto r = parse_manifest(doc, "m.yaml", fs::temp_directory_path());
        bool error_on_line = false;
        for (const auto& d : r.diagnostics)
          error_on_line = error_on_line || (d.severity == Diagnostic::Severity::error && d.pos.line == 3);
        EXPECT_TRUE(error_on_line) << where << ": " << value
                                   << " is refused by the schema but not by the loader:\n"
                                   << doc;
      }
    }
  }
  EXPECT_GT(refused, 100);  // the table above really exercised the types
}

}  // namespace
}  // namespace setlist
