// SHA-256 of bytes and of files (OpenSSL EVP), as lower-case hex.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include "common/error.hpp"

namespace vigil {

std::string Sha256Hex(std::string_view bytes);
// Streams the file; fails with the path and errno text when it cannot be read.
Result<std::string> Sha256File(const std::filesystem::path& path);
// Called before each read with its size; false stops hashing (Sha256Fd then fails). Lets a
// caller throttle the reads (the scan governor's I/O cap) or cancel.
using ReadGate = std::function<bool(std::size_t bytes)>;
// Same, for an already open file descriptor (read from offset 0 with pread).
Result<std::string> Sha256Fd(int fd, const ReadGate& gate = {});
std::string ToHex(const unsigned char* data, std::size_t size);

}  // namespace vigil
