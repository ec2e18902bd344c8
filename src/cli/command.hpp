// The CLI's command modules. Each adds its subcommands to the app and, when one of them is chosen,
// sets ctx.run; main.cpp registers every module explicitly and runs what was chosen.
#pragma once

#include <functional>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/api_client.hpp"
#include "cli/output.hpp"

namespace vigil::cli {

struct CliContext {
  std::string data_dir;  // a local server's data directory (token and CA are read from it)
  std::string server;    // API URL
  std::string token;     // API bearer token
  std::string ca_file;   // the server's CA certificate (else the data dir's, else the system's)
  std::function<int()> run;

  // Runs body with a resolved connection; prints the reason and returns 1 when there is none.
  int WithConnection(const std::function<int(const Connection&)>& body) const;
};

// Adds --format (table|json) bound to *format.
void AddFormatOption(CLI::App* command, std::string* format);
inline Format ParseFormat(const std::string& name) {
  return name == "json" ? Format::Json : Format::Table;
}

void RegisterFleetCommands(CLI::App& app, CliContext& ctx);   // hosts, events
void RegisterHuntCommands(CLI::App& app, CliContext& ctx);    // hunt, hunts, ioc
void RegisterImportCommands(CLI::App& app, CliContext& ctx);  // import
void RegisterRulesCommands(CLI::App& app, CliContext& ctx);   // rules
void RegisterAlertsCommands(CLI::App& app, CliContext& ctx);  // alerts
void RegisterIocSetCommands(CLI::App& app, CliContext& ctx);  // ioc add-set, sets, remove-set
void RegisterUpCommand(CLI::App& app, CliContext& ctx);       // up
void RegisterYaraCommands(CLI::App& app, CliContext& ctx);    // yara
void RegisterUserCommands(CLI::App& app, CliContext& ctx);    // user
void RegisterActionCommands(CLI::App& app, CliContext& ctx);  // action, actions
void RegisterScanCommands(CLI::App& app, CliContext& ctx);    // scan
void RegisterSweepCommands(CLI::App& app, CliContext& ctx);   // ioc sweep
// The `ioc` subcommand that find, sweep and the set commands share (made on first use).
CLI::App* IocCommand(CLI::App& app);

}  // namespace vigil::cli
