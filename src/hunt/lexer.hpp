// EQL tokens: identifiers (dotted field names, keywords), strings with escapes, numbers,
// operators and punctuation, each with its 1-based line and column. Comments are skipped.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include "hunt/hunt.hpp"

namespace vigil::hunt {

enum class Tok : std::uint8_t {
  Ident,
  String,
  Integer,
  Float,
  Eq,
  Ne,
  Lt,
  Le,
  Gt,
  Ge,
  Assign,
  Colon,
  Tilde,
  LParen,
  RParen,
  LBracket,
  RBracket,
  Comma,
  Pipe,
  Plus,
  Minus,
  Star,
  Slash,
  Percent,
  Bang,  // `!` alone: a missing-event sequence step `![...]`
  End,
};

struct Token {
  Tok kind = Tok::End;
  std::string text;  // identifier name, decoded string, or the number's source text
  std::int64_t integer = 0;
  double real = 0;
  std::size_t begin = 0, end = 0;  // byte offsets in the query
  int line = 1, column = 1;
  bool quoted_ident = false;  // `backtick quoted`: never a keyword
};

std::string_view TokName(Tok kind);
// A short description of a token for error messages: "'where'", "string \"x\"", "end of query".
std::string Describe(const Token& token);

std::expected<std::vector<Token>, QueryError> Lex(std::string_view text);

}  // namespace vigil::hunt
