// Sigma correlation rules: a file holding a correlation and the rules it uses compiles into an EQL
// sequence; live (the engine's sliding count of `runs=N`) and retro-hunt (SQL) give the same
// matches; the engine keeps at most N events per group and its state survives a restart; what
// cannot be detected as events arrive is refused with the reason.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "common/event_json.hpp"
#include "detect/engine.hpp"
#include "detect/rule.hpp"
#include "hunt/hunt.hpp"
#include "hunt/sigma/sigma.hpp"
#include "hunt/windows_mapping.hpp"
#include "server/store/store.hpp"

namespace fs = std::filesystem;
using namespace vigil;
using nlohmann::json;

namespace {

// A Windows Security logon record at minute:second offset `t` (seconds) from a fixed time.
v1::Event Logon(int event_id, int t, const std::string& user, const std::string& ip = "10.0.0.5") {
  const int h = 3 + t / 3600, m = t / 60 % 60, s = t % 60;
  char when[64];
  std::snprintf(when, sizeof when, "2025-01-02T%02d:%02d:%02dZ", h, m, s);
  json record = {
      {"Event",
       {{"System",
         {{"Provider", {{"#attributes", {{"Name", "Microsoft-Windows-Security-Auditing"}}}}},
          {"EventID", event_id},
          {"Channel", "Security"},
          {"Computer", "DC-1"},
          {"TimeCreated", {{"#attributes", {{"SystemTime", when}}}}}}},
        {"EventData",
         {{"TargetUserName", user}, {"IpAddress", ip}, {"IpPort", "50000"}, {"LogonType", "3"}}}}}};
  auto e = hunt::MapWindowsEvent(record);
  EXPECT_TRUE(e) << (e ? "" : e.error().message);
  return e ? *e : v1::Event{};
}

constexpr const char* kFailedLogon = R"(title: Failed logon
id: 6f2c1a4e-0000-4000-8000-000000000001
name: failed_logon
logsource:
  product: windows
  service: security
detection:
  selection:
    EventID: 4625
  condition: selection
)";

constexpr const char* kSuccessfulLogon = R"(title: Successful logon
id: 6f2c1a4e-0000-4000-8000-000000000002
name: successful_logon
logsource:
  product: windows
  service: security
detection:
  selection:
    EventID: 4624
  condition: selection
)";

std::string BruteForce(const std::string& condition = "gte: 3", const std::string& more = "") {
  return std::string(kFailedLogon) + "---\n" +
         "title: Brute force\nid: brute-force\nlevel: high\ncorrelation:\n  type: event_count\n"
         "  rules:\n    - failed_logon\n  group-by:\n    - TargetUserName\n  timespan: 5m\n"
         "  condition:\n    " +
         condition + "\n" + more;
}

std::string CompileError(const std::string& yaml) {
  auto rule = hunt::sigma::Compile(yaml);
  EXPECT_FALSE(rule) << "compiled: " << yaml;
  return rule ? "" : rule.error().message;
}

detect::LiveRule Live(const std::string& yaml) {
  auto spec = detect::ParseRule(yaml, detect::RuleKind::Sigma, "x");
  EXPECT_TRUE(spec) << (spec ? "" : spec.error().message);
  auto live = detect::CompileLive(*spec);
  EXPECT_TRUE(live) << (live ? "" : live.error().message);
  return std::move(*live);
}

// Per match: the target user names of its events, joined by ','.
std::vector<std::string> Users(const std::vector<detect::EngineMatch>& matches) {
  std::vector<std::string> out;
  for (const auto& m : matches) {
    std::string users;
    for (const auto& e : m.events) users += (users.empty() ? "" : ",") + e.user_name();
    out.push_back(users);
  }
  return out;
}

std::vector<v1::Event> Logons() {
  return {
      Logon(4625, 0, "admin"),   Logon(4625, 10, "bob"),   Logon(4625, 20, "admin"),
      Logon(4624, 30, "bob"),    Logon(4625, 40, "admin"),  // admin: 3rd in 40 s
      Logon(4625, 50, "admin"),                             // 4th: the newest 3 match again
      Logon(4625, 400, "admin"),  // 350 s after the one before: alone in its window
      Logon(4625, 410, "bob"),   Logon(4625, 420, "bob"),  // bob: 3 but over 410 s
  };
}

}  // namespace

TEST(SigmaCorrelation, EventCountCompilesToASequenceWithRuns) {
  auto rule = hunt::sigma::Compile(BruteForce());
  ASSERT_TRUE(rule) << rule.error().message;
  EXPECT_EQ(rule->id, "brute-force");
  EXPECT_EQ(rule->title, "Brute force");
  EXPECT_EQ(rule->level, "high");
  EXPECT_EQ(rule->logsource, "correlation/event_count");
  const auto* seq = std::get_if<hunt::Sequence>(&rule->query.body);
  ASSERT_NE(seq, nullptr);
  EXPECT_EQ(seq->maxspan_ns, 300'000'000'000);
  ASSERT_EQ(seq->steps.size(), 1u);
  EXPECT_EQ(seq->steps[0].runs, 3);
  ASSERT_EQ(seq->steps[0].keys.size(), 1u);
  const auto* key = std::get_if<hunt::FieldRef>(&seq->steps[0].keys[0]->node);
  ASSERT_NE(key, nullptr);
  // A Security rule reads TargetUserName as the raw value the event keeps in extra.
  EXPECT_EQ(key->field, nullptr);
  EXPECT_EQ(key->extra, "TargetUserName");

  auto gt = hunt::sigma::Compile(BruteForce("gt: 3"));
  ASSERT_TRUE(gt);
  EXPECT_EQ(std::get<hunt::Sequence>(gt->query.body).steps[0].runs, 4);
}

TEST(SigmaCorrelation, LiveCountSlidesOverTheTimespanPerGroup) {
  detect::Engine engine;
  std::vector<detect::LiveRule> rules;
  rules.push_back(Live(BruteForce()));
  EXPECT_EQ(rules[0].count, 3u);
  engine.SetRules(std::move(rules));
  std::vector<detect::EngineMatch> out;
  for (const auto& e : Logons()) engine.Evaluate(e, out);
  EXPECT_EQ(Users(out), (std::vector<std::string>{"admin,admin,admin", "admin,admin,admin"}));
  ASSERT_EQ(out.size(), 2u);
  // The second match is the newest three: 20 s, 40 s, 50 s.
  EXPECT_EQ(out[1].events[2].timestamp() - out[1].events[0].timestamp(), 30'000'000'000);
  EXPECT_EQ(out[0].rule->id, "brute-force");
}

TEST(SigmaCorrelation, LiveStateIsBoundedAndSurvivesARestart) {
  detect::Engine before;
  std::vector<detect::LiveRule> rules;
  rules.push_back(Live(BruteForce("gte: 3")));
  before.SetRules(std::move(rules));
  std::vector<detect::EngineMatch> out;
  // 50 failures within 50 s: every one from the third on matches with exactly three events.
  for (int i = 0; i < 50; ++i) before.Evaluate(Logon(4625, i, "root"), out);
  ASSERT_EQ(out.size(), 48u);
  for (const auto& m : out) EXPECT_EQ(m.events.size(), 3u);
  EXPECT_EQ(before.counters().sequence_partials, 1u);  // one window for root

  before.Evaluate(Logon(4625, 100, "carol"), out);
  const std::string saved = before.SaveState();
  detect::Engine after;
  std::vector<detect::LiveRule> again;
  again.push_back(Live(BruteForce("gte: 3")));
  after.SetRules(std::move(again));
  ASSERT_TRUE(after.RestoreState(saved));
  out.clear();
  after.Evaluate(Logon(4625, 110, "carol"), out);
  EXPECT_TRUE(out.empty());  // carol: 2 of 3
  after.Evaluate(Logon(4625, 120, "carol"), out);
  EXPECT_EQ(Users(out), (std::vector<std::string>{"carol,carol,carol"}));
}

TEST(SigmaCorrelation, TemporalOrderedWithAliasesLiveAndRetro) {
  const std::string yaml =
      std::string(kFailedLogon) + "---\n" + kSuccessfulLogon + "---\n" +
      "title: Success after failures\nid: fail-then-success\ncorrelation:\n"
      "  type: temporal_ordered\n  rules:\n    - failed_logon\n    - successful_logon\n"
      "  group-by:\n    - account\n  timespan: 1m\n  aliases:\n    account:\n"
      "      failed_logon: TargetUserName\n      successful_logon: TargetUserName\n";
  auto rule = hunt::sigma::Compile(yaml);
  ASSERT_TRUE(rule) << rule.error().message;
  const auto& seq = std::get<hunt::Sequence>(rule->query.body);
  ASSERT_EQ(seq.steps.size(), 2u);
  EXPECT_EQ(seq.maxspan_ns, 60'000'000'000);

  detect::Engine engine;
  std::vector<detect::LiveRule> rules;
  rules.push_back(Live(yaml));
  engine.SetRules(std::move(rules));
  std::vector<detect::EngineMatch> live;
  for (const auto& e : Logons()) engine.Evaluate(e, live);
  // bob failed at 10 s and logged on at 30 s; nobody else logged on.
  EXPECT_EQ(Users(live), (std::vector<std::string>{"bob,bob"}));

  // The same rule as a retro-hunt over the same events in a real store.
  auto dir = fs::path(testing::TempDir()) / ("correlation_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto store = store::OpenSqliteStore({dir / "vigil.db", false});
  ASSERT_TRUE(store) << store.error().message;
  store::IngestBatch batch;
  for (const auto& e : Logons()) batch.events.push_back(e);
  ASSERT_TRUE((*store)->Append(std::span(&batch, 1)));
  for (const auto& [text, expected] : std::vector<std::pair<std::string, std::vector<std::string>>>{
           {yaml, {"bob,bob"}}, {BruteForce(), {"admin,admin,admin", "admin,admin,admin"}}}) {
    auto q = hunt::sigma::Compile(text);
    ASSERT_TRUE(q) << q.error().message;
    hunt::HuntOptions options;
    options.limit = 0;
    std::vector<std::string> users;
    auto run = hunt::Run(dir / "vigil.db", q->query, options, [&](const nlohmann::ordered_json& e) {
      std::string joined;
      for (const auto& event : e["sequence"])
        joined += (joined.empty() ? "" : ",") + event.value("user.name", std::string());
      users.push_back(joined);
      return true;
    });
    ASSERT_TRUE(run) << run.error().message;
    EXPECT_EQ(users, expected) << text;
  }
  fs::remove_all(dir);
}

TEST(SigmaCorrelation, WhatCannotBeDetectedLiveIsRefusedWithTheReason) {
  auto has = [](const std::string& error, const std::string& part) {
    EXPECT_NE(error.find(part), std::string::npos) << error;
  };
  has(CompileError(BruteForce("lt: 3")), "only gte and gt thresholds");
  has(CompileError(BruteForce("eq: 3")), "only gte and gt thresholds");
  has(CompileError(BruteForce("gte: 0")), "between 1 and");
  has(CompileError(BruteForce("gte: many")), "whole number");
  has(CompileError(BruteForce("gte: 3", "generate: true\n")), "generate: true is not supported");
  std::string value_count = BruteForce();
  value_count.replace(value_count.find("event_count"), 11, "value_count");
  has(CompileError(value_count), "value_count (distinct values) is not supported");
  std::string missing = BruteForce();
  missing.replace(missing.find("- failed_logon"), 14, "- no_such_rule");
  has(CompileError(missing), "rule 'no_such_rule' is not in this file");
  std::string span = BruteForce();
  span.replace(span.find("5m"), 2, "soon");
  has(CompileError(span), "bad timespan 'soon'");
  has(CompileError(std::string(kFailedLogon) + "---\n" + kSuccessfulLogon), "one rule per file");
  has(CompileError(std::string(kFailedLogon) + "---\n" + kSuccessfulLogon +
                   "---\ntitle: t\ncorrelation:\n  type: temporal\n  rules: [failed_logon, "
                   "successful_logon]\n  timespan: 1m\n"),
      "temporal (any order) over several rules is not supported");
  // A Linux rule's group-by field must exist on Linux events (Sigma name or Vigil name).
  const std::string linux_rule =
      "title: curl\nname: curl\nlogsource:\n  product: linux\n  category: process_creation\n"
      "detection:\n  s:\n    Image|endswith: /curl\n  condition: s\n---\ntitle: c\n"
      "correlation:\n  type: event_count\n  rules: curl\n  timespan: 1m\n  condition: {gte: 5}\n"
      "  group-by: [";
  has(CompileError(linux_rule + "TargetUserName]\n"), "group-by TargetUserName in rule 'curl'");
  auto by_host = hunt::sigma::Compile(linux_rule + "host.id]\n");
  ASSERT_TRUE(by_host) << by_host.error().message;
  const auto& key = std::get<hunt::Sequence>(by_host->query.body).steps[0].keys[0]->node;
  EXPECT_EQ(std::get<hunt::FieldRef>(key).field->name, "host.id");
}
