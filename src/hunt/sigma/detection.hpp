// Internal to the Sigma compiler: one detection rule document compiled with what a correlation
// rule needs from it (its `name`, its logsource for resolving group-by fields), and the
// compilation of a rule collection (several YAML documents: a correlation and the rules it uses).
#pragma once

#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "hunt/sigma/logsource.hpp"
#include "hunt/sigma/sigma.hpp"

namespace vigil::hunt::sigma {

struct Detection {
  Rule rule;  // query.body is an EventFilter
  Logsource logsource;
  std::string name;  // the rule's `name:` (correlations refer to rules by name or id)
};

// id, title, level, status, description and tags of a rule document.
Rule RuleMetadata(const YAML::Node& doc);

Result<Detection> CompileDetection(const YAML::Node& doc, const Options& options);

// The one place a Sigma field name (or a Vigil field name) is stored for a logsource's events.
Result<FieldRef> ResolveField(const Logsource& logsource, const std::string& name);

// A correlation rule and the detection rules it refers to, all in one file (correlation.cpp).
Result<Rule> CompileCollection(const std::vector<YAML::Node>& docs, const Options& options);

}  // namespace vigil::hunt::sigma
