// Enrichment, once per event after the source and before the spool: host and agent ids, process
// entity ids (one per process lifetime), parent attribution from a process table, the executable's
// SHA-256 (cached per file version) and user/group names. Bounded in memory; never throws.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "common/host_info.hpp"
#include "common/schema.hpp"

namespace vigil::agent {

struct EnricherOptions {
  HostInfo host;
  std::string agent_id;
  std::size_t max_processes = 32768;
  std::size_t hash_cache_entries = 8192;
};

struct EnricherStats {
  std::uint64_t events = 0;
  std::size_t processes = 0;            // entries in the process table
  std::uint64_t process_evictions = 0;  // table entries dropped to stay within max_processes
  std::uint64_t proc_lookups = 0;       // /proc reads for processes missing from the table
  std::uint64_t hash_hits = 0;
  std::uint64_t hash_misses = 0;
  std::uint64_t hash_errors = 0;
  std::size_t hash_entries = 0;
  std::uint64_t hash_evictions = 0;
  std::uint64_t errors = 0;  // unexpected failures (the event passed through as it was)
};

class HashCache;

class Enricher {
 public:
  explicit Enricher(EnricherOptions options);
  ~Enricher();
  Enricher(const Enricher&) = delete;
  Enricher& operator=(const Enricher&) = delete;

  // Called by one thread (the pipeline), once per event.
  void Enrich(v1::Event& e);
  // Safe to call from any thread.
  EnricherStats Stats() const;
  // The executable hash cache, for reuse (e.g. by the response module).
  HashCache& Hashes();
  // pid and start ticks of a process in the table by entity id. Same thread rules as Enrich.
  std::optional<std::pair<std::int64_t, std::uint64_t>> FindEntity(const std::string& entity_id);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vigil::agent
