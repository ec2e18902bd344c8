// Process trees for the console. GET /api/process/tree?entity_id=E&ancestors=1&depth=2&max=2000:
// E's node, its ancestry (up to the oldest known ancestor) and its descendants to `depth` levels,
// each node with command line, user, hash, start/end, how many children it has (so the console
// expands on demand with depth=1 from any node) and counts of its network, dns, file and alert
// events. GET /api/process/activity?entity_id=E&category=network&limit=200: those events, through
// the hunt engine. Reads the store's database file on its own read-only connection.
#include <algorithm>
#include <array>
#include <deque>
#include <set>

#include <nlohmann/json.hpp>

#include "common/schema.hpp"
#include "common/time.hpp"
#include "hunt/hunt.hpp"
#include "server/api/api_context.hpp"
#include "server/api/request_checks.hpp"
#include "server/api/routes.hpp"
#include "server/store/sqlite_util.hpp"

namespace vigil::server {
using nlohmann::json;
namespace {

// Trees run to megabytes: "application/json" would be brotli-compressed by httplib at its highest
// quality (seconds for a 1,000-node tree); with a charset it is sent as it is.
void SendLargeJson(httplib::Response& res, const json& body) {
  res.set_content(body.dump() + "\n", "application/json; charset=utf-8");
}

using store::sqlite::ColumnText;
using store::sqlite::StmtPtr;

constexpr int kMaxAncestors = 128;
constexpr std::size_t kMaxNodes = 20000;
constexpr std::array<std::string_view, 4> kCountedTables{"network", "dns", "file", "alert"};

bool ValidEntityId(const std::string& id) {
  return !id.empty() && id.size() <= 256 &&
         id.find_first_not_of(
             "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:._-") ==
             std::string::npos;
}

// Prepared statements of one tree request.
class TreeReader {
 public:
  static Result<TreeReader> Open(const std::filesystem::path& db_path) {
    auto db = store::sqlite::Open(db_path.string(), SQLITE_OPEN_READONLY);
    if (!db) return std::unexpected(db.error());
    sqlite3_busy_timeout(db->get(), 5000);
    TreeReader r;
    r.db_ = std::move(*db);
    const std::pair<StmtPtr*, const char*> statements[] = {
        {&r.node_,
         "SELECT process_parent_entity_id, process_pid, process_name, process_executable, "
         "process_command_line, user_name, process_hash_sha256, process_start, timestamp, "
         "host_name, event_action, process_parent_pid, process_parent_name, "
         "process_parent_command_line, process_working_directory, user_id FROM process "
         "WHERE process_entity_id = ? ORDER BY CASE event_action WHEN 'exec' THEN 0 "
         "WHEN 'snapshot' THEN 1 WHEN 'fork' THEN 2 ELSE 3 END, timestamp DESC LIMIT 1"},
        {&r.end_,
         "SELECT process_end, process_exit_code FROM process WHERE process_entity_id = ? AND "
         "event_action = 'exit' LIMIT 1"},
        {&r.children_,
         "SELECT process_entity_id, min(timestamp) AS t FROM process WHERE "
         "process_parent_entity_id = ? AND process_entity_id IS NOT NULL "
         "AND process_entity_id != process_parent_entity_id GROUP BY process_entity_id "
         "ORDER BY t"}};
    for (const auto& [stmt, sql] : statements) {
      auto prepared = store::sqlite::Prepare(r.db_.get(), sql);
      if (!prepared) return std::unexpected(prepared.error());
      *stmt = std::move(*prepared);
    }
    // Alerts of the detection engine live in its own table (when it is there): counted with the
    // alert events. Without it the statement stays empty.
    if (auto alerts =
            store::sqlite::Prepare(r.db_.get(), "SELECT count(*) FROM alerts WHERE entity_id = ?"))
      r.detection_alerts_ = std::move(*alerts);
    for (auto table : kCountedTables) {
      auto count =
          store::sqlite::Prepare(r.db_.get(), "SELECT count(*) FROM \"" + std::string(table) +
                                                  "\" WHERE process_entity_id = ?");
      r.counts_.push_back(count ? std::move(*count) : StmtPtr());  // a table may not exist
    }
    return r;
  }

  std::vector<std::string> Children(const std::string& id) {
    store::sqlite::ResetGuard reset(children_.get());
    store::sqlite::BindText(children_.get(), 1, id);
    std::vector<std::string> out;
    while (sqlite3_step(children_.get()) == SQLITE_ROW)
      out.emplace_back(ColumnText(children_.get(), 0));
    return out;
  }

  // The node, or a stub made from a child's parent fields when E has no process events.
  json Node(const std::string& id, const json* stub_from_child) {
    json n{{"entity_id", id}};
    {
      store::sqlite::ResetGuard reset(node_.get());
      store::sqlite::BindText(node_.get(), 1, id);
      sqlite3_stmt* s = node_.get();
      if (sqlite3_step(s) == SQLITE_ROW) {
        auto text = [&](int i) -> json {
          return sqlite3_column_type(s, i) == SQLITE_NULL ? json(nullptr)
                                                          : json(std::string(ColumnText(s, i)));
        };
        auto integer = [&](int i) -> json {
          return sqlite3_column_type(s, i) == SQLITE_NULL ? json(nullptr)
                                                          : json(sqlite3_column_int64(s, i));
        };
        n["known"] = true;
        // The node statement's text columns by key (see Open).
        static constexpr std::pair<const char*, int> kTextColumns[] = {{"parent_entity_id", 0},
                                                                       {"name", 2},
                                                                       {"executable", 3},
                                                                       {"command_line", 4},
                                                                       {"user", 5},
                                                                       {"sha256", 6},
                                                                       {"host", 9},
                                                                       {"action", 10},
                                                                       {"parent_name", 12},
                                                                       {"parent_command_line", 13},
                                                                       {"working_directory", 14},
                                                                       {"user_id", 15}};
        for (const auto& [key, column] : kTextColumns) n[key] = text(column);
        n["pid"] = integer(1);
        n["parent_pid"] = integer(11);
        n["start"] = sqlite3_column_type(s, 7) == SQLITE_NULL
                         ? json(FormatRfc3339(sqlite3_column_int64(s, 8)))
                         : json(FormatRfc3339(sqlite3_column_int64(s, 7)));
      } else {
        n["known"] = false;
        if (stub_from_child) {
          n["pid"] = stub_from_child->value("parent_pid", json(nullptr));
          n["name"] = stub_from_child->value("parent_name", json(nullptr));
          n["command_line"] = stub_from_child->value("parent_command_line", json(nullptr));
          n["host"] = stub_from_child->value("host", json(nullptr));
        }
      }
    }
    {
      store::sqlite::ResetGuard reset(end_.get());
      store::sqlite::BindText(end_.get(), 1, id);
      if (sqlite3_step(end_.get()) == SQLITE_ROW) {
        if (sqlite3_column_type(end_.get(), 0) != SQLITE_NULL)
          n["end"] = FormatRfc3339(sqlite3_column_int64(end_.get(), 0));
        if (sqlite3_column_type(end_.get(), 1) != SQLITE_NULL)
          n["exit_code"] = sqlite3_column_int64(end_.get(), 1);
      }
    }
    json counts = json::object();
    for (std::size_t i = 0; i < kCountedTables.size(); ++i) {
      std::int64_t count = 0;
      if (counts_[i]) {
        store::sqlite::ResetGuard reset(counts_[i].get());
        store::sqlite::BindText(counts_[i].get(), 1, id);
        if (sqlite3_step(counts_[i].get()) == SQLITE_ROW)
          count = sqlite3_column_int64(counts_[i].get(), 0);
      }
      if (kCountedTables[i] == "alert" && detection_alerts_) {
        store::sqlite::ResetGuard reset(detection_alerts_.get());
        store::sqlite::BindText(detection_alerts_.get(), 1, id);
        if (sqlite3_step(detection_alerts_.get()) == SQLITE_ROW)
          count += sqlite3_column_int64(detection_alerts_.get(), 0);
      }
      counts[std::string(kCountedTables[i])] = count;
    }
    n["counts"] = counts;
    return n;
  }

 private:
  TreeReader() = default;
  store::sqlite::DbPtr db_;
  StmtPtr node_, end_, children_, detection_alerts_;
  std::vector<StmtPtr> counts_;
};

}  // namespace

void RegisterProcessRoutes(httplib::Server& http, ApiContext& ctx) {
  http.Get("/api/process/tree", [&ctx](const httplib::Request& req, httplib::Response& res) {
    const std::string id = req.get_param_value("entity_id");
    if (!ValidEntityId(id))
      return SendError(res, 400, "entity_id must be a process.entity_id (letters, digits, ':._-')");
    auto ancestors_param = IntParam(req, "ancestors", 1, 0, 1);
    if (!ancestors_param) return SendError(res, 400, ancestors_param.error().message);
    auto depth_param = IntParam(req, "depth", 2, 0, 64);
    if (!depth_param) return SendError(res, 400, depth_param.error().message);
    auto max_param = IntParam(req, "max", 2000, 1, static_cast<std::int64_t>(kMaxNodes));
    if (!max_param) return SendError(res, 400, max_param.error().message);
    const bool want_ancestors = *ancestors_param == 1;
    const auto depth = *depth_param;
    const auto max_nodes = static_cast<std::size_t>(*max_param);
    auto reader = TreeReader::Open(ctx.options.db_path);
    if (!reader) return SendError(res, 500, reader.error().message);

    json nodes = json::array();
    std::set<std::string> seen{id};
    json focus = reader->Node(id, nullptr);
    if (!focus.value("known", false) && reader->Children(id).empty())
      return SendError(res, 404, "no process with entity_id " + id + " in the store");

    // Ancestry, oldest first.
    json ancestors = json::array();
    if (want_ancestors) {
      json child = focus;
      for (int i = 0; i < kMaxAncestors; ++i) {
        auto parent = child.value("parent_entity_id", json(nullptr));
        if (!parent.is_string() || parent.get<std::string>().empty()) break;
        const std::string pid = parent.get<std::string>();
        if (!seen.insert(pid).second) break;  // a loop in bad data
        json p = reader->Node(pid, &child);
        ancestors.insert(ancestors.begin(), p);
        if (!p.value("known", false)) break;
        child = std::move(p);
      }
    }
    for (auto& a : ancestors) {
      a["child_count"] = nullptr;  // not listed: the console shows the path to the focus
      nodes.push_back(std::move(a));
    }

    // Descendants breadth first, to `depth` levels and at most max_nodes nodes.
    bool truncated = false;
    std::deque<std::pair<json, std::int64_t>> queue;
    queue.emplace_back(std::move(focus), 0);
    while (!queue.empty()) {
      auto [node, level] = std::move(queue.front());
      queue.pop_front();
      const std::string node_id = node["entity_id"];
      auto children = reader->Children(node_id);
      node["child_count"] = children.size();
      node["expanded"] = level < depth;
      if (level < depth) {
        for (const auto& c : children) {
          if (!seen.insert(c).second) continue;
          if (nodes.size() + queue.size() + 1 >= max_nodes) {
            truncated = true;
            node["expanded"] = false;
            break;
          }
          queue.emplace_back(reader->Node(c, nullptr), level + 1);
        }
      }
      nodes.push_back(std::move(node));
    }
    SendLargeJson(res, {{"focus", id}, {"nodes", nodes}, {"truncated", truncated}});
  });

  http.Get("/api/process/activity", [&ctx](const httplib::Request& req, httplib::Response& res) {
    const std::string id = req.get_param_value("entity_id");
    if (!ValidEntityId(id))
      return SendError(res, 400, "entity_id must be a process.entity_id (letters, digits, ':._-')");
    const std::string category =
        req.has_param("category") ? req.get_param_value("category") : "process";
    if (!schema::ParseCategory(category))
      return SendError(res, 400, "unknown category '" + category + "'");
    auto query = hunt::Parse(category + " where process.entity_id == \"" + id + "\"");
    if (!query) return SendError(res, 500, query.error().message);
    hunt::HuntOptions options;
    auto limit = IntParam(req, "limit", 200, 1, 10000);
    if (!limit) return SendError(res, 400, limit.error().message);
    options.limit = static_cast<std::size_t>(*limit);
    json rows = json::array();
    auto stats =
        hunt::Run(ctx.options.db_path, *query, options, [&](const nlohmann::ordered_json& row) {
          rows.push_back(json::parse(row.dump()));
          return true;
        });
    if (!stats) return SendError(res, 500, stats.error().message);
    SendLargeJson(res, {{"events", rows}, {"truncated", stats->truncated}});
  });
}

}  // namespace vigil::server
