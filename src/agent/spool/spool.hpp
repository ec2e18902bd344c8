// The agent's durable outbox: append-only segment files of CRC-protected records, each with a
// sequence number. Bounded in bytes (oldest segments dropped and counted when full); survives
// restarts and kill -9; a torn or corrupt tail is cut off at start and its size reported. Records
// are deleted only after the server acknowledged them. See docs/spool.md.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace vigil::agent {

struct SpoolOptions {
  std::filesystem::path dir;
  std::uint64_t max_bytes = 1ull << 30;       // bound on all segments together
  std::uint64_t segment_bytes = 16ull << 20;  // a segment is closed when it reaches this size
};

struct SpoolRecord {
  std::uint64_t sequence = 0;
  std::string payload;
};

struct SpoolStats {
  std::uint64_t epoch = 0;
  std::uint64_t next_sequence = 1;   // sequence the next Append gets
  std::uint64_t acked_sequence = 0;  // everything <= this was acknowledged
  std::uint64_t bytes = 0;           // on disk now
  std::uint64_t segments = 0;
  std::uint64_t dropped_records = 0;  // lost to the size bound, over the spool's life
  std::uint64_t discarded_bytes = 0;  // damaged bytes cut off when the spool was opened
};

class Spool {
 public:
  // Opens (or creates) the spool in options.dir, recovering every intact record.
  static Result<std::unique_ptr<Spool>> Open(const SpoolOptions& options);
  virtual ~Spool() = default;

  // Appends one record and returns its sequence. Thread-safe.
  Result<std::uint64_t> Append(std::string_view payload) { return AppendBatch({&payload, 1}); }
  // Appends records with consecutive sequences, written together (one write per segment they
  // land in), and returns the last one's sequence. On an error none of them is appended, except
  // those in segments filled before the failing write (their sequences stay valid). Thread-safe.
  virtual Result<std::uint64_t> AppendBatch(std::span<const std::string_view> payloads) = 0;
  // Records with sequence > after, oldest first, at most max_records and about max_bytes. Waits up
  // to `wait` for data when there is none. Thread-safe.
  virtual Result<std::vector<SpoolRecord>> Read(std::uint64_t after, std::size_t max_records,
                                                std::size_t max_bytes,
                                                std::chrono::milliseconds wait) = 0;
  // Everything <= sequence is acknowledged and may be deleted (whole segments are removed).
  virtual Result<void> Ack(std::uint64_t sequence) = 0;
  // Forces written records to stable storage (fdatasync).
  virtual Result<void> Sync() = 0;
  virtual SpoolStats Stats() const = 0;
};

}  // namespace vigil::agent
