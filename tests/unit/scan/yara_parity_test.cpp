// Parity with the yara CLI: a file scan of a test tree with every rule of the shared
// signature-base and elastic-linux corpora gives exactly the (rule, file) pairs of `yara -r`.
#include <gtest/gtest.h>
#include <stdio.h>

#include <set>
#include <sstream>

#include "test_util.hpp"

namespace vigil::agent::scan {
namespace {
namespace fs = std::filesystem;

using Pairs = std::set<std::pair<std::string, std::string>>;

std::string RunShell(const std::string& command) {
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  pclose(p);
  return out;
}

std::vector<fs::path> Corpora() {
  const fs::path root = VIGIL_CORPORA;
  return {root / "signature-base", root / "elastic-linux"};
}

void BuildTree(const fs::path& dir) {
  // Real binaries and libraries.
  for (const char* bin :
       {"/usr/bin/ls", "/usr/bin/tar", "/usr/bin/gzip", "/usr/bin/env", "/bin/sh", "/usr/bin/yara"})
    if (fs::exists(bin)) fs::copy_file(bin, dir / "bin" / fs::path(bin).filename());
  // Files carrying the strings that known rules require.
  testing::WriteFile(dir / "web/404.asp", "<%\n' lFyw6pd^DKV^4CDRWmmnO1GVKDl:y& f+2\n%>\n");
  testing::WriteFile(dir / "bot/gpon.sh",
                     "#!/bin/sh\ncurl 'http://x/GponForm/diag_Form?images/' -d "
                     "'XWebPageName=diag&diag_action=ping&wan_conlist=0&dest_host=`id`&ipv=0'\n");
  testing::WriteFile(dir / "bot/nested/deeper/copy.sh",
                     "XWebPageName=diag&diag_action=ping&wan_conlist=0&dest_host= "
                     "GponForm/diag_Form?images &ipv=0");
  testing::WriteFile(dir / "apt/wocao.bin", std::string("MZ\x90\x00", 4) + std::string(200, '\0') +
                                                "%s{%04d-%02d%02d-%02d%02d-%d%ld}.tmp" +
                                                std::string(100, '\0'));
  testing::WriteFile(dir / "docs/readme.txt", "Just an ordinary text file.\n");
  testing::WriteFile(dir / "docs/empty", "");
}

Pairs CliPairs(const std::vector<RuleFile>& files, const fs::path& tree) {
  std::string cmd = "yara -r -N -w";
  for (const auto& f : files) cmd += " '" + f.path.string() + "'";
  cmd += " '" + tree.string() + "' 2>&1";
  Pairs out;
  std::istringstream lines(RunShell(cmd));
  std::string line;
  while (std::getline(lines, line)) {
    const auto sp = line.find(' ');
    if (sp == std::string::npos) continue;
    out.emplace(line.substr(0, sp), line.substr(sp + 1));
  }
  return out;
}

TEST(YaraParity, AllCorpusRulesGiveTheSamePairsAsTheYaraCli) {
  for (const auto& c : Corpora())
    if (!fs::exists(c)) GTEST_SKIP() << "corpus missing: " << c;
  if (RunShell("command -v yara").empty()) GTEST_SKIP() << "yara CLI not installed";
  testing::TempDir dir;
  const fs::path tree = dir / "tree";
  fs::create_directories(tree / "bin");
  BuildTree(tree);

  const auto inputs = Corpora();
  auto rules = RuleSet::Load(inputs);
  ASSERT_TRUE(rules) << rules.error().message;
  EXPECT_GT((*rules)->rule_count(), 4000u);

  auto options = testing::Uncapped({tree.string()});
  options.threads = 2;
  auto ours = testing::ScanFiles(*rules, options);
  Pairs mine;
  for (const auto& e : ours.events) {
    ASSERT_EQ(e.event_action(), kActionMatch) << e.error_message();
    mine.emplace(e.yara_rule(), e.file_path());
  }
  const Pairs cli = CliPairs((*rules)->files(), tree);
  EXPECT_EQ(mine, cli);
  // The crafted files did trigger the rules they were made for.
  EXPECT_TRUE(mine.count({"webshell_asp_404", (tree / "web/404.asp").string()}));
  EXPECT_TRUE(
      mine.count({"Linux_Exploit_CVE_2018_10562_badc0676", (tree / "bot/gpon.sh").string()}));
  EXPECT_TRUE(mine.count({"APT_MAL_CN_Wocao_injector_bin", (tree / "apt/wocao.bin").string()}));
  std::printf("%zu (rule, file) pairs, %zu rules\n", mine.size(), (*rules)->rule_count());
}

}  // namespace
}  // namespace vigil::agent::scan
