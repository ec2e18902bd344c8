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

Result<std::int64_t> ParseRfc3339Ns(const std::string& text) {
  int year, mon, day, hour, min, sec;
  char rest[64] = {};
  if (std::sscanf(text.c_str(), "%d-%d-%d%*[T ]%d:%d:%d%63s", &year, &mon, &day, &hour, &min, &sec,
                  rest) < 6)
    return Fail("bad timestamp '" + text + "': expected RFC 3339 or nanoseconds");
  if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 || min < 0 || min > 59 ||
      sec < 0 || sec > 60)
    return Fail("bad timestamp '" + text + "': a date or time field is out of range");
  // Nanoseconds since 1970 in 64 bits reach from 1677 to 2262.
  if (year < 1678 || year > 2261)
    return Fail("bad timestamp '" + text + "': year " + std::to_string(year) +
                " is outside 1678-2261");
  std::tm tm{};
  tm.tm_year = year - 1900, tm.tm_mon = mon - 1, tm.tm_mday = day;
  tm.tm_hour = hour, tm.tm_min = min, tm.tm_sec = sec;
  std::int64_t ns = static_cast<std::int64_t>(timegm(&tm)) * 1'000'000'000;
  const char* p = rest;
  if (*p == '.') {
    ++p;
    std::int64_t frac = 0;
    int digits = 0;
    while (*p >= '0' && *p <= '9') {
      if (digits < 9) frac = frac * 10 + (*p - '0'), ++digits;
      ++p;
    }
    while (digits++ < 9) frac *= 10;
    ns += frac;
  }
  if (*p == '+' || *p == '-') {
    int oh = 0, om = 0;
    std::sscanf(p + 1, "%d:%d", &oh, &om);
    if (oh < 0 || oh > 23 || om < 0 || om > 59)
      return Fail("bad timestamp '" + text + "': bad UTC offset");
    std::int64_t offset = (oh * 3600LL + om * 60LL) * 1'000'000'000;
    ns += (*p == '+') ? -offset : offset;
  }
  return ns;
}
}  // namespace

Result<std::int64_t> ParseTimestamp(const json& value) {
  if (value.is_number_integer()) return value.get<std::int64_t>();
  if (value.is_number()) {
    const double ns = value.get<double>();
    if (!(ns > -9.2e18 && ns < 9.2e18)) return Fail("timestamp out of range: " + value.dump());
    return static_cast<std::int64_t>(ns);
  }
  if (value.is_string()) return ParseRfc3339Ns(value.get<std::string>());
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
