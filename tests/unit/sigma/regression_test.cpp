// The Sigma regression corpus (../shared/corpora/sigma/regression): for every test pair, the rule
// found by id under the corpus's rules* trees must fire on the sample's records (mapped with
// MapWindowsEvent, matched with hunt::Matcher) exactly match_count times. Prints the pass rate and
// each failure's reason; asserts a floor so the rate cannot regress (target: all).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "common/event_json.hpp"
#include "hunt/hunt.hpp"
#include "hunt/matcher.hpp"
#include "hunt/sigma/sigma.hpp"
#include "hunt/windows_mapping.hpp"

namespace fs = std::filesystem;

namespace {

const fs::path kCorpus = VIGIL_SIGMA_CORPUS;
constexpr int kPassFloor = VIGIL_SIGMA_PASS_FLOOR;

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// "key: value" at the start of a line (the corpus's YAML is simple enough for this).
std::string LineValue(const std::string& text, const std::string& key, std::size_t from = 0) {
  auto at = text.find(key + ":", from);
  while (at != std::string::npos && at > 0 && text[at - 1] != ' ' && text[at - 1] != '\n')
    at = text.find(key + ":", at + 1);
  if (at == std::string::npos) return {};
  auto start = at + key.size() + 1;
  auto end = text.find('\n', start);
  std::string v = text.substr(start, end - start);
  while (!v.empty() && (v.front() == ' ' || v.front() == '\'' || v.front() == '"')) v.erase(0, 1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\'' || v.back() == '"' || v.back() == '\r'))
    v.pop_back();
  return v;
}

std::map<std::string, fs::path> RulesById() {
  std::map<std::string, fs::path> out;
  for (const auto& dir : fs::directory_iterator(kCorpus)) {
    if (!dir.is_directory() || !dir.path().filename().string().starts_with("rules")) continue;
    for (const auto& f : fs::recursive_directory_iterator(dir.path())) {
      auto ext = f.path().extension();
      if (ext != ".yml" && ext != ".yaml") continue;
      std::string text = ReadFile(f.path());
      if (text.rfind("id:", 0) != 0 && text.find("\nid:") == std::string::npos) continue;
      std::string id = text.rfind("id:", 0) == 0 ? LineValue(text, "id")
                                                 : LineValue(text, "id", text.find("\nid:") + 1);
      if (!id.empty()) out.emplace(id, f.path());
    }
  }
  return out;
}

TEST(SigmaRegression, RulesFireOnTheirSamples) {
  if (!fs::exists(kCorpus / "regression")) GTEST_SKIP() << "no Sigma corpus at " << kCorpus;
  auto rules = RulesById();
  int total = 0, passed = 0;
  std::vector<std::string> failures;
  for (const auto& f : fs::recursive_directory_iterator(kCorpus / "regression")) {
    if (f.path().filename() != "info.yml") continue;
    std::string info = ReadFile(f.path());
    auto meta = info.find("rule_metadata:");
    std::string rule_id = LineValue(info, "id", info.find("- id:", meta));
    std::string count_text = LineValue(info, "match_count");
    // A commented-out or absent match_count means one detection (the corpus's convention).
    int expected = count_text.empty() || info.find("#      match_count") != std::string::npos
                       ? 1
                       : std::stoi(count_text);
    for (const auto& sample : fs::directory_iterator(f.path().parent_path())) {
      if (sample.path().extension() != ".json") continue;
      ++total;
      std::string name = f.path().parent_path().filename().string();
      auto fail = [&](const std::string& why) { failures.push_back(name + ": " + why); };
      auto rule_path = rules.find(rule_id);
      if (rule_path == rules.end()) {
        fail("rule " + rule_id + " not found");
        continue;
      }
      auto rule = vigil::hunt::sigma::Compile(ReadFile(rule_path->second));
      if (!rule) {
        fail("unsupported: " + rule.error().message);
        continue;
      }
      auto matcher = vigil::hunt::Matcher::Compile(rule->query);
      if (!matcher) {
        fail("matcher: " + matcher.error().message);
        continue;
      }
      auto records = vigil::hunt::ParseWindowsRecords(ReadFile(sample.path()));
      if (!records) {
        fail("sample: " + records.error().message);
        continue;
      }
      int matches = 0;
      std::string map_error;
      for (const auto& r : *records) {
        auto event = vigil::hunt::MapWindowsEvent(r);
        if (!event) {
          map_error = event.error().message;
          continue;
        }
        if (matcher->Matches(*event)) ++matches;
      }
      if (matches == expected) {
        ++passed;
      } else {
        if (std::getenv("VIGIL_SIGMA_DEBUG")) {  // the rule's SQL and the mapped events
          auto sql = vigil::hunt::Explain(rule->query, {});
          std::cout << name << "\n" << (sql ? sql->substr(0, 3000) : "") << "\n";
          for (const auto& r : *records)
            if (auto e = vigil::hunt::MapWindowsEvent(r))
              std::cout << vigil::EventToJson(*e).dump() << "\n";
        }
        fail("expected " + std::to_string(expected) + " matches, got " + std::to_string(matches) +
             (map_error.empty() ? "" : " (record error: " + map_error + ")"));
      }
    }
  }
  std::cout << "sigma regression: " << passed << "/" << total << " pass ("
            << (total ? 100.0 * passed / total : 0) << "%)\n";
  for (const auto& f : failures) std::cout << "  FAIL " << f << "\n";
  EXPECT_GT(total, 0);
  EXPECT_GE(passed, kPassFloor) << "the pass rate regressed";
}

}  // namespace

namespace {

// Every rule of the corpus either compiles (and then also compiles for the matcher and to SQL)
// or fails with a reason; prints the support rate and the most common reasons.
TEST(SigmaCorpus, EveryRuleCompilesOrSaysWhy) {
  if (!fs::exists(kCorpus)) GTEST_SKIP() << "no Sigma corpus at " << kCorpus;
  std::vector<vigil::hunt::Matcher> matchers;
  int total = 0, compiled = 0;
  std::map<std::string, int> reasons;
  for (const auto& dir : fs::directory_iterator(kCorpus)) {
    if (!dir.is_directory() || !dir.path().filename().string().starts_with("rules")) continue;
    for (const auto& f : fs::recursive_directory_iterator(dir.path())) {
      auto ext = f.path().extension();
      if (ext != ".yml" && ext != ".yaml") continue;
      ++total;
      auto rule = vigil::hunt::sigma::Compile(ReadFile(f.path()));
      if (!rule) {
        EXPECT_FALSE(rule.error().message.empty()) << f.path();
        std::string reason = rule.error().message;
        if (auto colon = reason.find(": ");
            colon != std::string::npos && reason.starts_with("logsource"))
          reason = "logsource: " + reason.substr(colon + 2);
        if (reason.starts_with("field ")) reason = reason.substr(reason.find(": ") + 2, 40);
        ++reasons[reason.substr(0, 90)];
        continue;
      }
      auto matcher = vigil::hunt::Matcher::Compile(rule->query);
      EXPECT_TRUE(matcher) << f.path() << ": " << matcher.error().message;
      auto sql = vigil::hunt::Explain(rule->query, {});
      EXPECT_TRUE(sql) << f.path() << ": " << sql.error().message;
      if (matcher && sql) ++compiled;
      if (matcher) matchers.push_back(std::move(*matcher));
    }
  }
  std::cout << "sigma corpus: " << compiled << "/" << total << " rules compile\n";
  // Throughput without a prefilter: every compiled rule on every regression sample event.
  std::vector<vigil::v1::Event> events;
  for (const auto& f : fs::recursive_directory_iterator(kCorpus / "regression"))
    if (f.path().extension() == ".json")
      if (auto records = vigil::hunt::ParseWindowsRecords(ReadFile(f.path())))
        for (const auto& r : *records)
          if (auto e = vigil::hunt::MapWindowsEvent(r)) events.push_back(std::move(*e));
  auto start = std::chrono::steady_clock::now();
  std::size_t hits = 0;
  for (const auto& e : events)
    for (const auto& m : matchers) hits += m.Matches(e);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "  " << events.size() << " events x " << matchers.size() << " rules: " << hits
            << " matches, " << (seconds > 0 ? events.size() / seconds : 0)
            << " events/s (all rules, no prefilter)\n";
  std::vector<std::pair<int, std::string>> top;
  for (const auto& [r, n] : reasons) top.emplace_back(n, r);
  std::sort(top.rbegin(), top.rend());
  for (std::size_t i = 0; i < top.size() && i < 40; ++i)
    std::cout << "  " << top[i].first << "  " << top[i].second << "\n";
  EXPECT_GT(compiled, 0);
}

}  // namespace
