// A compiled YARA rule set: loaded from rule files and directories (recursively *.yar / *.yara),
// each file in its own namespace, immutable once built and shared by every scanning thread (each
// thread makes its own YR_SCANNER from it). Compile errors name file:line and the reason.
#pragma once

#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "agent/scan/yara_handles.hpp"
#include "common/error.hpp"

namespace vigil::agent::scan {

struct RuleFile {
  std::filesystem::path path;
  std::string name_space;  // the file stem, or its path relative to the directory given, sans ext
};

// A rule file's text held in memory (rule sets travel from the server to agents this way).
struct RuleSource {
  std::string name_space;
  std::string origin;  // where it came from (a path), for error messages
  std::string text;
};

class RuleSet {
 public:
  // Compiles every input (a rule file, or a directory searched recursively for *.yar and *.yara,
  // in sorted order, symlinks not followed). On error the message lists every error of every
  // file as "path:line: reason", one a line.
  static Result<std::shared_ptr<const RuleSet>> Load(std::span<const std::filesystem::path> inputs);
  // Compiles one rule text (namespace "default"); errors as "<string>:line: reason".
  static Result<std::shared_ptr<const RuleSet>> FromString(const std::string& source);

  // Compiles in-memory sources, each in its namespace; errors as "origin:line: reason". The
  // version equals Load()'s for the same files and namespaces.
  static Result<std::shared_ptr<const RuleSet>> FromSources(const std::vector<RuleSource>& sources);
  // Reads the files Discover() finds into sources (what `vigil yara add` uploads).
  static Result<std::vector<RuleSource>> ReadSources(std::span<const std::filesystem::path> inputs);

  // The files of inputs with the namespace each gets (exposed for tests and the CLI).
  static Result<std::vector<RuleFile>> Discover(std::span<const std::filesystem::path> inputs);

  YR_RULES* rules() const { return rules_.get(); }
  // SHA-256 (hex) over each file's namespace and bytes, in order: changes when any rule changes.
  const std::string& version() const { return version_; }
  std::size_t rule_count() const { return rule_count_; }
  const std::vector<RuleFile>& files() const { return files_; }
  const std::vector<std::string>& warnings() const { return warnings_; }

 private:
  struct Token {
    explicit Token() = default;
  };

 public:
  explicit RuleSet(Token) {}

 private:
  static Result<std::shared_ptr<const RuleSet>> Compile(std::vector<RuleFile> files,
                                                        const std::string* source,
                                                        const std::vector<RuleSource>* sources);

  std::shared_ptr<YaraLibrary> library_;  // declared first: destroyed after rules_
  YaraRulesPtr rules_;
  std::string version_;
  std::size_t rule_count_ = 0;
  std::vector<RuleFile> files_;
  std::vector<std::string> warnings_;
};

}  // namespace vigil::agent::scan
