// Events as JSON objects with ECS dotted names ({"@timestamp": "...", "process.pid": 42, ...}):
// the CLI's and API's output format and the replay/import input format. Fields the schema does not
// name are kept in the event's extra map and written back as top-level keys.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "common/error.hpp"
#include "common/schema.hpp"

namespace vigil {

nlohmann::ordered_json EventToJson(const v1::Event& event);
// Accepts flat dotted keys or nested objects; timestamps as ns integers or RFC 3339 strings.
// A value of the wrong type for a schema field is an error naming the field.
Result<v1::Event> EventFromJson(const nlohmann::json& object);
Result<std::int64_t> ParseTimestamp(const nlohmann::json& value);

}  // namespace vigil
