// Text and JSON forms of an exploration result.
#include "amk/replay/report.h"

#include <nlohmann/json.hpp>

namespace amk::replay {

namespace {

const ir::Instruction *anchor(const Finding &finding, const ir::Program &program) {
  auto at = [&](uint32_t block, uint32_t index) { return &program.blockPrograms[block][index]; };
  if (finding.race)
    return at(finding.race->second.block, finding.race->second.index);
  if (finding.deadlock)
    for (const StuckBlock &stuck : finding.deadlock->stuck)
      if (stuck.reason != StuckReason::NotResident)
        return at(stuck.block, stuck.index);
  return nullptr;
}

const char *reasonName(StuckReason reason) {
  switch (reason) {
  case StuckReason::Wait:
    return "wait";
  case StuckReason::Barrier:
    return "barrier";
  case StuckReason::NotResident:
    return "not-resident";
  }
  return "?";
}

nlohmann::json refJson(const ir::Program &program, InstructionRef ref) {
  const ir::Instruction &inst = program.blockPrograms[ref.block][ref.index];
  return {{"block", ref.block},
          {"index", ref.index},
          {"line", program.sites[inst.site].range.begin.line},
          {"instruction", program.sites[inst.site].text},
          {"bindings", program.bindings(inst)}};
}

} // namespace

std::string renderText(const ExploreResult &result, const ir::Program &program, const ir::SourceFile *source) {
  const std::string &file = program.sourceName;
  std::string out;
  for (const Finding &finding : result.findings) {
    const ir::Instruction *inst = anchor(finding, program);
    if (inst) {
      const ir::SourceLocation &begin = program.sites[inst->site].range.begin;
      out += file + ":" + std::to_string(begin.line) + ":" + std::to_string(begin.column) +
             ": error: " + finding.message + " [" + ruleId(finding.rule) + "]\n";
      if (source) {
        out += std::string(source->lineText(begin.line)) + "\n";
        out += std::string(begin.column - 1, ' ') + "^\n";
      }
    } else {
      out += file + ": error: " + finding.message + " [" + ruleId(finding.rule) + "]\n";
    }
    for (const std::string &note : finding.notes)
      out += file + ": note: " + note + "\n";
    if (finding.interleaving)
      out += file + ": note: exhibited by an interleaving of " + std::to_string(finding.interleaving->steps.size()) +
             (finding.interleaving->steps.size() == 1 ? " step" : " steps") +
             (finding.interleaving->residentSlots
                  ? " with " + std::to_string(finding.interleaving->residentSlots) + " resident slots"
                  : std::string()) +
             " (--json prints it)\n";
  }
  const ExploreStats &s = result.stats;
  out += file + ": " + outcomeName(result.outcome);
  if (result.outcome == Outcome::Unsafe) {
    out += " [";
    std::vector<Rule> rules = result.rules();
    for (size_t i = 0; i < rules.size(); ++i)
      out += std::string(i ? ", " : "") + ruleId(rules[i]);
    out += "]";
  }
  out += " (" + std::to_string(s.statesGenerated) + " states, " + std::to_string(s.statesStored) + " stored";
  if (s.limitedExplored)
    out += "; " + std::to_string(s.limitedStatesGenerated) + " with bounded residency";
  out += ")";
  if (s.budgetExhausted)
    out += result.outcome == Outcome::Unsafe ? "; budget exhausted, other violations may exist"
                                             : "; budget exhausted before the search completed";
  return out + "\n";
}

nlohmann::json toJson(const ExploreResult &result, const ir::Program &program) {
  nlohmann::json findings = nlohmann::json::array();
  for (const Finding &finding : result.findings) {
    nlohmann::json f{{"rule", ruleId(finding.rule)},
                     {"name", ruleName(finding.rule)},
                     {"message", finding.message},
                     {"notes", finding.notes}};
    if (finding.race) {
      const RaceWitness &race = *finding.race;
      f["race"] = {{"first", refJson(program, race.first)},
                   {"second", refJson(program, race.second)},
                   {"firstWrites", race.firstWrites},
                   {"secondWrites", race.secondWrites},
                   {"buffer", program.buffers[race.buffer].name},
                   {"overlap", program.regionText(race.overlap)},
                   {"lo", race.overlap.lo},
                   {"hi", race.overlap.hi}};
    }
    if (finding.deadlock) {
      nlohmann::json stuck = nlohmann::json::array();
      for (const StuckBlock &s : finding.deadlock->stuck) {
        nlohmann::json j{{"block", s.block}, {"reason", reasonName(s.reason)}};
        if (s.reason != StuckReason::NotResident)
          j["at"] = refJson(program, {s.block, s.index});
        if (s.reason == StuckReason::Wait) {
          const ir::Instruction &inst = program.blockPrograms[s.block][s.index];
          j["counter"] = program.counterText(inst);
          j["value"] = s.value;
          j["threshold"] = s.threshold;
        }
        if (s.reason == StuckReason::Barrier) {
          j["barrier"] = s.barrierNumber;
          j["arrived"] = s.arrived;
        }
        j["waitsFor"] = s.waitsFor;
        stuck.push_back(std::move(j));
      }
      f["deadlock"] = {{"residentSlots", finding.deadlock->residentSlots},
                       {"stuck", std::move(stuck)},
                       {"finished", finding.deadlock->finished},
                       {"cycle", finding.deadlock->cycle}};
    }
    if (!finding.barrierCounts.empty())
      f["barrierCounts"] = finding.barrierCounts;
    if (finding.interleaving)
      f["interleaving"] = toJson(*finding.interleaving);
    findings.push_back(std::move(f));
  }
  nlohmann::json rules = nlohmann::json::array();
  for (Rule rule : result.rules())
    rules.push_back(ruleId(rule));
  const ExploreStats &s = result.stats;
  return {{"file", program.sourceName},
          {"verdict", outcomeName(result.outcome)},
          {"rules", std::move(rules)},
          {"findings", std::move(findings)},
          {"stats",
           {{"statesGenerated", s.statesGenerated},
            {"statesStored", s.statesStored},
            {"duplicateStates", s.duplicateStates},
            {"terminalStates", s.terminalStates},
            {"budgetExhausted", s.budgetExhausted},
            {"limitedExplored", s.limitedExplored},
            {"limitedStatesGenerated", s.limitedStatesGenerated},
            {"limitedBudgetExhausted", s.limitedBudgetExhausted},
            {"racingPairs", s.racingPairs},
            {"seconds", s.seconds}}}};
}

} // namespace amk::replay
