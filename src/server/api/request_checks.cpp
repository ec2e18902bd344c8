// See request_checks.hpp.
#include "server/api/request_checks.hpp"

#include <algorithm>
#include <charconv>

#include "common/time.hpp"
#include "server/store/host_directory.hpp"

namespace vigil::server {

Result<std::int64_t> ParseIntParam(std::string_view name, std::string_view text, std::int64_t lo,
                                   std::int64_t hi) {
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < lo ||
      value > hi)
    return Fail(std::string(name) + " must be a whole number from " + std::to_string(lo) + " to " +
                std::to_string(hi) + ", not '" + std::string(text) + "'");
  return value;
}

Result<std::int64_t> IntParam(const httplib::Request& req, const char* name, std::int64_t fallback,
                              std::int64_t lo, std::int64_t hi) {
  if (!req.has_param(name)) return fallback;
  return ParseIntParam(name, req.get_param_value(name), lo, hi);
}

Result<std::chrono::milliseconds> DurationParam(const httplib::Request& req, const char* name,
                                                std::chrono::milliseconds max) {
  if (!req.has_param(name)) return std::chrono::milliseconds(0);
  const std::string text = req.get_param_value(name);
  auto ns = ParseDurationNs(text);
  if (!ns || *ns < 0)
    return Fail(std::string(name) + " must be a duration like 500ms, 30s or 1m, not '" + text +
                "'");
  return std::min(max, std::chrono::milliseconds(*ns / 1'000'000));
}

Result<void> CheckWindow(std::int64_t since_ns, std::string_view since_text, std::int64_t until_ns,
                         std::string_view until_text) {
  if (since_ns <= until_ns) return {};
  return Fail("reversed time window: since '" + std::string(since_text) + "' (" +
              FormatRfc3339(since_ns) + ") is later than until '" + std::string(until_text) +
              "' (" + FormatRfc3339(until_ns) +
              "); since is the start of the window and until its end (a duration means that long "
              "ago, so since 2h until 1h is the hour before the last)");
}

bool CheckHostKnown(ApiContext& ctx, const std::string& host, httplib::Response& res) {
  if (host.empty() || !ctx.hosts) return true;
  auto known = ctx.hosts->Known(host);
  if (!known) {
    SendError(res, 500, known.error().message);
    return false;
  }
  if (*known) return true;
  SendError(res, 404,
            "unknown host \"" + host +
                "\": no enrolled agent, imported host or stored event has that host name or id "
                "(`vigil hosts` lists them; imported Windows hosts go by their Computer name)");
  return false;
}

}  // namespace vigil::server
