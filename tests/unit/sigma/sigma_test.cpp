#include <gtest/gtest.h>
TEST(SigmaCompiler, Placeholder) {}
