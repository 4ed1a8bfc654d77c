// Certificates (ir/certificate.h): a schedule is named by the content hash of its canonical text, so
// reformatting it keeps the name and any change of its text (a comment included) gives another; and
// the table of what a launch refuses, input → exact message.
#include "amk/ir/certificate.h"
#include "amk/ir/content_hash.h"
#include "amk/ir/frontend.h"
#include "amk/ir/printer.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace amk::ir {
namespace {

const char *kCanonical = "amkir 1\ntarget sm_90 sms=8\ngrid blocks=2 threads=128 occupancy=1\n"
                         "scratch x : f32[8]\n"
                         "blocks b in 0..2 { opaque x[4*b : 4*b+4] <- }\n";

TEST(ScheduleHash, IsTheContentHashOfTheCanonicalText) {
  Schedule schedule = parseSchedule("a.amkir", kCanonical);
  ASSERT_TRUE(schedule.wellFormed()) << schedule.renderDiagnostics();
  ASSERT_EQ(printSurface(*schedule.ast), kCanonical) << "the test's text is canonical";
  EXPECT_EQ(scheduleHash(*schedule.ast), contentHash(kCanonical));

  Schedule spaced = parseSchedule("b.amkir", "amkir 1\ntarget  sm_90 sms=8\ngrid blocks=2  threads=128 occupancy=1\n"
                                             "scratch x:f32[8]\n"
                                             "blocks b in 0..2 {\n  opaque x[4 * b:4 * b + 4] <-\n}\n");
  ASSERT_TRUE(spaced.wellFormed()) << spaced.renderDiagnostics();
  EXPECT_EQ(scheduleHash(*spaced.ast), contentHash(kCanonical)) << "reformatting keeps the name";

  Schedule commented = parseSchedule("c.amkir", std::string(kCanonical) + "# a comment\n");
  ASSERT_TRUE(commented.wellFormed());
  EXPECT_NE(scheduleHash(*commented.ast), contentHash(kCanonical)) << "a comment is part of the canonical text";
}

const std::string kHash = contentHash("schedule A");
const std::string kOther = contentHash("schedule B");

struct RefusalCase {
  const char *what;
  Certificate certificate;
  LaunchPolicy policy;
  std::optional<std::string> refusal; // exact message, nullopt: launched
};

TEST(LaunchRefusal, TableOfCertificates) {
  const std::string self = kCheckerVersion;
  const RefusalCase cases[] = {
      {"certified by this build", {true, kHash, self, ""}, LaunchPolicy::CertifiedOnly, std::nullopt},
      {"rejected",
       {false, kHash, self, "AMK-V004: data race on x\nAMK-V003: deadlock\n"},
       LaunchPolicy::CertifiedOnly,
       "the certificate does not certify the schedule (" + self +
           " rejects it: AMK-V004: data race on x); only amk-replay launches rejected schedules"},
      {"no verdict at all",
       {},
       LaunchPolicy::CertifiedOnly,
       "the certificate does not certify the schedule (no checker's verdict); only amk-replay launches rejected "
       "schedules"},
      {"another schedule's",
       {true, kOther, self, ""},
       LaunchPolicy::CertifiedOnly,
       "the certificate is for another schedule: it names schedule hash " + kOther +
           ", the schedule's canonical text hashes to " + kHash},
      {"another checker's",
       {true, kHash, "amk-verify 0.0.1", ""},
       LaunchPolicy::CertifiedOnly,
       "the certificate comes from another checker: expected " + self +
           ", got amk-verify 0.0.1; certify the schedule with this build's checker"},
      {"replay of a rejected schedule",
       {false, kHash, "amk-verify 0.0.1", "AMK-V004: race\n"},
       LaunchPolicy::RejectedForReplay,
       std::nullopt},
      {"replay under another schedule's witness",
       {false, kOther, self, "AMK-V004: race\n"},
       LaunchPolicy::RejectedForReplay,
       "the certificate is for another schedule: it names schedule hash " + kOther +
           ", the schedule's canonical text hashes to " + kHash},
  };
  for (const RefusalCase &c : cases)
    EXPECT_EQ(launchRefusal(c.certificate, kHash, c.policy), c.refusal) << c.what;
}

} // namespace
} // namespace amk::ir
