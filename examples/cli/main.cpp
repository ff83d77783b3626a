// examples/cli/main.cpp: the `tailor` command-line tool; dispatches to the cmd_*.cpp files.
//
// Contract (DESIGN.md): every command has --help; errors go to stderr as
// `tailor: error: <what> (<hint>)` with a non-zero exit, never a crash.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>

#include "cli.hpp"
#include "tailor/version.hpp"

namespace {

void print_usage(std::FILE* to) {
  auto cmds = tailor::cli::commands();
  std::sort(cmds.begin(), cmds.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  std::fprintf(to,
               "usage: tailor COMMAND [options]\n\n"
               "tailor %s: a header-only inference engine for ResNet50 + BERT image-text models.\n\n"
               "commands:\n",
               TAILOR_VERSION_STRING);
  for (const auto& c : cmds) std::fprintf(to, "  %-16s %s\n", c.name.c_str(), c.summary.c_str());
  std::fprintf(to, "\nRun `tailor COMMAND --help` for a command's options. `tailor --version` prints the version.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    print_usage(stderr);
    return 2;
  }
  const std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    print_usage(stdout);
    return 0;
  }
  if (name == "--version") {
    std::printf("tailor %s\n", TAILOR_VERSION_STRING);
    return 0;
  }
  for (const auto& c : tailor::cli::commands()) {
    if (c.name != name) continue;
    try {
      return c.run(argc - 1, argv + 1);
    } catch (const tailor::cli::HelpShown&) {
      return 0;
    } catch (const tailor::cli::UsageError& e) {
      std::fprintf(stderr, "tailor: error: %s (see `tailor %s --help`)\n", e.what(), name.c_str());
      return 2;
    } catch (const tailor::Error& e) {
      std::fprintf(stderr, "tailor: error: %s\n", e.what());
      return 1;
    } catch (const std::bad_alloc&) {
      std::fprintf(stderr, "tailor: error: out of memory (lower the batch size or the input size)\n");
      return 1;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "tailor: error: %s (this is unexpected: please report it)\n", e.what());
      return 1;
    }
  }
  std::fprintf(stderr, "tailor: error: unknown command '%s' (run `tailor --help` for the list)\n", name.c_str());
  return 2;
}
