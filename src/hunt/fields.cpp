// Field and function name resolution for the EQL parser (the field table is the schema's).
#include "hunt/fields.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include "server/store/text_index.hpp"

namespace vigil::hunt {
namespace {

constexpr std::array kFunctions = {
    FunctionSig{Function::Add, "add", 2, 2, false, ValueType::Number, "NN"},
    FunctionSig{Function::Between, "between", 3, 4, true, ValueType::String, "SSS*"},
    FunctionSig{Function::CidrMatch, "cidrMatch", 2, -1, false, ValueType::Bool, "SS"},
    FunctionSig{Function::Concat, "concat", 1, -1, false, ValueType::String, "*"},
    FunctionSig{Function::Divide, "divide", 2, 2, false, ValueType::Number, "NN"},
    FunctionSig{Function::EndsWith, "endsWith", 2, 2, true, ValueType::Bool, "SS"},
    FunctionSig{Function::IndexOf, "indexOf", 2, 3, true, ValueType::Number, "SSN"},
    FunctionSig{Function::Length, "length", 1, 1, false, ValueType::Number, "S"},
    FunctionSig{Function::Modulo, "modulo", 2, 2, false, ValueType::Number, "NN"},
    FunctionSig{Function::Multiply, "multiply", 2, 2, false, ValueType::Number, "NN"},
    FunctionSig{Function::Number, "number", 1, 2, false, ValueType::Number, "SN"},
    FunctionSig{Function::StartsWith, "startsWith", 2, 2, true, ValueType::Bool, "SS"},
    FunctionSig{Function::String, "string", 1, 1, false, ValueType::String, "*"},
    FunctionSig{Function::StringContains, "stringContains", 2, 2, true, ValueType::Bool, "SS"},
    FunctionSig{Function::Substring, "substring", 2, 3, false, ValueType::String, "SNN"},
    FunctionSig{Function::Subtract, "subtract", 2, 2, false, ValueType::Number, "NN"},
    FunctionSig{Function::Wildcard, "wildcard", 2, -1, true, ValueType::Bool, "SS"},
};

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string CategoriesOf(const schema::FieldDef& f) {
  std::string out;
  for (const auto& c : schema::Categories())
    if (f.In(c.category)) out += (out.empty() ? "" : ", ") + std::string(c.name);
  return out;
}

}  // namespace

std::size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t sub = prev[j - 1] + (std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                                               std::tolower(static_cast<unsigned char>(b[j - 1]))
                                           ? 0
                                           : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

ValueType TypeOf(const schema::FieldDef& field) {
  switch (field.type) {
    case schema::FieldType::Long:
    case schema::FieldType::Timestamp:
      return ValueType::Number;
    case schema::FieldType::Bool:
      return ValueType::Bool;
    default:
      return ValueType::String;
  }
}

FieldLookup ResolveField(std::string_view name, std::optional<schema::Category> category) {
  FieldLookup out;
  if (category) {
    std::string qualified = std::string(schema::CategoryName(*category)) + "." + std::string(name);
    if (const auto* f = schema::FindField(qualified); f && f->In(*category)) {
      out.field = f;
      return out;
    }
  }
  if (const auto* f = schema::FindField(name)) {
    if (category && !f->In(*category)) {
      out.error = "field " + std::string(name) + " is not in category " +
                  std::string(schema::CategoryName(*category)) + " (it is in: " + CategoriesOf(*f) +
                  ")";
      return out;
    }
    out.field = f;
    return out;
  }
  // Unknown: suggest the closest names (full names, and short names inside the category).
  std::string_view prefix = category ? schema::CategoryName(*category) : std::string_view();
  std::vector<std::pair<std::size_t, std::string>> scored;
  for (const auto& f : schema::Fields()) {
    if (category && !f.In(*category)) continue;
    std::size_t d = EditDistance(name, f.name);
    if (category && f.name.size() > prefix.size() + 1 && f.name.starts_with(prefix) &&
        f.name[prefix.size()] == '.')
      d = std::min(d, EditDistance(name, f.name.substr(prefix.size() + 1)));
    // a known field whose last component is the name (pid -> process.pid, in `any`)
    if (auto dot = f.name.rfind('.');
        dot != std::string_view::npos && f.name.substr(dot + 1) == name)
      d = std::min<std::size_t>(d, 1);
    scored.emplace_back(d, std::string(f.name));
  }
  std::stable_sort(scored.begin(), scored.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::size_t bound = std::max<std::size_t>(2, name.size() / 3);
  std::string suggestions;
  for (std::size_t i = 0; i < scored.size() && i < 3 && scored[i].first <= bound; ++i)
    suggestions += (suggestions.empty() ? "" : ", ") + scored[i].second;
  out.error = "unknown field " + std::string(name);
  if (!suggestions.empty())
    out.error += " (did you mean " + suggestions + "?)";
  else  // imported Windows fields the schema does not name
    out.error += " (a field outside the schema, in the extra map, is written extra." +
                 std::string(name) + ")";
  return out;
}

const FunctionSig* FindFunction(std::string_view name) {
  for (const auto& sig : kFunctions)
    if (EqualsIgnoreCase(sig.name, name)) return &sig;
  return nullptr;
}

const FunctionSig& SignatureOf(Function function) {
  for (const auto& sig : kFunctions)
    if (sig.function == function) return sig;
  return kFunctions[0];
}

std::string_view FunctionName(Function function) { return SignatureOf(function).name; }

std::vector<std::string> SuggestFunctions(std::string_view name) {
  std::vector<std::string> out;
  for (const auto& sig : kFunctions)
    if (EditDistance(name, sig.name) <= std::max<std::size_t>(2, name.size() / 3))
      out.emplace_back(sig.name);
  return out;
}

bool TextIndexed(const schema::FieldDef& field, schema::Category table) {
  return store::text_index::Indexed(field, table);
}

bool FullTextServes(const schema::FieldDef& field, const std::vector<std::string>& patterns) {
  if (field.type == schema::FieldType::Text) return true;
  return std::ranges::any_of(patterns, [](const std::string& p) {
    return !p.empty() && (p.front() == '*' || p.front() == '?');
  });
}

}  // namespace vigil::hunt
