// On-disk record format of spool segments and a scanner that validates records (magic, bounds,
// CRC-32C, sequence order) and resynchronises past damaged bytes, counting what it skipped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace vigil::agent::spool_internal {

// Record = header + payload. All header fields little-endian:
//   u32 magic "VSPL" | u32 payload length | u64 sequence | u32 CRC-32C(sequence bytes + payload)
inline constexpr std::uint32_t kMagic = 0x4C505356u;  // bytes 'V' 'S' 'P' 'L'
inline constexpr std::size_t kHeaderSize = 20;
inline constexpr std::uint32_t kMaxPayload = 16u << 20;

// Fills out[0..kHeaderSize) with the header of a record holding `payload` as `sequence`.
void EncodeHeader(std::uint64_t sequence, std::string_view payload, char* out);

// Walks the bytes [begin, end) of a segment file and yields each valid record in order. A record is
// valid when its magic, length (<= kMaxPayload and inside [begin, end)) and CRC are right and its
// sequence is above the previous one and at most max_sequence. After a damaged spot the scanner
// searches for the next valid record; a candidate found that way must also have a sequence that the
// skipped bytes could have held (at most one record per kHeaderSize bytes), so bytes inside a
// damaged record's payload are not mistaken for records. Memory: one buffer of at most one record
// plus 64 KiB.
class SegmentScanner {
 public:
  SegmentScanner(int fd, std::uint64_t begin, std::uint64_t end, std::uint64_t prev_sequence,
                 std::uint64_t max_sequence);

  // Advances to the next valid record; false at the end of the range. Errors are I/O errors only.
  Result<bool> Next();

  std::uint64_t offset() const { return offset_; }  // of the current record's header
  std::uint64_t end_offset() const { return offset_ + kHeaderSize + payload_.size(); }
  std::uint64_t sequence() const { return sequence_; }
  std::string_view payload() const { return payload_; }  // valid until the next call
  // Bytes skipped so far as damaged (complete only once Next() returned false).
  std::uint64_t skipped_bytes() const { return skipped_; }
  // Skipped bytes that were followed by a valid record (damage in the middle, not at the tail).
  std::uint64_t gap_bytes() const { return gap_; }

 private:
  Result<bool> TryAt(std::uint64_t pos, std::uint64_t gap);
  Result<void> Fill(std::uint64_t off, std::size_t n);
  const char* At(std::uint64_t off) const { return buf_.data() + (off - buf_off_); }

  int fd_;
  std::uint64_t end_;
  std::uint64_t pos_;  // where the search for the next record starts
  std::uint64_t prev_;
  std::uint64_t max_seq_;
  std::vector<char> buf_;
  std::uint64_t buf_off_ = 0;
  std::size_t buf_len_ = 0;
  std::uint64_t offset_ = 0;
  std::uint64_t sequence_ = 0;
  std::string_view payload_;
  std::uint64_t skipped_ = 0;
  std::uint64_t gap_ = 0;
};

}  // namespace vigil::agent::spool_internal
