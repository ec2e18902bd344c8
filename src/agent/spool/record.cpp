// Spool record encoding and the validating, resynchronising segment scanner.
#include "agent/spool/record.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "agent/spool/crc32c.hpp"

namespace vigil::agent::spool_internal {
namespace {

constexpr std::size_t kChunk = 64 * 1024;
constexpr char kMagicBytes[4] = {'V', 'S', 'P', 'L'};

void Put32(char* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
void Put64(char* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
std::uint32_t Get32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i)
    v |= static_cast<std::uint32_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}
std::uint64_t Get64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v |= static_cast<std::uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

std::uint32_t RecordCrc(std::uint64_t sequence, std::string_view payload) {
  char seq[8];
  Put64(seq, sequence);
  return Crc32c(Crc32c(0, seq, sizeof seq), payload);
}

}  // namespace

void EncodeHeader(std::uint64_t sequence, std::string_view payload, char* out) {
  Put32(out, kMagic);
  Put32(out + 4, static_cast<std::uint32_t>(payload.size()));
  Put64(out + 8, sequence);
  Put32(out + 16, RecordCrc(sequence, payload));
}

SegmentScanner::SegmentScanner(int fd, std::uint64_t begin, std::uint64_t end,
                               std::uint64_t prev_sequence, std::uint64_t max_sequence)
    : fd_(fd),
      end_(std::max(begin, end)),
      pos_(begin),
      prev_(prev_sequence),
      max_seq_(max_sequence),
      buf_off_(begin) {}

Result<void> SegmentScanner::Fill(std::uint64_t off, std::size_t n) {
  if (off >= buf_off_ && off + n <= buf_off_ + buf_len_) return {};
  std::size_t keep = 0;
  if (off >= buf_off_ && off < buf_off_ + buf_len_) {
    keep = static_cast<std::size_t>(buf_off_ + buf_len_ - off);
    std::memmove(buf_.data(), At(off), keep);
  }
  buf_off_ = off;
  buf_len_ = keep;
  std::size_t want =
      static_cast<std::size_t>(std::min<std::uint64_t>(std::max(n, kChunk), end_ - off));
  if (buf_.size() < want) buf_.resize(want);
  while (buf_len_ < want) {
    ssize_t r =
        ::pread(fd_, buf_.data() + buf_len_, want - buf_len_, static_cast<off_t>(off + buf_len_));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return Fail(std::string("spool: reading segment: ") + std::strerror(errno));
    if (r == 0) return Fail("spool: segment file is shorter than expected");
    buf_len_ += static_cast<std::size_t>(r);
  }
  return {};
}

Result<bool> SegmentScanner::TryAt(std::uint64_t pos, std::uint64_t gap) {
  if (end_ - pos < kHeaderSize) return false;
  if (auto r = Fill(pos, kHeaderSize); !r) return std::unexpected(r.error());
  const char* h = At(pos);
  if (Get32(h) != kMagic) return false;
  std::uint32_t length = Get32(h + 4);
  std::uint64_t sequence = Get64(h + 8);
  std::uint32_t crc = Get32(h + 16);
  if (length > kMaxPayload || end_ - pos - kHeaderSize < length) return false;
  if (sequence <= prev_ || sequence > max_seq_) return false;
  if (gap > 0 && sequence - prev_ > 1 + gap / kHeaderSize) return false;
  if (auto r = Fill(pos, kHeaderSize + length); !r) return std::unexpected(r.error());
  std::string_view payload(At(pos) + kHeaderSize, length);
  if (RecordCrc(sequence, payload) != crc) return false;
  offset_ = pos;
  sequence_ = sequence;
  payload_ = payload;
  prev_ = sequence;
  pos_ = pos + kHeaderSize + length;
  return true;
}

Result<bool> SegmentScanner::Next() {
  const std::uint64_t gap_start = pos_;
  auto ok = TryAt(pos_, 0);
  if (!ok || *ok) return ok;
  // Damaged: look for the next magic that starts a valid record.
  std::uint64_t p = gap_start + 1;
  while (p < end_ && end_ - p >= kHeaderSize) {
    std::size_t span = static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, end_ - p));
    if (auto r = Fill(p, span); !r) return std::unexpected(r.error());
    const char* base = At(p);
    const void* hit = ::memmem(base, span, kMagicBytes, sizeof kMagicBytes);
    if (hit == nullptr) {
      p += span > 3 ? span - 3 : 1;
      continue;
    }
    p += static_cast<std::uint64_t>(static_cast<const char*>(hit) - base);
    auto found = TryAt(p, p - gap_start);
    if (!found) return found;
    if (*found) {
      skipped_ += p - gap_start;
      gap_ += p - gap_start;
      return true;
    }
    ++p;
  }
  skipped_ += end_ - gap_start;
  pos_ = end_;
  return false;
}

}  // namespace vigil::agent::spool_internal
