// The event schema at run time: categories, the field table and typed access to any field of an
// event by its id. Generated from src/common/schema/events.toml (see docs/schema.md); the rest
// of Vigil (store columns, query field table, JSON output, imports) reads fields only through here.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "common/schema_generated.hpp"
#include "vigil/v1/event.pb.h"

namespace vigil::schema {

enum class FieldType : std::uint8_t { Keyword, Text, Long, Bool, Timestamp, Ip, Keywords };

struct CategoryDef {
  Category category;
  std::string_view name;
  std::string_view doc;
};

struct FieldDef {
  std::uint16_t id;         // protobuf field number, stable forever
  std::string_view name;    // ECS dotted name, e.g. "process.parent.pid"
  std::string_view column;  // protobuf field and store column name, e.g. "process_parent_pid"
  FieldType type;
  std::uint32_t categories;  // bit i set: carried by category i
  std::string_view doc;

  bool In(Category c) const { return (categories >> static_cast<unsigned>(c)) & 1u; }
  bool IsString() const {
    return type == FieldType::Keyword || type == FieldType::Text || type == FieldType::Ip;
  }
  bool IsInteger() const {
    return type == FieldType::Long || type == FieldType::Timestamp || type == FieldType::Bool;
  }
};

std::span<const CategoryDef> Categories();
std::span<const FieldDef> Fields();

std::optional<Category> ParseCategory(std::string_view name);
std::string_view CategoryName(Category c);
const FieldDef* FindField(std::string_view dotted_name);
const FieldDef* FieldById(std::uint16_t id);
std::string_view TypeName(FieldType t);

using StringList = google::protobuf::RepeatedPtrField<std::string>;
// The value of one field of an event; monostate when the field is not set.
using FieldValue =
    std::variant<std::monostate, std::string_view, std::int64_t, bool, const StringList*>;

FieldValue Get(const v1::Event& event, std::uint16_t id);
// Set a string field (appends for list fields). False when the field is not a string field.
bool SetString(v1::Event& event, std::uint16_t id, std::string_view value);
// Set an integer, timestamp or bool field. False when the field is not one of those.
bool SetInt(v1::Event& event, std::uint16_t id, std::int64_t value);

// The category of an event, from event.category; nullopt when missing or unknown.
std::optional<Category> CategoryOf(const v1::Event& event);

}  // namespace vigil::schema
