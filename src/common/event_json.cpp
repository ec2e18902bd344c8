#include "common/event_json.hpp"

#include <cstdio>
#include <ctime>

#include "common/time.hpp"

namespace vigil {
namespace {
using nlohmann::json;
using nlohmann::ordered_json;

void Flatten(const json& object, const std::string& prefix,
             std::vector<std::pair<std::string, const json*>>& out) {
  for (auto it = object.begin(); it != object.end(); ++it) {
    std::string key = prefix.empty() ? it.key() : prefix + "." + it.key();
    if (it->is_object() && !schema::FindField(key))
      Flatten(*it, key, out);
    else
      out.emplace_back(std::move(key), &*it);
  }
}

}  // namespace

Result<std::int64_t> ParseTimestamp(const json& value) {
  if (value.is_number_integer()) return value.get<std::int64_t>();
  if (value.is_number()) {
    const double ns = value.get<double>();
    if (!(ns > -9.2e18 && ns < 9.2e18)) return Fail("timestamp out of range: " + value.dump());
    return static_cast<std::int64_t>(ns);
  }
  if (value.is_string()) {
    auto ns = ParseRfc3339Ns(value.get<std::string>());
    if (!ns) return Fail(ns.error().message + " or nanoseconds");
    return ns;
  }
  return Fail("timestamp must be a string or an integer");
}

ordered_json EventToJson(const v1::Event& event) {
  ordered_json out = ordered_json::object();
  for (const auto& f : schema::Fields()) {
    auto value = schema::Get(event, f.id);
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::string_view>) {
            out[std::string(f.name)] = std::string(v);
          } else if constexpr (std::is_same_v<T, std::int64_t>) {
            if (f.type == schema::FieldType::Timestamp)
              out[std::string(f.name)] = FormatRfc3339(v);
            else
              out[std::string(f.name)] = v;
          } else if constexpr (std::is_same_v<T, bool>) {
            out[std::string(f.name)] = v;
          } else if constexpr (std::is_same_v<T, const schema::StringList*>) {
            out[std::string(f.name)] = std::vector<std::string>(v->begin(), v->end());
          }
        },
        value);
  }
  for (const auto& [key, value] : event.extra()) out[key] = value;
  return out;
}

Result<v1::Event> EventFromJson(const json& object) {
  if (!object.is_object()) return Fail("an event must be a JSON object");
  std::vector<std::pair<std::string, const json*>> flat;
  Flatten(object, "", flat);
  v1::Event event;
  for (const auto& [key, value_ptr] : flat) {
    const json& value = *value_ptr;
    const schema::FieldDef* f = schema::FindField(key);
    if (!f) {
      (*event.mutable_extra())[key] = value.is_string() ? value.get<std::string>() : value.dump();
      continue;
    }
    if (value.is_null()) continue;
    auto type_error = [&](const char* want) {
      return Fail("field " + key + ": expected " + want + ", got " + value.dump());
    };
    switch (f->type) {
      case schema::FieldType::Keyword:
      case schema::FieldType::Text:
      case schema::FieldType::Ip:
        if (value.is_string())
          schema::SetString(event, f->id, value.get<std::string>());
        else if (value.is_number() || value.is_boolean())
          schema::SetString(event, f->id, value.dump());
        else
          return type_error("a string");
        break;
      case schema::FieldType::Keywords:
        if (value.is_array()) {
          for (const auto& item : value)
            schema::SetString(event, f->id,
                              item.is_string() ? item.get<std::string>() : item.dump());
        } else if (value.is_string()) {
          schema::SetString(event, f->id, value.get<std::string>());
        } else {
          return type_error("a list of strings");
        }
        break;
      case schema::FieldType::Long:
        if (value.is_number_integer())
          schema::SetInt(event, f->id, value.get<std::int64_t>());
        else if (value.is_string()) {
          try {
            std::size_t used = 0;
            const auto& s = value.get_ref<const std::string&>();
            long long n = std::stoll(s, &used, 0);
            if (used != s.size()) return type_error("an integer");
            schema::SetInt(event, f->id, n);
          } catch (const std::exception&) {
            return type_error("an integer");
          }
        } else {
          return type_error("an integer");
        }
        break;
      case schema::FieldType::Bool:
        if (value.is_boolean())
          schema::SetInt(event, f->id, value.get<bool>());
        else if (value.is_number_integer())
          schema::SetInt(event, f->id, value.get<std::int64_t>() != 0);
        else if (value == "true" || value == "false")
          schema::SetInt(event, f->id, value == "true");
        else
          return type_error("true or false");
        break;
      case schema::FieldType::Timestamp: {
        auto ns = ParseTimestamp(value);
        if (!ns) return Fail("field " + key + ": " + ns.error().message);
        schema::SetInt(event, f->id, *ns);
        break;
      }
    }
  }
  return event;
}

}  // namespace vigil
