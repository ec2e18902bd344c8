// Streams a parsed hunt's results as JSON Lines into an HTTP response; an error or truncation is
// the last line (the headers are gone by then). Shared by POST /api/hunt and rule retro-hunts,
// like the reading of their bodies' window, host and limit.
#pragma once

#include <memory>
#include <optional>

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "hunt/hunt.hpp"
#include "server/api/api_context.hpp"

namespace vigil::server {

// The body's "since", "until" (durations ago or RFC 3339), "host" and "limit", checked: a reversed
// window is a 400, a host no data is known for a 404. nullopt: the error response is sent.
std::optional<hunt::HuntOptions> HuntOptionsFromBody(ApiContext& ctx, const nlohmann::json& body,
                                                     httplib::Response& res);

void StreamHunt(httplib::Response& res, ApiContext& ctx, std::shared_ptr<const hunt::Query> query,
                const hunt::HuntOptions& options);

}  // namespace vigil::server
