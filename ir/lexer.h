// The AMKIR lexer: bytes to tokens. Newlines are tokens (statements end at a line break) and
// comments are tokens (the printer keeps them), so the parser sees the whole text.
#pragma once

#include "amk/ir/diagnostics.h"
#include "amk/ir/source.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace amk::ir {

enum class TokenKind {
  Identifier,
  Integer,
  Float,
  String,
  Comment, // text after '#', without the '#'
  Newline,
  LBrace,
  RBrace,
  LBracket,
  RBracket,
  LParen,
  RParen,
  Comma,
  Colon,
  DotDot,
  Dot,
  Equals,
  Plus,
  Minus,
  Star,
  Slash,
  Percent,
  Arrow,        // <-
  GreaterEqual, // >=
  Invalid,      // a lone '<' or '>': no token of AMKIR, reported by the parser where it stands
  EndOfFile,
};

const char *tokenKindName(TokenKind kind);

struct Token {
  TokenKind kind = TokenKind::EndOfFile;
  std::string_view text; // spelling in the source
  SourceRange range;
  int64_t intValue = 0;
  double floatValue = 0;
  std::string stringValue; // decoded string literal, or comment text
};

// Tokenizes the whole file. Lexical errors are reported; a malformed number or string still yields
// its token, other offending bytes are skipped. A file that is not valid UTF-8 yields one
// diagnostic (AMK-L002) and no tokens but EndOfFile.
std::vector<Token> tokenize(const SourceFile &file, Diagnostics &diagnostics);

// Quote `text` for a message: printable ASCII as is, anything else as \xNN.
std::string quoteForMessage(std::string_view text);

} // namespace amk::ir
