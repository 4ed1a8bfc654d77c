// The lowering matrix: plan every (model, target, variant), write each schedule, verify it, and
// summarise per model. Jobs run on a small thread pool; results keep the enumeration order.
#include "amk/lowering/matrix.h"

#include "amk/ir/parallel.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <mutex>
#include <sstream>

namespace amk::lowering {

namespace fs = std::filesystem;

std::string Variant::label() const {
  std::string label =
      std::string(strategyName(strategy)) + "-b" + std::to_string(blocksDivisor) + "-r" + std::to_string(rowsPerTile);
  if (strategy == Strategy::SplitKv)
    label += "-s" + std::to_string(splits);
  return label;
}

std::vector<Variant> defaultVariants() {
  std::vector<Variant> variants;
  for (Strategy s : allStrategies()) {
    int64_t split = s == Strategy::SplitKv ? 4 : 1;
    variants.push_back({s, 1, 16, split});
    variants.push_back({s, 1, 64, s == Strategy::SplitKv ? 8 : 1});
    variants.push_back({s, 2, 32, s == Strategy::SplitKv ? 2 : 1});
  }
  return variants;
}

int64_t MatrixSummary::lowerings() const { return static_cast<int64_t>(rows.size()); }

int64_t MatrixSummary::accepted() const {
  return std::count_if(rows.begin(), rows.end(),
                       [](const MatrixRow &r) { return r.error.empty() && r.outcome.accepted; });
}

namespace {

struct ModelTotals {
  int64_t lowerings = 0, accepted = 0, minInstructions = 0, maxInstructions = 0, maxBytes = 0;
  std::vector<double> seconds;
};

std::map<std::string, ModelTotals> totalsByModel(const std::vector<MatrixRow> &rows) {
  std::map<std::string, ModelTotals> totals;
  for (const MatrixRow &r : rows) {
    ModelTotals &t = totals[r.model];
    ++t.lowerings;
    if (!r.error.empty())
      continue;
    t.accepted += r.outcome.accepted;
    t.minInstructions =
        t.seconds.empty() ? r.outcome.instructions : std::min(t.minInstructions, r.outcome.instructions);
    t.maxInstructions = std::max(t.maxInstructions, r.outcome.instructions);
    t.maxBytes = std::max(t.maxBytes, r.bytes);
    t.seconds.push_back(r.outcome.seconds);
  }
  return totals;
}

double median(std::vector<double> v) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

std::string fixed(double v, int digits) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(digits) << v;
  return out.str();
}

} // namespace

std::string MatrixSummary::table() const {
  std::ostringstream out;
  out << "| model | lowerings | accepted | instructions | largest file KiB | verify s median | verify s max |\n";
  out << "|---|---|---|---|---|---|---|\n";
  double totalSeconds = 0, maxSeconds = 0;
  for (const auto &[model, t] : totalsByModel(rows)) {
    double most = t.seconds.empty() ? 0 : *std::max_element(t.seconds.begin(), t.seconds.end());
    for (double s : t.seconds)
      totalSeconds += s;
    maxSeconds = std::max(maxSeconds, most);
    out << "| " << model << " | " << t.lowerings << " | " << t.accepted << " | " << t.minInstructions << " – "
        << t.maxInstructions << " | " << fixed(t.maxBytes / 1024.0, 0) << " | " << fixed(median(t.seconds), 3) << " | "
        << fixed(most, 3) << " |\n";
  }
  out << "| all | " << lowerings() << " | " << accepted() << " | | | | " << fixed(maxSeconds, 3) << " |\n";
  out << "\nverification time, all lowerings: " << fixed(totalSeconds, 1) << " s\n";
  for (const MatrixRow &r : rows)
    if (!r.error.empty() || !r.outcome.accepted)
      out << "NOT ACCEPTED " << r.model << " " << r.target << " " << r.variant << ": "
          << (r.error.empty() ? r.outcome.verdict : r.error) << "\n";
  for (const std::string &e : modelErrors)
    out << "MODEL REFUSED " << e << "\n";
  return out.str();
}

std::string MatrixSummary::json() const {
  nlohmann::json rowsJson = nlohmann::json::array();
  for (const MatrixRow &r : rows)
    rowsJson.push_back({{"model", r.model},
                        {"target", r.target},
                        {"variant", r.variant},
                        {"file", r.file},
                        {"error", r.error},
                        {"bytes", r.bytes},
                        {"tasks", r.tasks},
                        {"syncs", r.syncs},
                        {"accepted", r.error.empty() && r.outcome.accepted},
                        {"verdict", r.outcome.verdict},
                        {"instructions", r.outcome.instructions},
                        {"verify_seconds", r.outcome.seconds}});
  nlohmann::json root = {{"schema", "amk-plan-matrix/1"},
                         {"lowerings", lowerings()},
                         {"accepted", accepted()},
                         {"model_errors", modelErrors},
                         {"rows", rowsJson}};
  return root.dump(1) + "\n";
}

MatrixSummary runMatrix(const MatrixOptions &options, const Verifier &verify,
                        const std::function<void(size_t, size_t, const MatrixRow &)> &progress) {
  MatrixSummary summary;
  std::vector<std::string> modelNames = options.models;
  if (modelNames.empty()) {
    std::error_code ec;
    for (const fs::directory_entry &entry : fs::directory_iterator(options.modelsDirectory, ec))
      if (entry.is_directory() && fs::exists(entry.path() / "config.json"))
        modelNames.push_back(entry.path().filename().string());
    if (ec)
      summary.modelErrors.push_back(options.modelsDirectory + ": " + ec.message());
    std::sort(modelNames.begin(), modelNames.end());
  }
  std::vector<Target> targets;
  if (options.targets.empty())
    targets = knownTargets();
  for (const std::string &name : options.targets) {
    if (std::optional<Target> t = findTarget(name))
      targets.push_back(*t);
    else
      summary.modelErrors.push_back("unknown target '" + name + "'");
  }
  std::vector<Variant> variants = options.variants.empty() ? defaultVariants() : options.variants;

  struct Job {
    const model::ModelConfig *model;
    const Target *target;
    const Variant *variant;
  };
  std::vector<model::ModelConfig> models;
  models.reserve(modelNames.size());
  for (const std::string &name : modelNames) {
    Result<model::ModelConfig> config = model::loadModelConfig((fs::path(options.modelsDirectory) / name).string());
    if (!config.ok()) {
      summary.modelErrors.push_back(name + ": " + config.error().render());
      continue;
    }
    models.push_back(*config);
    models.back().name = name;
  }
  std::vector<Job> jobs;
  for (const model::ModelConfig &m : models)
    for (const Target &t : targets)
      for (const Variant &v : variants)
        jobs.push_back({&m, &t, &v});

  summary.rows.resize(jobs.size());
  size_t done = 0;
  std::mutex progressMutex;
  ir::parallelFor(jobs.size(), options.jobs, [&](size_t i) {
    const Job &job = jobs[i];
    MatrixRow &row = summary.rows[i];
    row.model = job.model->name;
    row.target = job.target->name;
    row.variant = job.variant->label();
    PlanOptions plan;
    plan.strategy = job.variant->strategy;
    plan.target = *job.target;
    plan.blocks = std::max<int64_t>(1, job.target->sms / job.variant->blocksDivisor);
    plan.rowsPerTile = job.variant->rowsPerTile;
    plan.splits = job.variant->splits;
    Result<Plan> result = planSchedule(*job.model, plan);
    if (!result) {
      row.error = result.error().message;
    } else {
      row.bytes = static_cast<int64_t>(result->text.size());
      row.tasks = result->stats.tasks;
      row.syncs = result->stats.syncs;
      if (!options.outputDirectory.empty()) {
        fs::path directory = fs::path(options.outputDirectory) / row.model;
        std::error_code ec;
        fs::create_directories(directory, ec);
        fs::path file = directory / (row.target + "-" + row.variant + ".amkir");
        std::ofstream out(file, std::ios::binary);
        out << result->text;
        row.file = file.string();
        if (!out)
          row.error = file.string() + ": cannot write";
      }
      if (row.error.empty())
        row.outcome = verify(row.file.empty() ? row.model + ".amkir" : row.file, result->text);
    }
    std::lock_guard<std::mutex> lock(progressMutex);
    size_t finished = ++done;
    if (progress)
      progress(finished, jobs.size(), row);
  });
  return summary;
}

} // namespace amk::lowering
