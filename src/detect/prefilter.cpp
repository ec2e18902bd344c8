// Literal extraction and the Vectorscan scan (see prefilter.hpp).
#include "detect/prefilter.hpp"

#include <hs/hs.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <utility>

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

using Req = Requirement;
using RK = Requirement::Kind;

Req True() { return {}; }

Req Lit(std::string s) {
  if (s.size() < kMinLiteral || s.find('\n') != std::string::npos) return True();
  std::ranges::transform(s, s.begin(), [](unsigned char c) { return std::tolower(c); });
  return {RK::Literal, std::move(s), {}};
}

// And drops the Trues (nothing known about them); Or is True as soon as one branch is.
Req Combine(RK kind, std::vector<Req> kids) {
  std::vector<Req> kept;
  for (auto& k : kids) {
    if (k.kind == RK::True) {
      if (kind == RK::Or) return True();
      continue;
    }
    if (k.kind == kind)  // flatten nested and/and, or/or
      for (auto& g : k.kids) kept.push_back(std::move(g));
    else
      kept.push_back(std::move(k));
  }
  if (kept.empty()) return True();
  if (kept.size() == 1) return std::move(kept[0]);
  return {kind, {}, std::move(kept)};
}

// Every run of a wildcard pattern without * or ? must occur in a matching value.
Req FromPattern(const std::string& pattern) {
  std::vector<Req> runs;
  std::string run;
  for (char c : pattern + '*') {
    if (c == '*' || c == '?')
      runs.push_back(Lit(std::exchange(run, {})));
    else
      run += c;
  }
  return Combine(RK::And, std::move(runs));
}

// A recursive-descent reading of RE2 syntax that keeps only what is sure: literal runs outside
// optional parts, and/or through groups and alternations. Anything it does not know makes the
// whole regex True (ok = false).
class RegexReader {
 public:
  RegexReader(std::string_view re, bool ci) : re_(re), ci_(ci) {}
  Req Read() {
    Req r = Alternation();
    if (!ok_ || i_ != re_.size()) return True();
    return r;
  }

 private:
  enum class Atom { Char, Other, Group, Empty };

  Req Alternation() {
    std::vector<Req> branches;
    branches.push_back(Sequence());
    while (ok_ && i_ < re_.size() && re_[i_] == '|') {
      ++i_;
      branches.push_back(Sequence());
    }
    return Combine(RK::Or, std::move(branches));
  }

  Req Sequence() {
    std::vector<Req> items;
    std::string run;
    auto flush = [&] { items.push_back(Lit(std::exchange(run, {}))); };
    while (ok_ && i_ < re_.size() && re_[i_] != '|' && re_[i_] != ')') {
      char c = 0;
      Req group;
      const Atom atom = ReadAtom(c, group);
      if (!ok_) break;
      if (atom == Atom::Empty) continue;
      const int q = Quantifier();  // 0 none, 1 optional, 2 required but repeated
      if (!ok_) break;
      if (atom == Atom::Char && q != 1) {
        run += c;
        if (q == 2) flush();
        continue;
      }
      flush();
      if (atom == Atom::Group && q != 1) items.push_back(std::move(group));
    }
    flush();
    return Combine(RK::And, std::move(items));
  }

  // Under case-insensitive matching RE2 folds Unicode: k, s (and non-ASCII) match other bytes.
  bool Literal(char c) const {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x80) return false;
    if (ci_ && (c == 'k' || c == 'K' || c == 's' || c == 'S')) return false;
    return c != '\n';
  }

  Atom ReadAtom(char& c, Req& group) {
    const char x = re_[i_++];
    switch (x) {
      case '\\': {
        if (i_ >= re_.size()) return Fail();
        const char d = re_[i_++];
        if (std::isalnum(static_cast<unsigned char>(d))) {
          if ((d == 'x' || d == 'p' || d == 'P') && i_ < re_.size() && re_[i_] == '{') {
            auto close = re_.find('}', i_);
            if (close == std::string_view::npos) return Fail();
            i_ = close + 1;
          } else if (d == 'x') {
            i_ += 2;
          } else if (d == 'p' || d == 'P') {
            i_ += 1;
          } else if (d == 'Q') {
            return Fail();
          }
          if (i_ > re_.size()) return Fail();
          return d == 'b' || d == 'B' || d == 'A' || d == 'z' ? Atom::Empty : Atom::Other;
        }
        c = d;
        return Literal(d) ? Atom::Char : Atom::Other;
      }
      case '.':
        return Atom::Other;
      case '^':
      case '$':
        return Atom::Other;  // zero-width, but a run must not span it
      case '[': {
        std::size_t j = i_;
        if (j < re_.size() && re_[j] == '^') ++j;
        if (j < re_.size() && re_[j] == ']') ++j;
        while (j < re_.size() && re_[j] != ']') {
          if (re_[j] == '\\')
            ++j;
          else if (re_[j] == '[' && j + 1 < re_.size() && re_[j + 1] == ':') {
            auto close = re_.find(":]", j + 2);
            if (close == std::string_view::npos) return Fail();
            j = close + 1;
          }
          ++j;
        }
        if (j >= re_.size()) return Fail();
        i_ = j + 1;
        return Atom::Other;
      }
      case '(': {
        if (i_ < re_.size() && re_[i_] == '?') {
          ++i_;
          if (i_ < re_.size() && re_[i_] == 'P') {  // (?P<name>...)
            auto close = re_.find('>', i_);
            if (close == std::string_view::npos) return Fail();
            i_ = close + 1;
          } else {
            while (i_ < re_.size() &&
                   (std::isalpha(static_cast<unsigned char>(re_[i_])) || re_[i_] == '-'))
              ++i_;
            if (i_ >= re_.size()) return Fail();
            if (re_[i_] == ')') {  // (?i): flags for the rest
              ++i_;
              return Atom::Other;
            }
            if (re_[i_] != ':') return Fail();
            ++i_;
          }
        }
        group = Alternation();
        if (!ok_ || i_ >= re_.size() || re_[i_] != ')') return Fail();
        ++i_;
        return Atom::Group;
      }
      case '*':
      case '+':
      case '?':
      case '{':
      case ')':
      case '|':
        return Fail();
      default:
        c = x;
        return Literal(x) ? Atom::Char : Atom::Other;
    }
  }

  int Quantifier() {
    if (i_ >= re_.size()) return 0;
    int q = 0;
    const char x = re_[i_];
    if (x == '*' || x == '?') {
      q = 1, ++i_;
    } else if (x == '+') {
      q = 2, ++i_;
    } else if (x == '{') {
      std::size_t j = i_ + 1, n = 0;
      bool digits = false;
      while (j < re_.size() && std::isdigit(static_cast<unsigned char>(re_[j])))
        n = n * 10 + static_cast<std::size_t>(re_[j++] - '0'), digits = true;
      auto close = re_.find('}', j);
      if (!digits || close == std::string_view::npos) {
        ok_ = false;
        return 0;
      }
      i_ = close + 1;
      q = n == 0 ? 1 : 2;
    } else {
      return 0;
    }
    if (i_ < re_.size() && re_[i_] == '?') ++i_;  // lazy
    return q;
  }

  Atom Fail() {
    ok_ = false;
    return Atom::Other;
  }

  std::string_view re_;
  bool ci_;
  std::size_t i_ = 0;
  bool ok_ = true;
};

}  // namespace

Req RegexRequirement(std::string_view regex, bool case_insensitive) {
  bool inline_i = false;  // a (?flags) or (?flags:...) group with i anywhere
  for (std::size_t at = regex.find("(?"); at != std::string_view::npos && !inline_i;
       at = regex.find("(?", at + 2))
    for (std::size_t j = at + 2;
         j < regex.size() && std::isalpha(static_cast<unsigned char>(regex[j])); ++j)
      inline_i |= regex[j] == 'i';
  return RegexReader(regex, case_insensitive || inline_i).Read();
}

Req RequiredLiterals(const hunt::Expr& e, std::vector<const hunt::FieldRef*>* used) {
  auto field = [&](const hunt::Expr& x) {
    const hunt::FieldRef* ref = StringField(x);
    if (ref && used) used->push_back(ref);
    return ref;
  };
  return std::visit(
      [&](const auto& n) -> Req {
        using N = std::decay_t<decltype(n)>;
        if constexpr (std::is_same_v<N, hunt::Logic>) {
          std::vector<Req> kids;
          for (const auto& op : n.operands) kids.push_back(RequiredLiterals(*op, used));
          return Combine(n.op == hunt::LogicOp::Or ? RK::Or : RK::And, std::move(kids));
        } else if constexpr (std::is_same_v<N, hunt::Match>) {
          if (!field(*n.subject)) return True();
          std::vector<Req> kids;
          for (const auto& p : n.patterns)
            kids.push_back(n.kind == hunt::MatchKind::Wildcard
                               ? FromPattern(p)
                               : RegexRequirement(p, n.case_insensitive));
          return Combine(RK::Or, std::move(kids));
        } else if constexpr (std::is_same_v<N, hunt::Compare>) {
          if (n.op != hunt::CompareOp::Eq) return True();
          if (StringLiteral(*n.right) && field(*n.left)) return Lit(*StringLiteral(*n.right));
          if (StringLiteral(*n.left) && field(*n.right)) return Lit(*StringLiteral(*n.left));
          return True();
        } else if constexpr (std::is_same_v<N, hunt::InList>) {
          if (n.negated || n.items.empty() || !field(*n.subject)) return True();
          std::vector<Req> kids;
          for (const auto& item : n.items) {
            const auto* s = StringLiteral(*item);
            if (!s) return True();
            kids.push_back(Lit(*s));
          }
          return Combine(RK::Or, std::move(kids));
        } else if constexpr (std::is_same_v<N, hunt::Call>) {
          using F = hunt::Function;
          if ((n.function == F::StartsWith || n.function == F::EndsWith ||
               n.function == F::StringContains) &&
              n.args.size() == 2 && StringLiteral(*n.args[1]) && field(*n.args[0]))
            return Lit(*StringLiteral(*n.args[1]));
          return True();
        } else {
          return True();
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

std::uint32_t Prefilter::Flatten(const Requirement& r, std::map<std::string, std::uint32_t>& ids,
                                 std::uint32_t rule) {
  const auto at = static_cast<std::uint32_t>(nodes_.size());
  nodes_.push_back({r.kind});
  if (r.kind == RK::Literal) {
    auto [it, inserted] = ids.try_emplace(r.literal, static_cast<std::uint32_t>(ids.size()));
    if (inserted) pattern_rules_.emplace_back();
    auto& rules = pattern_rules_[it->second];
    if (rules.empty() || rules.back() != rule) rules.push_back(rule);
    nodes_[at].a = it->second;
    return at;
  }
  std::vector<std::uint32_t> kids;
  for (const auto& k : r.kids) kids.push_back(Flatten(k, ids, rule));
  nodes_[at].a = static_cast<std::uint32_t>(kid_index_.size());
  kid_index_.insert(kid_index_.end(), kids.begin(), kids.end());
  nodes_[at].b = static_cast<std::uint32_t>(kid_index_.size());
  return at;
}

bool Prefilter::Holds(std::uint32_t node) const {
  const Node& n = nodes_[node];
  switch (n.kind) {
    case RK::Literal:
      return hit_[n.a] != 0;
    case RK::And:
      for (std::uint32_t k = n.a; k < n.b; ++k)
        if (!Holds(kid_index_[k])) return false;
      return true;
    case RK::Or:
      for (std::uint32_t k = n.a; k < n.b; ++k)
        if (Holds(kid_index_[k])) return true;
      return false;
    case RK::True:
      break;
  }
  return true;
}

Result<std::unique_ptr<Prefilter>> Prefilter::Build(const std::vector<LiveRule>& rules) {
  std::unique_ptr<Prefilter> p(new Prefilter());
  p->impl_ = std::make_unique<Impl>();
  p->filtered_.assign(rules.size(), 0);
  p->marks_.assign(rules.size(), 0);
  p->roots_.assign(rules.size(), 0);
  std::map<std::string, std::uint32_t> ids;  // lower-cased literal -> pattern id
  std::vector<const hunt::FieldRef*> used;   // fields the literals come from: the haystack's
  for (std::uint32_t i = 0; i < rules.size(); ++i) {
    const LiveRule& rule = rules[i];
    if (rule.IsSequence() || !rule.query) continue;
    const auto* filter = std::get_if<hunt::EventFilter>(&rule.query->body);
    if (!filter || !filter->where) continue;
    const Requirement req = RequiredLiterals(*filter->where, &used);
    if (req.kind == RK::True) continue;
    p->filtered_[i] = 1;
    ++p->filtered_count_;
    p->roots_[i] = p->Flatten(req, ids, i);
  }
  p->hit_.assign(ids.size(), 0);
  for (const hunt::FieldRef* ref : used) {
    if (ref->field)
      p->fields_.push_back(ref->field->id);
    else
      p->extras_.push_back(ref->extra);
  }
  std::ranges::sort(p->fields_);
  p->fields_.erase(std::unique(p->fields_.begin(), p->fields_.end()), p->fields_.end());
  std::ranges::sort(p->extras_);
  p->extras_.erase(std::unique(p->extras_.begin(), p->extras_.end()), p->extras_.end());
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
  for (const auto& key : extras_) {
    auto it = event.extra().find(key);
    if (it == event.extra().end()) continue;
    haystack_.append(it->second);
    haystack_ += '\n';
  }
  // Literal hits first (each once: SINGLEMATCH); then the formulas of the rules they touch.
  auto on_match = [](unsigned int id, unsigned long long, unsigned long long, unsigned int,
                     void* context) -> int {
    auto* self = static_cast<Prefilter*>(context);
    self->hit_[id] = 1;
    self->hits_.push_back(id);
    return 0;
  };
  hs_scan(impl_->db, haystack_.data(), static_cast<unsigned>(haystack_.size()), 0, impl_->scratch,
          on_match, this);
  for (std::uint32_t id : hits_)
    for (std::uint32_t rule : pattern_rules_[id])
      if (!marks_[rule]) {
        marks_[rule] = 2;  // seen; 1 below when its formula holds
        touched_.push_back(rule);
      }
  for (std::uint32_t rule : touched_) marks_[rule] = Holds(roots_[rule]) ? 1 : 0;
  for (std::uint32_t id : hits_) hit_[id] = 0;
  hits_.clear();
}

void Prefilter::Unmark() {
  for (std::uint32_t rule : touched_) marks_[rule] = 0;
  touched_.clear();
}

}  // namespace vigil::detect
