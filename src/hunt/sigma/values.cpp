// Sigma value syntax and value-transforming modifiers (see values.hpp).
#include "hunt/sigma/values.hpp"

#include <cstdint>

namespace vigil::hunt::sigma {
namespace {

bool IsWord(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;
}

constexpr std::size_t kMaxWindashVariants = 4096;

}  // namespace

std::string ParseValue(std::string_view raw) {
  std::string out;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c == '\\' && i + 1 < raw.size() &&
        (raw[i + 1] == '*' || raw[i + 1] == '?' || raw[i + 1] == '\\')) {
      out += raw[++i];
    } else if (c == '*') {
      out += kAnyRun;
    } else if (c == '?') {
      out += kAnyChar;
    } else {
      out += c;
    }
  }
  return out;
}

bool HasWildcardMarkers(std::string_view value) {
  return value.find_first_of(std::string_view("\x01\x02", 2)) != std::string_view::npos;
}

Result<std::vector<std::string>> Windash(const std::string& value) {
  static const std::string kDashes[] = {"-", "/", "\xE2\x80\x93", "\xE2\x80\x94", "\xE2\x80\x95"};
  std::vector<std::size_t> positions;
  for (std::size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if ((c == '-' || c == '/') && (i == 0 || !IsWord(value[i - 1])) && i + 1 < value.size() &&
        IsWord(value[i + 1]))
      positions.push_back(i);
  }
  std::vector<std::string> out{""};
  std::size_t from = 0;
  for (std::size_t p : positions) {
    std::vector<std::string> next;
    if (out.size() * 5 > kMaxWindashVariants)
      return Fail("windash: too many dash positions in \"" + value + "\"");
    for (const auto& prefix : out)
      for (const auto& d : kDashes) next.push_back(prefix + value.substr(from, p - from) + d);
    out = std::move(next);
    from = p + 1;
  }
  for (auto& v : out) v += value.substr(from);
  return out;
}

std::string Base64(std::string_view bytes) {
  static constexpr char kTable[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    std::uint32_t n = (static_cast<std::uint8_t>(bytes[i]) << 16) |
                      (static_cast<std::uint8_t>(bytes[i + 1]) << 8) |
                      static_cast<std::uint8_t>(bytes[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += kTable[(n >> s) & 63];
  }
  std::size_t rest = bytes.size() - i;
  if (rest == 1) {
    std::uint32_t n = static_cast<std::uint8_t>(bytes[i]) << 16;
    out += kTable[(n >> 18) & 63];
    out += kTable[(n >> 12) & 63];
    out += "==";
  } else if (rest == 2) {
    std::uint32_t n = (static_cast<std::uint8_t>(bytes[i]) << 16) |
                      (static_cast<std::uint8_t>(bytes[i + 1]) << 8);
    out += kTable[(n >> 18) & 63];
    out += kTable[(n >> 12) & 63];
    out += kTable[(n >> 6) & 63];
    out += '=';
  }
  return out;
}

std::vector<std::string> Base64Offsets(std::string_view bytes) {
  // pySigma: b64encode(i * b" " + value)[start[i] : end[(len(value) + i) % 3]]
  static constexpr int kStart[] = {0, 2, 3};
  static constexpr int kEnd[] = {0, -3, -2};  // 0: to the end
  std::vector<std::string> out;
  for (int i = 0; i < 3; ++i) {
    std::string padded(static_cast<std::size_t>(i), ' ');
    padded += bytes;
    std::string enc = Base64(padded);
    int end = kEnd[(bytes.size() + static_cast<std::size_t>(i)) % 3];
    auto stop = static_cast<std::ptrdiff_t>(enc.size()) + end;
    if (stop <= kStart[i]) continue;
    out.push_back(enc.substr(static_cast<std::size_t>(kStart[i]),
                             static_cast<std::size_t>(stop - kStart[i])));
  }
  return out;
}

std::string EncodeUtf16(std::string_view utf8, Utf16 form) {
  std::string out;
  auto put = [&](std::uint16_t u) {
    if (form == Utf16::Be) {
      out += static_cast<char>(u >> 8);
      out += static_cast<char>(u & 0xFF);
    } else {
      out += static_cast<char>(u & 0xFF);
      out += static_cast<char>(u >> 8);
    }
  };
  if (form == Utf16::LeBom) out += "\xFF\xFE";
  for (std::size_t i = 0; i < utf8.size();) {
    auto c = static_cast<unsigned char>(utf8[i]);
    std::uint32_t cp = c;
    std::size_t len = 1;
    if (c >= 0xF0 && i + 3 < utf8.size() + 0) {
      cp = c & 0x07, len = 4;
    } else if (c >= 0xE0) {
      cp = c & 0x0F, len = 3;
    } else if (c >= 0xC0) {
      cp = c & 0x1F, len = 2;
    }
    for (std::size_t k = 1; k < len && i + k < utf8.size(); ++k)
      cp = (cp << 6) | (static_cast<unsigned char>(utf8[i + k]) & 0x3F);
    i += len;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      put(static_cast<std::uint16_t>(0xD800 + (cp >> 10)));
      put(static_cast<std::uint16_t>(0xDC00 + (cp & 0x3FF)));
    } else {
      put(static_cast<std::uint16_t>(cp));
    }
  }
  return out;
}

}  // namespace vigil::hunt::sigma
