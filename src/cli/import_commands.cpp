// vigil import: foreign telemetry (.evtx, Windows JSON records, Vigil JSON Lines) into the store
// through POST /api/import.
#include <arpa/inet.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>

#include <httplib.h>

#include "cli/command.hpp"
#include "common/pki/pki.hpp"
#include "hunt/evtx_reader.hpp"

namespace vigil::cli {
namespace {
using nlohmann::json;

// What the server made of one file, summed over the pieces it was sent in.
struct Totals {
  json value;
  explicit Totals(const std::string& file)
      : value{{"file", file},
              {"records", 0},
              {"imported", 0},
              {"skipped", 0},
              {"by_type", json::object()},
              {"reasons", json::array()}} {}
  void Add(const json& r) {
    for (const char* k : {"records", "imported", "skipped"})
      value[k] = value[k].get<std::uint64_t>() + r.value(k, std::uint64_t{0});
    for (auto it = r["by_type"].begin(); it != r["by_type"].end(); ++it)
      value["by_type"][it.key()] = value["by_type"].value(it.key(), 0) + it->get<std::uint64_t>();
    for (const auto& reason : r["reasons"])
      if (value["reasons"].size() < 100) value["reasons"].push_back(reason);
  }
  void Print(bool as_json) const {
    if (as_json) {
      std::cout << value.dump() << "\n";
      return;
    }
    std::cout << value["file"].get<std::string>() << ": " << value["imported"] << " of "
              << value["records"] << " records imported, " << value["skipped"] << " skipped\n";
    for (auto it = value["by_type"].begin(); it != value["by_type"].end(); ++it)
      std::cout << "  " << it.key() << ": " << it->get<std::uint64_t>() << "\n";
    for (const auto& reason : value["reasons"])
      std::cout << "  skipped " << reason.get<std::string>() << "\n";
  }
};

// POSTs one piece to /api/import and adds the answer to totals; false (with a message) on failure.
bool SendPiece(const Connection& c, const std::string& file, const std::string& body,
               const std::string& content_type, Totals& totals,
               const std::string& path = "/api/import") {
  auto reply = Request(c, "POST", path, body, content_type);
  if (!reply) return std::cerr << "vigil: " << reply.error().message << "\n", false;
  if (reply->status != 200)
    return std::cerr << "vigil: " << file << ": " << ErrorText(*reply) << "\n", false;
  try {
    totals.Add(json::parse(reply->body));
  } catch (const std::exception& e) {
    return std::cerr << "vigil: " << file << ": bad answer from the server: " << e.what() << "\n",
           false;
  }
  return true;
}

constexpr std::size_t kPiece = 32u << 20;

// Sends JSON text in pieces of at most 32 MiB, cut where a line starts a new top-level JSON value.
bool SendJsonText(const Connection& c, const std::string& file, std::istream& in, Totals& totals) {
  std::string piece, line;
  auto send = [&]() -> bool {
    if (piece.find_first_not_of(" \t\r\n") == std::string::npos) return true;
    bool ok = SendPiece(c, file, piece, "application/x-ndjson", totals);
    piece.clear();
    return ok;
  };
  while (std::getline(in, line)) {
    if (piece.size() + line.size() > kPiece && !line.empty() && (line[0] == '{' || line[0] == '['))
      if (!send()) return false;
    piece += line;
    piece += '\n';
  }
  return send();
}

// `vigil import jsonl FILE...`: each file's JSON text to POST /api/import.
int ImportJson(const Connection& c, const std::vector<std::string>& files, bool as_json) {
  int status = 0;
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      std::cerr << "vigil: cannot read " << file << "\n";
      status = 1;
      continue;
    }
    Totals totals(file);
    if (!SendJsonText(c, file, in, totals)) {
      status = 1;
      continue;
    }
    totals.Print(as_json);
  }
  return status;
}

// `vigil import evtx FILE...`: a file of at most 32 MiB is sent as is (application/x-evtx) and the
// server reads it; a larger one is read here (the same reader) and sent as JSON records in pieces,
// with the damaged records it skipped added to the report.
int ImportEvtx(const Connection& c, const std::vector<std::string>& files, bool recovered,
               bool as_json) {
  int status = 0;
  for (const auto& file : files) {
    std::error_code ec;
    auto size = std::filesystem::file_size(file, ec);
    if (ec) {
      std::cerr << "vigil: cannot read " << file << ": " << ec.message() << "\n";
      status = 1;
      continue;
    }
    Totals totals(file);
    bool ok = false;
    if (size <= kPiece) {
      auto bytes = pki::ReadFile(file);
      if (!bytes) {
        std::cerr << "vigil: " << bytes.error().message << "\n";
        status = 1;
        continue;
      }
      if (!hunt::LooksLikeEvtx(*bytes)) {
        std::cerr << "vigil: " << file << ": not an EVTX file (no ElfFile signature at offset 0)\n";
        status = 1;
        continue;
      }
      ok = SendPiece(c, file, *bytes, "application/x-evtx", totals,
                     recovered ? "/api/import?recovered=1" : "/api/import");
    } else {
      auto contents = hunt::ReadEvtxFile(file, recovered);
      if (!contents) {
        std::cerr << "vigil: " << file << ": " << contents.error().message << "\n";
        status = 1;
        continue;
      }
      std::stringstream lines;
      for (const auto& record : contents->records) lines << record.dump() << "\n";
      contents->records.clear();
      ok = SendJsonText(c, file, lines, totals);
      totals.Add(json{{"records", contents->error_count},
                      {"skipped", contents->error_count},
                      {"by_type", json::object()},
                      {"reasons", contents->errors}});
    }
    if (!ok) {
      status = 1;
      continue;
    }
    totals.Print(as_json);
  }
  return status;
}
}  // namespace

void RegisterImportCommands(CLI::App& app, CliContext& ctx) {
  struct Options {
    std::vector<std::string> files;
    std::string format = "table";
    bool recovered = false;
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
          [&](const Connection& c) { return ImportJson(c, o->files, o->format == "json"); });
    };
  });
  auto* evtx = import->add_subcommand(
      "evtx",
      "Windows event logs (.evtx: Sysmon, Security, ...). Damaged files keep their good records; "
      "each unreadable record is reported with its record number and file offset");
  evtx->add_option("files", o->files, "Files to import")->required()->check(CLI::ExistingFile);
  evtx->add_flag("--recovered", o->recovered,
                 "Also import the records libevtx recovers outside the allocated ones (free space, "
                 "chunks with a bad checksum); not duplicates of allocated records");
  AddFormatOption(evtx, &o->format);
  evtx->callback([&ctx, o] {
    ctx.run = [&ctx, o] {
      return ctx.WithConnection([&](const Connection& c) {
        return ImportEvtx(c, o->files, o->recovered, o->format == "json");
      });
    };
  });
}

}  // namespace vigil::cli
