// A whole string as a number (std::from_chars, base 10): nullopt unless every character is used.
#pragma once

#include <charconv>
#include <optional>
#include <string_view>

namespace vigil {

template <class T>
std::optional<T> ToNumber(std::string_view text) {
  T value{};
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace vigil
