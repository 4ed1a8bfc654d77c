// amk-lower: a certified AMKIR schedule to the CUDA source of its persistent megakernel. The schedule
// is verified first; a rejected one is refused unless --unsafe (for replaying counterexamples).
#include "amk/checker/verify.h"
#include "amk/ir/frontend.h"
#include "amk/ir/printer.h"
#include "amk/lowering/emit.h"
#include "amk/version.h"

#include <CLI/CLI.hpp>

#include <fstream>
#include <iostream>

int main(int argc, char **argv) {
  using namespace amk;
  try {
    CLI::App app{"amk-lower: lower a certified AMKIR schedule to one persistent cooperative CUDA kernel"};
    app.set_version_flag("--version", std::string("amk-lower ") + AMK_VERSION);
    std::string input, output;
    bool unsafe = false;
    app.add_option("schedule", input, "the schedule (.amkir)")->required();
    app.add_option("-o,--output", output, "the kernel source to write (default: standard output)");
    app.add_flag("--unsafe", unsafe, "lower a schedule the checker rejects (replay of counterexamples only)");
    try {
      app.parse(argc, argv);
    } catch (const CLI::ParseError &e) {
      return app.exit(e) == 0 ? 0 : 2;
    }
    ir::Schedule schedule = ir::loadSchedule(input);
    if (!schedule.wellFormed()) {
      std::cerr << (schedule.source ? schedule.renderDiagnostics() : schedule.readError + "\n");
      return 2;
    }
    const ir::Program &program = *schedule.program;
    checker::Verdict verdict = checker::verify(program);
    if (!verdict.safe()) {
      for (const ir::Diagnostic &d : checker::toDiagnostics(verdict, program))
        std::cerr << ir::renderText(d, *schedule.source);
      if (!unsafe) {
        std::cerr << "amk-lower: refusing " << input << ": the checker rejects it (--unsafe lowers it for replay)\n";
        return 1;
      }
      std::cerr << "amk-lower: warning: lowering a schedule the checker rejects (--unsafe)\n";
    }
    Result<lowering::Tape> tape =
        lowering::buildTape(program, ir::printSurface(*schedule.ast), checker::kCheckerVersion);
    if (!tape.ok()) {
      std::cerr << "amk-lower: " << tape.error().message << "\n";
      return 2;
    }
    std::string source = lowering::emitKernel(*tape, {input, !verdict.safe()});
    if (output.empty()) {
      std::cout << source;
    } else {
      std::ofstream out(output, std::ios::binary);
      out << source;
      if (!out) {
        std::cerr << "amk-lower: " << output << ": cannot write\n";
        return 2;
      }
    }
    return 0;
  } catch (const std::exception &e) {
    std::cerr << "amk-lower: internal error: " << e.what() << "\n";
    return 101;
  }
}
