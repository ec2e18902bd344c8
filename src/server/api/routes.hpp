// The API's route modules, registered explicitly by ApiServer::Routes.
#pragma once

namespace httplib {
class Server;
}

namespace vigil::server {

struct ApiContext;

void RegisterFleetRoutes(httplib::Server& http, ApiContext& ctx);    // health, hosts, events
void RegisterImportRoutes(httplib::Server& http, ApiContext& ctx);   // import
void RegisterHuntRoutes(httplib::Server& http, ApiContext& ctx);     // hunt, saved hunts
void RegisterYaraRoutes(httplib::Server& http, ApiContext& ctx);     // YARA rule sets
void RegisterAuthRoutes(httplib::Server& http, ApiContext& ctx);     // login, session, users
void RegisterLiveRoutes(httplib::Server& http, ApiContext& ctx);     // events stream, schema
void RegisterProcessRoutes(httplib::Server& http, ApiContext& ctx);  // process tree, activity
void RegisterConsoleRoutes(httplib::Server& http, ApiContext& ctx);  // the web console's files
void RegisterActionRoutes(httplib::Server& http, ApiContext& ctx);   // response actions, audit log
void RegisterScanRoutes(httplib::Server& http, ApiContext& ctx);     // YARA scan jobs
void RegisterRulesRoutes(httplib::Server& http, ApiContext& ctx);    // rules, retro-hunt of a rule
void RegisterAlertsRoutes(httplib::Server& http, ApiContext& ctx);   // alerts, SSE stream
void RegisterIocRoutes(httplib::Server& http, ApiContext& ctx);      // IOC sets
void RegisterHostStateRoutes(httplib::Server& http, ApiContext& ctx);  // hosts' isolation state

}  // namespace vigil::server
