#include "hunt/evtx_reader.hpp"

#include <libevtx.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <memory>
#include <set>

#include "common/utf8.hpp"

namespace vigil::hunt {
namespace {

using nlohmann::json;

// ---- a small XML reader for libevtx's rendering of one record (elements, attributes, text,
// entities, CDATA, comments; no DTDs) ----

struct XmlNode {
  std::string name;
  std::vector<std::pair<std::string, std::string>> attributes;
  std::vector<XmlNode> children;
  std::string text;
};

class XmlReader {
 public:
  explicit XmlReader(std::string_view s) : s_(s) {}

  Result<XmlNode> Document() {
    SkipMisc();
    if (!At("<")) return Bad("expected an element");
    auto root = Element(0);
    if (!root) return root;
    SkipMisc();
    if (pos_ != s_.size()) return Bad("text after the root element");
    return root;
  }

 private:
  static constexpr int kMaxDepth = 64;

  std::unexpected<vigil::Error> Bad(const std::string& why) const {
    return std::unexpected(vigil::Error{"XML at byte " + std::to_string(pos_) + ": " + why});
  }
  bool At(std::string_view t) const { return s_.substr(pos_).starts_with(t); }
  void SkipSpace() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\r' || s_[pos_] == '\n'))
      ++pos_;
  }
  // Whitespace, the XML declaration, processing instructions and comments.
  void SkipMisc() {
    while (true) {
      SkipSpace();
      if (At("<?")) {
        auto end = s_.find("?>", pos_);
        pos_ = end == std::string_view::npos ? s_.size() : end + 2;
      } else if (At("<!--")) {
        auto end = s_.find("-->", pos_);
        pos_ = end == std::string_view::npos ? s_.size() : end + 3;
      } else {
        return;
      }
    }
  }
  static bool NameChar(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' ||
           c == ':' || static_cast<unsigned char>(c) >= 0x80;
  }
  std::string Name() {
    std::size_t start = pos_;
    while (pos_ < s_.size() && NameChar(s_[pos_])) ++pos_;
    return std::string(s_.substr(start, pos_ - start));
  }
  // Decodes entities in s_[from, to) onto out.
  Result<void> Decode(std::size_t from, std::size_t to, std::string& out) {
    for (std::size_t i = from; i < to; ++i) {
      if (s_[i] != '&') {
        out += s_[i];
        continue;
      }
      auto semi = s_.find(';', i);
      if (semi == std::string_view::npos || semi >= to || semi - i > 12) {
        pos_ = i;
        return Bad("unterminated entity");
      }
      std::string_view ent = s_.substr(i + 1, semi - i - 1);
      if (ent == "amp")
        out += '&';
      else if (ent == "lt")
        out += '<';
      else if (ent == "gt")
        out += '>';
      else if (ent == "quot")
        out += '"';
      else if (ent == "apos")
        out += '\'';
      else if (ent.starts_with("#")) {
        bool hex = ent.size() > 1 && (ent[1] == 'x' || ent[1] == 'X');
        std::string digits(ent.substr(hex ? 2 : 1));
        char* end = nullptr;
        unsigned long cp = std::strtoul(digits.c_str(), &end, hex ? 16 : 10);
        if (digits.empty() || *end != '\0' || cp > 0x10FFFF) {
          pos_ = i;
          return Bad("bad character reference &" + std::string(ent) + ";");
        }
        AppendUtf8(out, static_cast<std::uint32_t>(cp));
      } else {
        pos_ = i;
        return Bad("unknown entity &" + std::string(ent) + ";");
      }
      i = semi;
    }
    return {};
  }

  Result<XmlNode> Element(int depth) {
    if (depth > kMaxDepth) return Bad("elements nested too deeply");
    ++pos_;  // '<'
    XmlNode node;
    node.name = Name();
    if (node.name.empty()) return Bad("expected an element name");
    while (true) {
      SkipSpace();
      if (At("/>")) {
        pos_ += 2;
        return node;
      }
      if (At(">")) {
        ++pos_;
        break;
      }
      std::string attr = Name();
      if (attr.empty()) return Bad("expected an attribute name in <" + node.name + ">");
      SkipSpace();
      if (!At("=")) return Bad("expected = after attribute " + attr);
      ++pos_;
      SkipSpace();
      if (pos_ >= s_.size() || (s_[pos_] != '"' && s_[pos_] != '\''))
        return Bad("expected a quoted value for attribute " + attr);
      char quote = s_[pos_++];
      auto end = s_.find(quote, pos_);
      if (end == std::string_view::npos) return Bad("unterminated attribute " + attr);
      std::string value;
      if (auto r = Decode(pos_, end, value); !r) return std::unexpected(r.error());
      pos_ = end + 1;
      node.attributes.emplace_back(std::move(attr), std::move(value));
    }
    // Content up to the matching end tag.
    while (true) {
      if (pos_ >= s_.size()) return Bad("unterminated element <" + node.name + ">");
      if (At("</")) {
        std::size_t tag = pos_;
        pos_ += 2;
        std::string closing = Name();
        if (closing != node.name) {
          pos_ = tag;
          return Bad("</" + closing + "> closes <" + node.name + ">");
        }
        SkipSpace();
        if (!At(">")) return Bad("expected > in </" + closing + ">");
        ++pos_;
        return node;
      }
      if (At("<!--")) {
        auto end = s_.find("-->", pos_);
        if (end == std::string_view::npos) return Bad("unterminated comment");
        pos_ = end + 3;
      } else if (At("<![CDATA[")) {
        auto end = s_.find("]]>", pos_);
        if (end == std::string_view::npos) return Bad("unterminated CDATA");
        node.text.append(s_.substr(pos_ + 9, end - pos_ - 9));
        pos_ = end + 3;
      } else if (At("<?")) {
        auto end = s_.find("?>", pos_);
        if (end == std::string_view::npos) return Bad("unterminated processing instruction");
        pos_ = end + 2;
      } else if (At("<")) {
        auto child = Element(depth + 1);
        if (!child) return child;
        node.children.push_back(std::move(*child));
      } else {
        auto end = s_.find('<', pos_);
        if (end == std::string_view::npos) end = s_.size();
        if (auto r = Decode(pos_, end, node.text); !r) return std::unexpected(r.error());
        pos_ = end;
      }
    }
  }

  std::string_view s_;
  std::size_t pos_ = 0;
};

bool Blank(std::string_view s) { return s.find_first_not_of(" \t\r\n") == std::string_view::npos; }

// evtx_dump's shape: a leaf without attributes is its text (null when empty); otherwise an object
// with "#attributes", the children by name (repeated names: an array) and "#text".
json NodeToJson(const XmlNode& node);

void AddChild(json& object, const std::string& key, json value) {
  if (!object.contains(key)) {
    object[key] = std::move(value);
    return;
  }
  json& slot = object[key];
  if (!slot.is_array()) slot = json::array({std::move(slot)});
  slot.push_back(std::move(value));
}

// <EventData><Data Name="Image">x</Data>...</EventData> → {"Image": "x", ...}; unnamed <Data>
// elements → "Data": {"#text": value or [values]}.
json EventDataToJson(const XmlNode& node) {
  json out = json::object();
  json unnamed = json::array();
  for (const auto& child : node.children) {
    const std::string* name = nullptr;
    for (const auto& [k, v] : child.attributes)
      if (k == "Name") name = &v;
    if (child.name == "Data" && name) {
      out[*name] = child.text.empty() ? json(nullptr) : json(child.text);
    } else if (child.name == "Data" && child.children.empty()) {
      unnamed.push_back(child.text);
    } else {
      AddChild(out, child.name, NodeToJson(child));
    }
  }
  if (unnamed.size() == 1) out["Data"] = json{{"#text", unnamed[0]}};
  if (unnamed.size() > 1) out["Data"] = json{{"#text", unnamed}};
  return out;
}

json NodeToJson(const XmlNode& node) {
  if (node.name == "EventData") return EventDataToJson(node);
  if (node.attributes.empty() && node.children.empty())
    return node.text.empty() ? json(nullptr) : json(node.text);
  json out = json::object();
  if (!node.attributes.empty()) {
    json attrs = json::object();
    for (const auto& [k, v] : node.attributes) attrs[k] = v;
    out["#attributes"] = std::move(attrs);
  }
  for (const auto& child : node.children) AddChild(out, child.name, NodeToJson(child));
  if (!node.text.empty() && !(Blank(node.text) && !node.children.empty())) out["#text"] = node.text;
  return out;
}

// ---- libevtx ----

std::string ErrorText(libevtx_error_t* error) {
  if (!error) return "unknown libevtx error";
  char buf[2048] = {};
  libevtx_error_sprint(error, buf, sizeof buf);
  std::string text(buf);
  // libevtx prints a chain "a.\nb.\n..." from the innermost call out; keep the first two lines.
  std::string out;
  std::size_t start = 0;
  for (int line = 0; line < 2 && start < text.size(); ++line) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (!out.empty()) out += ": ";
    out += text.substr(start, end - start);
    start = end + 1;
  }
  return out;
}

struct ErrorHolder {
  libevtx_error_t* error = nullptr;
  ~ErrorHolder() { Reset(); }
  void Reset() {
    if (error) libevtx_error_free(&error);
    error = nullptr;
  }
  std::string Take() {
    std::string s = ErrorText(error);
    Reset();
    return s;
  }
};

struct FileDeleter {
  void operator()(libevtx_file_t* f) const {
    libevtx_error_t* error = nullptr;
    libevtx_file_close(f, &error);
    if (error) libevtx_error_free(&error);
    libevtx_file_free(&f, &error);
    if (error) libevtx_error_free(&error);
  }
};
struct RecordDeleter {
  void operator()(libevtx_record_t* r) const {
    libevtx_error_t* error = nullptr;
    libevtx_record_free(&r, &error);
    if (error) libevtx_error_free(&error);
  }
};
using RecordPtr = std::unique_ptr<libevtx_record_t, RecordDeleter>;

std::string Hex(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

// ---- chunk checks: libevtx drops a chunk whose checksums fail without saying so; these say
// where and which records (the layout is libyal's "Windows XML Event Log (EVTX) format"). ----

constexpr std::size_t kFileHeader = 4096, kChunk = 65536, kChunkHeader = 512;

std::uint32_t Crc32(const unsigned char* p, std::size_t n, std::uint32_t crc = 0) {
  static const auto table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  crc = ~crc;
  for (std::size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

template <class T>
T Le(const unsigned char* p) {
  T v = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) v |= static_cast<T>(p[i]) << (8 * i);
  return v;
}

struct ChunkProblem {
  std::size_t index;  // 0-based chunk number
  std::string why;
  std::uint64_t first_id = 0, last_id = 0;  // EventRecordIDs the header claims (0: unknown)
};

// Problems of the chunks of the file (bad signature, checksum, truncation).
std::vector<ChunkProblem> CheckChunks(const std::filesystem::path& path) {
  std::vector<ChunkProblem> out;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return out;
  std::vector<unsigned char> chunk(kChunk);
  std::fseek(f, static_cast<long>(kFileHeader), SEEK_SET);
  for (std::size_t index = 0;; ++index) {
    std::size_t n = std::fread(chunk.data(), 1, kChunk, f);
    if (n == 0) break;
    const unsigned char* c = chunk.data();
    bool zero = std::all_of(chunk.begin(), chunk.begin() + static_cast<long>(n),
                            [](unsigned char b) { return b == 0; });
    if (zero) continue;  // never used
    ChunkProblem p{index, {}};
    bool signature = n >= 8 && std::memcmp(c, "ElfChnk", 8) == 0;
    if (signature && n >= kChunkHeader) {
      p.first_id = Le<std::uint64_t>(c + 24);
      p.last_id = Le<std::uint64_t>(c + 32);
    }
    if (!signature) {
      p.why = "no chunk signature";
    } else if (n < kChunk) {
      p.why = "truncated (" + std::to_string(n) + " of " + std::to_string(kChunk) + " bytes)";
    } else {
      std::uint32_t header = Crc32(c, 120);
      header = Crc32(c + 128, kChunkHeader - 128, header);
      std::uint32_t free_offset = Le<std::uint32_t>(c + 48);
      if (header != Le<std::uint32_t>(c + 124)) {
        p.why = "chunk header checksum mismatch";
      } else if (free_offset < kChunkHeader || free_offset > kChunk ||
                 Crc32(c + kChunkHeader, free_offset - kChunkHeader) != Le<std::uint32_t>(c + 52)) {
        p.why = "event records checksum mismatch";
      }
    }
    if (!p.why.empty()) out.push_back(std::move(p));
    if (n < kChunk) break;
  }
  std::fclose(f);
  return out;
}

// The record's XML → JSON; the error says why.
Result<json> RecordToJson(libevtx_record_t* record) {
  ErrorHolder err;
  std::size_t size = 0;
  if (libevtx_record_get_utf8_xml_string_size(record, &size, &err.error) != 1 || size == 0)
    return Fail("no XML: " + err.Take());
  std::string xml(size, '\0');
  if (libevtx_record_get_utf8_xml_string(record, reinterpret_cast<std::uint8_t*>(xml.data()), size,
                                         &err.error) != 1)
    return Fail("XML rendering failed: " + err.Take());
  while (!xml.empty() && xml.back() == '\0') xml.pop_back();
  auto parsed = XmlReader(xml).Document();
  if (!parsed) return Fail(parsed.error().message);
  if (parsed->name != "Event") return Fail("root element is <" + parsed->name + ">, not <Event>");
  return json{{"Event", NodeToJson(*parsed)}};
}

}  // namespace

bool LooksLikeEvtx(std::string_view bytes) {
  return bytes.size() >= 8 && bytes.substr(0, 8) == std::string_view("ElfFile\0", 8);
}

Result<json> EvtxXmlToJson(std::string_view xml) {
  auto parsed = XmlReader(xml).Document();
  if (!parsed) return std::unexpected(parsed.error());
  return json{{"Event", NodeToJson(*parsed)}};
}

Result<EvtxContents> ReadEvtxFile(const std::filesystem::path& path, bool with_recovered) {
  {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return Fail("cannot read " + path.string());
    char head[8] = {};
    std::size_t n = std::fread(head, 1, sizeof head, f);
    std::fclose(f);
    if (!LooksLikeEvtx(std::string_view(head, n)))
      return Fail("not an EVTX file (no ElfFile signature at offset 0)");
  }
  ErrorHolder err;
  libevtx_file_t* raw = nullptr;
  if (libevtx_file_initialize(&raw, &err.error) != 1) return Fail("libevtx: " + err.Take());
  // Owns the handle from here; closing a file that failed to open is harmless.
  std::unique_ptr<libevtx_file_t, FileDeleter> file(raw);
  if (libevtx_file_open(file.get(), path.c_str(), LIBEVTX_OPEN_READ, &err.error) != 1)
    return Fail("cannot open as EVTX (damaged file header?): " + err.Take());

  EvtxContents out;
  int corrupted = libevtx_file_is_corrupted(file.get(), &err.error);
  err.Reset();
  out.corrupted = corrupted == 1;
  auto add_error = [&](const std::string& text) {
    ++out.error_count;
    if (out.errors.size() < kMaxEvtxErrors) out.errors.push_back(text);
  };

  std::set<std::uint64_t> seen_ids;
  auto read = [&](bool recovered, int count) {
    for (int i = 0; i < count; ++i) {
      libevtx_record_t* r = nullptr;
      int ok = recovered ? libevtx_file_get_recovered_record_by_index(file.get(), i, &r, &err.error)
                         : libevtx_file_get_record_by_index(file.get(), i, &r, &err.error);
      std::string where = (recovered ? "recovered record " : "record ") + std::to_string(i + 1);
      if (ok != 1 || !r) {
        if (recovered)
          err.Reset();
        else
          add_error(where + ": unreadable: " + err.Take());
        continue;
      }
      RecordPtr record(r);
      off64_t offset = 0;
      if (libevtx_record_get_offset(record.get(), &offset, &err.error) == 1)
        where += " (offset " + Hex(static_cast<std::uint64_t>(offset)) + ")";
      err.Reset();
      std::uint64_t id = 0;
      bool has_id = libevtx_record_get_identifier(record.get(), &id, &err.error) == 1;
      err.Reset();
      if (recovered && has_id && seen_ids.contains(id)) continue;  // also an allocated record
      if (has_id) seen_ids.insert(id);
      auto value = RecordToJson(record.get());
      if (!value) {
        if (!recovered) add_error(where + ": " + value.error().message);
        continue;
      }
      if (recovered) ++out.recovered;
      out.records.push_back(std::move(*value));
    }
  };
  int count = 0;
  if (libevtx_file_get_number_of_records(file.get(), &count, &err.error) != 1)
    return Fail("cannot count records: " + err.Take());
  out.total = static_cast<std::uint64_t>(count);
  read(false, count);
  // Damaged chunks: libevtx leaves their records out; say where and which.
  for (const auto& p : CheckChunks(path)) {
    std::string text = "chunk " + std::to_string(p.index + 1) + " (offset " +
                       Hex(kFileHeader + p.index * kChunk) + "): " + p.why;
    std::uint64_t lost = 0;
    if (p.first_id && p.last_id >= p.first_id && p.last_id - p.first_id < kChunk) {
      for (std::uint64_t id = p.first_id; id <= p.last_id; ++id) lost += !seen_ids.contains(id);
      text += ", records " + std::to_string(p.first_id) + "-" + std::to_string(p.last_id) +
              " (EventRecordID): " + std::to_string(lost) + " not read";
    } else {
      text += ", its records not read";
    }
    out.total += lost;
    out.error_count += lost ? lost : 1;
    if (out.errors.size() < kMaxEvtxErrors) out.errors.push_back(text);
  }
  int recovered = 0;
  if (with_recovered &&
      libevtx_file_get_number_of_recovered_records(file.get(), &recovered, &err.error) == 1)
    read(true, recovered);
  err.Reset();
  return out;
}

Result<EvtxContents> ReadEvtxBytes(std::string_view bytes, bool recovered) {
  if (!LooksLikeEvtx(bytes)) return Fail("not an EVTX file (no ElfFile signature at offset 0)");
  // libevtx opens paths: hand it an anonymous memory file.
  int fd = memfd_create("vigil-evtx", MFD_CLOEXEC);
  if (fd < 0) return Fail("memfd_create failed");
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n <= 0) return Fail("cannot buffer the EVTX bytes");
    done += static_cast<std::size_t>(n);
  }
  return ReadEvtxFile("/proc/self/fd/" + std::to_string(fd), recovered);
}

}  // namespace vigil::hunt
