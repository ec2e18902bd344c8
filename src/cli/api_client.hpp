// The CLI's view of a Vigil server: where its HTTPS API is, the token to use, the CA to trust.
// Found from --server/--token (and --ca), or from a data directory (--data-dir, VIGIL_DATA_DIR,
// /var/lib/vigil).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "common/error.hpp"

namespace httplib {
enum class Error;
}

namespace vigil::cli {

struct Connection {
  std::string url;      // https://host:port
  std::string token;    // bearer token
  std::string ca_file;  // CA to verify the server with; empty: system store
};

// server: an https:// URL or HOST:PORT; ca_file: the server's CA, else the data dir's when it has
// one, else the system store.
Result<Connection> ResolveConnection(const std::string& server, const std::string& token,
                                     const std::string& data_dir, const std::string& ca_file = {});

// "cannot reach URL: " and what the transport error means for the user.
std::string CannotReach(const Connection& c, httplib::Error error);

struct HttpReply {
  int status = 0;
  std::string body;
};

// GET, POST, PUT or DELETE to path (which includes the query string).
Result<HttpReply> Request(const Connection& c, const std::string& method, const std::string& path,
                          const std::string& body = {}, const std::string& content_type = {});

// GET of a server-sent event stream: on_event gets each event's name ("message" by default) and its
// data; returning false stops. Ends when the server ends the stream.
Result<void> StreamEvents(
    const Connection& c, const std::string& path,
    const std::function<bool(const std::string& event, const std::string& data)>& on_event);

// The error message carried in a JSON error body, or the body itself.
std::string ErrorText(const HttpReply& reply);

}  // namespace vigil::cli
