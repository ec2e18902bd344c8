// The agent's mTLS connection to the server's gateway, shared by the event uplink and the command
// channel: the CA that pins the server, the agent's certificate and key.
#pragma once

#include <memory>
#include <string>

#include "vigil/v1/gateway.grpc.pb.h"

namespace vigil::agent {

struct GatewayTls {
  std::string server;  // host:port
  std::string ca_pem, cert_pem, key_pem;
};

// idle_keepalive: ping the server while no call is active, so a long idle call notices a server
// that vanished without a FIN.
std::unique_ptr<v1::AgentGateway::Stub> GatewayStub(const GatewayTls& tls, bool idle_keepalive);

}  // namespace vigil::agent
