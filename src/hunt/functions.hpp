// The EQL functions that have no plain SQL equivalent, registered as SQLite user functions on the
// hunt's connection (eql_regex with RE2, eql_cidr_match, eql_between, ...), plus the validation
// the parser needs for their literal arguments.
#pragma once

#include <sqlite3.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.hpp"

namespace vigil::hunt {

// True when RE2 accepts the pattern; otherwise error says why.
bool CheckRegex(const std::string& pattern, std::string& error);

struct Cidr {
  std::array<std::uint8_t, 16> address{};
  int bits = 0;
  bool v4 = true;
};
std::optional<Cidr> ParseCidr(std::string_view text);  // "10.0.0.0/8", "fd00::/8", or one address
bool CidrContains(const Cidr& cidr, std::string_view ip);

// ASCII lower case (what SQLite's LIKE and lower() fold too).
std::string AsciiLower(std::string_view text);

// Registers every eql_* function on the connection.
Result<void> RegisterFunctions(sqlite3* db);

}  // namespace vigil::hunt
