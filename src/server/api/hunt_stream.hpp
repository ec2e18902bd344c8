// Streams a parsed hunt's results as JSON Lines into an HTTP response; an error or truncation is
// the last line (the headers are gone by then). Shared by POST /api/hunt and rule retro-hunts.
#pragma once

#include <memory>

#include <httplib.h>

#include "hunt/hunt.hpp"
#include "server/api/api_context.hpp"

namespace vigil::server {

void StreamHunt(httplib::Response& res, ApiContext& ctx, std::shared_ptr<const hunt::Query> query,
                const hunt::HuntOptions& options);

}  // namespace vigil::server
