// The agent's mTLS connection to the server's gateway, shared by the event uplink and the command
// channel (both calls run on one channel, hence one TCP/TLS connection): the CA that pins the
// server, the agent's certificate and key.
#pragma once

#include <grpcpp/channel.h>

#include <memory>
#include <string>

namespace vigil::agent {

struct GatewayTls {
  std::string server;  // host:port
  std::string ca_pem, cert_pem, key_pem;
};

// Keepalive pings (every 20 s, also without calls) notice a server that vanished without a FIN
// while the command call is idle.
std::shared_ptr<grpc::Channel> GatewayChannel(const GatewayTls& tls);

}  // namespace vigil::agent
