#include "common/schema.hpp"

#include <algorithm>
#include <array>
#include <unordered_map>

namespace vigil::schema {

std::optional<Category> ParseCategory(std::string_view name) {
  for (const auto& c : Categories())
    if (c.name == name) return c.category;
  return std::nullopt;
}

std::string_view CategoryName(Category c) { return Categories()[static_cast<std::size_t>(c)].name; }

const FieldDef* FindField(std::string_view dotted_name) {
  static const auto index = [] {
    std::unordered_map<std::string_view, const FieldDef*> m;
    for (const auto& f : Fields()) m.emplace(f.name, &f);
    return m;
  }();
  auto it = index.find(dotted_name);
  return it == index.end() ? nullptr : it->second;
}

const FieldDef* FieldById(std::uint16_t id) {
  static const auto index = [] {
    std::array<const FieldDef*, 2048> a{};
    for (const auto& f : Fields()) a[f.id] = &f;
    return a;
  }();
  return id < index.size() ? index[id] : nullptr;
}

std::string_view TypeName(FieldType t) {
  switch (t) {
    case FieldType::Keyword:
      return "keyword";
    case FieldType::Text:
      return "text";
    case FieldType::Long:
      return "long";
    case FieldType::Bool:
      return "bool";
    case FieldType::Timestamp:
      return "timestamp";
    case FieldType::Ip:
      return "ip";
    case FieldType::Keywords:
      return "keywords";
  }
  return "?";
}

std::optional<Category> CategoryOf(const v1::Event& event) {
  if (!event.has_event_category()) return std::nullopt;
  return ParseCategory(event.event_category());
}

}  // namespace vigil::schema
