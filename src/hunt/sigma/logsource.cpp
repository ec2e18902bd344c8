// The logsource routing table (see logsource.hpp and docs/detection.md).
#include "hunt/sigma/logsource.hpp"

namespace vigil::hunt::sigma {
namespace {

using schema::Category;

struct SysmonCategory {
  std::string_view name;
  std::vector<std::string> ids;
};

Logsource Other(std::vector<std::string> ids) {
  return Logsource{
      Category::Other, {{Category::Other, WindowsKind::Other}}, std::move(ids), "", {"sysmon"}};
}

}  // namespace

Result<Logsource> RouteLogsource(const std::string& product, const std::string& category,
                                 const std::string& service) {
  std::string where =
      "logsource product=" + product + " category=" + category + " service=" + service;
  if (product == "windows" || (product.empty() && !category.empty())) {
    if (category == "process_creation")
      return Logsource{Category::Process,
                       {{Category::Process, WindowsKind::Process}},
                       {},
                       "",
                       {"sysmon", "windows.security"}};
    if (category == "network_connection")
      return Logsource{
          Category::Network, {{Category::Network, WindowsKind::Network}}, {"3"}, "", {"sysmon"}};
    if (category == "file_event")
      return Logsource{
          Category::File, {{Category::File, WindowsKind::File}}, {"11"}, "", {"sysmon"}};
    if (category == "file_delete")
      return Logsource{
          Category::File, {{Category::File, WindowsKind::File}}, {"23", "26"}, "", {"sysmon"}};
    if (category == "dns_query")
      return Logsource{Category::Dns, {{Category::Dns, WindowsKind::Dns}}, {"22"}, "", {"sysmon"}};
    if (category.starts_with("registry_")) {
      std::vector<std::string> ids;
      if (category == "registry_add" || category == "registry_delete")
        ids = {"12"};
      else if (category == "registry_set")
        ids = {"13"};
      else if (category == "registry_rename")
        ids = {"14"};
      else if (category == "registry_event")
        ids = {"12", "13", "14"};
      else
        return Fail(where + ": unknown registry category");
      return Logsource{
          std::nullopt,
          {{Category::Persistence, WindowsKind::Registry}, {Category::Other, WindowsKind::Other}},
          ids,
          "",
          {"sysmon"}};
    }
    static const SysmonCategory kOther[] = {
        {"process_termination", {"5"}},
        {"driver_load", {"6"}},
        {"image_load", {"7"}},
        {"create_remote_thread", {"8"}},
        {"raw_access_thread", {"9"}},
        {"process_access", {"10"}},
        {"create_stream_hash", {"15"}},
        {"pipe_created", {"17", "18"}},
        {"wmi_event", {"19", "20", "21"}},
        {"clipboard_capture", {"24"}},
        {"process_tampering", {"25"}},
        {"file_change", {"2"}},
        {"sysmon_status", {"4", "16"}},
        {"sysmon_error", {"255"}},
        {"file_block_executable", {"27"}},
        {"file_block_shredding", {"28"}},
        {"file_executable_detected", {"29"}},
    };
    for (const auto& o : kOther)
      if (category == o.name) return Other(o.ids);
    static const struct {
      std::string_view name, channel, id;
    } kPowerShell[] = {
        {"ps_script", "Microsoft-Windows-PowerShell/Operational", "4104"},
        {"ps_module", "Microsoft-Windows-PowerShell/Operational", "4103"},
        {"ps_classic_start", "Windows PowerShell", "400"},
        {"ps_classic_provider_start", "Windows PowerShell", "600"},
        {"ps_classic_script", "Windows PowerShell", "800"},
    };
    for (const auto& p : kPowerShell)
      if (category == p.name)
        return Logsource{std::nullopt,
                         {{Category::Other, WindowsKind::Other}},
                         {std::string(p.id)},
                         std::string(p.channel),
                         {}};
    if (!category.empty())
      return Fail(where + ": category " + category + " has no source Vigil collects or imports");
    static const std::pair<std::string_view, std::string_view> kChannels[] = {
        {"security", "Security"},
        {"system", "System"},
        {"application", "Application"},
        {"powershell", "Microsoft-Windows-PowerShell/Operational"},
        {"powershell-classic", "Windows PowerShell"},
        {"windefend", "Microsoft-Windows-Windows Defender/Operational"},
        {"wmi", "Microsoft-Windows-WMI-Activity/Operational"},
        {"taskscheduler", "Microsoft-Windows-TaskScheduler/Operational"},
        {"bits-client", "Microsoft-Windows-Bits-Client/Operational"},
        {"codeintegrity-operational", "Microsoft-Windows-CodeIntegrity/Operational"},
        {"dns-client", "Microsoft-Windows-DNS Client Events/Operational"},
        {"firewall-as", "Microsoft-Windows-Windows Firewall With Advanced Security/Firewall"},
        {"sysmon", "Microsoft-Windows-Sysmon/Operational"},
        {"terminalservices-localsessionmanager",
         "Microsoft-Windows-TerminalServices-LocalSessionManager/Operational"},
        {"ntlm", "Microsoft-Windows-NTLM/Operational"},
        {"appxdeployment-server", "Microsoft-Windows-AppXDeploymentServer/Operational"},
        {"driver-framework", "Microsoft-Windows-DriverFrameworks-UserMode/Operational"},
        {"msexchange-management", "MSExchange Management"},
        {"printservice-admin", "Microsoft-Windows-PrintService/Admin"},
        {"printservice-operational", "Microsoft-Windows-PrintService/Operational"},
        {"smbclient-security", "Microsoft-Windows-SmbClient/Security"},
        {"openssh", "OpenSSH/Operational"},
        {"shell-core", "Microsoft-Windows-Shell-Core/Operational"},
        {"ldap_debug", "Microsoft-Windows-LDAP-Client/Debug"},
        {"lsa-server", "Microsoft-Windows-LSA/Operational"},
        {"capi2", "Microsoft-Windows-CAPI2/Operational"},
        {"certificateservicesclient-lifecycle-system",
         "Microsoft-Windows-CertificateServicesClient-Lifecycle-System/Operational"},
        {"diagnosis-scripted", "Microsoft-Windows-Diagnosis-Scripted/Operational"},
        {"vhdmp", "Microsoft-Windows-VHDMP-Operational"},
        {"appmodel-runtime", "Microsoft-Windows-AppModel-Runtime/Admin"},
    };
    for (const auto& [name, channel] : kChannels)
      if (service == name) {
        Logsource l{
            std::nullopt, {{Category::Other, WindowsKind::Other}}, {}, std::string(channel), {}};
        if (service == "security")  // 4688 is imported as a process event, logons as authentication
          l.routes.insert(l.routes.begin(),
                          {Route{Category::Process, WindowsKind::Process},
                           Route{Category::Authentication, WindowsKind::Authentication}});
        if (service == "sysmon") {
          l.routes = {{Category::Process, WindowsKind::Process},
                      {Category::Network, WindowsKind::Network},
                      {Category::File, WindowsKind::File},
                      {Category::Dns, WindowsKind::Dns},
                      {Category::Persistence, WindowsKind::Registry},
                      {Category::Other, WindowsKind::Other}};
          l.channel.clear();
          l.datasets = {"sysmon"};
        }
        return l;
      }
    return Fail(where + ": Windows service " + service + " is not mapped");
  }
  if (product == "linux") {
    // The sensor's process table also holds forks, exits and the start-up snapshot, which carry
    // the command line too: a creation is an exec.
    if (category == "process_creation")
      return Logsource{
          Category::Process, {{Category::Process, WindowsKind::Process, true}}, {}, "", {},
          {"exec"}};
    if (category == "network_connection")
      return Logsource{
          Category::Network, {{Category::Network, WindowsKind::Network, true}}, {}, "", {}};
    // Sysmon's FileCreate: a file created or written, not removed (Sigma's file_delete is apart).
    if (category == "file_event" || category == "file_create")
      return Logsource{Category::File,
                       {{Category::File, WindowsKind::File, true}},
                       {},
                       "",
                       {},
                       {"create", "open_write", "rename", "chmod"}};
    return Fail(where + ": Linux " + (category.empty() ? "service " + service : category) +
                " is not collected by the Vigil sensor");
  }
  return Fail(where + ": product " + (product.empty() ? "(none)" : product) +
              " is not collected or imported by Vigil");
}

}  // namespace vigil::hunt::sigma
