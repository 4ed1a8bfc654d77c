// The adversarial campaign loop, its bookkeeping per operator, and its reports. Sources are checked
// first (a real lowering the checker rejects fails the campaign on its own); every mutant is printed,
// parsed back, deduplicated by its canonical text and judged; true positives are minimised into
// corpus files, false accepts into regression files.
#include "amk/fuzz/campaign.h"

#include "amk/fuzz/minimise.h"
#include "amk/fuzz/mutation.h"
#include "amk/ir/content_hash.h"
#include "amk/ir/frontend.h"
#include "amk/ir/printer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace amk::fuzz {
namespace {

using Clock = std::chrono::steady_clock;

uint64_t splitmix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

double median(std::vector<double> v) {
  if (v.empty())
    return 0;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

struct Source {
  std::string path;
  ExplicitSchedule schedule;
  OracleOptions oracle; // the explorer is skipped for mutants of a source it could not decide
  size_t row = 0;
};

std::vector<const MutationOperator *> selectedOperators(const CampaignOptions &options) {
  std::vector<const MutationOperator *> ops;
  if (options.operators.empty())
    for (const MutationOperator &op : mutationOperators())
      ops.push_back(&op);
  for (const std::string &id : options.operators) {
    const MutationOperator *op = findMutationOperator(id);
    if (!op)
      throw std::invalid_argument("unknown mutation operator '" + id + "'");
    ops.push_back(op);
  }
  return ops;
}

std::string describeJudgement(const std::optional<Label> &label, const std::set<std::string> &rules) {
  if (!label)
    return "not run";
  if (*label == Label::Unsafe)
    return "unsafe " + ruleList(rules);
  return labelName(*label);
}

// V002 (mismatch) and V003 (deadlock) name one failure, reported once or twice depending on whether
// a block is also stuck at a wait; compare them as one class.
std::set<std::string> deadlockAsOne(const std::set<std::string> &rules) {
  std::set<std::string> out;
  for (const std::string &r : rules)
    out.insert(r == "AMK-V002" ? "AMK-V003" : r);
  return out;
}

std::string fileStem(const std::string &op, const std::set<std::string> &rules) {
  std::string stem = op;
  for (const std::string &r : rules) {
    std::string id = r.substr(r.find('V'));
    std::transform(id.begin(), id.end(), id.begin(), [](unsigned char ch) { return std::tolower(ch); });
    stem += "-" + id;
  }
  return stem;
}

// A header and a schedule, in canonical form (the corpus check runs amk-fmt --check on it).
std::string canonicalFile(const std::vector<std::string> &header, const ExplicitSchedule &schedule) {
  std::string text = printExplicit(schedule, header);
  std::optional<std::string> canonical = canonicalText(text);
  return canonical ? *canonical : text;
}

// Lines of at most ~100 characters, for header comments.
std::vector<std::string> wrapped(const std::string &text) {
  std::vector<std::string> lines;
  std::istringstream words(text);
  std::string word, line;
  while (words >> word) {
    if (!line.empty() && line.size() + 1 + word.size() > 98) {
      lines.push_back(line);
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
  }
  if (!line.empty())
    lines.push_back(line);
  return lines;
}

class Campaign {
public:
  Campaign(const CampaignOptions &options) : options_(options), ops_(selectedOperators(options)) {}

  void loadSources(CampaignResult &result) {
    std::vector<std::string> paths = options_.sources;
    std::sort(paths.begin(), paths.end());
    paths.erase(std::unique(paths.begin(), paths.end()), paths.end());
    for (const std::string &path : paths) {
      SourceRow row;
      row.path = path;
      ir::Schedule loaded = ir::loadSchedule(path);
      if (!loaded.program) {
        row.checker = loaded.source ? "malformed" : "unreadable";
        row.oracle = "not run";
        result.sourcesAccepted = false;
        result.sources.push_back(row);
        continue;
      }
      const ir::Program &program = *loaded.program;
      row.blocks = program.blocks;
      row.instructions = program.instructionCount();
      auto start = Clock::now();
      Judgement j = judge(program, options_.oracle);
      row.oracleSeconds = std::chrono::duration<double>(Clock::now() - start).count();
      row.checker = ruleList(j.checkerRules);
      row.oracle = std::string(labelName(j.label)) + (j.label == Label::Unsafe ? " " + ruleList(j.oracleRules) : "") +
                   " (" + j.oracle + ")";
      row.usable = j.checkerSafe && j.label != Label::Unsafe && !j.falseAccept();
      if (!row.usable)
        result.sourcesAccepted = false;
      if (row.usable) {
        Source source;
        source.path = path;
        source.schedule = explicitForm(program);
        source.oracle = options_.oracle;
        source.oracle.useExplorer = options_.oracle.useExplorer && j.explorer && *j.explorer != Label::Inconclusive;
        source.row = result.sources.size();
        seen_.insert(ir::contentHash(ir::printSurface(*loaded.ast)));
        if (std::optional<std::string> canonical = canonicalText(printExplicit(source.schedule)))
          seen_.insert(ir::contentHash(*canonical));
        sources_.push_back(std::move(source));
      }
      result.sources.push_back(row);
    }
  }

  // The mutant of one attempt, or nullopt; `source` and `op` say where it came from.
  std::optional<Mutation> mutantOf(uint64_t attempt, const Source *&source) {
    if (sources_.empty() || ops_.empty())
      return std::nullopt;
    const MutationOperator &op = *ops_[attempt % ops_.size()];
    Choices choices(splitmix(options_.seed ^ splitmix(attempt + 1)));
    // A random source, or the next ones where the operator has no place there (barrier edits on a
    // counter-only lowering), so that every operator gets its share of mutants.
    size_t first = choices.below(sources_.size());
    for (size_t k = 0; k < sources_.size(); ++k) {
      source = &sources_[(first + k) % sources_.size()];
      if (std::optional<Mutation> mutation = mutate(source->schedule, op, choices))
        return mutation;
    }
    return std::nullopt;
  }

  const MutationOperator &operatorOf(uint64_t attempt) const { return *ops_[attempt % ops_.size()]; }

  void run(CampaignResult &result, const CampaignProgress &progress) {
    result.seed = options_.seed;
    for (const MutationOperator *op : ops_) {
      OperatorRow row;
      row.id = std::string(op->id);
      result.operators.push_back(row);
    }
    std::vector<double> checkerTimes, explorerTimes, z3Times;
    uint64_t distinct = 0;
    uint64_t maxAttempts = std::max<uint64_t>(1, options_.count) * options_.maxAttemptsPerMutant;
    for (uint64_t attempt = 0; distinct < options_.count && attempt < maxAttempts && !sources_.empty(); ++attempt) {
      result.attempts = attempt + 1;
      OperatorRow &row = result.operators[attempt % ops_.size()];
      ++row.attempts;
      const Source *source = nullptr;
      std::optional<Mutation> mutation = mutantOf(attempt, source);
      if (!mutation) {
        ++row.notApplicable;
        continue;
      }
      std::string text = printExplicit(mutation->schedule);
      ir::Schedule parsed = ir::parseSchedule("mutant.amkir", text);
      if (!parsed.program || !parsed.ast) {
        ++row.malformed;
        continue;
      }
      if (!seen_.insert(ir::contentHash(ir::printSurface(*parsed.ast))).second) {
        ++row.duplicates;
        continue;
      }
      ++distinct;
      ++row.mutants;
      ++result.sources[source->row].mutants;
      Judgement j = judge(*parsed.program, source->oracle);
      checkerTimes.push_back(1000 * j.checkerSeconds);
      if (j.explorer)
        explorerTimes.push_back(1000 * j.explorerSeconds);
      if (j.z3)
        z3Times.push_back(1000 * j.z3Seconds);
      record(row, j);
      handleNotable(result, attempt, *source, *mutation, j);
      if (j.label == Label::Unsafe && !j.checkerSafe && j.explorer == Label::Unsafe &&
          j.checkerRules == j.explorerRules)
        writeAdversarial(result, attempt, *source, *mutation, j);
      if (progress)
        progress(distinct, options_.count, attempt + 1);
    }
    for (const OperatorRow &row : result.operators)
      addInto(result.total, row);
    result.total.id = "total";
    result.medianCheckerMs = median(checkerTimes);
    result.medianExplorerMs = median(explorerTimes);
    result.medianZ3Ms = median(z3Times);
  }

private:
  static void record(OperatorRow &row, const Judgement &j) {
    if (j.label == Label::Unsafe) {
      ++row.oracleUnsafe;
      ++row.rules[ruleList(j.oracleRules)];
    } else if (j.label == Label::Safe) {
      ++row.oracleSafe;
    } else {
      ++row.inconclusive;
    }
    row.byExplorer += j.oracle == "explorer";
    row.byZ3 += j.oracle == "z3";
    row.z3Runs += j.z3.has_value();
    row.z3Undecided += j.z3 == Label::Inconclusive;
    row.checkerAccepted += j.checkerSafe;
    row.falseAccepts += j.falseAccept();
    row.falseRejects += j.falseReject();
    row.oracleDisagreements += j.oraclesDisagree;
    row.ruleMismatches +=
        j.label == Label::Unsafe && !j.checkerSafe && deadlockAsOne(j.checkerRules) != deadlockAsOne(j.oracleRules);
  }

  static void addInto(OperatorRow &total, const OperatorRow &row) {
    total.attempts += row.attempts;
    total.notApplicable += row.notApplicable;
    total.malformed += row.malformed;
    total.duplicates += row.duplicates;
    total.mutants += row.mutants;
    total.oracleUnsafe += row.oracleUnsafe;
    total.oracleSafe += row.oracleSafe;
    total.inconclusive += row.inconclusive;
    total.byExplorer += row.byExplorer;
    total.byZ3 += row.byZ3;
    total.z3Runs += row.z3Runs;
    total.z3Undecided += row.z3Undecided;
    total.checkerAccepted += row.checkerAccepted;
    total.falseAccepts += row.falseAccepts;
    total.falseRejects += row.falseRejects;
    total.oracleDisagreements += row.oracleDisagreements;
    total.ruleMismatches += row.ruleMismatches;
    for (const auto &[rules, n] : row.rules)
      total.rules[rules] += n;
  }

  // Where a mutant came from, and the command that prints it again.
  std::string provenance(uint64_t attempt, const Source &source, const Mutation &mutation) const {
    std::string replay = "amk-fuzz campaign --seed " + std::to_string(options_.seed);
    if (!options_.operators.empty()) {
      replay += " --operators";
      for (const std::string &op : options_.operators)
        replay += " " + op;
    }
    replay += " --replay " + std::to_string(attempt);
    return "operator " + std::string(mutation.op->id) + " (" + std::string(mutation.op->models) + ") applied to " +
           source.path + " by the campaign of seed " + std::to_string(options_.seed) + ", attempt " +
           std::to_string(attempt) + " (`" + replay + "` prints it): " + mutation.description + ".";
  }

  void handleNotable(CampaignResult &result, uint64_t attempt, const Source &source, const Mutation &mutation,
                     const Judgement &j) {
    if (!j.falseAccept() && !j.falseReject() && !j.oraclesDisagree)
      return;
    NotableMutant n;
    n.kind = j.falseAccept() ? "FALSE ACCEPT" : j.oraclesDisagree ? "ORACLE DISAGREEMENT" : "false reject";
    n.attempt = attempt;
    n.op = std::string(mutation.op->id);
    n.source = source.path;
    n.edit = mutation.description;
    n.checker = ruleList(j.checkerRules);
    n.explorer = describeJudgement(j.explorer, j.explorerRules);
    n.z3 = describeJudgement(j.z3, j.z3Rules);
    std::string stem = fileStem(n.op, {}) + "-attempt-" + std::to_string(attempt);
    if (j.falseAccept() && !options_.regressionDirectory.empty()) {
      // Shrink while the checker still certifies it and an oracle still shows it unsafe.
      OracleOptions both = source.oracle;
      ExplicitSchedule small = minimiseSchedule(mutation.schedule, falselyAccepted(both), 3000);
      std::set<std::string> rules = j.explorer == Label::Unsafe ? j.explorerRules : j.z3Rules;
      std::vector<std::string> header = {"expect: unsafe " + ruleList(rules)};
      for (const std::string &line :
           wrapped("FALSE ACCEPT found by the adversarial campaign: " + provenance(attempt, source, mutation) +
                   " Checker: safe; explorer: " + n.explorer + "; z3: " + n.z3 + ". Minimised by amk-fuzz."))
        header.push_back(line);
      n.file = writeFile(options_.regressionDirectory, "campaign-" + stem, canonicalFile(header, small));
      result.filesWritten.push_back(n.file);
    } else if (j.falseReject() && !options_.falseRejectDirectory.empty()) {
      std::vector<std::string> header = {"false reject: checker " + n.checker + ", explorer " + n.explorer + ", z3 " +
                                         n.z3};
      for (const std::string &line : wrapped(provenance(attempt, source, mutation)))
        header.push_back(line);
      n.file = writeFile(options_.falseRejectDirectory, stem, canonicalFile(header, mutation.schedule));
      result.filesWritten.push_back(n.file);
    }
    result.notable.push_back(std::move(n));
  }

  void writeAdversarial(CampaignResult &result, uint64_t attempt, const Source &source, const Mutation &mutation,
                        const Judgement &j) {
    if (options_.adversarialDirectory.empty())
      return;
    std::string key = std::string(mutation.op->id) + " " + ruleList(j.checkerRules);
    if (adversarialWritten_.count(key))
      return;
    SchedulePredicate keeps = editStillCauses(source.schedule, mutation.schedule, j.checkerRules);
    if (!keeps(mutation.schedule))
      return; // the explorer cannot confirm the checker's exact rules: not a clean example
    adversarialWritten_.insert(key);
    MinimiseStats stats;
    ExplicitSchedule small = minimiseSchedule(mutation.schedule, keeps, 5000, &stats);
    std::vector<std::string> header = {"expect: unsafe " + ruleList(j.checkerRules)};
    for (const std::string &line :
         wrapped("Adversarial mutant: " + provenance(attempt, source, mutation) +
                 " The checker and the explorer both "
                 "report " +
                 ruleList(j.checkerRules) + ", and the same instructions with the edit undone are safe. " +
                 "Minimised by amk-fuzz (delta debugging) from " + std::to_string(stats.instructionsBefore) +
                 " instructions on " + std::to_string(stats.blocksBefore) + " blocks to " +
                 std::to_string(stats.instructionsAfter) + " on " + std::to_string(stats.blocksAfter) +
                 ", keeping both verdicts."))
      header.push_back(line);
    result.filesWritten.push_back(writeFile(options_.adversarialDirectory,
                                            fileStem(std::string(mutation.op->id), j.checkerRules),
                                            canonicalFile(header, small)));
  }

  static std::string writeFile(const std::string &directory, const std::string &stem, const std::string &text) {
    std::filesystem::create_directories(directory);
    std::filesystem::path path = std::filesystem::path(directory) / (stem + ".amkir");
    std::ofstream(path) << text;
    return path.string();
  }

  const CampaignOptions &options_;
  std::vector<const MutationOperator *> ops_;
  std::vector<Source> sources_;
  std::set<std::string> seen_; // content hashes of the canonical texts already tried
  std::set<std::string> adversarialWritten_;
};

std::string percent(uint64_t part, uint64_t whole) {
  std::ostringstream out;
  out.setf(std::ios::fixed);
  out.precision(2);
  out << (whole ? 100.0 * double(part) / double(whole) : 0.0) << "%";
  return out.str();
}

nlohmann::json rowJson(const OperatorRow &row) {
  nlohmann::json rules = nlohmann::json::object();
  for (const auto &[r, n] : row.rules)
    rules[r] = n;
  return {{"operator", row.id},
          {"attempts", row.attempts},
          {"notApplicable", row.notApplicable},
          {"malformed", row.malformed},
          {"duplicates", row.duplicates},
          {"mutants", row.mutants},
          {"oracleUnsafe", row.oracleUnsafe},
          {"oracleSafe", row.oracleSafe},
          {"inconclusive", row.inconclusive},
          {"labelledByExplorer", row.byExplorer},
          {"labelledByZ3", row.byZ3},
          {"z3Runs", row.z3Runs},
          {"z3Undecided", row.z3Undecided},
          {"checkerAccepted", row.checkerAccepted},
          {"falseAccepts", row.falseAccepts},
          {"falseRejects", row.falseRejects},
          {"oracleDisagreements", row.oracleDisagreements},
          {"ruleMismatches", row.ruleMismatches},
          {"unsafeRules", rules}};
}

} // namespace

CampaignResult runCampaign(const CampaignOptions &options, const CampaignProgress &progress) {
  auto start = Clock::now();
  CampaignResult result;
  Campaign campaign(options);
  campaign.loadSources(result);
  campaign.run(result, progress);
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return result;
}

std::optional<std::string> campaignMutant(const CampaignOptions &options, uint64_t attempt, std::string &description) {
  CampaignResult scratch;
  Campaign campaign(options);
  campaign.loadSources(scratch);
  const Source *source = nullptr;
  std::optional<Mutation> mutation = campaign.mutantOf(attempt, source);
  if (!mutation)
    return std::nullopt;
  description = std::string(mutation->op->id) + " on " + source->path + ": " + mutation->description;
  return printExplicit(mutation->schedule, {"mutant of attempt " + std::to_string(attempt) + ": " + description});
}

std::string campaignTable(const CampaignResult &r) {
  std::ostringstream out;
  out << "amk-fuzz campaign: seed " << r.seed << ", " << r.total.mutants << " distinct mutants of "
      << std::count_if(r.sources.begin(), r.sources.end(), [](const SourceRow &s) { return s.usable; })
      << " lowerings in " << r.attempts << " attempts, " << static_cast<int64_t>(r.seconds + 0.5) << " s\n\n";
  char line[512];
  const char *format = "%-22s %8s %7s %6s %7s %8s %6s %6s %6s %7s %6s %6s\n";
  std::snprintf(line, sizeof line, format, "operator", "mutants", "unsafe", "safe", "inconc", "accepted", "FA", "FR",
                "by-z3", "malform", "dup", "n/a");
  out << line;
  auto print = [&](const OperatorRow &row) {
    std::snprintf(line, sizeof line, "%-22s %8llu %7llu %6llu %7llu %8llu %6llu %6llu %6llu %7llu %6llu %6llu\n",
                  row.id.c_str(), (unsigned long long)row.mutants, (unsigned long long)row.oracleUnsafe,
                  (unsigned long long)row.oracleSafe, (unsigned long long)row.inconclusive,
                  (unsigned long long)row.checkerAccepted, (unsigned long long)row.falseAccepts,
                  (unsigned long long)row.falseRejects, (unsigned long long)row.byZ3, (unsigned long long)row.malformed,
                  (unsigned long long)row.duplicates, (unsigned long long)row.notApplicable);
    out << line;
  };
  for (const OperatorRow &row : r.operators)
    print(row);
  print(r.total);
  out << "\nFA: false accepts (checker certifies, an oracle shows unsafe); FR: false rejects (checker rejects, oracle "
         "proves safe)\n";
  out << "false accepts                 " << r.total.falseAccepts << "\n"
      << "false rejects                 " << r.total.falseRejects << " ("
      << percent(r.total.falseRejects, r.total.oracleSafe) << " of " << r.total.oracleSafe << " oracle-safe)\n"
      << "oracle disagreements          " << r.total.oracleDisagreements << "\n"
      << "unsafe, checker rules differ  " << r.total.ruleMismatches << " (V002/V003 compared as one class)\n"
      << "labelled by explorer / z3     " << r.total.byExplorer << " / " << r.total.byZ3 << "\n"
      << "z3 runs / undecided           " << r.total.z3Runs << " / " << r.total.z3Undecided << "\n";
  out.setf(std::ios::fixed);
  out.precision(3);
  out << "median ms checker/explorer/z3 " << r.medianCheckerMs << " / " << r.medianExplorerMs << " / " << r.medianZ3Ms
      << "\n";
  out << "unsafe mutants by oracle rules:";
  for (const auto &[rules, n] : r.total.rules)
    out << "  " << rules << ": " << n;
  out << "\n\nreal lowerings: " << (r.sourcesAccepted ? "all certified safe and none shown unsafe" : "NOT ALL ACCEPTED")
      << "\n";
  for (const SourceRow &s : r.sources)
    if (!s.usable)
      out << "  REJECTED SOURCE " << s.path << ": checker " << s.checker << ", oracle " << s.oracle << "\n";
  size_t shown = 0;
  for (const NotableMutant &n : r.notable) {
    if (++shown > 60) {
      out << "  ... " << r.notable.size() - 60 << " more in the JSON report\n";
      break;
    }
    out << n.kind << ": attempt " << n.attempt << ", " << n.op << " on " << n.source << ": " << n.edit << "; checker "
        << n.checker << ", explorer " << n.explorer << ", z3 " << n.z3 << (n.file.empty() ? "" : " -> " + n.file)
        << "\n";
  }
  for (const std::string &f : r.filesWritten)
    out << "written: " << f << "\n";
  out << (r.passed() ? "PASS" : "FAIL") << "\n";
  return out.str();
}

nlohmann::json campaignJson(const CampaignResult &r) {
  nlohmann::json out;
  out["schema"] = "amk-fuzz-campaign/1";
  out["seed"] = r.seed;
  out["attempts"] = r.attempts;
  out["seconds"] = r.seconds;
  out["passed"] = r.passed();
  out["sourcesAccepted"] = r.sourcesAccepted;
  out["falseRejectRate"] = r.falseRejectRate();
  out["medianMs"] = {{"checker", r.medianCheckerMs}, {"explorer", r.medianExplorerMs}, {"z3", r.medianZ3Ms}};
  out["total"] = rowJson(r.total);
  out["operators"] = nlohmann::json::array();
  for (const OperatorRow &row : r.operators)
    out["operators"].push_back(rowJson(row));
  out["sources"] = nlohmann::json::array();
  for (const SourceRow &s : r.sources)
    out["sources"].push_back({{"path", s.path},
                              {"blocks", s.blocks},
                              {"instructions", s.instructions},
                              {"checker", s.checker},
                              {"oracle", s.oracle},
                              {"usable", s.usable},
                              {"mutants", s.mutants},
                              {"oracleSeconds", s.oracleSeconds}});
  out["notable"] = nlohmann::json::array();
  for (const NotableMutant &n : r.notable)
    out["notable"].push_back({{"kind", n.kind},
                              {"attempt", n.attempt},
                              {"operator", n.op},
                              {"source", n.source},
                              {"edit", n.edit},
                              {"checker", n.checker},
                              {"explorer", n.explorer},
                              {"z3", n.z3},
                              {"file", n.file}});
  out["filesWritten"] = r.filesWritten;
  return out;
}

} // namespace amk::fuzz
