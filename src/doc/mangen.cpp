// setlist-mangen TEMPLATE VERSION: prints setlist(1) from its
// template (src/doc/setlist.1.in), with the settings and the exit codes
// taken from the tables the program uses for --help, so the page cannot
// drift from them. Built and run at build time; not installed.
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "cli/help_text.hpp"
#include "setlist/settings.hpp"

namespace {

// Text safe inside a roff line: backslashes and hyphens escaped, no line
// starting with a control character.
std::string roff(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\\') out += "\\e";
    else if (c == '-') out += "\\-";
    else out += c;
  }
  if (!out.empty() && (out[0] == '.' || out[0] == '\'')) out.insert(0, "\\&");
  return out;
}

std::string settings_section() {
  std::ostringstream os;
  for (auto name : setlist::setting_names()) {
    auto h = setlist::setting_help(name);
    std::string flag = "--";
    for (char c : name) flag += c == '_' ? '-' : c;
    os << ".TP\n.BI \"" << roff(flag) << " \" " << h.metavar << "\n";
    os << roff(h.meaning) << ".\n.br\n";
    os << "Unit: " << roff(h.unit) << ".\n.br\n";
    os << "Default: " << roff(h.default_text) << ".\n.br\n";
    os << "Manifest: \\fB" << roff(name) << "\\fR; environment: \\fB" << roff(setlist::setting_env_name(name))
       << "\\fR.\n";
  }
  return os.str();
}

std::string exit_status_section() {
  std::ostringstream os;
  for (const auto& [command, codes] : help_text::exit_codes()) {
    os << ".SS " << command << "\n";
    for (const auto& [code, meaning] : codes) os << ".TP\n.B " << code << "\n" << roff(meaning) << "\n";
  }
  return os.str();
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (std::size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size()) s.replace(pos, from.size(), to);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: setlist-mangen TEMPLATE VERSION\n";
    return 2;
  }
  std::ifstream in(argv[1]);
  if (!in) {
    std::cerr << "setlist-mangen: cannot read " << argv[1] << "\n";
    return 1;
  }
  std::stringstream buf;
  buf << in.rdbuf();
  std::string page = buf.str();
  // The settings' lines end without a newline of their own.
  std::string settings = settings_section(), exits = exit_status_section();
  settings.pop_back();
  exits.pop_back();
  replace_all(page, "@SETTINGS@", settings);
  replace_all(page, "@EXIT_STATUS@", exits);
  replace_all(page, "@VERSION@", argv[2]);
  std::cout << page;
  return std::cout ? 0 : 1;
}
