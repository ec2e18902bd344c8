#include "agent/response/responder.hpp"

#include "agent/enrich/hash_cache.hpp"
#include "common/log.hpp"

namespace vigil::agent::response {
namespace {

using nlohmann::json;

CommandOutcome FromResult(Result<json> r) {
  if (!r) return {false, r.error().message, nullptr};
  return {true, "", std::move(*r)};
}

std::vector<std::string> Strings(const json& p, const char* key) {
  std::vector<std::string> out;
  if (p.contains(key) && p[key].is_array())
    for (const auto& v : p[key])
      if (v.is_string()) out.push_back(v);
  return out;
}

}  // namespace

Responder::Responder(ResponderOptions options)
    : options_(std::move(options)),
      isolation_(options_.state_dir / "response/isolation.json", options_.server,
                 options_.resolv_conf),
      quarantine_(options_.state_dir / "quarantine"),
      net_block_(options_.state_dir / "response/net_block.json") {
  if (!options_.hashes) {
    own_hashes_ = std::make_unique<HashCache>();
    options_.hashes = own_hashes_.get();
  }
  exec_block_ = std::make_unique<ExecBlocker>(options_.state_dir / "response/blocked_hashes.json",
                                              *options_.hashes, options_.emit);
}

Responder::~Responder() { Stop(); }

void Responder::Start() {
  if (auto r = isolation_.Reapply(); !r)
    VLOG_ERROR("isolation: cannot re-apply: {}", r.error().message);
  else if (*r)
    VLOG_WARN("this host is isolated (re-applied table inet {})", kIsolationTable);
  if (auto r = exec_block_->Start(); !r) VLOG_ERROR("exec block: {}", r.error().message);
  if (auto r = net_block_.Start(); !r) VLOG_ERROR("network block: {}", r.error().message);
}

void Responder::Stop() {
  if (exec_block_) exec_block_->Stop();
}

void Responder::Register(CommandChannel& channel) {
  channel.Register("kill", [this](const json& p) {
    KillRequest request{p.value("entity_id", ""), p.value("tree", false)};
    if (request.entity_id.empty()) return CommandOutcome{false, "kill needs entity_id", nullptr};
    return FromResult(Kill(request, options_.host, options_.lookup));
  });
  channel.Register("isolate", [this](const json& p) {
    return FromResult(isolation_.Isolate(Strings(p, "allow")));
  });
  channel.Register("release", [this](const json&) { return FromResult(isolation_.Release()); });
  channel.Register("quarantine", [this](const json& p) {
    return FromResult(quarantine_.Add(p.value("path", "")));
  });
  channel.Register("quarantine-list",
                   [this](const json&) { return FromResult(quarantine_.List()); });
  channel.Register("restore", [this](const json& p) {
    return FromResult(quarantine_.Restore(p.value("id", "")));
  });
  channel.Register("block-hash", [this](const json& p) {
    return FromResult(exec_block_->Block(Strings(p, "sha256")));
  });
  channel.Register("unblock-hash", [this](const json& p) {
    return FromResult(exec_block_->Unblock(Strings(p, "sha256")));
  });
  channel.Register("block-ip", [this](const json& p) {
    return FromResult(net_block_.BlockIps(Strings(p, "ip")));
  });
  channel.Register("unblock-ip", [this](const json& p) {
    return FromResult(net_block_.UnblockIps(Strings(p, "ip")));
  });
  channel.Register("block-domain", [this](const json& p) {
    return FromResult(net_block_.BlockDomains(Strings(p, "domain")));
  });
  channel.Register("unblock-domain", [this](const json& p) {
    return FromResult(net_block_.UnblockDomains(Strings(p, "domain")));
  });
  channel.Register("quarantine-delete", [this](const json& p) {
    return FromResult(quarantine_.Delete(p.value("id", "")));
  });
}

void Responder::OnEvent(const v1::Event& event) {
  if (event.dns_answers_size() > 0) net_block_.OnDnsAnswer(event);
}

}  // namespace vigil::agent::response
