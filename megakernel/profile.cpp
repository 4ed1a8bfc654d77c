#include "amk/megakernel/profile.h"

#include "amk/ir/ops.h"
#include "amk/megakernel/device/amk_abi.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <map>

namespace amk::megakernel {
namespace {

std::string what(const executor::ProfiledInstruction &in) {
  switch (in.kind) {
  case AMK_BARRIER:
    return "barrier";
  case AMK_SIGNAL:
    return "signal";
  case AMK_WAIT:
    return "wait";
  default:
    for (const ir::OpInfo &op : ir::allOps())
      if (static_cast<int>(op.id) == in.op)
        return std::string(op.name);
    return "op " + std::to_string(in.op);
  }
}

} // namespace

ProfileSummary summariseProfile(const std::vector<executor::ProfiledInstruction> &instructions) {
  ProfileSummary summary;
  if (instructions.empty())
    return summary;
  struct Accumulator {
    uint64_t count = 0;
    uint64_t totalNs = 0, maxNs = 0;
  };
  std::map<std::string, Accumulator> byWhat;
  struct BlockSpan {
    uint64_t first = std::numeric_limits<uint64_t>::max(), last = 0, busy = 0;
  };
  std::map<uint32_t, BlockSpan> blocks;
  uint64_t first = std::numeric_limits<uint64_t>::max(), last = 0;
  for (const executor::ProfiledInstruction &in : instructions) {
    const uint64_t ns = in.endNs >= in.startNs ? in.endNs - in.startNs : 0;
    Accumulator &a = byWhat[what(in)];
    ++a.count;
    a.totalNs += ns;
    a.maxNs = std::max(a.maxNs, ns);
    BlockSpan &b = blocks[in.block];
    b.first = std::min(b.first, in.startNs);
    b.last = std::max(b.last, in.endNs);
    b.busy += ns;
    first = std::min(first, in.startNs);
    last = std::max(last, in.endNs);
  }
  uint64_t blockTotal = 0, between = 0;
  for (const auto &[block, span] : blocks) {
    const uint64_t length = span.last - span.first;
    blockTotal += length;
    between += length > span.busy ? length - span.busy : 0;
  }
  summary.blocks = blocks.size();
  summary.spanUs = static_cast<double>(last - first) / 1e3;
  summary.meanBlockUs = static_cast<double>(blockTotal) / 1e3 / static_cast<double>(blocks.size());
  auto row = [&](const std::string &name, uint64_t count, uint64_t totalNs, uint64_t maxNs) {
    ProfileRow r;
    r.what = name;
    r.count = count;
    r.totalUs = static_cast<double>(totalNs) / 1e3;
    r.meanUs = count ? r.totalUs / static_cast<double>(count) : 0;
    r.maxUs = static_cast<double>(maxNs) / 1e3;
    r.perBlockUs = r.totalUs / static_cast<double>(blocks.size());
    r.share = blockTotal ? static_cast<double>(totalNs) / static_cast<double>(blockTotal) : 0;
    summary.rows.push_back(r);
  };
  for (const auto &[name, a] : byWhat)
    row(name, a.count, a.totalNs, a.maxNs);
  row("between instructions", 0, between, 0);
  std::stable_sort(summary.rows.begin(), summary.rows.end(),
                   [](const ProfileRow &a, const ProfileRow &b) { return a.totalUs > b.totalUs; });
  return summary;
}

std::string formatProfile(const ProfileSummary &s) {
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "profile: span %.1f us, %llu blocks, mean block time %.1f us\n", s.spanUs,
                static_cast<unsigned long long>(s.blocks), s.meanBlockUs);
  out += line;
  std::snprintf(line, sizeof line, "  %-22s %9s %12s %10s %10s %12s %7s\n", "what", "count", "total us", "mean us",
                "max us", "per block us", "share");
  out += line;
  for (const ProfileRow &r : s.rows) {
    std::snprintf(line, sizeof line, "  %-22s %9llu %12.1f %10.3f %10.3f %12.2f %6.1f%%\n", r.what.c_str(),
                  static_cast<unsigned long long>(r.count), r.totalUs, r.meanUs, r.maxUs, r.perBlockUs,
                  100.0 * r.share);
    out += line;
  }
  return out;
}

std::string profileTsv(const std::vector<executor::ProfiledInstruction> &instructions) {
  uint64_t first = std::numeric_limits<uint64_t>::max();
  for (const executor::ProfiledInstruction &in : instructions)
    first = std::min(first, in.startNs);
  std::string out = "block\tindex\tsite\twhat\tstart_ns\tend_ns\n";
  for (const executor::ProfiledInstruction &in : instructions)
    out += std::to_string(in.block) + "\t" + std::to_string(in.index) + "\t" + std::to_string(in.site) + "\t" +
           what(in) + "\t" + std::to_string(in.startNs - first) + "\t" + std::to_string(in.endNs - first) + "\n";
  return out;
}

} // namespace amk::megakernel
