// Sigma values: the escape and wildcard syntax (`*`, `?`, `\` escapes) and the value-transforming
// modifiers (windash, base64, base64offset, utf16le/utf16be/utf16/wide). Wildcards are carried in
// the string as the marker bytes kAnyRun / kAnyChar so transforms can keep them in place.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace vigil::hunt::sigma {

inline constexpr char kAnyRun = '\x01';   // unescaped *
inline constexpr char kAnyChar = '\x02';  // unescaped ?

// Sigma escapes: `\*`, `\?` and `\\` are literal; an unescaped * or ? is a wildcard marker.
std::string ParseValue(std::string_view raw);
bool HasWildcardMarkers(std::string_view value);

// windash: every `-` or `/` starting a word, as each of - / – — ― (all combinations, capped).
Result<std::vector<std::string>> Windash(const std::string& value);
std::string Base64(std::string_view bytes);
// The three base64 encodings of bytes at the offsets 0, 1, 2 (pySigma's base64offset).
std::vector<std::string> Base64Offsets(std::string_view bytes);
enum class Utf16 { Le, Be, LeBom };
std::string EncodeUtf16(std::string_view utf8, Utf16 form);

}  // namespace vigil::hunt::sigma
