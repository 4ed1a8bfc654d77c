#include "amk/ir/lexer.h"

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <optional>

namespace amk::ir {

const char *tokenKindName(TokenKind kind) {
  switch (kind) {
  case TokenKind::Identifier:
    return "identifier";
  case TokenKind::Integer:
    return "integer";
  case TokenKind::Float:
    return "number";
  case TokenKind::String:
    return "string";
  case TokenKind::Comment:
    return "comment";
  case TokenKind::Newline:
    return "end of line";
  case TokenKind::LBrace:
    return "'{'";
  case TokenKind::RBrace:
    return "'}'";
  case TokenKind::LBracket:
    return "'['";
  case TokenKind::RBracket:
    return "']'";
  case TokenKind::LParen:
    return "'('";
  case TokenKind::RParen:
    return "')'";
  case TokenKind::Comma:
    return "','";
  case TokenKind::Colon:
    return "':'";
  case TokenKind::DotDot:
    return "'..'";
  case TokenKind::Dot:
    return "'.'";
  case TokenKind::Equals:
    return "'='";
  case TokenKind::Plus:
    return "'+'";
  case TokenKind::Minus:
    return "'-'";
  case TokenKind::Star:
    return "'*'";
  case TokenKind::Slash:
    return "'/'";
  case TokenKind::Percent:
    return "'%'";
  case TokenKind::Arrow:
    return "'<-'";
  case TokenKind::GreaterEqual:
    return "'>='";
  case TokenKind::EndOfFile:
    return "end of file";
  case TokenKind::Invalid:
    return "invalid token";
  }
  return "token";
}

std::string quoteForMessage(std::string_view text) {
  static const char hex[] = "0123456789abcdef";
  std::string out;
  for (char c : text) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f && c != '\\') {
      out.push_back(c);
    } else if (c == '\\') {
      out += "\\\\";
    } else {
      out += "\\x";
      out.push_back(hex[u >> 4]);
      out.push_back(hex[u & 15]);
    }
  }
  return out;
}

namespace {

// Length of the valid UTF-8 sequence at text[i], or 0 if it is not one.
size_t utf8SequenceLength(std::string_view text, size_t i) {
  unsigned char c = static_cast<unsigned char>(text[i]);
  if (c < 0x80)
    return 1;
  size_t length;
  uint32_t codepoint;
  if ((c & 0xE0) == 0xC0) {
    length = 2;
    codepoint = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    length = 3;
    codepoint = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    length = 4;
    codepoint = c & 0x07;
  } else {
    return 0;
  }
  if (i + length > text.size())
    return 0;
  for (size_t k = 1; k < length; ++k) {
    unsigned char cc = static_cast<unsigned char>(text[i + k]);
    if ((cc & 0xC0) != 0x80)
      return 0;
    codepoint = (codepoint << 6) | (cc & 0x3F);
  }
  static const uint32_t minimum[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (codepoint < minimum[length] || codepoint > 0x10FFFF || (codepoint >= 0xD800 && codepoint <= 0xDFFF))
    return 0;
  return length;
}

bool isIdentStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isIdentChar(char c) { return isIdentStart(c) || isDigit(c); }

class Lexer {
public:
  Lexer(const SourceFile &file, Diagnostics &diagnostics)
      : file_(file), text_(file.text()), diagnostics_(diagnostics) {}

  std::vector<Token> run() {
    std::vector<Token> tokens;
    if (!checkUtf8()) {
      tokens.push_back(makeToken(TokenKind::EndOfFile, text_.size(), text_.size()));
      return tokens;
    }
    while (pos_ < text_.size()) {
      if (diagnostics_.full())
        break;
      char c = text_[pos_];
      if (c == ' ' || c == '\t') {
        ++pos_;
        continue;
      }
      size_t start = pos_;
      if (c == '\n' || (c == '\r' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '\n')) {
        pos_ += c == '\r' ? 2 : 1;
        tokens.push_back(makeToken(TokenKind::Newline, start, pos_));
        continue;
      }
      if (c == '#') {
        while (pos_ < text_.size() && text_[pos_] != '\n' &&
               !(text_[pos_] == '\r' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '\n'))
          ++pos_;
        Token t = makeToken(TokenKind::Comment, start, pos_);
        std::string_view body = text_.substr(start + 1, pos_ - start - 1);
        // Trailing blanks are not part of a comment's text, and neither is a carriage return that ends
        // it (before the end of the file or a CRLF): printed back, it would end the line in CRLF.
        while (!body.empty() && (body.back() == ' ' || body.back() == '\t' || body.back() == '\r'))
          body.remove_suffix(1);
        t.stringValue = std::string(body);
        tokens.push_back(std::move(t));
        continue;
      }
      if (isIdentStart(c)) {
        while (pos_ < text_.size() && isIdentChar(text_[pos_]))
          ++pos_;
        tokens.push_back(makeToken(TokenKind::Identifier, start, pos_));
        continue;
      }
      if (isDigit(c)) {
        if (std::optional<Token> t = lexNumber())
          tokens.push_back(std::move(*t));
        continue;
      }
      if (c == '"') {
        if (std::optional<Token> t = lexString())
          tokens.push_back(std::move(*t));
        continue;
      }
      if (std::optional<TokenKind> kind = punctuation()) {
        tokens.push_back(makeToken(*kind, start, pos_));
        continue;
      }
      size_t length = utf8SequenceLength(text_, pos_);
      pos_ += length == 0 ? 1 : length;
      diagnostics_.error("AMK-L001", range(start, pos_),
                         "invalid character '" + quoteForMessage(text_.substr(start, pos_ - start)) + "'");
    }
    tokens.push_back(makeToken(TokenKind::EndOfFile, text_.size(), text_.size()));
    return tokens;
  }

private:
  bool checkUtf8() {
    for (size_t i = 0; i < text_.size();) {
      size_t length = utf8SequenceLength(text_, i);
      if (length == 0) {
        diagnostics_.error("AMK-L002", range(i, i + 1),
                           "file is not valid UTF-8: byte '" + quoteForMessage(text_.substr(i, 1)) + "' at offset " +
                               std::to_string(i));
        return false;
      }
      i += length;
    }
    return true;
  }

  std::optional<TokenKind> punctuation() {
    char c = text_[pos_];
    char next = pos_ + 1 < text_.size() ? text_[pos_ + 1] : '\0';
    auto one = [&](TokenKind kind) {
      pos_ += 1;
      return kind;
    };
    auto two = [&](TokenKind kind) {
      pos_ += 2;
      return kind;
    };
    switch (c) {
    case '{':
      return one(TokenKind::LBrace);
    case '}':
      return one(TokenKind::RBrace);
    case '[':
      return one(TokenKind::LBracket);
    case ']':
      return one(TokenKind::RBracket);
    case '(':
      return one(TokenKind::LParen);
    case ')':
      return one(TokenKind::RParen);
    case ',':
      return one(TokenKind::Comma);
    case ':':
      return one(TokenKind::Colon);
    case '=':
      return one(TokenKind::Equals);
    case '+':
      return one(TokenKind::Plus);
    case '-':
      return one(TokenKind::Minus);
    case '*':
      return one(TokenKind::Star);
    case '/':
      return one(TokenKind::Slash);
    case '%':
      return one(TokenKind::Percent);
    case '.':
      return next == '.' ? two(TokenKind::DotDot) : one(TokenKind::Dot);
    case '<':
      return next == '-' ? two(TokenKind::Arrow) : one(TokenKind::Invalid);
    case '>':
      return next == '=' ? two(TokenKind::GreaterEqual) : one(TokenKind::Invalid);
    default:
      return std::nullopt;
    }
  }

  // Integers are decimal; a '.' followed by a digit or an exponent makes a float ("0..8" is a range).
  std::optional<Token> lexNumber() {
    size_t start = pos_;
    while (pos_ < text_.size() && isDigit(text_[pos_]))
      ++pos_;
    bool isFloat = false;
    if (pos_ + 1 < text_.size() && text_[pos_] == '.' && isDigit(text_[pos_ + 1])) {
      isFloat = true;
      ++pos_;
      while (pos_ < text_.size() && isDigit(text_[pos_]))
        ++pos_;
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      size_t p = pos_ + 1;
      if (p < text_.size() && (text_[p] == '+' || text_[p] == '-'))
        ++p;
      if (p < text_.size() && isDigit(text_[p])) {
        isFloat = true;
        pos_ = p;
        while (pos_ < text_.size() && isDigit(text_[pos_]))
          ++pos_;
      }
    }
    bool glued = pos_ < text_.size() && isIdentChar(text_[pos_]);
    while (pos_ < text_.size() && isIdentChar(text_[pos_]))
      ++pos_;
    std::string_view spelling = text_.substr(start, pos_ - start);
    Token t = makeToken(isFloat ? TokenKind::Float : TokenKind::Integer, start, pos_);
    t.intValue = 1;
    t.floatValue = 1;
    // A bad number still yields a token (value 1) so that the parser reports no hole after it.
    if (glued) {
      diagnostics_.error("AMK-L003", range(start, pos_), "malformed number '" + quoteForMessage(spelling) + "'");
      return t;
    }
    if (isFloat) {
      std::string copy(spelling);
      errno = 0;
      char *end = nullptr;
      t.floatValue = std::strtod(copy.c_str(), &end);
      if (errno == ERANGE && (t.floatValue > 1 || t.floatValue < -1)) {
        diagnostics_.error("AMK-L004", t.range, "number '" + copy + "' is out of range for a 64-bit float");
        t.floatValue = 1; // a harmless stand-in: the error is already reported
        return t;
      }
    } else {
      auto [ptr, ec] = std::from_chars(spelling.data(), spelling.data() + spelling.size(), t.intValue);
      if (ec != std::errc() || ptr != spelling.data() + spelling.size()) {
        diagnostics_.error("AMK-L004", t.range,
                           "integer literal '" + std::string(spelling) + "' does not fit in 64 bits");
        t.intValue = 1; // a harmless stand-in: the error is already reported
        return t;
      }
    }
    return t;
  }

  std::optional<Token> lexString() {
    size_t start = pos_;
    ++pos_;
    std::string value;
    while (pos_ < text_.size() && text_[pos_] != '"' && text_[pos_] != '\n' && text_[pos_] != '\r') {
      char c = text_[pos_];
      if (c == '\\' && pos_ + 1 < text_.size() && text_[pos_ + 1] != '\n' && text_[pos_ + 1] != '\r') {
        char e = text_[pos_ + 1];
        if (e == '"' || e == '\\') {
          value.push_back(e);
          pos_ += 2;
          continue;
        }
        if (e == 'n') {
          value.push_back('\n');
          pos_ += 2;
          continue;
        }
        diagnostics_.error("AMK-L005", range(pos_, pos_ + 2),
                           "unknown escape sequence '\\" + quoteForMessage(std::string_view(&e, 1)) +
                               "' in string (use \\\", \\\\ or \\n)");
        pos_ += 2;
        continue;
      }
      if (static_cast<unsigned char>(c) < 0x20 && c != '\t') {
        diagnostics_.error("AMK-L001", range(pos_, pos_ + 1),
                           "invalid character '" + quoteForMessage(std::string_view(&c, 1)) + "' in string");
        ++pos_;
        continue;
      }
      value.push_back(c);
      ++pos_;
    }
    if (pos_ >= text_.size() || text_[pos_] != '"') {
      diagnostics_.error("AMK-L006", range(start, pos_), "unterminated string literal");
      Token t = makeToken(TokenKind::String, start, pos_);
      t.stringValue = std::move(value);
      return t;
    }
    ++pos_;
    Token t = makeToken(TokenKind::String, start, pos_);
    t.stringValue = std::move(value);
    return t;
  }

  SourceRange range(size_t begin, size_t end) const {
    return SourceRange{file_.locationAt(static_cast<uint32_t>(begin)), file_.locationAt(static_cast<uint32_t>(end))};
  }

  Token makeToken(TokenKind kind, size_t begin, size_t end) const {
    Token t;
    t.kind = kind;
    t.text = text_.substr(begin, end - begin);
    t.range = range(begin, end);
    return t;
  }

  const SourceFile &file_;
  std::string_view text_;
  Diagnostics &diagnostics_;
  size_t pos_ = 0;
};

} // namespace

std::vector<Token> tokenize(const SourceFile &file, Diagnostics &diagnostics) { return Lexer(file, diagnostics).run(); }

} // namespace amk::ir
