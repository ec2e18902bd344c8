// Runs a compiled plan on a read-only SQLite connection: streams event and count rows, and
// matches sequences and samples over the per-step candidate streams with a bounded state machine
// per join key. Timeouts through sqlite3_progress_handler; row limits enforced here.
#include <sqlite3.h>

#include <chrono>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <unordered_map>

#include "common/event_json.hpp"
#include "hunt/compiler.hpp"
#include "hunt/functions.hpp"
#include "hunt/hunt.hpp"
#include "server/store/block_table_vtab.hpp"
#include "server/store/sqlite_util.hpp"
#include "server/store/text_index_vtab.hpp"

namespace vigil::hunt {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::ordered_json;

constexpr std::size_t kMaxPartialSequences = 1'000'000;

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

std::string_view ColumnText(sqlite3_stmt* s, int i) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
  return p ? std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(s, i)))
           : std::string_view();
}

ordered_json ColumnJson(sqlite3_stmt* s, int i) {
  switch (sqlite3_column_type(s, i)) {
    case SQLITE_INTEGER:
      return sqlite3_column_int64(s, i);
    case SQLITE_FLOAT:
      return sqlite3_column_double(s, i);
    case SQLITE_NULL:
      return nullptr;
    default:
      return std::string(ColumnText(s, i));
  }
}

// A reference to one stored event.
struct EventRef {
  std::string table;
  std::int64_t id = 0;
  std::int64_t ts = 0;
  bool operator==(const EventRef&) const = default;
};

class Session {
 public:
  Session(const HuntOptions& options)
      : options_(options), deadline_(Clock::now() + options.timeout) {}

  Result<void> Open(const std::filesystem::path& path) {
    sqlite3* raw = nullptr;
    int rc =
        sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
    db_.reset(raw);
    if (rc != SQLITE_OK)
      return Fail("open " + path.string() + ": " + (raw ? sqlite3_errmsg(raw) : "out of memory"));
    sqlite3_busy_timeout(db_.get(), 10000);
    // Hunts read many pages once and build temporary lists (IN-subqueries, sorts): pages through
    // a memory map (sqlite_util.hpp) instead of a pread and a copy each, a larger page cache, and
    // temporary b-trees in memory rather than in spilled temp files.
    for (const char* pragma :
         {store::sqlite::kReadMmapPragma, "PRAGMA cache_size=-65536", "PRAGMA temp_store=MEMORY"})
      sqlite3_exec(db_.get(), pragma, nullptr, nullptr, nullptr);
    if (auto r = RegisterFunctions(db_.get()); !r) return r;
    if (auto r = store::text_index::RegisterFunction(db_.get()); !r) return r;
    if (auto r = store::blocks::RegisterBlockTables(db_.get()); !r) return r;
    sqlite3_progress_handler(db_.get(), 10000, &Session::Progress, this);
    return {};
  }

  bool TimedOut() {
    if (Clock::now() > deadline_) timed_out_ = true;
    return timed_out_;
  }

  std::unexpected<Error> DbError(std::string_view what) {
    if (timed_out_)
      return Fail("query timed out after " + std::to_string(options_.timeout.count()) + " ms");
    return Fail(std::string(what) + ": " + sqlite3_errmsg(db_.get()));
  }

  Result<StmtPtr> Prepare(const std::string& sql) {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db_.get(), sql.c_str(), static_cast<int>(sql.size()), &raw, nullptr) !=
        SQLITE_OK)
      return DbError("prepare");
    return StmtPtr(raw);
  }

  // Null when the statement does not compile (no error recorded).
  StmtPtr TryPrepare(const std::string& sql) {
    sqlite3_stmt* raw = nullptr;
    sqlite3_prepare_v2(db_.get(), sql.c_str(), static_cast<int>(sql.size()), &raw, nullptr);
    return StmtPtr(raw);
  }

  // The event as JSON (the same form as the events API: EventToJson of the stored row).
  Result<ordered_json> EventJson(const EventRef& ref) {
    auto it = row_stmts_.find(ref.table);
    if (it == row_stmts_.end()) {
      std::string sql = "SELECT * FROM \"" + ref.table + "\" WHERE id = ?";
      auto stmt = Prepare(sql);
      if (!stmt) return std::unexpected(stmt.error());
      it = row_stmts_.emplace(ref.table, std::move(*stmt)).first;
    }
    sqlite3_stmt* s = it->second.get();
    sqlite3_reset(s);
    sqlite3_bind_int64(s, 1, ref.id);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
      sqlite3_reset(s);
      if (rc == SQLITE_DONE)
        return Fail("event " + ref.table + "/" + std::to_string(ref.id) + " vanished");
      return DbError("read event");
    }
    v1::Event event;
    int n = sqlite3_column_count(s);
    for (int c = 0; c < n; ++c) {
      if (sqlite3_column_type(s, c) == SQLITE_NULL) continue;
      std::string_view name = sqlite3_column_name(s, c);
      if (name == "extra") {
        auto extra = nlohmann::json::parse(ColumnText(s, c), nullptr, false);
        if (extra.is_object())
          for (auto& [k, v] : extra.items())
            (*event.mutable_extra())[k] = v.is_string() ? v.get<std::string>() : v.dump();
        continue;
      }
      const schema::FieldDef* f = FieldOfColumn(name);
      if (!f) continue;
      if (f->type == schema::FieldType::Keywords) {
        auto list = nlohmann::json::parse(ColumnText(s, c), nullptr, false);
        if (list.is_array())
          for (const auto& v : list)
            if (v.is_string()) schema::SetString(event, f->id, v.get<std::string>());
      } else if (f->IsString()) {
        schema::SetString(event, f->id, ColumnText(s, c));
      } else {
        schema::SetInt(event, f->id, sqlite3_column_int64(s, c));
      }
    }
    sqlite3_reset(s);
    return EventToJson(event);
  }

  static const schema::FieldDef* FieldOfColumn(std::string_view column) {
    static const std::map<std::string, const schema::FieldDef*, std::less<>> map = [] {
      std::map<std::string, const schema::FieldDef*, std::less<>> m;
      for (const auto& f : schema::Fields()) m[std::string(f.column)] = &f;
      return m;
    }();
    auto it = map.find(column);
    return it == map.end() ? nullptr : it->second;
  }

  const HuntOptions& options_;
  HuntStats stats_;

 private:
  static int Progress(void* self) { return static_cast<Session*>(self)->TimedOut() ? 1 : 0; }

  DbPtr db_;
  Clock::time_point deadline_;
  bool timed_out_ = false;
  std::map<std::string, StmtPtr> row_stmts_;
};

using Sink = std::function<bool(const ordered_json&)>;

// Gives a result to the sink, honouring the limit. False: stop.
bool Emit(Session& session, const Sink& sink, const ordered_json& row, std::size_t limit) {
  if (limit && session.stats_.rows >= limit) {
    session.stats_.truncated = true;
    return false;
  }
  ++session.stats_.rows;
  return sink(row);
}

Result<void> RunEvents(Session& session, const Plan& plan, const Sink& sink) {
  auto stmt = session.Prepare(plan.sql);
  if (!stmt) return std::unexpected(stmt.error());
  sqlite3_stmt* s = stmt->get();
  int count_column = -1;
  for (int c = 0; c < sqlite3_column_count(s); ++c)
    if (!plan.unique_count_column.empty() && sqlite3_column_name(s, c) == plan.unique_count_column)
      count_column = c;
  while (true) {
    if (session.TimedOut()) return session.DbError("query");
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) return {};
    if (rc != SQLITE_ROW) return session.DbError("query");
    ++session.stats_.candidates;
    ordered_json row;
    if (plan.kind == Plan::Kind::Count) {
      row = ordered_json::object();
      for (std::size_t k = 0; k < plan.count_keys.size(); ++k) {
        auto v = ColumnJson(s, static_cast<int>(k));
        if (plan.count_key_bool[k] && v.is_number_integer()) v = v.get<std::int64_t>() != 0;
        row[plan.count_keys[k]] = std::move(v);
      }
      row["count"] = sqlite3_column_int64(s, static_cast<int>(plan.count_keys.size()));
    } else {
      EventRef ref{std::string(ColumnText(s, 0)), sqlite3_column_int64(s, 1),
                   sqlite3_column_int64(s, 2)};
      auto event = session.EventJson(ref);
      if (!event) return std::unexpected(event.error());
      row = std::move(*event);
      if (count_column >= 0) row["count"] = sqlite3_column_int64(s, count_column);
    }
    if (!Emit(session, sink, row, plan.limit)) return {};
  }
}

// One candidate row of a step: the event and its join key (JSON array of the key values; empty
// when a key is null).
struct StepRow {
  EventRef ref;
  std::string key;
};

// One candidate stream per step, merged by (ts, table, id): rows read ahead, then the statement.
struct StepStream {
  StmtPtr stmt;  // null: rows are all there is
  std::vector<StepRow> rows;
  std::size_t next = 0;
  bool done = false;
  EventRef head;
  std::string key;
};

// Reads the statement's next row into row (values: the key values). False at the end.
Result<bool> ReadRow(Session& session, sqlite3_stmt* st, std::size_t keys, StepRow& row,
                     ordered_json* values = nullptr) {
  int rc = sqlite3_step(st);
  if (rc == SQLITE_DONE) return false;
  if (rc != SQLITE_ROW) return session.DbError("query");
  ++session.stats_.candidates;
  row.ref = EventRef{std::string(ColumnText(st, 0)), sqlite3_column_int64(st, 1),
                     sqlite3_column_int64(st, 2)};
  ordered_json key = ordered_json::array();
  bool null_key = false;
  for (std::size_t k = 0; k < keys; ++k) {
    auto v = ColumnJson(st, static_cast<int>(3 + k));
    if (v.is_null()) null_key = true;
    key.push_back(std::move(v));
  }
  row.key = null_key ? std::string() : key.dump();
  if (values) *values = std::move(key);
  return true;
}

Result<bool> Advance(Session& session, StepStream& s, std::size_t keys) {
  if (s.next < s.rows.size()) {
    s.head = std::move(s.rows[s.next].ref);
    s.key = std::move(s.rows[s.next].key);
    if (++s.next == s.rows.size()) s.rows.clear(), s.next = 0;
    return true;
  }
  StepRow row;
  auto r = s.stmt ? ReadRow(session, s.stmt.get(), keys, row) : Result<bool>(false);
  if (!r) return r;
  if (!*r) {
    s.done = true;
    return false;
  }
  s.head = std::move(row.ref);
  s.key = std::move(row.key);
  return true;
}

bool Before(const EventRef& a, const EventRef& b) {
  if (a.ts != b.ts) return a.ts < b.ts;
  if (a.table != b.table) return a.table < b.table;
  return a.id < b.id;
}

// The statement's plan (EXPLAIN QUERY PLAN details, one per line).
Result<std::string> QueryPlan(Session& session, const std::string& sql) {
  auto stmt = session.Prepare("EXPLAIN QUERY PLAN " + sql);
  if (!stmt) return std::unexpected(stmt.error());
  std::string out;
  int rc;
  while ((rc = sqlite3_step(stmt->get())) == SQLITE_ROW)
    out += std::string(ColumnText(stmt->get(), 3)) + "\n";
  if (rc != SQLITE_DONE) return session.DbError("query plan");
  return out;
}

// Whether the plan reads a whole event table (or a whole index of one), and whether it searches
// one with an equality (the join key's index).
struct PlanShape {
  bool scans = false, searches_equal = false;
};

PlanShape Shape(const std::string& plan) {
  PlanShape shape;
  std::size_t at = 0;
  while (at < plan.size()) {
    std::size_t end = plan.find('\n', at);
    std::string_view line(plan.data() + at, end - at);
    at = end + 1;
    for (const auto& c : schema::Categories()) {
      for (std::string_view verb : {"SCAN ", "SEARCH "}) {
        std::string head = std::string(verb) + std::string(c.name);
        if (!line.starts_with(head) || (line.size() > head.size() && line[head.size()] != ' '))
          continue;
        // A column-block table (block_table_vtab.hpp) is always a SCAN line; its plan number
        // says whether it looks rows up, reads a range or reads every block.
        if (auto access = store::blocks::PlannedAccess(line)) {
          shape.scans |= *access == store::blocks::BlockAccess::kScan;
          shape.searches_equal |= *access == store::blocks::BlockAccess::kLookup;
        } else if (verb == "SCAN ") {
          shape.scans = true;
        } else if (line.find("=?") != std::string_view::npos) {
          shape.searches_equal = true;
        }
      }
    }
  }
  return shape;
}

struct Streams {
  std::vector<StepStream> streams;
  std::vector<std::vector<std::size_t>> steps_of;  // per stream, the steps it serves
};

// Driver steps with more candidates than this are not pushed down (one window each).
constexpr std::size_t kMaxDriverRows = 20000;
constexpr std::string_view kStepOrder = " ORDER BY ts, tbl, id";  // how step_sql ends

// Sequence and sample pushdown. Per join key, a sequence lies within maxspan of each of its
// events, and a key's partial sequences never affect another key's; so once one positive step's
// candidates are all known (the driver), every other step only needs its events with one of the
// driver's keys, within maxspan of a driver event of that key (any time, without maxspan): the
// other events only start partial sequences that expire, or are replaced, before completing. A
// sample (no maxspan) needs every filter's event with the key: the same restriction holds. The
// driver is the step that ends first when the steps that do not scan a table are read in turns (the
// one with the fewest candidates); the others then run keyed (Plan::step_keyed_sql) when their plan
// searches the key's index, else as they are.
Result<void> PushDown(Session& session, const Plan& plan, Streams& st) {
  auto& streams = st.streams;
  const std::size_t listed = plan.step_sql.size() - (plan.has_until ? 1 : 0);
  std::vector<std::size_t> candidates;
  for (std::size_t i = 0; i < streams.size(); ++i) {
    bool positive = false;
    for (std::size_t step : st.steps_of[i])
      positive |= step < listed && !(step < plan.step_missing.size() && plan.step_missing[step]);
    if (!positive) continue;
    auto qp = QueryPlan(session, plan.step_sql[st.steps_of[i][0]]);
    if (!qp) return std::unexpected(qp.error());
    if (!Shape(*qp).scans) candidates.push_back(i);
  }
  if (candidates.empty()) return {};
  // The race reads the steps unordered: with ORDER BY, SQLite sorts a step's whole result before
  // its first row. The driver's rows are sorted here; the others restart (keyed or as they are).
  std::vector<StmtPtr> race(streams.size());
  for (std::size_t i : candidates) {
    std::string sql = plan.step_sql[st.steps_of[i][0]];
    if (sql.ends_with(kStepOrder)) sql.resize(sql.size() - kStepOrder.size());
    auto stmt = session.Prepare(sql);
    if (!stmt) return std::unexpected(stmt.error());
    race[i] = std::move(*stmt);
  }
  std::vector<std::vector<StepRow>> read(streams.size());
  std::vector<ordered_json> values;  // the driver's key values, per row
  std::vector<std::vector<ordered_json>> race_values(streams.size());
  std::optional<std::size_t> driver;
  while (!driver) {
    if (session.TimedOut()) return session.DbError("query");
    bool all_large = true;
    for (std::size_t i : candidates) {
      StepRow row;
      ordered_json key;
      auto r = ReadRow(session, race[i].get(), plan.key_count, row, &key);
      if (!r) return std::unexpected(r.error());
      if (!*r) {
        driver = i;
        break;
      }
      read[i].push_back(std::move(row));
      race_values[i].push_back(std::move(key));
      all_large &= read[i].size() > kMaxDriverRows;
    }
    if (!driver && all_large) return {};  // every step is common: stream them as they are
  }
  StepStream& d = streams[*driver];
  {
    std::vector<std::size_t> order(read[*driver].size());
    for (std::size_t r = 0; r < order.size(); ++r) order[r] = r;
    auto& rows = read[*driver];
    std::sort(order.begin(), order.end(),
              [&](std::size_t a, std::size_t b) { return Before(rows[a].ref, rows[b].ref); });
    for (std::size_t r : order) {
      d.rows.push_back(std::move(rows[r]));
      values.push_back(std::move(race_values[*driver][r]));
    }
  }
  d.stmt.reset();
  // Per key, the merged windows [ts - maxspan, ts + maxspan] of its driver events.
  constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  std::map<std::string,
           std::pair<const ordered_json*, std::vector<std::pair<std::int64_t, std::int64_t>>>>
      windows;
  for (std::size_t r = 0; r < d.rows.size(); ++r) {
    if (d.rows[r].key.empty()) continue;
    std::int64_t ts = d.rows[r].ref.ts, span = plan.maxspan_ns.value_or(0);
    std::int64_t lo = !plan.maxspan_ns ? kMin : ts < kMin + span ? kMin : ts - span;
    std::int64_t hi = !plan.maxspan_ns ? kMax : ts > kMax - span ? kMax : ts + span;
    auto& w = windows[d.rows[r].key];
    w.first = &values[r];
    w.second.emplace_back(lo, hi);
  }
  ordered_json list = ordered_json::array();
  for (auto& [key, w] : windows) {
    auto& spans = w.second;
    std::sort(spans.begin(), spans.end());
    std::vector<std::pair<std::int64_t, std::int64_t>> merged;
    for (const auto& s : spans)
      if (!merged.empty() && s.first <= merged.back().second)
        merged.back().second = std::max(merged.back().second, s.second);
      else
        merged.push_back(s);
    for (const auto& [lo, hi] : merged) {
      ordered_json item = *w.first;
      item.push_back(lo);
      item.push_back(hi);
      list.push_back(std::move(item));
    }
  }
  std::string json = list.dump();
  for (std::size_t i = 0; i < streams.size(); ++i) {
    if (i == *driver) continue;
    const std::string& keyed = plan.step_keyed_sql.size() > st.steps_of[i][0]
                                   ? plan.step_keyed_sql[st.steps_of[i][0]]
                                   : std::string();
    bool use = !keyed.empty();
    if (use) {
      auto qp = QueryPlan(session, keyed);
      if (!qp) return std::unexpected(qp.error());
      PlanShape shape = Shape(*qp);
      use = !shape.scans && shape.searches_equal;
    }
    if (!use) continue;  // as it is
    auto stmt = session.Prepare(keyed);
    if (!stmt) return std::unexpected(stmt.error());
    sqlite3_bind_text(stmt->get(), 1, json.data(), static_cast<int>(json.size()), SQLITE_STATIC);
    std::vector<StepRow> rows;
    while (true) {
      StepRow row;
      auto r = ReadRow(session, stmt->get(), plan.key_count, row);
      if (!r) return std::unexpected(r.error());
      if (!*r) break;
      rows.push_back(std::move(row));
    }
    streams[i].rows = std::move(rows);
    streams[i].stmt.reset();
  }
  return {};
}

// Calls on_event(event, matched steps as (index, key)) for each distinct event in time order.
Result<void> MergeSteps(
    Session& session, const Plan& plan,
    const std::function<Result<bool>(
        const EventRef&, const std::vector<std::pair<std::size_t, std::string>>&)>& on_event) {
  // Identical steps (`runs=N`, repeated queries) share one stream.
  Streams st;
  auto& streams = st.streams;
  std::map<std::string, std::size_t> stream_of;
  for (std::size_t step = 0; step < plan.step_sql.size(); ++step) {
    const auto& sql = plan.step_sql[step];
    if (auto it = stream_of.find(sql); it != stream_of.end()) {
      st.steps_of[it->second].push_back(step);
      continue;
    }
    auto stmt = session.Prepare(sql);
    if (!stmt) return std::unexpected(stmt.error());
    stream_of[sql] = streams.size();
    st.steps_of.push_back({step});
    streams.push_back(StepStream{std::move(*stmt), {}, 0, false, {}, {}});
  }
  if (plan.key_count > 0 && streams.size() > 1)
    if (auto r = PushDown(session, plan, st); !r) return r;
  for (auto& s : streams)
    if (auto r = Advance(session, s, plan.key_count); !r) return std::unexpected(r.error());
  const auto& steps_of = st.steps_of;
  std::vector<std::pair<std::size_t, std::string>> matched;
  while (true) {
    if (session.TimedOut())
      return Fail("query timed out after " + std::to_string(session.options_.timeout.count()) +
                  " ms");
    const EventRef* next = nullptr;
    for (auto& s : streams)
      if (!s.done && (!next || Before(s.head, *next))) next = &s.head;
    if (!next) return {};
    EventRef event = *next;
    matched.clear();
    for (std::size_t i = 0; i < streams.size(); ++i) {
      auto& s = streams[i];
      if (s.done || !(s.head == event)) continue;
      if (!s.key.empty())
        for (std::size_t step : steps_of[i]) matched.emplace_back(step, s.key);
      if (auto r = Advance(session, s, plan.key_count); !r) return std::unexpected(r.error());
    }
    std::sort(matched.begin(), matched.end());
    auto go_on = on_event(event, matched);
    if (!go_on) return std::unexpected(go_on.error());
    if (!*go_on) return {};
  }
}

// SQLite's order of key values: null, then numbers (numerically), then text (bytes).
int CompareKeys(const ordered_json& a, const ordered_json& b) {
  auto rank = [](const ordered_json& v) { return v.is_null() ? 0 : v.is_number() ? 1 : 2; };
  if (rank(a) != rank(b)) return rank(a) < rank(b) ? -1 : 1;
  if (a.is_number()) {
    if (a.is_number_integer() && b.is_number_integer()) {
      auto x = a.get<std::int64_t>(), y = b.get<std::int64_t>();
      return x < y ? -1 : x > y;
    }
    double x = a.get<double>(), y = b.get<double>();
    return x < y ? -1 : x > y;
  }
  if (a.is_string())
    return a.get_ref<const std::string&>().compare(b.get_ref<const std::string&>());
  return 0;
}

// Applies the pipes of sequences and samples, in order, to the completed matches; what passes
// them all is written. head, unique and filter stream; tail, sort, unique_count and count hold
// matches (or counts) until the end. Keys are events[N].<expr>, read in SQL on that event's row.
class MatchOutput {
 public:
  MatchOutput(Session& session, const Plan& plan, const Sink& sink, const char* name)
      : session_(session), plan_(plan), sink_(sink), name_(name), stages_(plan.pipes.size()) {}

  // False: no more matches are needed.
  Result<bool> Add(std::vector<EventRef> events) { return Push(0, Item{std::move(events), {}}); }

  Result<void> Finish() { return Flush(0); }

 private:
  struct Item {
    std::vector<EventRef> events;
    std::optional<std::uint64_t> count;  // after unique_count
  };
  struct Group {
    std::vector<ordered_json> keys;
    std::uint64_t count = 0;
    std::optional<Item> first;  // unique_count: the first match of the group
    std::size_t order = 0;      // unique_count: position of the first match
  };
  struct Stage {
    std::uint64_t seen = 0;                                          // head: matches passed on
    std::deque<Item> ring;                                           // tail: the last matches
    std::vector<std::pair<std::vector<ordered_json>, Item>> sorted;  // sort: keys and match
    std::map<std::string, Group> groups;                             // unique, unique_count, count
    std::map<std::string, StmtPtr> filter;                           // filter: per table
    std::vector<std::map<std::string, StmtPtr>> keys;                // per key, per table
  };

  Result<bool> Push(std::size_t i, Item item) {
    if (i == stages_.size()) return Write(item);
    const Pipe& pipe = *plan_.pipes[i];
    Stage& st = stages_[i];
    switch (pipe.kind) {
      case PipeKind::Head: {
        if (st.seen >= static_cast<std::uint64_t>(pipe.count)) return false;
        ++st.seen;
        auto more = Push(i + 1, std::move(item));
        if (!more) return more;
        return *more && st.seen < static_cast<std::uint64_t>(pipe.count);
      }
      case PipeKind::Tail:
        st.ring.push_back(std::move(item));
        if (st.ring.size() > static_cast<std::size_t>(pipe.count)) st.ring.pop_front();
        return true;
      case PipeKind::Filter: {
        auto pass = Passes(i, item.events);
        if (!pass) return std::unexpected(pass.error());
        if (!*pass) return true;
        return Push(i + 1, std::move(item));
      }
      case PipeKind::Sort:
      case PipeKind::Unique:
      case PipeKind::UniqueCount:
      case PipeKind::Count: {
        auto keys = Keys(i, item.events);
        if (!keys) return std::unexpected(keys.error());
        if (pipe.kind == PipeKind::Sort) {
          st.sorted.emplace_back(std::move(*keys), std::move(item));
          return true;
        }
        std::string id = ordered_json(*keys).dump();
        auto [it, fresh] = st.groups.try_emplace(id);
        Group& g = it->second;
        ++g.count;
        if (pipe.kind == PipeKind::Unique) return fresh ? Push(i + 1, std::move(item)) : true;
        if (fresh) {
          g.keys = std::move(*keys);
          g.order = st.groups.size();
          if (pipe.kind == PipeKind::UniqueCount) g.first = std::move(item);
        }
        if (st.groups.size() > kMaxPartialSequences)
          return Fail("pipe " + std::string(PipeName(pipe.kind)) + ": more than " +
                      std::to_string(kMaxPartialSequences) + " distinct keys");
        return true;
      }
    }
    return true;
  }

  // At the end: held matches pass on (in order), a count writes its rows; then the next stage.
  Result<void> Flush(std::size_t i) {
    if (i == stages_.size()) return {};
    const Pipe& pipe = *plan_.pipes[i];
    Stage& st = stages_[i];
    std::vector<Item> out;
    switch (pipe.kind) {
      case PipeKind::Count:
        return WriteCounts(i);
      case PipeKind::Tail:
        for (auto& item : st.ring) out.push_back(std::move(item));
        st.ring.clear();
        break;
      case PipeKind::Sort: {
        std::ranges::stable_sort(st.sorted, [&](const auto& a, const auto& b) {
          for (std::size_t k = 0; k < a.first.size(); ++k) {
            int c = CompareKeys(a.first[k], b.first[k]);
            if (k < pipe.descending.size() && pipe.descending[k]) c = -c;
            if (c) return c < 0;
          }
          return false;
        });
        for (auto& [keys, item] : st.sorted) out.push_back(std::move(item));
        st.sorted.clear();
        break;
      }
      case PipeKind::UniqueCount: {
        std::vector<Group*> groups;
        for (auto& [id, g] : st.groups) groups.push_back(&g);
        std::ranges::sort(groups, {}, &Group::order);
        for (Group* g : groups) {
          g->first->count = g->count;
          out.push_back(std::move(*g->first));
        }
        st.groups.clear();
        break;
      }
      default:
        break;
    }
    for (auto& item : out) {
      auto more = Push(i + 1, std::move(item));
      if (!more) return std::unexpected(more.error());
      if (!*more) break;
    }
    return Flush(i + 1);
  }

  // A count's rows, rarest first (then by the keys), as for event queries; only head and tail
  // may follow it, and they apply to these rows.
  Result<void> WriteCounts(std::size_t i) {
    const Pipe& pipe = *plan_.pipes[i];
    Stage& st = stages_[i];
    std::vector<ordered_json> rows;
    if (pipe.args.empty()) {
      std::uint64_t n = 0;
      for (const auto& [id, g] : st.groups) n += g.count;
      ordered_json row = ordered_json::object();
      row["count"] = n;
      rows.push_back(std::move(row));
    } else {
      std::vector<const Group*> groups;
      for (const auto& [id, g] : st.groups) groups.push_back(&g);
      std::ranges::sort(groups, [](const Group* a, const Group* b) {
        if (a->count != b->count) return a->count < b->count;
        for (std::size_t k = 0; k < a->keys.size(); ++k)
          if (int c = CompareKeys(a->keys[k], b->keys[k])) return c < 0;
        return false;
      });
      for (const Group* g : groups) {
        ordered_json row = ordered_json::object();
        for (std::size_t k = 0; k < g->keys.size(); ++k) {
          ordered_json v = g->keys[k];
          if (pipe.args[k]->type == ValueType::Bool && v.is_number_integer())
            v = v.get<std::int64_t>() != 0;
          row[pipe.arg_names[k]] = std::move(v);
        }
        row["count"] = g->count;
        rows.push_back(std::move(row));
      }
    }
    std::size_t from = 0, to = rows.size();
    for (std::size_t j = i + 1; j < stages_.size(); ++j) {
      const Pipe& next = *plan_.pipes[j];
      auto n = static_cast<std::size_t>(next.count);
      if (next.kind == PipeKind::Head) to = std::min(to, from + n);
      if (next.kind == PipeKind::Tail && to - from > n) from = to - n;
    }
    for (std::size_t r = from; r < to; ++r)
      if (!Emit(session_, sink_, rows[r], plan_.limit)) break;
    return {};
  }

  // The statement of pipe i for table (from sql), prepared once.
  Result<sqlite3_stmt*> Statement(std::map<std::string, StmtPtr>& cache,
                                  const std::map<std::string, std::string>& sql,
                                  const std::string& table) {
    auto it = cache.find(table);
    if (it == cache.end()) {
      auto text = sql.find(table);
      if (text == sql.end()) return static_cast<sqlite3_stmt*>(nullptr);
      auto stmt = session_.Prepare(text->second);
      if (!stmt) return std::unexpected(stmt.error());
      it = cache.emplace(table, std::move(*stmt)).first;
    }
    return it->second.get();
  }

  // The values of pipe i's keys on the match: key k on its event.
  Result<std::vector<ordered_json>> Keys(std::size_t i, const std::vector<EventRef>& events) {
    const Pipe& pipe = *plan_.pipes[i];
    Stage& st = stages_[i];
    st.keys.resize(pipe.args.size());
    std::vector<ordered_json> out;
    for (std::size_t k = 0; k < pipe.args.size(); ++k) {
      const EventRef& e = events.at(static_cast<std::size_t>(pipe.arg_event[k]));
      auto q = Statement(st.keys[k], plan_.pipe_key_sql[i][k], e.table);
      if (!q) return std::unexpected(q.error());
      ordered_json v = nullptr;
      if (*q) {
        sqlite3_reset(*q);
        sqlite3_bind_int64(*q, 1, e.id);
        int rc = sqlite3_step(*q);
        if (rc == SQLITE_ROW) v = ColumnJson(*q, 0);
        sqlite3_reset(*q);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) return session_.DbError("pipe key");
      }
      out.push_back(std::move(v));
    }
    return out;
  }

  // A match passes a filter when one of its events satisfies the condition (in SQL, by id); a
  // condition on events[N] is tested on that event only.
  Result<bool> Passes(std::size_t i, const std::vector<EventRef>& events) {
    Stage& st = stages_[i];
    const Pipe& pipe = *plan_.pipes[i];
    int only = pipe.arg_event.empty() ? -1 : pipe.arg_event[0];
    for (std::size_t n = 0; n < events.size(); ++n) {
      if (only >= 0 && n != static_cast<std::size_t>(only)) continue;
      const EventRef& e = events[n];
      auto q = Statement(st.filter, plan_.pipe_filter_sql[i], e.table);
      if (!q) return std::unexpected(q.error());
      if (!*q) continue;
      sqlite3_reset(*q);
      sqlite3_bind_int64(*q, 1, e.id);
      int rc = sqlite3_step(*q);
      sqlite3_reset(*q);
      if (rc == SQLITE_ROW) return true;
      if (rc != SQLITE_DONE) return session_.DbError("filter");
    }
    return false;
  }

  Result<bool> Write(const Item& item) {
    ordered_json list = ordered_json::array();
    for (const auto& e : item.events) {
      auto json = session_.EventJson(e);
      if (!json) return std::unexpected(json.error());
      list.push_back(std::move(*json));
    }
    ordered_json row = ordered_json::object();
    row[name_] = std::move(list);
    if (item.count) row["count"] = *item.count;
    return Emit(session_, sink_, row, plan_.limit);
  }

  Session& session_;
  const Plan& plan_;
  const Sink& sink_;
  const char* name_;
  std::vector<Stage> stages_;
};

// Elastic EQL sequence semantics: per join key, at most one partial sequence per stage (the
// latest); an event matching step i moves the partial sequence of stage i-1 to stage i (steps are
// tried last to first so one event never advances a sequence twice); step 1 starts a new one;
// maxspan bounds last - first; until drops the key's partial sequences. A missing-event step
// `![q]` between steps i and i+1 drops the key's partial sequence that has completed step i when
// an event matching q arrives before one matching step i+1; first in the sequence, it drops a
// match [first .. last] with such an event in [last - maxspan, first); last, one in
// (last, first + maxspan]. `runs=N` steps are N plain steps.
Result<void> RunSequence(Session& session, const Plan& plan, const Sink& sink) {
  struct Partial {
    std::vector<EventRef> events;
    std::int64_t start = 0;
  };
  const std::size_t listed = plan.step_sql.size() - (plan.has_until ? 1 : 0);
  auto missing_at = [&](std::size_t j) {
    return j < plan.step_missing.size() && plan.step_missing[j];
  };
  // Per listed step: its stage (positive steps), or for a missing step between two positive ones
  // the stage it cancels. Missing steps before the first positive step are leading, after the
  // last one trailing (both need maxspan, checked by the parser).
  enum class Missing { No, Between, Leading, Trailing };
  std::vector<std::size_t> stage_of(listed);
  std::vector<Missing> kind(listed, Missing::No);
  std::size_t steps = 0;
  for (std::size_t j = 0; j < listed; ++j) {
    if (!missing_at(j)) {
      stage_of[j] = steps++;
      continue;
    }
    bool after = false;
    for (std::size_t k = j + 1; k < listed; ++k) after |= !missing_at(k);
    kind[j] = steps == 0 ? Missing::Leading : after ? Missing::Between : Missing::Trailing;
    stage_of[j] = steps == 0 ? 0 : steps - 1;
  }
  const bool leading = std::ranges::count(kind, Missing::Leading) > 0;
  const bool trailing = std::ranges::count(kind, Missing::Trailing) > 0;
  const std::int64_t maxspan = plan.maxspan_ns.value_or(0);
  std::unordered_map<std::string, std::vector<std::optional<Partial>>> state;
  std::size_t partials = 0;
  std::uint64_t seen = 0;
  MatchOutput out(session, plan, sink, "sequence");
  auto expired = [&](const Partial& p, std::int64_t ts) {
    return plan.maxspan_ns && ts - p.start > *plan.maxspan_ns;
  };
  // Leading missing steps: per key, the times of their events in the last maxspan. A match
  // [first .. last] is dropped when one lies in [last - maxspan, first).
  std::unordered_map<std::string, std::deque<std::int64_t>> before;
  // Trailing missing steps: a completed match waits until first + maxspan has passed; one of
  // their events in (last, first + maxspan] (same key) drops it.
  struct Pending {
    std::string key;
    std::vector<EventRef> events;
    std::int64_t last = 0;
  };
  std::map<std::uint64_t, Pending> pending;              // by completion order
  std::multimap<std::int64_t, std::uint64_t> deadlines;  // first + maxspan -> pending
  std::unordered_map<std::string, std::vector<std::uint64_t>> pending_of;
  std::uint64_t next_pending = 0;
  // Writes the pending matches whose window closed before ts (all: at the end).
  auto release = [&](std::int64_t ts, bool all) -> Result<bool> {
    while (!deadlines.empty() && (all || deadlines.begin()->first < ts)) {
      std::uint64_t id = deadlines.begin()->second;
      deadlines.erase(deadlines.begin());
      auto p = pending.find(id);
      if (p == pending.end()) continue;  // dropped by a trailing missing event
      auto events = std::move(p->second.events);
      auto& ids = pending_of[p->second.key];
      std::erase(ids, id);
      if (ids.empty()) pending_of.erase(p->second.key);
      pending.erase(p);
      auto more = out.Add(std::move(events));
      if (!more || !*more) return more;
    }
    return true;
  };
  auto complete = [&](const std::string& key, std::vector<EventRef> events) -> Result<bool> {
    const std::int64_t first = events.front().ts, last = events.back().ts;
    if (leading)
      if (auto b = before.find(key);
          b != before.end() && std::ranges::any_of(b->second, [&](std::int64_t t) {
            return t >= last - maxspan && t < first;
          }))
        return true;
    if (!trailing) return out.Add(std::move(events));
    std::uint64_t id = next_pending++;
    pending.emplace(id, Pending{key, std::move(events), last});
    deadlines.emplace(first + maxspan, id);
    pending_of[key].push_back(id);
    if (pending.size() > kMaxPartialSequences)
      return Fail("sequence state limit reached (" + std::to_string(kMaxPartialSequences) +
                  " matches waiting for their trailing missing-event window): narrow the steps "
                  "or the time range");
    return true;
  };
  auto r = MergeSteps(session, plan, [&](const EventRef& ev, const auto& matched) -> Result<bool> {
    if (trailing) {
      auto more = release(ev.ts, false);
      if (!more || !*more) return more;
    }
    if (plan.maxspan_ns && ++seen % 65536 == 0) {  // drop expired partial sequences
      for (auto it = state.begin(); it != state.end();) {
        bool any = false;
        for (auto& slot : it->second) {
          if (slot && expired(*slot, ev.ts)) slot.reset(), --partials;
          any |= slot.has_value();
        }
        it = any ? std::next(it) : state.erase(it);
      }
      std::erase_if(before, [&](auto& kv) {
        return !kv.second.empty() && kv.second.back() < ev.ts - maxspan;
      });
    }
    for (auto m = matched.rbegin(); m != matched.rend(); ++m) {
      auto [listed_step, key] = *m;
      auto it = state.find(key);
      if (plan.has_until && listed_step == listed) {  // until
        if (it != state.end()) {
          for (auto& slot : it->second) partials -= slot.has_value();
          state.erase(it);
        }
        continue;
      }
      if (kind[listed_step] == Missing::Leading) {
        auto& times = before[key];
        while (!times.empty() && times.front() < ev.ts - maxspan) times.pop_front();
        times.push_back(ev.ts);
        if (before.size() > kMaxPartialSequences)
          return Fail("sequence state limit reached (" + std::to_string(kMaxPartialSequences) +
                      " keys of leading missing-event steps): narrow the steps or the time range");
        continue;
      }
      if (kind[listed_step] == Missing::Trailing) {
        if (auto ids = pending_of.find(key); ids != pending_of.end()) {
          std::erase_if(ids->second, [&](std::uint64_t id) {
            auto p = pending.find(id);
            if (p == pending.end()) return true;
            if (ev.ts < p->second.last || ev.ts > p->second.events.front().ts + maxspan)
              return false;
            pending.erase(p);
            return true;
          });
          if (ids->second.empty()) pending_of.erase(ids);
        }
        continue;
      }
      if (kind[listed_step] == Missing::Between) {
        std::size_t cancel = stage_of[listed_step];
        if (it != state.end() && it->second[cancel]) {
          it->second[cancel].reset();
          --partials;
        }
        continue;
      }
      std::size_t step = stage_of[listed_step];
      if (step == 0) {
        if (it == state.end())
          it = state.emplace(key, std::vector<std::optional<Partial>>(steps)).first;
        if (!it->second[0]) ++partials;
        it->second[0] = Partial{{ev}, ev.ts};
        if (steps == 1) {
          auto done = std::move(*it->second[0]);
          it->second[0].reset();
          --partials;
          auto more = complete(key, std::move(done.events));
          if (!more || !*more) return more;
        }
      } else if (it != state.end() && it->second[step - 1]) {
        Partial p = std::move(*it->second[step - 1]);
        it->second[step - 1].reset();
        --partials;
        if (expired(p, ev.ts)) continue;
        p.events.push_back(ev);
        if (step + 1 == steps) {
          auto more = complete(key, std::move(p.events));
          if (!more || !*more) return more;
        } else {
          if (!it->second[step]) ++partials;
          it->second[step] = std::move(p);
        }
      }
      if (partials > kMaxPartialSequences)
        return Fail("sequence state limit reached (" + std::to_string(kMaxPartialSequences) +
                    " partial sequences): add a maxspan, narrower steps or a shorter time range");
    }
    return true;
  });
  if (!r) return r;
  if (auto more = release(0, true); !more) return std::unexpected(more.error());
  return out.Finish();
}

// Sample: per join key, the first event of each filter (an event fills one slot); each key gives
// at most one sample, emitted when every filter has an event.
Result<void> RunSample(Session& session, const Plan& plan, const Sink& sink) {
  const std::size_t steps = plan.step_sql.size();
  std::unordered_map<std::string, std::vector<std::optional<EventRef>>> state;
  std::unordered_map<std::string, bool> done;
  MatchOutput out(session, plan, sink, "sample");
  auto r = MergeSteps(session, plan, [&](const EventRef& ev, const auto& matched) -> Result<bool> {
    for (const auto& [step, key] : matched) {
      if (done.contains(key)) continue;
      auto& slots = state.try_emplace(key, steps).first->second;
      if (slots[step]) continue;
      slots[step] = ev;
      bool complete = true;
      for (const auto& s : slots) complete &= s.has_value();
      if (complete) {
        std::vector<EventRef> events;
        for (auto& s : slots) events.push_back(*s);
        state.erase(key);
        done[key] = true;
        auto more = out.Add(std::move(events));
        if (!more || !*more) return more;
      }
      if (state.size() > kMaxPartialSequences)
        return Fail("sample state limit reached (" + std::to_string(kMaxPartialSequences) +
                    " keys)");
      break;
    }
    return true;
  });
  if (!r) return r;
  return out.Finish();
}

// Per-value selectivity, which SQLite lacks: counts the candidates of each competing postings
// prefilter (up to kProbeRows). The rarest, when below that, drives and the other prefilters are
// left out; with a relationship in the group (an entity-id index search, assumed selective) the
// common prefilters are left out. Then renders the plan's SQL without markers.
constexpr int kProbeRows = 5000;

Result<void> SteerIndexes(Session& session, Plan& plan) {
  std::vector<bool> disabled(plan.index_terms.size(), false);
  std::map<int, std::vector<std::size_t>> groups;
  for (std::size_t i = 0; i < plan.index_terms.size(); ++i)
    groups[plan.index_terms[i].group].push_back(i);
  for (const auto& [group, terms] : groups) {
    if (terms.size() < 2) continue;
    std::map<std::size_t, std::int64_t> rows;  // postings prefilters only
    bool relationship = false;
    for (std::size_t i : terms) {
      if (plan.index_terms[i].kind == IndexTerm::Kind::Relationship) {
        relationship = true;
        continue;
      }
      auto stmt =
          session.TryPrepare("SELECT count(*) FROM (SELECT 1 FROM " + plan.index_terms[i].source +
                             " LIMIT " + std::to_string(kProbeRows) + ")");
      if (!stmt) return session.DbError("index probe");
      if (sqlite3_step(stmt.get()) != SQLITE_ROW) return session.DbError("index probe");
      rows[i] = sqlite3_column_int64(stmt.get(), 0);
    }
    if (rows.empty()) continue;
    auto best =
        std::ranges::min_element(rows, {}, &std::pair<const std::size_t, std::int64_t>::second);
    for (const auto& [i, n] : rows)
      disabled[i] = best->second < kProbeRows ? i != best->first : relationship;
  }
  plan.sql = RenderSql(plan.sql, plan.index_terms, disabled, false);
  for (auto& sql : plan.step_sql) sql = RenderSql(sql, plan.index_terms, disabled, false);
  for (auto& sql : plan.step_keyed_sql) sql = RenderSql(sql, plan.index_terms, disabled, true);
  return {};
}

}  // namespace

Result<HuntStats> Run(const std::filesystem::path& db, const Query& query,
                      const HuntOptions& options,
                      const std::function<bool(const ordered_json&)>& sink) {
  auto start = Clock::now();
  auto plan = Compile(query, options);
  if (!plan) return std::unexpected(plan.error());
  Session session(options);
  if (auto r = session.Open(db); !r) return std::unexpected(r.error());
  if (auto r = SteerIndexes(session, *plan); !r) return std::unexpected(r.error());
  Result<void> r;
  switch (plan->kind) {
    case Plan::Kind::Events:
    case Plan::Kind::Count:
      r = RunEvents(session, *plan, sink);
      break;
    case Plan::Kind::Sequence:
      r = RunSequence(session, *plan, sink);
      break;
    case Plan::Kind::Sample:
      r = RunSample(session, *plan, sink);
      break;
  }
  if (!r) return std::unexpected(r.error());
  session.stats_.elapsed =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  return session.stats_;
}

Result<std::string> Explain(const std::filesystem::path& db, const Query& query,
                            const HuntOptions& options) {
  auto plan = Compile(query, options);
  if (!plan) return std::unexpected(plan.error());
  Session session(options);
  if (auto r = session.Open(db); !r) return std::unexpected(r.error());
  if (auto r = SteerIndexes(session, *plan); !r) return std::unexpected(r.error());
  return ExplainPlan(*plan);
}

}  // namespace vigil::hunt
