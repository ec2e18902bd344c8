// A bounded, defensive parser of DNS messages (RFC 1035) as the eBPF sensor captures them from
// port-53 traffic: header, first question, answer records (A, AAAA, CNAME, PTR, NS, MX, TXT and
// others as hex). Every read is bounds-checked; compression pointers may only jump backwards and at
// most kMaxJumps times; names are capped at 255 bytes. Malformed input yields an error, never UB.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/error.hpp"

namespace vigil::agent::dns {

struct Answer {
  std::string name;
  std::uint16_t type = 0;
  std::uint32_t ttl = 0;
  std::string data;  // dotted/colon text for A/AAAA, a name for CNAME/PTR/NS/MX, text for TXT
};

struct Message {
  std::uint16_t id = 0;
  bool response = false;
  std::uint8_t rcode = 0;
  std::string question_name;  // without the trailing dot; "" when the message has no question
  std::uint16_t question_type = 0;
  std::vector<Answer> answers;
  bool answers_truncated = false;  // the capture ended inside the answer section
};

inline constexpr int kMaxJumps = 16;
inline constexpr std::size_t kMaxAnswers = 64;

// Parses a message. `capture_cut` tells that the bytes end before the message does (answers
// that do not fit are skipped and answers_truncated set rather than failing).
Result<Message> Parse(std::span<const std::uint8_t> bytes, bool capture_cut = false);

// "A", "AAAA", "CNAME"... or the number.
std::string TypeName(std::uint16_t type);
// "NOERROR", "NXDOMAIN"... or the number.
std::string RcodeName(std::uint8_t rcode);

}  // namespace vigil::agent::dns
