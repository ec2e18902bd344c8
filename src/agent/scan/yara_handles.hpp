// RAII owners of libyara objects (compiler, rules, scanner) and of the library's global
// initialization (yr_initialize/yr_finalize are reference counted by libyara itself). Only
// forward declarations here: yara.h defines macros that clash with other headers, so it is
// included by the .cpp files of this folder alone.
#pragma once

#include <memory>

// libyara's own struct names: YR_COMPILER is struct _YR_COMPILER, YR_SCANNER is YR_SCAN_CONTEXT.
struct _YR_COMPILER;
struct YR_RULES;
struct YR_SCAN_CONTEXT;
struct YR_MEMORY_BLOCK_ITERATOR;

namespace vigil::agent::scan {

struct YaraCompilerDeleter {
  void operator()(_YR_COMPILER* c) const;
};
struct YaraRulesDeleter {
  void operator()(YR_RULES* r) const;
};
struct YaraScannerDeleter {
  void operator()(YR_SCAN_CONTEXT* s) const;
};

using YaraCompilerPtr = std::unique_ptr<_YR_COMPILER, YaraCompilerDeleter>;
using YaraRulesPtr = std::unique_ptr<YR_RULES, YaraRulesDeleter>;
using YaraScannerPtr = std::unique_ptr<YR_SCAN_CONTEXT, YaraScannerDeleter>;

// Holds one reference on the library; every object that owns YARA objects keeps one so the
// library outlives them.
class YaraLibrary {
 public:
  YaraLibrary();
  ~YaraLibrary();
  YaraLibrary(const YaraLibrary&) = delete;
  YaraLibrary& operator=(const YaraLibrary&) = delete;
  bool ok() const { return ok_; }

 private:
  bool ok_ = false;
};

// libyara's limit on threads scanning with one YR_RULES at a time.
int YaraMaxThreads();

}  // namespace vigil::agent::scan
