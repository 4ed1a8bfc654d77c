// Source files and positions: every AST node, core instruction and diagnostic points back here.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace amk::ir {

struct SourceLocation {
  uint32_t offset = 0; // byte offset into the file
  uint32_t line = 1;   // 1-based
  uint32_t column = 1; // 1-based, in bytes (as clang counts)
  friend bool operator==(const SourceLocation &, const SourceLocation &) = default;
};

// Half-open byte range [begin, end).
struct SourceRange {
  SourceLocation begin;
  SourceLocation end;
  friend bool operator==(const SourceRange &, const SourceRange &) = default;
};

class SourceFile {
public:
  SourceFile(std::string name, std::string text);

  const std::string &name() const { return name_; }
  const std::string &text() const { return text_; }
  // The text of 1-based line `line`, without its line terminator.
  std::string_view lineText(uint32_t line) const;
  SourceLocation locationAt(uint32_t offset) const;
  uint32_t lineCount() const { return static_cast<uint32_t>(lineStarts_.size()); }

private:
  std::string name_;
  std::string text_;
  std::vector<uint32_t> lineStarts_;
};

} // namespace amk::ir
