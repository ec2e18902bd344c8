// libyara scanner wrapper and match collection; see yara_match.hpp.
#include "agent/scan/yara_match.hpp"

#include <yara.h>

#include <cstdio>

namespace vigil::agent::scan {

int OnScanEvent(YR_SCAN_CONTEXT* context, int message, void* message_data, void* user_data) {
  if (message != CALLBACK_MSG_RULE_MATCHING) return CALLBACK_CONTINUE;
  auto* self = static_cast<YaraScanner*>(user_data);
  const auto* rule = static_cast<YR_RULE*>(message_data);
  RuleMatch m;
  m.rule = rule->identifier;
  m.name_space = rule->ns && rule->ns->name ? rule->ns->name : "";
  const char* tag = nullptr;
  yr_rule_tags_foreach(rule, tag) { m.tags.emplace_back(tag); }
  YR_STRING* string = nullptr;
  yr_rule_strings_foreach(rule, string) {
    YR_MATCH* match = nullptr;
    yr_string_matches_foreach(context, string, match) {
      const std::uint64_t where =
          static_cast<std::uint64_t>(match->base) + static_cast<std::uint64_t>(match->offset);
      if (!m.first_match || where < *m.first_match) m.first_match = where;
      if (m.strings.size() < kMaxStringsPerFinding) {
        char buf[32];
        std::snprintf(buf, sizeof buf, self->hex_addresses_ ? "@0x%llx" : "@%llu",
                      static_cast<unsigned long long>(where));
        m.strings.push_back(std::string(string->identifier) + buf);
      }
    }
  }
  self->matches_.push_back(std::move(m));
  return CALLBACK_CONTINUE;
}

Result<std::unique_ptr<YaraScanner>> YaraScanner::Create(std::shared_ptr<const RuleSet> rules,
                                                         int timeout_seconds) {
  YR_SCANNER* raw = nullptr;
  if (yr_scanner_create(rules->rules(), &raw) != ERROR_SUCCESS)
    return Fail("yara: cannot create scanner");
  YaraScannerPtr scanner(raw);
  auto self = std::make_unique<YaraScanner>(Token{}, std::move(rules), std::move(scanner));
  yr_scanner_set_callback(self->scanner_.get(), OnScanEvent, self.get());
  yr_scanner_set_timeout(self->scanner_.get(), timeout_seconds);
  yr_scanner_set_flags(self->scanner_.get(), SCAN_FLAGS_REPORT_RULES_MATCHING);
  return self;
}

YaraScanner::YaraScanner(Token, std::shared_ptr<const RuleSet> rules, YaraScannerPtr scanner)
    : rules_(std::move(rules)), scanner_(std::move(scanner)) {}

ScanOutcome YaraScanner::ScanBuffer(std::span<const std::uint8_t> data) {
  matches_.clear();
  hex_addresses_ = false;
  yr_scanner_set_flags(scanner_.get(), SCAN_FLAGS_REPORT_RULES_MATCHING);
  return Finish(yr_scanner_scan_mem(scanner_.get(), data.data(), data.size()));
}

ScanOutcome YaraScanner::ScanBlocks(YR_MEMORY_BLOCK_ITERATOR* iterator) {
  matches_.clear();
  hex_addresses_ = true;
  yr_scanner_set_flags(scanner_.get(),
                       SCAN_FLAGS_REPORT_RULES_MATCHING | SCAN_FLAGS_PROCESS_MEMORY);
  return Finish(yr_scanner_scan_mem_blocks(scanner_.get(), iterator));
}

ScanOutcome YaraScanner::Finish(int rc) {
  ScanOutcome out;
  out.matches = std::move(matches_);
  matches_.clear();
  if (rc == ERROR_SCAN_TIMEOUT) {
    out.status = ScanStatus::kTimeout;
  } else if (rc != ERROR_SUCCESS) {
    out.status = ScanStatus::kError;
    switch (rc) {
      case ERROR_INSUFFICIENT_MEMORY:
        out.error = "yara: out of memory";
        break;
      case ERROR_TOO_MANY_SCAN_THREADS:
        out.error = "yara: too many scan threads";
        break;
      case ERROR_COULD_NOT_READ_PROCESS_MEMORY:
        out.error = "yara: cannot read memory";
        break;
      default:
        out.error = "yara: scan error " + std::to_string(rc);
    }
  }
  return out;
}

}  // namespace vigil::agent::scan
