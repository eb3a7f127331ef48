// The Windows command-line quoting (api/src/win_cmdline.c) against a
// reference parser of the MSVCRT / CommandLineToArgvW rules. Portable: it
// runs in the Linux suite and, cross-built, under wine; the real round trip
// through a Windows child is in tests/windows/run_windows_test.cc.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

extern "C" {
#include "error.h"
#include "win_cmdline.h"
}

namespace {

// Splits a command line as the C runtime does (the rules since 2008, minus
// the "" inside quotes quirk, which the quoting never produces).
std::vector<std::string> Parse(const std::string &line)
{
    std::vector<std::string> out;
    size_t i = 0, n = line.size();
    // argv[0]: up to the first blank outside quotes; quotes only toggle.
    std::string arg0;
    bool quoted = false;
    for (; i < n && (quoted || (line[i] != ' ' && line[i] != '\t')); i++) {
        if (line[i] == '"')
            quoted = !quoted;
        else
            arg0 += line[i];
    }
    out.push_back(arg0);
    for (;;) {
        while (i < n && (line[i] == ' ' || line[i] == '\t'))
            i++;
        if (i >= n)
            break;
        std::string arg;
        quoted = false;
        while (i < n && (quoted || (line[i] != ' ' && line[i] != '\t'))) {
            size_t slashes = 0;
            while (i < n && line[i] == '\\') {
                slashes++;
                i++;
            }
            if (i < n && line[i] == '"') {
                arg.append(slashes / 2, '\\');
                if (slashes % 2) {
                    arg += '"';
                } else {
                    quoted = !quoted;
                }
                i++;
            } else {
                arg.append(slashes, '\\');
                if (i < n && (quoted || (line[i] != ' ' && line[i] != '\t')))
                    arg += line[i++];
            }
        }
        out.push_back(arg);
    }
    return out;
}

std::string Quote(const std::vector<std::string> &args)
{
    std::vector<const char *> argv;
    for (const auto &a : args)
        argv.push_back(a.c_str());
    argv.push_back(nullptr);
    char *line = nullptr;
    int rc = pk__win_cmdline(argv.data(), &line);
    EXPECT_EQ(rc, 0);
    std::string s = line ? line : "";
    free(line);
    return s;
}

TEST(WinCmdline, HardCasesRoundTrip)
{
    const std::vector<std::string> args = {
        "C:\\Program Files\\x.exe", "plain", "", "a b", "tab\there", "new\nline", "\"", "\"\"", "\\", "\\\\",
        "a\\b", "a\\\\b", "a\\\"b", "a\\\\\"b", "trailing\\", "trail ing\\", "trail ing\\\\", "\\\"", "x\"y z",
        "\"quoted\"", "&|<>^%", "caf\xc3\xa9 \xe2\x9c\x93",
    };
    EXPECT_EQ(Parse(Quote(args)), args);
}

TEST(WinCmdline, SimpleArgumentsStayUnquoted)
{
    EXPECT_EQ(Quote({"prog", "a", "b-c", "d\\e"}), "prog a b-c d\\e");
    EXPECT_EQ(Quote({"my prog", ""}), "\"my prog\" \"\"");
}

TEST(WinCmdline, RandomArgumentsRoundTrip)
{
    std::mt19937 rng(20261126);
    const char alphabet[] = {'a', ' ', '\t', '\\', '"', 'b'};
    for (int round = 0; round < 3000; round++) {
        std::vector<std::string> args = {"prog"};
        int count = 1 + (int)(rng() % 4);
        for (int k = 0; k < count; k++) {
            std::string a;
            int len = (int)(rng() % 9);
            for (int c = 0; c < len; c++)
                a += alphabet[rng() % sizeof alphabet];
            args.push_back(a);
        }
        ASSERT_EQ(Parse(Quote(args)), args) << "round " << round;
    }
}

TEST(WinCmdline, ProgramNameWithAQuoteIsRefused)
{
    const char *argv[] = {"bad\"name", "x", nullptr};
    char *line = nullptr;
    EXPECT_EQ(pk__win_cmdline(argv, &line), PK_ERR_INVALID);
    EXPECT_EQ(line, nullptr);
}

} // namespace
