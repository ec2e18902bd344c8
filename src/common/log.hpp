// Logging: spdlog to stderr. Use VLOG_INFO("x {}", y) etc.
#pragma once

#include <spdlog/spdlog.h>

#define VLOG_DEBUG(...) spdlog::debug(__VA_ARGS__)
#define VLOG_INFO(...) spdlog::info(__VA_ARGS__)
#define VLOG_WARN(...) spdlog::warn(__VA_ARGS__)
#define VLOG_ERROR(...) spdlog::error(__VA_ARGS__)
