// Internal to the store: the JSON text kept in list columns (["a","b"]) and in the `extra`
// column ({"k":"v"}). Hand-written so that encoding reuses one buffer per column (no allocation
// per event) and decoding tolerates bytes that are not valid UTF-8 (stored as they came).
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace vigil::store::json {

// Appends `value` as a JSON string literal (quotes included).
void AppendString(std::string& out, std::string_view value);

// Sets `out` to the JSON array of `items` (strings), as list columns hold them.
template <typename Strings>
void SetStringArray(std::string& out, const Strings& items) {
  out.assign("[");
  for (const auto& item : items) {
    if (out.size() > 1) out += ',';
    AppendString(out, item);
  }
  out += ']';
}

// Sets `out` to the JSON object of `members` ((key, value) string pairs, in the order given: the
// store passes them sorted by key, so the same map always gives the same text), as `extra` holds.
template <typename Members>
void SetStringObject(std::string& out, const Members& members) {
  out.assign("{");
  for (const auto& [key, value] : members) {
    if (out.size() > 1) out += ',';
    AppendString(out, key);
    out += ':';
    AppendString(out, value);
  }
  out += '}';
}

// Calls `item` for each string of a JSON array of strings. False when the text is not one.
bool ParseStringArray(std::string_view text, const std::function<void(std::string&&)>& item);

// Calls `member` for each member of a JSON object whose values are strings (other scalar values
// are kept as their JSON text). False when the text is not an object.
bool ParseStringObject(std::string_view text,
                       const std::function<void(std::string&&, std::string&&)>& member);

}  // namespace vigil::store::json
