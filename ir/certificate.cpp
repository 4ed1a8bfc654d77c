#include "amk/ir/certificate.h"

#include "amk/ir/content_hash.h"
#include "amk/ir/printer.h"

namespace amk::ir {

std::string scheduleHash(const ast::File &file) { return contentHash(printSurface(file)); }

std::optional<std::string> launchRefusal(const Certificate &certificate, std::string_view hash, LaunchPolicy policy) {
  if (policy == LaunchPolicy::CertifiedOnly && !certificate.certified) {
    const std::string why = certificate.rejection.substr(0, certificate.rejection.find('\n'));
    const std::string verdict = certificate.checkerVersion.empty() ? "no checker's verdict"
                                : why.empty()                      ? certificate.checkerVersion + " rejects it"
                                                                   : certificate.checkerVersion + " rejects it: " + why;
    return "the certificate does not certify the schedule (" + verdict +
           "); only amk-replay launches rejected schedules";
  }
  if (certificate.scheduleHash != hash)
    return "the certificate is for another schedule: it names schedule hash " +
           (certificate.scheduleHash.empty() ? std::string("(none)") : certificate.scheduleHash) +
           ", the schedule's canonical text hashes to " + std::string(hash);
  if (policy == LaunchPolicy::CertifiedOnly && certificate.checkerVersion != kCheckerVersion)
    return "the certificate comes from another checker: expected " + std::string(kCheckerVersion) + ", got " +
           (certificate.checkerVersion.empty() ? std::string("(none)") : certificate.checkerVersion) +
           "; certify the schedule with this build's checker";
  return std::nullopt;
}

} // namespace amk::ir
