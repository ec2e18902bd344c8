// Unit tests of the live engine's literal prefilter: the requirement formulas it extracts (from
// wildcards, comparisons and regexes) and, over the whole EVTX corpus with every SigmaHQ Windows
// process_creation rule, that it changes no match, only the work done.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "detect/engine.hpp"
#include "detect/prefilter.hpp"
#include "detect/rule.hpp"
#include "hunt/evtx_reader.hpp"
#include "hunt/hunt.hpp"
#include "hunt/windows_mapping.hpp"

namespace fs = std::filesystem;
using namespace vigil;
using Kind = detect::Requirement::Kind;

namespace {

// The formula as text: literals quoted, and/or in prefix form, True as "*".
std::string Show(const detect::Requirement& r) {
  switch (r.kind) {
    case Kind::True:
      return "*";
    case Kind::Literal:
      return "'" + r.literal + "'";
    case Kind::And:
    case Kind::Or: {
      std::string out = r.kind == Kind::And ? "and(" : "or(";
      for (std::size_t i = 0; i < r.kids.size(); ++i) out += (i ? " " : "") + Show(r.kids[i]);
      return out + ")";
    }
  }
  return "?";
}

std::string OfEql(const std::string& where) {
  auto q = hunt::Parse("process where " + where);
  EXPECT_TRUE(q) << where;
  if (!q) return "";
  return Show(detect::RequiredLiterals(*std::get<hunt::EventFilter>(q->body).where));
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST(Prefilter, WildcardsAndComparisonsGiveAndOrOfLiterals) {
  EXPECT_EQ(OfEql(R"(process.command_line : "*-enc* JAB*")"), "and('-enc' ' jab')");
  EXPECT_EQ(OfEql(R"(process.command_line : ("*curl *", "*wget*"))"), "or('curl ' 'wget')");
  EXPECT_EQ(OfEql(R"(process.name == "bash" and process.command_line : "*/dev/tcp/*")"),
            "and('bash' '/dev/tcp/')");
  // A branch with nothing known makes the or unknown; an and keeps what it knows.
  EXPECT_EQ(OfEql(R"(process.name == "sh" or process.command_line : "*nc -e*")"), "*");
  EXPECT_EQ(OfEql(R"(process.name == "sh" and process.command_line : "*nc -e*")"), "'nc -e'");
  EXPECT_EQ(OfEql(R"(not process.command_line : "*curl*")"), "*");
  EXPECT_EQ(OfEql(R"(process.name in ("curl", "wget"))"), "or('curl' 'wget')");
  EXPECT_EQ(OfEql(R"(event.action == "exec")"), "*");  // event.* fields filter nothing
}

TEST(Prefilter, RegexLiteralRunsOutsideOptionalParts) {
  auto re = [](std::string_view r, bool ci = false) {
    return Show(detect::RegexRequirement(r, ci));
  };
  EXPECT_EQ(re(R"(.*\b(curl|wget)\b[^|]*\|\s*(/usr)?/bin/bash.*)"),
            "and(or('curl' 'wget') '/bin/bash')");
  // The Sigma compiler's form of a wildcard value with a literal *: quoted characters.
  EXPECT_EQ(re(R"((?s:.*)(?:\-enc\ \*JAB)(?s:.*))"), "'-enc *jab'");
  EXPECT_EQ(re("abcd?ef"), "'abc'");   // d is optional
  EXPECT_EQ(re("ab+cde"), "'cde'");    // the run ends at a repeated character
  EXPECT_EQ(re("x{0,3}yz|abc"), "*");  // one branch has no run of 3
  EXPECT_EQ(re("(abc)*def"), "'def'");
  EXPECT_EQ(re("(?P<n>hello) world"), "and('hello' ' world')");
  // Under case-insensitive matching RE2 folds k and s (Kelvin sign, long s): runs break there.
  EXPECT_EQ(re("(?i)powershell"), "and('power' 'hell')");
  EXPECT_EQ(re("mask", true), "*");
  EXPECT_EQ(re("mask"), "'mask'");
  // Unknown constructs give nothing rather than a wrong literal.
  EXPECT_EQ(re("abc\\Qdef\\E"), "*");
  EXPECT_EQ(re("(abc"), "*");
  EXPECT_EQ(re("[abc]def[ghi"), "*");
}

TEST(Prefilter, SameMatchesWithAndWithoutOverTheEvtxCorpus) {
  const fs::path sigma = VIGIL_SIGMA_CORPUS, evtx = VIGIL_EVTX_CORPUS;
  std::vector<fs::path> files;
  for (const char* dir : {"rules", "rules-threat-hunting"})
    for (const auto& f : fs::recursive_directory_iterator(sigma / dir / "windows/process_creation"))
      if (f.path().extension() == ".yml") files.push_back(f.path());
  std::vector<detect::LiveRule> with_rules, without_rules;
  for (const auto& path : files) {
    auto spec = detect::ParseRule(ReadFile(path), detect::RuleKind::Sigma, path.stem().string());
    if (!spec) continue;
    auto a = detect::CompileLive(*spec), b = detect::CompileLive(*spec);
    ASSERT_TRUE(a && b) << path;
    with_rules.push_back(std::move(*a));
    without_rules.push_back(std::move(*b));
  }
  ASSERT_GT(with_rules.size(), 1200u);
  std::vector<v1::Event> events;
  for (const auto& f : fs::recursive_directory_iterator(evtx)) {
    if (f.path().extension() != ".evtx") continue;
    auto contents = hunt::ReadEvtxFile(f.path());
    if (!contents) continue;
    for (const auto& rec : contents->records)
      if (auto e = hunt::MapWindowsEvent(rec)) events.push_back(std::move(*e));
  }
  ASSERT_GT(events.size(), 5000u);
  detect::Engine with({.prefilter = true}), without({.prefilter = false});
  with.SetRules(std::move(with_rules));
  without.SetRules(std::move(without_rules));
  ASSERT_EQ(with.prefilter_error(), "");
  EXPECT_GT(with.prefiltered_rules(), 1200u);
  std::size_t matches = 0;
  std::vector<detect::EngineMatch> a, b;
  for (std::size_t i = 0; i < events.size(); ++i) {
    a.clear(), b.clear();
    with.Evaluate(events[i], a);
    without.Evaluate(events[i], b);
    std::vector<std::string> ids_a, ids_b;
    for (const auto& m : a) ids_a.push_back(m.rule->id);
    for (const auto& m : b) ids_b.push_back(m.rule->id);
    ASSERT_EQ(ids_a, ids_b) << "event " << i;
    matches += a.size();
  }
  EXPECT_GT(matches, 100u);
  // Far fewer rules run with it (the benchmark measures how much faster that is).
  EXPECT_LT(with.counters().rule_evaluations * 20, without.counters().rule_evaluations);
}
