// The amk-interleaving/1 format: what the explorer writes and replay reads.
#include "amk/replay/interleaving.h"

#include <nlohmann/json.hpp>

namespace amk::replay {

const char *stepKindName(StepKind kind) {
  switch (kind) {
  case StepKind::Task:
    return "task";
  case StepKind::Signal:
    return "signal";
  case StepKind::Wait:
    return "wait";
  case StepKind::Barrier:
    return "barrier";
  case StepKind::Dispatch:
    return "dispatch";
  }
  return "?";
}

nlohmann::json toJson(const Interleaving &interleaving) {
  nlohmann::json steps = nlohmann::json::array();
  for (const Step &step : interleaving.steps) {
    nlohmann::json s{{"block", step.block}, {"kind", stepKindName(step.kind)}};
    if (step.kind != StepKind::Dispatch)
      s["index"] = step.index;
    if (step.readPosition)
      s["readPosition"] = *step.readPosition;
    steps.push_back(std::move(s));
  }
  nlohmann::json out{{"schema", kInterleavingSchema}};
  if (interleaving.residentSlots)
    out["residentSlots"] = interleaving.residentSlots;
  out["steps"] = std::move(steps);
  return out;
}

std::optional<Interleaving> interleavingFromJson(const nlohmann::json &json, std::string &error) {
  if (!json.is_object() || !json.contains("schema") || json["schema"] != kInterleavingSchema) {
    error = std::string("not an interleaving: expected \"schema\": \"") + kInterleavingSchema + "\"";
    return std::nullopt;
  }
  if (!json.contains("steps") || !json["steps"].is_array()) {
    error = "interleaving has no \"steps\" array";
    return std::nullopt;
  }
  Interleaving out;
  if (json.contains("residentSlots")) {
    if (!json["residentSlots"].is_number_unsigned()) {
      error = "\"residentSlots\" must be a non-negative integer";
      return std::nullopt;
    }
    out.residentSlots = json["residentSlots"].get<uint32_t>();
  }
  for (size_t i = 0; i < json["steps"].size(); ++i) {
    const nlohmann::json &s = json["steps"][i];
    std::string where = "step " + std::to_string(i) + ": ";
    if (!s.is_object() || !s.contains("block") || !s["block"].is_number_unsigned() || !s.contains("kind") ||
        !s["kind"].is_string()) {
      error = where + "expected an object with \"block\" and \"kind\"";
      return std::nullopt;
    }
    Step step;
    step.block = s["block"].get<uint32_t>();
    std::string kind = s["kind"].get<std::string>();
    bool known = false;
    for (StepKind k : {StepKind::Task, StepKind::Signal, StepKind::Wait, StepKind::Barrier, StepKind::Dispatch})
      if (kind == stepKindName(k)) {
        step.kind = k;
        known = true;
      }
    if (!known) {
      error = where + "unknown step kind '" + kind + "'";
      return std::nullopt;
    }
    if (step.kind != StepKind::Dispatch) {
      if (!s.contains("index") || !s["index"].is_number_unsigned()) {
        error = where + "expected a non-negative \"index\"";
        return std::nullopt;
      }
      step.index = s["index"].get<uint32_t>();
    }
    if (s.contains("readPosition")) {
      if (!s["readPosition"].is_number_unsigned()) {
        error = where + "\"readPosition\" must be a non-negative integer";
        return std::nullopt;
      }
      step.readPosition = s["readPosition"].get<uint64_t>();
    }
    if ((step.kind == StepKind::Wait) != step.readPosition.has_value()) {
      error =
          where + (step.kind == StepKind::Wait ? "a wait needs \"readPosition\"" : "only a wait has \"readPosition\"");
      return std::nullopt;
    }
    out.steps.push_back(step);
  }
  return out;
}

} // namespace amk::replay
