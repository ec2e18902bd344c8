// vigil import: foreign telemetry into the store through POST /api/import.
#include <arpa/inet.h>

#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>

#include <httplib.h>

#include "cli/command.hpp"

namespace vigil::cli {
namespace {
using nlohmann::json;

// `vigil import jsonl FILE...`: sends each file to POST /api/import in pieces of at most 32 MiB,
// cut where a line starts a new top-level JSON value, and prints what the server made of it.
int Import(const Connection& c, const std::vector<std::string>& files, bool as_json) {
  constexpr std::size_t kPiece = 32u << 20;
  int status = 0;
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      std::cerr << "vigil: cannot read " << file << "\n";
      status = 1;
      continue;
    }
    json total{{"file", file},
               {"records", 0},
               {"imported", 0},
               {"skipped", 0},
               {"by_type", json::object()},
               {"reasons", json::array()}};
    std::string piece, line;
    auto send = [&]() -> bool {
      if (piece.find_first_not_of(" \t\r\n") == std::string::npos) return true;
      auto reply = Request(c, "POST", "/api/import", piece, "application/x-ndjson");
      piece.clear();
      if (!reply) return std::cerr << "vigil: " << reply.error().message << "\n", false;
      if (reply->status != 200)
        return std::cerr << "vigil: " << file << ": " << ErrorText(*reply) << "\n", false;
      json r = json::parse(reply->body);
      for (const char* k : {"records", "imported", "skipped"})
        total[k] = total[k].get<std::uint64_t>() + r[k].get<std::uint64_t>();
      for (auto it = r["by_type"].begin(); it != r["by_type"].end(); ++it)
        total["by_type"][it.key()] = total["by_type"].value(it.key(), 0) + it->get<std::uint64_t>();
      for (const auto& reason : r["reasons"])
        if (total["reasons"].size() < 100) total["reasons"].push_back(reason);
      return true;
    };
    bool ok = true;
    while (ok && std::getline(in, line)) {
      if (piece.size() + line.size() > kPiece && !line.empty() &&
          (line[0] == '{' || line[0] == '['))
        ok = send();
      piece += line;
      piece += '\n';
    }
    if (ok) ok = send();
    if (!ok) {
      status = 1;
      continue;
    }
    if (as_json) {
      std::cout << total.dump() << "\n";
      continue;
    }
    std::cout << file << ": " << total["imported"] << " of " << total["records"]
              << " records imported, " << total["skipped"] << " skipped\n";
    for (auto it = total["by_type"].begin(); it != total["by_type"].end(); ++it)
      std::cout << "  " << it.key() << ": " << it->get<std::uint64_t>() << "\n";
    for (const auto& reason : total["reasons"])
      std::cout << "  skipped " << reason.get<std::string>() << "\n";
  }
  return status;
}
}  // namespace

void RegisterImportCommands(CLI::App& app, CliContext& ctx) {
  struct Options {
    std::vector<std::string> files;
    std::string format = "table";
  };
  auto o = std::make_shared<Options>();
  auto* import = app.add_subcommand(
      "import", "Import foreign telemetry (each Windows file's Computer becomes a host)");
  import->require_subcommand(1);
  auto* jsonl = import->add_subcommand(
      "jsonl",
      "Windows/Sysmon event records as JSON (evtx_dump output: per line, array or concatenated), "
      "or Vigil JSON Lines events");
  jsonl->add_option("files", o->files, "Files to import")->required()->check(CLI::ExistingFile);
  AddFormatOption(jsonl, &o->format);
  jsonl->callback([&ctx, o] {
    ctx.run = [&ctx, o] {
      return ctx.WithConnection(
          [&](const Connection& c) { return Import(c, o->files, o->format == "json"); });
    };
  });
}

}  // namespace vigil::cli
