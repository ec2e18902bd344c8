// Tests for the spool's memory tail (TailRing): it holds the newest records, byte for byte, as
// consecutive sequences, through many wraps of its buffer; gaps, oversized records, drops and the
// read bounds.
#include "agent/spool/tail_ring.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace vigil::agent {
namespace {

std::string Payload(std::uint64_t sequence, std::size_t size) {
  std::string out(size, '\0');
  for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<char>('a' + (sequence * 7 + i) % 26);
  return out;
}

std::vector<std::uint64_t> Sequences(const std::vector<SpoolRecord>& records) {
  std::vector<std::uint64_t> out;
  for (const auto& r : records) out.push_back(r.sequence);
  return out;
}

std::vector<SpoolRecord> ReadAll(const TailRing& ring, std::uint64_t from) {
  std::vector<SpoolRecord> out;
  ring.Read(from, SIZE_MAX, SIZE_MAX, out);
  return out;
}

TEST(TailRingTest, KeepsTheNewestRecordsThatFitAcrossAWrap) {
  TailRing ring(100);
  for (std::uint64_t s = 1; s <= 3; ++s) ring.Push(s, Payload(s, 30));
  EXPECT_EQ(Sequences(ReadAll(ring, 0)), (std::vector<std::uint64_t>{1, 2, 3}));
  // 4 does not fit after 3 (90 + 30 > 100) nor before 1 (at offset 0): 1 goes, 4 wraps to 0.
  ring.Push(4, Payload(4, 30));
  auto held = ReadAll(ring, 1);
  ASSERT_EQ(Sequences(held), (std::vector<std::uint64_t>{2, 3, 4}));
  for (const auto& r : held) EXPECT_EQ(r.payload, Payload(r.sequence, 30));
  EXPECT_EQ(ring.payload_bytes(), 90u);
  // 5 (50 bytes) needs 2 and 3 gone: [30, 80) once 4 ends at 30.
  ring.Push(5, Payload(5, 50));
  held = ReadAll(ring, 3);
  ASSERT_EQ(Sequences(held), (std::vector<std::uint64_t>{4, 5}));
  EXPECT_EQ(held[1].payload, Payload(5, 50));
  std::vector<SpoolRecord> none;
  EXPECT_FALSE(ring.Read(1, 10, 1000, none));  // 2 is gone: the files serve it
  EXPECT_FALSE(ring.Read(5, 10, 1000, none));  // nothing after the newest
  EXPECT_TRUE(none.empty());
}

// Many wraps with sizes from 0 to the whole ring: what is held is always a run of the newest
// records, byte for byte; no record is dropped while the newer ones and it fit with room for the
// largest record to spare (what a wrap can waste); the bytes held never exceed the ring.
TEST(TailRingTest, ManyWrapsHoldTheNewestRecordsByteForByte) {
  constexpr std::size_t kCapacity = 4096, kMaxRecord = 600;
  TailRing ring(kCapacity);
  std::mt19937_64 random(42);
  std::vector<std::size_t> sizes{0};  // sizes[s] of sequence s
  for (std::uint64_t s = 1; s <= 20000; ++s) {
    std::size_t size = random() % 8 == 0 ? random() % (kMaxRecord + 1) : random() % 120;
    sizes.push_back(size);
    ring.Push(s, Payload(s, size));
    ASSERT_LE(ring.payload_bytes(), kCapacity);
    auto held = ReadAll(ring, s - ring.records());
    ASSERT_EQ(held.size(), ring.records()) << s;
    ASSERT_EQ(held.back().sequence, s);
    std::size_t bytes = 0;
    for (std::size_t i = 0; i < held.size(); ++i) {
      ASSERT_EQ(held[i].sequence, s - held.size() + 1 + i);
      ASSERT_EQ(held[i].payload, Payload(held[i].sequence, sizes[held[i].sequence])) << s;
      bytes += held[i].payload.size();
    }
    ASSERT_EQ(bytes, ring.payload_bytes());
    const std::uint64_t oldest_held = held.front().sequence;
    if (oldest_held > 1) {
      ASSERT_GT(bytes + sizes[oldest_held - 1], kCapacity - kMaxRecord) << s;
    }
  }
}

TEST(TailRingTest, AGapInSequencesOrAnOversizedRecordStartsOver) {
  TailRing ring(100);
  ring.Push(1, "one");
  ring.Push(2, "two");
  ring.Push(5, "five");  // 3 and 4 went elsewhere: the ring must not claim them
  EXPECT_EQ(Sequences(ReadAll(ring, 0)), std::vector<std::uint64_t>{});
  EXPECT_EQ(Sequences(ReadAll(ring, 4)), (std::vector<std::uint64_t>{5}));
  ring.Push(6, std::string(101, 'x'));  // larger than the ring: read from the files
  EXPECT_EQ(ring.records(), 0u);
  EXPECT_EQ(ring.payload_bytes(), 0u);
  ring.Push(7, std::string(100, 'y'));  // exactly the ring
  auto held = ReadAll(ring, 6);
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held[0].payload, std::string(100, 'y'));
}

TEST(TailRingTest, DropThroughAndReadBounds) {
  TailRing ring(1000);
  for (std::uint64_t s = 1; s <= 10; ++s) ring.Push(s, Payload(s, 10));
  ring.DropThrough(3);
  EXPECT_EQ(ring.records(), 7u);
  EXPECT_EQ(ring.payload_bytes(), 70u);
  std::vector<SpoolRecord> out;
  EXPECT_FALSE(ring.Read(2, 100, 1000, out));
  ASSERT_TRUE(ring.Read(3, 3, 1000, out));  // max_records
  EXPECT_EQ(Sequences(out), (std::vector<std::uint64_t>{4, 5, 6}));
  out.clear();
  ASSERT_TRUE(ring.Read(5, 100, 25, out));  // max_bytes: 6 and 7 (20), 8 would pass 25
  EXPECT_EQ(Sequences(out), (std::vector<std::uint64_t>{6, 7}));
  out.clear();
  ASSERT_TRUE(ring.Read(5, 100, 5, out));  // at least one record, even past max_bytes
  EXPECT_EQ(Sequences(out), (std::vector<std::uint64_t>{6}));
  ring.DropThrough(10);
  EXPECT_EQ(ring.records(), 0u);
  ring.Push(11, "after");  // an emptied ring takes the next sequence at its start
  EXPECT_EQ(ReadAll(ring, 10).at(0).payload, "after");
}

}  // namespace
}  // namespace vigil::agent
