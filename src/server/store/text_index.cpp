// Trigram index of distinct texts per partition: building, sealing into blocks, matching.
//
// Block formats (all numbers LEB128 varints):
//   kind 0, trigram -> ordinals: entries in trigram order, each
//     (trigram - previous trigram, first entry: - first_key) (count) (ordinal deltas: first
//     absolute)
//   kind 1, ordinal -> row offsets: one entry per ordinal from first_key on, each
//     (count) (offset deltas: first absolute)
// A block is closed at the first entry boundary past kBlockBytes.
#include "server/store/text_index.hpp"

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>

#include "server/store/varint.hpp"

namespace vigil::store::text_index {
namespace {

unsigned char Lower(unsigned char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<unsigned char>(c + ('a' - 'A')) : c;
}

// Whether `s` holds a byte in 'A'..'Z', eight bytes at a time (term adds check every value).
bool HasUpper(std::string_view s) {
  constexpr std::uint64_t kLow7 = 0x7f7f7f7f7f7f7f7full, kHigh = 0x8080808080808080ull;
  constexpr std::uint64_t kToA = 0x3f3f3f3f3f3f3f3full;    // 0x80 - 'A': high bit once >= 'A'
  constexpr std::uint64_t kPastZ = 0x2525252525252525ull;  // 0x80 - ('Z' + 1): ... once > 'Z'
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    const std::uint64_t low = w & kLow7;  // no byte carries into the next below
    if ((low + kToA) & ~(low + kPastZ) & ~w & kHigh) return true;
  }
  for (; i < s.size(); ++i)
    if (s[i] >= 'A' && s[i] <= 'Z') return true;
  return false;
}

// The first 16 bytes of `s` as two big-endian numbers (zeros past its end): comparing them orders
// strings as their bytes do, up to ties, which a full comparison settles.
std::pair<std::uint64_t, std::uint64_t> SortPrefix(std::string_view s) {
  unsigned char bytes[16] = {};
  std::memcpy(bytes, s.data(), std::min<std::size_t>(s.size(), 16));
  std::uint64_t hi = 0, lo = 0;
  for (int b = 0; b < 8; ++b) {
    hi = hi << 8 | bytes[b];
    lo = lo << 8 | bytes[8 + b];
  }
  return {hi, lo};
}

std::uint32_t Trigram(const char* p) {
  return static_cast<std::uint32_t>(Lower(static_cast<unsigned char>(p[0]))) << 16 |
         static_cast<std::uint32_t>(Lower(static_cast<unsigned char>(p[1]))) << 8 |
         Lower(static_cast<unsigned char>(p[2]));
}

// Reads a varint at `pos`; a truncated one reads as 0 and moves pos to the end (blocks are
// written by this file; a damaged one gives fewer candidates, never a crash).
std::uint64_t GetVarint(std::string_view in, std::size_t& pos) {
  std::uint64_t v = 0;
  if (ReadVarint(in, pos, v)) return v;
  pos = in.size();
  return 0;
}

void SortedTrigrams(std::string_view text, std::vector<std::uint32_t>& out) {
  out.clear();
  for (std::size_t i = 0; i + 3 <= text.size(); ++i) out.push_back(Trigram(text.data() + i));
  std::ranges::sort(out);
  out.erase(std::unique(out.begin(), out.end()), out.end());
}

// Counting sort of (key << 16 | offset) entries by key (< keys): key k's offsets are
// grouped[start[k] .. start[k + 1]), ascending. Rows arrive in offset order, except after a
// rolled-back transaction, whose offsets the next rows take again: such a group is sorted.
void GroupOffsetsByKey(const std::vector<std::uint64_t>& entries, std::size_t keys,
                       std::vector<std::uint32_t>& start, std::vector<std::uint16_t>& grouped) {
  start.assign(keys + 1, 0);
  for (std::uint64_t entry : entries) ++start[(entry >> 16) + 1];
  for (std::size_t k = 0; k < keys; ++k) start[k + 1] += start[k];
  grouped.resize(entries.size());
  std::vector<std::uint32_t> next(start.begin(), start.end() - 1);
  for (std::uint64_t entry : entries)
    grouped[next[entry >> 16]++] = static_cast<std::uint16_t>(entry);
  for (std::size_t k = 0; k < keys; ++k) {
    auto first = grouped.begin() + start[k], last = grouped.begin() + start[k + 1];
    if (!std::is_sorted(first, last)) std::sort(first, last);
  }
}

// (trigram << 32 | ordinal) entries sorted by trigram, stably (two LSD radix passes over the 24
// trigram bits): entries arrive in ordinal order, so each trigram's ordinals come out ascending,
// the order a full sort gives, in two linear passes instead of an O(n log n) sort of millions.
// (The buffers are not zeroed first: every slot is written by the pass that fills it.)
// The sort's two buffers, one pair for the process, kept from one seal to the next (allocated
// anew, their tens of MiB were page-faulted in at every seal; per thread, every thread that led a
// group commit would keep a pair). Seals take turns: SortLock() guards the buffers and the
// result, which is valid until the lock is released.
std::unique_lock<std::mutex> SortLock() {
  static std::mutex mu;
  return std::unique_lock(mu);
}
const std::uint64_t* SortedByTrigram(const std::vector<std::uint64_t>& entries,
                                     const std::unique_lock<std::mutex>&) {
  constexpr int kDigitBits = 12;
  constexpr std::size_t kBuckets = std::size_t{1} << kDigitBits;
  static std::unique_ptr<std::uint64_t[]> from, to;
  static std::size_t capacity = 0;
  if (capacity < entries.size()) {
    capacity = entries.size();
    from = std::make_unique_for_overwrite<std::uint64_t[]>(capacity);
    to = std::make_unique_for_overwrite<std::uint64_t[]>(capacity);
  }
  const std::uint64_t* source = entries.data();
  for (int shift = 32; shift < 56; shift += kDigitBits) {
    std::vector<std::size_t> next(kBuckets + 1, 0);
    for (std::size_t i = 0; i < entries.size(); ++i)
      ++next[((source[i] >> shift) & (kBuckets - 1)) + 1];
    for (std::size_t b = 0; b < kBuckets; ++b) next[b + 1] += next[b];
    for (std::size_t i = 0; i < entries.size(); ++i)
      to[next[(source[i] >> shift) & (kBuckets - 1)]++] = source[i];
    std::swap(from, to);
    source = from.get();
  }
  return from.get();
}

// The ordinals of every set's intersection, united (sorted, distinct).
std::vector<std::uint32_t> Unite(std::vector<std::vector<std::uint32_t>>& per_set) {
  std::vector<std::uint32_t> all;
  for (auto& s : per_set) all.insert(all.end(), s.begin(), s.end());
  std::ranges::sort(all);
  all.erase(std::unique(all.begin(), all.end()), all.end());
  return all;
}

}  // namespace

bool Indexed(const schema::FieldDef& field, schema::Category table) {
  if (!field.In(table)) return false;
  return field.type == schema::FieldType::Text || field.name == "dns.question.name";
}

bool TermIndexed(const schema::FieldDef& field, schema::Category table) {
  if (!field.In(table) ||
      (field.type != schema::FieldType::Keyword && field.type != schema::FieldType::Ip))
    return false;
  static constexpr std::string_view kFields[] = {
      "source.ip",        "destination.ip",    "process.hash.sha256",
      "file.hash.sha256", "dns.question.name", "file.name",
      "host.name",        "process.name",      "process.parent.name"};
  return std::ranges::find(kFields, field.name) != std::end(kFields);
}

TermQuery MakeTermQuery(const std::vector<std::string>& values, bool prefix) {
  TermQuery q;
  for (const auto& v : values) {
    std::string lower(v);
    for (char& c : lower) c = static_cast<char>(Lower(static_cast<unsigned char>(c)));
    (prefix ? q.prefixes : q.exact).push_back(std::move(lower));
  }
  std::ranges::sort(q.exact);
  q.exact.erase(std::unique(q.exact.begin(), q.exact.end()), q.exact.end());
  return q;
}

// ---------------------------------------------------------------- TermBuilder
//
// Term block format: entries in term order, each
//   (bytes shared with the previous term) (length of the rest) (the rest) (count)
//   (offset deltas: first absolute)
// the first entry of a block shares nothing.

void TermBuilder::Add(std::uint16_t offset, std::string_view value) {
  if (value.empty()) return;
  thread_local std::string lowered;
  std::string_view lower = value;  // most keys (ids, hashes, addresses) have no capital
  if (HasUpper(value)) {
    lowered.assign(value);
    for (char& c : lowered) c = static_cast<char>(Lower(static_cast<unsigned char>(c)));
    lower = lowered;
  }
  if (ordinal_offsets_.empty()) {
    ordinal_offsets_.reserve(kPartitionRows);
    previous_entry_.reserve(kPartitionRows);
  }
  bool inserted = false;
  // A batch is one host's: its host and process names repeat row after row.
  const std::uint32_t ordinal = !last_entry_.empty() && terms_.At(last_ordinal_) == lower
                                    ? last_ordinal_
                                    : terms_.Intern(lower, inserted);
  last_ordinal_ = ordinal;
  if (inserted) last_entry_.push_back(kNone);
  previous_entry_.push_back(last_entry_[ordinal]);
  last_entry_[ordinal] = static_cast<std::uint32_t>(ordinal_offsets_.size());
  ordinal_offsets_.push_back(std::uint64_t{ordinal} << 16 | offset);
}

namespace {
bool TermWanted(const TermQuery& q, std::string_view term) {
  if (std::ranges::binary_search(q.exact, term)) return true;
  return std::ranges::any_of(q.prefixes, [&](const std::string& p) { return term.starts_with(p); });
}
}  // namespace

void TermBuilder::Clear() {
  terms_.Clear();
  ordinal_offsets_.clear();
  previous_entry_.clear();
  last_entry_.clear();
}

void TermBuilder::Match(const TermQuery& query, std::vector<std::uint16_t>& offsets) const {
  if (query.prefixes.empty()) {  // each value's own rows, newest first
    const std::size_t before = offsets.size();
    for (const auto& term : query.exact)
      if (auto ordinal = terms_.Find(term))
        for (std::uint32_t e = last_entry_[*ordinal]; e != kNone; e = previous_entry_[e])
          offsets.push_back(static_cast<std::uint16_t>(ordinal_offsets_[e]));
    const auto first = offsets.begin() + static_cast<std::ptrdiff_t>(before);
    std::sort(first, offsets.end());
    offsets.erase(std::unique(first, offsets.end()), offsets.end());  // offsets a rollback reused
    return;
  }
  std::vector<bool> wanted(terms_.size());
  bool any = false;
  for (std::uint32_t o = 0; o < terms_.size(); ++o)
    if (TermWanted(query, terms_.At(o))) wanted[o] = any = true;
  if (!any) return;
  for (std::uint64_t entry : ordinal_offsets_)  // in offset order already
    if (wanted[entry >> 16]) offsets.push_back(static_cast<std::uint16_t>(entry));
}

std::vector<TermBlock> TermBuilder::Seal(std::size_t block_bytes) const {
  // Sorted on their first 16 bytes as numbers, in place, then on the whole terms where those tie
  // (time-prefixed entity ids share their first bytes within a partition).
  struct Keyed {
    std::uint64_t hi, lo;
    std::uint32_t ordinal;
  };
  std::vector<Keyed> keyed(terms_.size());
  for (std::uint32_t o = 0; o < keyed.size(); ++o) {
    const auto [hi, lo] = SortPrefix(terms_.At(o));
    keyed[o] = Keyed{hi, lo, o};
  }
  std::ranges::sort(keyed, [&](const Keyed& a, const Keyed& b) {
    if (a.hi != b.hi) return a.hi < b.hi;
    if (a.lo != b.lo) return a.lo < b.lo;
    return terms_.At(a.ordinal) < terms_.At(b.ordinal);
  });
  std::vector<std::uint32_t> order(keyed.size());
  for (std::size_t i = 0; i < keyed.size(); ++i) order[i] = keyed[i].ordinal;
  std::vector<std::uint32_t> start;
  std::vector<std::uint16_t> grouped;
  GroupOffsetsByKey(ordinal_offsets_, terms_.size(), start, grouped);
  std::vector<TermBlock> blocks;
  TermBlock block;
  std::string_view previous;
  for (std::uint32_t ordinal : order) {
    std::string_view term = terms_.At(ordinal);
    if (block.data.size() >= block_bytes) blocks.push_back(std::exchange(block, TermBlock{}));
    std::size_t shared = 0;
    if (block.data.empty()) {
      block.first_term = term;
    } else {
      while (shared < previous.size() && shared < term.size() && previous[shared] == term[shared])
        ++shared;
    }
    PutVarint(block.data, shared);
    PutVarint(block.data, term.size() - shared);
    block.data.append(term.substr(shared));
    PutVarint(block.data, start[ordinal + 1] - start[ordinal]);
    std::uint32_t last = 0;
    for (std::uint32_t k = start[ordinal]; k < start[ordinal + 1]; ++k) {
      PutVarint(block.data, grouped[k] - last);
      last = grouped[k];
    }
    previous = term;
  }
  if (!block.data.empty()) blocks.push_back(std::move(block));
  return blocks;
}

namespace {
// A hash of the bytes that stays the same across builds (filters are stored).
std::uint64_t StableHash(std::string_view s) {
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  h ^= h >> 33;  // finish (splitmix64's): FNV's high bits alone mix poorly
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}
constexpr int kFilterProbes = 7;  // with 10 bits per term: ~1 % false positives
}  // namespace

std::string TermFilter(const std::vector<std::string_view>& terms) {
  const std::size_t bits = std::max<std::size_t>(64, terms.size() * 10);
  std::string filter(1 + (bits + 7) / 8, '\0');
  filter[0] = static_cast<char>(kFilterProbes);
  const std::uint64_t m = (filter.size() - 1) * 8;
  for (std::string_view term : terms) {
    const std::uint64_t h = StableHash(term), step = (h >> 32) | 1;
    for (int i = 0; i < kFilterProbes; ++i) {
      const std::uint64_t bit = (h + static_cast<std::uint64_t>(i) * step) % m;
      filter[1 + bit / 8] = static_cast<char>(filter[1 + bit / 8] | (1 << (bit % 8)));
    }
  }
  return filter;
}

bool FilterMayHold(std::string_view filter, std::string_view term) {
  if (filter.size() < 2) return true;
  const int probes = static_cast<unsigned char>(filter[0]);
  const std::uint64_t m = (filter.size() - 1) * 8;
  const std::uint64_t h = StableHash(term), step = (h >> 32) | 1;
  for (int i = 0; i < probes; ++i) {
    const std::uint64_t bit = (h + static_cast<std::uint64_t>(i) * step) % m;
    if (!(static_cast<unsigned char>(filter[1 + bit / 8]) & (1 << (bit % 8)))) return false;
  }
  return true;
}

std::string TermBuilder::Filter() const {
  std::vector<std::string_view> terms(terms_.size());
  for (std::uint32_t o = 0; o < terms.size(); ++o) terms[o] = terms_.At(o);
  return TermFilter(terms);
}

void MatchSealedTerms(const TermQuery& query, const TermBlockLookup& lookup,
                      std::vector<std::uint16_t>& offsets) {
  std::size_t before = offsets.size();
  // Walks the blocks from the one that can hold `from`, handing each (term, offsets) to `visit`
  // until it returns false. `exact`: only `from` itself is wanted, which only the block at or
  // before it can hold (a block's first term is its smallest): no other block is read.
  auto walk = [&](std::string_view from, bool exact, const auto& visit) {
    auto block = lookup(from, false);
    if (!block && !exact) block = lookup(from, true);  // every term is past `from`
    std::string term;
    std::vector<std::uint16_t> rows;
    while (block) {
      std::string_view data = block->data;
      term.clear();
      for (std::size_t pos = 0; pos < data.size();) {
        std::size_t shared = GetVarint(data, pos);
        std::size_t rest = GetVarint(data, pos);
        if (shared > term.size() || rest > data.size() - pos) return;  // damaged: stop
        term.resize(shared);
        term.append(data.substr(pos, rest));
        pos += rest;
        std::uint64_t count = GetVarint(data, pos);
        rows.clear();
        std::uint32_t offset = 0;
        for (std::uint64_t k = 0; k < count && pos < data.size(); ++k)
          rows.push_back(static_cast<std::uint16_t>(
              offset += static_cast<std::uint32_t>(GetVarint(data, pos))));
        if (!visit(std::string_view(term), rows)) return;
      }
      if (exact) return;
      block = lookup(block->first_term, true);
    }
  };
  for (const auto& value : query.exact)
    walk(value, true, [&](std::string_view term, const std::vector<std::uint16_t>& rows) {
      if (term == value) offsets.insert(offsets.end(), rows.begin(), rows.end());
      return term < value;
    });
  for (const auto& prefix : query.prefixes)
    walk(prefix, false, [&](std::string_view term, const std::vector<std::uint16_t>& rows) {
      if (term.starts_with(prefix)) offsets.insert(offsets.end(), rows.begin(), rows.end());
      return term < prefix || term.starts_with(prefix);
    });
  std::sort(offsets.begin() + static_cast<std::ptrdiff_t>(before), offsets.end());
  offsets.erase(std::unique(offsets.begin() + static_cast<std::ptrdiff_t>(before), offsets.end()),
                offsets.end());
}

std::optional<TrigramSets> PatternTrigrams(const std::vector<std::string>& patterns) {
  TrigramSets sets;
  std::vector<std::uint32_t> run_trigrams;
  for (const auto& pattern : patterns) {
    std::vector<std::uint32_t> set;
    std::size_t start = 0;
    while (start <= pattern.size()) {
      std::size_t end = pattern.find_first_of("*?", start);
      if (end == std::string::npos) end = pattern.size();
      SortedTrigrams(std::string_view(pattern).substr(start, end - start), run_trigrams);
      set.insert(set.end(), run_trigrams.begin(), run_trigrams.end());
      start = end + 1;
    }
    std::ranges::sort(set);
    set.erase(std::unique(set.begin(), set.end()), set.end());
    if (set.empty()) return std::nullopt;
    sets.push_back(std::move(set));
  }
  if (sets.empty()) return std::nullopt;
  return sets;
}

// ---------------------------------------------------------------- Dictionary

// A slot holds the ordinal + 1 (0: empty) under the high half of the string's hash, so a probe
// compares strings only when that half matches.
std::size_t Dictionary::Slot(std::string_view s, std::uint64_t hash) const {
  const std::size_t mask = slots_.size() - 1;
  const std::uint64_t tag = hash & ~std::uint64_t{0xffffffff};
  for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
    const std::uint64_t slot = slots_[i];
    if (slot == 0 ||
        ((slot & ~std::uint64_t{0xffffffff}) == tag && strings_[(slot & 0xffffffff) - 1] == s))
      return i;
  }
}

void Dictionary::Grow() {
  std::vector<std::uint64_t> old = std::move(slots_);
  slots_.assign(old.empty() ? 1024 : old.size() * 2, 0);
  const std::size_t mask = slots_.size() - 1;
  for (std::uint64_t slot : old) {
    if (slot == 0) continue;
    std::size_t i = hashes_[(slot & 0xffffffff) - 1] & mask;
    while (slots_[i] != 0) i = (i + 1) & mask;
    slots_[i] = slot;
  }
}

std::uint32_t Dictionary::Intern(std::string_view s, bool& inserted) {
  if ((strings_.size() + 1) * 2 > slots_.size()) Grow();  // load factor <= 1/2
  const std::uint64_t hash = std::hash<std::string_view>{}(s);
  std::size_t slot = Slot(s, hash);
  if (slots_[slot] != 0) {
    inserted = false;
    return static_cast<std::uint32_t>(slots_[slot] & 0xffffffff) - 1;
  }
  if (chunk_used_ + s.size() > chunk_size_) {
    chunk_size_ = std::max<std::size_t>(64 * 1024, s.size());
    chunks_.push_back(std::make_unique_for_overwrite<char[]>(chunk_size_));
    chunk_used_ = 0;
  }
  char* copy = chunks_.back().get() + chunk_used_;
  std::copy(s.begin(), s.end(), copy);
  chunk_used_ += s.size();
  auto ordinal = static_cast<std::uint32_t>(strings_.size());
  strings_.emplace_back(copy, s.size());
  hashes_.push_back(hash);
  slots_[slot] = (hash & ~std::uint64_t{0xffffffff}) | (ordinal + 1);
  inserted = true;
  return ordinal;
}

void Dictionary::Clear() {
  chunks_.clear();  // 64 KiB chunks: malloc hands them back without new page faults
  chunk_used_ = chunk_size_ = 0;
  strings_.clear();
  hashes_.clear();
  std::ranges::fill(slots_, 0);
}

std::optional<std::uint32_t> Dictionary::Find(std::string_view s) const {
  if (slots_.empty()) return std::nullopt;
  const std::uint64_t slot = slots_[Slot(s, std::hash<std::string_view>{}(s))];
  if (slot == 0) return std::nullopt;
  return static_cast<std::uint32_t>(slot & 0xffffffff) - 1;
}

// ---------------------------------------------------------------- PartitionBuilder

void PartitionBuilder::Add(std::uint16_t offset, std::string_view text) {
  if (text.size() < 3) return;     // no trigram
  if (ordinal_offsets_.empty()) {  // one row per offset at most: no regrowth on the hot path
    ordinal_offsets_.reserve(kPartitionRows);
    // Room for 64 new trigrams per row (a partition of distinct command lines needs ~50): each
    // regrowth copied tens of MiB. Address space only: untouched pages are never resident.
    trigram_ordinals_.reserve(kPartitionRows * 64);
  }
  bool inserted = false;
  const std::uint32_t ordinal = texts_.Intern(text, inserted);
  if (inserted)  // every trigram, repeats too: Seal drops them after its sort (a sort per text
                 // cost more)
    for (std::size_t i = 0; i + 3 <= text.size(); ++i)
      trigram_ordinals_.push_back(static_cast<std::uint64_t>(Trigram(text.data() + i)) << 32 |
                                  ordinal);
  ordinal_offsets_.push_back(std::uint64_t{ordinal} << 16 | offset);
}

void PartitionBuilder::Clear() {
  texts_.Clear();
  trigram_ordinals_.clear();
  ordinal_offsets_.clear();
}

void PartitionBuilder::Match(const TrigramSets& sets, std::vector<std::uint16_t>& offsets) const {
  // A text's trigrams are contiguous (in text order, repeats included): per text and set, which
  // of the set's trigrams it has.
  std::vector<bool> matched(texts_.size());
  std::vector<std::vector<bool>> seen(sets.size());
  auto finish = [&](std::uint32_t ordinal) {
    for (std::size_t s = 0; s < sets.size(); ++s) {
      if (std::ranges::count(seen[s], true) == static_cast<std::ptrdiff_t>(sets[s].size()))
        matched[ordinal] = true;
      seen[s].assign(sets[s].size(), false);
    }
  };
  for (std::size_t s = 0; s < sets.size(); ++s) seen[s].assign(sets[s].size(), false);
  for (std::size_t i = 0; i < trigram_ordinals_.size(); ++i) {
    const std::uint64_t entry = trigram_ordinals_[i];
    const auto trigram = static_cast<std::uint32_t>(entry >> 32);
    const auto ordinal = static_cast<std::uint32_t>(entry);
    for (std::size_t s = 0; s < sets.size(); ++s)
      if (auto at = std::ranges::lower_bound(sets[s], trigram);
          at != sets[s].end() && *at == trigram)
        seen[s][static_cast<std::size_t>(at - sets[s].begin())] = true;
    if (i + 1 == trigram_ordinals_.size() ||
        static_cast<std::uint32_t>(trigram_ordinals_[i + 1]) != ordinal)
      finish(ordinal);
  }
  std::size_t before = offsets.size();
  for (std::uint64_t entry : ordinal_offsets_)
    if (matched[entry >> 16]) offsets.push_back(static_cast<std::uint16_t>(entry));
  std::sort(offsets.begin() + static_cast<std::ptrdiff_t>(before), offsets.end());
}

std::vector<Block> PartitionBuilder::Seal() const {
  std::vector<Block> blocks;
  const auto sort_lock = SortLock();
  const std::uint64_t* trigrams = SortedByTrigram(trigram_ordinals_, sort_lock);
  const std::size_t count = trigram_ordinals_.size();
  Block block{0, 0, {}};
  std::uint32_t previous = 0;
  std::vector<std::uint32_t> ordinals;
  for (std::size_t i = 0; i < count;) {
    auto trigram = static_cast<std::uint32_t>(trigrams[i] >> 32);
    std::size_t end = i;
    ordinals.clear();
    for (; end < count && trigrams[end] >> 32 == trigram; ++end)  // ascending, repeats adjacent
      if (end == i || trigrams[end] != trigrams[end - 1])
        ordinals.push_back(static_cast<std::uint32_t>(trigrams[end]));
    if (block.data.size() >= kBlockBytes) blocks.push_back(std::exchange(block, Block{0, 0, {}}));
    if (block.data.empty()) block.first_key = previous = trigram;
    PutVarint(block.data, trigram - previous);
    PutVarint(block.data, ordinals.size());
    std::uint32_t last = 0;
    for (std::uint32_t ordinal : ordinals) {
      PutVarint(block.data, ordinal - last);
      last = ordinal;
    }
    previous = trigram;
    i = end;
  }
  if (!block.data.empty()) blocks.push_back(std::move(block));

  std::vector<std::uint32_t> start;
  std::vector<std::uint16_t> grouped;
  GroupOffsetsByKey(ordinal_offsets_, texts_.size(), start, grouped);
  block = Block{1, 0, {}};
  for (std::uint32_t ordinal = 0; ordinal < texts_.size(); ++ordinal) {
    if (block.data.size() >= kBlockBytes) blocks.push_back(std::exchange(block, Block{1, 0, {}}));
    if (block.data.empty()) block.first_key = ordinal;
    PutVarint(block.data, start[ordinal + 1] - start[ordinal]);
    std::uint32_t last = 0;
    for (std::uint32_t k = start[ordinal]; k < start[ordinal + 1]; ++k) {
      PutVarint(block.data, grouped[k] - last);
      last = grouped[k];
    }
  }
  if (!block.data.empty()) blocks.push_back(std::move(block));
  return blocks;
}

// ---------------------------------------------------------------- sealed partitions

void MatchSealed(const TrigramSets& sets, const BlockLookup& lookup,
                 std::vector<std::uint16_t>& offsets) {
  // trigram -> ordinals, from the kind-0 block holding it (one indexed seek each)
  auto ordinals_of = [&](std::uint32_t trigram) -> std::vector<std::uint32_t> {
    auto fetched = lookup(0, trigram);
    if (!fetched) return {};
    const Block* block = &*fetched;
    std::string_view data = block->data;
    std::size_t pos = 0;
    std::uint64_t current = static_cast<std::uint64_t>(block->first_key);
    bool first = true;
    while (pos < data.size()) {
      std::uint64_t delta = GetVarint(data, pos);
      current = first ? static_cast<std::uint64_t>(block->first_key) + delta : current + delta;
      first = false;
      std::uint64_t count = GetVarint(data, pos);
      if (current > trigram) return {};
      if (current == trigram) {
        std::vector<std::uint32_t> out;
        out.reserve(count);
        std::uint32_t ordinal = 0;
        for (std::uint64_t k = 0; k < count && pos < data.size(); ++k)
          out.push_back(ordinal += static_cast<std::uint32_t>(GetVarint(data, pos)));
        return out;
      }
      for (std::uint64_t k = 0; k < count && pos < data.size(); ++k) GetVarint(data, pos);
    }
    return {};
  };

  std::vector<std::vector<std::uint32_t>> per_set;
  for (const auto& set : sets) {
    std::vector<std::uint32_t> common;
    bool first = true;
    for (std::uint32_t trigram : set) {
      auto ordinals = ordinals_of(trigram);
      if (first) {
        common = std::move(ordinals);
        first = false;
      } else {
        std::vector<std::uint32_t> both;
        std::ranges::set_intersection(common, ordinals, std::back_inserter(both));
        common = std::move(both);
      }
      if (common.empty()) break;
    }
    per_set.push_back(std::move(common));
  }
  std::vector<std::uint32_t> candidates = Unite(per_set);

  // ordinal -> offsets; candidates ascend, so each kind-1 block is decoded once
  std::optional<Block> block;
  std::vector<std::size_t> starts;  // per ordinal of the block: where its offsets begin in `all`
  std::vector<std::uint16_t> all;
  std::size_t before = offsets.size();
  for (std::uint32_t ordinal : candidates) {
    auto in_block = [&] { return static_cast<std::size_t>(ordinal - block->first_key); };
    bool covered = block && ordinal >= block->first_key && in_block() + 1 < starts.size();
    if (!covered) {
      block = lookup(1, ordinal);
      if (!block || ordinal < block->first_key) continue;
      starts.assign(1, 0);
      all.clear();
      std::string_view data = block->data;
      for (std::size_t pos = 0; pos < data.size();) {
        std::uint64_t count = GetVarint(data, pos);
        std::uint32_t offset = 0;
        for (std::uint64_t k = 0; k < count && pos < data.size(); ++k)
          all.push_back(static_cast<std::uint16_t>(
              offset += static_cast<std::uint32_t>(GetVarint(data, pos))));
        starts.push_back(all.size());
      }
      if (in_block() + 1 >= starts.size()) continue;
    }
    std::size_t i = in_block();
    offsets.insert(offsets.end(), all.begin() + static_cast<std::ptrdiff_t>(starts[i]),
                   all.begin() + static_cast<std::ptrdiff_t>(starts[i + 1]));
  }
  std::sort(offsets.begin() + static_cast<std::ptrdiff_t>(before), offsets.end());
  offsets.erase(std::unique(offsets.begin() + static_cast<std::ptrdiff_t>(before), offsets.end()),
                offsets.end());
}

// ---------------------------------------------------------------- LiveTextIndex

void LiveTextIndex::Bind(Sink& sink, const std::string& table, std::int64_t part,
                         const std::vector<std::string>& text_columns,
                         const std::vector<std::string>& term_columns) {
  auto& parts = tables_[table];
  auto it = parts.find(part);
  if (it == parts.end()) {
    Part fresh;
    // The builders of the partition dropped last (sealed by a committed transaction), cleared,
    // take the new rows without page-faulting fresh memory (10 % of the postings' time).
    if (auto spare = spares_.find(table); spare != spares_.end()) {
      fresh = std::move(spare->second);
      spares_.erase(spare);
      for (auto& [column, builder] : fresh.texts) builder.Clear();
      for (auto& [column, builder] : fresh.terms) builder.Clear();
    }
    it = parts.emplace(part, std::move(fresh)).first;
  }
  Part& p = it->second;
  sink.part = part;
  sink.texts.clear();
  sink.terms.clear();
  for (const auto& column : text_columns) sink.texts.push_back(&p.texts[column]);
  for (const auto& column : term_columns) sink.terms.push_back(&p.terms[column]);
}

const LiveTextIndex::Part* LiveTextIndex::Find(const std::string& table, std::int64_t part) const {
  auto t = tables_.find(table);
  if (t == tables_.end()) return nullptr;
  auto p = t->second.find(part);
  return p == t->second.end() ? nullptr : &p->second;
}

bool LiveTextIndex::Match(const std::string& table, const std::string& column, std::int64_t part,
                          const TrigramSets& sets, std::vector<std::uint16_t>& offsets) const {
  std::shared_lock lock(mu_);
  const Part* p = Find(table, part);
  if (!p) return false;
  if (auto c = p->texts.find(column); c != p->texts.end()) c->second.Match(sets, offsets);
  return true;
}

bool LiveTextIndex::MatchTerms(const std::string& table, const std::string& column,
                               std::int64_t part, const TermQuery& query,
                               std::vector<std::uint16_t>& offsets) const {
  std::shared_lock lock(mu_);
  const Part* p = Find(table, part);
  if (!p) return false;
  if (auto c = p->terms.find(column); c != p->terms.end()) c->second.Match(query, offsets);
  return true;
}

std::vector<Block> LiveTextIndex::Seal(const std::string& table, const std::string& column,
                                       std::int64_t part) const {
  std::shared_lock lock(mu_);
  const Part* p = Find(table, part);
  if (!p) return {};
  auto c = p->texts.find(column);
  return c == p->texts.end() ? std::vector<Block>{} : c->second.Seal();
}

std::vector<TermBlock> LiveTextIndex::SealTerms(const std::string& table, const std::string& column,
                                                std::int64_t part, std::size_t block_bytes) const {
  std::shared_lock lock(mu_);
  const Part* p = Find(table, part);
  if (!p) return {};
  auto c = p->terms.find(column);
  return c == p->terms.end() ? std::vector<TermBlock>{} : c->second.Seal(block_bytes);
}

std::string LiveTextIndex::TermsFilter(const std::string& table, const std::string& column,
                                       std::int64_t part) const {
  std::shared_lock lock(mu_);
  const Part* p = Find(table, part);
  if (!p) return {};
  auto c = p->terms.find(column);
  return c == p->terms.end() ? std::string() : c->second.Filter();
}

bool LiveTextIndex::Holds(const std::string& table, std::int64_t part) const {
  std::shared_lock lock(mu_);
  return Find(table, part) != nullptr;
}

void LiveTextIndex::DropBelow(const std::string& table, std::int64_t part) {
  std::unique_lock lock(mu_);
  auto t = tables_.find(table);
  if (t == tables_.end()) return;
  const auto end = t->second.lower_bound(part);
  if (end == t->second.begin()) return;
  spares_[table] = std::move(std::prev(end)->second);  // for the table's next partition
  t->second.erase(t->second.begin(), end);
}

namespace {
std::mutex registry_mu;
std::map<std::string, std::weak_ptr<LiveTextIndex>, std::less<>>& Registry() {
  static std::map<std::string, std::weak_ptr<LiveTextIndex>, std::less<>> registry;
  return registry;
}
}  // namespace

void PublishLive(const std::string& path, const std::shared_ptr<LiveTextIndex>& live) {
  std::lock_guard lock(registry_mu);
  auto& registry = Registry();
  std::erase_if(registry, [](const auto& entry) { return entry.second.expired(); });
  registry[path] = live;
}

std::shared_ptr<LiveTextIndex> FindLive(const std::string& path) {
  std::lock_guard lock(registry_mu);
  auto it = Registry().find(path);
  return it == Registry().end() ? nullptr : it->second.lock();
}

}  // namespace vigil::store::text_index
