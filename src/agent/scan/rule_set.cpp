// Rule discovery, namespacing and compilation with libyara; see rule_set.hpp.
#include "agent/scan/rule_set.hpp"

#include <yara.h>

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <system_error>

#include "common/fd.hpp"
#include "common/sha256.hpp"

namespace vigil::agent::scan {
namespace fs = std::filesystem;
namespace {

struct CompileLog {
  std::vector<std::string> errors;
  std::vector<std::string> warnings;
  std::string origin;  // the in-memory source being compiled (libyara names no file for strings)
};

void CompilerCallback(int level, const char* file_name, int line, const YR_RULE* /*rule*/,
                      const char* message, void* user_data) {
  auto* log = static_cast<CompileLog*>(user_data);
  std::string where = file_name ? file_name : log->origin.empty() ? "<string>" : log->origin;
  std::string text =
      where + ":" + std::to_string(line) + ": " + (message ? message : "unknown error");
  (level == YARA_ERROR_LEVEL_ERROR ? log->errors : log->warnings).push_back(std::move(text));
}

bool IsRuleFile(const fs::path& p) {
  const auto ext = p.extension().string();
  return ext == ".yar" || ext == ".yara";
}

std::string WithoutExtension(const fs::path& p) {
  fs::path q = p;
  q.replace_extension();
  return q.generic_string();
}

Result<std::string> ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail(path.string() + ": " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Adds one file to a compiler; false when it had errors (already logged by the callback).
bool AddFile(YR_COMPILER* compiler, const RuleFile& file, CompileLog& log) {
  UniqueFd fd(::open(file.path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    log.errors.push_back(file.path.string() + ":0: " + std::strerror(errno));
    return false;
  }
  return yr_compiler_add_fd(compiler, fd.get(), file.name_space.c_str(), file.path.c_str()) == 0;
}

}  // namespace

Result<std::vector<RuleFile>> RuleSet::Discover(std::span<const fs::path> inputs) {
  std::vector<RuleFile> files;
  std::set<std::string> used;
  auto unique_ns = [&](std::string ns) {
    std::string candidate = ns;
    for (int i = 2; !used.insert(candidate).second; ++i) candidate = ns + "#" + std::to_string(i);
    return candidate;
  };
  for (const auto& input : inputs) {
    std::error_code ec;
    const auto st = fs::symlink_status(input, ec);
    if (ec) return Fail(input.string() + ": " + ec.message());
    if (fs::is_directory(st)) {
      std::vector<fs::path> found;
      fs::recursive_directory_iterator it(input, fs::directory_options::none, ec), end;
      if (ec) return Fail(input.string() + ": " + ec.message());
      for (; it != end; it.increment(ec)) {
        if (ec) return Fail(input.string() + ": " + ec.message());
        if (it->is_regular_file(ec) && !it->is_symlink(ec) && IsRuleFile(it->path()))
          found.push_back(it->path());
      }
      std::sort(found.begin(), found.end());
      const auto dir_name =
          input.filename().empty() ? input.parent_path().filename() : input.filename();
      for (auto& p : found) {
        auto rel = WithoutExtension(fs::relative(p, input, ec));
        files.push_back(
            {p, unique_ns(dir_name.string().empty() ? rel : dir_name.string() + "/" + rel)});
      }
    } else if (fs::exists(fs::status(input, ec))) {
      files.push_back({input, unique_ns(input.stem().string())});
    } else {
      return Fail(input.string() + ": no such rule file or directory");
    }
  }
  if (files.empty()) return Fail("no rule files (*.yar, *.yara) found");
  return files;
}

Result<std::shared_ptr<const RuleSet>> RuleSet::Load(std::span<const fs::path> inputs) {
  auto files = Discover(inputs);
  if (!files) return std::unexpected(files.error());
  return Compile(std::move(*files), nullptr, nullptr);
}

Result<std::shared_ptr<const RuleSet>> RuleSet::FromString(const std::string& source) {
  return Compile({}, &source, nullptr);
}

Result<std::shared_ptr<const RuleSet>> RuleSet::FromSources(
    const std::vector<RuleSource>& sources) {
  if (sources.empty()) return Fail("no rule sources");
  return Compile({}, nullptr, &sources);
}

Result<std::vector<RuleSource>> RuleSet::ReadSources(std::span<const fs::path> inputs) {
  auto files = Discover(inputs);
  if (!files) return std::unexpected(files.error());
  std::vector<RuleSource> sources;
  for (auto& f : *files) {
    auto bytes = ReadAll(f.path);
    if (!bytes) return std::unexpected(bytes.error());
    sources.push_back({f.name_space, f.path.string(), std::move(*bytes)});
  }
  return sources;
}

Result<std::shared_ptr<const RuleSet>> RuleSet::Compile(std::vector<RuleFile> files,
                                                        const std::string* source,
                                                        const std::vector<RuleSource>* sources) {
  auto library = std::make_shared<YaraLibrary>();
  if (!library->ok()) return Fail("yara: initialization failed");

  YR_COMPILER* raw = nullptr;
  if (yr_compiler_create(&raw) != ERROR_SUCCESS) return Fail("yara: cannot create compiler");
  YaraCompilerPtr compiler(raw);
  CompileLog log;
  yr_compiler_set_callback(compiler.get(), CompilerCallback, &log);

  std::string digest_input;
  bool failed = false;
  if (source) {
    failed = yr_compiler_add_string(compiler.get(), source->c_str(), "default") != 0;
    digest_input = "default\n" + *source;
  }
  if (sources) {
    // Every source is checked, each in its own compiler after the first error, so that all
    // errors are reported at once.
    for (const auto& src : *sources) {
      digest_input += src.name_space + '\n' + std::to_string(src.text.size()) + '\n' + src.text;
      log.origin = src.origin;
      YR_COMPILER* target = compiler.get();
      YaraCompilerPtr check;
      if (failed) {
        YR_COMPILER* other = nullptr;
        if (yr_compiler_create(&other) != ERROR_SUCCESS) break;
        check.reset(other);
        yr_compiler_set_callback(other, CompilerCallback, &log);
        target = other;
      }
      if (yr_compiler_add_string(target, src.text.c_str(), src.name_space.c_str()) != 0)
        failed = true;
    }
    log.origin.clear();
  }
  for (std::size_t i = 0; i < files.size() && !failed; ++i) {
    auto bytes = ReadAll(files[i].path);
    if (!bytes) return Fail(bytes.error().message);
    digest_input += files[i].name_space + '\n' + std::to_string(bytes->size()) + '\n' + *bytes;
    failed = !AddFile(compiler.get(), files[i], log);
    if (failed) {
      // A libyara compiler is unusable after an error: check the remaining files one by one in
      // throw-away compilers so that every error is reported at once.
      for (std::size_t j = i + 1; j < files.size(); ++j) {
        YR_COMPILER* other = nullptr;
        if (yr_compiler_create(&other) != ERROR_SUCCESS) break;
        YaraCompilerPtr check(other);
        yr_compiler_set_callback(check.get(), CompilerCallback, &log);
        AddFile(check.get(), files[j], log);
      }
    }
  }
  if (failed || !log.errors.empty()) {
    std::string message = "rule compilation failed:";
    for (const auto& e : log.errors) message += "\n" + e;
    return Fail(std::move(message));
  }

  YR_RULES* rules = nullptr;
  if (yr_compiler_get_rules(compiler.get(), &rules) != ERROR_SUCCESS)
    return Fail("yara: cannot build rules (out of memory)");

  auto set = std::make_shared<RuleSet>(Token{});
  set->library_ = std::move(library);
  set->rules_.reset(rules);
  set->version_ = Sha256Hex(digest_input);
  YR_RULE* rule = nullptr;
  yr_rules_foreach(rules, rule) { ++set->rule_count_; }
  set->files_ = std::move(files);
  set->warnings_ = std::move(log.warnings);
  return std::shared_ptr<const RuleSet>(std::move(set));
}

}  // namespace vigil::agent::scan
