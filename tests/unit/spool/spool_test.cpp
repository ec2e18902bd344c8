// Tests for the agent spool: round trips, rotation, reopen, ack, recovery from torn and corrupt
// segments, the size bound, concurrency, and kill -9 of a writing process.
#include "agent/spool/spool.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <fstream>
#include <set>
#include <string>
#include <thread>

#include "agent/spool/crc32c.hpp"

namespace vigil::agent {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr std::size_t kHeader = 20;

class SpoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "vigil-spool-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    dir_ = root_ / "spool";
  }
  void TearDown() override { fs::remove_all(root_); }

  std::unique_ptr<Spool> OpenSpool(const fs::path& dir, std::uint64_t max_bytes = 1ull << 30,
                                   std::uint64_t segment_bytes = 16ull << 20) {
    auto s = Spool::Open(SpoolOptions{dir, max_bytes, segment_bytes});
    EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().message);
    return s ? std::move(*s) : nullptr;
  }

  fs::path root_;
  fs::path dir_;
};

// Deterministic payload for a sequence: varying length, letters only (never the record magic).
std::string Payload(std::uint64_t seq, std::size_t max_len = 200) {
  std::string p = "rec-" + std::to_string(seq) + "-";
  p.append((seq * 37) % max_len, static_cast<char>('a' + seq % 26));
  return p;
}

// Large payloads (up to ~200 KB) so that a kill often lands inside a write.
std::string BigPayload(std::uint64_t seq) {
  std::string p = "big-" + std::to_string(seq) + "-";
  p.append((seq * 7919) % 200000, static_cast<char>('a' + seq % 26));
  return p;
}

std::string FixedPayload(std::uint64_t seq, std::size_t len) {
  std::string p = std::to_string(seq) + "-";
  p.resize(len, 'x');
  return p;
}

std::vector<SpoolRecord> ReadAll(Spool& spool, std::uint64_t after = 0, std::size_t batch = 50) {
  std::vector<SpoolRecord> all;
  for (;;) {
    auto r = spool.Read(after, batch, 1 << 20, 0ms);
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
    if (!r || r->empty()) return all;
    after = r->back().sequence;
    for (auto& rec : *r) all.push_back(std::move(rec));
  }
}

std::vector<fs::path> SegmentFiles(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".seg") out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::uint64_t SegmentBytes(const fs::path& dir) {
  std::uint64_t total = 0;
  for (const auto& p : SegmentFiles(dir)) total += fs::file_size(p);
  return total;
}

void PatchFile(const fs::path& path, std::uint64_t offset, const std::string& bytes) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(f.good());
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(f.good());
}

std::vector<std::uint64_t> Sequences(const std::vector<SpoolRecord>& recs) {
  std::vector<std::uint64_t> out;
  for (const auto& r : recs) out.push_back(r.sequence);
  return out;
}

std::vector<std::uint64_t> Range(std::uint64_t first, std::uint64_t last) {
  std::vector<std::uint64_t> out;
  for (auto s = first; s <= last; ++s) out.push_back(s);
  return out;
}

TEST(Crc32cTest, KnownValue) {
  EXPECT_EQ(spool_internal::Crc32c(0, "123456789"), 0xE3069283u);
  EXPECT_EQ(spool_internal::Crc32c(0, ""), 0u);
  // Incremental equals one shot, across the 8-byte fast path boundary.
  std::string data = "The quick brown fox jumps over the lazy dog";
  EXPECT_EQ(spool_internal::Crc32c(spool_internal::Crc32c(0, data.substr(0, 13)), data.substr(13)),
            spool_internal::Crc32c(0, data));
}

TEST(Crc32cTest, HardwareAndTablesAgree) {
  EXPECT_EQ(spool_internal::Crc32cSoftware(0, "123456789", 9), 0xE3069283u);
  std::string data;
  for (int i = 0; i < 1000; ++i) data.push_back(static_cast<char>(i * 131 + 7));
  // Every length and misalignment around the 8-byte steps, continued from a non-zero CRC.
  for (std::size_t off = 0; off < 9; ++off) {
    for (std::size_t len = 0; len + off <= 70; ++len) {
      const std::uint32_t seed = static_cast<std::uint32_t>(len * 2654435761u);
      ASSERT_EQ(spool_internal::Crc32c(seed, data.data() + off, len),
                spool_internal::Crc32cSoftware(seed, data.data() + off, len))
          << off << " " << len;
    }
  }
  EXPECT_EQ(spool_internal::Crc32c(0, data), spool_internal::Crc32cSoftware(0, data.data(), 1000));
}

TEST_F(SpoolTest, RoundTripAcrossRotation) {
  auto spool = OpenSpool(dir_, 1ull << 30, 1024);
  ASSERT_TRUE(spool);
  for (std::uint64_t i = 1; i <= 300; ++i) {
    auto seq = spool->Append(Payload(i));
    ASSERT_TRUE(seq.has_value()) << seq.error().message;
    EXPECT_EQ(*seq, i);
  }
  auto empty_seq = spool->Append("");
  ASSERT_TRUE(empty_seq.has_value());
  EXPECT_EQ(*empty_seq, 301u);

  SpoolStats st = spool->Stats();
  EXPECT_EQ(st.next_sequence, 302u);
  EXPECT_GT(st.segments, 10u);
  EXPECT_EQ(st.segments, SegmentFiles(dir_).size());
  EXPECT_EQ(st.bytes, SegmentBytes(dir_));
  for (const auto& p : SegmentFiles(dir_)) EXPECT_LE(fs::file_size(p), 1024u);

  auto all = ReadAll(*spool, 0, 7);
  ASSERT_EQ(all.size(), 301u);
  for (std::uint64_t i = 1; i <= 300; ++i) {
    EXPECT_EQ(all[i - 1].sequence, i);
    EXPECT_EQ(all[i - 1].payload, Payload(i));
  }
  EXPECT_EQ(all[300].payload, "");

  auto from_middle = spool->Read(100, 3, 1 << 20, 0ms);
  ASSERT_TRUE(from_middle.has_value());
  EXPECT_EQ(Sequences(*from_middle), (std::vector<std::uint64_t>{101, 102, 103}));

  // max_bytes is a soft limit: at least one record, then stop before exceeding it.
  auto one = spool->Read(0, 100, 1, 0ms);
  ASSERT_TRUE(one.has_value());
  EXPECT_EQ(Sequences(*one), (std::vector<std::uint64_t>{1}));
  std::size_t limit = Payload(1).size() + Payload(2).size() + Payload(3).size();
  auto three = spool->Read(0, 100, limit, 0ms);
  ASSERT_TRUE(three.has_value());
  EXPECT_EQ(Sequences(*three), (std::vector<std::uint64_t>{1, 2, 3}));

  auto none = spool->Read(301, 10, 1 << 20, 0ms);
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->empty());
  EXPECT_TRUE(spool->Sync().has_value());
}

// A batch writes exactly the bytes the same records appended one by one would: same segment
// files (rotation at the same records), same sequences. Batches larger than IOV_MAX / 2 records
// and larger than a segment are split.
TEST_F(SpoolTest, BatchWritesTheSameSegmentsAsSingleAppends) {
  const fs::path single = root_ / "single", batched = root_ / "batched";
  std::vector<std::string> payloads;
  for (std::uint64_t i = 1; i <= 1500; ++i)
    payloads.push_back(Payload(i, i % 100 == 0 ? 3000 : 60));
  {
    auto a = OpenSpool(single, 1ull << 30, 4096);
    ASSERT_TRUE(a);
    for (const auto& p : payloads) ASSERT_TRUE(a->Append(p).has_value());
  }
  {
    auto b = OpenSpool(batched, 1ull << 30, 4096);
    ASSERT_TRUE(b);
    std::size_t at = 0;
    for (std::size_t n : {1, 7, 600, 2, 890}) {
      std::vector<std::string_view> views(payloads.begin() + at, payloads.begin() + at + n);
      auto last = b->AppendBatch(views);
      ASSERT_TRUE(last.has_value()) << last.error().message;
      at += n;
      EXPECT_EQ(*last, at);
    }
    ASSERT_EQ(at, payloads.size());
    EXPECT_FALSE(b->AppendBatch({}).has_value());
    auto all = ReadAll(*b, 0, 333);
    ASSERT_EQ(all.size(), payloads.size());
    for (std::size_t i = 0; i < all.size(); ++i) {
      ASSERT_EQ(all[i].sequence, i + 1);
      ASSERT_EQ(all[i].payload, payloads[i]);
    }
  }
  auto sf = SegmentFiles(single), bf = SegmentFiles(batched);
  ASSERT_GT(sf.size(), 20u);
  ASSERT_EQ(sf.size(), bf.size());
  for (std::size_t i = 0; i < sf.size(); ++i) {
    ASSERT_EQ(sf[i].filename(), bf[i].filename());
    std::ifstream x(sf[i], std::ios::binary), y(bf[i], std::ios::binary);
    std::string xs((std::istreambuf_iterator<char>(x)), {}),
        ys((std::istreambuf_iterator<char>(y)), {});
    ASSERT_EQ(xs, ys) << sf[i];
  }
}

// A batch with an oversized record appends nothing; under the size bound, batches drop whole
// oldest segments and count every unacknowledged record lost.
TEST_F(SpoolTest, BatchRejectsOversizedRecordAndCountsDrops) {
  auto spool = OpenSpool(dir_, 1000, 300);
  ASSERT_TRUE(spool);
  std::string ok = FixedPayload(1, 80), big(1000, 'a');
  std::vector<std::string_view> bad{ok, big};
  EXPECT_FALSE(spool->AppendBatch(bad).has_value());
  EXPECT_EQ(spool->Stats().next_sequence, 1u);
  std::vector<std::string> payloads;
  for (int i = 1; i <= 40; ++i) payloads.push_back(FixedPayload(i, 80));
  for (int i = 0; i < 40; i += 8) {
    std::vector<std::string_view> views(payloads.begin() + i, payloads.begin() + i + 8);
    ASSERT_TRUE(spool->AppendBatch(views).has_value());
    ASSERT_LE(spool->Stats().bytes, 1000u);
  }
  SpoolStats st = spool->Stats();
  auto all = ReadAll(*spool);
  EXPECT_EQ(st.next_sequence, 41u);
  EXPECT_EQ(st.dropped_records, 40 - all.size());
  EXPECT_EQ(Sequences(all), Range(41 - all.size(), 40));
  EXPECT_EQ(SegmentBytes(dir_), st.bytes);
}

TEST_F(SpoolTest, RejectsOversizedRecordAndSecondInstance) {
  auto spool = OpenSpool(dir_, 1000, 300);
  ASSERT_TRUE(spool);
  EXPECT_FALSE(spool->Append(std::string(1000, 'a')).has_value());  // header + 1000 > bound
  EXPECT_FALSE(Spool::Open(SpoolOptions{dir_}).has_value());        // directory is locked
  EXPECT_EQ(spool->Stats().next_sequence, 1u);
}

TEST_F(SpoolTest, SequencesAndEpochSurviveReopen) {
  std::uint64_t epoch = 0;
  {
    auto spool = OpenSpool(dir_, 1ull << 30, 512);
    ASSERT_TRUE(spool);
    epoch = spool->Stats().epoch;
    EXPECT_NE(epoch, 0u);
    for (int i = 1; i <= 20; ++i) ASSERT_TRUE(spool->Append(Payload(i)).has_value());
  }
  {
    auto spool = OpenSpool(dir_, 1ull << 30, 512);
    ASSERT_TRUE(spool);
    SpoolStats st = spool->Stats();
    EXPECT_EQ(st.epoch, epoch);
    EXPECT_EQ(st.next_sequence, 21u);
    EXPECT_EQ(st.discarded_bytes, 0u);
    auto seq = spool->Append(Payload(21));
    ASSERT_TRUE(seq.has_value());
    EXPECT_EQ(*seq, 21u);
    auto all = ReadAll(*spool);
    EXPECT_EQ(Sequences(all), Range(1, 21));
    for (const auto& r : all) EXPECT_EQ(r.payload, Payload(r.sequence));
  }
  auto other = OpenSpool(root_ / "other");
  ASSERT_TRUE(other);
  EXPECT_NE(other->Stats().epoch, 0u);
  EXPECT_NE(other->Stats().epoch, epoch);
  EXPECT_EQ(other->Stats().next_sequence, 1u);
}

TEST_F(SpoolTest, MissingEpochGetsNewEpochAndKeepsRecords) {
  std::uint64_t epoch = 0;
  {
    auto spool = OpenSpool(dir_);
    ASSERT_TRUE(spool);
    epoch = spool->Stats().epoch;
    for (int i = 1; i <= 5; ++i) ASSERT_TRUE(spool->Append(Payload(i)).has_value());
  }
  fs::remove(dir_ / "epoch");
  auto spool = OpenSpool(dir_);
  ASSERT_TRUE(spool);
  EXPECT_NE(spool->Stats().epoch, epoch);
  EXPECT_NE(spool->Stats().epoch, 0u);
  EXPECT_EQ(Sequences(ReadAll(*spool)), Range(1, 5));
  EXPECT_EQ(spool->Stats().next_sequence, 6u);
  EXPECT_TRUE(fs::exists(dir_ / "epoch"));
}

TEST_F(SpoolTest, AckDeletesSegmentsAndSurvivesReopen) {
  constexpr std::size_t kPayload = 80;  // record = 100 bytes, 3 per segment
  {
    auto spool = OpenSpool(dir_, 1ull << 30, 300);
    ASSERT_TRUE(spool);
    for (int i = 1; i <= 10; ++i) ASSERT_TRUE(spool->Append(FixedPayload(i, kPayload)).has_value());
    EXPECT_EQ(SegmentFiles(dir_).size(), 4u);  // [1-3] [4-6] [7-9] [10]

    EXPECT_FALSE(spool->Ack(11).has_value());  // never appended
    ASSERT_TRUE(spool->Ack(7).has_value());
    ASSERT_TRUE(spool->Ack(2).has_value());  // lower ack is a no-op
    SpoolStats st = spool->Stats();
    EXPECT_EQ(st.acked_sequence, 7u);
    EXPECT_EQ(st.segments, 2u);
    EXPECT_EQ(st.bytes, 400u);
    auto files = SegmentFiles(dir_);
    ASSERT_EQ(files.size(), 2u);
    EXPECT_EQ(files[0].filename(), "00000000000000000007.seg");
    EXPECT_EQ(files[1].filename(), "00000000000000000010.seg");
    // Acked records are not returned, even when asked for.
    EXPECT_EQ(Sequences(ReadAll(*spool, 0)), Range(8, 10));
  }
  {
    auto spool = OpenSpool(dir_, 1ull << 30, 300);
    ASSERT_TRUE(spool);
    EXPECT_EQ(spool->Stats().acked_sequence, 7u);
    EXPECT_EQ(spool->Stats().next_sequence, 11u);
    EXPECT_EQ(Sequences(ReadAll(*spool, 0)), Range(8, 10));
    // Everything acked: the closed segment goes; the open one stays until it is worth rotating
    // (min(segment_bytes, 1 MiB)), but its records are never returned again.
    ASSERT_TRUE(spool->Ack(10).has_value());
    auto files = SegmentFiles(dir_);
    ASSERT_EQ(files.size(), 1u);
    EXPECT_EQ(files[0].filename(), "00000000000000000010.seg");
    EXPECT_EQ(fs::file_size(files[0]), 100u);
    EXPECT_EQ(spool->Stats().bytes, 100u);
    EXPECT_TRUE(ReadAll(*spool, 0).empty());
  }
  auto spool = OpenSpool(dir_, 1ull << 30, 300);
  ASSERT_TRUE(spool);
  EXPECT_EQ(spool->Stats().next_sequence, 11u);
  EXPECT_TRUE(ReadAll(*spool, 0).empty());
  auto seq = spool->Append("after");
  ASSERT_TRUE(seq.has_value());
  EXPECT_EQ(*seq, 11u);

  // Even when the acked file is lost, the empty segment's name keeps sequences from going back.
  ASSERT_TRUE(spool->Ack(11).has_value());
  spool.reset();
  fs::remove(dir_ / "acked");
  spool = OpenSpool(dir_, 1ull << 30, 300);
  ASSERT_TRUE(spool);
  EXPECT_EQ(spool->Stats().next_sequence, 12u);
}

TEST_F(SpoolTest, OpenRemovesSegmentsAckedBeforeACrash) {
  {
    auto spool = OpenSpool(dir_, 1ull << 30, 300);
    ASSERT_TRUE(spool);
    for (int i = 1; i <= 10; ++i) ASSERT_TRUE(spool->Append(FixedPayload(i, 80)).has_value());
  }
  std::ofstream(dir_ / "acked") << "7\n";  // ack persisted, segments not yet deleted
  auto spool = OpenSpool(dir_, 1ull << 30, 300);
  ASSERT_TRUE(spool);
  EXPECT_EQ(spool->Stats().acked_sequence, 7u);
  EXPECT_EQ(spool->Stats().segments, 2u);
  EXPECT_EQ(SegmentFiles(dir_).size(), 2u);
  EXPECT_EQ(Sequences(ReadAll(*spool)), Range(8, 10));
}

class TornTailTest : public SpoolTest, public ::testing::WithParamInterface<std::uint64_t> {};

TEST_P(TornTailTest, KeepsIntactRecordsAndReportsDiscardedBytes) {
  constexpr std::size_t kPayload = 100;  // record = 120 bytes
  const fs::path tmpl = root_ / "template";
  {
    auto spool = OpenSpool(tmpl);
    ASSERT_TRUE(spool);
    for (int i = 1; i <= 5; ++i) ASSERT_TRUE(spool->Append(FixedPayload(i, kPayload)).has_value());
  }
  fs::copy(tmpl, dir_, fs::copy_options::recursive);
  const std::uint64_t cut = GetParam();  // bytes of the last record left in the file
  const auto seg = SegmentFiles(dir_).at(0);
  fs::resize_file(seg, 4 * 120 + cut);

  auto spool = OpenSpool(dir_);
  ASSERT_TRUE(spool);
  SpoolStats st = spool->Stats();
  EXPECT_EQ(st.discarded_bytes, cut);
  EXPECT_EQ(st.next_sequence, 5u);
  EXPECT_EQ(st.bytes, 480u);
  EXPECT_EQ(fs::file_size(seg), 480u);
  auto all = ReadAll(*spool);
  EXPECT_EQ(Sequences(all), Range(1, 4));
  for (const auto& r : all) EXPECT_EQ(r.payload, FixedPayload(r.sequence, kPayload));
  auto seq = spool->Append("new");
  ASSERT_TRUE(seq.has_value());
  EXPECT_EQ(*seq, 5u);
  spool.reset();

  spool = OpenSpool(dir_);
  ASSERT_TRUE(spool);
  EXPECT_EQ(spool->Stats().discarded_bytes, 0u);
  EXPECT_EQ(Sequences(ReadAll(*spool)), Range(1, 5));
}

INSTANTIATE_TEST_SUITE_P(CutOffsets, TornTailTest,
                         ::testing::Values(0, 1, 3, 4, 12, 19, 20, 21, 70, 119));

TEST_F(SpoolTest, TornTailInEarlierSegmentOnlyCutsThatSegment) {
  {
    auto spool = OpenSpool(dir_, 1ull << 30, 300);
    ASSERT_TRUE(spool);
    for (int i = 1; i <= 9; ++i) ASSERT_TRUE(spool->Append(FixedPayload(i, 80)).has_value());
  }
  auto files = SegmentFiles(dir_);
  ASSERT_EQ(files.size(), 3u);
  fs::resize_file(files[1], 250);  // [4-6]: record 6 loses its last 50 bytes
  auto spool = OpenSpool(dir_, 1ull << 30, 300);
  ASSERT_TRUE(spool);
  EXPECT_EQ(spool->Stats().discarded_bytes, 50u);
  EXPECT_EQ(Sequences(ReadAll(*spool)), (std::vector<std::uint64_t>{1, 2, 3, 4, 5, 7, 8, 9}));
  EXPECT_EQ(spool->Stats().next_sequence, 10u);
}

struct Corruption {
  const char* name;
  std::uint64_t offset;  // into a segment of ten 120-byte records
  std::string bytes;
  std::uint64_t discarded;
  std::vector<std::uint64_t> survivors;
};

class CorruptMiddleTest : public SpoolTest, public ::testing::WithParamInterface<Corruption> {};

TEST_P(CorruptMiddleTest, RecordsBeforeAndAfterSurvive) {
  const Corruption& c = GetParam();
  {
    auto spool = OpenSpool(dir_);
    ASSERT_TRUE(spool);
    for (int i = 1; i <= 10; ++i) ASSERT_TRUE(spool->Append(FixedPayload(i, 100)).has_value());
  }
  const auto seg = SegmentFiles(dir_).at(0);
  PatchFile(seg, c.offset, c.bytes);

  auto spool = OpenSpool(dir_);
  ASSERT_TRUE(spool);
  EXPECT_EQ(spool->Stats().discarded_bytes, c.discarded);
  EXPECT_EQ(spool->Stats().next_sequence, 11u);
  auto all = ReadAll(*spool);
  EXPECT_EQ(Sequences(all), c.survivors);
  for (const auto& r : all) EXPECT_EQ(r.payload, FixedPayload(r.sequence, 100));
  EXPECT_EQ(fs::file_size(seg), 1200 - c.discarded);
  ASSERT_TRUE(spool->Append("x").has_value());
  spool.reset();

  // The repair is persistent: nothing more is discarded on the next open.
  spool = OpenSpool(dir_);
  ASSERT_TRUE(spool);
  EXPECT_EQ(spool->Stats().discarded_bytes, 0u);
  auto expect = c.survivors;
  expect.push_back(11);
  EXPECT_EQ(Sequences(ReadAll(*spool)), expect);
}

std::vector<std::uint64_t> AllBut(std::initializer_list<std::uint64_t> gone) {
  std::vector<std::uint64_t> out;
  for (std::uint64_t s = 1; s <= 10; ++s) {
    if (std::find(gone.begin(), gone.end(), s) == gone.end()) out.push_back(s);
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(
    Kinds, CorruptMiddleTest,
    ::testing::Values(
        Corruption{"payload_byte", 4 * 120 + 20 + 50, "#", 120, AllBut({5})},
        Corruption{"magic", 4 * 120, "X", 120, AllBut({5})},
        Corruption{"huge_length", 4 * 120 + 4, std::string(4, '\xff'), 120, AllBut({5})},
        Corruption{"short_length", 4 * 120 + 4, std::string("\x10\0\0\0", 4), 120, AllBut({5})},
        Corruption{"sequence", 4 * 120 + 8, "\x07", 120, AllBut({5})},
        Corruption{"crc", 4 * 120 + 16, std::string("\x5a\xa5", 2), 120, AllBut({5})},
        Corruption{"span_two_headers", 4 * 120 + 10, std::string(130, '\0'), 240, AllBut({5, 6})},
        Corruption{"first_record", 5, "zz", 120, AllBut({1})}),
    [](const auto& info) { return std::string(info.param.name); });

TEST_F(SpoolTest, GarbageSegmentBetweenIntactOnesIsRemoved) {
  {
    auto spool = OpenSpool(dir_, 1ull << 30, 300);
    ASSERT_TRUE(spool);
    for (int i = 1; i <= 9; ++i) ASSERT_TRUE(spool->Append(FixedPayload(i, 80)).has_value());
  }
  auto files = SegmentFiles(dir_);
  ASSERT_EQ(files.size(), 3u);
  PatchFile(files[1], 0, std::string(300, 'q'));
  auto spool = OpenSpool(dir_, 1ull << 30, 300);
  ASSERT_TRUE(spool);
  EXPECT_EQ(spool->Stats().discarded_bytes, 300u);
  EXPECT_FALSE(fs::exists(files[1]));
  EXPECT_EQ(Sequences(ReadAll(*spool)), (std::vector<std::uint64_t>{1, 2, 3, 7, 8, 9}));
  EXPECT_EQ(spool->Stats().next_sequence, 10u);
}

TEST_F(SpoolTest, GarbageOnlyLastSegmentKeepsSequencesMonotonic) {
  {
    auto spool = OpenSpool(dir_, 1ull << 30, 300);
    ASSERT_TRUE(spool);
    for (int i = 1; i <= 7; ++i) ASSERT_TRUE(spool->Append(FixedPayload(i, 80)).has_value());
  }
  auto files = SegmentFiles(dir_);
  ASSERT_EQ(files.size(), 3u);  // [1-3] [4-6] [7]
  PatchFile(files[2], 0, std::string(100, 'q'));
  auto spool = OpenSpool(dir_, 1ull << 30, 300);
  ASSERT_TRUE(spool);
  EXPECT_EQ(spool->Stats().discarded_bytes, 100u);
  EXPECT_EQ(Sequences(ReadAll(*spool)), Range(1, 6));
  EXPECT_EQ(spool->Stats().next_sequence, 7u);
  auto seq = spool->Append("y");
  ASSERT_TRUE(seq.has_value());
  EXPECT_EQ(*seq, 7u);
}

TEST_F(SpoolTest, SizeBoundDropsOldestAndCountsExactly) {
  constexpr std::uint64_t kRecord = 100, kSegment = 300, kMax = 1000;
  // Model of the rule: rotate when the open segment would pass kSegment; while the bound would
  // be exceeded, delete the oldest closed segment.
  std::deque<std::uint64_t> model{0};  // records per segment
  std::uint64_t model_dropped = 0;
  {
    auto spool = OpenSpool(dir_, kMax, kSegment);
    ASSERT_TRUE(spool);
    for (std::uint64_t i = 1; i <= 100; ++i) {
      if (model.back() > 0 && (model.back() + 1) * kRecord > kSegment) model.push_back(0);
      std::uint64_t total = 0;
      for (auto n : model) total += n * kRecord;
      while (total + kRecord > kMax) {
        model_dropped += model.front();
        total -= model.front() * kRecord;
        model.pop_front();
      }
      ++model.back();

      auto seq = spool->Append(FixedPayload(i, kRecord - kHeader));
      ASSERT_TRUE(seq.has_value());
      ASSERT_EQ(*seq, i);
      SpoolStats st = spool->Stats();
      ASSERT_LE(st.bytes, kMax);
      ASSERT_EQ(st.dropped_records, model_dropped) << "after record " << i;
      ASSERT_EQ(SegmentBytes(dir_), st.bytes);
    }
    EXPECT_GT(model_dropped, 80u);
    auto all = ReadAll(*spool);
    EXPECT_EQ(all.size(), 100 - model_dropped);
    EXPECT_EQ(Sequences(all), Range(model_dropped + 1, 100));
  }
  // The counter is persistent.
  auto spool = OpenSpool(dir_, kMax, kSegment);
  ASSERT_TRUE(spool);
  EXPECT_EQ(spool->Stats().dropped_records, model_dropped);
  EXPECT_EQ(spool->Stats().next_sequence, 101u);
  EXPECT_EQ(Sequences(ReadAll(*spool)), Range(model_dropped + 1, 100));
}

TEST_F(SpoolTest, SizeBoundHoldsWhenSegmentsAreLargerThanTheBound) {
  auto spool = OpenSpool(dir_, 1000, 1 << 20);
  ASSERT_TRUE(spool);
  for (int i = 1; i <= 50; ++i) {
    ASSERT_TRUE(spool->Append(FixedPayload(i, 80)).has_value());
    ASSERT_LE(spool->Stats().bytes, 1000u);
  }
  SpoolStats st = spool->Stats();
  auto all = ReadAll(*spool);
  ASSERT_FALSE(all.empty());
  EXPECT_EQ(all.back().sequence, 50u);
  EXPECT_EQ(st.dropped_records, 50 - all.size());
  EXPECT_EQ(Sequences(all), Range(51 - all.size(), 50));
}

TEST_F(SpoolTest, AckedRecordsAreNotCountedAsDropped) {
  auto spool = OpenSpool(dir_, 1000, 300);
  ASSERT_TRUE(spool);
  for (int i = 1; i <= 10; ++i) ASSERT_TRUE(spool->Append(FixedPayload(i, 80)).has_value());
  ASSERT_TRUE(spool->Ack(2).has_value());                        // [1-3] stays (3 not acked)
  ASSERT_TRUE(spool->Append(FixedPayload(11, 80)).has_value());  // drops [1-3]: only 3 was unacked
  EXPECT_EQ(spool->Stats().dropped_records, 1u);
  EXPECT_EQ(Sequences(ReadAll(*spool)), Range(4, 11));
}

// The newest ~1 MiB of records are read from memory, older ones from the segment files: a reader
// from the start crosses from one to the other without a gap or a duplicate. Truncating the newest
// segment's file shows that its records came from memory.
TEST_F(SpoolTest, NewestRecordsAreReadFromMemoryOlderFromFiles) {
  constexpr std::uint64_t kRecords = 3000, kLen = 1000;
  auto spool = OpenSpool(dir_, 1ull << 30, 256u << 10);
  ASSERT_TRUE(spool);
  std::vector<std::string> payloads;
  std::vector<std::string_view> views;
  for (std::uint64_t i = 1; i <= kRecords; ++i) payloads.push_back(FixedPayload(i, kLen));
  for (std::size_t i = 0; i < payloads.size(); i += 100) {
    views.assign(payloads.begin() + static_cast<std::ptrdiff_t>(i),
                 payloads.begin() + static_cast<std::ptrdiff_t>(i + 100));
    ASSERT_TRUE(spool->AppendBatch(views).has_value());
  }
  auto files = SegmentFiles(dir_);
  ASSERT_GT(files.size(), 10u);
  fs::resize_file(files.back(), 0);

  auto all = ReadAll(*spool, 0, 64);
  ASSERT_EQ(Sequences(all), Range(1, kRecords));
  for (const auto& r : all) ASSERT_EQ(r.payload, payloads[r.sequence - 1]) << r.sequence;
  // A read that starts inside the memory tail.
  auto tail = spool->Read(kRecords - 10, 100, 1 << 20, 0ms);
  ASSERT_TRUE(tail.has_value());
  EXPECT_EQ(Sequences(*tail), Range(kRecords - 9, kRecords));
  // max_bytes bounds a read from memory as it does one from the files.
  auto bounded = spool->Read(kRecords - 100, 100, 3 * kLen, 0ms);
  ASSERT_TRUE(bounded.has_value());
  EXPECT_EQ(Sequences(*bounded), Range(kRecords - 99, kRecords - 97));
}

TEST_F(SpoolTest, ReadWaitsForAppend) {
  auto spool = OpenSpool(dir_);
  ASSERT_TRUE(spool);
  auto t0 = std::chrono::steady_clock::now();
  auto r = spool->Read(0, 10, 1 << 20, 100ms);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->empty());
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 100ms);

  std::thread writer([&] {
    std::this_thread::sleep_for(50ms);
    ASSERT_TRUE(spool->Append("late").has_value());
  });
  t0 = std::chrono::steady_clock::now();
  r = spool->Read(0, 10, 1 << 20, 10s);
  writer.join();
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].payload, "late");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
}

TEST_F(SpoolTest, ConcurrentAppendersAndReaderDeliverEachRecordOnceInOrder) {
  constexpr int kThreads = 3, kPerThread = 4000;
  auto spool = OpenSpool(dir_, 1ull << 30, 8192);
  ASSERT_TRUE(spool);
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::string p = std::to_string(t) + ":" + std::to_string(i) + ":";
        p.append(static_cast<std::size_t>(i % 97), 'k');
        ASSERT_TRUE(spool->Append(p).has_value());
      }
    });
  }
  std::vector<std::vector<int>> seen(kThreads);
  std::uint64_t last = 0;
  std::size_t total = 0;
  bool in_order = true;
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (total < kThreads * kPerThread && std::chrono::steady_clock::now() < deadline) {
    auto r = spool->Read(last, 100, 16 << 10, 50ms);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    for (const auto& rec : *r) {
      if (rec.sequence != last + 1) in_order = false;
      last = rec.sequence;
      int t = std::stoi(rec.payload);
      int i = std::stoi(rec.payload.substr(rec.payload.find(':') + 1));
      seen[static_cast<std::size_t>(t)].push_back(i);
      ++total;
    }
    if (!r->empty() && last % 3 == 0) {
      ASSERT_TRUE(spool->Ack(last - 1).has_value());
    }
  }
  for (auto& w : writers) w.join();
  EXPECT_TRUE(in_order);
  EXPECT_EQ(total, static_cast<std::size_t>(kThreads * kPerThread));
  for (int t = 0; t < kThreads; ++t) {
    std::vector<int> expect(kPerThread);
    for (int i = 0; i < kPerThread; ++i) expect[static_cast<std::size_t>(i)] = i;
    EXPECT_EQ(seen[static_cast<std::size_t>(t)], expect) << "thread " << t;
  }
  auto rest = spool->Read(last, 10, 1 << 20, 0ms);
  ASSERT_TRUE(rest.has_value());
  EXPECT_TRUE(rest->empty());
}

// A child process appends as fast as it can and reports each sequence through a pipe; it is killed
// with SIGKILL mid-stream. Everything it reported must be there, as an unbroken prefix.
TEST_F(SpoolTest, KilledWriterLeavesIntactPrefix) {
  constexpr std::size_t kMaxPayloadLen = 200020;
  for (int round = 0; round < 6; ++round) {
    const fs::path dir = root_ / ("kill" + std::to_string(round));
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      auto s = Spool::Open(SpoolOptions{dir, 1ull << 30, 1 << 20});
      if (!s) ::_exit(2);
      // Odd rounds append in batches of 1 to 5 records (one write per batch).
      for (std::uint64_t i = 1;;) {
        const std::uint64_t n = round % 2 ? 1 + i % 5 : 1;
        std::vector<std::string> payloads;
        for (std::uint64_t k = 0; k < n; ++k) payloads.push_back(BigPayload(i + k));
        std::vector<std::string_view> views(payloads.begin(), payloads.end());
        auto seq = (*s)->AppendBatch(views);
        i += n;
        if (!seq || *seq != i - 1) ::_exit(3);
        const std::uint64_t last = i - 1;
        if (::write(fds[1], &last, sizeof last) != static_cast<ssize_t>(sizeof last)) ::_exit(4);
      }
    }
    ::close(fds[1]);
    std::uint64_t reported = 0;
    const std::uint64_t kill_after = 20 + static_cast<std::uint64_t>(round) * 13;
    while (reported < kill_after) {
      std::uint64_t v = 0;
      ASSERT_EQ(::read(fds[0], &v, sizeof v), static_cast<ssize_t>(sizeof v));
      reported = v;
    }
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
    std::uint64_t v = 0;
    while (::read(fds[0], &v, sizeof v) == static_cast<ssize_t>(sizeof v)) reported = v;
    ::close(fds[0]);

    auto spool = OpenSpool(dir, 1ull << 30, 1 << 20);
    ASSERT_TRUE(spool);
    SpoolStats st = spool->Stats();
    EXPECT_LT(st.discarded_bytes, kHeader + kMaxPayloadLen + 32) << "round " << round;
    auto all = ReadAll(*spool);
    ASSERT_GE(all.size(), reported) << "round " << round;
    for (std::size_t k = 0; k < all.size(); ++k) {
      ASSERT_EQ(all[k].sequence, k + 1) << "round " << round;
      ASSERT_EQ(all[k].payload, BigPayload(k + 1)) << "round " << round;
    }
    EXPECT_EQ(st.next_sequence, all.size() + 1);
    EXPECT_EQ(st.bytes, SegmentBytes(dir));
  }
}

TEST_F(SpoolTest, FullyAckedOpenSegmentRotatesOnceItIsFull) {
  auto spool = OpenSpool(dir_, 1ull << 30, 300);
  ASSERT_TRUE(spool);
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(spool->Append(FixedPayload(i, 80)).has_value());
  ASSERT_EQ(spool->Stats().bytes, 300u);  // one full segment, still the open one
  ASSERT_TRUE(spool->Ack(3).has_value());
  auto files = SegmentFiles(dir_);
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].filename(), "00000000000000000004.seg");
  EXPECT_EQ(spool->Stats().bytes, 0u);
}

}  // namespace
}  // namespace vigil::agent
