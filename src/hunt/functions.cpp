// SQLite user functions implementing EQL functions and operators for the compiled SQL.
// Every function returns NULL when a required argument is NULL (EQL null propagation).
#include "hunt/functions.hpp"

#include <arpa/inet.h>
#include <re2/re2.h>

#include <charconv>
#include <cstdlib>
#include <memory>
#include <vector>

namespace vigil::hunt {
namespace {

constexpr std::int64_t kRegexMaxMem = 8 << 20;

std::string_view Text(sqlite3_value* v) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_value_text(v));
  return p ? std::string_view(p, static_cast<std::size_t>(sqlite3_value_bytes(v)))
           : std::string_view();
}
bool IsNull(sqlite3_value* v) { return sqlite3_value_type(v) == SQLITE_NULL; }
void ResultText(sqlite3_context* ctx, std::string_view s) {
  sqlite3_result_text(ctx, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
}

std::unique_ptr<RE2> CompileRegex(std::string_view pattern, bool ci) {
  RE2::Options options;
  options.set_log_errors(false);
  options.set_case_sensitive(!ci);
  options.set_max_mem(kRegexMaxMem);
  return std::make_unique<RE2>(re2::StringPiece(pattern.data(), pattern.size()), options);
}

// eql_regex(subject, pattern, ci): RE2 full match (EQL regexes are anchored).
void Regex(sqlite3_context* ctx, int, sqlite3_value** argv) {
  if (IsNull(argv[0]) || IsNull(argv[1])) return sqlite3_result_null(ctx);
  bool ci = sqlite3_value_int(argv[2]) != 0;
  auto* re = static_cast<RE2*>(sqlite3_get_auxdata(ctx, 1));
  if (!re) {
    auto compiled = CompileRegex(Text(argv[1]), ci);
    if (!compiled->ok()) return sqlite3_result_error(ctx, compiled->error().c_str(), -1);
    re = compiled.get();
    sqlite3_set_auxdata(ctx, 1, compiled.release(),
                        [](void* p) { std::unique_ptr<RE2>(static_cast<RE2*>(p)).reset(); });
    // SQLite may have discarded it already (non-constant pattern): then it was deleted.
    re = static_cast<RE2*>(sqlite3_get_auxdata(ctx, 1));
    if (!re) {
      auto again = CompileRegex(Text(argv[1]), ci);
      std::string_view s = Text(argv[0]);
      return sqlite3_result_int(ctx, RE2::FullMatch(re2::StringPiece(s.data(), s.size()), *again));
    }
  }
  std::string_view s = Text(argv[0]);
  sqlite3_result_int(ctx, RE2::FullMatch(re2::StringPiece(s.data(), s.size()), *re));
}

// eql_cidr_match(ip, cidr...)
void CidrMatch(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
  if (IsNull(argv[0])) return sqlite3_result_null(ctx);
  std::string_view ip = Text(argv[0]);
  for (int i = 1; i < argc; ++i) {
    if (IsNull(argv[i])) continue;
    auto cidr = ParseCidr(Text(argv[i]));
    if (cidr && CidrContains(*cidr, ip)) return sqlite3_result_int(ctx, 1);
  }
  sqlite3_result_int(ctx, 0);
}

std::size_t Find(std::string_view hay, std::string_view needle, std::size_t from, bool ci,
                 bool last = false) {
  if (!ci) return last ? hay.rfind(needle) : hay.find(needle, from);
  std::string h = AsciiLower(hay), n = AsciiLower(needle);
  return last ? h.rfind(n) : h.find(n, from);
}

// eql_between(source, left, right, greedy, ci)
void Between(sqlite3_context* ctx, int, sqlite3_value** argv) {
  for (int i = 0; i < 3; ++i)
    if (IsNull(argv[i])) return sqlite3_result_null(ctx);
  std::string_view s = Text(argv[0]), left = Text(argv[1]), right = Text(argv[2]);
  bool greedy = sqlite3_value_int(argv[3]) != 0, ci = sqlite3_value_int(argv[4]) != 0;
  std::size_t l = Find(s, left, 0, ci);
  if (l == std::string_view::npos) return ResultText(ctx, "");
  std::size_t start = l + left.size();
  std::string_view rest = s.substr(start);
  std::size_t r = greedy ? Find(rest, right, 0, ci, true) : Find(rest, right, 0, ci);
  if (r == std::string_view::npos) return ResultText(ctx, "");
  ResultText(ctx, rest.substr(0, r));
}

// eql_concat(values...): NULLs are skipped; all NULL gives NULL.
void Concat(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
  std::string out;
  bool any = false;
  for (int i = 0; i < argc; ++i) {
    if (IsNull(argv[i])) continue;
    any = true;
    out += Text(argv[i]);
  }
  if (!any) return sqlite3_result_null(ctx);
  ResultText(ctx, out);
}

enum class Affix { Start, End, Contains };
template <Affix kind>
void AffixMatch(sqlite3_context* ctx, int, sqlite3_value** argv) {
  if (IsNull(argv[0]) || IsNull(argv[1])) return sqlite3_result_null(ctx);
  bool ci = sqlite3_value_int(argv[2]) != 0;
  std::string a(Text(argv[0])), b(Text(argv[1]));
  if (ci) a = AsciiLower(a), b = AsciiLower(b);
  bool r = kind == Affix::Start ? a.starts_with(b)
           : kind == Affix::End ? a.ends_with(b)
                                : a.find(b) != std::string::npos;
  sqlite3_result_int(ctx, r);
}

// eql_index_of(source, substring, start, ci): byte offset or NULL.
void IndexOf(sqlite3_context* ctx, int, sqlite3_value** argv) {
  if (IsNull(argv[0]) || IsNull(argv[1])) return sqlite3_result_null(ctx);
  std::int64_t start = IsNull(argv[2]) ? 0 : sqlite3_value_int64(argv[2]);
  if (start < 0) start = 0;
  std::string_view s = Text(argv[0]);
  if (static_cast<std::size_t>(start) > s.size()) return sqlite3_result_null(ctx);
  std::size_t at =
      Find(s, Text(argv[1]), static_cast<std::size_t>(start), sqlite3_value_int(argv[3]) != 0);
  if (at == std::string_view::npos) return sqlite3_result_null(ctx);
  sqlite3_result_int64(ctx, static_cast<std::int64_t>(at));
}

// eql_number(text, base): integer (any base 2..36, 0x prefix for 16) or decimal; NULL if not one.
void Number(sqlite3_context* ctx, int, sqlite3_value** argv) {
  if (IsNull(argv[0])) return sqlite3_result_null(ctx);
  int t = sqlite3_value_type(argv[0]);
  if (t == SQLITE_INTEGER || t == SQLITE_FLOAT) return sqlite3_result_value(ctx, argv[0]);
  std::string s(Text(argv[0]));
  int base = IsNull(argv[1]) ? 10 : sqlite3_value_int(argv[1]);
  if (base < 2 || base > 36) return sqlite3_result_error(ctx, "number(): base must be 2 to 36", -1);
  std::string_view v = s;
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  bool negative = !v.empty() && v.front() == '-';
  if (negative || (!v.empty() && v.front() == '+')) v.remove_prefix(1);
  if (base == 16 && (v.starts_with("0x") || v.starts_with("0X"))) v.remove_prefix(2);
  std::int64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n, base);
  if (!v.empty() && ec == std::errc{} && p == v.data() + v.size())
    return sqlite3_result_int64(ctx, negative ? -n : n);
  if (base == 10) {
    char* end = nullptr;
    double d = std::strtod(s.c_str(), &end);
    if (end && end != s.c_str() && *end == '\0') return sqlite3_result_double(ctx, d);
  }
  sqlite3_result_null(ctx);
}

// eql_string(value)
void String(sqlite3_context* ctx, int, sqlite3_value** argv) {
  if (IsNull(argv[0])) return sqlite3_result_null(ctx);
  ResultText(ctx, Text(argv[0]));
}

// eql_substring(source, start, end): Python slice semantics on bytes, negative from the end.
void Substring(sqlite3_context* ctx, int, sqlite3_value** argv) {
  if (IsNull(argv[0]) || IsNull(argv[1])) return sqlite3_result_null(ctx);
  std::string_view s = Text(argv[0]);
  auto n = static_cast<std::int64_t>(s.size());
  auto clamp = [n](std::int64_t i) {
    if (i < 0) i += n;
    return std::min(std::max<std::int64_t>(i, 0), n);
  };
  std::int64_t start = clamp(sqlite3_value_int64(argv[1]));
  std::int64_t end = IsNull(argv[2]) ? n : clamp(sqlite3_value_int64(argv[2]));
  if (end <= start) return ResultText(ctx, "");
  ResultText(ctx, s.substr(static_cast<std::size_t>(start), static_cast<std::size_t>(end - start)));
}

}  // namespace

std::string AsciiLower(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool CheckRegex(const std::string& pattern, std::string& error) {
  auto re = CompileRegex(pattern, false);
  if (re->ok()) return true;
  error = re->error();
  return false;
}

std::optional<Cidr> ParseCidr(std::string_view text) {
  Cidr c;
  std::string addr(text);
  int bits = -1;
  if (auto slash = text.find('/'); slash != std::string_view::npos) {
    addr = std::string(text.substr(0, slash));
    std::string_view b = text.substr(slash + 1);
    auto [p, ec] = std::from_chars(b.data(), b.data() + b.size(), bits);
    if (b.empty() || ec != std::errc{} || p != b.data() + b.size() || bits < 0) return std::nullopt;
  }
  if (inet_pton(AF_INET, addr.c_str(), c.address.data()) == 1) {
    c.v4 = true;
    if (bits < 0) bits = 32;
    if (bits > 32) return std::nullopt;
  } else if (inet_pton(AF_INET6, addr.c_str(), c.address.data()) == 1) {
    c.v4 = false;
    if (bits < 0) bits = 128;
    if (bits > 128) return std::nullopt;
  } else {
    return std::nullopt;
  }
  c.bits = bits;
  return c;
}

bool CidrContains(const Cidr& cidr, std::string_view ip_text) {
  std::string ip(ip_text);
  std::array<std::uint8_t, 16> a{};
  bool v4 = inet_pton(AF_INET, ip.c_str(), a.data()) == 1;
  if (!v4 && inet_pton(AF_INET6, ip.c_str(), a.data()) != 1) return false;
  if (v4 != cidr.v4) return false;
  int bits = cidr.bits;
  for (int i = 0; bits > 0; ++i, bits -= 8) {
    std::uint8_t mask = bits >= 8 ? 0xFF : static_cast<std::uint8_t>(0xFF << (8 - bits));
    if ((a[i] & mask) != (cidr.address[i] & mask)) return false;
  }
  return true;
}

Result<void> RegisterFunctions(sqlite3* db) {
  struct Def {
    const char* name;
    int args;
    void (*fn)(sqlite3_context*, int, sqlite3_value**);
  };
  const Def defs[] = {
      {"eql_regex", 3, Regex},
      {"eql_cidr_match", -1, CidrMatch},
      {"eql_between", 5, Between},
      {"eql_concat", -1, Concat},
      {"eql_starts_with", 3, AffixMatch<Affix::Start>},
      {"eql_ends_with", 3, AffixMatch<Affix::End>},
      {"eql_contains", 3, AffixMatch<Affix::Contains>},
      {"eql_index_of", 4, IndexOf},
      {"eql_number", 2, Number},
      {"eql_string", 1, String},
      {"eql_substring", 3, Substring},
  };
  for (const auto& d : defs)
    if (sqlite3_create_function_v2(db, d.name, d.args, SQLITE_UTF8 | SQLITE_DETERMINISTIC, nullptr,
                                   d.fn, nullptr, nullptr, nullptr) != SQLITE_OK)
      return Fail(std::string("register ") + d.name + ": " + sqlite3_errmsg(db));
  return {};
}

}  // namespace vigil::hunt
