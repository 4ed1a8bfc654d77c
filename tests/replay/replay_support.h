// Helpers shared by the replay suites: elaborate a schedule given as text, and check that every
// witness interleaving an exploration reports replays to the violation it claims.
#pragma once

#include "amk/ir/frontend.h"
#include "amk/replay/explorer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace amk::replay::test {

inline ir::Program elaborate(const std::string &text, const std::string &name = "<test>") {
  ir::Schedule schedule = ir::parseSchedule(name, text);
  EXPECT_TRUE(schedule.wellFormed()) << schedule.renderDiagnostics();
  return schedule.program ? *schedule.program : ir::Program{};
}

// The usual header: `blocks` blocks on 132 SMs, buffers a (input), x (scratch), y (output, one row
// per block), counters c, d and an array e[4].
inline std::string header(int blocks, int sms = 132, int occupancy = 1) {
  return "amkir 1\ntarget sm_90 sms=" + std::to_string(sms) + "\ngrid blocks=" + std::to_string(blocks) +
         " threads=128 occupancy=" + std::to_string(occupancy) + "\ninput a : f32[16]\nscratch x : f32[16]\n" +
         "output y : f32[" + std::to_string(blocks) + ", 16]\ncounter c\ncounter d\ncounter e[4]\n";
}

inline void expectWitnessesReplay(const ir::Program &program, const ExploreResult &result) {
  for (const Finding &finding : result.findings) {
    if (finding.rule == Rule::CoResidency && !finding.interleaving)
      continue; // a static rule: there need not be an execution that shows it
    ASSERT_TRUE(finding.interleaving) << ruleId(finding.rule) << " has no interleaving";
    FollowResult replayed = follow(program, *finding.interleaving);
    ASSERT_TRUE(replayed.valid()) << ruleId(finding.rule) << ": " << replayed.error;
    if (finding.race) {
      const RaceWitness &race = *finding.race;
      const Step &last = finding.interleaving->steps.back();
      EXPECT_EQ(last.block, race.second.block);
      EXPECT_EQ(last.index, race.second.index);
      bool found = std::any_of(replayed.races.begin(), replayed.races.end(),
                               [&](const RaceWitness &r) { return r.first == race.first && r.second == race.second; });
      EXPECT_TRUE(found) << "the interleaving does not exhibit " << finding.message;
    }
    if (finding.deadlock && (finding.rule != Rule::CoResidency || finding.deadlock->stuck.size())) {
      ASSERT_TRUE(replayed.deadlock) << "the interleaving does not end in a deadlock: " << finding.message;
      EXPECT_EQ(replayed.deadlock->stuck.size(), finding.deadlock->stuck.size());
    }
  }
}

} // namespace amk::replay::test
