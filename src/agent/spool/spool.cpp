// The spool implementation: a directory of append-only segment files plus small state files
// (epoch, acked, dropped), an in-memory index with one entry per segment, recovery on open, and
// the size bound. Format, recovery rules and guarantees are described in docs/spool.md.
#include "agent/spool/spool.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cinttypes>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <limits>
#include <mutex>
#include <optional>

#include "agent/spool/files.hpp"
#include "agent/spool/record.hpp"
#include "agent/spool/tail_ring.hpp"
#include "common/fd.hpp"
#include "common/log.hpp"

namespace vigil::agent {
namespace {

using spool_internal::EncodeHeader;
using spool_internal::ErrnoMessage;
using spool_internal::kHeaderSize;
using spool_internal::kMaxPayload;
using spool_internal::ReadSmallFile;
using spool_internal::SegmentScanner;
using spool_internal::SyncDir;
using spool_internal::WriteFileAtomic;

constexpr std::string_view kEpochFile = "epoch";
constexpr std::string_view kAckedFile = "acked";
constexpr std::uint64_t kRotateAckedBytes = 1u << 20;
constexpr std::string_view kDroppedFile = "dropped";
constexpr std::string_view kSentFile = "sent";
// Read persists a bound on the sequences it handed out ahead of need, this many at a time, so a
// steady stream costs one small fdatasync per this many records.
constexpr std::uint64_t kSentBlock = 4096;
constexpr std::string_view kLockFile = "lock";
constexpr std::string_view kSegmentSuffix = ".seg";
constexpr std::string_view kTmpSuffix = ".tmp";
constexpr std::size_t kSegmentDigits = 20;
constexpr std::uint64_t kNoLimit = std::numeric_limits<std::uint64_t>::max();
// The newest records are also kept in memory, up to this many payload bytes, so a reader that keeps
// up (the uplink, normally a fraction of a second behind) takes them from there instead of opening
// and re-reading the segment file it just wrote: an open, a pread and a CRC pass per batch.
constexpr std::size_t kTailBytes = 1u << 20;

std::string SegmentFileName(std::uint64_t first) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%020" PRIu64 ".seg", first);
  return buf;
}

std::optional<std::uint64_t> ParseSegmentFileName(std::string_view name) {
  if (name.size() != kSegmentDigits + kSegmentSuffix.size() || !name.ends_with(kSegmentSuffix)) {
    return std::nullopt;
  }
  std::uint64_t v = 0;
  const char* end = name.data() + kSegmentDigits;
  auto [p, ec] = std::from_chars(name.data(), end, v);
  if (ec != std::errc() || p != end) return std::nullopt;
  return v;
}

// A decimal or (hex) number followed by an optional newline; nothing else.
std::optional<std::uint64_t> ParseNumber(std::string_view text, int base) {
  if (text.ends_with('\n')) text.remove_suffix(1);
  if (text.empty()) return std::nullopt;
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v, base);
  if (ec != std::errc() || p != text.data() + text.size()) return std::nullopt;
  return v;
}

std::string FormatEpoch(std::uint64_t epoch) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016" PRIx64 "\n", epoch);
  return buf;
}

Result<std::uint64_t> RandomEpoch() {
  std::uint64_t v = 0;
  while (v == 0) {
    ssize_t r = ::getrandom(&v, sizeof v, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r != static_cast<ssize_t>(sizeof v)) {
      return Fail(std::string("spool: getrandom: ") + std::strerror(errno));
    }
  }
  return v;
}

// Writes the buffers at `offset` with as few pwritev calls as IOV_MAX allows, retrying short
// writes. iov is consumed.
Result<void> WriteAt(int fd, std::uint64_t offset, std::span<iovec> iov) {
  constexpr std::size_t kMaxIov = 1024;  // IOV_MAX on Linux
  std::size_t first = 0;
  while (first < iov.size()) {
    if (iov[first].iov_len == 0) {
      ++first;
      continue;
    }
    const std::size_t count = std::min(iov.size() - first, kMaxIov);
    ssize_t w =
        ::pwritev(fd, iov.data() + first, static_cast<int>(count), static_cast<off_t>(offset));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return Fail(std::string("spool: writing record: ") + std::strerror(errno));
    if (w == 0) return Fail("spool: writing record: no progress");
    auto n = static_cast<std::size_t>(w);
    offset += n;
    while (first < iov.size() && n >= iov[first].iov_len) n -= iov[first++].iov_len;
    if (first < iov.size()) {
      iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + n;
      iov[first].iov_len -= n;
    }
  }
  return {};
}

// Writes header + payload at `offset`, retrying short writes.
Result<void> WriteRecordAt(int fd, std::uint64_t offset, const char* header,
                           std::string_view payload) {
  iovec iov[2] = {{const_cast<char*>(header), kHeaderSize},
                  {const_cast<char*>(payload.data()), payload.size()}};
  return WriteAt(fd, offset, iov);
}

struct Segment {
  std::uint64_t name = 0;       // file name: no record in it has a lower sequence
  std::uint64_t first_seq = 0;  // 0 while empty
  std::uint64_t last_seq = 0;   // 0 while empty
  std::uint64_t records = 0;
  std::uint64_t bytes = 0;  // fully written records only
};

class SpoolImpl final : public Spool {
 public:
  SpoolImpl(SpoolOptions options, UniqueFd lock)
      : options_(std::move(options)), lock_(std::move(lock)) {}
  ~SpoolImpl() override {
    // The last ack may not be on disk yet (acks are written lazily); a lagging file only means
    // resending records the server already has, which it skips.
    std::lock_guard ack_lock(ack_mu_);
    if (acked_written_ != acked_)
      (void)WriteFileAtomic(options_.dir, kAckedFile, std::to_string(acked_) + "\n", false);
    // A clean close narrows the bound to what was really handed out, so the next open continues
    // without a gap (if this write is lost, the older, larger bound stays: still safe).
    std::lock_guard lock(mu_);
    if (sent_bound_ > sent_high_)
      (void)WriteFileAtomic(options_.dir, kSentFile, std::to_string(sent_high_) + "\n", false);
  }

  Result<void> Recover();
  Result<void> RaiseSentBound(std::uint64_t sequence);

  Result<std::uint64_t> AppendBatch(std::span<const std::string_view> payloads) override;
  Result<std::vector<SpoolRecord>> Read(std::uint64_t after, std::size_t max_records,
                                        std::size_t max_bytes,
                                        std::chrono::milliseconds wait) override;
  Result<void> Ack(std::uint64_t sequence) override;
  Result<void> Sync() override;
  SpoolStats Stats() const override;

 private:
  // Where the last Read stopped, so sequential reads do not rescan a segment from its start.
  struct Cursor {
    bool valid = false;
    std::uint64_t segment = 0;  // segment name
    std::uint64_t offset = 0;   // just after the record with sequence prev_seq
    std::uint64_t prev_seq = 0;
  };

  std::filesystem::path SegmentPath(std::uint64_t name) const {
    return options_.dir / SegmentFileName(name);
  }
  Result<void> ScanSegment(std::uint64_t name, std::uint64_t prev_seq, std::uint64_t max_seq,
                           bool last, Segment& out, std::optional<std::uint64_t>& empty_tail);
  Result<void> RewriteSegment(std::uint64_t name, std::uint64_t prev_seq, std::uint64_t max_seq);
  // The following require mu_.
  Result<void> OpenCurrent(std::uint64_t name, bool create);
  Result<void> Rotate();
  Result<void> RemoveFront();
  Result<void> MakeRoom(std::uint64_t need);
  // Removes segments whose records are all acknowledged (the current one is replaced by a new one).
  Result<void> RemoveAcked();
  // Appends payloads that all fit in the current segment (after rotation and MakeRoom).
  Result<void> AppendToSegment(std::span<const std::string_view> payloads, std::uint64_t bytes);
  Result<void> ReadSegments(const std::vector<Segment>& segments, std::uint64_t from,
                            std::size_t max_records, std::size_t max_bytes, Cursor& cursor,
                            std::vector<SpoolRecord>& out) const;

  const SpoolOptions options_;
  UniqueFd lock_;
  std::mutex ack_mu_;                // serialises Ack (its file write happens outside mu_)
  std::uint64_t acked_written_ = 0;  // the value in the acked file (guarded by ack_mu_)
  std::chrono::steady_clock::time_point acked_written_at_{};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Segment> segments_;  // oldest first; back() is the segment being appended to
  std::shared_ptr<UniqueFd> current_fd_;
  std::vector<std::uint64_t> unsynced_;  // closed segments not yet fdatasync'ed
  bool dir_dirty_ = false;               // segment files created or removed since the last Sync
  std::uint64_t synced_next_seq_ = 0;    // next_seq_ at the last Sync that succeeded
  Cursor cursor_;
  std::uint64_t epoch_ = 0;
  std::uint64_t next_seq_ = 1;
  std::uint64_t acked_ = 0;
  std::uint64_t bytes_ = 0;
  std::uint64_t dropped_ = 0;
  std::uint64_t discarded_ = 0;
  std::uint64_t sent_high_ = 0;   // highest sequence Read has returned (guarded by mu_)
  std::uint64_t sent_bound_ = 0;  // on disk in `sent`: no sequence above it was ever returned
  std::vector<char> headers_;     // AppendBatch's scratch (guarded by mu_)
  std::vector<iovec> iov_;
  // The newest records written, in kTailBytes (guarded by mu_). Records leave it from the front
  // only, and with their segment when the size bound drops one.
  TailRing tail_{kTailBytes};
};

Result<void> SpoolImpl::ScanSegment(std::uint64_t name, std::uint64_t prev_seq,
                                    std::uint64_t max_seq, bool last, Segment& out,
                                    std::optional<std::uint64_t>& empty_tail) {
  const auto path = SegmentPath(name);
  out = Segment{.name = name};
  std::uint64_t skipped = 0;
  std::uint64_t gap = 0;
  std::uint64_t valid_end = 0;
  std::uint64_t size = 0;
  {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return Fail(ErrnoMessage("opening", path, errno));
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return Fail(ErrnoMessage("stat", path, errno));
    size = static_cast<std::uint64_t>(st.st_size);
    SegmentScanner scanner(fd.get(), 0, size, prev_seq, max_seq);
    for (;;) {
      auto more = scanner.Next();
      if (!more) return std::unexpected(more.error());
      if (!*more) break;
      if (out.records == 0) out.first_seq = scanner.sequence();
      out.last_seq = scanner.sequence();
      ++out.records;
      out.bytes += kHeaderSize + scanner.payload().size();
      valid_end = scanner.end_offset();
    }
    skipped = scanner.skipped_bytes();
    gap = scanner.gap_bytes();
  }
  discarded_ += skipped;
  if (skipped > 0) {
    VLOG_WARN("spool: {}: {} damaged bytes discarded ({} intact records kept)", path.string(),
              skipped, out.records);
  }
  if (out.records == 0) {
    if (last) {
      // Keep it for now: its name may be the only record of the next sequence.
      if (size > 0 && ::truncate(path.c_str(), 0) != 0) {
        return Fail(ErrnoMessage("truncating", path, errno));
      }
      empty_tail = name;
      return {};
    }
    if (::unlink(path.c_str()) != 0) return Fail(ErrnoMessage("removing", path, errno));
    dir_dirty_ = true;
    return {};
  }
  if (gap > 0) return RewriteSegment(name, prev_seq, max_seq);
  if (valid_end < size && ::truncate(path.c_str(), static_cast<off_t>(valid_end)) != 0) {
    return Fail(ErrnoMessage("truncating", path, errno));
  }
  return {};
}

// Copies the valid records of a segment with damage in the middle into a new file that replaces it.
Result<void> SpoolImpl::RewriteSegment(std::uint64_t name, std::uint64_t prev_seq,
                                       std::uint64_t max_seq) {
  const auto path = SegmentPath(name);
  auto tmp = path;
  tmp += kTmpSuffix;
  UniqueFd in(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in) return Fail(ErrnoMessage("opening", path, errno));
  struct stat st {};
  if (::fstat(in.get(), &st) != 0) return Fail(ErrnoMessage("stat", path, errno));
  UniqueFd out(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!out) return Fail(ErrnoMessage("creating", tmp, errno));
  SegmentScanner scanner(in.get(), 0, static_cast<std::uint64_t>(st.st_size), prev_seq, max_seq);
  std::uint64_t offset = 0;
  char header[kHeaderSize];
  for (;;) {
    auto more = scanner.Next();
    if (!more) return std::unexpected(more.error());
    if (!*more) break;
    EncodeHeader(scanner.sequence(), scanner.payload(), header);
    if (auto w = WriteRecordAt(out.get(), offset, header, scanner.payload()); !w) return w;
    offset += kHeaderSize + scanner.payload().size();
  }
  if (::fdatasync(out.get()) != 0) return Fail(ErrnoMessage("syncing", tmp, errno));
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Fail(ErrnoMessage("renaming", tmp, errno));
  return SyncDir(options_.dir);
}

Result<void> SpoolImpl::Recover() {
  const auto& dir = options_.dir;
  std::vector<std::uint64_t> names;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string file = it->path().filename().string();
    if (std::string_view(file).ends_with(kTmpSuffix)) {
      std::filesystem::remove(it->path(), ec);  // an interrupted atomic write or rewrite
      ec.clear();
      continue;
    }
    if (auto n = ParseSegmentFileName(file)) names.push_back(*n);
  }
  if (ec) return Fail("spool: listing " + dir.string() + ": " + ec.message());
  std::sort(names.begin(), names.end());

  auto acked_text = ReadSmallFile(dir / std::string(kAckedFile));
  if (!acked_text) return std::unexpected(acked_text.error());
  if (*acked_text) {
    if (auto v = ParseNumber(**acked_text, 10)) {
      acked_ = *v;
    } else {
      VLOG_WARN("spool: {}: unreadable acked file ignored", dir.string());
    }
  }
  auto sent_text = ReadSmallFile(dir / std::string(kSentFile));
  if (!sent_text) return std::unexpected(sent_text.error());
  if (*sent_text) {
    if (auto v = ParseNumber(**sent_text, 10)) sent_bound_ = *v;
  }
  auto dropped_text = ReadSmallFile(dir / std::string(kDroppedFile));
  if (!dropped_text) return std::unexpected(dropped_text.error());
  if (*dropped_text) {
    if (auto v = ParseNumber(**dropped_text, 10)) dropped_ = *v;
  }

  auto epoch_text = ReadSmallFile(dir / std::string(kEpochFile));
  if (!epoch_text) return std::unexpected(epoch_text.error());
  std::optional<std::uint64_t> epoch;
  if (*epoch_text) epoch = ParseNumber(**epoch_text, 16);
  if (epoch && *epoch != 0) {
    epoch_ = *epoch;
  } else {
    auto fresh = RandomEpoch();
    if (!fresh) return std::unexpected(fresh.error());
    epoch_ = *fresh;
    if (!names.empty()) {
      VLOG_WARN(
          "spool: {}: epoch file missing or damaged; {} existing segments keep their "
          "records under the new epoch {:016x}",
          dir.string(), names.size(), epoch_);
    }
    if (auto w = WriteFileAtomic(dir, kEpochFile, FormatEpoch(epoch_), true); !w) return w;
  }

  std::uint64_t prev = 0;
  std::optional<std::uint64_t> empty_tail;
  for (std::size_t i = 0; i < names.size(); ++i) {
    const bool last = i + 1 == names.size();
    const std::uint64_t max_seq = last ? kNoLimit : names[i + 1] - 1;
    const std::uint64_t floor = names[i] > 0 ? std::max(prev, names[i] - 1) : prev;
    Segment seg;
    if (auto r = ScanSegment(names[i], floor, max_seq, last, seg, empty_tail); !r) return r;
    if (seg.records == 0) continue;
    prev = seg.last_seq;
    bytes_ += seg.bytes;
    segments_.push_back(seg);
  }
  // Past every sequence the uplink may have sent: if damage or a lost tail took records the server
  // already has, their sequences must not be given to new records, which it would skip as
  // duplicates.
  next_seq_ = std::max({prev + 1, acked_ + 1, names.empty() ? 1 : names.back(), sent_bound_ + 1});
  if (sent_bound_ > prev && sent_bound_ > acked_)
    VLOG_INFO("spool: {}: sequences up to {} may have been sent; new records continue at {}",
              dir.string(), sent_bound_, next_seq_);
  sent_high_ = next_seq_ - 1;

  std::lock_guard lock(mu_);
  if (empty_tail && *empty_tail == next_seq_) {
    segments_.push_back(Segment{.name = *empty_tail});
    if (auto r = OpenCurrent(*empty_tail, false); !r) return r;
  } else {
    if (empty_tail) {
      const auto path = SegmentPath(*empty_tail);
      if (::unlink(path.c_str()) != 0) return Fail(ErrnoMessage("removing", path, errno));
    }
    if (!segments_.empty() && segments_.back().bytes < options_.segment_bytes) {
      if (auto r = OpenCurrent(segments_.back().name, false); !r) return r;
    } else {
      segments_.push_back(Segment{.name = next_seq_});
      if (auto r = OpenCurrent(next_seq_, true); !r) return r;
    }
  }
  // Segments left behind when a crash came between persisting an ack and deleting them.
  if (auto r = RemoveAcked(); !r) return r;
  const std::uint64_t dropped_before = dropped_;
  if (auto r = MakeRoom(0); !r) return r;
  if (dropped_ != dropped_before) {
    if (auto w = WriteFileAtomic(dir, kDroppedFile, std::to_string(dropped_) + "\n", false); !w) {
      return w;
    }
  }
  VLOG_INFO("spool: {}: epoch {:016x}, {} segments, {} bytes, next sequence {}, acked {}{}",
            dir.string(), epoch_, segments_.size(), bytes_, next_seq_, acked_,
            discarded_ > 0 ? ", " + std::to_string(discarded_) + " damaged bytes discarded" : "");
  return {};
}

Result<void> SpoolImpl::OpenCurrent(std::uint64_t name, bool create) {
  const auto path = SegmentPath(name);
  int flags = O_WRONLY | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0);
  UniqueFd fd(::open(path.c_str(), flags, 0600));
  if (!fd) return Fail(ErrnoMessage(create ? "creating" : "opening", path, errno));
  current_fd_ = std::make_shared<UniqueFd>(std::move(fd));
  if (create) dir_dirty_ = true;
  return {};
}

Result<void> SpoolImpl::Rotate() {
  const std::uint64_t old = segments_.back().name;
  if (auto r = OpenCurrent(next_seq_, true); !r) return r;
  segments_.push_back(Segment{.name = next_seq_});
  unsynced_.push_back(old);
  return {};
}

// Removes the oldest segment (never the current one) and its bookkeeping.
Result<void> SpoolImpl::RemoveFront() {
  const Segment seg = segments_.front();
  const auto path = SegmentPath(seg.name);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Fail(ErrnoMessage("removing", path, errno));
  }
  segments_.pop_front();
  bytes_ -= seg.bytes;
  dir_dirty_ = true;
  tail_.DropThrough(seg.last_seq);
  std::erase(unsynced_, seg.name);
  if (cursor_.valid && cursor_.segment == seg.name) cursor_.valid = false;
  return {};
}

// Drops oldest segments until `need` more bytes fit in max_bytes; counts unacknowledged records
// lost.
Result<void> SpoolImpl::MakeRoom(std::uint64_t need) {
  while (bytes_ + need > options_.max_bytes) {
    if (segments_.size() > 1) {
      const Segment& seg = segments_.front();
      std::uint64_t lost = 0;
      if (seg.last_seq > acked_) {
        lost = seg.first_seq > acked_ ? seg.records : std::min(seg.records, seg.last_seq - acked_);
      }
      if (auto r = RemoveFront(); !r) return r;
      dropped_ += lost;
      VLOG_WARN("spool: size bound {} reached; dropped {} unacknowledged records",
                options_.max_bytes, lost);
    } else if (segments_.back().bytes > 0) {
      if (auto r = Rotate(); !r) return r;
    } else {
      break;
    }
  }
  return {};
}

Result<std::uint64_t> SpoolImpl::AppendBatch(std::span<const std::string_view> payloads) {
  if (payloads.empty()) return Fail("spool: empty batch");
  for (std::string_view payload : payloads) {
    if (payload.size() > kMaxPayload) {
      return Fail("spool: record of " + std::to_string(payload.size()) + " bytes exceeds the " +
                  std::to_string(kMaxPayload) + " byte limit");
    }
    if (kHeaderSize + payload.size() > options_.max_bytes)
      return Fail("spool: record larger than the spool's size bound");
  }
  std::lock_guard lock(mu_);
  // Groups of records that fit in one segment, each written with one pwritev (per IOV_MAX).
  std::size_t begin = 0;
  while (begin < payloads.size()) {
    std::uint64_t bytes = kHeaderSize + payloads[begin].size();
    if (segments_.back().bytes > 0 && segments_.back().bytes + bytes > options_.segment_bytes) {
      if (auto r = Rotate(); !r) return std::unexpected(r.error());
    }
    const std::uint64_t room =
        std::max(options_.segment_bytes, segments_.back().bytes + bytes) - segments_.back().bytes;
    std::size_t end = begin + 1;
    while (end < payloads.size() && bytes + kHeaderSize + payloads[end].size() <= room &&
           bytes + kHeaderSize + payloads[end].size() <= options_.max_bytes) {
      bytes += kHeaderSize + payloads[end].size();
      ++end;
    }
    if (auto r = AppendToSegment(payloads.subspan(begin, end - begin), bytes); !r)
      return std::unexpected(r.error());
    begin = end;
  }
  cv_.notify_all();
  return next_seq_ - 1;
}

Result<void> SpoolImpl::AppendToSegment(std::span<const std::string_view> payloads,
                                        std::uint64_t bytes) {
  const std::uint64_t dropped_before = dropped_;
  if (auto r = MakeRoom(bytes); !r) return r;
  if (dropped_ != dropped_before) {
    auto w = WriteFileAtomic(options_.dir, kDroppedFile, std::to_string(dropped_) + "\n", false);
    if (!w) VLOG_WARN("{}", w.error().message);
  }
  Segment& seg = segments_.back();
  headers_.resize(payloads.size() * kHeaderSize);
  iov_.clear();
  for (std::size_t i = 0; i < payloads.size(); ++i) {
    char* header = headers_.data() + i * kHeaderSize;
    EncodeHeader(next_seq_ + i, payloads[i], header);
    iov_.push_back({header, kHeaderSize});
    iov_.push_back({const_cast<char*>(payloads[i].data()), payloads[i].size()});
  }
  if (auto w = WriteAt(current_fd_->get(), seg.bytes, iov_); !w) {
    // Drop a partial write so the file ends with whole records (best effort; Read and recovery
    // ignore it anyway).
    if (::ftruncate(current_fd_->get(), static_cast<off_t>(seg.bytes)) != 0) {
      VLOG_WARN("spool: could not cut a partial record: {}", std::strerror(errno));
    }
    return w;
  }
  if (seg.records == 0) seg.first_seq = next_seq_;
  for (std::size_t i = 0; i < payloads.size(); ++i) tail_.Push(next_seq_ + i, payloads[i]);
  next_seq_ += payloads.size();
  seg.last_seq = next_seq_ - 1;
  seg.records += payloads.size();
  seg.bytes += bytes;
  bytes_ += bytes;
  return {};
}

Result<void> SpoolImpl::ReadSegments(const std::vector<Segment>& segments, std::uint64_t from,
                                     std::size_t max_records, std::size_t max_bytes, Cursor& cursor,
                                     std::vector<SpoolRecord>& out) const {
  std::size_t bytes = 0;
  for (const Segment& seg : segments) {
    const auto path = SegmentPath(seg.name);
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
      if (errno == ENOENT) continue;  // dropped or acknowledged meanwhile
      return Fail(ErrnoMessage("opening", path, errno));
    }
    std::uint64_t start = 0;
    std::uint64_t prev = seg.first_seq - 1;
    if (cursor.valid && cursor.segment == seg.name && cursor.prev_seq <= from &&
        cursor.offset <= seg.bytes) {
      start = cursor.offset;
      prev = cursor.prev_seq;
    }
    SegmentScanner scanner(fd.get(), start, seg.bytes, prev, seg.last_seq);
    for (;;) {
      auto more = scanner.Next();
      if (!more) return std::unexpected(more.error());
      if (!*more) break;
      if (scanner.sequence() <= from) continue;
      if (!out.empty() && bytes + scanner.payload().size() > max_bytes) return {};
      out.push_back(SpoolRecord{scanner.sequence(), std::string(scanner.payload())});
      bytes += scanner.payload().size();
      cursor = Cursor{true, seg.name, scanner.end_offset(), scanner.sequence()};
      if (out.size() >= max_records || bytes >= max_bytes) return {};
    }
    if (scanner.skipped_bytes() > 0) {
      VLOG_WARN("spool: {}: {} damaged bytes skipped while reading", path.string(),
                scanner.skipped_bytes());
    }
  }
  return {};
}

Result<std::vector<SpoolRecord>> SpoolImpl::Read(std::uint64_t after, std::size_t max_records,
                                                 std::size_t max_bytes,
                                                 std::chrono::milliseconds wait) {
  std::vector<SpoolRecord> out;
  if (max_records == 0) return out;
  const auto deadline = std::chrono::steady_clock::now() + wait;
  std::unique_lock lock(mu_);
  std::uint64_t tried_at = 0;  // next_seq_ of the last attempt that found nothing
  for (;;) {
    const std::uint64_t from = std::max(after, acked_);
    if (next_seq_ - 1 > from && tail_.Read(from, max_records, max_bytes, out)) {
      if (auto bound = RaiseSentBound(out.back().sequence); !bound) {
        return std::unexpected(bound.error());
      }
      return out;
    }
    if (next_seq_ - 1 > from && next_seq_ != tried_at) {
      std::vector<Segment> snapshot;
      for (const Segment& seg : segments_) {
        if (seg.records > 0 && seg.last_seq > from) snapshot.push_back(seg);
      }
      Cursor cursor = cursor_;
      lock.unlock();
      auto r = ReadSegments(snapshot, from, max_records, max_bytes, cursor, out);
      lock.lock();
      if (!r) return std::unexpected(r.error());
      if (!out.empty()) {
        if (auto bound = RaiseSentBound(out.back().sequence); !bound) {
          return std::unexpected(bound.error());
        }
        if (std::any_of(segments_.begin(), segments_.end(),
                        [&](const Segment& s) { return s.name == cursor.segment; })) {
          cursor_ = cursor;
        }
        return out;
      }
      tried_at = next_seq_;
      continue;
    }
    if (std::chrono::steady_clock::now() >= deadline) return out;
    cv_.wait_until(lock, deadline);
  }
}

// Called with mu_ held, before records up to `sequence` leave the spool: makes sure the `sent` file
// covers them (fdatasync'ed), so recovery never reuses a sequence the server may have stored.
Result<void> SpoolImpl::RaiseSentBound(std::uint64_t sequence) {
  sent_high_ = std::max(sent_high_, sequence);
  if (sequence <= sent_bound_) return {};
  const std::uint64_t bound = sequence + kSentBlock;
  if (auto w = WriteFileAtomic(options_.dir, kSentFile, std::to_string(bound) + "\n", true); !w)
    return w;
  sent_bound_ = bound;
  return {};
}

Result<void> SpoolImpl::Ack(std::uint64_t sequence) {
  std::lock_guard ack_lock(ack_mu_);
  bool frees_segment = false;
  {
    std::lock_guard lock(mu_);
    if (sequence <= acked_) return {};
    if (sequence >= next_seq_) {
      return Fail("spool: ack of sequence " + std::to_string(sequence) +
                  " which was never appended (next is " + std::to_string(next_seq_) + ")");
    }
    // As RemoveAcked decides: an older segment all acknowledged, or the current one once it is
    // big enough to be replaced. (A trickle's acks of the small current segment are not.)
    if (!segments_.empty()) {
      const Segment& front = segments_.front();
      frees_segment =
          front.last_seq <= sequence &&
          (segments_.size() > 1 ||
           front.bytes >= std::min<std::uint64_t>(options_.segment_bytes, kRotateAckedBytes));
    }
  }
  // The acked file only saves resending after a restart (the server deduplicates by sequence), so
  // it is written without fsync, and at most once a second unless a segment is about to go.
  const auto now = std::chrono::steady_clock::now();
  if (frees_segment || now - acked_written_at_ >= std::chrono::seconds(1)) {
    if (auto w = WriteFileAtomic(options_.dir, kAckedFile, std::to_string(sequence) + "\n", false);
        !w) {
      return w;
    }
    acked_written_ = sequence;
    acked_written_at_ = now;
  }
  std::lock_guard lock(mu_);
  acked_ = std::max(acked_, sequence);
  return RemoveAcked();
}

Result<void> SpoolImpl::RemoveAcked() {
  while (segments_.size() > 1 && segments_.front().last_seq <= acked_) {
    if (auto r = RemoveFront(); !r) return r;
  }
  // A fully acknowledged current segment is replaced only once it is worth a file operation;
  // rotating on every ack of a trickle of events would cost a create and unlink per batch.
  if (segments_.size() == 1 && segments_.back().records > 0 &&
      segments_.back().last_seq <= acked_ &&
      segments_.back().bytes >=
          std::min<std::uint64_t>(options_.segment_bytes, kRotateAckedBytes)) {
    // Fully acknowledged current segment: continue in a new one named by the next sequence.
    if (auto r = Rotate(); !r) return r;
    if (auto r = RemoveFront(); !r) return r;
  }
  return {};
}

Result<void> SpoolImpl::Sync() {
  std::shared_ptr<UniqueFd> current;
  std::vector<std::uint64_t> closed;
  bool dir_dirty = false;
  std::uint64_t next_seq = 0;
  {
    std::lock_guard lock(mu_);
    // Nothing written since the last Sync: no fdatasync (the agent's syncer asks twice a second).
    if (unsynced_.empty() && !dir_dirty_ && next_seq_ == synced_next_seq_) return {};
    current = current_fd_;
    closed.swap(unsynced_);
    dir_dirty = std::exchange(dir_dirty_, false);
    next_seq = next_seq_;
  }
  auto restore = [&] {
    std::lock_guard lock(mu_);
    unsynced_.insert(unsynced_.end(), closed.begin(), closed.end());
    dir_dirty_ = dir_dirty_ || dir_dirty;
  };
  for (std::uint64_t name : closed) {
    const auto path = SegmentPath(name);
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd && errno == ENOENT) continue;
    if (!fd || ::fdatasync(fd.get()) != 0) {
      int err = errno;
      restore();
      return Fail(ErrnoMessage("syncing", path, err));
    }
  }
  if (::fdatasync(current->get()) != 0) {
    int err = errno;
    restore();
    return Fail(ErrnoMessage("syncing", options_.dir, err));
  }
  if (dir_dirty) {
    if (auto r = SyncDir(options_.dir); !r) {
      restore();
      return r;
    }
  }
  std::lock_guard lock(mu_);
  synced_next_seq_ = std::max(synced_next_seq_, next_seq);
  return {};
}

SpoolStats SpoolImpl::Stats() const {
  std::lock_guard lock(mu_);
  return SpoolStats{.epoch = epoch_,
                    .next_sequence = next_seq_,
                    .acked_sequence = acked_,
                    .bytes = bytes_,
                    .segments = segments_.size(),
                    .dropped_records = dropped_,
                    .discarded_bytes = discarded_};
}

}  // namespace

Result<std::unique_ptr<Spool>> Spool::Open(const SpoolOptions& options) {
  if (options.dir.empty()) return Fail("spool: no directory given");
  if (options.segment_bytes == 0 || options.max_bytes == 0) {
    return Fail("spool: segment_bytes and max_bytes must be positive");
  }
  std::error_code ec;
  std::filesystem::create_directories(options.dir, ec);
  if (ec) return Fail("spool: creating " + options.dir.string() + ": " + ec.message());
  const auto lock_path = options.dir / std::string(kLockFile);
  UniqueFd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!lock) return Fail(ErrnoMessage("opening", lock_path, errno));
  if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return Fail("spool: " + options.dir.string() + " is in use by another spool instance");
    }
    return Fail(ErrnoMessage("locking", lock_path, errno));
  }
  auto spool = std::make_unique<SpoolImpl>(options, std::move(lock));
  if (auto r = spool->Recover(); !r) return std::unexpected(r.error());
  return std::unique_ptr<Spool>(std::move(spool));
}

}  // namespace vigil::agent
