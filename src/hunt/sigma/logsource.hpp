// Sigma logsource routing: product/category/service → the schema category a rule queries, the
// Windows event kinds its fields resolve through (windows_mapping.hpp), and the guard conditions
// (Sysmon EventID, Windows channel, dataset) that narrow it to the right events.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "hunt/windows_mapping.hpp"

namespace vigil::hunt::sigma {

// Events of one shape the rule can see: their category and how Sigma field names map there.
struct Route {
  schema::Category category;
  WindowsKind kind;    // Other: every Sigma field is an extra-map key
  bool linux = false;  // Vigil's own sensor events: mapped fields only
};

struct Logsource {
  std::optional<schema::Category> category;  // the query's category; nullopt: any
  std::vector<Route> routes;
  std::vector<std::string> event_ids;     // extra EventID must be one of these (empty: any)
  std::string channel;                    // extra Channel must equal this (empty: any)
  std::vector<std::string> datasets;      // event.dataset must be one of these (empty: any)
  std::vector<std::string> actions = {};  // event.action must be one of these (empty: any)
};

Result<Logsource> RouteLogsource(const std::string& product, const std::string& category,
                                 const std::string& service);

}  // namespace vigil::hunt::sigma
