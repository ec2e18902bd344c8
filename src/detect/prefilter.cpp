// Literal extraction and the Vectorscan scan (see prefilter.hpp).
#include "detect/prefilter.hpp"

#include <hs/hs.h>

#include <algorithm>
#include <map>

#include "detect/rule.hpp"

namespace vigil::detect {
namespace {

constexpr std::size_t kMinLiteral = 3;  // shorter literals would hit almost every event

// Fields every event of a source carries with few distinct values: a literal from them filters
// nothing, so a condition on them gives no set (the haystack leaves them out too).
bool Unhelpful(const hunt::FieldRef& ref) {
  if (!ref.field)
    return ref.extra == "EventID" || ref.extra == "Channel" || ref.extra == "Provider_Name";
  return ref.field->name.starts_with("event.");
}

const hunt::FieldRef* StringField(const hunt::Expr& e) {
  const auto* ref = std::get_if<hunt::FieldRef>(&e.node);
  if (!ref || Unhelpful(*ref)) return nullptr;
  if (ref->field && !ref->field->IsString() && ref->field->type != schema::FieldType::Keywords)
    return nullptr;
  return ref;
}

const std::string* StringLiteral(const hunt::Expr& e) {
  const auto* lit = std::get_if<hunt::Literal>(&e.node);
  return lit ? std::get_if<std::string>(&lit->value) : nullptr;
}

using Set = std::optional<std::vector<std::string>>;

Set One(const std::string& s) {
  if (s.size() < kMinLiteral || s.find('\n') != std::string::npos) return std::nullopt;
  return std::vector<std::string>{s};
}

// The longest run of a wildcard pattern without * or ?: it must occur in a matching value.
Set FromPattern(const std::string& pattern) {
  std::string best, run;
  for (char c : pattern + '*') {
    if (c == '*' || c == '?') {
      if (run.size() > best.size()) best = run;
      run.clear();
    } else {
      run += c;
    }
  }
  return One(best);
}

Set Union(const std::vector<Set>& sets) {
  std::vector<std::string> out;
  for (const auto& s : sets) {
    if (!s) return std::nullopt;
    out.insert(out.end(), s->begin(), s->end());
  }
  std::ranges::sort(out);
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// Better: the shortest literal is longer, then fewer literals.
bool Better(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  auto shortest = [](const auto& v) {
    std::size_t m = SIZE_MAX;
    for (const auto& s : v) m = std::min(m, s.size());
    return m;
  };
  std::size_t sa = std::min<std::size_t>(shortest(a), 8),
              sb = std::min<std::size_t>(shortest(b), 8);
  if (sa != sb) return sa > sb;
  return a.size() < b.size();
}

}  // namespace

Set RequiredLiterals(const hunt::Expr& e) {
  return std::visit(
      [&](const auto& n) -> Set {
        using N = std::decay_t<decltype(n)>;
        if constexpr (std::is_same_v<N, hunt::Logic>) {
          std::vector<Set> sets;
          for (const auto& op : n.operands) sets.push_back(RequiredLiterals(*op));
          if (n.op == hunt::LogicOp::Or) return Union(sets);
          Set best;
          for (auto& s : sets)
            if (s && (!best || Better(*s, *best))) best = std::move(s);
          return best;
        } else if constexpr (std::is_same_v<N, hunt::Match>) {
          if (n.kind != hunt::MatchKind::Wildcard || !StringField(*n.subject)) return std::nullopt;
          std::vector<Set> sets;
          for (const auto& p : n.patterns) sets.push_back(FromPattern(p));
          return Union(sets);
        } else if constexpr (std::is_same_v<N, hunt::Compare>) {
          if (n.op != hunt::CompareOp::Eq) return std::nullopt;
          if (StringField(*n.left) && StringLiteral(*n.right)) return One(*StringLiteral(*n.right));
          if (StringField(*n.right) && StringLiteral(*n.left)) return One(*StringLiteral(*n.left));
          return std::nullopt;
        } else if constexpr (std::is_same_v<N, hunt::InList>) {
          if (n.negated || !StringField(*n.subject) || n.items.empty()) return std::nullopt;
          std::vector<Set> sets;
          for (const auto& item : n.items) {
            const auto* s = StringLiteral(*item);
            if (!s) return std::nullopt;
            sets.push_back(One(*s));
          }
          return Union(sets);
        } else if constexpr (std::is_same_v<N, hunt::Call>) {
          using F = hunt::Function;
          if ((n.function == F::StartsWith || n.function == F::EndsWith ||
               n.function == F::StringContains) &&
              n.args.size() == 2 && StringField(*n.args[0]) && StringLiteral(*n.args[1]))
            return One(*StringLiteral(*n.args[1]));
          return std::nullopt;
        } else {
          return std::nullopt;
        }
      },
      e.node);
}

struct Prefilter::Impl {
  hs_database_t* db = nullptr;
  hs_scratch_t* scratch = nullptr;
  ~Impl() {
    if (scratch) hs_free_scratch(scratch);
    if (db) hs_free_database(db);
  }
};

Prefilter::~Prefilter() = default;

Result<std::unique_ptr<Prefilter>> Prefilter::Build(const std::vector<LiveRule>& rules) {
  std::unique_ptr<Prefilter> p(new Prefilter());
  p->impl_ = std::make_unique<Impl>();
  p->filtered_.assign(rules.size(), 0);
  p->marks_.assign(rules.size(), 0);
  std::map<std::string, std::uint32_t, std::less<>> ids;  // lower-cased literal -> pattern id
  for (std::uint32_t i = 0; i < rules.size(); ++i) {
    const LiveRule& rule = rules[i];
    if (rule.IsSequence() || !rule.query) continue;
    const auto* filter = std::get_if<hunt::EventFilter>(&rule.query->body);
    if (!filter || !filter->where) continue;
    auto set = RequiredLiterals(*filter->where);
    if (!set) continue;
    p->filtered_[i] = 1;
    ++p->filtered_count_;
    for (auto lit : *set) {
      std::ranges::transform(lit, lit.begin(), [](unsigned char c) { return std::tolower(c); });
      auto [it, inserted] = ids.try_emplace(lit, static_cast<std::uint32_t>(ids.size()));
      if (inserted) p->pattern_rules_.emplace_back();
      p->pattern_rules_[it->second].push_back(i);
    }
  }
  for (const auto& f : schema::Fields())
    if ((f.IsString() || f.type == schema::FieldType::Keywords) && !f.name.starts_with("event."))
      p->fields_.push_back(f.id);
  if (ids.empty()) return p;
  std::vector<const char*> exprs(ids.size());
  std::vector<std::size_t> lens(ids.size());
  std::vector<unsigned> flags(ids.size(), HS_FLAG_CASELESS | HS_FLAG_SINGLEMATCH);
  std::vector<unsigned> pids(ids.size());
  for (const auto& [lit, id] : ids) {
    exprs[id] = lit.data();
    lens[id] = lit.size();
    pids[id] = id;
  }
  hs_compile_error_t* error = nullptr;
  if (hs_compile_lit_multi(exprs.data(), flags.data(), pids.data(), lens.data(),
                           static_cast<unsigned>(ids.size()), HS_MODE_BLOCK, nullptr, &p->impl_->db,
                           &error) != HS_SUCCESS) {
    std::string message = error && error->message ? error->message : "unknown error";
    hs_free_compile_error(error);
    return Fail("prefilter: Vectorscan cannot compile the rules' literals: " + message);
  }
  if (hs_alloc_scratch(p->impl_->db, &p->impl_->scratch) != HS_SUCCESS)
    return Fail("prefilter: cannot allocate Vectorscan scratch space");
  return p;
}

void Prefilter::Scan(const v1::Event& event) {
  if (!impl_->db) return;
  haystack_.clear();
  for (std::uint16_t id : fields_) {
    auto v = schema::Get(event, id);
    if (const auto* s = std::get_if<std::string_view>(&v)) {
      haystack_.append(*s);
      haystack_ += '\n';
    } else if (const auto* list = std::get_if<const schema::StringList*>(&v)) {
      for (const auto& item : **list) {
        haystack_.append(item);
        haystack_ += '\n';
      }
    }
  }
  for (const auto& [key, value] : event.extra()) {
    if (key == "EventID" || key == "Channel" || key == "Provider_Name") continue;
    haystack_.append(value);
    haystack_ += '\n';
  }
  auto on_match = [](unsigned int id, unsigned long long, unsigned long long, unsigned int,
                     void* context) -> int {
    auto* self = static_cast<Prefilter*>(context);
    for (std::uint32_t rule : self->pattern_rules_[id]) {
      if (!self->marks_[rule]) {
        self->marks_[rule] = 1;
        self->touched_.push_back(rule);
      }
    }
    return 0;
  };
  hs_scan(impl_->db, haystack_.data(), static_cast<unsigned>(haystack_.size()), 0, impl_->scratch,
          on_match, this);
}

void Prefilter::Unmark() {
  for (std::uint32_t rule : touched_) marks_[rule] = 0;
  touched_.clear();
}

}  // namespace vigil::detect
