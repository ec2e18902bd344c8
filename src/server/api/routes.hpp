// The API's route modules, registered explicitly by ApiServer::Routes.
#pragma once

namespace httplib {
class Server;
}

namespace vigil::server {

struct ApiContext;

void RegisterFleetRoutes(httplib::Server& http, ApiContext& ctx);   // health, hosts, events
void RegisterImportRoutes(httplib::Server& http, ApiContext& ctx);  // import
void RegisterHuntRoutes(httplib::Server& http, ApiContext& ctx);    // hunt, saved hunts
void RegisterYaraRoutes(httplib::Server& http, ApiContext& ctx);    // YARA rule sets

}  // namespace vigil::server
