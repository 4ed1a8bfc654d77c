// A certificate: the checker's verdict on one schedule, naming the schedule by the content hash of
// its canonical text and the checker by its version. The GPU runtime launches a schedule only with a
// certificate that certifies it, names it and comes from this build's checker
// (megakernel/gpu_runtime.h). checker::certify makes them; the type lives here, below both, because
// the runtime may not use checker/ (docs/architecture.md).
#pragma once

#include "amk/ir/ast.h"
#include "amk/version.h"

#include <optional>
#include <string>
#include <string_view>

namespace amk::ir {

// The checker's name and version, as its reports, witnesses and certificates give it.
inline constexpr const char *kCheckerVersion = "amk-verify " AMK_VERSION;

struct Certificate {
  bool certified = false;     // the checker found the schedule free of deadlocks and races
  std::string scheduleHash;   // scheduleHash() of the schedule it checked
  std::string checkerVersion; // the checker that gave the verdict: kCheckerVersion of its build
  std::string rejection;      // when not certified: one line per violation, "RULE: message"
};

// The name every tool gives a schedule: the content hash (content_hash.h) of its canonical text
// (printSurface). Reformatting a file does not rename it; changing a comment does.
std::string scheduleHash(const ast::File &file);

// What a launch accepts: a certified schedule, or (amk-replay only) a rejected one.
enum class LaunchPolicy { CertifiedOnly, RejectedForReplay };

// Why `certificate` does not let this build launch the schedule whose scheduleHash is `hash`, or
// nullopt. CertifiedOnly: it must certify the schedule, name it and come from kCheckerVersion.
// RejectedForReplay: it must name the schedule; any verdict of any checker version is replayed.
std::optional<std::string> launchRefusal(const Certificate &certificate, std::string_view hash, LaunchPolicy policy);

} // namespace amk::ir
