#include "agent/uplink/gateway_stub.hpp"

#include <grpcpp/grpcpp.h>

namespace vigil::agent {

std::shared_ptr<grpc::Channel> GatewayChannel(const GatewayTls& tls) {
  grpc::SslCredentialsOptions ssl{tls.ca_pem, tls.key_pem, tls.cert_pem};
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(16 << 20);
  // No BDP probing: a fixed receive window instead of a PING (and its ack, each a wake-up of
  // gRPC's threads on both ends) after data arrives. The server does the same for the batches.
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 20000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  return grpc::CreateCustomChannel(tls.server, grpc::SslCredentials(ssl), args);
}

}  // namespace vigil::agent
