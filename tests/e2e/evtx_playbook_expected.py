"""Expected results of the hunting playbook over ../shared/corpora/evtx, derived without Vigil: every
.evtx file is exported to XML with libevtx-utils' `evtxexport` and the records are filtered here with
plain Python (ElementTree, ipaddress). Used by test_hunt_playbook.py; run alone it prints the counts:

    python3 tests/e2e/evtx_playbook_expected.py [CORPUS_DIR]
"""
import collections
import concurrent.futures
import glob
import ipaddress
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

NS = "{http://schemas.microsoft.com/win/2004/08/events/event}"
CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../shared/corpora/evtx")

SCRIPT_HOSTS = ("wscript.exe", "cscript.exe", "mshta.exe")
SHELLS = ("cmd.exe", "powershell.exe")
LOLBINS = ("rundll32.exe", "regsvr32.exe", "mshta.exe", "certutil.exe", "bitsadmin.exe", "wmic.exe",
           "msiexec.exe", "installutil.exe", "regasm.exe", "regsvcs.exe", "msbuild.exe", "cmstp.exe",
           "forfiles.exe", "odbcconf.exe")
INTERNAL = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "169.254.0.0/16", "::1/128",
            "fe80::/10", "fc00::/7")

# The playbook: name -> EQL. The expected rows below answer the same questions.
QUERIES = {
    "bitsadmin_transfer": 'process where process.name : "bitsadmin.exe" and '
                          'process.command_line : ("*/transfer*", "*http*", "*/download*", "*/addfile*")',
    "script_host_children": 'process where process.parent.name in~ ("wscript.exe", "cscript.exe", "mshta.exe")',
    "shell_external_connections": 'network where process.name in~ ("cmd.exe", "powershell.exe") and '
                                  'not cidrMatch(destination.ip, ' + ", ".join(f'"{c}"' for c in INTERNAL) + ')',
    "run_key_user_paths": 'persistence where registry.path : "*\\\\CurrentVersion\\\\Run*" and '
                          'registry.data.strings : ("*AppData*", "*\\\\Temp\\\\*", "*ProgramData*")',
    "lolbins_by_count": 'process where process.name in~ (' + ", ".join(f'"{n}"' for n in LOLBINS) +
                        ') | count process.name',
    # Security 4624 logons from another machine (lateral movement), by source address
    "remote_logons_by_source": 'authentication where event.action == "logged-in" and source.ip != null and '
                               'not cidrMatch(source.ip, "127.0.0.0/8", "::1/128") | count source.ip',
    # fields the schema does not name, kept in the extra map by the import
    "system_integrity_processes": 'process where extra.IntegrityLevel == "System" and extra["EventID"] == "1"',
    "logons_by_type": 'authentication where extra.EventID == "4624" | count extra.LogonType',
}

# The fields of a Vigil result row that make a row comparable with an expected one.
ROW_FIELDS = {
    "bitsadmin_transfer": ("host.name", "process.command_line"),
    "script_host_children": ("host.name", "process.executable", "process.parent.executable"),
    "shell_external_connections": ("host.name", "process.executable", "destination.ip", "destination.port"),
    "run_key_user_paths": ("host.name", "registry.path", "registry.data.strings"),
    "lolbins_by_count": ("process.name", "count"),
    "remote_logons_by_source": ("source.ip", "count"),
    "system_integrity_processes": ("host.name", "process.executable", "IntegrityLevel"),
    "logons_by_type": ("extra.LogonType", "count"),
}


def base_name(path):
    return re.split(r"[\\/]", path)[-1]


def export(path):
    """Every record of one .evtx file as (system, data) dicts, via evtxexport's XML."""
    out = subprocess.run(["evtxexport", "-f", "xml", path], capture_output=True).stdout.decode("utf-8", "replace")
    records = []
    for xml in re.findall(r"<Event[ >].*?</Event>", out, re.S):
        # libevtx passes control characters through (a 4661 PrivilegeList); XML 1.0 forbids them.
        root = ET.fromstring(re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", "", xml))
        system, data = {}, {}
        for child in root.find(NS + "System"):
            tag = child.tag.replace(NS, "")
            system[tag] = child.attrib.get("Name") if tag == "Provider" else (child.text or "")
        event_data = root.find(NS + "EventData")
        if event_data is not None:
            for d in event_data:
                if "Name" in d.attrib:
                    data[d.attrib["Name"]] = d.text or ""
        records.append((system, data))
    return records


def internal(ip):
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return None
    return any(addr in ipaddress.ip_network(c) for c in INTERNAL)


def expected(corpus=CORPUS):
    files = sorted(glob.glob(os.path.join(corpus, "**/*.evtx"), recursive=True))
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        exported = list(pool.map(export, files))
    rows = {name: [] for name in QUERIES}
    lolbins = collections.Counter()
    remote_logons = collections.Counter()
    logon_types = collections.Counter()
    domains = []  # (host, name) of Sysmon 22 queries and Sysmon 3 destination host names
    for records in exported:
        for system, data in records:
            provider, eid, host = system.get("Provider"), int(system.get("EventID", "0")), system.get("Computer", "")
            sysmon = provider == "Microsoft-Windows-Sysmon"
            if (sysmon and eid == 1) or (provider == "Microsoft-Windows-Security-Auditing" and eid == 4688):
                image = data.get("Image") or data.get("NewProcessName") or ""
                parent = data.get("ParentImage") or data.get("ParentProcessName") or ""
                name, cmd = base_name(image), data.get("CommandLine", "")
                if name.lower() == "bitsadmin.exe" and any(
                        s in cmd.lower() for s in ("/transfer", "http", "/download", "/addfile")):
                    rows["bitsadmin_transfer"].append((host, cmd))
                if parent and base_name(parent).lower() in SCRIPT_HOSTS:
                    rows["script_host_children"].append((host, image, parent))
                if name.lower() in LOLBINS:
                    lolbins[name] += 1
                if sysmon and data.get("IntegrityLevel") == "System":
                    rows["system_integrity_processes"].append((host, image, "System"))
            elif provider == "Microsoft-Windows-Security-Auditing" and eid == 4624:
                logon_types[data.get("LogonType")] += 1
                ip = data.get("IpAddress", "")
                try:
                    if not ipaddress.ip_address(ip).is_loopback:
                        remote_logons[ip] += 1
                except ValueError:  # "-": a local logon
                    pass
            elif sysmon and eid == 22 and data.get("QueryName"):
                domains.append((host, data["QueryName"].lower()))
            elif sysmon and eid == 3:
                if data.get("DestinationHostname"):
                    domains.append((host, data["DestinationHostname"].lower()))
                image, ip = data.get("Image", ""), data.get("DestinationIp", "")
                if base_name(image).lower() in SHELLS and internal(ip) is False:
                    port = data.get("DestinationPort", "")
                    rows["shell_external_connections"].append((host, image, ip, int(port) if port else None))
            elif sysmon and eid in (12, 13, 14):
                key, details = data.get("TargetObject", ""), data.get("Details", "")
                if "\\currentversion\\run" in key.lower() and any(
                        s in details.lower() for s in ("appdata", "\\temp\\", "programdata")):
                    rows["run_key_user_paths"].append((host, key, details))
    rows["lolbins_by_count"] = list(lolbins.items())
    rows["remote_logons_by_source"] = list(remote_logons.items())
    rows["logons_by_type"] = list(logon_types.items())
    rows["domains"] = domains  # not a playbook query: for `vigil ioc find domain`
    return {name: sorted(r) for name, r in rows.items()}, files, sum(len(r) for r in exported)


if __name__ == "__main__":
    result, files, total = expected(sys.argv[1] if len(sys.argv) > 1 else CORPUS)
    print(f"{len(files)} files, {total} records")
    for name, r in result.items():
        print(f"{name}: {len(r)} rows")
        for row in r[:5]:
            print("   ", row)
