// The EQL lexer: one pass over the query text producing tokens with positions.
#include "hunt/lexer.hpp"

#include <charconv>
#include <cstdlib>

#include "common/utf8.hpp"

namespace vigil::hunt {
namespace {

class Lexer {
 public:
  explicit Lexer(std::string_view text) : text_(text) {}

  std::expected<std::vector<Token>, QueryError> Run() {
    std::vector<Token> out;
    while (true) {
      if (auto err = SkipSpaceAndComments()) return std::unexpected(*err);
      Token t;
      t.begin = pos_, t.line = line_, t.column = Column();
      if (pos_ >= text_.size()) {
        t.kind = Tok::End;
        t.end = pos_;
        out.push_back(std::move(t));
        return out;
      }
      char c = text_[pos_];
      std::optional<QueryError> err;
      if (IsIdentStart(c)) {
        LexIdent(t);
      } else if (c == '`') {
        err = LexQuotedIdent(t);
      } else if (c == '"' || c == '\'') {
        err = LexString(t);
      } else if (c == '?' && pos_ + 1 < text_.size() &&
                 (text_[pos_ + 1] == '"' || text_[pos_ + 1] == '\'')) {
        ++pos_;
        err = LexRawString(t, text_[pos_]);
      } else if (IsDigit(c) || (c == '.' && pos_ + 1 < text_.size() && IsDigit(text_[pos_ + 1]))) {
        err = LexNumber(t);
      } else {
        err = LexOperator(t);
      }
      if (err) return std::unexpected(*err);
      t.end = pos_;
      out.push_back(std::move(t));
    }
  }

 private:
  static bool IsDigit(char c) { return c >= '0' && c <= '9'; }
  static bool IsIdentStart(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '@';
  }
  static bool IsIdentChar(char c) { return IsIdentStart(c) || IsDigit(c) || c == '.'; }

  int Column() const { return static_cast<int>(pos_ - line_start_) + 1; }
  QueryError ErrorAt(int line, int column, std::string message) const {
    return QueryError{line, column, std::move(message)};
  }
  QueryError ErrorHere(std::string message) const {
    return ErrorAt(line_, Column(), std::move(message));
  }

  void Advance() {
    if (text_[pos_] == '\n') {
      ++line_;
      line_start_ = pos_ + 1;
    }
    ++pos_;
  }

  std::optional<QueryError> SkipSpaceAndComments() {
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        Advance();
      } else if (text_.substr(pos_, 2) == "//") {
        while (pos_ < text_.size() && text_[pos_] != '\n') Advance();
      } else if (text_.substr(pos_, 2) == "/*") {
        int line = line_, column = Column();
        pos_ += 2;
        while (pos_ < text_.size() && text_.substr(pos_, 2) != "*/") Advance();
        if (pos_ >= text_.size()) return ErrorAt(line, column, "unterminated comment");
        pos_ += 2;
      } else {
        break;
      }
    }
    return std::nullopt;
  }

  void LexIdent(Token& t) {
    while (pos_ < text_.size() && IsIdentChar(text_[pos_])) ++pos_;
    // Endgame's `events[N].field` (a field of a sequence's N-th event, in pipes) is one name.
    if (text_.substr(t.begin, pos_ - t.begin) == "events" && pos_ < text_.size() &&
        text_[pos_] == '[') {
      std::size_t i = pos_ + 1;
      while (i < text_.size() && IsDigit(text_[i])) ++i;
      if (i > pos_ + 1 && i + 2 < text_.size() && text_[i] == ']' && text_[i + 1] == '.' &&
          IsIdentStart(text_[i + 2])) {
        pos_ = i + 2;
        while (pos_ < text_.size() && IsIdentChar(text_[pos_])) ++pos_;
      }
    }
    t.kind = Tok::Ident;
    t.text = std::string(text_.substr(t.begin, pos_ - t.begin));
  }

  std::optional<QueryError> LexQuotedIdent(Token& t) {
    ++pos_;
    std::string name;
    while (true) {
      if (pos_ >= text_.size() || text_[pos_] == '\n')
        return ErrorAt(t.line, t.column, "unterminated quoted field name");
      if (text_[pos_] == '`') {
        if (pos_ + 1 < text_.size() && text_[pos_ + 1] == '`') {  // `` is a literal backtick
          name += '`';
          pos_ += 2;
          continue;
        }
        ++pos_;
        break;
      }
      name += text_[pos_++];
    }
    if (name.empty()) return ErrorAt(t.line, t.column, "empty quoted field name");
    t.kind = Tok::Ident;
    t.quoted_ident = true;
    t.text = std::move(name);
    return std::nullopt;
  }

  // """raw""" strings, "..." and '...' with escapes.
  std::optional<QueryError> LexString(Token& t) {
    char quote = text_[pos_];
    if (quote == '"' && text_.substr(pos_, 3) == "\"\"\"") {
      pos_ += 3;
      std::size_t close = text_.find("\"\"\"", pos_);
      if (close == std::string_view::npos)
        return ErrorAt(t.line, t.column, "unterminated string: missing closing \"\"\"");
      while (pos_ < close) Advance();
      t.text = std::string(text_.substr(t.begin + 3, close - t.begin - 3));
      pos_ = close + 3;
      t.kind = Tok::String;
      return std::nullopt;
    }
    ++pos_;
    std::string value;
    while (true) {
      if (pos_ >= text_.size() || text_[pos_] == '\n')
        return ErrorAt(t.line, t.column,
                       std::string("unterminated string: missing closing ") + quote);
      char c = text_[pos_];
      if (c == quote) {
        ++pos_;
        break;
      }
      if (c != '\\') {
        value += c;
        ++pos_;
        continue;
      }
      int column = Column();
      if (pos_ + 1 >= text_.size())
        return ErrorAt(t.line, t.column,
                       std::string("unterminated string: missing closing ") + quote);
      char e = text_[pos_ + 1];
      pos_ += 2;
      switch (e) {
        case 'n':
          value += '\n';
          break;
        case 'r':
          value += '\r';
          break;
        case 't':
          value += '\t';
          break;
        case '0':
          value += '\0';
          break;
        case '\\':
          value += '\\';
          break;
        case '"':
          value += '"';
          break;
        case '\'':
          value += '\'';
          break;
        case 'u': {
          if (pos_ >= text_.size() || text_[pos_] != '{')
            return ErrorAt(line_, column, "bad escape \\u: expected \\u{hex digits}");
          std::size_t close = text_.find('}', pos_);
          std::string_view hex = close == std::string_view::npos
                                     ? std::string_view()
                                     : text_.substr(pos_ + 1, close - pos_ - 1);
          std::uint32_t cp = 0;
          auto [p, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), cp, 16);
          if (hex.empty() || hex.size() > 8 || ec != std::errc{} || p != hex.data() + hex.size() ||
              cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return ErrorAt(line_, column,
                           "bad escape \\u: expected \\u{hex digits} of a Unicode code point");
          AppendUtf8(value, cp);
          pos_ = close + 1;
          break;
        }
        default:
          return ErrorAt(line_, column,
                         std::string("unknown escape \\") + e +
                             " (known: \\n \\r \\t \\0 \\\\ \\\" \\' \\u{...})");
      }
    }
    t.kind = Tok::String;
    t.text = std::move(value);
    return std::nullopt;
  }

  // ?"raw" (Endgame): no escapes.
  std::optional<QueryError> LexRawString(Token& t, char quote) {
    ++pos_;
    std::size_t close = text_.find(quote, pos_);
    std::size_t newline = text_.find('\n', pos_);
    if (close == std::string_view::npos || newline < close)
      return ErrorAt(t.line, t.column,
                     std::string("unterminated string: missing closing ") + quote);
    t.kind = Tok::String;
    t.text = std::string(text_.substr(pos_, close - pos_));
    pos_ = close + 1;
    return std::nullopt;
  }

  std::optional<QueryError> LexNumber(Token& t) {
    bool real = false;
    while (pos_ < text_.size() && IsDigit(text_[pos_])) ++pos_;
    if (pos_ < text_.size() && text_[pos_] == '.' && pos_ + 1 < text_.size() &&
        IsDigit(text_[pos_ + 1])) {
      real = true;
      ++pos_;
      while (pos_ < text_.size() && IsDigit(text_[pos_])) ++pos_;
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      std::size_t save = pos_++;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
      if (pos_ < text_.size() && IsDigit(text_[pos_])) {
        real = true;
        while (pos_ < text_.size() && IsDigit(text_[pos_])) ++pos_;
      } else {
        pos_ = save;
      }
    }
    t.text = std::string(text_.substr(t.begin, pos_ - t.begin));
    if (real) {
      t.kind = Tok::Float;
      t.real = std::strtod(t.text.c_str(), nullptr);
    } else {
      t.kind = Tok::Integer;
      auto [p, ec] = std::from_chars(t.text.data(), t.text.data() + t.text.size(), t.integer);
      if (ec != std::errc{}) return ErrorAt(t.line, t.column, "number " + t.text + " is too large");
    }
    return std::nullopt;
  }

  std::optional<QueryError> LexOperator(Token& t) {
    char c = text_[pos_];
    char n = pos_ + 1 < text_.size() ? text_[pos_ + 1] : '\0';
    auto two = [&](Tok kind) {
      t.kind = kind;
      pos_ += 2;
    };
    auto one = [&](Tok kind) {
      t.kind = kind;
      pos_ += 1;
    };
    switch (c) {
      case '=':
        n == '=' ? two(Tok::Eq) : one(Tok::Assign);
        break;
      case '!':
        n == '=' ? two(Tok::Ne) : one(Tok::Bang);
        break;
      case '<':
        n == '=' ? two(Tok::Le) : one(Tok::Lt);
        break;
      case '>':
        n == '=' ? two(Tok::Ge) : one(Tok::Gt);
        break;
      case ':':
        one(Tok::Colon);
        break;
      case '~':
        one(Tok::Tilde);
        break;
      case '(':
        one(Tok::LParen);
        break;
      case ')':
        one(Tok::RParen);
        break;
      case '[':
        one(Tok::LBracket);
        break;
      case ']':
        one(Tok::RBracket);
        break;
      case ',':
        one(Tok::Comma);
        break;
      case '|':
        one(Tok::Pipe);
        break;
      case '+':
        one(Tok::Plus);
        break;
      case '-':
        one(Tok::Minus);
        break;
      case '*':
        one(Tok::Star);
        break;
      case '/':
        one(Tok::Slash);
        break;
      case '%':
        one(Tok::Percent);
        break;
      default: {
        unsigned char u = static_cast<unsigned char>(c);
        char buf[8];
        if (u < 0x20 || u >= 0x7f)
          std::snprintf(buf, sizeof buf, "0x%02x", u);
        else
          std::snprintf(buf, sizeof buf, "'%c'", c);
        return ErrorHere(std::string("unexpected character ") + buf);
      }
    }
    t.text = std::string(text_.substr(t.begin, pos_ - t.begin));
    return std::nullopt;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  std::size_t line_start_ = 0;
  int line_ = 1;
};

}  // namespace

std::string_view TokName(Tok kind) {
  switch (kind) {
    case Tok::Ident:
      return "identifier";
    case Tok::String:
      return "string";
    case Tok::Integer:
      return "integer";
    case Tok::Float:
      return "number";
    case Tok::Eq:
      return "'=='";
    case Tok::Ne:
      return "'!='";
    case Tok::Lt:
      return "'<'";
    case Tok::Le:
      return "'<='";
    case Tok::Gt:
      return "'>'";
    case Tok::Ge:
      return "'>='";
    case Tok::Assign:
      return "'='";
    case Tok::Colon:
      return "':'";
    case Tok::Tilde:
      return "'~'";
    case Tok::LParen:
      return "'('";
    case Tok::RParen:
      return "')'";
    case Tok::LBracket:
      return "'['";
    case Tok::RBracket:
      return "']'";
    case Tok::Comma:
      return "','";
    case Tok::Pipe:
      return "'|'";
    case Tok::Bang:
      return "'!'";
    case Tok::Plus:
      return "'+'";
    case Tok::Minus:
      return "'-'";
    case Tok::Star:
      return "'*'";
    case Tok::Slash:
      return "'/'";
    case Tok::Percent:
      return "'%'";
    case Tok::End:
      return "end of query";
  }
  return "?";
}

std::string Describe(const Token& token) {
  switch (token.kind) {
    case Tok::Ident:
      return "'" + token.text + "'";
    case Tok::String: {
      std::string s = token.text.size() > 20 ? token.text.substr(0, 20) + "..." : token.text;
      return "string \"" + s + "\"";
    }
    case Tok::Integer:
    case Tok::Float:
      return "number " + token.text;
    default:
      return std::string(TokName(token.kind));
  }
}

std::expected<std::vector<Token>, QueryError> Lex(std::string_view text) {
  if (text.size() > kMaxQueryBytes)
    return std::unexpected(QueryError{1, 1,
                                      "query is too long (" + std::to_string(text.size()) +
                                          " bytes; the limit is " + std::to_string(kMaxQueryBytes) +
                                          ")"});
  return Lexer(text).Run();
}

}  // namespace vigil::hunt
