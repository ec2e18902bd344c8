#include "cli/api_client.hpp"

#include <httplib.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/pki/pki.hpp"

namespace vigil::cli {
namespace fs = std::filesystem;

namespace {
std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}
}  // namespace

Result<Connection> ResolveConnection(const std::string& server, const std::string& token,
                                     const std::string& data_dir, const std::string& ca_file) {
  Connection c;
  if (!ca_file.empty()) {
    std::error_code ec;
    if (!fs::is_regular_file(ca_file, ec))
      return Fail("--ca " + ca_file + ": no such file (the server's CA is DATA_DIR/pki/ca.crt)");
    c.ca_file = ca_file;
  }
  if (!server.empty()) {
    c.url = server;
    if (c.url.find("://") == std::string::npos) c.url = "https://" + c.url;  // HOST:PORT
    if (!c.url.starts_with("https://"))
      return Fail(
          "--server " + server +
          ": the API is HTTPS only; give https://HOST:PORT (e.g. https://vigil.example:8443)");
    while (c.url.ends_with("/")) c.url.pop_back();
    c.token = token;
    if (c.ca_file.empty() && !data_dir.empty() && fs::exists(fs::path(data_dir) / "pki/ca.crt"))
      c.ca_file = (fs::path(data_dir) / "pki/ca.crt").string();
    if (c.token.empty()) return Fail("--server needs --token (or VIGIL_TOKEN)");
    return c;
  }
  fs::path dir = data_dir;
  auto url = pki::ReadFile(dir / "api.url");
  if (!url)
    return Fail("no Vigil server found in " + dir.string() +
                " (is it running? start it with `vigil up`, or pass --data-dir, VIGIL_DATA_DIR, or "
                "--server URL --token T)");
  c.url = Trim(*url);
  auto t = token.empty() ? pki::ReadFile(dir / "admin.token") : Result<std::string>(token);
  if (!t) return Fail("cannot read the API token: " + t.error().message);
  c.token = Trim(*t);
  if (c.ca_file.empty()) c.ca_file = (dir / "pki/ca.crt").string();
  return c;
}

std::string CannotReach(const Connection& c, httplib::Error error) {
  std::string why;
  switch (error) {
    case httplib::Error::Connection:
    case httplib::Error::ConnectionTimeout:
      why =
          "connection refused or timed out (is vigil-server running, and is this its API address?)";
      break;
    case httplib::Error::SSLServerVerification:
      why = c.ca_file.empty()
                ? "its certificate is not trusted: pass the server's CA with --ca FILE or VIGIL_CA "
                  "(DATA_DIR/pki/ca.crt on the server)"
                : "its certificate is not trusted: not signed by " + c.ca_file +
                      " (another server's CA?), or not issued for this host name (start the "
                      "server with --server-name NAME)";
      break;
    case httplib::Error::SSLLoadingCerts:
      why = "cannot load the CA file " + c.ca_file;
      break;
    case httplib::Error::SSLConnection:
      why = "TLS handshake failed (is this the Vigil API's HTTPS port?)";
      break;
    case httplib::Error::Read:
      why = "the connection closed without an answer (is this the Vigil API's HTTPS port?)";
      break;
    default:
      why = httplib::to_string(error);
  }
  return "cannot reach " + c.url + ": " + why;
}

namespace {
void Configure(httplib::Client& client, const Connection& c, int read_timeout_seconds) {
  if (!c.ca_file.empty()) client.set_ca_cert_path(c.ca_file.c_str());
  client.enable_server_certificate_verification(true);
  client.set_bearer_token_auth(c.token.c_str());
  client.set_connection_timeout(5);
  client.set_read_timeout(read_timeout_seconds);
}
}  // namespace

Result<HttpReply> Request(const Connection& c, const std::string& method, const std::string& path,
                          const std::string& body, const std::string& content_type) {
  httplib::Client client(c.url);
  Configure(client, c, 300);
  httplib::Result res = method == "POST"     ? client.Post(path.c_str(), body, content_type.c_str())
                        : method == "PUT"    ? client.Put(path.c_str(), body, content_type.c_str())
                        : method == "DELETE" ? client.Delete(path.c_str())
                                             : client.Get(path.c_str());
  if (!res) return Fail(CannotReach(c, res.error()));
  return HttpReply{res->status, res->body};
}

Result<void> StreamEvents(
    const Connection& c, const std::string& path,
    const std::function<bool(const std::string& event, const std::string& data)>& on_event) {
  httplib::Client client(c.url);
  Configure(client, c, 3600);
  std::string buffer, event = "message", data, error_body;
  int status = 0;
  bool stopped = false;
  auto res = client.Get(
      path.c_str(),
      [&](const httplib::Response& r) {
        status = r.status;
        return true;
      },
      [&](const char* bytes, std::size_t n) {
        if (status != 200) {
          error_body.append(bytes, n);
          return true;
        }
        buffer.append(bytes, n);
        std::size_t eol;
        while ((eol = buffer.find('\n')) != std::string::npos) {
          std::string line = buffer.substr(0, eol);
          buffer.erase(0, eol + 1);
          if (line.empty()) {  // the end of one event
            if (!data.empty() && !on_event(event, data)) {
              stopped = true;
              return false;
            }
            event = "message";
            data.clear();
          } else if (line.starts_with("event: ")) {
            event = line.substr(7);
          } else if (line.starts_with("data: ")) {
            data += line.substr(6);
          }
        }
        return true;
      });
  if (stopped) return {};
  if (!res && status == 0) return Fail(CannotReach(c, res.error()));
  if (status != 200) return Fail(ErrorText(HttpReply{status, error_body}));
  return {};
}

std::string ErrorText(const HttpReply& reply) {
  try {
    auto j = nlohmann::json::parse(reply.body);
    if (j.contains("error")) return j["error"].get<std::string>();
  } catch (const std::exception&) {
  }
  return "HTTP " + std::to_string(reply.status) + ": " + reply.body;
}

}  // namespace vigil::cli
