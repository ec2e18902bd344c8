// The live engine's state as bytes (Engine::SaveState / RestoreState): what a restarted server
// needs to continue partial sequences and samples, relationships and pipes where it stopped. A
// little-endian, length-prefixed format with a version tag; events are their protobuf encoding.
#include <map>

#include "detect/engine.hpp"

namespace vigil::detect {
namespace {

constexpr std::string_view kMagic = "vigil-detect-state-1";

class Writer {
 public:
  void U64(std::uint64_t v) {
    char b[8];
    for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
    out_.append(b, 8);
  }
  void I64(std::int64_t v) { U64(static_cast<std::uint64_t>(v)); }
  void Str(std::string_view s) {
    U64(s.size());
    out_.append(s);
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool U64(std::uint64_t& v) {
    if (in_.size() < 8) return false;
    v = 0;
    for (int i = 0; i < 8; ++i) v |= std::uint64_t{static_cast<unsigned char>(in_[i])} << (8 * i);
    in_.remove_prefix(8);
    return true;
  }
  bool I64(std::int64_t& v) {
    std::uint64_t u = 0;
    if (!U64(u)) return false;
    v = static_cast<std::int64_t>(u);
    return true;
  }
  bool Str(std::string& s) {
    std::uint64_t n = 0;
    if (!U64(n) || n > in_.size()) return false;
    s.assign(in_.substr(0, n));
    in_.remove_prefix(n);
    return true;
  }
  // A count that cannot exceed what is left (each item takes at least 8 bytes).
  bool Count(std::uint64_t& n) { return U64(n) && n <= in_.size() / 8; }
  bool AtEnd() const { return in_.empty(); }

 private:
  std::string_view in_;
};

}  // namespace

std::string Engine::SaveState() const {
  Writer w;
  w.Str(kMagic);
  w.U64(seen_);
  w.U64(lineage_.size());
  for (const auto& [host, lineage] : lineage_) {
    w.Str(host);
    w.U64(lineage.size());
    for (const auto& [entity, e] : lineage) {
      w.Str(entity);
      w.Str(e.parent);
      w.I64(e.seen);
      w.I64(e.exited);
    }
  }
  auto set = [&](const BoundedSet& s) {
    w.U64(s.order.size());
    for (const auto& item : s.order) w.Str(item);
  };
  w.U64(rules_.size());
  for (std::size_t i = 0; i < rules_.size(); ++i) {
    const RuleState& st = state_[i];
    w.Str(rules_[i].id);
    w.U64(rules_[i].fingerprint);
    w.U64(st.order.size());
    for (const auto& key : st.order) {  // oldest first, as the eviction order
      const KeyState& k = st.keys.at(key);
      w.Str(key);
      w.U64(k.stages.size());
      for (const auto& slot : k.stages) {
        w.U64(slot ? slot->events.size() : 0);
        if (!slot) continue;
        w.I64(slot->start);
        for (const auto& e : slot->events) w.Str(e.SerializeAsString());
      }
    }
    set(st.done);
    w.U64(st.related.size());
    for (const auto& r : st.related) set(r);
    w.U64(st.heads.size());
    for (auto h : st.heads) w.I64(h);
    w.U64(st.uniques.size());
    for (const auto& u : st.uniques) set(u);
  }
  return w.Take();
}

Result<void> Engine::RestoreState(std::string_view bytes) {
  for (std::size_t i = 0; i < rules_.size(); ++i) ResetState(i);
  lineage_.clear();
  auto fail = [&](std::string why) -> Result<void> {
    for (std::size_t i = 0; i < rules_.size(); ++i) ResetState(i);
    lineage_.clear();
    Recount();
    return Fail("detection state: " + why);
  };
  Reader r(bytes);
  std::string magic;
  if (!r.Str(magic) || magic != kMagic)
    return fail("not a saved engine state (or another version)");
  std::uint64_t hosts = 0;
  if (!r.U64(seen_) || !r.Count(hosts)) return fail("truncated");
  for (std::uint64_t h = 0; h < hosts; ++h) {
    std::string host;
    std::uint64_t n = 0;
    if (!r.Str(host) || !r.Count(n)) return fail("truncated lineage");
    Lineage& lineage = lineage_[host];
    for (std::uint64_t i = 0; i < n; ++i) {
      std::string entity;
      LineageEntry e;
      if (!r.Str(entity) || !r.Str(e.parent) || !r.I64(e.seen) || !r.I64(e.exited))
        return fail("truncated lineage");
      lineage[entity] = std::move(e);
    }
  }
  if (!lineage_used_) lineage_.clear();
  std::map<std::pair<std::string, std::uint64_t>, std::size_t> index;
  for (std::size_t i = 0; i < rules_.size(); ++i) index[{rules_[i].id, rules_[i].fingerprint}] = i;
  auto set = [&](BoundedSet* s) {
    std::uint64_t n = 0;
    if (!r.Count(n)) return false;
    for (std::uint64_t i = 0; i < n; ++i) {
      std::string item;
      if (!r.Str(item)) return false;
      if (s && s->items.insert(item).second) s->order.push_back(std::move(item));
    }
    return true;
  };
  std::uint64_t nrules = 0;
  if (!r.Count(nrules)) return fail("truncated");
  for (std::uint64_t ri = 0; ri < nrules; ++ri) {
    std::string id;
    std::uint64_t fingerprint = 0, nkeys = 0;
    if (!r.Str(id) || !r.U64(fingerprint) || !r.Count(nkeys)) return fail("truncated rule");
    // A rule no longer loaded (or changed) is read past: its state is dropped.
    auto found = index.find({id, fingerprint});
    const LiveRule* rule = found == index.end() ? nullptr : &rules_[found->second];
    RuleState scratch;
    RuleState& st = rule ? state_[found->second] : scratch;
    for (std::uint64_t k = 0; k < nkeys; ++k) {
      std::string key;
      std::uint64_t stages = 0;
      if (!r.Str(key) || !r.Count(stages)) return fail("truncated sequence state");
      if (rule && stages != rule->stages) return fail("rule " + id + ": stage count differs");
      std::vector<std::optional<Partial>> slots(stages);
      for (auto& slot : slots) {
        std::uint64_t events = 0;
        if (!r.Count(events)) return fail("truncated sequence state");
        if (events == 0) continue;
        slot.emplace();
        if (!r.I64(slot->start)) return fail("truncated sequence state");
        for (std::uint64_t e = 0; e < events; ++e) {
          std::string bytes_of;
          if (!r.Str(bytes_of) || !slot->events.emplace_back().ParseFromString(bytes_of))
            return fail("bad event in sequence state");
        }
      }
      if (!rule) continue;
      st.order.push_back(key);
      auto& ks = st.keys[key];
      ks.lru = std::prev(st.order.end());
      for (const auto& s : slots) st.partials += s.has_value();
      ks.stages = std::move(slots);
    }
    if (!set(rule ? &st.done : nullptr)) return fail("truncated sample state");
    std::uint64_t n = 0;
    if (!r.Count(n) || (rule && n != st.related.size()))
      return fail("rule " + id + ": relationships");
    for (std::uint64_t i = 0; i < n; ++i)
      if (!set(rule ? &st.related[i] : nullptr)) return fail("truncated relationship state");
    if (!r.Count(n) || (rule && n != st.heads.size())) return fail("rule " + id + ": pipes");
    for (std::uint64_t i = 0; i < n; ++i) {
      std::int64_t h = 0;
      if (!r.I64(h)) return fail("truncated pipe state");
      if (rule) st.heads[i] = h;
    }
    if (!r.Count(n) || (rule && n != st.uniques.size())) return fail("rule " + id + ": pipes");
    for (std::uint64_t i = 0; i < n; ++i)
      if (!set(rule ? &st.uniques[i] : nullptr)) return fail("truncated pipe state");
  }
  if (!r.AtEnd()) return fail("trailing bytes");
  Recount();
  return {};
}

}  // namespace vigil::detect
