// Runs a compiled plan on a read-only SQLite connection: streams event and count rows, and
// matches sequences and samples over the per-step candidate streams with a bounded state machine
// per join key. Timeouts through sqlite3_progress_handler; row limits enforced here.
#include <sqlite3.h>

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <unordered_map>

#include "common/event_json.hpp"
#include "hunt/compiler.hpp"
#include "hunt/functions.hpp"
#include "hunt/hunt.hpp"

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
    if (auto r = RegisterFunctions(db_.get()); !r) return r;
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

// One candidate stream per step, merged by (ts, table, id).
struct StepStream {
  StmtPtr stmt;
  bool done = false;
  EventRef head;
  std::string key;  // JSON array of the join key values; empty when a key is null
};

Result<bool> Advance(Session& session, StepStream& s, std::size_t keys) {
  int rc = sqlite3_step(s.stmt.get());
  if (rc == SQLITE_DONE) {
    s.done = true;
    return false;
  }
  if (rc != SQLITE_ROW) return session.DbError("query");
  ++session.stats_.candidates;
  sqlite3_stmt* st = s.stmt.get();
  s.head = EventRef{std::string(ColumnText(st, 0)), sqlite3_column_int64(st, 1),
                    sqlite3_column_int64(st, 2)};
  ordered_json key = ordered_json::array();
  bool null_key = false;
  for (std::size_t k = 0; k < keys; ++k) {
    auto v = ColumnJson(st, static_cast<int>(3 + k));
    if (v.is_null()) null_key = true;
    key.push_back(std::move(v));
  }
  s.key = null_key ? std::string() : key.dump();
  return true;
}

bool Before(const EventRef& a, const EventRef& b) {
  if (a.ts != b.ts) return a.ts < b.ts;
  if (a.table != b.table) return a.table < b.table;
  return a.id < b.id;
}

// Calls on_event(event, matched steps as (index, key)) for each distinct event in time order.
Result<void> MergeSteps(
    Session& session, const Plan& plan,
    const std::function<Result<bool>(
        const EventRef&, const std::vector<std::pair<std::size_t, std::string>>&)>& on_event) {
  // Identical steps (`runs=N`, repeated queries) share one stream.
  std::vector<StepStream> streams;
  std::vector<std::vector<std::size_t>> steps_of;
  std::map<std::string, std::size_t> stream_of;
  for (std::size_t step = 0; step < plan.step_sql.size(); ++step) {
    const auto& sql = plan.step_sql[step];
    if (auto it = stream_of.find(sql); it != stream_of.end()) {
      steps_of[it->second].push_back(step);
      continue;
    }
    auto stmt = session.Prepare(sql);
    if (!stmt) return std::unexpected(stmt.error());
    stream_of[sql] = streams.size();
    steps_of.push_back({step});
    streams.push_back(StepStream{std::move(*stmt), false, {}, {}});
    if (auto r = Advance(session, streams.back(), plan.key_count); !r)
      return std::unexpected(r.error());
  }
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

// Applies the pipes of sequences and samples (head, tail, filter, count), in order, to the
// completed matches; what passes them all is written.
class MatchOutput {
 public:
  MatchOutput(Session& session, const Plan& plan, const Sink& sink, const char* name)
      : session_(session), plan_(plan), sink_(sink), name_(name), stages_(plan.pipes.size()) {}

  // False: no more matches are needed.
  Result<bool> Add(std::vector<EventRef> events) { return Push(0, std::move(events)); }

  Result<void> Finish() { return Flush(0); }

 private:
  struct Stage {
    std::uint64_t seen = 0;                  // head: matches passed on
    std::deque<std::vector<EventRef>> ring;  // tail: the last matches
    std::uint64_t count = 0;                 // count
    std::map<std::string, StmtPtr> filter;   // filter: per table
  };

  Result<bool> Push(std::size_t i, std::vector<EventRef> events) {
    if (i == stages_.size()) return Write(events);
    const Pipe& pipe = *plan_.pipes[i];
    Stage& st = stages_[i];
    switch (pipe.kind) {
      case PipeKind::Head: {
        if (st.seen >= static_cast<std::uint64_t>(pipe.count)) return false;
        ++st.seen;
        auto more = Push(i + 1, std::move(events));
        if (!more) return more;
        return *more && st.seen < static_cast<std::uint64_t>(pipe.count);
      }
      case PipeKind::Tail:
        st.ring.push_back(std::move(events));
        if (st.ring.size() > static_cast<std::size_t>(pipe.count)) st.ring.pop_front();
        return true;
      case PipeKind::Count:
        ++st.count;
        return true;
      case PipeKind::Filter: {
        auto pass = Passes(i, events);
        if (!pass) return std::unexpected(pass.error());
        if (!*pass) return true;
        return Push(i + 1, std::move(events));
      }
      default:
        return Fail("pipe " + std::string(PipeName(pipe.kind)) + " after a sequence or sample");
    }
  }

  // At the end: tails pass their matches on, a count writes its row; then the next stage.
  Result<void> Flush(std::size_t i) {
    if (i == stages_.size()) return {};
    const Pipe& pipe = *plan_.pipes[i];
    Stage& st = stages_[i];
    if (pipe.kind == PipeKind::Count) {
      // Only head and tail may follow a count: they keep its single row.
      ordered_json row = ordered_json::object();
      row["count"] = st.count;
      Emit(session_, sink_, row, plan_.limit);
      return {};
    }
    if (pipe.kind == PipeKind::Tail) {
      for (auto& events : st.ring) {
        auto more = Push(i + 1, std::move(events));
        if (!more) return std::unexpected(more.error());
        if (!*more) break;
      }
      st.ring.clear();
    }
    return Flush(i + 1);
  }

  // A match passes a filter when one of its events satisfies the condition (in SQL, by id).
  Result<bool> Passes(std::size_t i, const std::vector<EventRef>& events) {
    Stage& st = stages_[i];
    for (const auto& e : events) {
      auto it = st.filter.find(e.table);
      if (it == st.filter.end()) {
        auto sql = plan_.pipe_filter_sql[i].find(e.table);
        if (sql == plan_.pipe_filter_sql[i].end()) continue;
        auto stmt = session_.Prepare(sql->second);
        if (!stmt) return std::unexpected(stmt.error());
        it = st.filter.emplace(e.table, std::move(*stmt)).first;
      }
      sqlite3_stmt* q = it->second.get();
      sqlite3_reset(q);
      sqlite3_bind_int64(q, 1, e.id);
      int rc = sqlite3_step(q);
      sqlite3_reset(q);
      if (rc == SQLITE_ROW) return true;
      if (rc != SQLITE_DONE) return session_.DbError("filter");
    }
    return false;
  }

  Result<bool> Write(const std::vector<EventRef>& events) {
    ordered_json list = ordered_json::array();
    for (const auto& e : events) {
      auto json = session_.EventJson(e);
      if (!json) return std::unexpected(json.error());
      list.push_back(std::move(*json));
    }
    ordered_json row = ordered_json::object();
    row[name_] = std::move(list);
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
// an event matching q arrives before one matching step i+1. `runs=N` steps are N plain steps.
Result<void> RunSequence(Session& session, const Plan& plan, const Sink& sink) {
  struct Partial {
    std::vector<EventRef> events;
    std::int64_t start = 0;
  };
  const std::size_t listed = plan.step_sql.size() - (plan.has_until ? 1 : 0);
  // Per listed step: its stage (positive steps), or for a missing step the stage it cancels.
  std::vector<std::size_t> stage_of(listed);
  std::size_t steps = 0;
  for (std::size_t j = 0; j < listed; ++j) {
    bool missing = j < plan.step_missing.size() && plan.step_missing[j];
    stage_of[j] = missing ? steps - 1 : steps;
    if (!missing) ++steps;
  }
  std::unordered_map<std::string, std::vector<std::optional<Partial>>> state;
  std::size_t partials = 0;
  std::uint64_t seen = 0;
  MatchOutput out(session, plan, sink, "sequence");
  auto expired = [&](const Partial& p, std::int64_t ts) {
    return plan.maxspan_ns && ts - p.start > *plan.maxspan_ns;
  };
  auto r = MergeSteps(session, plan, [&](const EventRef& ev, const auto& matched) -> Result<bool> {
    if (plan.maxspan_ns && ++seen % 65536 == 0) {  // drop expired partial sequences
      for (auto it = state.begin(); it != state.end();) {
        bool any = false;
        for (auto& slot : it->second) {
          if (slot && expired(*slot, ev.ts)) slot.reset(), --partials;
          any |= slot.has_value();
        }
        it = any ? std::next(it) : state.erase(it);
      }
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
      if (plan.step_missing.size() > listed_step && plan.step_missing[listed_step]) {
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
          auto more = out.Add(std::move(done.events));
          if (!more || !*more) return more;
        }
      } else if (it != state.end() && it->second[step - 1]) {
        Partial p = std::move(*it->second[step - 1]);
        it->second[step - 1].reset();
        --partials;
        if (expired(p, ev.ts)) continue;
        p.events.push_back(ev);
        if (step + 1 == steps) {
          auto more = out.Add(std::move(p.events));
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

}  // namespace

Result<HuntStats> Run(const std::filesystem::path& db, const Query& query,
                      const HuntOptions& options,
                      const std::function<bool(const ordered_json&)>& sink) {
  auto start = Clock::now();
  auto plan = Compile(query, options);
  if (!plan) return std::unexpected(plan.error());
  Session session(options);
  if (auto r = session.Open(db); !r) return std::unexpected(r.error());
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

}  // namespace vigil::hunt
