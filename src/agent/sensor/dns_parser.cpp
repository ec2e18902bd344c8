// DNS message parser; see dns_parser.hpp.
#include "agent/sensor/dns_parser.hpp"

#include <arpa/inet.h>

#include <array>
#include <cstdio>
#include <optional>

namespace vigil::agent::dns {
namespace {

class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> b) : b_(b) {}
  bool U8(std::size_t at, std::uint8_t& v) const {
    if (at >= b_.size()) return false;
    v = b_[at];
    return true;
  }
  bool U16(std::size_t at, std::uint16_t& v) const {
    if (at + 2 > b_.size()) return false;
    v = static_cast<std::uint16_t>(b_[at] << 8 | b_[at + 1]);
    return true;
  }
  bool U32(std::size_t at, std::uint32_t& v) const {
    if (at + 4 > b_.size()) return false;
    v = static_cast<std::uint32_t>(b_[at]) << 24 | static_cast<std::uint32_t>(b_[at + 1]) << 16 |
        static_cast<std::uint32_t>(b_[at + 2]) << 8 | b_[at + 3];
    return true;
  }
  std::size_t size() const { return b_.size(); }
  const std::uint8_t* at(std::size_t i) const { return b_.data() + i; }

  // Reads a (possibly compressed) name at `pos`; `end` receives the offset after it in the
  // original position. False when malformed.
  bool Name(std::size_t pos, std::string& out, std::size_t& end) const {
    out.clear();
    bool jumped = false;
    int jumps = 0;
    std::size_t p = pos;
    for (;;) {
      std::uint8_t len;
      if (!U8(p, len)) return false;
      if ((len & 0xC0) == 0xC0) {
        std::uint8_t lo;
        if (!U8(p + 1, lo)) return false;
        std::size_t target = static_cast<std::size_t>(len & 0x3F) << 8 | lo;
        if (!jumped) end = p + 2;
        if (target >= p || ++jumps > kMaxJumps) return false;  // only backwards: no loops
        jumped = true;
        p = target;
        continue;
      }
      if ((len & 0xC0) != 0) return false;  // 0x40/0x80: reserved label types
      if (len == 0) {
        if (!jumped) end = p + 1;
        return true;
      }
      if (p + 1 + len > b_.size()) return false;
      if (!out.empty()) out.push_back('.');
      out.append(reinterpret_cast<const char*>(b_.data() + p + 1), len);
      if (out.size() > 255) return false;
      p += 1 + len;
    }
  }

 private:
  std::span<const std::uint8_t> b_;
};

std::string Hex(const std::uint8_t* p, std::size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  for (std::size_t i = 0; i < n; ++i) {
    s.push_back(kDigits[p[i] >> 4]);
    s.push_back(kDigits[p[i] & 15]);
  }
  return s;
}

// The text form of an answer's RDATA; nullopt when malformed.
std::optional<std::string> RData(const Reader& r, std::uint16_t type, std::size_t pos,
                                 std::uint16_t len) {
  const std::uint8_t* p = r.at(pos);
  std::array<char, INET6_ADDRSTRLEN> buf{};
  std::string name;
  std::size_t end = 0;
  switch (type) {
    case 1:  // A
      if (len != 4 || !inet_ntop(AF_INET, p, buf.data(), buf.size())) return std::nullopt;
      return std::string(buf.data());
    case 28:  // AAAA
      if (len != 16 || !inet_ntop(AF_INET6, p, buf.data(), buf.size())) return std::nullopt;
      return std::string(buf.data());
    case 2:   // NS
    case 5:   // CNAME
    case 12:  // PTR
      if (!r.Name(pos, name, end) || end > pos + len) return std::nullopt;
      return name;
    case 15: {  // MX
      std::uint16_t pref;
      if (len < 3 || !r.U16(pos, pref) || !r.Name(pos + 2, name, end) || end > pos + len)
        return std::nullopt;
      return std::to_string(pref) + " " + name;
    }
    case 16: {  // TXT: character strings
      std::string text;
      std::size_t i = 0;
      while (i < len) {
        std::size_t n = p[i];
        if (i + 1 + n > len) return std::nullopt;
        text.append(reinterpret_cast<const char*>(p + i + 1), n);
        i += 1 + n;
      }
      return text;
    }
    default:
      return Hex(p, len);
  }
}

}  // namespace

Result<Message> Parse(std::span<const std::uint8_t> bytes, bool capture_cut) {
  Reader r(bytes);
  Message m;
  std::uint16_t flags, qd, an;
  if (!r.U16(0, m.id) || !r.U16(2, flags) || !r.U16(4, qd) || !r.U16(6, an) || bytes.size() < 12)
    return Fail("dns: short header");
  if ((flags >> 11 & 0xF) > 2) return Fail("dns: unsupported opcode");
  m.response = (flags & 0x8000) != 0;
  m.rcode = static_cast<std::uint8_t>(flags & 0xF);
  if (qd > 16) return Fail("dns: implausible question count");
  std::size_t pos = 12;
  for (std::uint16_t i = 0; i < qd; ++i) {
    std::string name;
    std::size_t end = 0;
    std::uint16_t qtype;
    if (!r.Name(pos, name, end) || !r.U16(end, qtype) || end + 4 > r.size())
      return Fail("dns: malformed question");
    if (i == 0) {
      m.question_name = std::move(name);
      m.question_type = qtype;
    }
    pos = end + 4;
  }
  if (!m.response) return m;
  for (std::uint16_t i = 0; i < an; ++i) {
    if (m.answers.size() >= kMaxAnswers) {
      m.answers_truncated = true;
      break;
    }
    Answer a;
    std::size_t end = 0;
    std::uint16_t type, cls, rdlen;
    std::uint32_t ttl;
    if (!r.Name(pos, a.name, end) || !r.U16(end, type) || !r.U16(end + 2, cls) ||
        !r.U32(end + 4, ttl) || !r.U16(end + 8, rdlen) || end + 10 + rdlen > r.size()) {
      if (capture_cut) {
        m.answers_truncated = true;
        break;
      }
      return Fail("dns: malformed answer");
    }
    auto data = RData(r, type, end + 10, rdlen);
    if (!data) return Fail("dns: malformed answer data");
    a.type = type;
    a.ttl = ttl;
    a.data = std::move(*data);
    m.answers.push_back(std::move(a));
    pos = end + 10 + rdlen;
  }
  return m;
}

std::string TypeName(std::uint16_t type) {
  switch (type) {
    case 1:
      return "A";
    case 2:
      return "NS";
    case 5:
      return "CNAME";
    case 6:
      return "SOA";
    case 12:
      return "PTR";
    case 15:
      return "MX";
    case 16:
      return "TXT";
    case 28:
      return "AAAA";
    case 33:
      return "SRV";
    case 65:
      return "HTTPS";
    case 255:
      return "ANY";
    default:
      return std::to_string(type);
  }
}

std::string RcodeName(std::uint8_t rcode) {
  switch (rcode) {
    case 0:
      return "NOERROR";
    case 1:
      return "FORMERR";
    case 2:
      return "SERVFAIL";
    case 3:
      return "NXDOMAIN";
    case 4:
      return "NOTIMP";
    case 5:
      return "REFUSED";
    default:
      return std::to_string(rcode);
  }
}

}  // namespace vigil::agent::dns
