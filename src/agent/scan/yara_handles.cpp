// libyara RAII deleters and library reference; see yara_handles.hpp.
#include "agent/scan/yara_handles.hpp"

#include <yara.h>

namespace vigil::agent::scan {

void YaraCompilerDeleter::operator()(YR_COMPILER* c) const { yr_compiler_destroy(c); }
void YaraRulesDeleter::operator()(YR_RULES* r) const { yr_rules_destroy(r); }
void YaraScannerDeleter::operator()(YR_SCANNER* s) const { yr_scanner_destroy(s); }

YaraLibrary::YaraLibrary() : ok_(yr_initialize() == ERROR_SUCCESS) {}
YaraLibrary::~YaraLibrary() {
  if (ok_) yr_finalize();
}

int YaraMaxThreads() { return YR_MAX_THREADS; }

}  // namespace vigil::agent::scan
