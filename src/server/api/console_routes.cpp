// The web console's files (web/dist, built by scripts/build) on the API's own HTTPS origin:
// every GET outside /api/ is a file of the console, and paths that name no file get index.html,
// so the console's client-side routes (/hunt, /process/ID, ...) survive a reload.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "server/api/api_context.hpp"
#include "server/api/routes.hpp"

namespace vigil::server {
namespace fs = std::filesystem;
namespace {

// Types httplib would brotli-compress (text/*, exactly "application/javascript") cost a second of
// CPU per request for the console's script at brotli's highest quality, so scripts go as
// "application/javascript; charset=utf-8", which it leaves alone.
std::string_view ContentType(const fs::path& file) {
  const std::string ext = file.extension().string();
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".js" || ext == ".mjs") return "application/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".json" || ext == ".map") return "application/json";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".png") return "image/png";
  if (ext == ".ico") return "image/x-icon";
  if (ext == ".woff2") return "font/woff2";
  if (ext == ".txt") return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

bool ReadWhole(const fs::path& file, std::string& out) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return false;
  std::ostringstream buf;
  buf << in.rdbuf();
  out = std::move(buf).str();
  return true;
}

}  // namespace

void RegisterConsoleRoutes(httplib::Server& http, ApiContext& ctx) {
  http.Get(R"(/(?!api(/|$)).*)", [&ctx](const httplib::Request& req, httplib::Response& res) {
    const fs::path& root = ctx.options.console_dir;
    if (root.empty() || !fs::exists(root / "index.html"))
      return SendError(res, 404,
                       "the console is not built or not found (run scripts/build, or start "
                       "vigil-server with --console-dir DIR)");
    // Only plain relative names: no "..", no empty or hidden segments.
    fs::path relative;
    bool plain = true;
    std::string_view rest = std::string_view(req.path).substr(1);
    while (!rest.empty()) {
      auto slash = rest.find('/');
      std::string_view segment = rest.substr(0, slash);
      rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
      if (segment.empty() || segment.front() == '.' ||
          segment.find('\\') != std::string_view::npos) {
        plain = false;
        break;
      }
      relative /= std::string(segment);
    }
    if (!plain) return SendError(res, 400, "bad path: empty, '.' or '..' segments");
    fs::path file = root / relative;
    std::error_code ec;
    const bool found = !relative.empty() && fs::is_regular_file(file, ec);
    // Asset names carry a content hash: cache them; anything else is checked every time.
    const bool asset = found && relative.begin()->string() == "assets";
    if (!found) {
      if (relative.has_extension()) return SendError(res, 404, "no such file");
      file = root / "index.html";  // a client-side route
    }
    std::string body;
    if (!ReadWhole(file, body)) return SendError(res, 500, "cannot read " + file.string());
    res.set_header("Cache-Control", asset ? "public, max-age=31536000, immutable" : "no-cache");
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("X-Frame-Options", "DENY");
    res.set_header("Referrer-Policy", "no-referrer");
    res.set_header(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
    res.set_content(std::move(body), std::string(ContentType(file)));
  });
}

}  // namespace vigil::server
