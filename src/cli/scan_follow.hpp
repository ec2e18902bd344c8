// Following a scan job from the CLI, shared by `vigil scan` and `vigil ioc sweep` (a hash sweep is
// a scan job of kind hash): progress bars from the job's SSE stream, and its findings.
#pragma once

#include <cstdint>
#include <string>

#include "cli/command.hpp"

namespace vigil::cli {

// Follows a job's progress until every host finished; prints bars on a terminal, a line per
// change otherwise, or the status objects with format "json".
int FollowScan(const Connection& c, std::int64_t id, const std::string& format);
// The findings of a job's runs: a table (YARA matches, or the files a sweep found) or one event
// per line with format "json".
int PrintScanFindings(const Connection& c, std::int64_t id, const std::string& format);

}  // namespace vigil::cli
