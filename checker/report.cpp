#include "amk/checker/report.h"

#include "amk/checker/verify.h"
#include "amk/ir/certificate.h"
#include "amk/version.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>

namespace amk::checker {
namespace {

using nlohmann::json;

json rangeJson(const ir::SourceRange &r) {
  return json{{"line", r.begin.line}, {"column", r.begin.column}, {"endLine", r.end.line}, {"endColumn", r.end.column}};
}

json instructionJson(const ir::Program &program, InstructionRef r) {
  const ir::Instruction &i = program.blockPrograms[r.block][r.index];
  const ir::Site &site = program.sites[i.site];
  json loop = json::object();
  for (size_t v = 0; v < site.loopVariables.size() && v < i.loopValues.size(); ++v)
    loop[site.loopVariables[v]] = i.loopValues[v];
  return json{{"block", r.block},        {"index", r.index},
              {"source", site.text},     {"range", rangeJson(site.range)},
              {"loop", std::move(loop)}, {"description", describeInstruction(program, r)}};
}

json regionJson(const ir::Program &program, const ir::Region &region) {
  return json{{"buffer", program.buffers[region.buffer].name},
              {"lo", region.lo},
              {"hi", region.hi},
              {"text", program.regionText(region)}};
}

json violationJson(const Violation &v, const ir::Program &program) {
  json out{{"rule", ruleId(v.rule)}, {"name", ruleName(v.rule)}, {"message", v.message}};
  if (v.barriers)
    out["barrierCounts"] = v.barriers->barrierCounts;
  if (v.deadlock) {
    json stuck = json::array();
    for (const StuckBlock &s : v.deadlock->stuck) {
      json entry{{"instruction", instructionJson(program, s.at)}, {"waitsFor", s.waitsFor}};
      if (s.atBarrier) {
        entry["barrier"] = json{{"number", s.barrierNumber}, {"arrived", s.arrived}};
      } else {
        const ir::Counter &counter = program.counters[s.counter];
        entry["counter"] = json{{"name", counter.name},
                                {"index", s.counterIndex},
                                {"finalValue", s.finalValue},
                                {"threshold", s.threshold}};
      }
      stuck.push_back(std::move(entry));
    }
    out["deadlock"] =
        json{{"stuck", std::move(stuck)}, {"cycle", v.deadlock->cycle}, {"finished", v.deadlock->finished}};
  }
  if (v.race) {
    const RaceWitness &r = *v.race;
    json race{{"first", instructionJson(program, r.first)},   {"firstWrites", r.firstWrites},
              {"second", instructionJson(program, r.second)}, {"secondWrites", r.secondWrites},
              {"overlap", regionJson(program, r.overlap)},    {"why", r.why}};
    if (r.nearSignal)
      race["nearSignal"] = instructionJson(program, *r.nearSignal);
    if (r.nearWait)
      race["nearWait"] = instructionJson(program, *r.nearWait);
    out["race"] = std::move(race);
  }
  return out;
}

json statsJson(const Stats &s) {
  return json{{"blocks", s.blocks},
              {"instructions", s.instructions},
              {"executedInstructions", s.executedInstructions},
              {"graphVertices", s.graphVertices},
              {"graphEdges", s.graphEdges},
              {"programOrderEdges", s.programOrderEdges},
              {"barrierEdges", s.barrierEdges},
              {"synchronizesWithEdges", s.synchronizesWithEdges},
              {"fixpointRounds", s.fixpointRounds},
              {"accesses", s.accesses},
              {"conflictPairsChecked", s.conflictPairsChecked},
              {"progressSeconds", s.progressSeconds},
              {"happensBeforeSeconds", s.happensBeforeSeconds},
              {"conflictSeconds", s.conflictSeconds}};
}

std::string verdictWord(const FileResult &r) {
  if (!r.schedule.source || !r.schedule.ast || !r.verdict)
    return r.schedule.source ? "malformed" : "error";
  return r.verdict->safe() ? "safe" : "unsafe";
}

} // namespace

std::string verdictLine(const FileResult &r) {
  const std::string name = r.schedule.source ? r.schedule.source->name() : "?";
  if (!r.verdict) {
    std::set<std::string> rules;
    for (const ir::Diagnostic &d : r.schedule.diagnostics.all())
      rules.insert(d.ruleId);
    std::string list;
    for (const std::string &rule : rules)
      list += (list.empty() ? "" : ", ") + rule;
    return name + ": " + verdictWord(r) + (list.empty() ? "" : " (" + list + ")");
  }
  const ir::Program &p = *r.schedule.program;
  std::string size = std::to_string(p.blocks) + " blocks, " + std::to_string(p.instructionCount()) + " instructions";
  if (r.verdict->safe())
    return name + ": safe (" + size + ")";
  std::map<Rule, size_t> counts;
  for (const Violation &v : r.verdict->violations)
    ++counts[v.rule];
  std::string list;
  for (const auto &[rule, n] : counts)
    list += (list.empty() ? "" : ", ") + std::string(ruleId(rule)) + " " + ruleName(rule) +
            (rule == Rule::Race ? " x" + std::to_string(r.verdict->racesFound) : "");
  return name + ": unsafe: " + list + " (" + size + ")";
}

std::string ruleListText(const std::set<Rule> &rules) {
  std::string out;
  for (Rule rule : rules)
    out += (out.empty() ? "" : ", ") + std::string(ruleId(rule));
  return out;
}

std::string z3Line(const FileResult &r) {
  const std::string name = r.schedule.source->name();
  const SmtVerdict &smt = *r.smt;
  const CrossCheck c = crossCheck(*r.verdict, smt);
  std::string found = smtStatusName(smt.status);
  if (smt.status == SmtStatus::Unsafe) {
    found += ":";
    for (Rule rule : smt.rules())
      found += std::string(rule == *smt.rules().begin() ? " " : ", ") + ruleId(rule) + " " + ruleName(rule) +
               (rule == Rule::Race ? " x" + std::to_string(smt.racesFound) : "");
  }
  char cost[64];
  std::snprintf(cost, sizeof cost, "%zu queries, %.2f s", smt.stats.queries, smt.stats.seconds);
  std::string line = name + ": z3: " + found + " (" + cost + ")";
  switch (c.agreement) {
  case Agreement::Agree:
    line += ": agrees with the checker";
    break;
  case Agreement::Conservative:
    line += ": the checker's rejection (" + ruleListText(c.unconfirmed) +
            ") is conservative: no execution of AMKIR section 3 violates it; the verdict stays unsafe";
    break;
  case Agreement::CheckerMissed:
    line += ": internal error: z3 proves " + ruleListText(c.missed) + ", which the checker " +
            (r.verdict->safe() ? "certified safe" : "did not report");
    break;
  case Agreement::Inconclusive:
    line += ": inconclusive, the checker's verdict is neither confirmed nor refuted";
    break;
  }
  if (!smt.undecided.empty())
    line += " (undecided: " + smt.undecided + ")";
  return line;
}

namespace {

json smtEventJson(const ir::Program &program, const SmtEvent &e) {
  json out{{"block", e.at.block},
           {"index", e.at.index},
           {"step", e.step},
           {"description", describeInstruction(program, e.at)}};
  if (e.valueRead)
    out["valueRead"] = *e.valueRead;
  return out;
}

json smtJson(const FileResult &r) {
  const ir::Program &program = *r.schedule.program;
  const SmtVerdict &smt = *r.smt;
  const CrossCheck c = crossCheck(*r.verdict, smt);
  json findings = json::array();
  for (const SmtFinding &f : smt.findings) {
    json finding{{"rule", ruleId(f.rule)}, {"name", ruleName(f.rule)}, {"message", f.message}};
    if (f.race) {
      json execution = json::array();
      for (const SmtEvent &e : f.race->execution)
        execution.push_back(smtEventJson(program, e));
      finding["race"] =
          json{{"first", instructionJson(program, f.race->first)},   {"firstWrites", f.race->firstWrites},
               {"second", instructionJson(program, f.race->second)}, {"secondWrites", f.race->secondWrites},
               {"overlap", regionJson(program, f.race->overlap)},    {"execution", std::move(execution)}};
    }
    if (f.deadlock) {
      json stuck = json::array();
      for (InstructionRef s : f.deadlock->stuck)
        stuck.push_back(instructionJson(program, s));
      finding["deadlock"] = json{{"stuck", std::move(stuck)}, {"complete", f.deadlock->stuckComplete}};
    }
    findings.push_back(std::move(finding));
  }
  json rules = json::array();
  for (Rule rule : smt.rules())
    rules.push_back(ruleId(rule));
  json missed = json::array(), unconfirmed = json::array();
  for (Rule rule : c.missed)
    missed.push_back(ruleId(rule));
  for (Rule rule : c.unconfirmed)
    unconfirmed.push_back(ruleId(rule));
  const SmtStats &s = smt.stats;
  return json{{"verdict", smtStatusName(smt.status)},
              {"rules", std::move(rules)},
              {"racesFound", smt.racesFound},
              {"agreement", agreementName(c.agreement)},
              {"missedByChecker", std::move(missed)},
              {"notConfirmed", std::move(unconfirmed)},
              {"undecided", smt.undecided},
              {"findings", std::move(findings)},
              {"stats",
               {{"events", s.events},
                {"clockVariables", s.clockVariables},
                {"conflictPairs", s.conflictPairs},
                {"queries", s.queries},
                {"satisfiable", s.satisfiable},
                {"unsatisfiable", s.unsatisfiable},
                {"undecided", s.undecided},
                {"pairsByModelReuse", s.pairsByModelReuse},
                {"seconds", s.seconds}}}};
}

json sarifLocation(const std::string &uri, const ir::SourceRange &r) {
  json region{{"startLine", r.begin.line}, {"startColumn", r.begin.column}};
  if (r.end.line >= r.begin.line && r.end.offset > r.begin.offset) {
    region["endLine"] = r.end.line;
    region["endColumn"] = r.end.column;
  }
  return json{{"physicalLocation", {{"artifactLocation", {{"uri", uri}}}, {"region", region}}}};
}

} // namespace

std::set<Rule> checkerRules(const Verdict &verdict) {
  std::set<Rule> rules;
  for (const Violation &v : verdict.violations)
    rules.insert(v.rule);
  if (verdict.racesFound > 0)
    rules.insert(Rule::Race);
  return rules;
}

CrossCheck crossCheck(const Verdict &checker, const SmtVerdict &smt) {
  CrossCheck c;
  std::set<Rule> ours = checkerRules(checker), theirs = smt.rules();
  std::set_difference(theirs.begin(), theirs.end(), ours.begin(), ours.end(), std::inserter(c.missed, c.missed.end()));
  std::set_difference(ours.begin(), ours.end(), theirs.begin(), theirs.end(),
                      std::inserter(c.unconfirmed, c.unconfirmed.end()));
  if (!c.missed.empty())
    c.agreement = Agreement::CheckerMissed;
  else if (!smt.undecided.empty() && (!c.unconfirmed.empty() || smt.status == SmtStatus::Inconclusive))
    c.agreement = Agreement::Inconclusive;
  else if (!c.unconfirmed.empty())
    c.agreement = Agreement::Conservative;
  return c;
}

const char *agreementName(Agreement agreement) {
  switch (agreement) {
  case Agreement::Agree:
    return "agrees";
  case Agreement::Conservative:
    return "conservative";
  case Agreement::CheckerMissed:
    return "checker-missed";
  case Agreement::Inconclusive:
    return "inconclusive";
  }
  return "?";
}

std::string expectedVerdict(const std::string &text) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    const std::string prefix = "# expect:";
    if (line.rfind(prefix, 0) != 0)
      continue;
    std::istringstream words(line.substr(prefix.size()));
    std::string word, kind;
    std::set<std::string> rules;
    words >> kind;
    while (words >> word) {
      while (!word.empty() && word.back() == ',')
        word.pop_back();
      if (!word.empty())
        rules.insert(word);
    }
    std::string out = kind;
    for (const std::string &rule : rules)
      out += (out == kind ? " " : ", ") + rule;
    return out;
  }
  return "";
}

std::string actualVerdict(const FileResult &result) {
  if (!result.verdict) {
    if (!result.schedule.source || result.schedule.diagnostics.all().empty())
      return "error";
    return "malformed " + result.schedule.diagnostics.all().front().ruleId;
  }
  if (result.verdict->safe())
    return "safe";
  std::set<std::string> rules;
  for (const Violation &v : result.verdict->violations)
    rules.insert(ruleId(v.rule));
  std::string out = "unsafe";
  bool first = true;
  for (const std::string &rule : rules) {
    out += (first ? " " : ", ") + rule;
    first = false;
  }
  return out;
}

nlohmann::json witnessJson(const FileResult &result) {
  const ir::Program &program = *result.schedule.program;
  json violations = json::array();
  for (const Violation &v : result.verdict->violations)
    violations.push_back(violationJson(v, program));
  json execution = json::array();
  for (InstructionRef r : result.verdict->execution)
    execution.push_back(json::array({r.block, r.index}));
  return json{{"schema", kWitnessSchema},
              {"checker", kCheckerVersion},
              {"file", result.schedule.source->name()},
              {"contentHash", ir::scheduleHash(*result.schedule.ast)},
              {"verdict", verdictWord(result)},
              {"grid", {{"blocks", program.blocks}, {"sms", program.sms}, {"occupancy", program.occupancy}}},
              {"violations", std::move(violations)},
              {"maximalExecution", std::move(execution)}};
}

nlohmann::json reportJson(const std::vector<FileResult> &results) {
  json files = json::array();
  for (const FileResult &r : results) {
    json file{{"file", r.schedule.source ? r.schedule.source->name() : ""}, {"verdict", verdictWord(r)}};
    if (r.schedule.ast) // the name every tool gives the schedule; a file that does not parse has none
      file["contentHash"] = ir::scheduleHash(*r.schedule.ast);
    json diagnostics = json::array();
    if (r.schedule.source)
      for (const ir::Diagnostic &d : r.schedule.diagnostics.all())
        diagnostics.push_back(ir::toJson(d, *r.schedule.source));
    else
      diagnostics.push_back(json{{"rule", "AMK-F001"}, {"message", r.schedule.readError}});
    file["diagnostics"] = std::move(diagnostics);
    if (r.verdict) {
      json violations = json::array();
      for (const Violation &v : r.verdict->violations)
        violations.push_back(violationJson(v, *r.schedule.program));
      file["violations"] = std::move(violations);
      file["racesFound"] = r.verdict->racesFound;
      file["stats"] = statsJson(r.verdict->stats);
      if (r.smt)
        file["z3"] = smtJson(r);
    }
    files.push_back(std::move(file));
  }
  return json{{"schema", kJsonSchema}, {"checker", kCheckerVersion}, {"files", std::move(files)}};
}

nlohmann::json sarifJson(const std::vector<FileResult> &results) {
  const std::pair<Rule, const char *> ruleHelp[] = {
      {Rule::CoResidency, "The grid is larger than sms x occupancy and the schedule synchronises across blocks."},
      {Rule::BarrierMismatch, "Blocks reach different numbers of grid barriers."},
      {Rule::Deadlock, "Some block can never finish: a wait is never satisfied or a barrier never completes."},
      {Rule::Race, "Two blocks access overlapping regions, at least one writing, with no happens-before order."}};
  json rules = json::array();
  std::map<std::string, size_t> ruleIndex;
  for (auto [rule, help] : ruleHelp) {
    ruleIndex[ruleId(rule)] = rules.size();
    rules.push_back(json{{"id", ruleId(rule)},
                         {"name", ruleName(rule)},
                         {"shortDescription", {{"text", help}}},
                         {"defaultConfiguration", {{"level", "error"}}}});
  }
  json sarifResults = json::array();
  for (const FileResult &r : results) {
    if (!r.schedule.source)
      continue;
    const std::string uri = r.schedule.source->name();
    if (!r.verdict) {
      for (const ir::Diagnostic &d : r.schedule.diagnostics.all()) {
        if (!ruleIndex.count(d.ruleId)) {
          ruleIndex[d.ruleId] = rules.size();
          rules.push_back(json{{"id", d.ruleId},
                               {"shortDescription", {{"text", "malformed schedule (" + d.ruleId + ")"}}},
                               {"defaultConfiguration", {{"level", "error"}}}});
        }
        sarifResults.push_back(json{{"ruleId", d.ruleId},
                                    {"ruleIndex", ruleIndex[d.ruleId]},
                                    {"level", "error"},
                                    {"message", {{"text", d.message}}},
                                    {"locations", json::array({sarifLocation(uri, d.range)})}});
      }
      continue;
    }
    const ir::Program &program = *r.schedule.program;
    std::vector<ir::Diagnostic> diagnostics = toDiagnostics(*r.verdict, program);
    for (size_t i = 0; i < diagnostics.size(); ++i) {
      const ir::Diagnostic &d = diagnostics[i];
      const Violation &v = r.verdict->violations[i];
      json related = json::array();
      for (const ir::DiagnosticNote &note : d.notes)
        if (note.hasRange) {
          json location = sarifLocation(uri, note.range);
          location["id"] = related.size();
          location["message"] = {{"text", note.message}};
          related.push_back(std::move(location));
        }
      json result{{"ruleId", d.ruleId},
                  {"ruleIndex", ruleIndex[d.ruleId]},
                  {"level", "error"},
                  {"message", {{"text", d.message}}},
                  {"locations", json::array({sarifLocation(uri, d.range)})}};
      if (!related.empty())
        result["relatedLocations"] = std::move(related);
      // The witness as a code flow: one thread flow per block involved.
      std::map<uint32_t, std::vector<std::pair<InstructionRef, std::string>>> steps;
      if (v.race) {
        steps[v.race->first.block].push_back({v.race->first, v.race->firstWrites ? "writes" : "reads"});
        if (v.race->nearSignal)
          steps[v.race->nearSignal->block].push_back({*v.race->nearSignal, "signals (not guaranteed to order)"});
        if (v.race->nearWait)
          steps[v.race->nearWait->block].push_back({*v.race->nearWait, v.race->why});
        steps[v.race->second.block].push_back({v.race->second, v.race->secondWrites ? "writes" : "reads"});
      }
      if (v.deadlock)
        for (const StuckBlock &s : v.deadlock->stuck)
          steps[s.at.block].push_back({s.at, "stuck here"});
      if (!steps.empty()) {
        json threadFlows = json::array();
        for (const auto &[block, list] : steps) {
          json locations = json::array();
          for (const auto &[ref, message] : list) {
            json location = sarifLocation(uri, program.sites[program.blockPrograms[ref.block][ref.index].site].range);
            location["message"] = {{"text", describeInstruction(program, ref) + ": " + message}};
            locations.push_back(json{{"location", std::move(location)}});
          }
          threadFlows.push_back(json{{"id", "block " + std::to_string(block)}, {"locations", std::move(locations)}});
        }
        result["codeFlows"] = json::array({json{{"threadFlows", std::move(threadFlows)}}});
      }
      sarifResults.push_back(std::move(result));
    }
  }
  json driver{{"name", "amk-verify"}, {"version", AMK_VERSION}, {"rules", std::move(rules)}};
  return json{
      {"$schema", "https://json.schemastore.org/sarif-2.1.0.json"},
      {"version", "2.1.0"},
      {"runs", json::array({json{{"tool", {{"driver", std::move(driver)}}}, {"results", std::move(sarifResults)}}})}};
}

std::string witnessDot(const FileResult &result) {
  const ir::Program &program = *result.schedule.program;
  std::string out = "digraph witness {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\"];\n";
  auto node = [&](InstructionRef r) { return "\"b" + std::to_string(r.block) + "_" + std::to_string(r.index) + "\""; };
  auto label = [&](InstructionRef r) {
    std::string text = describeInstruction(program, r);
    std::string escaped;
    for (char c : text)
      escaped += c == '"' ? std::string("\\\"") : std::string(1, c);
    return escaped;
  };
  std::set<std::string> declared;
  auto declare = [&](InstructionRef r, const char *attributes) {
    if (declared.insert(node(r)).second)
      out += "  " + node(r) + " [label=\"" + label(r) + "\"" + attributes + "];\n";
  };
  for (const Violation &v : result.verdict->violations) {
    if (v.deadlock) {
      std::map<uint32_t, InstructionRef> stuckAt;
      for (const StuckBlock &s : v.deadlock->stuck) {
        stuckAt[s.at.block] = s.at;
        declare(s.at, ", color=orange");
      }
      std::set<std::pair<uint32_t, uint32_t>> cycleEdges;
      for (size_t i = 0; i < v.deadlock->cycle.size(); ++i)
        cycleEdges.insert({v.deadlock->cycle[i], v.deadlock->cycle[(i + 1) % v.deadlock->cycle.size()]});
      for (const StuckBlock &s : v.deadlock->stuck)
        for (uint32_t j : s.waitsFor)
          if (stuckAt.count(j))
            out += "  " + node(s.at) + " -> " + node(stuckAt[j]) + " [label=\"waits for\"" +
                   (cycleEdges.count({s.at.block, j}) ? ", color=red, penwidth=2" : "") + "];\n";
    }
    if (v.race) {
      const RaceWitness &r = *v.race;
      declare(r.first, ", color=red");
      declare(r.second, ", color=red");
      out += "  " + node(r.first) + " -> " + node(r.second) + " [dir=both, color=red, penwidth=2, label=\"race on " +
             program.regionText(r.overlap) + "\"];\n";
      if (r.nearSignal && r.nearWait) {
        declare(*r.nearSignal, "");
        declare(*r.nearWait, "");
        out += "  " + node(r.first) + " -> " + node(*r.nearSignal) + " [label=\"program order\"];\n";
        out += "  " + node(*r.nearSignal) + " -> " + node(*r.nearWait) +
               " [style=dashed, color=red, label=\"not guaranteed\"];\n";
        out += "  " + node(*r.nearWait) + " -> " + node(r.second) + " [label=\"program order\"];\n";
      }
    }
  }
  return out + "}\n";
}

} // namespace amk::checker
