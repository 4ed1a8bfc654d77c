#include "amk/checker/verify_tool.h"

#include "amk/checker/report.h"
#include "amk/checker/verify.h"
#include "amk/ir/parallel.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <stdexcept>

namespace amk::checker {
namespace {

// What the files concluded, over all of them.
struct Summary {
  bool anyError = false;
  bool anyUnsafe = false;
  bool anyMissed = false; // Z3 proved a violation the checker did not report
  bool anyInconclusive = false;
};

std::vector<FileResult> checkFiles(const ToolOptions &options) {
  std::vector<FileResult> results(options.files.size());
  ir::parallelFor(results.size(), options.jobs, [&](size_t i) {
    try {
      results[i].schedule = ir::loadSchedule(options.files[i]);
      if (results[i].schedule.program) {
        results[i].verdict = verify(*results[i].schedule.program, Options{options.maxRaces});
        if (options.z3)
          results[i].smt = verifySmt(*results[i].schedule.program,
                                     SmtOptions{options.z3TimeoutMs, options.z3TotalTimeoutMs, options.maxRaces});
      }
    } catch (const std::exception &e) {
      throw std::runtime_error(options.files[i] + ": " + e.what());
    }
  });
  return results;
}

Summary summarise(const std::vector<FileResult> &results) {
  Summary summary;
  for (const FileResult &r : results) {
    summary.anyError = summary.anyError || !r.verdict;
    summary.anyUnsafe = summary.anyUnsafe || (r.verdict && !r.verdict->safe());
    if (r.verdict && r.smt) {
      Agreement a = crossCheck(*r.verdict, *r.smt).agreement;
      summary.anyMissed = summary.anyMissed || a == Agreement::CheckerMissed;
      summary.anyInconclusive = summary.anyInconclusive || a == Agreement::Inconclusive;
    }
  }
  return summary;
}

// A violation the checker missed is a checker bug, whatever the verdicts themselves are.
ToolOutcome unlessCheckerMissed(const Summary &summary, ToolOutcome otherwise) {
  return summary.anyMissed ? ToolOutcome::InternalError : otherwise;
}

// Z3's witness for every violation the checker missed, whatever else the output format shows.
void reportMissedViolations(const std::vector<FileResult> &results, std::ostream &to) {
  for (const FileResult &r : results)
    if (r.verdict && r.smt && crossCheck(*r.verdict, *r.smt).agreement == Agreement::CheckerMissed) {
      const CrossCheck c = crossCheck(*r.verdict, *r.smt);
      for (const ir::Diagnostic &d : smtDiagnostics(*r.smt, *r.schedule.program)) {
        bool missedRule = false;
        for (Rule rule : c.missed)
          missedRule = missedRule || d.ruleId == ruleId(rule);
        if (missedRule)
          to << ir::renderText(d, *r.schedule.source);
      }
      to << z3Line(r) << "\n";
    }
}

// The corpus table: a mismatch is the failure, whatever the verdicts themselves are.
ToolOutcome printExpectTable(const ToolOptions &options, const std::vector<FileResult> &results, const Summary &summary,
                             std::ostream &out, std::ostream &err) {
  size_t width = 4;
  for (const std::string &f : options.files)
    width = std::max(width, f.size());
  size_t matches = 0, missing = 0;
  auto pad = [](std::string s, size_t n) { return s.size() < n ? s + std::string(n - s.size(), ' ') : s; };
  out << pad("file", width) << "  " << pad("expected", 28) << "  " << pad("verdict", 28)
      << (options.z3 ? "        z3" : "") << "\n";
  for (size_t i = 0; i < results.size(); ++i) {
    const FileResult &r = results[i];
    std::string expected = r.schedule.source ? expectedVerdict(r.schedule.source->text()) : "";
    std::string actual = actualVerdict(r);
    bool match = !expected.empty() && expected == actual;
    matches += match;
    missing += expected.empty();
    out << pad(options.files[i], width) << "  " << pad(expected.empty() ? "(no expect line)" : expected, 28) << "  "
        << pad(actual, 28) << "  " << pad(match ? "ok" : "MISMATCH", 8);
    if (r.verdict && r.smt) {
      std::string z3 = smtStatusName(r.smt->status);
      if (r.smt->status == SmtStatus::Unsafe)
        z3 += " " + ruleListText(r.smt->rules());
      out << pad(z3, 28) << "  " << agreementName(crossCheck(*r.verdict, *r.smt).agreement);
    }
    out << "\n";
    if (!match && r.verdict)
      for (const ir::Diagnostic &d : toDiagnostics(*r.verdict, *r.schedule.program))
        err << ir::renderText(d, *r.schedule.source);
    else if (!match)
      err << r.schedule.renderDiagnostics();
  }
  out << results.size() << " files: " << matches << " as expected, " << results.size() - matches << " not"
      << (missing ? " (" + std::to_string(missing) + " without an expect line)" : "") << "\n";
  reportMissedViolations(results, err);
  if (matches != results.size())
    return unlessCheckerMissed(summary, ToolOutcome::SomeUnsafe);
  return unlessCheckerMissed(summary, summary.anyInconclusive ? ToolOutcome::Inconclusive : ToolOutcome::AllSafe);
}

void printStats(const FileResult &r, std::ostream &out) {
  const Stats &s = r.verdict->stats;
  out << "  stats: " << s.blocks << " blocks, " << s.instructions << " instructions (" << s.executedInstructions
      << " executed), graph " << s.graphVertices << " vertices / " << s.graphEdges << " edges (po "
      << s.programOrderEdges << ", barrier " << s.barrierEdges << ", sync " << s.synchronizesWithEdges << "), "
      << s.fixpointRounds << " fixpoint rounds, " << s.accesses << " accesses, " << s.conflictPairsChecked
      << " unordered pairs compared; progress " << s.progressSeconds << " s, happens-before " << s.happensBeforeSeconds
      << " s, conflicts " << s.conflictSeconds << " s\n";
  if (r.smt) {
    const SmtStats &z = r.smt->stats;
    out << "  z3 stats: " << z.events << " events, " << z.clockVariables << " clock variables, " << z.conflictPairs
        << " conflicting pairs, " << z.queries << " queries (" << z.satisfiable << " sat, " << z.unsatisfiable
        << " unsat, " << z.undecided << " undecided), " << z.pairsByModelReuse << " races by model reuse; " << z.seconds
        << " s\n";
  }
}

// Clang-style diagnostics, then a verdict line (and Z3's) per file.
void printTextReport(const ToolOptions &options, const std::vector<FileResult> &results, std::ostream &out,
                     std::ostream &err) {
  for (const FileResult &r : results) {
    if (!r.verdict) {
      err << r.schedule.renderDiagnostics();
    } else {
      const ir::Program &program = *r.schedule.program;
      for (const ir::Diagnostic &d : toDiagnostics(*r.verdict, program))
        out << ir::renderText(d, *r.schedule.source);
      size_t shown = 0;
      for (const Violation &v : r.verdict->violations)
        shown += v.rule == Rule::Race;
      if (r.verdict->racesFound > shown)
        out << r.schedule.source->name() << ": note: " << r.verdict->racesFound - shown
            << " more races not shown (--max-races)\n";
    }
    if (!options.quiet)
      out << verdictLine(r) << "\n";
    if (r.verdict && r.smt) {
      const CrossCheck c = crossCheck(*r.verdict, *r.smt);
      if (c.agreement == Agreement::CheckerMissed) {
        for (const ir::Diagnostic &d : smtDiagnostics(*r.smt, *r.schedule.program))
          out << ir::renderText(d, *r.schedule.source);
        err << z3Line(r) << "\n";
      }
      if (!options.quiet || c.agreement != Agreement::Agree)
        out << z3Line(r) << "\n";
    }
    if (options.stats && r.verdict)
      printStats(r, out);
  }
}

std::string safeFileName(const std::string &path) {
  std::string base = std::filesystem::path(path).filename().string();
  for (char &c : base)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_'))
      c = '_';
  return base.empty() ? "stdin" : base;
}

// One <file>.witness.json per unsafe file; false when one could not be written.
bool writeWitnessFiles(const std::string &directory, const std::vector<FileResult> &results, std::ostream &err) {
  bool written = true;
  std::filesystem::create_directories(directory);
  for (const FileResult &r : results)
    if (r.verdict && !r.verdict->safe()) {
      std::filesystem::path path =
          std::filesystem::path(directory) / (safeFileName(r.schedule.source->name()) + ".witness.json");
      std::ofstream file(path);
      file << witnessJson(r).dump(2) << "\n";
      if (!file) {
        err << path.string() << ": error: cannot write witness\n";
        written = false;
      }
    }
  return written;
}

// The first unsafe file's witness as a Graphviz graph; false when it could not be written.
bool writeWitnessDot(const std::string &dotFile, const std::vector<FileResult> &results, std::ostream &err) {
  for (const FileResult &r : results)
    if (r.verdict && !r.verdict->safe()) {
      std::ofstream file(dotFile);
      file << witnessDot(r);
      if (!file) {
        err << dotFile << ": error: cannot write\n";
        return false;
      }
      return true;
    }
  return true;
}

} // namespace

ToolOutcome runVerifyTool(const ToolOptions &options, std::ostream &out, std::ostream &err) {
  const std::vector<FileResult> results = checkFiles(options);
  Summary summary = summarise(results);
  if (options.expect)
    return printExpectTable(options, results, summary, out, err);

  if (options.format == "json") {
    out << reportJson(results).dump(2) << "\n";
    reportMissedViolations(results, err);
  } else if (options.format == "sarif") {
    out << sarifJson(results).dump(2) << "\n";
    reportMissedViolations(results, err);
  } else {
    printTextReport(options, results, out, err);
  }
  if (!options.witnessDirectory.empty() && !writeWitnessFiles(options.witnessDirectory, results, err))
    summary.anyError = true;
  if (!options.dotFile.empty() && !writeWitnessDot(options.dotFile, results, err))
    summary.anyError = true;

  if (summary.anyError)
    return unlessCheckerMissed(summary, ToolOutcome::InputError);
  if (summary.anyUnsafe)
    return unlessCheckerMissed(summary, ToolOutcome::SomeUnsafe);
  return unlessCheckerMissed(summary, summary.anyInconclusive ? ToolOutcome::Inconclusive : ToolOutcome::AllSafe);
}

} // namespace amk::checker
