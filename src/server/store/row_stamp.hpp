// What the store sets on every row on the way in, whatever the row layout: the batch's sequence
// (when not 0), and the commit time for a missing `event.ingested` or `@timestamp`, so every row
// has a timestamp for time ranges and retention.
#pragma once

#include <cstdint>

#include "common/schema.hpp"

namespace vigil::store {

struct RowStamp {
  std::uint64_t sequence = 0;  // 0: the batch is not sequenced (imports)
  std::int64_t now_ns = 0;     // the commit time
};

// The SQL type of field `f`'s column in an event table, whatever the layout: integers (also
// timestamps and bools), else text (strings, and lists as JSON arrays).
inline const char* ColumnType(const schema::FieldDef& f) {
  return f.IsInteger() ? "INTEGER" : "TEXT";
}

// The value the store keeps for field `f` of `event`.
inline schema::FieldValue StampedValue(const v1::Event& event, const schema::FieldDef& f,
                                       const RowStamp& stamp) {
  if (f.id == schema::field::kEventSequence && stamp.sequence != 0)
    return static_cast<std::int64_t>(stamp.sequence);
  if ((f.id == schema::field::kEventIngested && !event.has_event_ingested()) ||
      (f.id == schema::field::kTimestamp && !event.has_timestamp()))
    return stamp.now_ns;
  return schema::Get(event, f.id);
}

}  // namespace vigil::store
