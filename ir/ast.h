// The surface AST of an AMKIR file: what the parser builds and the printer prints. Every node keeps
// its source range; structural equality (sameStructure) ignores ranges, so parse(print(p)) == p.
#pragma once

#include "amk/ir/source.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace amk::ir::ast {

// Comments and blank lines around a statement, kept so that formatting never loses them.
struct Trivia {
  bool blankLineBefore = false;
  std::vector<std::string> leadingComments;   // full-line comments above the statement, without '#'
  std::optional<std::string> trailingComment; // comment on the statement's own line
};

struct Expr {
  enum class Kind { Integer, Variable, Negate, Add, Subtract, Multiply, Divide, Modulo };
  Kind kind = Kind::Integer;
  int64_t value = 0;         // Integer
  std::string name;          // Variable
  std::unique_ptr<Expr> lhs; // binary operators and Negate (operand)
  std::unique_ptr<Expr> rhs; // binary operators
  SourceRange range;

  bool isBinary() const { return kind >= Kind::Add; }
  bool mentionsVariables() const;
};

// One index of a region: a point `e`, a slice `e:e`, or the whole dimension `:`.
struct Index {
  enum class Kind { Point, Slice, All };
  Kind kind = Kind::All;
  Expr lo; // Point: the index; Slice: the start
  Expr hi; // Slice: the end (exclusive)
  SourceRange range;
};

struct Region {
  std::string buffer;
  SourceRange nameRange;
  bool indexed = false; // false: the bare name, the whole buffer
  std::vector<Index> indices;
  SourceRange range;
};

struct CounterRef {
  std::string counter;
  SourceRange nameRange;
  std::optional<Expr> index; // for counter arrays
  SourceRange range;
};

// Literal values of attributes and metadata.
struct Value {
  std::variant<int64_t, double, std::string> value;
  SourceRange range;
};

struct KeyValue {
  std::string key;
  SourceRange keyRange;
  Value value;
};

enum class SyncScope : uint8_t { Default, Relaxed, Cta }; // Default: release (signal) / acquire (wait) at GPU scope

// ".relaxed", ".cta" or "": the suffix a signal or wait is written with.
const char *syncSuffix(SyncScope scope);

struct Barrier {};

struct Signal {
  SyncScope scope = SyncScope::Default;
  CounterRef counter;
  std::optional<Expr> amount; // absent: +1
};

struct Wait {
  SyncScope scope = SyncScope::Default;
  CounterRef counter;
  Expr threshold;
};

struct Task {
  std::string op;
  SourceRange opRange;
  std::vector<Region> outputs;
  std::vector<Region> inputs;
  std::vector<KeyValue> attributes;
};

enum class BufferKind { Param, Input, State, Scratch, Output };
enum class DType { BF16, F16, F32, I32, I8 };

struct BufferDecl {
  BufferKind kind = BufferKind::Scratch;
  std::string name;
  SourceRange nameRange;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  SourceRange shapeRange;
};

struct CounterDecl {
  std::string name;
  SourceRange nameRange;
  std::optional<int64_t> size; // absent: a single counter
};

struct Stmt;

struct ForLoop {
  std::string variable;
  SourceRange variableRange;
  Expr lo;
  Expr hi;
  std::optional<std::string> openingComment; // comment after '{'
  std::vector<Stmt> body;
  Trivia closing; // comments before the closing brace
};

struct BlocksSection {
  std::string variable;
  SourceRange variableRange;
  Expr lo;
  Expr hi;
  std::optional<std::string> openingComment;
  std::vector<Stmt> body;
  Trivia closing;
};

struct Stmt {
  std::variant<BufferDecl, CounterDecl, ForLoop, BlocksSection, Barrier, Signal, Wait, Task> node;
  Trivia trivia;
  SourceRange range;
};

struct Target {
  std::string arch; // e.g. sm_90
  SourceRange archRange;
  int64_t sms = 0;
  Trivia trivia;
  SourceRange range;
};

struct Grid {
  int64_t blocks = 0;
  int64_t threads = 0;
  int64_t occupancy = 1;
  Trivia trivia;
  SourceRange range;
};

struct Meta {
  std::vector<KeyValue> entries;
  Trivia trivia;
  SourceRange range;
};

struct File {
  int64_t version = 1;
  Trivia versionTrivia;
  SourceRange versionRange;
  Target target;
  Grid grid;
  std::vector<Meta> metas;
  std::vector<Stmt> statements;              // declarations, for loops and blocks sections, in file order
  std::vector<std::string> trailingComments; // comments after the last statement
};

const char *bufferKindName(BufferKind kind);
const char *dtypeName(DType dtype);
size_t dtypeBytes(DType dtype);
bool isFloatType(DType dtype);

bool sameStructure(const Expr &a, const Expr &b);
bool sameStructure(const File &a, const File &b);

} // namespace amk::ir::ast
