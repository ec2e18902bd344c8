// See yara_store.hpp.
#include "server/store/yara_store.hpp"

#include <nlohmann/json.hpp>

#include "common/time.hpp"
#include "common/zstd.hpp"

namespace vigil::store {
namespace {
using nlohmann::json;
using sqlite::BindText;
using sqlite::ColumnText;
using sqlite::Prepare;

constexpr std::string_view kInfoColumns =
    "name, version, sha256, rule_count, files, bytes, owner, created_ns";

YaraRuleSetInfo InfoFromRow(sqlite3_stmt* s) {
  return {std::string(ColumnText(s, 0)), sqlite3_column_int64(s, 1), std::string(ColumnText(s, 2)),
          sqlite3_column_int64(s, 3),    sqlite3_column_int64(s, 4), sqlite3_column_int64(s, 5),
          std::string(ColumnText(s, 6)), sqlite3_column_int64(s, 7)};
}

Result<std::vector<YaraRuleSetInfo>> Infos(sqlite3* db, const std::string& sql,
                                           const std::string& name) {
  auto stmt = Prepare(db, sql);
  if (!stmt) return std::unexpected(stmt.error());
  sqlite::ResetGuard guard(stmt->get());
  if (!name.empty()) BindText(stmt->get(), 1, name);
  return sqlite::CollectRows(db, stmt->get(), InfoFromRow, "yara_rule_sets");
}
}  // namespace

bool ValidRuleSetName(const std::string& name) {
  return !name.empty() && name.size() <= 64 &&
         name.find_first_not_of(
             "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
             std::string::npos;
}

Result<std::unique_ptr<YaraRuleStore>> YaraRuleStore::Open(const std::filesystem::path& db_path) {
  auto db =
      sqlite::OpenSideStore(db_path.string(),
                            "CREATE TABLE IF NOT EXISTS yara_rule_sets ("
                            " name TEXT NOT NULL, version INTEGER NOT NULL, sha256 TEXT NOT NULL,"
                            " rule_count INTEGER NOT NULL, files INTEGER NOT NULL,"
                            " bytes INTEGER NOT NULL, owner TEXT NOT NULL,"
                            " created_ns INTEGER NOT NULL, sources BLOB NOT NULL,"
                            " PRIMARY KEY (name, version))");
  if (!db) return std::unexpected(db.error());
  return std::unique_ptr<YaraRuleStore>(new YaraRuleStore(std::move(*db)));
}

Result<YaraRuleSetInfo> YaraRuleStore::Add(const std::string& name,
                                           const std::vector<YaraSource>& sources,
                                           const std::string& sha256, std::int64_t rule_count,
                                           const std::string& owner) {
  if (!ValidRuleSetName(name))
    return Fail("a rule set name is 1-64 letters, digits, '.', '_' or '-'");
  std::lock_guard lock(mu_);
  auto versions = Infos(db_.get(),
                        "SELECT " + std::string(kInfoColumns) +
                            " FROM yara_rule_sets WHERE name = ? ORDER BY version DESC LIMIT 1",
                        name);
  if (!versions) return std::unexpected(versions.error());
  if (!versions->empty() && versions->front().sha256 == sha256) return versions->front();

  json list = json::array();
  std::int64_t bytes = 0;
  for (const auto& s : sources) {
    list.push_back({{"namespace", s.name_space}, {"origin", s.origin}, {"text", s.text}});
    bytes += static_cast<std::int64_t>(s.text.size());
  }
  const std::string plain = list.dump();
  // Stored as the plain size (8 bytes, little endian) then the zstd frame.
  std::string blob(8, '\0');
  for (int i = 0; i < 8; ++i) blob[i] = static_cast<char>((plain.size() >> (8 * i)) & 0xff);
  blob += ZstdCompress(plain);

  YaraRuleSetInfo info{name,
                       versions->empty() ? 1 : versions->front().version + 1,
                       sha256,
                       rule_count,
                       static_cast<std::int64_t>(sources.size()),
                       bytes,
                       owner,
                       NowNs()};
  auto stmt = Prepare(db_.get(),
                      "INSERT INTO yara_rule_sets (name, version, sha256, rule_count, files, "
                      "bytes, owner, created_ns, sources) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if (!stmt) return std::unexpected(stmt.error());
  sqlite::ResetGuard guard(stmt->get());
  auto* s = stmt->get();
  BindText(s, 1, info.name);
  sqlite3_bind_int64(s, 2, info.version);
  BindText(s, 3, info.sha256);
  sqlite3_bind_int64(s, 4, info.rule_count);
  sqlite3_bind_int64(s, 5, info.files);
  sqlite3_bind_int64(s, 6, info.bytes);
  BindText(s, 7, info.owner);
  sqlite3_bind_int64(s, 8, info.created_ns);
  sqlite3_bind_blob(s, 9, blob.data(), static_cast<int>(blob.size()), SQLITE_STATIC);
  if (sqlite3_step(s) != SQLITE_DONE) return sqlite::DbFail(db_.get(), "store rule set " + name);
  return info;
}

Result<std::vector<YaraRuleSetInfo>> YaraRuleStore::List() {
  std::lock_guard lock(mu_);
  return Infos(db_.get(),
               "SELECT " + std::string(kInfoColumns) +
                   " FROM yara_rule_sets r WHERE version = (SELECT MAX(version) FROM "
                   "yara_rule_sets WHERE name = r.name) ORDER BY name",
               "");
}

Result<std::vector<YaraRuleSetInfo>> YaraRuleStore::Versions(const std::string& name) {
  std::lock_guard lock(mu_);
  return Infos(db_.get(),
               "SELECT " + std::string(kInfoColumns) +
                   " FROM yara_rule_sets WHERE name = ? ORDER BY version DESC",
               name);
}

Result<std::optional<std::pair<YaraRuleSetInfo, std::vector<YaraSource>>>> YaraRuleStore::Get(
    const std::string& name, std::int64_t version) {
  std::lock_guard lock(mu_);
  auto stmt = Prepare(db_.get(), "SELECT " + std::string(kInfoColumns) +
                                     ", sources FROM yara_rule_sets WHERE name = ? AND (? = 0 OR "
                                     "version = ?) ORDER BY version DESC LIMIT 1");
  if (!stmt) return std::unexpected(stmt.error());
  sqlite::ResetGuard guard(stmt->get());
  auto* s = stmt->get();
  BindText(s, 1, name);
  sqlite3_bind_int64(s, 2, version);
  sqlite3_bind_int64(s, 3, version);
  int rc = sqlite3_step(s);
  if (rc == SQLITE_DONE) return std::nullopt;
  if (rc != SQLITE_ROW) return sqlite::DbFail(db_.get(), "read rule set " + name);
  auto info = InfoFromRow(s);
  std::string_view blob(static_cast<const char*>(sqlite3_column_blob(s, 8)),
                        static_cast<std::size_t>(sqlite3_column_bytes(s, 8)));
  if (blob.size() < 8) return Fail("rule set " + name + ": damaged sources");
  std::size_t plain_size = 0;
  for (int i = 0; i < 8; ++i)
    plain_size |= static_cast<std::size_t>(static_cast<unsigned char>(blob[i])) << (8 * i);
  auto plain = ZstdDecompress(blob.substr(8), plain_size, plain_size);
  if (!plain) return Fail("rule set " + name + ": " + plain.error().message);
  std::vector<YaraSource> sources;
  try {
    for (const auto& item : json::parse(*plain))
      sources.push_back({item.at("namespace").get<std::string>(),
                         item.at("origin").get<std::string>(), item.at("text").get<std::string>()});
  } catch (const std::exception& e) {
    return Fail("rule set " + name + ": damaged sources: " + e.what());
  }
  return std::pair{std::move(info), std::move(sources)};
}

Result<bool> YaraRuleStore::Remove(const std::string& name) {
  std::lock_guard lock(mu_);
  auto stmt = Prepare(db_.get(), "DELETE FROM yara_rule_sets WHERE name = ?");
  if (!stmt) return std::unexpected(stmt.error());
  sqlite::ResetGuard guard(stmt->get());
  BindText(stmt->get(), 1, name);
  if (sqlite3_step(stmt->get()) != SQLITE_DONE)
    return sqlite::DbFail(db_.get(), "remove rule set " + name);
  return sqlite3_changes(db_.get()) > 0;
}

}  // namespace vigil::store
