// Reading amk-witness/1 documents: every field replay uses is checked for presence and type, so a
// truncated or hand-edited witness is refused with the field's path rather than replayed wrongly.
#include "amk/replay/witness.h"

#include <nlohmann/json.hpp>

namespace amk::replay {
namespace {

using nlohmann::json;

// Thrown only inside witnessFromJson, which turns it into its error value.
struct BadField {
  std::string message;
};

const json &field(const json &object, const char *name, const std::string &path) {
  if (!object.is_object() || !object.contains(name))
    throw BadField{path + ": missing \"" + name + "\""};
  return object[name];
}

uint32_t unsignedField(const json &object, const char *name, const std::string &path) {
  const json &value = field(object, name, path);
  // The checker writes some counts from signed fields, so any integer in range is accepted.
  if (!value.is_number_integer() || value.get<int64_t>() < 0 || value.get<int64_t>() > int64_t(UINT32_MAX))
    throw BadField{path + "." + name + ": expected a non-negative integer"};
  return value.get<uint32_t>();
}

std::string stringField(const json &object, const char *name, const std::string &path) {
  const json &value = field(object, name, path);
  if (!value.is_string())
    throw BadField{path + "." + name + ": expected a string"};
  return value.get<std::string>();
}

bool boolField(const json &object, const char *name, const std::string &path) {
  const json &value = field(object, name, path);
  if (!value.is_boolean())
    throw BadField{path + "." + name + ": expected true or false"};
  return value.get<bool>();
}

std::vector<int64_t> intsField(const json &object, const char *name, const std::string &path) {
  const json &value = field(object, name, path);
  if (!value.is_array())
    throw BadField{path + "." + name + ": expected an array of integers"};
  std::vector<int64_t> out;
  for (const json &v : value) {
    if (!v.is_number_integer())
      throw BadField{path + "." + name + ": expected an array of integers"};
    out.push_back(v.get<int64_t>());
  }
  return out;
}

InstructionRef instructionField(const json &object, const char *name, const std::string &path) {
  const json &value = field(object, name, path);
  std::string here = path + "." + name;
  return {unsignedField(value, "block", here), unsignedField(value, "index", here)};
}

Rule ruleFromId(const std::string &id, const std::string &path) {
  for (Rule rule : {Rule::CoResidency, Rule::BarrierMismatch, Rule::Deadlock, Rule::Race})
    if (id == ruleId(rule))
      return rule;
  throw BadField{path + ".rule: unknown rule '" + id + "'"};
}

WitnessViolation violationFrom(const json &v, const std::string &path) {
  WitnessViolation out;
  out.rule = ruleFromId(stringField(v, "rule", path), path);
  out.message = stringField(v, "message", path);
  if (v.contains("barrierCounts")) {
    for (int64_t count : intsField(v, "barrierCounts", path))
      out.barrierCounts.push_back(static_cast<uint32_t>(count));
  }
  if (v.contains("deadlock")) {
    const json &stuck = field(field(v, "deadlock", path), "stuck", path + ".deadlock");
    if (!stuck.is_array())
      throw BadField{path + ".deadlock.stuck: expected an array"};
    for (size_t i = 0; i < stuck.size(); ++i) {
      std::string here = path + ".deadlock.stuck[" + std::to_string(i) + "]";
      out.stuck.push_back({instructionField(stuck[i], "instruction", here), stuck[i].contains("barrier")});
    }
  }
  if (v.contains("race")) {
    const json &r = v["race"];
    std::string here = path + ".race";
    WitnessRace race;
    race.first = instructionField(r, "first", here);
    race.second = instructionField(r, "second", here);
    race.firstWrites = boolField(r, "firstWrites", here);
    race.secondWrites = boolField(r, "secondWrites", here);
    const json &overlap = field(r, "overlap", here);
    race.buffer = stringField(overlap, "buffer", here + ".overlap");
    race.lo = intsField(overlap, "lo", here + ".overlap");
    race.hi = intsField(overlap, "hi", here + ".overlap");
    if (r.contains("why") && r["why"].is_string())
      race.why = r["why"].get<std::string>();
    out.race = std::move(race);
  }
  if (out.rule == Rule::Race && !out.race)
    throw BadField{path + ": a race violation needs \"race\""};
  return out;
}

} // namespace

std::optional<Witness> witnessFromJson(const nlohmann::json &document, std::string &error) {
  if (!document.is_object() || !document.contains("schema") || document["schema"] != kWitnessSchema) {
    error = std::string("not a witness: expected \"schema\": \"") + kWitnessSchema + "\"";
    return std::nullopt;
  }
  try {
    Witness out;
    out.file = stringField(document, "file", "witness");
    out.contentHash = stringField(document, "contentHash", "witness");
    if (document.contains("checker") && document["checker"].is_string())
      out.checker = document["checker"].get<std::string>();
    const json &grid = field(document, "grid", "witness");
    out.blocks = unsignedField(grid, "blocks", "witness.grid");
    out.sms = unsignedField(grid, "sms", "witness.grid");
    out.occupancy = unsignedField(grid, "occupancy", "witness.grid");
    const json &violations = field(document, "violations", "witness");
    if (!violations.is_array())
      throw BadField{"witness.violations: expected an array"};
    for (size_t i = 0; i < violations.size(); ++i)
      out.violations.push_back(violationFrom(violations[i], "witness.violations[" + std::to_string(i) + "]"));
    const json &execution = field(document, "maximalExecution", "witness");
    if (!execution.is_array())
      throw BadField{"witness.maximalExecution: expected an array of [block, index] pairs"};
    for (const nlohmann::json &pair : execution) {
      if (!pair.is_array() || pair.size() != 2 || !pair[0].is_number_integer() || !pair[1].is_number_integer() ||
          pair[0].get<int64_t>() < 0 || pair[1].get<int64_t>() < 0)
        throw BadField{"witness.maximalExecution: expected an array of [block, index] pairs"};
      out.maximalExecution.push_back({pair[0].get<uint32_t>(), pair[1].get<uint32_t>()});
    }
    return out;
  } catch (const BadField &bad) {
    error = bad.message;
    return std::nullopt;
  }
}

std::string checkAgainst(const Witness &witness, const ir::Program &program) {
  if (witness.blocks != program.blocks || witness.sms != program.sms || witness.occupancy != program.occupancy)
    return "the witness's grid (blocks=" + std::to_string(witness.blocks) + ", sms=" + std::to_string(witness.sms) +
           ", occupancy=" + std::to_string(witness.occupancy) + ") is not the schedule's";
  auto valid = [&](InstructionRef r) {
    return r.block < program.blockPrograms.size() && r.index < program.blockPrograms[r.block].size();
  };
  auto name = [](InstructionRef r) {
    return "block " + std::to_string(r.block) + ", instruction " + std::to_string(r.index);
  };
  for (InstructionRef r : witness.maximalExecution)
    if (!valid(r))
      return "the maximal execution names " + name(r) + ", which the schedule does not have";
  for (const WitnessViolation &v : witness.violations) {
    for (const WitnessStuck &s : v.stuck)
      if (!valid(s.at))
        return std::string(ruleId(v.rule)) + " names " + name(s.at) + ", which the schedule does not have";
    if (v.race) {
      for (InstructionRef r : {v.race->first, v.race->second})
        if (!valid(r) || program.blockPrograms[r.block][r.index].kind != ir::InstructionKind::Task)
          return "the race names " + name(r) + ", which is not a task of the schedule";
      bool known = false;
      for (const ir::Buffer &buffer : program.buffers)
        if (buffer.name == v.race->buffer)
          known = buffer.shape.size() == v.race->lo.size() && buffer.shape.size() == v.race->hi.size();
      if (!known)
        return "the race's overlap names buffer '" + v.race->buffer + "' with the wrong rank or no such buffer";
    }
  }
  return "";
}

} // namespace amk::replay
