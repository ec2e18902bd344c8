// Name resolution for EQL: fields through the schema (short names inside a category, suggestions
// of the closest known names for typos) and the function table (name, arity, argument types).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hunt/ast.hpp"

namespace vigil::hunt {

// The schema field `name` means inside `category` (nullopt: any): `<category>.<name>` first,
// then `name` as given. On failure returns the error message (unknown field with suggestions,
// or a field that the category does not carry).
struct FieldLookup {
  const schema::FieldDef* field = nullptr;
  std::string error;
};
FieldLookup ResolveField(std::string_view name, std::optional<schema::Category> category);

ValueType TypeOf(const schema::FieldDef& field);

// Whether the store's text index (server/store/text_index.hpp, the vigil_text SQL function) covers
// the field in `table`: text fields, and dns.question.name, so suffix and substring matches on DNS
// names search instead of scanning.
bool TextIndexed(const schema::FieldDef& field, schema::Category table);
// Whether wildcard patterns on the field get the text-index prefilter (given a 3+
// character literal run in each): always on text fields; on keywords only when a pattern starts
// with a wildcard (otherwise their NOCASE/B-tree index serves the prefix). The SQL path and the
// live matcher (null semantics) both follow it.
bool FullTextServes(const schema::FieldDef& field, const std::vector<std::string>& patterns);

struct FunctionSig {
  Function function;
  std::string_view name;
  int min_args, max_args;  // max -1: variadic
  bool has_insensitive;    // has a ~ variant
  ValueType result;
  std::string_view arg_types;  // per argument: S string, N number, * any; last one repeats
};
const FunctionSig* FindFunction(std::string_view name);
const FunctionSig& SignatureOf(Function function);
std::vector<std::string> SuggestFunctions(std::string_view name);

// Levenshtein distance, bounded inputs only (names).
std::size_t EditDistance(std::string_view a, std::string_view b);

}  // namespace vigil::hunt
