// The Windows / Sysmon → schema mapping table and the record conversion (see windows_mapping.hpp).
#include "hunt/windows_mapping.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <sstream>

#include "common/event_json.hpp"
#include "hunt/functions.hpp"

namespace vigil::hunt {
namespace {

struct Mapping {
  WindowsKind kind;
  std::string_view windows;
  std::string_view schema;
};

// THE table. Sysmon names (Sigma uses them) and Security 4688 names, per kind.
constexpr Mapping kMappings[] = {
    // Sysmon 1 and Security 4688: process creation.
    {WindowsKind::Process, "Image", "process.executable"},
    {WindowsKind::Process, "NewProcessName", "process.executable"},
    {WindowsKind::Process, "CommandLine", "process.command_line"},
    {WindowsKind::Process, "ParentImage", "process.parent.executable"},
    {WindowsKind::Process, "ParentProcessName", "process.parent.executable"},
    {WindowsKind::Process, "ParentCommandLine", "process.parent.command_line"},
    {WindowsKind::Process, "ProcessId", "process.pid"},
    {WindowsKind::Process, "NewProcessId", "process.pid"},
    {WindowsKind::Process, "ParentProcessId", "process.parent.pid"},
    {WindowsKind::Process, "User", "user.name"},
    {WindowsKind::Process, "CurrentDirectory", "process.working_directory"},
    {WindowsKind::Process, "Hashes", "process.hash.sha256"},
    {WindowsKind::Process, "ProcessGuid", "process.entity_id"},
    {WindowsKind::Process, "ParentProcessGuid", "process.parent.entity_id"},
    // Sysmon 3: network connection.
    {WindowsKind::Network, "Image", "process.executable"},
    {WindowsKind::Network, "ProcessId", "process.pid"},
    {WindowsKind::Network, "ProcessGuid", "process.entity_id"},
    {WindowsKind::Network, "User", "user.name"},
    {WindowsKind::Network, "Protocol", "network.transport"},
    {WindowsKind::Network, "SourceIp", "source.ip"},
    {WindowsKind::Network, "SourcePort", "source.port"},
    {WindowsKind::Network, "DestinationIp", "destination.ip"},
    {WindowsKind::Network, "DestinationPort", "destination.port"},
    {WindowsKind::Network, "DestinationHostname", "destination.domain"},
    {WindowsKind::Network, "Initiated", "network.direction"},
    // Sysmon 11 / 23 / 26: file create / delete.
    {WindowsKind::File, "Image", "process.executable"},
    {WindowsKind::File, "ProcessId", "process.pid"},
    {WindowsKind::File, "ProcessGuid", "process.entity_id"},
    {WindowsKind::File, "User", "user.name"},
    {WindowsKind::File, "TargetFilename", "file.path"},
    // Sysmon 22: DNS query.
    {WindowsKind::Dns, "Image", "process.executable"},
    {WindowsKind::Dns, "ProcessId", "process.pid"},
    {WindowsKind::Dns, "ProcessGuid", "process.entity_id"},
    {WindowsKind::Dns, "User", "user.name"},
    {WindowsKind::Dns, "QueryName", "dns.question.name"},
    {WindowsKind::Dns, "QueryResults", "dns.answers"},
    // Sysmon 12 / 13 / 14: registry (persistence when the key is an autostart location).
    {WindowsKind::Registry, "Image", "process.executable"},
    {WindowsKind::Registry, "ProcessId", "process.pid"},
    {WindowsKind::Registry, "ProcessGuid", "process.entity_id"},
    {WindowsKind::Registry, "User", "user.name"},
    {WindowsKind::Registry, "TargetObject", "registry.path"},
    {WindowsKind::Registry, "Details", "registry.data.strings"},
    // Security 4624 / 4625 / 4648: logons (the account logged on, or tried, is the target).
    {WindowsKind::Authentication, "TargetUserName", "user.name"},
    {WindowsKind::Authentication, "IpAddress", "source.ip"},
    {WindowsKind::Authentication, "IpPort", "source.port"},
    {WindowsKind::Authentication, "ProcessName", "process.executable"},
    {WindowsKind::Authentication, "ProcessId", "process.pid"},
};

constexpr std::string_view kRawKept[] = {"Hashes", "QueryResults", "Initiated"};

constexpr std::string_view kAutostart[] = {
    "\\currentversion\\run",  // Run, RunOnce, RunOnceEx, RunServices, RunServicesOnce
    "\\policies\\explorer\\run",
    "\\currentcontrolset\\services\\",
    "\\controlset001\\services\\",
    "\\controlset002\\services\\",
    "\\currentversion\\winlogon",
    "\\image file execution options\\",
    "\\silentprocessexit\\",
    "\\active setup\\installed components\\",
    "\\currentversion\\windows\\appinit_dlls",
    "\\currentversion\\windows\\load",
    "\\currentversion\\windows\\run",
    "\\session manager\\bootexecute",
    "\\session manager\\knowndlls",
    "\\environment\\userinitmprlogonscript",
    "\\explorer\\shell folders",
    "\\explorer\\user shell folders",
    "\\schedule\\taskcache\\",
    "\\terminal server\\wds\\rdpwd\\startupprograms",
    "\\control\\lsa\\",
    "\\control\\print\\monitors\\",
    "\\netsh",
    "\\currentversion\\explorer\\shellserviceobjects",
    "\\shellserviceobjectdelayload",
    "\\shellex\\contextmenuhandlers",
    "\\software\\microsoft\\office\\",
    "\\inprocserver32",
    "\\wow6432node\\microsoft\\windows\\currentversion\\run",
    "\\currentversion\\app paths\\",
    "\\command processor\\autorun",
};

std::string ValueText(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number_unsigned()) return std::to_string(v.get<std::uint64_t>());
  if (v.is_number_integer()) return std::to_string(v.get<std::int64_t>());
  if (v.is_object() && v.contains("#text")) return ValueText(v["#text"]);
  return v.dump();
}

std::optional<std::int64_t> ParseInt(std::string_view s) {
  int base = 10;
  if (s.starts_with("0x") || s.starts_with("0X")) s.remove_prefix(2), base = 16;
  std::int64_t n = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n, base);
  if (s.empty() || ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
  return n;
}

std::string_view BaseName(std::string_view path) {
  auto at = path.find_last_of("\\/");
  return at == std::string_view::npos ? path : path.substr(at + 1);
}

// EventData as (name, value) pairs: an object of fields, {"Data": [{"@Name"/"Name", "#text"}]},
// or nested objects (UserData), flattened to their leaf names.
void CollectFields(const nlohmann::json& data,
                   std::vector<std::pair<std::string, nlohmann::json>>& out) {
  if (!data.is_object()) return;
  for (const auto& [k, v] : data.items()) {
    if (k == "#attributes" || k == "xmlns") continue;
    if (k == "Data" && v.is_array()) {
      for (const auto& d : v) {
        const nlohmann::json* attrs = d.contains("#attributes") ? &d["#attributes"] : &d;
        std::string name;
        if (attrs->contains("Name")) name = ValueText((*attrs)["Name"]);
        if (attrs->contains("@Name")) name = ValueText((*attrs)["@Name"]);
        if (!name.empty() && d.contains("#text")) out.emplace_back(name, d["#text"]);
      }
    } else if (v.is_object() && !v.contains("#text")) {
      CollectFields(v, out);
    } else {
      out.emplace_back(k, v);
    }
  }
}

}  // namespace

WindowsKind KindOf(std::string_view provider, int event_id) {
  if (provider == "Microsoft-Windows-Sysmon") {
    switch (event_id) {
      case 1:
        return WindowsKind::Process;
      case 3:
        return WindowsKind::Network;
      case 11:
      case 23:
      case 26:
        return WindowsKind::File;
      case 22:
        return WindowsKind::Dns;
      case 12:
      case 13:
      case 14:
        return WindowsKind::Registry;
      default:
        return WindowsKind::Other;
    }
  }
  if (provider == "Microsoft-Windows-Security-Auditing") {
    if (event_id == 4688) return WindowsKind::Process;
    if (event_id == 4624 || event_id == 4625 || event_id == 4648)
      return WindowsKind::Authentication;
  }
  return WindowsKind::Other;
}

const schema::FieldDef* MappedField(WindowsKind kind, std::string_view windows_name) {
  for (const auto& m : kMappings)
    if (m.kind == kind && m.windows == windows_name) return schema::FindField(m.schema);
  return nullptr;
}

bool KeepsRawValue(std::string_view windows_name) {
  return std::ranges::find(kRawKept, windows_name) != std::end(kRawKept);
}

bool KeepsRawValues(WindowsKind kind) { return kind == WindowsKind::Authentication; }

bool IsAutostartKey(std::string_view key) {
  std::string lower = AsciiLower(key);
  for (auto k : kAutostart)
    if (lower.find(k) != std::string::npos) return true;
  return false;
}

Result<v1::Event> MapWindowsEvent(const nlohmann::json& record) {
  const nlohmann::json& ev = record.contains("Event") ? record["Event"] : record;
  if (!ev.is_object() || !ev.contains("System") || !ev["System"].is_object())
    return Fail("not a Windows event record: no Event.System");
  const auto& sys = ev["System"];
  std::string provider;
  if (sys.contains("Provider")) {
    const auto& p = sys["Provider"];
    if (p.is_object() && p.contains("#attributes") && p["#attributes"].contains("Name"))
      provider = ValueText(p["#attributes"]["Name"]);
    else if (p.is_object() && p.contains("Name"))
      provider = ValueText(p["Name"]);
  }
  if (!sys.contains("EventID")) return Fail("Windows event without System.EventID");
  auto id = ParseInt(ValueText(sys["EventID"]));
  if (!id) return Fail("bad System.EventID " + sys["EventID"].dump());
  int event_id = static_cast<int>(*id);
  std::string channel = sys.contains("Channel") ? ValueText(sys["Channel"]) : "";

  std::vector<std::pair<std::string, nlohmann::json>> fields;
  if (ev.contains("EventData")) CollectFields(ev["EventData"], fields);
  if (ev.contains("UserData")) CollectFields(ev["UserData"], fields);
  auto value_of = [&](std::string_view name) -> std::optional<std::string> {
    for (const auto& [k, v] : fields)
      if (k == name && !v.is_null()) return ValueText(v);
    return std::nullopt;
  };

  WindowsKind kind = KindOf(provider, event_id);
  schema::Category category = schema::Category::Other;
  v1::Event e;
  switch (kind) {
    case WindowsKind::Process:
      category = schema::Category::Process;
      e.set_event_type("start");
      e.set_event_action("exec");
      break;
    case WindowsKind::Network:
      category = schema::Category::Network;
      e.set_event_type("connection");
      break;
    case WindowsKind::File:
      category = schema::Category::File;
      e.set_event_type(event_id == 11 ? "creation" : "deletion");
      break;
    case WindowsKind::Dns:
      category = schema::Category::Dns;
      e.set_event_type("protocol");
      break;
    case WindowsKind::Registry: {
      auto key = value_of("TargetObject");
      if (key && IsAutostartKey(*key)) {
        category = schema::Category::Persistence;
        e.set_vigil_persistence_mechanism("registry");
      } else {
        kind = WindowsKind::Other;  // everything in extra
      }
      e.set_event_type("change");
      if (auto t = value_of("EventType")) e.set_event_action(*t);
      break;
    }
    case WindowsKind::Authentication:
      category = schema::Category::Authentication;
      e.set_event_type(event_id == 4624 ? "start" : "info");
      e.set_event_action(event_id == 4624   ? "logged-in"
                         : event_id == 4625 ? "logon-failed"
                                            : "explicit-credentials");
      e.set_event_outcome(event_id == 4625 ? "failure" : "success");
      break;
    case WindowsKind::Other:
      break;
  }
  e.set_event_category(std::string(schema::CategoryName(category)));
  e.set_event_dataset(provider == "Microsoft-Windows-Sysmon" ? "sysmon"
                      : channel == "Security"                ? "windows.security"
                                                             : "windows." + AsciiLower(channel));
  if (sys.contains("Computer")) {
    std::string computer = ValueText(sys["Computer"]);
    e.set_host_id(computer);
    e.set_host_name(computer);
  }
  if (sys.contains("TimeCreated")) {
    const auto& t = sys["TimeCreated"];
    const nlohmann::json* st = nullptr;
    if (t.is_object() && t.contains("#attributes") && t["#attributes"].contains("SystemTime"))
      st = &t["#attributes"]["SystemTime"];
    else if (t.is_object() && t.contains("SystemTime"))
      st = &t["SystemTime"];
    if (st) {
      auto ns = ParseTimestamp(*st);
      if (!ns) return Fail("bad TimeCreated: " + ns.error().message);
      e.set_timestamp(*ns);
    }
  }
  auto& extra = *e.mutable_extra();
  extra["EventID"] = std::to_string(event_id);
  if (!channel.empty()) extra["Channel"] = channel;
  if (!provider.empty()) extra["Provider_Name"] = provider;

  for (const auto& [name, value] : fields) {
    if (value.is_null()) continue;
    std::string text = ValueText(value);
    const schema::FieldDef* f = kind == WindowsKind::Other ? nullptr : MappedField(kind, name);
    if (!f || !f->In(category)) {
      std::string key = name;  // Sigma names drop spaces ("Threat Name" → ThreatName)
      std::erase(key, ' ');
      extra[key] = text;
      continue;
    }
    if (KeepsRawValue(name) || KeepsRawValues(kind)) extra[name] = text;
    // Windows writes "-" (and port 0) for none, as in a local logon: only in extra then.
    if (KeepsRawValues(kind) &&
        (text == "-" || (name == "IpPort" && text == "0") ||
         (f->type == schema::FieldType::Ip && (!ParseCidr(text) || text.find('/') != text.npos))))
      continue;
    if (name == "Hashes") {
      std::istringstream in(text);
      std::string part;
      while (std::getline(in, part, ','))
        if (part.starts_with("SHA256=")) e.set_process_hash_sha256(AsciiLower(part.substr(7)));
      continue;
    }
    if (name == "QueryResults") {
      std::istringstream in(text);
      std::string part;
      while (std::getline(in, part, ';')) {
        while (!part.empty() && part.front() == ' ') part.erase(0, 1);
        while (!part.empty() && part.back() == ' ') part.pop_back();
        if (part.empty()) continue;
        e.add_dns_answers(part);
        std::string ip = part.starts_with("::ffff:") ? part.substr(7) : part;
        if (ParseCidr(ip) && ip.find('/') == std::string::npos) e.add_dns_resolved_ip(ip);
      }
      continue;
    }
    if (name == "Initiated") {
      e.set_network_direction(text == "true" ? "egress" : "ingress");
      continue;
    }
    if (f->type == schema::FieldType::Long) {
      if (auto n = ParseInt(text)) {
        schema::SetInt(e, f->id, *n);
      } else {
        extra[name] = text;
      }
      continue;
    }
    schema::SetString(e, f->id, text);
    if (name == "Image" || name == "NewProcessName" || name == "ProcessName")
      e.set_process_name(std::string(BaseName(text)));
    if (name == "ParentImage" || name == "ParentProcessName")
      e.set_process_parent_name(std::string(BaseName(text)));
    if (name == "TargetFilename") e.set_file_name(std::string(BaseName(text)));
  }
  if (category == schema::Category::Process && kind == WindowsKind::Process &&
      provider != "Microsoft-Windows-Sysmon") {
    // Security 4688: ProcessId is the creator (parent), NewProcessId the new process.
    if (auto creator = value_of("ProcessId"))
      if (auto n = ParseInt(*creator)) {
        e.set_process_parent_pid(*n);
        if (auto np = value_of("NewProcessId"); np && ParseInt(*np))
          e.set_process_pid(*ParseInt(*np));
      }
    if (auto u = value_of("SubjectUserName")) e.set_user_name(*u);
  }
  return e;
}

namespace {
// "LINE:COLUMN" (both from 1) of byte offset in text.
std::string TextPosition(std::string_view text, std::size_t offset) {
  offset = std::min(offset, text.size());
  const std::string_view before = text.substr(0, offset);
  const auto line = 1 + std::count(before.begin(), before.end(), '\n');
  const auto newline = before.rfind('\n');
  const auto column = newline == std::string_view::npos ? offset + 1 : offset - newline;
  return std::to_string(line) + ":" + std::to_string(column);
}

// nlohmann's message without its "[json.exception...] parse error at line L, column C: " prefix,
// whose position counts from the start of one value, not of the file.
std::string ParseErrorReason(std::string_view what) {
  const auto at = what.find(", column ");
  if (at == std::string_view::npos) return std::string(what);
  const auto colon = what.find(": ", at);
  return std::string(colon == std::string_view::npos ? what : what.substr(colon + 2));
}
}  // namespace

Result<std::vector<nlohmann::json>> ParseWindowsRecords(std::string_view text) {
  std::vector<nlohmann::json> out;
  std::istringstream in{std::string(text)};
  while (true) {
    in >> std::ws;
    if (in.peek() == std::char_traits<char>::eof()) break;
    const auto start = static_cast<std::size_t>(in.tellg());
    nlohmann::json value;
    try {
      in >> value;
    } catch (const nlohmann::json::parse_error& e) {
      // The parser counts from the start of this value: place the error in the whole text.
      return Fail(TextPosition(text, start + (e.byte > 0 ? e.byte - 1 : 0)) +
                  ": bad JSON: " + ParseErrorReason(e.what()));
    } catch (const nlohmann::json::exception& e) {
      return Fail(TextPosition(text, start) + ": bad JSON: " + e.what());
    }
    if (value.is_array()) {
      for (auto& v : value) out.push_back(std::move(v));
    } else {
      out.push_back(std::move(value));
    }
  }
  return out;
}

}  // namespace vigil::hunt
