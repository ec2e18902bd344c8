// The checks every route makes of what a request asks for, with one wording for each mistake:
// numeric query parameters (a 400 naming the parameter and what it expects), a time window whose
// start is after its end, and a host no data is known for (a 404 with a hint).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <httplib.h>

#include "common/error.hpp"
#include "server/api/api_context.hpp"

namespace vigil::server {

// text as a whole number in [lo, hi]; the error names `name` and the range.
Result<std::int64_t> ParseIntParam(std::string_view name, std::string_view text, std::int64_t lo,
                                   std::int64_t hi);
// The query parameter `name` as a whole number in [lo, hi], or fallback when absent.
Result<std::int64_t> IntParam(const httplib::Request& req, const char* name, std::int64_t fallback,
                              std::int64_t lo, std::int64_t hi);
// The query parameter `name` as a duration ("500ms", "30s", "2m"), at most max; 0 when absent.
Result<std::chrono::milliseconds> DurationParam(const httplib::Request& req, const char* name,
                                                std::chrono::milliseconds max);

// Refuses a reversed window: since (the start) later than until (the end). The texts are what the
// caller wrote, for the message.
Result<void> CheckWindow(std::int64_t since_ns, std::string_view since_text, std::int64_t until_ns,
                         std::string_view until_text);

// A host filter that names no host Vigil has data for: sends a 404 `unknown host "X"` with a hint
// and returns false. An empty filter, or a known host with no events in the window, passes.
bool CheckHostKnown(ApiContext& ctx, const std::string& host, httplib::Response& res);

}  // namespace vigil::server
