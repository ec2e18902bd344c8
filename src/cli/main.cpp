// vigil: the analyst's command line over the HTTPS API, and `vigil up` for one machine.
#include <csignal>
#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/command.hpp"

namespace vigil::cli {

int CliContext::WithConnection(const std::function<int(const Connection&)>& body) const {
  auto connection = ResolveConnection(server, token, data_dir, ca_file);
  if (!connection) return std::cerr << "vigil: " << connection.error().message << "\n", 1;
  return body(*connection);
}

void AddFormatOption(CLI::App* command, std::string* format) {
  command->add_option("--format", *format, "table or json (one object per line)")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
}

}  // namespace vigil::cli

namespace {
std::string EnvOr(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}
}  // namespace

int main(int argc, char** argv) {
  using namespace vigil::cli;
  // A peer that hangs up mid-write (an HTTPS client, a refused upload) is an error to handle, not a
  // reason to die: TLS writes go through write(2), which raises SIGPIPE.
  ::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"vigil: hunt, inspect and run Vigil from the shell"};
  app.require_subcommand(1);
  app.fallthrough();  // global options may follow the subcommand
  CliContext ctx{.data_dir = EnvOr("VIGIL_DATA_DIR", "/var/lib/vigil"),
                 .server = EnvOr("VIGIL_SERVER", ""),
                 .token = EnvOr("VIGIL_TOKEN", ""),
                 .ca_file = EnvOr("VIGIL_CA", ""),
                 .run = {}};
  app.add_option("--data-dir", ctx.data_dir,
                 "Data directory of a local server (env VIGIL_DATA_DIR)")
      ->capture_default_str();
  app.add_option("--server", ctx.server,
                 "API URL, e.g. https://vigil.example:8443 (env VIGIL_SERVER)");
  app.add_option("--token", ctx.token, "API bearer token (env VIGIL_TOKEN)");
  app.add_option("--ca", ctx.ca_file,
                 "The server's CA certificate, for --server (DATA_DIR/pki/ca.crt on the server; "
                 "env VIGIL_CA; default: the data dir's)");

  RegisterUpCommand(app, ctx);
  RegisterFleetCommands(app, ctx);
  RegisterHuntCommands(app, ctx);
  RegisterImportCommands(app, ctx);
  RegisterRulesCommands(app, ctx);
  RegisterYaraCommands(app, ctx);
  RegisterUserCommands(app, ctx);
  RegisterActionCommands(app, ctx);
  RegisterScanCommands(app, ctx);
  RegisterAlertsCommands(app, ctx);
  RegisterIocSetCommands(app, ctx);  // after RegisterHuntCommands: adds to its `ioc`
  RegisterSweepCommands(app, ctx);   // likewise

  CLI11_PARSE(app, argc, argv);
  return ctx.run ? ctx.run() : 0;
}
