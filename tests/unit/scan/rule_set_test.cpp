// Rule loading: namespaces, directory discovery, versions, and errors with file:line: reason.
#include "agent/scan/rule_set.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "test_util.hpp"

namespace vigil::agent::scan {
namespace {
using ::testing::HasSubstr;
using testing::TempDir;
using testing::WriteFile;

TEST(RuleSet, LoadsDirectoriesRecursivelyWithNamespacePerFile) {
  TempDir dir;
  WriteFile(dir / "rules/a.yar", "rule a { condition: true }\n");
  WriteFile(dir / "rules/sub/b.yara", "rule b { condition: true }\n");
  WriteFile(dir / "rules/readme.txt", "not a rule\n");
  WriteFile(dir / "c.yar", "rule a { condition: true }\n");  // same name, other namespace
  std::vector<std::filesystem::path> inputs{dir / "rules", dir / "c.yar"};
  auto set = RuleSet::Load(inputs);
  ASSERT_TRUE(set.has_value()) << set.error().message;
  EXPECT_EQ((*set)->rule_count(), 3u);
  ASSERT_EQ((*set)->files().size(), 3u);
  EXPECT_EQ((*set)->files()[0].name_space, "rules/a");
  EXPECT_EQ((*set)->files()[1].name_space, "rules/sub/b");
  EXPECT_EQ((*set)->files()[2].name_space, "c");
  EXPECT_EQ((*set)->version().size(), 64u);
}

TEST(RuleSet, RefusesBadRulesWithFileLineAndReason) {
  TempDir dir;
  WriteFile(dir / "good.yar", "rule ok { condition: true }\n");
  WriteFile(dir / "bad.yar", "rule one { condition: true }\n\nrule two { condition: $missing }\n");
  WriteFile(dir / "worse.yar", "rule three {\n strings: $a = \"x\"\n condition: \n}\n");
  std::vector<std::filesystem::path> inputs{dir / "good.yar", dir / "bad.yar", dir / "worse.yar"};
  auto set = RuleSet::Load(inputs);
  ASSERT_FALSE(set.has_value());
  const auto& msg = set.error().message;
  EXPECT_THAT(msg, HasSubstr((dir / "bad.yar").string() + ":3: undefined string \"$missing\""));
  // Errors of later files are reported too.
  EXPECT_THAT(msg, HasSubstr((dir / "worse.yar").string() + ":4: syntax error"));
}

TEST(RuleSet, VersionChangesWithRules) {
  auto a = RuleSet::FromString("rule a { condition: true }");
  auto b = RuleSet::FromString("rule a { condition: false }");
  ASSERT_TRUE(a && b);
  EXPECT_NE((*a)->version(), (*b)->version());
  auto a2 = RuleSet::FromString("rule a { condition: true }");
  EXPECT_EQ((*a)->version(), (*a2)->version());
}

TEST(RuleSet, MissingInputIsAnError) {
  std::vector<std::filesystem::path> inputs{"/nonexistent/rules.yar"};
  auto set = RuleSet::Load(inputs);
  ASSERT_FALSE(set.has_value());
  EXPECT_THAT(set.error().message, HasSubstr("/nonexistent/rules.yar"));
}

// What the server stores and agents compile: the same files as in-memory sources give the same
// rules and the same version as loading them from disk.
TEST(RuleSet, SourcesCompileToTheSameVersionAsFiles) {
  TempDir dir;
  WriteFile(dir / "rules/a.yar", "rule a { strings: $x = \"alpha\" condition: $x }\n");
  WriteFile(dir / "rules/sub/b.yara", "rule b { condition: filesize > 10 }\n");
  std::vector<std::filesystem::path> inputs{dir / "rules"};
  auto loaded = RuleSet::Load(inputs);
  ASSERT_TRUE(loaded) << loaded.error().message;
  auto sources = RuleSet::ReadSources(inputs);
  ASSERT_TRUE(sources) << sources.error().message;
  ASSERT_EQ(sources->size(), 2u);
  EXPECT_EQ((*sources)[0].name_space, "rules/a");
  EXPECT_EQ((*sources)[1].name_space, "rules/sub/b");
  auto compiled = RuleSet::FromSources(*sources);
  ASSERT_TRUE(compiled) << compiled.error().message;
  EXPECT_EQ((*compiled)->version(), (*loaded)->version());
  EXPECT_EQ((*compiled)->rule_count(), 2u);
}

TEST(RuleSet, BadSourcesNameTheirOriginAndLine) {
  std::vector<RuleSource> sources{
      {"one", "uploads/one.yar", "rule fine { condition: true }\n"},
      {"two", "uploads/two.yar", "rule broken {\n condition: $nope\n}\n"},
      {"three", "uploads/three.yar", "rule also { condition: nothing_here }\n"}};
  auto compiled = RuleSet::FromSources(sources);
  ASSERT_FALSE(compiled);
  EXPECT_NE(compiled.error().message.find("uploads/two.yar:3: undefined string \"$nope\""),
            std::string::npos)
      << compiled.error().message;
  EXPECT_NE(compiled.error().message.find("uploads/three.yar:1: undefined identifier"),
            std::string::npos)
      << compiled.error().message;
}

}  // namespace
}  // namespace vigil::agent::scan
