// Unit tests of the postings builders (text_index.hpp) without a database: what a sealed partition
// answers equals what a scan of the same rows answers, for thousands of texts and terms, and
// rows re-added at offsets a rolled-back transaction had used.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "server/store/text_index.hpp"

namespace vigil::store::text_index {
namespace {

// Rows of one partition: offset -> text, with offsets 1000..1099 added twice (a rollback).
std::vector<std::pair<std::uint16_t, std::string>> Rows() {
  std::mt19937 rng(7);
  const std::vector<std::string> words = {"curl",    "wget",  "bash", "python3", "/tmp/",
                                          "http://", "chmod", "+x",   "sshd",    "Cron"};
  std::vector<std::pair<std::uint16_t, std::string>> rows;
  for (std::uint16_t offset = 0; offset < 20000; ++offset) {
    std::string text;
    for (int w = 0; w < 3; ++w) text += words[rng() % words.size()] + " ";
    text += std::to_string(rng() % 3000);  // ~3,000 x repeats: distinct and repeated texts
    rows.emplace_back(offset, text);
  }
  for (std::uint16_t offset = 1000; offset < 1100; ++offset)
    rows.emplace_back(offset, "re-added " + std::to_string(offset % 7));
  return rows;
}

std::vector<std::uint16_t> Scan(const std::vector<std::pair<std::uint16_t, std::string>>& rows,
                                const auto& matches) {
  std::vector<std::uint16_t> out;
  for (const auto& [offset, text] : rows)
    if (matches(text)) out.push_back(offset);
  std::ranges::sort(out);
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Sealed blocks looked up as the store's table does: the block of a kind whose first key is the
// largest at or below the key.
BlockLookup LookupIn(const std::vector<Block>& blocks) {
  return [&blocks](int kind, std::int64_t key) -> std::optional<Block> {
    const Block* best = nullptr;
    for (const Block& b : blocks)
      if (b.kind == kind && b.first_key <= key && (!best || b.first_key > best->first_key))
        best = &b;
    return best ? std::optional<Block>(*best) : std::nullopt;
  };
}

// Sealed term blocks looked up as the store does: the block whose first term is the largest at or
// below the term, or (after) the first one past it.
TermBlockLookup TermLookupIn(const std::vector<TermBlock>& blocks) {
  return [&blocks](std::string_view term, bool after) -> std::optional<TermBlock> {
    const TermBlock* best = nullptr;
    for (const TermBlock& b : blocks)
      if (after ? b.first_term > term && (!best || b.first_term < best->first_term)
                : b.first_term <= term && (!best || b.first_term > best->first_term))
        best = &b;
    return best ? std::optional<TermBlock>(*best) : std::nullopt;
  };
}

TEST(TextIndexBuilder, SealedTrigramBlocksAnswerLikeAScan) {
  const auto rows = Rows();
  PartitionBuilder builder;
  for (const auto& [offset, text] : rows) builder.Add(offset, text);
  const std::vector<Block> blocks = builder.Seal();
  ASSERT_GT(blocks.size(), 2u);  // several blocks of each kind: lookups cross block bounds
  const BlockLookup lookup = LookupIn(blocks);
  for (const std::string needle :
       {"chmod +x", "2999", "re-added 3", "CRON sshd", "python3 /tmp/"}) {
    auto sets = PatternTrigrams({"*" + needle + "*"});
    ASSERT_TRUE(sets);
    std::vector<std::uint16_t> sealed, live;
    MatchSealed(*sets, lookup, sealed);
    builder.Match(*sets, live);
    live.erase(std::unique(live.begin(), live.end()), live.end());
    // Trigrams without positions give a superset of the substring's rows; every such row holds
    // each trigram, which the scan checks the same way.
    auto expected = Scan(rows, [&](const std::string& text) {
      return Lower(text).find(Lower(needle)) != std::string::npos;
    });
    EXPECT_TRUE(std::ranges::includes(sealed, expected)) << needle;
    EXPECT_EQ(sealed, live) << needle;
    EXPECT_TRUE(std::ranges::is_sorted(sealed)) << needle;
  }
}

// Texts whose trigrams repeat: a text matches when it holds each of the pattern's trigrams, however
// often it holds one of them (exact sets here, on both the live builder and its sealed blocks).
TEST(TextIndexBuilder, RepeatedTrigramsCountOnce) {
  const std::vector<std::string> texts = {"aaaa", "aaab", "xaaay", "abab ab", "babababa", "aaaa"};
  PartitionBuilder builder;
  for (std::size_t i = 0; i < texts.size(); ++i)
    builder.Add(static_cast<std::uint16_t>(i), texts[i]);
  const std::vector<Block> blocks = builder.Seal();
  const BlockLookup lookup = LookupIn(blocks);
  const std::vector<std::pair<std::string, std::vector<std::uint16_t>>> cases = {
      {"*aaab*", {1}},
      {"*abab*", {3, 4}},
      {"*aaa*", {0, 1, 2, 5}},
      {"*bababab*", {3, 4}}};  // no positions: a superset
  for (const auto& [pattern, expected] : cases) {
    auto sets = PatternTrigrams({pattern});
    ASSERT_TRUE(sets);
    std::vector<std::uint16_t> sealed, live;
    MatchSealed(*sets, lookup, sealed);
    builder.Match(*sets, live);
    EXPECT_EQ(live, expected) << pattern;
    EXPECT_EQ(sealed, expected) << pattern;
  }
}

// A builder cleared for the next partition (keeping its memory) seals exactly what a new one does.
TEST(TextIndexBuilder, ClearedBuildersSealLikeNewOnes) {
  const auto rows = Rows();
  PartitionBuilder reused;
  TermBuilder reused_terms;
  for (const auto& [offset, text] : rows) {  // a first partition with other texts
    reused.Add(offset, "old " + text + " partition");
    reused_terms.Add(offset, "old " + text);
  }
  reused.Clear();
  reused_terms.Clear();
  PartitionBuilder fresh;
  TermBuilder fresh_terms;
  for (const auto& [offset, text] : rows) {
    reused.Add(offset, text);
    fresh.Add(offset, text);
    reused_terms.Add(offset, text);
    fresh_terms.Add(offset, text);
  }
  const auto a = reused.Seal(), b = fresh.Seal();
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].kind, b[i].kind);
    EXPECT_EQ(a[i].first_key, b[i].first_key);
    EXPECT_EQ(a[i].data, b[i].data) << "block " << i;
  }
  const auto ta = reused_terms.Seal(), tb = fresh_terms.Seal();
  ASSERT_EQ(ta.size(), tb.size());
  for (std::size_t i = 0; i < ta.size(); ++i) {
    EXPECT_EQ(ta[i].first_term, tb[i].first_term);
    EXPECT_EQ(ta[i].data, tb[i].data) << "term block " << i;
  }
  std::vector<std::uint16_t> old_rows;
  reused_terms.Match(MakeTermQuery({"old "}, true), old_rows);
  EXPECT_TRUE(old_rows.empty());
}

TEST(TextIndexBuilder, SealedTermBlocksAnswerLikeAScan) {
  const auto rows = Rows();
  TermBuilder builder;
  for (const auto& [offset, text] : rows) builder.Add(offset, text);
  const std::vector<TermBlock> blocks = builder.Seal();
  ASSERT_GT(blocks.size(), 2u);
  const TermBlockLookup lookup = TermLookupIn(blocks);
  const std::string some = rows[12345].second;
  for (const auto& [value, prefix] : std::vector<std::pair<std::string, bool>>{
           {some, false}, {"re-added 3", false}, {"curl", true}, {"SSHD cron", true}}) {
    std::vector<std::uint16_t> sealed;
    MatchSealedTerms(MakeTermQuery({value}, prefix), lookup, sealed);
    auto expected = Scan(rows, [&](const std::string& text) {
      return prefix ? Lower(text).starts_with(Lower(value)) : Lower(text) == Lower(value);
    });
    EXPECT_FALSE(expected.empty()) << value;
    EXPECT_EQ(sealed, expected) << value;
  }
}

}  // namespace
// Terms with capitals at any position (the case check reads eight bytes at a time) and long shared
// prefixes (the seal sorts on 16-byte prefixes first): every term is found by its lowercase and
// its uppercase form, exactly where a scan finds it, and the sealed blocks are in term order.
TEST(TextIndexBuilder, TermsFoldAndSortAtEveryPosition) {
  std::mt19937 rng(11);
  const std::string alphabet = std::string("aZAz@[`{09-_") + "\xc1\xdb\x80\xff";
  std::vector<std::pair<std::uint16_t, std::string>> rows;
  for (std::uint16_t offset = 0; offset < 6000; ++offset) {
    std::string term = offset % 3 == 0 ? "0011223344556677" : offset % 3 == 1 ? "00112233" : "";
    const std::size_t extra = rng() % 30;
    for (std::size_t i = 0; i < extra; ++i) term += alphabet[rng() % alphabet.size()];
    if (term.empty()) term = "x";
    rows.emplace_back(offset, term);
  }
  TermBuilder builder;
  for (const auto& [offset, term] : rows) builder.Add(offset, term);
  const std::vector<TermBlock> blocks = builder.Seal(64);
  ASSERT_GT(blocks.size(), 50u);
  for (std::size_t i = 1; i < blocks.size(); ++i)
    ASSERT_LT(blocks[i - 1].first_term, blocks[i].first_term) << i;
  const TermBlockLookup lookup = TermLookupIn(blocks);
  auto upper = [](std::string s) {
    for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
  };
  for (std::size_t i = 0; i < rows.size(); i += 7) {
    const std::string& term = rows[i].second;
    const auto expected =
        Scan(rows, [&](const std::string& text) { return Lower(text) == Lower(term); });
    for (const std::string& asked : {Lower(term), upper(term)}) {
      std::vector<std::uint16_t> sealed;
      MatchSealedTerms(MakeTermQuery({asked}, false), lookup, sealed);
      ASSERT_EQ(sealed, expected) << asked;
    }
  }
}

// A partition's filter never misses one of its terms and rarely claims one it does not have.
TEST(TextIndexBuilder, TermFiltersHaveNoFalseNegatives) {
  TermBuilder builder;
  std::vector<std::string> held;
  for (int i = 0; i < 20000; ++i) held.push_back("00a1b2c3d4" + std::to_string(i * 7919));
  for (std::size_t i = 0; i < held.size(); ++i)
    builder.Add(static_cast<std::uint16_t>(i % 65536), held[i]);
  const std::string filter = builder.Filter();
  EXPECT_EQ(filter.size(), 1 + 20000 * 10 / 8);
  for (const auto& term : held) ASSERT_TRUE(FilterMayHold(filter, term)) << term;
  int false_positives = 0;
  for (int i = 0; i < 20000; ++i)
    false_positives += FilterMayHold(filter, "ffee" + std::to_string(i)) ? 1 : 0;
  EXPECT_LT(false_positives, 20000 * 3 / 100);  // ~1 % expected
  EXPECT_TRUE(FilterMayHold("", "anything"));   // no filter: every partition is probed
  EXPECT_FALSE(FilterMayHold(TermFilter({}), "anything"));
}

// More than 65,536 distinct values in one partition (rows of rolled-back transactions stay in the
// builders while new rows take their offsets again): every value keeps its own rows when sealed.
TEST(TextIndexBuilder, MoreValuesThanOffsets) {
  TermBuilder terms;
  PartitionBuilder texts;
  for (std::uint32_t i = 0; i < 70000; ++i) {
    const auto offset = static_cast<std::uint16_t>(i % 65536);
    terms.Add(offset, "id-" + std::to_string(i));
    texts.Add(offset, "text-" + std::to_string(i));
  }
  const std::vector<TermBlock> blocks = terms.Seal();
  const TermBlockLookup lookup = TermLookupIn(blocks);
  for (std::uint32_t i : {3u, 65535u, 65536u, 69999u}) {
    std::vector<std::uint16_t> sealed;
    MatchSealedTerms(MakeTermQuery({"id-" + std::to_string(i)}, false), lookup, sealed);
    EXPECT_EQ(sealed, std::vector<std::uint16_t>{static_cast<std::uint16_t>(i % 65536)}) << i;
    auto sets = PatternTrigrams({"*text-" + std::to_string(i) + "*"});
    ASSERT_TRUE(sets);
    std::vector<std::uint16_t> texts_sealed;
    MatchSealed(*sets, LookupIn(texts.Seal()), texts_sealed);
    EXPECT_TRUE(std::ranges::binary_search(texts_sealed, static_cast<std::uint16_t>(i % 65536)))
        << i;
  }
}

}  // namespace vigil::store::text_index
