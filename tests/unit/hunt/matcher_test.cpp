// The live matcher agrees with the SQL path: every query runs as a hunt over the logic-test
// dataset (tests/hunt/data/basic.jsonl, loaded into a fresh store) and through hunt::Matcher over
// the same events; the matching event sets must be equal. Plus the live-only error cases.
#include <gtest/gtest.h>

#include <unistd.h>
#include <algorithm>
#include <filesystem>
#include <fstream>

#include "common/event_json.hpp"
#include "hunt/hunt.hpp"
#include "hunt/matcher.hpp"
#include "server/store/store.hpp"

namespace fs = std::filesystem;

namespace {

const fs::path kData = fs::path(VIGIL_HUNT_TESTS) / "data" / "basic.jsonl";

std::string Key(nlohmann::ordered_json j) {
  j.erase("event.ingested");
  return j.dump();
}

class MatcherVsSql : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    db_ = fs::path(testing::TempDir()) / ("matcher_" + std::to_string(::getpid()) + ".db");
    for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(db_.string() + suffix);
    auto store = vigil::store::OpenSqliteStore({db_, false});
    ASSERT_TRUE(store) << store.error().message;
    std::ifstream in(kData);
    ASSERT_TRUE(in);
    vigil::store::IngestBatch batch;
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      auto event = vigil::EventFromJson(nlohmann::json::parse(line));
      ASSERT_TRUE(event) << event.error().message;
      events_->push_back(*event);
      batch.events.push_back(std::move(*event));
    }
    auto r = (*store)->Append(std::span(&batch, 1));
    ASSERT_TRUE(r) << r.error().message;
  }

  static std::vector<std::string> ViaSql(const vigil::hunt::Query& q) {
    std::vector<std::string> out;
    vigil::hunt::HuntOptions options;
    options.limit = 0;
    auto r = vigil::hunt::Run(db_, q, options, [&](const nlohmann::ordered_json& e) {
      out.push_back(Key(e));
      return true;
    });
    EXPECT_TRUE(r) << r.error().message;
    std::sort(out.begin(), out.end());
    return out;
  }

  static std::vector<std::string> ViaMatcher(const vigil::hunt::Matcher& m) {
    std::vector<std::string> out;
    for (const auto& e : *events_)
      if (m.Matches(e)) out.push_back(Key(vigil::EventToJson(e)));
    std::sort(out.begin(), out.end());
    return out;
  }

  static inline fs::path db_;
  static inline std::vector<vigil::v1::Event>* events_ = new std::vector<vigil::v1::Event>;
};

const char* kQueries[] = {
    "any where true",
    "any where false",
    "process where true",
    "process where name == \"bash\"",
    "process where name == \"BASH\"",
    "process where name != \"bash\"",
    "process where not name == \"bash\"",
    "process where name : \"BASH\"",
    "process where name : (\"power*\", \"cu?l\")",
    "process where name like \"Power*\"",
    "process where name like \"power*\"",
    "process where name like~ \"power*\"",
    "process where command_line : \"*caf\\u{e9}*\"",
    "process where command_line : \"*caf?_50%*\"",
    "process where command_line : \"*50%\"",
    "process where not command_line : \"*beacon*\"",
    "process where not command_line : \"*b*\"",
    "process where command_line regex \".*http.*\"",
    "process where command_line regex~ \".*EVIL.*\"",
    "process where name regex \"ba\"",
    "process where name in (\"bash\", \"curl\")",
    "process where name in~ (\"BASH\", \"PowerShell.exe\")",
    "process where name not in (\"bash\", \"curl\")",
    "process where not name in (\"bash\", \"curl\")",
    "process where process.args == \"-c\"",
    "process where process.args : \"http*\"",
    "process where not process.args : \"http*\"",
    "process where process.args in (\"-D\", \"-f\")",
    "process where process.args not in (\"-D\", \"-f\")",
    "process where \"-D\" == process.args",
    "process where pid > 300 and pid <= 402",
    "process where pid + 1 == 101",
    "process where pid * 2 >= 600 or pid % 2 == 1",
    "process where pid / 0 == 1",
    "process where -pid < -400",
    "process where parent.name == null",
    "process where parent.name != null",
    "process where exit_code == null",
    "any where process.name == null",
    "network where destination.port in (22, 443) and vigil.destination.external == true",
    "network where cidrMatch(destination.ip, \"10.0.0.0/8\", \"192.168.0.0/16\")",
    "network where not cidrMatch(destination.ip, \"10.0.0.0/8\")",
    "network where cidrMatch(source.ip, \"2001:db8::/32\")",
    "dns where cidrMatch(dns.resolved_ip, \"203.0.113.0/24\")",
    "dns where dns.question.name : \"*.example.com\"",
    "dns where not dns.question.name : \"*.EVIL.example.*\"",
    "any where not dns.question.name : \"*evil.example*\"",
    "any where not process.command_line : \"*curl*\"",
    "dns where endsWith(dns.question.name, \"example.com\")",
    "process where startsWith~(name, \"POWER\")",
    "process where startsWith(name, \"POWER\")",
    "process where stringContains(command_line, \"tmp\")",
    "process where stringContains(command_line, parent.name)",
    "process where endsWith(executable, name)",
    "process where length(name) == 4",
    "process where length(process.args) > 3",
    "process where length(command_line) == 15",
    "process where indexOf(command_line, \"/\") == 0",
    "process where indexOf~(command_line, \"TMP\", 2) > 2",
    "process where substring(name, 0, 2) == \"ba\"",
    "process where substring(name, -2) == \"sh\"",
    "process where concat(name, \"-\", pid) == \"bash-301\"",
    "process where concat(parent.name, name) == \"sshdbash\"",
    "process where between(command_line, \"/\", \"/\") == \"usr\"",
    "process where between~(command_line, \"-\", \"\", true) == \"\"",
    "process where number(\"0x10\", 16) == 16 and number(string(pid)) == pid",
    "process where string(pid) : \"3*\"",
    "process where wildcard(name, \"ba*\", \"cu*\")",
    "process where wildcard~(name, \"BA*\")",
    "file where file.path : \"/etc/*\" and file.size < 4096",
    "file where name == \".bashrc\" or (path : \"/tmp/*\" and not mode == \"0644\")",
    "any where user.name == \"root\" and host.id == \"h1\"",
    "any where event.outcome == \"failure\"",
    "alert where threat.technique.id == \"T1059\" and event.severity > 50",
    "any where @timestamp >= \"2024-01-01T00:00:30Z\" and @timestamp < \"2024-01-01T00:00:40Z\"",
    "persistence where vigil.persistence.mechanism in (\"cron\", \"systemd\")",
    "process where (name == \"bash\" or name == \"sh\") and not (user.name == \"root\")",
    "process where not (parent.name == \"bash\" and not name == \"ls\")",
    "any where not process.args : \"-*\"",
    "any where process.args == null",
    "any where process.args != null and not dns.resolved_ip == \"1.2.3.4\"",
    "any where length(process.args) >= 1",
};

TEST_F(MatcherVsSql, SameMatchesAsRetroHunt) {
  int compared = 0;
  for (const char* text : kQueries) {
    auto q = vigil::hunt::Parse(text);
    if (!q) {
      ADD_FAILURE() << text << ": " << q.error().message;
      continue;
    }
    auto m = vigil::hunt::Matcher::Compile(*q);
    ASSERT_TRUE(m) << text << ": " << m.error().message;
    EXPECT_EQ(ViaMatcher(*m), ViaSql(*q)) << text;
    ++compared;
  }
  EXPECT_EQ(compared, static_cast<int>(std::size(kQueries)));
}

TEST_F(MatcherVsSql, ExtraFieldRefMatchesBothWays) {
  vigil::hunt::Query q;
  auto expr = std::make_unique<vigil::hunt::Expr>();
  auto field = std::make_unique<vigil::hunt::Expr>();
  field->node = vigil::hunt::FieldRef{nullptr, "Logon.Type"};
  vigil::hunt::Match match{vigil::hunt::MatchKind::Wildcard, true, std::move(field), {"SS*"}};
  expr->node = std::move(match);
  q.body = vigil::hunt::EventFilter{std::nullopt, std::move(expr)};
  auto m = vigil::hunt::Matcher::Compile(q);
  ASSERT_TRUE(m);
  auto live = ViaMatcher(*m);
  EXPECT_EQ(live.size(), 1u);
  EXPECT_EQ(live, ViaSql(q));
}

// Whole-query constructs and relationships need the detection engine's state (detect/engine.hpp).
TEST(Matcher, SequencesRelationshipsAndPipesNeedTheEngine) {
  for (const char* text : {
           "sequence [process where true] [file where true]",
           "sample by host.id [process where true] [file where true]",
           "process where child of [process where name == \"sshd\"]",
           "process where true | head 1",
       }) {
    auto q = vigil::hunt::Parse(text);
    ASSERT_TRUE(q) << text;
    auto m = vigil::hunt::Matcher::Compile(*q);
    ASSERT_FALSE(m) << text;
    EXPECT_NE(m.error().message.find("not supported live"), std::string::npos) << m.error().message;
  }
}

}  // namespace
