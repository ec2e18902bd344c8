// One thread's YARA scanner over a shared RuleSet: scans a buffer or a series of memory blocks
// and returns the matching rules with namespace, tags and matched strings ("$id@offset"), or a
// timeout or an error. Not thread-safe; make one per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "agent/scan/rule_set.hpp"
#include "common/error.hpp"

namespace vigil::agent::scan {

inline constexpr std::size_t kMaxStringsPerFinding = 64;

struct RuleMatch {
  std::string rule;
  std::string name_space;
  std::vector<std::string> tags;
  std::vector<std::string> strings;          // "$id@offset" (files) or "$id@0xaddress" (memory)
  std::optional<std::uint64_t> first_match;  // lowest offset/address of a matched string
};

enum class ScanStatus { kOk, kTimeout, kError };

struct ScanOutcome {
  ScanStatus status = ScanStatus::kOk;
  std::string error;  // for kError: libyara's error code and meaning
  std::vector<RuleMatch> matches;
};

class YaraScanner {
 public:
  // timeout_seconds: libyara's per-scan timeout (wall clock); 0 = none.
  static Result<std::unique_ptr<YaraScanner>> Create(std::shared_ptr<const RuleSet> rules,
                                                     int timeout_seconds);
  ScanOutcome ScanBuffer(std::span<const std::uint8_t> data);
  // Process memory: block bases are addresses, strings are reported as "$id@0x<address>".
  ScanOutcome ScanBlocks(YR_MEMORY_BLOCK_ITERATOR* iterator);

  struct Token {
    explicit Token() = default;
  };
  YaraScanner(Token, std::shared_ptr<const RuleSet> rules, YaraScannerPtr scanner);

 private:
  ScanOutcome Finish(int rc);

  std::shared_ptr<const RuleSet> rules_;
  YaraScannerPtr scanner_;
  bool hex_addresses_ = false;
  std::vector<RuleMatch> matches_;
  friend int OnScanEvent(YR_SCAN_CONTEXT*, int, void*, void*);
};

}  // namespace vigil::agent::scan
