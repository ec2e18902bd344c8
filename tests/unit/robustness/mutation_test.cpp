// Mutation tests of every parser that takes untrusted input: EQL queries, live rules, Sigma YAML,
// .evtx files, Windows event JSON, and the agent spool's segment files. Seeds are real inputs (the
// logic tests' queries, SigmaHQ rules and EVTX files from ../shared/corpora); each is damaged many
// times over by a seeded, deterministic mutator (byte flips, token splices, truncation, repetition,
// deep nesting). Every damaged input must give a result or an error that says where and why: no
// crash, no hang, no empty message. Under AddressSanitizer and UBSan (docs/testing.md) it finds
// memory errors and undefined behaviour too.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "agent/spool/spool.hpp"
#include "detect/rule.hpp"
#include "hunt/evtx_reader.hpp"
#include "hunt/hunt.hpp"
#include "hunt/matcher.hpp"
#include "hunt/sigma/sigma.hpp"
#include "hunt/windows_mapping.hpp"

namespace vigil {
namespace {

namespace fs = std::filesystem;

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// Damages a seed: a few random edits drawn from byte-level and token-level operations. The same
// seed value always gives the same sequence of inputs, so a failure names a reproducible case.
class Mutator {
 public:
  Mutator(std::uint64_t seed, std::vector<std::string> tokens)
      : rng_(seed), tokens_(std::move(tokens)) {}

  std::string Mutate(std::string s, const std::vector<std::string>& others) {
    const int edits = 1 + static_cast<int>(Below(4));
    for (int i = 0; i < edits; ++i) Edit(s, others);
    return s;
  }

  std::size_t Below(std::size_t n) { return n == 0 ? 0 : rng_() % n; }

 private:
  void Edit(std::string& s, const std::vector<std::string>& others) {
    const std::size_t at = Below(s.size() + 1);
    switch (Below(9)) {
      case 0:  // flip a bit
        if (!s.empty()) s[Below(s.size())] ^= static_cast<char>(1u << Below(8));
        break;
      case 1:  // a random byte, any value
        s.insert(at, 1, static_cast<char>(Below(256)));
        break;
      case 2:  // a token of the language
        s.insert(at, tokens_[Below(tokens_.size())]);
        break;
      case 3:  // delete a range
        if (!s.empty()) s.erase(Below(s.size()), 1 + Below(16));
        break;
      case 4:  // truncate
        s.resize(Below(s.size() + 1));
        break;
      case 5: {  // repeat a range many times (long and deeply nested inputs)
        if (s.empty()) break;
        const std::size_t from = Below(s.size());
        const std::string piece = s.substr(from, 1 + Below(8));
        std::string run;
        for (std::size_t n = 1 + Below(200); n > 0; --n) run += piece;
        s.insert(from, run);
        break;
      }
      case 6: {  // splice in a part of another seed
        const std::string& o = others[Below(others.size())];
        if (o.empty()) break;
        const std::size_t from = Below(o.size());
        s.insert(at, o.substr(from, 1 + Below(64)));
        break;
      }
      case 7:  // swap two bytes
        if (s.size() > 1) std::swap(s[Below(s.size())], s[Below(s.size())]);
        break;
      default:  // overwrite a byte with an interesting one
        if (!s.empty()) {
          static constexpr char kBytes[] = {'\0', '\n', '"', '\'', '\\', '*', '?', '[',   ']',
                                            '{',  '}',  '(', ')',  ':',  '|', '~', '\xff'};
          s[Below(s.size())] = kBytes[Below(sizeof kBytes)];
        }
    }
  }

  std::mt19937_64 rng_;
  std::vector<std::string> tokens_;
};

// The queries of the logic tests (tests/hunt/*.test): the text between a `query`/`error` header
// and its `----` line.
std::vector<std::string> LogicTestQueries() {
  std::vector<std::string> queries;
  for (const auto& entry : fs::directory_iterator(VIGIL_HUNT_TESTS)) {
    if (entry.path().extension() != ".test") continue;
    std::ifstream in(entry.path());
    std::string line, text;
    bool inside = false;
    while (std::getline(in, line)) {
      if (!inside && (line.starts_with("query") || line == "error")) {
        inside = true;
        text.clear();
      } else if (inside && line == "----") {
        inside = false;
        if (!text.empty()) queries.push_back(text);
      } else if (inside) {
        text += (text.empty() ? "" : "\n") + line;
      }
    }
  }
  return queries;
}

const std::vector<std::string> kEqlTokens = {"sequence ",  "sample ",
                                             " by ",       " with maxspan=5m ",
                                             " until ",    "[",
                                             "]",          "(",
                                             ")",          " and ",
                                             " or ",       " not ",
                                             " in ",       " in~ ",
                                             " : ",        " like~ ",
                                             " regex ",    "==",
                                             "!=",         "<=",
                                             " | head 3",  " | count ",
                                             " | unique ", " | tail ",
                                             " | sort ",   " | filter ",
                                             "child of [", "descendant of [",
                                             "event of [", "process where ",
                                             "any where ", "\"",
                                             "\"*x?\"",    "\\",
                                             "null",       "true",
                                             "~",          "cidrMatch(",
                                             "wildcard(",  "substring(",
                                             "add(",       ",",
                                             "1e309",      "-9223372036854775809",
                                             "0x",         "$",
                                             "`",          "\n",
                                             "![",         " with runs=3",
                                             "  "};

// A parse error must point inside the text (or just after it) and say something.
void ExpectWellFormedError(const hunt::QueryError& e, std::string_view text) {
  ASSERT_FALSE(e.message.empty()) << text;
  const int lines = 1 + static_cast<int>(std::count(text.begin(), text.end(), '\n'));
  EXPECT_GE(e.line, 1) << text;
  EXPECT_LE(e.line, lines) << text;
  EXPECT_GE(e.column, 1) << text;
  EXPECT_LE(static_cast<std::size_t>(e.column), text.size() + 1) << text;
}

TEST(Mutation, EqlQueriesParseOrSayWhereAndWhy) {
  const auto seeds = LogicTestQueries();
  ASSERT_GT(seeds.size(), 150u);  // the logic tests' cases
  Mutator mutate(0x5eed0001, kEqlTokens);
  int parsed = 0, refused = 0;
  for (int i = 0; i < 60000; ++i) {
    const std::string text = mutate.Mutate(seeds[mutate.Below(seeds.size())], seeds);
    auto query = hunt::ParseQuery(text);
    if (!query) {
      ++refused;
      ExpectWellFormedError(query.error(), text);
      continue;
    }
    ++parsed;
    // A query that parses compiles to SQL or says why not; the live matcher likewise.
    auto sql = hunt::Explain(*query, {});
    if (!sql) {
      EXPECT_FALSE(sql.error().message.empty()) << text;
    }
    auto matcher = hunt::Matcher::Compile(*query);
    if (!matcher) {
      EXPECT_FALSE(matcher.error().message.empty()) << text;
    }
    if (HasFailure()) return;
  }
  // Both paths were exercised, not only the lexer's first error.
  EXPECT_GT(parsed, 1000);
  EXPECT_GT(refused, 1000);
}

TEST(Mutation, DeepNestingAndHugeQueriesAreRefusedWithAReason) {
  for (const std::string open : {"(", "not ", "[", "length(", "process where child of ["}) {
    std::string text = "process where ";
    for (int i = 0; i < 100000; ++i) text += open;
    auto query = hunt::ParseQuery(text);
    ASSERT_FALSE(query) << open;
    EXPECT_FALSE(query.error().message.empty());
  }
  std::string huge = "process where process.command_line : \"" + std::string(1 << 20, 'a') + "\"";
  auto query = hunt::ParseQuery(huge);
  ASSERT_FALSE(query);
  EXPECT_NE(query.error().message.find("long"), std::string::npos) << query.error().message;
}

TEST(Mutation, LiveRulesCompileOrSayWhy) {
  const auto seeds = LogicTestQueries();
  Mutator mutate(0x5eed0002, kEqlTokens);
  for (int i = 0; i < 20000; ++i) {
    const std::string text = mutate.Mutate(seeds[mutate.Below(seeds.size())], seeds);
    auto spec = detect::ParseRule(text, detect::RuleKind::Eql, "fuzz");
    if (!spec) {
      ASSERT_FALSE(spec.error().message.empty()) << text;
      continue;
    }
    auto live = detect::CompileLive(*spec);
    if (!live) {
      ASSERT_FALSE(live.error().message.empty()) << text;
    }
  }
}

std::vector<std::string> SigmaSeeds() {
  std::vector<std::string> seeds;
  const fs::path rules = fs::path(VIGIL_CORPORA) / "sigma/rules";
  for (const auto& entry : fs::recursive_directory_iterator(rules)) {
    if (entry.path().extension() != ".yml") continue;
    seeds.push_back(ReadAll(entry.path()));
    if (seeds.size() == 400) break;
  }
  return seeds;
}

TEST(Mutation, SigmaRulesCompileOrSayWhy) {
  const auto seeds = SigmaSeeds();
  ASSERT_EQ(seeds.size(), 400u);
  Mutator mutate(0x5eed0003, {"|contains",   "|all",
                              "|re",         "|base64offset",
                              "|windash",    "|cidr",
                              "|utf16le",    "|expand",
                              "|fieldref",   "|exists",
                              "|gt",         "- ",
                              ": ",          "1 of selection*",
                              "all of them", " and not ",
                              "(",           ")",
                              "'",           "\"",
                              "*",           "?",
                              "\\",          "\n  ",
                              "\t",          "&anchor ",
                              "*anchor",     "!!binary ",
                              "{",           "}",
                              "[",           "]",
                              "---\n"});
  int compiled = 0, refused = 0;
  for (int i = 0; i < 10000; ++i) {
    const std::string text = mutate.Mutate(seeds[mutate.Below(seeds.size())], seeds);
    auto rule = hunt::sigma::Compile(text);
    if (!rule) {
      ++refused;
      ASSERT_FALSE(rule.error().message.empty()) << text;
      continue;
    }
    ++compiled;
    auto matcher = hunt::Matcher::Compile(rule->query);
    if (!matcher) {
      ASSERT_FALSE(matcher.error().message.empty()) << text;
    }
  }
  EXPECT_GT(compiled, 500);
  EXPECT_GT(refused, 500);
}

// Small .evtx files of the corpus (the mutator's work grows with the file).
std::vector<std::string> EvtxSeeds() {
  std::vector<std::string> seeds;
  const fs::path corpus = fs::path(VIGIL_CORPORA) / "evtx";
  std::vector<fs::path> files;
  for (const auto& entry : fs::recursive_directory_iterator(corpus))
    if (entry.path().extension() == ".evtx" && entry.file_size() <= 200 * 1024)
      files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  for (std::size_t i = 0; i < files.size() && seeds.size() < 12; i += 1 + files.size() / 12)
    seeds.push_back(ReadAll(files[i]));
  return seeds;
}

TEST(Mutation, DamagedEvtxFilesReadOrSayWhy) {
  const auto seeds = EvtxSeeds();
  ASSERT_GE(seeds.size(), 8u);
  Mutator mutate(0x5eed0004,
                 {"ElfFile", "ElfChnk", "\x2a\x2a\0\0", "\xff\xff\xff\xff", std::string(8, '\0')});
  std::size_t records = 0, errors = 0;
  for (int i = 0; i < 1500; ++i) {
    const std::string bytes = mutate.Mutate(seeds[mutate.Below(seeds.size())], seeds);
    auto contents = hunt::ReadEvtxBytes(bytes, /*recovered=*/i % 2 == 1);
    if (!contents) {
      ++errors;
      ASSERT_FALSE(contents.error().message.empty());
      continue;
    }
    // What was read maps to an event or a reason, like `vigil import evtx` does.
    for (const auto& record : contents->records) {
      ++records;
      auto event = hunt::MapWindowsEvent(record);
      if (!event) {
        ASSERT_FALSE(event.error().message.empty());
      }
    }
  }
  EXPECT_GT(records, 1000u);  // damage is mostly local: most records survive
  EXPECT_GT(errors, 0u);
}

TEST(Mutation, DamagedWindowsJsonReadsOrSaysWhy) {
  // JSON lines written from the EVTX corpus's records (what `vigil import jsonl` reads).
  std::vector<std::string> seeds;
  for (const auto& evtx : EvtxSeeds()) {
    auto contents = hunt::ReadEvtxBytes(evtx);
    ASSERT_TRUE(contents) << contents.error().message;
    std::string lines;
    for (const auto& record : contents->records) lines += record.dump() + "\n";
    seeds.push_back(lines.substr(0, 64 * 1024));
  }
  Mutator mutate(0x5eed0005, {"{", "}", "[", "]", "\"", ":", ",", "\\u0000", "\\ud800", "null",
                              "1e999", "\"EventID\":", "\"Event\":", "\n", "true"});
  int parsed = 0, refused = 0;
  for (int i = 0; i < 3000; ++i) {
    const std::string text = mutate.Mutate(seeds[mutate.Below(seeds.size())], seeds);
    auto records = hunt::ParseWindowsRecords(text);
    if (!records) {
      ++refused;
      ASSERT_FALSE(records.error().message.empty());
      continue;
    }
    ++parsed;
    for (const auto& record : *records) {
      auto event = hunt::MapWindowsEvent(record);
      if (!event) {
        ASSERT_FALSE(event.error().message.empty());
      }
    }
  }
  EXPECT_GT(parsed, 100);
  EXPECT_GT(refused, 100);
}

// The spool's records on disk are damaged at random (bit flips, overwritten runs, a torn tail,
// garbage appended); the payloads are random bytes, so they hold record magics and plausible
// headers. Reopened, the spool returns exactly the original bytes of every record it returns,
// every record whose bytes were not touched, in order, counts the damaged bytes, and goes on
// appending after the highest sequence.
TEST(Mutation, DamagedSpoolSegmentsKeepEveryIntactRecord) {
  std::string tmpl = (fs::temp_directory_path() / "vigil-mutation-XXXXXX").string();
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  const fs::path root = tmpl;
  Mutator rng(0x5eed0006, {""});
  for (int round = 0; round < 40; ++round) {
    const fs::path dir = root / ("spool-" + std::to_string(round));
    std::map<std::uint64_t, std::string> written;
    {
      auto spool = agent::Spool::Open({dir, 1ull << 30, 8 * 1024});
      ASSERT_TRUE(spool) << spool.error().message;
      for (int i = 0; i < 300; ++i) {
        std::string payload(1 + rng.Below(300), '\0');
        for (auto& c : payload) c = static_cast<char>(rng.Below(256));
        if (rng.Below(4) == 0) payload.replace(0, std::min<std::size_t>(4, payload.size()), "VSPL");
        auto seq = (*spool)->Append(payload);
        ASSERT_TRUE(seq) << seq.error().message;
        written[*seq] = payload;
      }
      // The uplink reads (and may send) everything before the crash.
      auto sent = (*spool)->Read(0, 100000, 1ull << 30, std::chrono::milliseconds(0));
      ASSERT_TRUE(sent);
      ASSERT_EQ(sent->size(), written.size());
    }
    // Where each record lies (segment file, byte range), from the format, before any damage.
    struct Place {
      fs::path file;
      std::uint64_t begin, end;
    };
    std::map<std::uint64_t, Place> places;
    std::vector<fs::path> segments;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().extension() == ".seg") segments.push_back(e.path());
    std::sort(segments.begin(), segments.end());
    ASSERT_GT(segments.size(), 3u);
    for (const auto& seg : segments) {
      const std::string bytes = ReadAll(seg);
      for (std::size_t off = 0; off + 20 <= bytes.size();) {
        std::uint32_t len;
        std::uint64_t seq;
        std::memcpy(&len, bytes.data() + off + 4, 4);
        std::memcpy(&seq, bytes.data() + off + 8, 8);
        places[seq] = {seg, off, off + 20 + len};
        off += 20 + len;
      }
    }
    ASSERT_EQ(places.size(), written.size());
    // Damage: each a few spots in random segments.
    std::set<std::uint64_t> touched;
    auto touch = [&](const fs::path& file, std::uint64_t from, std::uint64_t to) {
      for (const auto& [seq, place] : places)
        if (place.file == file && place.begin < to && from < place.end) touched.insert(seq);
    };
    for (int d = 1 + static_cast<int>(rng.Below(4)); d > 0; --d) {
      const fs::path& seg = segments[rng.Below(segments.size())];
      std::string bytes = ReadAll(seg);
      if (bytes.empty()) continue;
      const std::size_t at = rng.Below(bytes.size());
      std::size_t to = at + 1;
      switch (rng.Below(4)) {
        case 0:
          bytes[at] ^= static_cast<char>(1u << rng.Below(8));
          break;
        case 1:
          to = std::min(bytes.size(), at + 1 + rng.Below(64));
          for (std::size_t i = at; i < to; ++i) bytes[i] = static_cast<char>(rng.Below(256));
          break;
        case 2:  // torn: the rest of the file is gone
          to = bytes.size();
          bytes.resize(at);
          break;
        default:  // a header-shaped run of garbage written over a record
          to = std::min(bytes.size(), at + 20);
          bytes.replace(at, to - at,
                        std::string("VSPL\x10\0\0\0garbagegarbage").substr(0, to - at));
      }
      touch(seg, at, to);
      std::ofstream(seg, std::ios::binary | std::ios::trunc) << bytes;
    }
    auto spool = agent::Spool::Open({dir, 1ull << 30, 8 * 1024});
    ASSERT_TRUE(spool) << spool.error().message;
    auto records = (*spool)->Read(0, 100000, 1ull << 30, std::chrono::milliseconds(0));
    ASSERT_TRUE(records) << records.error().message;
    std::set<std::uint64_t> returned;
    std::uint64_t last = 0;
    for (const auto& r : *records) {
      ASSERT_GT(r.sequence, last) << "round " << round;
      last = r.sequence;
      ASSERT_TRUE(written.contains(r.sequence)) << "round " << round << " seq " << r.sequence;
      ASSERT_EQ(r.payload, written[r.sequence]) << "round " << round << " seq " << r.sequence;
      returned.insert(r.sequence);
    }
    for (const auto& [seq, payload] : written) {
      if (!touched.contains(seq)) {
        EXPECT_TRUE(returned.contains(seq))
            << "round " << round << ": intact record " << seq << " lost";
      }
    }
    if (!touched.empty()) {  // damage is counted, or (a cut at a record boundary) records are gone
      EXPECT_TRUE((*spool)->Stats().discarded_bytes > 0 || returned.size() < written.size())
          << "round " << round;
    }
    auto next = (*spool)->Append("after");
    ASSERT_TRUE(next);
    EXPECT_GT(*next, written.rbegin()->first);
    if (HasFailure()) break;
  }
  fs::remove_all(root);
}

}  // namespace
}  // namespace vigil
