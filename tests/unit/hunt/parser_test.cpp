// Unit tests of the EQL lexer and parser edge cases: escapes, unterminated strings and comments,
// positions in multi-line queries, bounded nesting and input size, field resolution.
#include <gtest/gtest.h>

#include "hunt/hunt.hpp"
#include "hunt/lexer.hpp"

namespace vigil::hunt {
namespace {

std::string ErrorOf(std::string_view q) {
  auto r = ParseQuery(q);
  return r ? "(ok)" : r.error().Format();
}

std::string StringLiteral(std::string_view q) {
  auto t = Lex(q);
  if (!t) return "ERROR " + t.error().Format();
  return (*t)[0].text;
}

TEST(Lexer, Escapes) {
  EXPECT_EQ(StringLiteral(R"("a\"b")"), "a\"b");
  EXPECT_EQ(StringLiteral(R"("a\\b")"), "a\\b");
  EXPECT_EQ(StringLiteral(R"("\n\t\r")"), "\n\t\r");
  EXPECT_EQ(StringLiteral(R"('it\'s')"), "it's");
  EXPECT_EQ(StringLiteral(R"("\u{41}\u{e9}\u{1F600}")"), "A\xC3\xA9\xF0\x9F\x98\x80");
  EXPECT_EQ(StringLiteral(R"("""C:\Windows\"quoted" """)"), R"(C:\Windows\"quoted" )");
  EXPECT_EQ(StringLiteral(R"(?"C:\Windows\x")"), R"(C:\Windows\x)");
  EXPECT_EQ(StringLiteral(R"("\q")"),
            R"(ERROR 1:2: unknown escape \q (known: \n \r \t \0 \\ \" \' \u{...}))");
  EXPECT_EQ(StringLiteral(R"("\u{110000}")"),
            "ERROR 1:2: bad escape \\u: expected \\u{hex digits} of a Unicode code point");
  EXPECT_EQ(StringLiteral(R"("\u41")"), "ERROR 1:2: bad escape \\u: expected \\u{hex digits}");
}

TEST(Lexer, Unterminated) {
  EXPECT_EQ(ErrorOf(R"(process where name == "bash)"),
            "1:23: unterminated string: missing closing \"");
  EXPECT_EQ(ErrorOf("process where name == 'x"), "1:23: unterminated string: missing closing '");
  EXPECT_EQ(ErrorOf("process where name == \"a\nb\""),
            "1:23: unterminated string: missing closing \"");
  EXPECT_EQ(ErrorOf(R"(process where name == """abc)"),
            "1:23: unterminated string: missing closing \"\"\"");
  EXPECT_EQ(ErrorOf("process where /* x"), "1:15: unterminated comment");
  EXPECT_EQ(ErrorOf("process where `name"), "1:15: unterminated quoted field name");
  EXPECT_EQ(ErrorOf(R"(process where name == "x\)"),
            "1:23: unterminated string: missing closing \"");
}

TEST(Lexer, Positions) {
  auto t = Lex("process\n  where  name\t== 1 // c\n/* multi\nline */ and");
  ASSERT_TRUE(t);
  EXPECT_EQ((*t)[1].line, 2);
  EXPECT_EQ((*t)[1].column, 3);
  EXPECT_EQ((*t)[2].column, 10);
  EXPECT_EQ((*t)[5].text, "and");
  EXPECT_EQ((*t)[5].line, 4);
  EXPECT_EQ((*t)[5].column, 9);
  EXPECT_EQ(ErrorOf("process where\n  nmae == \"x\""),
            "2:3: unknown field nmae (did you mean process.name?)");
  EXPECT_EQ(ErrorOf("process where name == 1 $"), "1:25: unexpected character '$'");
  EXPECT_EQ(ErrorOf("process where name == \"\x01\" \x7f"), "1:27: unexpected character 0x7f");
}

TEST(Lexer, Numbers) {
  auto t = Lex("1 2.5 1e3 99999999999999999999");
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().Format(), "1:11: number 99999999999999999999 is too large");
  t = Lex("1 2.5 1e3 -7");
  ASSERT_TRUE(t);
  EXPECT_EQ((*t)[0].kind, Tok::Integer);
  EXPECT_EQ((*t)[1].kind, Tok::Float);
  EXPECT_DOUBLE_EQ((*t)[2].real, 1000.0);
}

TEST(Parser, DeepNestingIsBounded) {
  std::string q = "process where " + std::string(10000, '(') + "true" + std::string(10000, ')');
  EXPECT_EQ(ErrorOf(q), "1:78: query is nested too deeply (the limit is 64 levels)");
  std::string nots = "process where ";
  for (int i = 0; i < 5000; ++i) nots += "not ";
  nots += "true";
  EXPECT_NE(ErrorOf(nots).find("nested too deeply"), std::string::npos);
  std::string rel = "process where ";
  for (int i = 0; i < 200; ++i) rel += "child of [process where ";
  EXPECT_NE(ErrorOf(rel).find("nested too deeply"), std::string::npos);
  std::string ok = "process where " + std::string(20, '(') + "true" + std::string(20, ')');
  EXPECT_EQ(ErrorOf(ok), "(ok)");
}

TEST(Parser, HugeInputIsBounded) {
  std::string q = "process where name in (";
  while (q.size() < kMaxQueryBytes) q += "\"aaaaaaaa\", ";
  q += "\"b\")";
  EXPECT_EQ(ErrorOf(q),
            "1:1: query is too long (" + std::to_string(q.size()) + " bytes; the limit is 65536)");
  // Long but acceptable: a 60 KiB or-chain parses iteratively.
  std::string chain = "process where pid == 1";
  while (chain.size() < 60000) chain += " or pid == 1";
  EXPECT_EQ(ErrorOf(chain), "(ok)");
}

TEST(Parser, ShortNamesAndQuotedFields) {
  auto q = ParseQuery(
      "process where name == \"x\" and `process.parent.name` == \"y\" and host.id == \"h\"");
  ASSERT_TRUE(q) << q.error().Format();
  const auto& f = std::get<EventFilter>(q->body);
  const auto& logic = std::get<Logic>(f.where->node);
  EXPECT_EQ(std::get<FieldRef>(std::get<Compare>(logic.operands[0]->node).left->node).field->name,
            "process.name");
  EXPECT_EQ(std::get<FieldRef>(std::get<Compare>(logic.operands[1]->node).left->node).field->name,
            "process.parent.name");
  EXPECT_EQ(ErrorOf("network where file.path == \"x\""),
            "1:15: field file.path is not in category network (it is in: file, persistence, scan, "
            "action, policy)");
  EXPECT_EQ(ErrorOf("any where pid == 1"),
            "1:11: unknown field pid (did you mean process.pid, process.parent.pid?)");
}

TEST(Parser, SharedKeysResolvePerStep) {
  auto q = ParseQuery("sequence by name [process where true] [file where true]");
  ASSERT_TRUE(q) << q.error().Format();
  const auto& s = std::get<Sequence>(q->body);
  ASSERT_EQ(s.steps.size(), 2u);
  EXPECT_EQ(std::get<FieldRef>(s.steps[0].keys[0]->node).field->name, "process.name");
  EXPECT_EQ(std::get<FieldRef>(s.steps[1].keys[0]->node).field->name, "file.name");
}

TEST(Parser, TypesAndPipes) {
  auto q = ParseQuery("process where add(pid, 1) > 2 | count name, host.id | head 3");
  ASSERT_TRUE(q) << q.error().Format();
  ASSERT_EQ(q->pipes.size(), 2u);
  EXPECT_EQ(q->pipes[0].arg_names, (std::vector<std::string>{"process.name", "host.id"}));
  EXPECT_EQ(q->pipes[1].count, 3);
  EXPECT_EQ(ErrorOf("process where pid"), "1:15: expected a condition, got process.pid (long)");
}

}  // namespace
}  // namespace vigil::hunt
