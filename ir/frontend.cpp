#include "amk/ir/frontend.h"

#include "amk/ir/elaborate.h"
#include "amk/ir/limits.h"
#include "amk/ir/parser.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>

namespace amk::ir {

std::string Schedule::renderDiagnostics() const {
  if (!source)
    return readError + "\n";
  return renderText(diagnostics, *source);
}

Schedule parseSchedule(std::string name, std::string text, Stage upTo) {
  Schedule schedule;
  if (text.size() > limits::kMaxFileBytes) {
    // Checked before anything else looks at the text (positions are 32-bit).
    std::string size = std::to_string(text.size());
    schedule.source = std::make_unique<SourceFile>(std::move(name), std::string());
    Diagnostic &d = schedule.diagnostics.error("AMK-X001", SourceRange{},
                                               "file is " + size + " bytes, more than the limit of " +
                                                   std::to_string(limits::kMaxFileBytes) + " bytes");
    d.hasLocation = false;
    return schedule;
  }
  schedule.source = std::make_unique<SourceFile>(std::move(name), std::move(text));
  const SourceFile &source = *schedule.source;
  if (source.text().empty()) {
    schedule.diagnostics.error("AMK-P002", SourceRange{}, "file is empty; a schedule starts with 'amkir 1'");
    return schedule;
  }
  schedule.ast = parse(source, schedule.diagnostics);
  if (schedule.ast && upTo == Stage::Elaborate)
    schedule.program = elaborate(*schedule.ast, source, schedule.diagnostics);
  schedule.diagnostics.sortByLocation();
  return schedule;
}

Schedule loadSchedule(const std::string &path, Stage upTo) {
  std::string text;
  // Read at most one byte past the limit: enough to know the file is too large, never the whole of it.
  const uint64_t cap = limits::kMaxFileBytes + 1;
  auto readAll = [&](std::istream &in) {
    std::string chunk(1 << 16, '\0');
    while (in && text.size() < cap) {
      in.read(chunk.data(), static_cast<std::streamsize>(std::min<uint64_t>(chunk.size(), cap - text.size())));
      text.append(chunk.data(), static_cast<size_t>(in.gcount()));
    }
  };
  if (path == "-") {
    readAll(std::cin);
  } else {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
      Schedule schedule;
      schedule.readError = path + ": error: cannot read file: it is a directory [AMK-F001]";
      schedule.diagnostics.error("AMK-F001", SourceRange{}, "is a directory");
      return schedule;
    }
    // A regular file's size is known before reading: refuse a huge one at once.
    if (std::filesystem::is_regular_file(path, ec)) {
      uintmax_t size = std::filesystem::file_size(path, ec);
      if (!ec && size > limits::kMaxFileBytes) {
        Schedule schedule;
        schedule.readError = path + ": error: file is " + std::to_string(size) + " bytes, more than the limit of " +
                             std::to_string(limits::kMaxFileBytes) + " bytes [AMK-X001]";
        schedule.diagnostics.error("AMK-X001", SourceRange{}, "file too large");
        return schedule;
      }
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      Schedule schedule;
      schedule.readError = path + ": error: cannot open file: " + std::strerror(errno) + " [AMK-F001]";
      schedule.diagnostics.error("AMK-F001", SourceRange{}, "cannot open file");
      return schedule;
    }
    readAll(in);
    if (in.bad()) {
      Schedule schedule;
      schedule.readError = path + ": error: cannot read file [AMK-F001]";
      schedule.diagnostics.error("AMK-F001", SourceRange{}, "cannot read file");
      return schedule;
    }
  }
  if (text.size() > limits::kMaxFileBytes) {
    Schedule schedule;
    schedule.readError = path + ": error: file is larger than the limit of " + std::to_string(limits::kMaxFileBytes) +
                         " bytes [AMK-X001]";
    schedule.diagnostics.error("AMK-X001", SourceRange{}, "file too large");
    return schedule;
  }
  return parseSchedule(path == "-" ? "<stdin>" : path, std::move(text), upTo);
}

} // namespace amk::ir
