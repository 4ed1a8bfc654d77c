// amk-bench-checker: how long the front end and the checker take on realistic schedules.
//
// For each size, generates a Llama-decode-shaped AMKIR schedule on 132 blocks as text
// (bench/gen_schedule.cpp), then times, over several repetitions: parse + elaborate, and the
// checker's progress, happens-before and conflict phases (from the verdict's own timers). Every
// schedule must be certified safe, otherwise the run fails: an unsafe verdict would stop on a
// different path than the one being measured. Peak resident memory is VmHWM of the process; with
// several --size values each size runs in its own forked child so that peaks do not mix.
#include "amk/checker/verify.h"
#include "amk/ir/frontend.h"
#include "amk/version.h"
#include "bench/gen_schedule.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sched.h>
#include <sstream>
#include <stdexcept>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

double secondsSince(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// CPU time of this thread: with other processes on the machine, wall clock and CPU time differ.
double threadCpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

std::string loadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return one + " " + five + " " + fifteen;
}

struct Options {
  std::vector<uint64_t> sizes;
  int reps = 0; // 0: automatic (7 up to 20k, 5 up to 200k, 3 up to 2M, then 1)
  std::string jsonFile;
  std::string emitFile;
  bool quiet = false;
  bool noHeader = false;
  int64_t layers = 0;   // overrides of the fitted shape
  int64_t tileRows = 0;
  std::string model;
};

bool showProgress(const Options &options) { return !options.quiet && isatty(STDERR_FILENO); }

void progress(const Options &options, const std::string &message) {
  if (showProgress(options))
    std::cerr << "\r\033[K" << message << std::flush;
}

// A field of /proc/self/status in KiB ("VmHWM", "VmRSS").
double statusKiB(const std::string &field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field + ":", 0) == 0)
      return std::stod(line.substr(field.size() + 1));
  return 0;
}

std::string cpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      std::string value = line.substr(line.find(':') + 1);
      value.erase(0, value.find_first_not_of(" \t"));
      return value;
    }
  return "unknown";
}

double memTotalGiB() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  double kib = 0;
  while (in >> key) {
    if (key == "MemTotal:") {
      in >> kib;
      break;
    }
    std::string rest;
    std::getline(in, rest);
  }
  return kib / (1024.0 * 1024.0);
}

json machine() {
  cpu_set_t set;
  CPU_ZERO(&set);
  int allowed = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : -1;
  std::time_t now = std::time(nullptr);
  char date[64];
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return json{{"cpu", cpuModel()},
              {"nproc", std::thread::hardware_concurrency()},
              {"cpus_allowed", allowed},
              {"mem_total_gib", memTotalGiB()},
              {"date", date},
              {"loadavg", loadAverage()},
              {"checker", amk::checker::kCheckerVersion}};
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n == 0 ? 0 : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int defaultReps(uint64_t size) {
  if (size <= 20'000)
    return 7;
  if (size <= 200'000)
    return 5;
  return 1;
}

amk::bench::ScheduleShape shapeFor(uint64_t size, const Options &options) {
  amk::bench::ScheduleShape shape = amk::bench::shapeForTarget(size);
  if (!options.model.empty()) {
    if (options.model == "1b")
      shape.model = amk::bench::llama32_1b();
    else if (options.model == "8b")
      shape.model = amk::bench::llama3_8b();
    else
      shape.model = amk::bench::llama3_70b();
  }
  if (options.tileRows > 0)
    shape.tileRows = options.tileRows;
  if (options.layers > 0)
    shape.layers = options.layers;
  return shape;
}

// One size, in this process: the row of the table as JSON.
json measure(uint64_t size, const Options &options) {
  const std::string tag = "[" + std::to_string(size) + "] ";
  progress(options, tag + "generating");
  auto start = Clock::now();
  amk::bench::GeneratedSchedule generated = amk::bench::generateLlamaDecode(shapeFor(size, options));
  const double generateSeconds = secondsSince(start);
  if (!options.emitFile.empty()) {
    std::ofstream out(options.emitFile);
    out << generated.text;
    if (!out)
      throw std::runtime_error("cannot write " + options.emitFile);
  }

  const int reps = options.reps > 0 ? options.reps : defaultReps(generated.instructions);
  std::vector<double> parse, prog, hb, conflicts, verifyWall, total, parseCpu, verifyCpu, totalCpu;
  const std::string loadBefore = loadAverage();
  amk::checker::Stats stats;
  for (int rep = 0; rep < reps; ++rep) {
    const std::string at = tag + "rep " + std::to_string(rep + 1) + "/" + std::to_string(reps) + ": ";
    std::string text = generated.text; // parseSchedule takes the text by value; copy outside the timer
    progress(options, at + "parse + elaborate");
    start = Clock::now();
    double cpuStart = threadCpuSeconds();
    amk::ir::Schedule schedule = amk::ir::parseSchedule("bench.amkir", std::move(text));
    const double parseSeconds = secondsSince(start);
    const double parseCpuSeconds = threadCpuSeconds() - cpuStart;
    if (!schedule.wellFormed())
      throw std::runtime_error("generated schedule is malformed:\n" + schedule.renderDiagnostics());
    const amk::ir::Program &program = *schedule.program;
    if (program.instructionCount() != generated.instructions)
      throw std::runtime_error("generator counted " + std::to_string(generated.instructions) +
                               " instructions, elaboration made " + std::to_string(program.instructionCount()));
    progress(options, at + "verify");
    start = Clock::now();
    cpuStart = threadCpuSeconds();
    amk::checker::Verdict verdict = amk::checker::verify(program);
    const double verifySeconds = secondsSince(start);
    const double verifyCpuSeconds = threadCpuSeconds() - cpuStart;
    if (!verdict.safe()) {
      std::string message = "generated schedule is not certified safe (" + std::to_string(verdict.violations.size()) +
                            " violations, " + std::to_string(verdict.racesFound) + " races):\n";
      for (const amk::ir::Diagnostic &d : amk::checker::toDiagnostics(verdict, program))
        message += amk::ir::renderText(d, *schedule.source);
      throw std::runtime_error(message);
    }
    parse.push_back(parseSeconds);
    prog.push_back(verdict.stats.progressSeconds);
    hb.push_back(verdict.stats.happensBeforeSeconds);
    conflicts.push_back(verdict.stats.conflictSeconds);
    verifyWall.push_back(verifySeconds);
    total.push_back(parseSeconds + verifySeconds);
    parseCpu.push_back(parseCpuSeconds);
    verifyCpu.push_back(verifyCpuSeconds);
    totalCpu.push_back(parseCpuSeconds + verifyCpuSeconds);
    stats = verdict.stats;
    progress(options, at + "destroying");
  }
  progress(options, "");
  if (showProgress(options))
    std::cerr << "\r\033[K" << std::flush;

  const amk::bench::ScheduleShape &shape = generated.shape;
  return json{{"target", size},
              {"instructions", stats.instructions},
              {"blocks", stats.blocks},
              {"model", shape.model.name},
              {"layers", shape.layers},
              {"tile_rows", shape.tileRows},
              {"text_bytes", generated.text.size()},
              {"generate_s", generateSeconds},
              {"reps", reps},
              {"parse_elab_s", median(parse)},
              {"progress_s", median(prog)},
              {"hb_s", median(hb)},
              {"conflicts_s", median(conflicts)},
              {"verify_s", median(verifyWall)},
              {"total_s", median(total)},
              {"total_s_min", *std::min_element(total.begin(), total.end())},
              {"total_s_max", *std::max_element(total.begin(), total.end())},
              {"parse_elab_cpu_s", median(parseCpu)},
              {"verify_cpu_s", median(verifyCpu)},
              {"total_cpu_s", median(totalCpu)},
              {"loadavg_before", loadBefore},
              {"loadavg_after", loadAverage()},
              {"peak_mib", statusKiB("VmHWM") / 1024.0},
              {"safe", true},
              {"edges", stats.graphEdges},
              {"program_order_edges", stats.programOrderEdges},
              {"barrier_edges", stats.barrierEdges},
              {"sync_edges", stats.synchronizesWithEdges},
              {"vertices", stats.graphVertices},
              {"fixpoint_rounds", stats.fixpointRounds},
              {"accesses", stats.accesses},
              {"conflict_pairs", stats.conflictPairsChecked},
              {"samples",
               {{"parse_elab_s", parse},
                {"progress_s", prog},
                {"hb_s", hb},
                {"conflicts_s", conflicts},
                {"total_s", total},
                {"total_cpu_s", totalCpu}}}};
}

// One size in a forked child, so that its peak memory is its own.
json measureInChild(uint64_t size, const Options &options) {
  int fds[2];
  if (pipe(fds) != 0)
    throw std::runtime_error("pipe failed");
  std::cout.flush();
  std::cerr.flush();
  pid_t pid = fork();
  if (pid < 0)
    throw std::runtime_error("fork failed");
  if (pid == 0) {
    close(fds[0]);
    int code = 0;
    std::string payload;
    try {
      payload = measure(size, options).dump();
    } catch (const std::exception &e) {
      std::cerr << "amk-bench-checker: size " << size << ": " << e.what() << "\n";
      code = 1;
    }
    for (size_t done = 0; done < payload.size();) {
      ssize_t n = write(fds[1], payload.data() + done, payload.size() - done);
      if (n <= 0)
        break;
      done += static_cast<size_t>(n);
    }
    close(fds[1]);
    std::cerr.flush();
    _exit(code);
  }
  close(fds[1]);
  std::string payload;
  char buffer[4096];
  ssize_t n;
  while ((n = read(fds[0], buffer, sizeof buffer)) > 0)
    payload.append(buffer, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || payload.empty())
    throw std::runtime_error("measurement of size " + std::to_string(size) + " failed");
  return json::parse(payload);
}

std::string fixed(double v, int precision) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(precision) << v;
  return out.str();
}

void printHeader(std::ostream &out) {
  out << std::right << std::setw(10) << "instrs" << std::setw(7) << "blocks" << std::setw(14) << "parse+elab s"
      << std::setw(11) << "progress s" << std::setw(9) << "hb s" << std::setw(13) << "conflicts s" << std::setw(10)
      << "total s" << std::setw(10) << "cpu s" << std::setw(10) << "peak MiB" << std::setw(10) << "edges" << std::setw(8) << "rounds"
      << std::setw(5) << "reps" << std::setw(13) << "pairs" << "  shape\n";
}

void printRow(std::ostream &out, const json &row) {
  out << std::right << std::setw(10) << row["instructions"].get<uint64_t>() << std::setw(7)
      << row["blocks"].get<uint64_t>() << std::setw(14) << fixed(row["parse_elab_s"].get<double>(), 4) << std::setw(11)
      << fixed(row["progress_s"].get<double>(), 4) << std::setw(9) << fixed(row["hb_s"].get<double>(), 4)
      << std::setw(13) << fixed(row["conflicts_s"].get<double>(), 4) << std::setw(10)
      << fixed(row["total_s"].get<double>(), 4) << std::setw(10) << fixed(row["total_cpu_s"].get<double>(), 4)
      << std::setw(10) << fixed(row["peak_mib"].get<double>(), 1)
      << std::setw(10) << row["edges"].get<uint64_t>() << std::setw(8) << row["fixpoint_rounds"].get<uint64_t>()
      << std::setw(5) << row["reps"].get<int>() << std::setw(13) << row["conflict_pairs"].get<uint64_t>() << "  "
      << row["model"].get<std::string>() << " x" << row["layers"].get<int64_t>() << " layers, "
      << row["tile_rows"].get<int64_t>() << "-row tiles\n";
}

} // namespace

int main(int argc, char **argv) {
  try {
    Options options;
    CLI::App app{"amk-bench-checker: time parse + elaborate and each checker phase on generated "
                 "Llama-decode schedules (132 blocks)"};
    app.set_version_flag("--version", std::string("amk-bench-checker ") + AMK_VERSION);
    app.add_option("--size,-s", options.sizes,
                   "target elaborated instructions (repeatable; default 10000 100000 1000000); "
                   "several sizes each run in a forked child");
    app.add_option("--reps,-r", options.reps, "repetitions per size (default: 7 up to 20k, 5 up to 200k, 1 above)")
        ->check(CLI::PositiveNumber);
    app.add_option("--json", options.jsonFile, "also write the results as JSON to this file");
    app.add_option("--emit", options.emitFile, "write the generated schedule text here (one size only)");
    app.add_option("--layers", options.layers, "override the fitted number of layers")->check(CLI::PositiveNumber);
    app.add_option("--tile-rows", options.tileRows, "override the tile rows")->check(CLI::PositiveNumber);
    app.add_option("--model", options.model, "override the model shape")->check(CLI::IsMember({"1b", "8b", "70b"}));
    app.add_flag("-q,--quiet", options.quiet, "no progress on stderr");
    app.add_flag("--no-header", options.noHeader, "print the table rows only");
    try {
      app.parse(argc, argv);
    } catch (const CLI::ParseError &e) {
      return app.exit(e) == 0 ? 0 : 2;
    }
    if (options.sizes.empty())
      options.sizes = {10'000, 100'000, 1'000'000};
    if (!options.emitFile.empty() && options.sizes.size() != 1)
      throw std::invalid_argument("--emit needs exactly one --size");

    json rows = json::array();
    if (!options.noHeader)
      printHeader(std::cout);
    for (uint64_t size : options.sizes) {
      json row = options.sizes.size() == 1 ? measure(size, options) : measureInChild(size, options);
      printRow(std::cout, row);
      std::cout.flush();
      rows.push_back(std::move(row));
    }
    if (!options.jsonFile.empty()) {
      std::ofstream out(options.jsonFile);
      out << json{{"machine", machine()}, {"results", rows}}.dump(2) << "\n";
      if (!out)
        throw std::runtime_error("cannot write " + options.jsonFile);
    }
    return 0;
  } catch (const std::exception &e) {
    std::cerr << "\namk-bench-checker: " << e.what() << "\n";
    return 1;
  }
}
