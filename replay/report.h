// Renders an exploration result: clang-style text for people, one JSON object per file for tools
// (with every witness interleaving in amk-interleaving/1 form).
#pragma once

#include "amk/ir/program.h"
#include "amk/ir/source.h"
#include "amk/replay/verdict.h"

#include <string>

#include <nlohmann/json_fwd.hpp>

namespace amk::replay {

// `source` may be null (no source lines are shown then).
std::string renderText(const ExploreResult &result, const ir::Program &program, const ir::SourceFile *source);
nlohmann::json toJson(const ExploreResult &result, const ir::Program &program);

} // namespace amk::replay
