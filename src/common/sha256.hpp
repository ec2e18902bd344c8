// SHA-256 of bytes and of files (OpenSSL EVP), as lower-case hex.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "common/error.hpp"

namespace vigil {

std::string Sha256Hex(std::string_view bytes);
// Streams the file; fails with the path and errno text when it cannot be read.
Result<std::string> Sha256File(const std::filesystem::path& path);
// Same, for an already open file descriptor (read from offset 0 with pread).
Result<std::string> Sha256Fd(int fd);
std::string ToHex(const unsigned char* data, std::size_t size);

}  // namespace vigil
