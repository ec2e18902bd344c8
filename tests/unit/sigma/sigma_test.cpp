// Sigma compiler unit tests: every modifier and condition form (windash, base64offset, utf16,
// `all` with lists, `1 of selection_*`, nested not, ...), the unsupported cases with their
// reasons, the Windows → schema mapping, and one rule set run through both the live matcher and
// the SQL path.
#include <gtest/gtest.h>

#include <unistd.h>
#include <filesystem>
#include <set>

#include "common/event_json.hpp"
#include "hunt/hunt.hpp"
#include "hunt/matcher.hpp"
#include "hunt/sigma/sigma.hpp"
#include "hunt/sigma/values.hpp"
#include "hunt/windows_mapping.hpp"
#include "server/store/store.hpp"

namespace {

using nlohmann::json;
namespace sigma = vigil::hunt::sigma;

json Record(int event_id, json data, const std::string& provider = "Microsoft-Windows-Sysmon",
            const std::string& channel = "Microsoft-Windows-Sysmon/Operational") {
  return {{"Event",
           {{"System",
             {{"Provider", {{"#attributes", {{"Name", provider}}}}},
              {"EventID", event_id},
              {"Channel", channel},
              {"Computer", "WS-1"},
              {"TimeCreated", {{"#attributes", {{"SystemTime", "2025-01-02T03:04:05.5Z"}}}}}}},
            {"EventData", std::move(data)}}}};
}

json Proc(const std::string& command_line, json more = json::object()) {
  json d = {{"Image", "C:\\Windows\\System32\\cmd.exe"},
            {"CommandLine", command_line},
            {"ParentImage", "C:\\Windows\\explorer.exe"},
            {"ProcessId", 4242},
            {"User", "CORP\\alice"},
            {"OriginalFileName", "Cmd.Exe"}};
  for (auto& [k, v] : more.items()) d[k] = v;
  return Record(1, d);
}

std::string RuleText(const std::string& detection, const std::string& logsource) {
  return "title: test\nid: 00000000-0000-0000-0000-000000000001\nlogsource:\n" + logsource +
         "detection:\n" + detection;
}
const std::string kProcessCreation = "  product: windows\n  category: process_creation\n";

// Compiles the rule (failing the test on error) and evaluates it on the record.
bool Fires(const std::string& detection, const json& record,
           const std::string& logsource = kProcessCreation, const sigma::Options& options = {}) {
  auto rule = sigma::Compile(RuleText(detection, logsource), options);
  EXPECT_TRUE(rule) << (rule ? "" : rule.error().message);
  if (!rule) return false;
  auto matcher = vigil::hunt::Matcher::Compile(rule->query);
  EXPECT_TRUE(matcher) << (matcher ? "" : matcher.error().message);
  auto event = vigil::hunt::MapWindowsEvent(record);
  EXPECT_TRUE(event) << (event ? "" : event.error().message);
  return matcher && event && matcher->Matches(*event);
}

std::string Error(const std::string& detection, const std::string& logsource = kProcessCreation) {
  auto rule = sigma::Compile(RuleText(detection, logsource));
  return rule ? std::string() : rule.error().message;
}

TEST(SigmaValues, EscapesAndWildcards) {
  EXPECT_EQ(sigma::ParseValue("a*b?c"), std::string("a\x01"
                                                    "b\x02"
                                                    "c"));
  EXPECT_EQ(sigma::ParseValue("a\\*b\\?c\\\\d\\e"), "a*b?c\\d\\e");
}

TEST(SigmaValues, Base64AndOffsets) {
  EXPECT_EQ(sigma::Base64("http://evil"), "aHR0cDovL2V2aWw=");
  EXPECT_EQ(sigma::Base64Offsets("http://"),
            (std::vector<std::string>{"aHR0cDovL", "h0dHA6Ly", "odHRwOi8v"}));
  EXPECT_EQ(sigma::Base64Offsets(sigma::EncodeUtf16("IEX (", sigma::Utf16::Le)),
            (std::vector<std::string>{"SQBFAFgAIAAoA", "kARQBYACAAKA", "JAEUAWAAgACgA"}));
  EXPECT_EQ(sigma::EncodeUtf16("A", sigma::Utf16::Be), std::string("\0A", 2));
  EXPECT_EQ(sigma::EncodeUtf16("A", sigma::Utf16::LeBom), std::string("\xFF\xFE"
                                                                      "A\0",
                                                                      4));
}

TEST(SigmaValues, Windash) {
  auto v = sigma::Windash("x -enc /c");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->size(), 25u);
  EXPECT_NE(std::ranges::find(*v, "x /enc -c"), v->end());
  EXPECT_NE(std::ranges::find(*v,
                              "x \xE2\x80\x93"
                              "enc /c"),
            v->end());
}

TEST(SigmaModifiers, DefaultIsCaseInsensitiveExactWithWildcards) {
  EXPECT_TRUE(
      Fires("  sel:\n    Image: 'c:\\windows\\system32\\CMD.EXE'\n  condition: sel\n", Proc("x")));
  EXPECT_FALSE(Fires("  sel:\n    Image: 'cmd.exe'\n  condition: sel\n", Proc("x")));
  EXPECT_TRUE(Fires("  sel:\n    Image: '*\\cm?.exe'\n  condition: sel\n", Proc("x")));
  EXPECT_TRUE(Fires("  sel:\n    CommandLine: 'a\\*b'\n  condition: sel\n", Proc("A*B")));
  EXPECT_FALSE(Fires("  sel:\n    CommandLine: 'a\\*b'\n  condition: sel\n", Proc("axxb")));
}

TEST(SigmaModifiers, ContainsStartsEndsAndCased) {
  auto p = Proc("cmd.exe /c Whoami /all");
  EXPECT_TRUE(Fires("  sel:\n    CommandLine|contains: 'WHOAMI'\n  condition: sel\n", p));
  EXPECT_TRUE(Fires("  sel:\n    CommandLine|startswith: 'CMD.exe'\n  condition: sel\n", p));
  EXPECT_TRUE(Fires("  sel:\n    CommandLine|endswith: '/ALL'\n  condition: sel\n", p));
  EXPECT_FALSE(Fires("  sel:\n    CommandLine|contains|cased: 'WHOAMI'\n  condition: sel\n", p));
  EXPECT_TRUE(Fires("  sel:\n    CommandLine|contains|cased: 'Whoami'\n  condition: sel\n", p));
}

TEST(SigmaModifiers, AllWithLists) {
  auto p = Proc("net user admin /add");
  EXPECT_TRUE(
      Fires("  sel:\n    CommandLine|contains|all:\n      - 'net'\n      - '/add'\n"
            "  condition: sel\n",
            p));
  EXPECT_FALSE(
      Fires("  sel:\n    CommandLine|contains|all:\n      - 'net'\n      - '/del'\n"
            "  condition: sel\n",
            p));
  EXPECT_TRUE(
      Fires("  sel:\n    CommandLine|contains:\n      - 'zzz'\n      - '/add'\n"
            "  condition: sel\n",
            p));
}

TEST(SigmaModifiers, AllWithVariantsOrsTheVariantsOfEachValue) {
  std::string rule =
      "  sel:\n    CommandLine|windash|contains|all:\n      - ' -nop'\n"
      "      - ' -enc'\n  condition: sel\n";
  EXPECT_TRUE(Fires(rule, Proc("powershell /nop -enc AAA")));
  EXPECT_FALSE(Fires(rule, Proc("powershell /nop AAA")));
  std::string b64 =
      "  sel:\n    CommandLine|base64offset|contains|all:\n      - 'http://'\n"
      "      - 'evil'\n  condition: sel\n";
  EXPECT_TRUE(Fires(b64, Proc("-e aHR0cDovL2V2aWw=")));  // "http://evil"
}

TEST(SigmaModifiers, Windash) {
  std::string rule = "  sel:\n    CommandLine|windash|contains: ' -enc '\n  condition: sel\n";
  EXPECT_TRUE(Fires(rule, Proc("powershell -enc AAA")));
  EXPECT_TRUE(Fires(rule, Proc("powershell /enc AAA")));
  EXPECT_TRUE(Fires(rule, Proc("powershell \xE2\x80\x94"
                               "enc AAA")));
  EXPECT_FALSE(Fires(rule, Proc("powershell +enc AAA")));
}

TEST(SigmaModifiers, Base64AndBase64Offset) {
  EXPECT_TRUE(Fires("  sel:\n    CommandLine|base64|contains: 'http://evil'\n  condition: sel\n",
                    Proc("x aHR0cDovL2V2aWw= y")));
  std::string offset =
      "  sel:\n    CommandLine|base64offset|contains: 'http://'\n"
      "  condition: sel\n";
  EXPECT_TRUE(Fires(offset, Proc("-e aHR0cDovL2V2aWw=")));
  EXPECT_TRUE(Fires(offset, Proc("-e Zm9vIGh0dHA6Ly9l")));  // "foo http://e"
  EXPECT_FALSE(Fires(offset, Proc("-e Zm9vYmFy")));
}

TEST(SigmaModifiers, Utf16WithBase64Offset) {
  std::string rule =
      "  sel:\n    CommandLine|wide|base64offset|contains: 'IEX ('\n"
      "  condition: sel\n";
  // base64(utf16le("xx IEX (New-Object Net.WebClient)"))
  EXPECT_TRUE(Fires(rule, Proc("powershell -enc eAB4ACAASQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIAB"
                               "OAGUAdAAuAFcAZQBiAEMAbABpAGUAbgB0ACkA")));
  EXPECT_TRUE(Fires(rule, Proc("powershell -enc SQBFAFgAIAAoAE4AZQB3AA==")));
  EXPECT_FALSE(Fires(rule, Proc("powershell -enc aHR0cDovL2V2aWw=")));
  EXPECT_NE(Error("  sel:\n    CommandLine|utf16le|contains: 'x'\n  condition: sel\n"), "");
}

TEST(SigmaModifiers, RegexWithFlags) {
  auto p = Proc("Invoke-Mimikatz\nDumpCreds");
  EXPECT_TRUE(Fires("  sel:\n    CommandLine|re: 'Mimi[a-z]+'\n  condition: sel\n", p));
  EXPECT_FALSE(Fires("  sel:\n    CommandLine|re: 'mimi[a-z]+'\n  condition: sel\n", p));
  EXPECT_TRUE(Fires("  sel:\n    CommandLine|re|i: 'mimi[a-z]+'\n  condition: sel\n", p));
  EXPECT_TRUE(Fires("  sel:\n    CommandLine|re|m: '^DumpCreds$'\n  condition: sel\n", p));
  EXPECT_FALSE(Fires("  sel:\n    CommandLine|re: 'katz.Dump'\n  condition: sel\n", p));
  EXPECT_TRUE(Fires("  sel:\n    CommandLine|re|s: 'katz.Dump'\n  condition: sel\n", p));
  EXPECT_NE(Error("  sel:\n    CommandLine|re: '(?=x)'\n  condition: sel\n").find("RE2"),
            std::string::npos);
}

TEST(SigmaModifiers, Cidr) {
  std::string ls = "  product: windows\n  category: network_connection\n";
  auto conn = [](const std::string& ip) {
    return Record(3, {{"Image", "C:\\x.exe"},
                      {"DestinationIp", ip},
                      {"DestinationPort", 443},
                      {"Initiated", "true"}});
  };
  std::string rule =
      "  sel:\n    DestinationIp|cidr:\n      - '10.0.0.0/8'\n"
      "      - 'fd00::/8'\n  condition: sel\n";
  EXPECT_TRUE(Fires(rule, conn("10.1.2.3"), ls));
  EXPECT_TRUE(Fires(rule, conn("fd00::1"), ls));
  EXPECT_FALSE(Fires(rule, conn("8.8.8.8"), ls));
  EXPECT_TRUE(Fires("  sel:\n    DestinationPort: 443\n  condition: sel\n", conn("1.1.1.1"), ls));
  EXPECT_TRUE(
      Fires("  sel:\n    DestinationPort|gte: 400\n  condition: sel\n", conn("1.1.1.1"), ls));
}

TEST(SigmaModifiers, ExistsNeqAndNull) {
  auto p = Proc("x", {{"IntegrityLevel", "High"}});
  EXPECT_TRUE(Fires("  sel:\n    IntegrityLevel|exists: true\n  condition: sel\n", p));
  EXPECT_FALSE(Fires("  sel:\n    IntegrityLevel|exists: false\n  condition: sel\n", p));
  EXPECT_TRUE(Fires("  sel:\n    Company|exists: false\n  condition: sel\n", p));
  EXPECT_TRUE(Fires("  sel:\n    IntegrityLevel|neq: 'Low'\n  condition: sel\n", p));
  EXPECT_FALSE(Fires("  sel:\n    IntegrityLevel|neq: 'high'\n  condition: sel\n", p));
  EXPECT_FALSE(Fires("  sel:\n    Company|neq: 'x'\n  condition: sel\n", p));  // missing field
  EXPECT_TRUE(Fires("  sel:\n    Company: null\n  condition: sel\n", p));
  EXPECT_FALSE(Fires("  sel:\n    IntegrityLevel: null\n  condition: sel\n", p));
}

TEST(SigmaModifiers, NumericComparisons) {
  auto p = Proc("x", {{"TerminalSessionId", "2"}});
  EXPECT_TRUE(Fires("  sel:\n    ProcessId|gt: 4000\n  condition: sel\n", p));
  EXPECT_TRUE(Fires("  sel:\n    ProcessId|lte: 4242\n  condition: sel\n", p));
  EXPECT_FALSE(Fires("  sel:\n    ProcessId|lt: 4242\n  condition: sel\n", p));
  EXPECT_TRUE(Fires("  sel:\n    TerminalSessionId|gte: 1\n  condition: sel\n", p));
  EXPECT_FALSE(Fires("  sel:\n    TerminalSessionId|gt: 2\n  condition: sel\n", p));
  EXPECT_TRUE(Fires("  sel:\n    ProcessId: 4242\n  condition: sel\n", p));
  EXPECT_TRUE(Fires("  sel:\n    ProcessId|endswith: '42'\n  condition: sel\n", p));
}

TEST(SigmaModifiers, ExpandAndFieldref) {
  sigma::Options options;
  options.placeholders["admins"] = {"CORP\\alice", "CORP\\bob"};
  std::string rule = "  sel:\n    User|expand: '%admins%'\n  condition: sel\n";
  EXPECT_TRUE(Fires(rule, Proc("x"), kProcessCreation, options));
  EXPECT_NE(Error(rule).find("placeholder %admins%"), std::string::npos);
  EXPECT_TRUE(Fires("  sel:\n    OriginalFileName|fieldref: OriginalFileName\n  condition: sel\n",
                    Proc("x")));
  EXPECT_FALSE(Fires("  sel:\n    Image|fieldref: ParentImage\n  condition: sel\n", Proc("x")));
  EXPECT_TRUE(Fires("  sel:\n    Image|fieldref: ParentImage\n  condition: sel\n",
                    Proc("x", {{"ParentImage", "C:\\Windows\\System32\\cmd.exe"}})));
}

TEST(SigmaModifiers, UnsupportedModifierIsAnError) {
  EXPECT_NE(Error("  sel:\n    Image|bogus: x\n  condition: sel\n").find("unknown modifier |bogus"),
            std::string::npos);
}

TEST(SigmaDetection, ListOfMapsAndKeywords) {
  std::string rule =
      "  sel:\n    - Image|endswith: '\\net.exe'\n    - CommandLine|contains: 'whoami'\n"
      "  condition: sel\n";
  EXPECT_TRUE(Fires(rule, Proc("whoami")));
  EXPECT_FALSE(Fires(rule, Proc("dir")));
  std::string keywords =
      "  keywords:\n    - 'mimikatz'\n    - 'sekurlsa'\n"
      "  condition: keywords\n";
  EXPECT_TRUE(Fires(keywords, Proc("x SEKURLSA::logonpasswords")));
  EXPECT_FALSE(Fires(keywords, Proc("dir")));
}

TEST(SigmaCondition, OneOfAllOfThemAndPatterns) {
  std::string sels =
      "  selection_a:\n    CommandLine|contains: 'aaa'\n"
      "  selection_b:\n    CommandLine|contains: 'bbb'\n"
      "  filter_x:\n    CommandLine|contains: 'xxx'\n";
  EXPECT_TRUE(Fires(sels + "  condition: 1 of selection_*\n", Proc("bbb")));
  EXPECT_FALSE(Fires(sels + "  condition: all of selection_*\n", Proc("bbb")));
  EXPECT_TRUE(Fires(sels + "  condition: all of selection_*\n", Proc("aaa bbb")));
  EXPECT_TRUE(Fires(sels + "  condition: 1 of them\n", Proc("xxx")));
  EXPECT_FALSE(Fires(sels + "  condition: all of them\n", Proc("aaa bbb")));
  EXPECT_TRUE(Fires(sels + "  condition: 1 of selection_* and not 1 of filter_*\n", Proc("aaa")));
  EXPECT_FALSE(
      Fires(sels + "  condition: 1 of selection_* and not 1 of filter_*\n", Proc("aaa xxx")));
}

TEST(SigmaCondition, NestedNotParenthesesAndLists) {
  std::string sels =
      "  a:\n    CommandLine|contains: 'aaa'\n"
      "  b:\n    CommandLine|contains: 'bbb'\n"
      "  c:\n    CommandLine|contains: 'ccc'\n";
  EXPECT_TRUE(Fires(sels + "  condition: not (a and not b)\n", Proc("aaa bbb")));
  EXPECT_FALSE(Fires(sels + "  condition: not (a and not b)\n", Proc("aaa")));
  EXPECT_TRUE(Fires(sels + "  condition: not not a\n", Proc("aaa")));
  EXPECT_TRUE(Fires(sels + "  condition: a and (b or c)\n", Proc("aaa ccc")));
  EXPECT_FALSE(Fires(sels + "  condition: a and b or c\n", Proc("aaa")));
  EXPECT_TRUE(Fires(sels + "  condition: a and b or c\n", Proc("ccc")));
  EXPECT_TRUE(Fires(sels + "  condition:\n    - a and b\n    - c\n", Proc("ccc")));
  // A filter on a field the event does not have: not(filter) holds (Sigma semantics).
  EXPECT_TRUE(
      Fires(sels + "  f:\n    Company: 'Microsoft'\n  condition: a and not f\n", Proc("aaa")));
}

TEST(SigmaCondition, UnsupportedFormsAreErrors) {
  EXPECT_NE(Error("  a:\n    Image: x\n  condition: a | count() > 5\n").find("aggregations"),
            std::string::npos);
  EXPECT_NE(Error("  a:\n    Image: x\n  condition: b\n").find("unknown selection 'b'"),
            std::string::npos);
  EXPECT_NE(Error("  a:\n    Image: x\n  condition: 2 of a\n").find("only 1 of"),
            std::string::npos);
  EXPECT_NE(Error("  a:\n    eventName: x\n  condition: a\n",
                  "  product: aws\n  service: "
                  "cloudtrail\n")
                .find("product aws"),
            std::string::npos);
}

TEST(SigmaLogsource, RoutesAndGuards) {
  // A Sysmon file event does not fire a process_creation rule, and vice versa.
  json file = Record(11, {{"Image", "C:\\x.exe"}, {"TargetFilename", "C:\\Temp\\evil.dll"}});
  std::string ls = "  product: windows\n  category: file_event\n";
  EXPECT_TRUE(Fires("  s:\n    TargetFilename|endswith: '.dll'\n  condition: s\n", file, ls));
  EXPECT_FALSE(Fires("  s:\n    Image|endswith: 'x.exe'\n  condition: s\n", file));
  // Registry: autostart keys are persistence (registry.path), others `other` (extra); one rule
  // sees both.
  std::string reg = "  product: windows\n  category: registry_set\n";
  std::string rule =
      "  s:\n    TargetObject|contains: '\\Software\\'\n    Details|contains: 'evil'\n"
      "  condition: s\n";
  json run =
      Record(13, {{"TargetObject", "HKLM\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\x"},
                  {"Details", "C:\\evil.exe"},
                  {"EventType", "SetValue"}});
  json plain = Record(13, {{"TargetObject", "HKCU\\Software\\Vendor\\Setting"},
                           {"Details", "evil"},
                           {"EventType", "SetValue"}});
  EXPECT_TRUE(Fires(rule, run, reg));
  EXPECT_TRUE(Fires(rule, plain, reg));
  EXPECT_FALSE(Fires("  s:\n    Details: null\n  condition: s\n", run, reg));
  // Service rules: the channel guard and space-less field names.
  json defender =
      Record(1116, {{"Threat Name", "Trojan:Win32/X"}}, "Microsoft-Windows-Windows Defender",
             "Microsoft-Windows-Windows Defender/Operational");
  std::string wd = "  product: windows\n  service: windefend\n";
  EXPECT_TRUE(
      Fires("  s:\n    EventID: 1116\n    ThreatName|startswith: 'trojan'\n  condition: s\n",
            defender, wd));
  EXPECT_FALSE(Fires("  s:\n    EventID: 1116\n  condition: s\n", defender,
                     "  product: windows\n  service: security\n"));
}

// Linux process_creation is an exec: the sensor's fork, exit and snapshot events carry the same
// command line and must not fire the rule again. file_event is not a deletion.
TEST(SigmaLogsource, LinuxProcessCreationIsAnExec) {
  auto rule =
      sigma::Compile(RuleText("  s:\n    CommandLine|contains: 'evil-marker'\n  condition: s\n",
                              "  product: linux\n  category: process_creation\n"));
  ASSERT_TRUE(rule) << rule.error().message;
  auto matcher = vigil::hunt::Matcher::Compile(rule->query);
  ASSERT_TRUE(matcher);
  for (const char* action : {"exec", "fork", "exit", "snapshot"}) {
    auto e = vigil::EventFromJson({{"@timestamp", 1},
                                   {"event.category", "process"},
                                   {"event.action", action},
                                   {"process.command_line", "sh -c evil-marker"}});
    ASSERT_TRUE(e);
    EXPECT_EQ(matcher->Matches(*e), std::string_view(action) == "exec") << action;
  }
  // file_event: a file created or written, not one removed.
  auto file_rule =
      sigma::Compile(RuleText("  s:\n    TargetFilename|startswith: '/etc/cron.d/'\n"
                              "  condition: s\n",
                              "  product: linux\n  category: file_event\n"));
  ASSERT_TRUE(file_rule) << file_rule.error().message;
  auto file_matcher = vigil::hunt::Matcher::Compile(file_rule->query);
  ASSERT_TRUE(file_matcher);
  for (const char* action : {"create", "open_write", "unlink"}) {
    auto e = vigil::EventFromJson({{"@timestamp", 1},
                                   {"event.category", "file"},
                                   {"event.action", action},
                                   {"file.path", "/etc/cron.d/job"}});
    ASSERT_TRUE(e);
    EXPECT_EQ(file_matcher->Matches(*e), std::string_view(action) != "unlink") << action;
  }
}

TEST(WindowsMapping, SysmonProcess) {
  auto e =
      vigil::hunt::MapWindowsEvent(Proc("cmd /c x", {{"Hashes", "MD5=AA,SHA256=ABCDEF,IMPHASH=CC"},
                                                     {"ProcessGuid", "{G1}"},
                                                     {"ParentProcessGuid", "{G0}"},
                                                     {"ParentProcessId", 4},
                                                     {"ParentCommandLine", "explorer.exe"},
                                                     {"CurrentDirectory", "C:\\"}}));
  ASSERT_TRUE(e) << e.error().message;
  auto j = vigil::EventToJson(*e);
  EXPECT_EQ(j["event.category"], "process");
  EXPECT_EQ(j["event.dataset"], "sysmon");
  EXPECT_EQ(j["host.name"], "WS-1");
  EXPECT_EQ(j["@timestamp"], "2025-01-02T03:04:05.500000000Z");
  EXPECT_EQ(j["process.executable"], "C:\\Windows\\System32\\cmd.exe");
  EXPECT_EQ(j["process.name"], "cmd.exe");
  EXPECT_EQ(j["process.command_line"], "cmd /c x");
  EXPECT_EQ(j["process.parent.executable"], "C:\\Windows\\explorer.exe");
  EXPECT_EQ(j["process.parent.command_line"], "explorer.exe");
  EXPECT_EQ(j["process.pid"], 4242);
  EXPECT_EQ(j["process.parent.pid"], 4);
  EXPECT_EQ(j["process.entity_id"], "{G1}");
  EXPECT_EQ(j["process.parent.entity_id"], "{G0}");
  EXPECT_EQ(j["process.hash.sha256"], "abcdef");
  EXPECT_EQ(j["process.working_directory"], "C:\\");
  EXPECT_EQ(j["user.name"], "CORP\\alice");
  EXPECT_EQ(j["OriginalFileName"], "Cmd.Exe");
  EXPECT_EQ(j["Hashes"], "MD5=AA,SHA256=ABCDEF,IMPHASH=CC");
  EXPECT_EQ(j["EventID"], "1");
}

TEST(WindowsMapping, Security4688NetworkDnsRegistryOther) {
  auto p = vigil::hunt::MapWindowsEvent(Record(4688,
                                               {{"NewProcessName", "C:\\a\\b.exe"},
                                                {"NewProcessId", "0x10"},
                                                {"ProcessId", "0x4"},
                                                {"CommandLine", "b.exe -x"},
                                                {"SubjectUserName", "bob"}},
                                               "Microsoft-Windows-Security-Auditing", "Security"));
  ASSERT_TRUE(p);
  auto j = vigil::EventToJson(*p);
  EXPECT_EQ(j["event.category"], "process");
  EXPECT_EQ(j["event.dataset"], "windows.security");
  EXPECT_EQ(j["process.pid"], 16);
  EXPECT_EQ(j["process.parent.pid"], 4);
  EXPECT_EQ(j["user.name"], "bob");

  auto n = vigil::hunt::MapWindowsEvent(Record(3, {{"DestinationIp", "1.2.3.4"},
                                                   {"DestinationPort", 80},
                                                   {"Protocol", "tcp"},
                                                   {"Initiated", "true"},
                                                   {"DestinationHostname", "x.example"}}));
  ASSERT_TRUE(n);
  j = vigil::EventToJson(*n);
  EXPECT_EQ(j["event.category"], "network");
  EXPECT_EQ(j["destination.ip"], "1.2.3.4");
  EXPECT_EQ(j["destination.port"], 80);
  EXPECT_EQ(j["network.direction"], "egress");
  EXPECT_EQ(j["destination.domain"], "x.example");

  auto d = vigil::hunt::MapWindowsEvent(Record(
      22, {{"QueryName", "evil.example"}, {"QueryResults", "type:  5 a.example;::ffff:1.2.3.4;"}}));
  ASSERT_TRUE(d);
  j = vigil::EventToJson(*d);
  EXPECT_EQ(j["event.category"], "dns");
  EXPECT_EQ(j["dns.question.name"], "evil.example");
  EXPECT_EQ(j["dns.resolved_ip"], json::array({"1.2.3.4"}));

  auto r = vigil::hunt::MapWindowsEvent(
      Record(13, {{"TargetObject", "HKLM\\System\\CurrentControlSet\\Services\\evil\\ImagePath"},
                  {"Details", "C:\\evil.exe"}}));
  ASSERT_TRUE(r);
  j = vigil::EventToJson(*r);
  EXPECT_EQ(j["event.category"], "persistence");
  EXPECT_EQ(j["registry.data.strings"], json::array({"C:\\evil.exe"}));
  auto o = vigil::hunt::MapWindowsEvent(Record(13, {{"TargetObject", "HKCU\\Software\\X"}}));
  ASSERT_TRUE(o);
  j = vigil::EventToJson(*o);
  EXPECT_EQ(j["event.category"], "other");
  EXPECT_EQ(j["TargetObject"], "HKCU\\Software\\X");
  EXPECT_TRUE(vigil::hunt::IsAutostartKey(
      "HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\RunOnce\\x"));
  EXPECT_FALSE(vigil::hunt::MapWindowsEvent(json{{"foo", 1}}));
  auto records = vigil::hunt::ParseWindowsRecords("{\"a\":1}\n{\"b\":2} [{\"c\":3}]");
  ASSERT_TRUE(records);
  EXPECT_EQ(records->size(), 3u);
}

TEST(WindowsMapping, SecurityLogonsAreAuthentication) {
  auto ok = vigil::hunt::MapWindowsEvent(Record(4624,
                                                {{"TargetUserName", "alice"},
                                                 {"IpAddress", "10.0.2.17"},
                                                 {"IpPort", "49702"},
                                                 {"LogonType", "3"},
                                                 {"ProcessName", "-"},
                                                 {"ProcessId", "0x0"}},
                                                "Microsoft-Windows-Security-Auditing", "Security"));
  ASSERT_TRUE(ok) << ok.error().message;
  auto j = vigil::EventToJson(*ok);
  EXPECT_EQ(j["event.category"], "authentication");
  EXPECT_EQ(j["event.action"], "logged-in");
  EXPECT_EQ(j["event.outcome"], "success");
  EXPECT_EQ(j["user.name"], "alice");
  EXPECT_EQ(j["source.ip"], "10.0.2.17");
  EXPECT_EQ(j["source.port"], 49702);
  EXPECT_FALSE(j.contains("process.executable"));  // "-": none
  // Every Windows field stays in extra under its own name (Sigma matches those).
  EXPECT_EQ(j["TargetUserName"], "alice");
  EXPECT_EQ(j["IpAddress"], "10.0.2.17");
  EXPECT_EQ(j["LogonType"], "3");
  EXPECT_EQ(j["ProcessName"], "-");

  auto failed =
      vigil::hunt::MapWindowsEvent(Record(4625,
                                          {{"TargetUserName", "admin"},
                                           {"IpAddress", "-"},
                                           {"IpPort", "0"},
                                           {"ProcessName", "C:\\Windows\\System32\\svchost.exe"},
                                           {"ProcessId", "0x2a8"}},
                                          "Microsoft-Windows-Security-Auditing", "Security"));
  ASSERT_TRUE(failed);
  j = vigil::EventToJson(*failed);
  EXPECT_EQ(j["event.category"], "authentication");
  EXPECT_EQ(j["event.action"], "logon-failed");
  EXPECT_EQ(j["event.outcome"], "failure");
  EXPECT_FALSE(j.contains("source.ip"));
  EXPECT_FALSE(j.contains("source.port"));
  EXPECT_EQ(j["IpAddress"], "-");
  EXPECT_EQ(j["process.name"], "svchost.exe");
  EXPECT_EQ(j["process.pid"], 0x2a8);

  auto explicit_creds = vigil::hunt::MapWindowsEvent(
      Record(4648, {{"TargetUserName", "bob"}}, "Microsoft-Windows-Security-Auditing", "Security"));
  ASSERT_TRUE(explicit_creds);
  EXPECT_EQ(vigil::EventToJson(*explicit_creds)["event.action"], "explicit-credentials");
  // A Security rule sees logons through the Windows names and raw values, as before.
  std::string security = "  product: windows\n  service: security\n";
  EXPECT_TRUE(Fires("  s:\n    EventID: 4625\n    IpAddress: '-'\n  condition: s\n",
                    Record(4625, {{"TargetUserName", "admin"}, {"IpAddress", "-"}},
                           "Microsoft-Windows-Security-Auditing", "Security"),
                    security));
  EXPECT_TRUE(
      Fires("  s:\n    EventID: 4624\n    LogonType: 3\n    TargetUserName: alice\n"
            "  condition: s\n",
            Record(4624, {{"TargetUserName", "alice"}, {"LogonType", "3"}},
                   "Microsoft-Windows-Security-Auditing", "Security"),
            security));
  EXPECT_FALSE(Fires("  s:\n    EventID: 4624\n    LogonType: 10\n  condition: s\n",
                     Record(4624, {{"TargetUserName", "alice"}, {"LogonType", "3"}},
                            "Microsoft-Windows-Security-Auditing", "Security"),
                     security));
}

// The same Sigma rules give the same matches live (Matcher) and as a retro-hunt (SQL).
TEST(SigmaLiveAndRetro, SameMatches) {
  std::vector<json> records = {
      Proc("powershell -enc SQBFAFgAIAAoAE4AZQB3AA=="),
      Proc("whoami /all", {{"IntegrityLevel", "High"}}),
      Proc("net user x /add"),
      Record(13, {{"TargetObject", "HKLM\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\x"},
                  {"Details", "C:\\Users\\evil.exe"}}),
      Record(13, {{"TargetObject", "HKCU\\Software\\Vendor\\Setting"}, {"Details", "evil"}}),
      Record(11, {{"Image", "C:\\x.exe"}, {"TargetFilename", "C:\\Temp\\evil.dll"}}),
      Record(4624, {{"TargetUserName", "alice"}, {"IpAddress", "-"}, {"LogonType", "2"}},
             "Microsoft-Windows-Security-Auditing", "Security"),
      Record(4624, {{"TargetUserName", "bob"}, {"IpAddress", "10.1.1.1"}, {"LogonType", "3"}},
             "Microsoft-Windows-Security-Auditing", "Security"),
  };
  auto db =
      std::filesystem::path(testing::TempDir()) / ("sigma_" + std::to_string(::getpid()) + ".db");
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(db.string() + suffix);
  auto store = vigil::store::OpenSqliteStore({db, false});
  ASSERT_TRUE(store) << store.error().message;
  vigil::store::IngestBatch batch;
  std::vector<vigil::v1::Event> events;
  for (const auto& r : records) {
    auto e = vigil::hunt::MapWindowsEvent(r);
    ASSERT_TRUE(e);
    events.push_back(*e);
    batch.events.push_back(*e);
  }
  ASSERT_TRUE((*store)->Append(std::span(&batch, 1)));
  const std::pair<std::string, std::string> rules[] = {
      {"  s:\n    CommandLine|wide|base64offset|contains: 'IEX ('\n  condition: s\n",
       kProcessCreation},
      {"  s:\n    CommandLine|windash|contains: ' /all'\n  f:\n    Company: x\n"
       "  condition: s and not f\n",
       kProcessCreation},
      {"  s:\n    IntegrityLevel: high\n  condition: not s\n", kProcessCreation},
      {"  s:\n    TargetObject|contains: '\\software\\'\n  f:\n    Details|contains: 'users'\n"
       "  condition: s and not f\n",
       "  product: windows\n  category: registry_set\n"},
      {"  s:\n    TargetFilename|re: '(?i)temp.*dll$'\n  condition: s\n",
       "  product: windows\n  category: file_event\n"},
      {"  s:\n    EventID: 4624\n    LogonType: 3\n  condition: s\n",
       "  product: windows\n  service: security\n"},
  };
  for (const auto& [detection, logsource] : rules) {
    auto rule = sigma::Compile(RuleText(detection, logsource));
    ASSERT_TRUE(rule) << rule.error().message;
    auto matcher = vigil::hunt::Matcher::Compile(rule->query);
    ASSERT_TRUE(matcher);
    auto key = [](const nlohmann::ordered_json& o) {
      json j = json::parse(o.dump());  // sorted keys: the extra map has no stable order
      j.erase("event.ingested");
      return j.dump();
    };
    std::multiset<std::string> live, retro;
    for (const auto& e : events)
      if (matcher->Matches(e)) live.insert(key(vigil::EventToJson(e)));
    vigil::hunt::HuntOptions options;
    options.limit = 0;
    auto run = vigil::hunt::Run(db, rule->query, options, [&](const nlohmann::ordered_json& e) {
      retro.insert(key(e));
      return true;
    });
    ASSERT_TRUE(run) << run.error().message;
    EXPECT_FALSE(live.empty()) << detection;
    EXPECT_EQ(live, retro) << detection;
  }
}

}  // namespace
