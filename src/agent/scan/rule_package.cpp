// See rule_package.hpp.
#include "agent/scan/rule_package.hpp"

#include "common/base64.hpp"
#include "common/zstd.hpp"

namespace vigil::agent::scan {
namespace {
constexpr std::size_t kMaxUnpacked = 256u << 20;
}

nlohmann::json PackSources(const std::vector<RuleSource>& sources) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& s : sources)
    list.push_back({{"namespace", s.name_space}, {"origin", s.origin}, {"text", s.text}});
  const std::string plain = list.dump();
  return {{"encoding", "zstd+base64"},
          {"size", plain.size()},
          {"data", Base64Encode(ZstdCompress(plain))}};
}

Result<std::vector<RuleSource>> UnpackSources(const nlohmann::json& packed) {
  try {
    if (packed.at("encoding").get<std::string>() != "zstd+base64")
      return Fail("rule sources: unknown encoding " + packed.at("encoding").dump());
    const auto size = packed.at("size").get<std::size_t>();
    if (size > kMaxUnpacked) return Fail("rule sources: too large (" + std::to_string(size) + ")");
    auto compressed = Base64Decode(packed.at("data").get<std::string>());
    if (!compressed) return Fail("rule sources: " + compressed.error().message);
    auto plain = ZstdDecompress(*compressed, size, size);
    if (!plain) return Fail("rule sources: " + plain.error().message);
    std::vector<RuleSource> sources;
    for (const auto& item : nlohmann::json::parse(*plain))
      sources.push_back({item.at("namespace").get<std::string>(),
                         item.at("origin").get<std::string>(), item.at("text").get<std::string>()});
    return sources;
  } catch (const std::exception& e) {
    return Fail(std::string("rule sources: malformed: ") + e.what());
  }
}

}  // namespace vigil::agent::scan
