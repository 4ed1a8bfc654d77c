// amk-fmt: print AMKIR schedules in canonical form, check that they are, or print their core form;
// or print the op reference (docs/amkir.md section 12) from the registry.
#include "amk/ir/frontend.h"
#include "amk/ir/ops.h"
#include "amk/ir/printer.h"
#include "amk/version.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <fstream>
#include <iostream>

namespace {

enum ExitCode { kOk = 0, kNotCanonical = 1, kBadInput = 2, kInternal = 101 };

void reportDiagnostics(const amk::ir::Schedule &schedule, const std::string &path, bool json) {
  if (json && !schedule.source) {
    // The file could not be read: the same JSON shape, with no range.
    for (const amk::ir::Diagnostic &d : schedule.diagnostics.all())
      std::cerr << nlohmann::json{{"severity", "error"},
                                  {"rule", d.ruleId},
                                  {"file", path},
                                  {"message", schedule.readError},
                                  {"notes", nlohmann::json::array()}}
                       .dump()
                << "\n";
    return;
  }
  if (!json) {
    std::cerr << schedule.renderDiagnostics();
    return;
  }
  for (const amk::ir::Diagnostic &d : schedule.diagnostics.all())
    std::cerr << amk::ir::toJson(d, *schedule.source).dump() << "\n";
}

int run(int argc, char **argv) {
  CLI::App app{"amk-fmt: canonical formatting of AMKIR schedules"};
  app.set_version_flag("--version", std::string("amk-fmt ") + AMK_VERSION);
  std::vector<std::string> files;
  bool inPlace = false, check = false, core = false, syntaxOnly = false, quiet = false, listOps = false;
  std::string diagnosticsFormat = "text";
  app.add_option("files", files, "schedule files (- for standard input)");
  app.add_flag("--list-ops", listOps,
               "print the op reference (docs/amkir.md section 12) as markdown, and nothing else");
  app.add_flag("-i,--in-place", inPlace, "rewrite the files in canonical form");
  app.add_flag("--check", check, "exit 1 if a file is not in canonical form; print nothing else but a status line");
  app.add_flag("--core", core, "print the elaborated core program (per-block instruction lists)");
  app.add_flag("--syntax-only", syntaxOnly, "parse only: skip the well-formedness checks of elaboration");
  app.add_flag("-q,--quiet", quiet, "no status lines");
  app.add_option("--diagnostics-format", diagnosticsFormat, "text or json (one object per line)")
      ->check(CLI::IsMember({"text", "json"}));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    int code = app.exit(e);
    return code == 0 ? kOk : kBadInput;
  }
  if (listOps) {
    if (!files.empty() || inPlace || check || core || syntaxOnly) {
      std::cerr << "amk-fmt: --list-ops takes no files and no other mode\n";
      return kBadInput;
    }
    std::cout << amk::ir::opReferenceMarkdown();
    return kOk;
  }
  if (files.empty()) {
    std::cerr << "amk-fmt: no schedule files given (--help lists the options)\n";
    return kBadInput;
  }
  if (core && syntaxOnly) {
    std::cerr << "amk-fmt: --core needs elaboration; drop --syntax-only\n";
    return kBadInput;
  }
  if (check && core) {
    std::cerr << "amk-fmt: --check and --core do not combine: --check compares the surface form\n";
    return kBadInput;
  }
  if (inPlace && (check || core)) {
    std::cerr << "amk-fmt: -i cannot be combined with --check or --core\n";
    return kBadInput;
  }

  int result = kOk;
  for (const std::string &path : files) {
    amk::ir::Schedule schedule =
        amk::ir::loadSchedule(path, syntaxOnly ? amk::ir::Stage::Parse : amk::ir::Stage::Elaborate);
    bool ok = schedule.ast && (syntaxOnly || schedule.program);
    if (!ok) {
      reportDiagnostics(schedule, path, diagnosticsFormat == "json");
      result = kBadInput;
      continue;
    }
    if (core) {
      std::cout << amk::ir::printCore(*schedule.program);
      continue;
    }
    std::string canonical = amk::ir::printSurface(*schedule.ast);
    if (check) {
      bool canonicalNow = canonical == schedule.source->text();
      if (!canonicalNow && result == kOk)
        result = kNotCanonical;
      if (!quiet) {
        std::cout << path << ": " << (canonicalNow ? "canonical" : "NOT canonical (run amk-fmt -i)");
        if (schedule.program)
          std::cout << ", well-formed (" << schedule.program->blocks << " blocks, "
                    << schedule.program->instructionCount() << " instructions)";
        std::cout << "\n";
      }
      continue;
    }
    if (inPlace) {
      if (path == "-") {
        std::cerr << "amk-fmt: -i needs a file, not standard input\n";
        return kBadInput;
      }
      if (canonical == schedule.source->text())
        continue;
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      out << canonical;
      if (!out) {
        std::cerr << path << ": error: cannot write file [AMK-F001]\n";
        result = kBadInput;
      }
      continue;
    }
    std::cout << canonical;
  }
  return result;
}

} // namespace

int main(int argc, char **argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception &e) {
    std::cerr << "amk-fmt: internal error: " << e.what() << "\n";
    return kInternal;
  }
}
