// A generator of realistic endpoint telemetry for the store benchmarks: process execs with
// parents (time-ordered entity ids, real-looking command lines, paths and hashes), network
// connects, DNS queries and file events over 100 hosts, in batches of one agent each.
#pragma once

#include <array>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "common/sha256.hpp"
#include "server/store/store.hpp"

namespace vigil::bench {

struct Exe {
  std::string path, name, sha256;
  std::vector<std::string> cmdlines;  // templates; '#' becomes a number, '@' a random token
};

struct Host {
  std::string id, name, agent_id, ip;
  std::int64_t boot_ns = 0;  // when the host booted (hosts have different uptimes)
  std::uint64_t next_sequence = 1;
  std::uint64_t next_pid = 1000;
  std::vector<std::string> live;  // entity ids of recent processes (parents of new ones)
  std::vector<std::string> live_cmd;
};

class Generator {
 public:
  explicit Generator(std::uint64_t seed) : rng_(seed) {
    const std::array<std::pair<const char*, std::vector<std::string>>, 22> exes{{
        {"/usr/bin/bash",
         {"/bin/bash -c /usr/lib/sysstat/debian-sa1 1 1", "bash -l",
          "/bin/bash /opt/deploy/run.sh --build #", "bash -c 'tar czf /tmp/@.tgz /var/log/app'"}},
        {"/usr/bin/python3.11",
         {"/usr/bin/python3 /opt/app/worker.py --queue jobs --job #",
          "python3 -m pip install --user requests==2.#.0",
          "/usr/bin/python3 /usr/bin/unattended-upgrade --dry-run"}},
        {"/usr/bin/curl",
         {"curl -fsSL https://repo.example.com/pkg/@.tar.gz -o /tmp/@.tar.gz",
          "curl -s http://169.254.169.254/latest/meta-data/instance-id",
          "curl -sk https://10.0.#.#:8443/healthz"}},
        {"/usr/bin/git",
         {"git fetch --prune origin", "git rev-parse HEAD",
          "git clone https://github.com/example/@.git /srv/build/#"}},
        {"/usr/bin/ssh", {"ssh -o BatchMode=yes deploy@10.1.#.# uptime", "ssh -T git@github.com"}},
        {"/usr/sbin/cron", {"/usr/sbin/CRON -f -P"}},
        {"/usr/bin/systemctl",
         {"systemctl is-active --quiet nginx", "systemctl restart app-@.service"}},
        {"/usr/bin/ls", {"ls -la /var/log", "ls --color=auto", "ls /proc/#/fd"}},
        {"/usr/bin/cat", {"cat /etc/os-release", "cat /proc/#/status", "cat /var/log/syslog.#"}},
        {"/usr/bin/grep", {"grep -r TODO /srv/app/src", "grep -c ERROR /var/log/app/app.log.#"}},
        {"/usr/bin/ps", {"ps aux", "ps -eo pid,ppid,cmd --sort=-%cpu"}},
        {"/usr/bin/awk", {"awk '{print $1}' /var/log/nginx/access.log.#"}},
        {"/usr/bin/sed", {"sed -i s/@/@/g /etc/app/config-#.yaml"}},
        {"/usr/bin/docker",
         {"docker ps --format '{{.ID}} {{.Image}}'",
          "docker run --rm -v /srv:/srv alpine:3.# sh -c 'id'", "docker exec -it @ /bin/sh"}},
        {"/usr/bin/node",
         {"node /srv/web/server.js --port 30#",
          "node /usr/lib/node_modules/npm/bin/npm-cli.js ci"}},
        {"/usr/bin/java",
         {"/usr/lib/jvm/java-17/bin/java -Xmx2g -jar /opt/svc/service-#.jar "
          "--spring.profiles.active=prod"}},
        {"/usr/bin/find",
         {"find /tmp -type f -mtime +7 -delete", "find / -name '*.@' -perm -4000"}},
        {"/usr/bin/tar", {"tar xzf /tmp/@.tar.gz -C /opt/releases/#"}},
        {"/usr/bin/wget", {"wget -q http://@.example.net/x/# -O /tmp/.@"}},
        {"/usr/bin/sudo", {"sudo -u postgres psql -c 'select #'", "sudo apt-get update"}},
        {"/usr/sbin/sshd", {"sshd: deploy [priv]", "/usr/sbin/sshd -D -R"}},
        {"/usr/bin/perl",
         {"perl -e 'print #'",
          "/usr/bin/perl /usr/share/debconf/frontend /var/lib/dpkg/info/@.postinst configure"}},
    }};
    for (const auto& [path, cmds] : exes) {
      Exe e;
      e.path = path;
      e.name = std::filesystem::path(path).filename();
      e.sha256 = vigil::Sha256Hex(path);
      e.cmdlines = cmds;
      exes_.push_back(std::move(e));
    }
    const char* roles[] = {"web", "db", "build", "cache", "api", "worker", "bastion", "mail"};
    for (int i = 0; i < 100; ++i) {
      Host h;
      h.id = vigil::Sha256Hex("host" + std::to_string(i)).substr(0, 32);
      h.name = std::string(roles[i % 8]) + "-" + std::to_string(i) + ".prod.example.com";
      h.agent_id = "agent-" + h.id.substr(0, 12);
      h.ip = "10.0." + std::to_string(i / 50) + "." + std::to_string(10 + i % 200);
      h.boot_ns = ts_ - Uniform(3'600, 90 * 86'400) * 1'000'000'000;
      hosts_.push_back(std::move(h));
    }
    for (int i = 0; i < 3000; ++i)
      domains_.push_back(Token(6 + i % 7) + (i % 3 ? ".com" : i % 2 ? ".net" : ".io"));
    for (int i = 0; i < 5000; ++i)
      ips_.push_back(std::to_string(Uniform(1, 223)) + "." + std::to_string(Uniform(0, 255)) + "." +
                     std::to_string(Uniform(0, 255)) + "." + std::to_string(Uniform(1, 254)));
    file_dirs_ = {"/var/log/app/",
                  "/tmp/",
                  "/home/deploy/.cache/pip/",
                  "/srv/app/releases/",
                  "/etc/systemd/system/",
                  "/var/lib/docker/overlay2/",
                  "/home/alice/Downloads/",
                  "/usr/local/bin/",
                  "/etc/cron.d/",
                  "/var/spool/cron/crontabs/"};
  }

  std::vector<Host>& hosts() { return hosts_; }

  // One batch of `n` events of one host (an agent sends its own events).
  vigil::store::IngestBatch Next(std::size_t n) {
    Host& h = hosts_[host_cursor_++ % hosts_.size()];
    vigil::store::IngestBatch b;
    b.agent_id = h.agent_id;
    b.spool_epoch = 1;
    b.first_sequence = h.next_sequence;
    h.next_sequence += n;
    b.events.resize(n);
    for (auto& e : b.events) Fill(h, e);
    return b;
  }

 private:
  std::int64_t Uniform(std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng_);
  }
  std::string Token(int len) {
    static constexpr char kChars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    std::string s(static_cast<std::size_t>(len), 'x');
    for (auto& c : s) c = kChars[Uniform(0, 35)];
    return s;
  }
  std::string Hex(int len) {
    static constexpr char kHexChars[] = "0123456789abcdef";
    std::string s(static_cast<std::size_t>(len), '0');
    for (auto& c : s) c = kHexChars[Uniform(0, 15)];
    return s;
  }
  std::string Expand(const std::string& tmpl) {
    std::string out;
    for (char c : tmpl) {
      if (c == '#')
        out += std::to_string(Uniform(0, 999));
      else if (c == '@')
        out += Token(8);
      else
        out += c;
    }
    return out;
  }
  void Common(Host& h, vigil::v1::Event& e, const char* category) {
    ts_ += Uniform(1000, 20000000);
    e.set_timestamp(ts_);
    e.set_event_category(category);
    e.set_host_id(h.id);
    e.set_host_name(h.name);
    e.set_agent_id(h.agent_id);
  }
  void Fill(Host& h, vigil::v1::Event& e) {
    const auto roll = Uniform(0, 99);
    if (roll < 40) return Process(h, e);
    if (roll < 70) return Network(h, e);
    if (roll < 85) return Dns(h, e);
    return File(h, e);
  }
  void Process(Host& h, vigil::v1::Event& e) {
    Common(h, e, "process");
    const Exe& x =
        exes_[static_cast<std::size_t>(Uniform(0, static_cast<std::int64_t>(exes_.size()) - 1))];
    std::string cmd = Expand(x.cmdlines[static_cast<std::size_t>(
        Uniform(0, static_cast<std::int64_t>(x.cmdlines.size()) - 1))]);
    char start_ticks[16];
    std::snprintf(start_ticks, sizeof start_ticks, "%010llx",
                  static_cast<unsigned long long>((ts_ - h.boot_ns) / 10'000'000));
    // Same shape as the agent's ids (common/entity_id.hpp): ticks since the host's boot, then a
    // hash part.
    const std::string entity = start_ticks + Hex(22);
    e.set_event_type("start");
    e.set_event_action("exec");
    e.set_process_entity_id(entity);
    e.set_process_pid(static_cast<std::int64_t>(h.next_pid++ % 4000000));
    e.set_process_name(x.name);
    e.set_process_executable(x.path);
    e.set_process_command_line(cmd);
    std::size_t start = 0, count = 0;
    for (std::size_t i = 0; i <= cmd.size(); ++i)
      if (i == cmd.size() || cmd[i] == ' ') {
        if (i > start && count < 16) e.add_process_args(cmd.substr(start, i - start)), ++count;
        start = i + 1;
      }
    e.set_process_args_count(static_cast<std::int64_t>(count));
    e.set_process_working_directory(Uniform(0, 1) ? "/" : "/home/deploy");
    e.set_process_start(ts_);
    e.set_process_hash_sha256(x.sha256);
    e.set_user_id(Uniform(0, 3) ? "0" : "1000");
    e.set_user_name(e.user_id() == "0" ? "root" : "deploy");
    if (!h.live.empty()) {
      const auto p =
          static_cast<std::size_t>(Uniform(0, static_cast<std::int64_t>(h.live.size()) - 1));
      e.set_process_parent_entity_id(h.live[p]);
      e.set_process_parent_pid(Uniform(1, 4000000));
      e.set_process_parent_command_line(h.live_cmd[p]);
      e.set_process_parent_name("bash");
      e.set_process_parent_executable("/usr/bin/bash");
    }
    if (h.live.size() < 64) {
      h.live.push_back(entity);
      h.live_cmd.push_back(cmd);
    } else {
      const auto slot = static_cast<std::size_t>(Uniform(0, 63));
      h.live[slot] = entity;
      h.live_cmd[slot] = cmd;
    }
  }
  void Network(Host& h, vigil::v1::Event& e) {
    Common(h, e, "network");
    e.set_event_type("connection");
    e.set_event_action("connect");
    if (!h.live.empty())
      e.set_process_entity_id(h.live[static_cast<std::size_t>(
          Uniform(0, static_cast<std::int64_t>(h.live.size()) - 1))]);
    e.set_process_pid(Uniform(1, 4000000));
    e.set_process_name("curl");
    e.set_source_ip(h.ip);
    e.set_source_port(Uniform(32768, 60999));
    e.set_destination_ip(ips_[static_cast<std::size_t>(Uniform(0, 4999))]);
    e.set_destination_port(Uniform(0, 3) ? 443 : 80);
    e.set_network_transport("tcp");
    e.set_network_type("ipv4");
    e.set_network_direction("egress");
    e.set_vigil_destination_external(true);
  }
  void Dns(Host& h, vigil::v1::Event& e) {
    Common(h, e, "dns");
    e.set_event_type("protocol");
    e.set_event_action("query");
    e.set_process_name("systemd-resolved");
    e.set_dns_question_name(domains_[static_cast<std::size_t>(Uniform(0, 2999))]);
    e.set_dns_question_type("A");
    e.add_dns_resolved_ip(ips_[static_cast<std::size_t>(Uniform(0, 4999))]);
    e.set_dns_response_code("NOERROR");
    e.set_destination_ip("127.0.0.53");
    e.set_destination_port(53);
    e.set_network_transport("udp");
  }
  void File(Host& h, vigil::v1::Event& e) {
    Common(h, e, "file");
    const auto kind = Uniform(0, 2);
    e.set_event_type(kind == 0 ? "creation" : kind == 1 ? "change" : "deletion");
    e.set_event_action(kind == 0 ? "create" : kind == 1 ? "write" : "unlink");
    if (!h.live.empty())
      e.set_process_entity_id(h.live[static_cast<std::size_t>(
          Uniform(0, static_cast<std::int64_t>(h.live.size()) - 1))]);
    const std::string name = Token(10) + (Uniform(0, 1) ? ".log" : ".tmp");
    e.set_file_path(file_dirs_[static_cast<std::size_t>(Uniform(0, 9))] + name);
    e.set_file_name(name);
    e.set_file_size(Uniform(0, 10000000));
    if (Uniform(0, 9) < 3) e.set_file_hash_sha256(Hex(64));
  }

  std::mt19937_64 rng_;
  std::vector<Exe> exes_;
  std::vector<Host> hosts_;
  std::vector<std::string> domains_, ips_, file_dirs_;
  std::size_t host_cursor_ = 0;
  std::int64_t ts_ = 1'700'000'000'000'000'000;
};

}  // namespace vigil::bench
