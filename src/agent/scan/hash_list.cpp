// See hash_list.hpp.
#include "agent/scan/hash_list.hpp"

#include <cctype>

#include "common/sha256.hpp"

namespace vigil::agent::scan {

Result<std::set<std::string>> ParseSha256List(const std::vector<std::string>& values) {
  if (values.empty()) return Fail("no SHA-256 value given");
  std::set<std::string> out;
  for (std::size_t i = 0; i < values.size(); ++i) {
    const std::string& v = values[i];
    const std::string where = "sha256 value " + std::to_string(i + 1) + " '" +
                              (v.size() > 80 ? v.substr(0, 80) + "..." : v) + "': ";
    if (v.size() != 64)
      return Fail(where + "a SHA-256 is 64 hex digits, this has " + std::to_string(v.size()) +
                  " characters");
    std::string lower(64, '0');
    for (std::size_t c = 0; c < v.size(); ++c) {
      const auto ch = static_cast<unsigned char>(v[c]);
      if (!std::isxdigit(ch))
        return Fail(where + "character " + std::to_string(c + 1) + " ('" + v[c] +
                    "') is not a hex digit");
      lower[c] = static_cast<char>(std::tolower(ch));
    }
    out.insert(std::move(lower));
  }
  return out;
}

std::string Sha256ListDigest(const std::set<std::string>& values) {
  std::string text;
  for (const auto& v : values) text += v + "\n";
  return Sha256Hex(text);
}

}  // namespace vigil::agent::scan
