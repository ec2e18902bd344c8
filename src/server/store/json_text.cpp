// JSON text of list and extra columns; see json_text.hpp.
#include "server/store/json_text.hpp"

#include <cstdint>

#include "common/utf8.hpp"

namespace vigil::store::json {

void AppendString(std::string& out, std::string_view value) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  std::size_t run = 0;  // start of the pending run of bytes that need no escaping
  for (std::size_t i = 0; i < value.size(); ++i) {
    auto c = static_cast<unsigned char>(value[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(value.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 15];
    }
  }
  out.append(value.data() + run, value.size() - run);
  out += '"';
}

namespace {

class Parser {
 public:
  explicit Parser(std::string_view text) : s_(text) {}

  void SkipSpace() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t' || s_[i_] == '\r'))
      ++i_;
  }
  bool Eat(char c) {
    SkipSpace();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  bool AtEnd() {
    SkipSpace();
    return i_ == s_.size();
  }
  char Peek() {
    SkipSpace();
    return i_ < s_.size() ? s_[i_] : '\0';
  }

  bool String(std::string& out) {
    if (!Eat('"')) return false;
    while (i_ < s_.size()) {
      char c = s_[i_++];
      if (c == '"') return true;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= s_.size()) return false;
      char e = s_[i_++];
      switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          std::uint32_t cp = 0;
          if (!Hex4(cp)) return false;
          if (cp >= 0xD800 && cp < 0xDC00 && i_ + 1 < s_.size() && s_[i_] == '\\' &&
              s_[i_ + 1] == 'u') {
            i_ += 2;
            std::uint32_t low = 0;
            if (!Hex4(low)) return false;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          AppendUtf8(out, cp);
          break;
        }
        default:
          return false;
      }
    }
    return false;
  }

  // Any scalar that is not a string (number, true, false, null): its text.
  bool Scalar(std::string& out) {
    SkipSpace();
    std::size_t start = i_;
    while (i_ < s_.size() && s_[i_] != ',' && s_[i_] != '}' && s_[i_] != ']' && s_[i_] != ' ') ++i_;
    out.assign(s_.substr(start, i_ - start));
    return i_ > start;
  }

 private:
  bool Hex4(std::uint32_t& cp) {
    if (i_ + 4 > s_.size()) return false;
    for (int k = 0; k < 4; ++k) {
      char h = s_[i_++];
      cp <<= 4;
      if (h >= '0' && h <= '9')
        cp |= static_cast<std::uint32_t>(h - '0');
      else if (h >= 'a' && h <= 'f')
        cp |= static_cast<std::uint32_t>(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F')
        cp |= static_cast<std::uint32_t>(h - 'A' + 10);
      else
        return false;
    }
    return true;
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

}  // namespace

bool ParseStringArray(std::string_view text, const std::function<void(std::string&&)>& item) {
  Parser p(text);
  if (!p.Eat('[')) return false;
  if (p.Eat(']')) return p.AtEnd();
  do {
    std::string value;
    if (!p.String(value)) return false;
    item(std::move(value));
  } while (p.Eat(','));
  return p.Eat(']') && p.AtEnd();
}

bool ParseStringObject(std::string_view text,
                       const std::function<void(std::string&&, std::string&&)>& member) {
  Parser p(text);
  if (!p.Eat('{')) return false;
  if (p.Eat('}')) return p.AtEnd();
  do {
    std::string key, value;
    if (!p.String(key) || !p.Eat(':')) return false;
    if (p.Peek() == '"' ? !p.String(value) : !p.Scalar(value)) return false;
    member(std::move(key), std::move(value));
  } while (p.Eat(','));
  return p.Eat('}') && p.AtEnd();
}

}  // namespace vigil::store::json
