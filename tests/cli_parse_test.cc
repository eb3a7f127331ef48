// Unit tests of pk's option-value parsers (cli/cli_parse.h) and its JSON
// string writer (cli/json_out.h). Pure functions: nothing is spawned and
// nothing is left behind (output is captured with open_memstream).
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

extern "C" {
#include "cli/cli_parse.h"
#include "cli/json_out.h"
}

namespace {

// ---------------------------------------------------------------- durations

struct DurationOk {
    const char* text;
    uint32_t ms;
};

TEST(ParseDuration, AcceptsUnitsAndBareSeconds) {
    const DurationOk cases[] = {
        {"250ms", 250},       {"2s", 2000},          {"1.5m", 90000}, {"1h", 3600000}, {"3", 3000},
        {"0.5s", 500},        {"1.5", 1500},         {"10m", 600000}, {"1ms", 1},      {"576h", 2073600000u},
        {"2073600000ms", 2073600000u},
    };
    for (const auto& c : cases) {
        uint32_t out = 12345;
        char err[256] = "untouched";
        EXPECT_EQ(0, pkcli_parse_duration_ms(c.text, &out, err, sizeof err)) << c.text << ": " << err;
        EXPECT_EQ(c.ms, out) << c.text;
    }
}

TEST(ParseDuration, RejectsBadText) {
    const char* bad[] = {"",      "-1s",  "1x",   "abc",  "1e3s", "1e3",  "25d",  "s",    "ms",    ".",
                         "1.2.3s", " 2s", "2s ",  "2 s",  "+2s",  "2sec", "1h1m", "0x10s", "inf",
                         "nan",   "577h", "2073600001ms",
                         "99999999999999999999999999999h",
                         // Longer than any sane number (over 64 digits).
                         "11111111111111111111111111111111111111111111111111111111111111111111111s"};
    for (const char* text : bad) {
        uint32_t out = 777;
        char err[256] = "";
        EXPECT_EQ(-1, pkcli_parse_duration_ms(text, &out, err, sizeof err)) << "'" << text << "' -> " << out;
        EXPECT_NE('\0', err[0]) << "no message for '" << text << "'";
        EXPECT_EQ(777u, out) << "output written on failure for '" << text << "'";
    }
    uint32_t out = 0;
    char err[64] = "";
    EXPECT_EQ(-1, pkcli_parse_duration_ms(nullptr, &out, err, sizeof err));
    EXPECT_NE('\0', err[0]);
}

TEST(ParseDuration, MessageIsBoundedByBuffer) {
    // A long bad value with a tiny buffer: the message is cut, never overrun.
    std::string text(300, 'x');
    char buf[16 + 8];
    memset(buf, 'Z', sizeof buf);
    uint32_t out = 0;
    EXPECT_EQ(-1, pkcli_parse_duration_ms(text.c_str(), &out, buf, 16));
    EXPECT_EQ(15u, strlen(buf));
    for (size_t i = 16; i < sizeof buf; i++)
        EXPECT_EQ('Z', buf[i]) << "byte " << i << " past err_len written";
}

// ------------------------------------------------------------------ signals

TEST(ParseSignal, NamesAndNumbers) {
    const struct {
        const char* text;
        int sig;
    } cases[] = {
        {"TERM", SIGTERM}, {"SIGTERM", SIGTERM}, {"term", SIGTERM}, {"sigterm", SIGTERM}, {"SigTerm", SIGTERM},
        {"INT", SIGINT},   {"HUP", SIGHUP},      {"KILL", SIGKILL}, {"USR1", SIGUSR1},    {"9", 9},
        {"15", 15},        {"1", 1},             {"64", 64},
    };
    for (const auto& c : cases) {
        int out = -1;
        char err[256] = "";
        EXPECT_EQ(0, pkcli_parse_signal(c.text, &out, err, sizeof err)) << c.text << ": " << err;
        EXPECT_EQ(c.sig, out) << c.text;
    }
}

TEST(ParseSignal, RejectsBadText) {
    const char* bad[] = {"0", "65", "FOO", "", "SIG", "SIGFOO", "-9", "+9", "9x", "TERM ", " TERM", "99999999999999999999"};
    for (const char* text : bad) {
        int out = 4242;
        char err[256] = "";
        EXPECT_EQ(-1, pkcli_parse_signal(text, &out, err, sizeof err)) << "'" << text << "' -> " << out;
        EXPECT_NE('\0', err[0]) << text;
        EXPECT_EQ(4242, out) << text;
    }
    int out = 0;
    char err[64] = "";
    EXPECT_EQ(-1, pkcli_parse_signal(nullptr, &out, err, sizeof err));
}

TEST(SignalName, KnownAndUnknown) {
    EXPECT_STREQ("TERM", pkcli_signal_name(SIGTERM));
    EXPECT_STREQ("KILL", pkcli_signal_name(SIGKILL));
    EXPECT_STREQ("HUP", pkcli_signal_name(SIGHUP));
    EXPECT_EQ(nullptr, pkcli_signal_name(0));
    EXPECT_EQ(nullptr, pkcli_signal_name(99));
}

// ------------------------------------------------- pk timeout's DURATION

TEST(ParseGnuDuration, NumbersAndSuffixes) {
    const struct {
        const char* text;
        uint64_t ns;
    } cases[] = {
        {"5", 5000000000ull},
        {"5s", 5000000000ull},
        {"1.5", 1500000000ull},
        {".5", 500000000ull},
        {"2.", 2000000000ull},
        {"+3", 3000000000ull},
        {" 4", 4000000000ull},  // strtod skips leading blanks, as GNU's does
        {"1.5m", 90000000000ull},
        {"2h", 7200000000000ull},
        {"1d", 86400000000000ull},
        {"0.25d", 21600000000000ull},
        {"1e3", 1000000000000ull},
        {"1E-3s", 1000000ull},
        {"250e-3", 250000000ull},
        {"0x10", 16000000000ull},
        {"0x1p-2", 250000000ull},
        {"0X1.8P1s", 3000000000ull},
        {"0.000000001", 1},
        {"0.0000000015", 2},  // rounds up to the next nanosecond
        // Zero, however written, disables the timeout.
        {"0", 0},
        {"0s", 0},
        {"0.0m", 0},
        {"0e10", 0},
        {"0x0p0d", 0},
        {"-0", 0},
        {"-0.0s", 0},
    };
    for (const auto& c : cases) {
        uint64_t out = 12345;
        char err[256] = "";
        EXPECT_EQ(0, pkcli_parse_gnu_duration(c.text, &out, err, sizeof err)) << c.text << ": " << err;
        EXPECT_EQ(c.ns, out) << c.text;
    }
}

TEST(ParseGnuDuration, TinyRoundsUpHugeSaturates) {
    // Never 0 unless 0: anything smaller than a nanosecond is one.
    for (const char* text : {"1e-10", "1e-300", "4.9e-324", "1e-400", "0x1p-1074", "1e-20d"}) {
        uint64_t out = 0;
        char err[256] = "";
        EXPECT_EQ(0, pkcli_parse_gnu_duration(text, &out, err, sizeof err)) << text << ": " << err;
        EXPECT_EQ(1u, out) << text;
    }
    // Too long to count is as long as can be counted, not an error.
    for (const char* text : {"1e999", "inf", "INF", "infinity", "1.8e308d", "99999999999999999999", "18446744074",
                             "213503.99d", "0x1p1023h"}) {
        uint64_t out = 0;
        char err[256] = "";
        EXPECT_EQ(0, pkcli_parse_gnu_duration(text, &out, err, sizeof err)) << text << ": " << err;
        EXPECT_EQ(UINT64_MAX, out) << text;
    }
    // Just below 2^64 ns is a count (to a double's precision), not the cap.
    uint64_t out = 0;
    char err[256] = "";
    EXPECT_EQ(0, pkcli_parse_gnu_duration("18446744073", &out, err, sizeof err));
    EXPECT_GT(out, 18446744072990000000ull);
    EXPECT_LT(out, 18446744073010000000ull);
}

TEST(ParseGnuDuration, RejectsNegativeAndMalformed) {
    const char* bad[] = {"",    "-1",  "-0.5s", "-1e-400", "-inf", "nan", "NaN", "-nan", "abc", "s",   "m",
                         ".",   "+",   "-",     "1x",      "5 ",   "5ss", "1S",  "1M",   "1sec", "1m1", "1e",
                         "1e+", "0x",  "0xg",   "1,5",     "1.2.3", "5\n", "\t", "1 s",  "ms",  "250ms"};
    for (const char* text : bad) {
        uint64_t out = 777;
        char err[256] = "";
        EXPECT_EQ(-1, pkcli_parse_gnu_duration(text, &out, err, sizeof err)) << "'" << text << "' -> " << out;
        EXPECT_NE(nullptr, strstr(err, "invalid time interval")) << text << ": " << err;
        EXPECT_EQ(777u, out) << "output written on failure for '" << text << "'";
    }
    uint64_t out = 0;
    char err[64] = "";
    EXPECT_EQ(-1, pkcli_parse_gnu_duration(nullptr, &out, err, sizeof err));
    EXPECT_NE('\0', err[0]);
    // A tiny buffer cuts the message, never overruns it.
    char small[8 + 8];
    memset(small, 'Z', sizeof small);
    EXPECT_EQ(-1, pkcli_parse_gnu_duration("garbage-garbage", &out, small, 8));
    EXPECT_EQ(7u, strlen(small));
    for (size_t i = 8; i < sizeof small; i++)
        EXPECT_EQ('Z', small[i]);
}

// ---------------------------------------------------- pk timeout's --signal

TEST(ParseGnuSignal, NamesNumbersAndShellStatuses) {
    const struct {
        const char* text;
        int sig;
    } cases[] = {
        {"TERM", SIGTERM},       {"term", SIGTERM},         {"SIGTERM", SIGTERM},     {"sigTerm", SIGTERM},
        {"KILL", SIGKILL},       {"HUP", SIGHUP},           {"INT", SIGINT},          {"QUIT", SIGQUIT},
        {"USR1", SIGUSR1},       {"PIPE", SIGPIPE},         {"ALRM", SIGALRM},        {"CHLD", SIGCHLD},
        {"CLD", SIGCHLD},        {"IOT", SIGABRT},          {"IO", SIGIO},            {"POLL", SIGIO},
        {"WINCH", SIGWINCH},     {"SYS", SIGSYS},           {"CONT", SIGCONT},        {"STOP", SIGSTOP},
        {"EXIT", 0},             {"sigexit", 0},            {"0", 0},                 {"00", 0},
        {"9", 9},                {"15", 15},                {"007", 7},               {"SIG15", 15},
        {"143", SIGTERM},        {"137", SIGKILL},          {"130", SIGINT},          {"256", 0},
        {"270", SIGALRM},        {"RTMIN", SIGRTMIN},       {"rtmin+1", SIGRTMIN + 1}, {"SIGRTMIN+02", SIGRTMIN + 2},
        {"RTMAX", SIGRTMAX},     {"RTMAX-1", SIGRTMAX - 1}, {"RTMAX-0", SIGRTMAX},    {"Sigrtmax-2", SIGRTMAX - 2},
    };
    for (const auto& c : cases) {
        int out = -7;
        char err[256] = "";
        EXPECT_EQ(0, pkcli_parse_gnu_signal(c.text, &out, err, sizeof err)) << c.text << ": " << err;
        EXPECT_EQ(c.sig, out) << c.text;
    }
    // Every real-time signal by either name.
    for (int k = 0; k <= SIGRTMAX - SIGRTMIN; k++) {
        int a = -1, b = -1;
        char err[256];
        std::string up = "RTMIN+" + std::to_string(k), down = "RTMAX-" + std::to_string(k);
        EXPECT_EQ(0, pkcli_parse_gnu_signal(up.c_str(), &a, err, sizeof err)) << up;
        EXPECT_EQ(0, pkcli_parse_gnu_signal(down.c_str(), &b, err, sizeof err)) << down;
        EXPECT_EQ(SIGRTMIN + k, a);
        EXPECT_EQ(SIGRTMAX - k, b);
    }
}

TEST(ParseGnuSignal, RejectsBadText) {
    const char* bad[] = {"",        "FOO",      "SIG",     "SIGSIGTERM", "-1",       "+15",    "15 ",
                         " 15",     "1x",       "65",      "255",        "383",      "32",     "33",
                         "RTMIN-1", "RTMAX+1",  "RTMIN+",  "RTMIN+ 1",   "RTMINX",   "UNUSED", "TERM ",
                         "RTMIN+99", "RTMAX-99", "99999999999999"};
    for (const char* text : bad) {
        int out = 4242;
        char err[256] = "";
        EXPECT_EQ(-1, pkcli_parse_gnu_signal(text, &out, err, sizeof err)) << "'" << text << "' -> " << out;
        EXPECT_NE(nullptr, strstr(err, "invalid signal")) << text << ": " << err;
        EXPECT_EQ(4242, out) << text;
    }
    int out = 0;
    char err[64] = "";
    EXPECT_EQ(-1, pkcli_parse_gnu_signal(nullptr, &out, err, sizeof err));
}

TEST(GnuSignalName, NamesAsVerboseShowsThem) {
    const struct {
        int sig;
        const char* name;
    } cases[] = {{SIGTERM, "TERM"}, {SIGKILL, "KILL"}, {SIGABRT, "ABRT"}, {SIGCHLD, "CHLD"}, {SIGIO, "IO"},
                 {0, "EXIT"},       {64 + 1, "65"}};
    for (const auto& c : cases) {
        char buf[32];
        pkcli_gnu_signal_name(c.sig, buf, sizeof buf);
        EXPECT_STREQ(c.name, buf) << c.sig;
    }
    char buf[32];
    pkcli_gnu_signal_name(SIGRTMIN, buf, sizeof buf);
    EXPECT_STREQ("RTMIN", buf);
    pkcli_gnu_signal_name(SIGRTMIN + 1, buf, sizeof buf);
    EXPECT_STREQ("RTMIN+1", buf);
    pkcli_gnu_signal_name(SIGRTMAX, buf, sizeof buf);
    EXPECT_STREQ("RTMAX", buf);
    pkcli_gnu_signal_name(SIGRTMAX - 1, buf, sizeof buf);
    EXPECT_STREQ("RTMAX-1", buf);
    // Names and numbers round-trip.
    for (int sig = 0; sig <= SIGRTMAX; sig++) {
        int back = -1;
        char err[256];
        pkcli_gnu_signal_name(sig, buf, sizeof buf);
        if (sig == 32 || sig == 33)
            continue;  // the C library's own, which have no name
        EXPECT_EQ(0, pkcli_parse_gnu_signal(buf, &back, err, sizeof err)) << sig << " " << buf;
        EXPECT_EQ(sig, back) << buf;
    }
}

// -------------------------------------------------------------------- sizes

TEST(ParseSize, BytesAndBinarySuffixes) {
    const struct {
        const char* text;
        uint64_t bytes;
    } cases[] = {
        {"512", 512},
        {"0", 0},
        {"1K", 1024},
        {"1k", 1024},
        {"1KiB", 1024},
        {"1kib", 1024},
        {"1KB", 1024},
        {"16M", 16ull << 20},
        {"2MiB", 2ull << 20},
        {"1G", 1ull << 30},
        {"1GiB", 1ull << 30},
        {"3T", 3ull << 40},
        {"1TiB", 1ull << 40},
        {"7B", 7},
        {"18446744073709551615", UINT64_MAX},
        {"16777215T", 16777215ull << 40},
        {"17179869183G", 17179869183ull << 30},
    };
    for (const auto& c : cases) {
        uint64_t out = 1;
        char err[256] = "";
        EXPECT_EQ(0, pkcli_parse_size(c.text, &out, err, sizeof err)) << c.text << ": " << err;
        EXPECT_EQ(c.bytes, out) << c.text;
    }
}

TEST(ParseSize, RejectsBadTextAndOverflow) {
    const char* bad[] = {"",
                         "-1",
                         "1Q",
                         "K",
                         "1.5M",
                         "1 K",
                         " 1",
                         "1KK",
                         "1Ki",
                         "0x10",
                         "18446744073709551616",   // 2^64
                         "99999999999999999999",   // 20 digits, over 2^64
                         "123456789012345678901",  // 21 digits
                         "16777216T",              // 2^64 exactly
                         "17179869184G",
                         "18014398509481984K"};
    for (const char* text : bad) {
        uint64_t out = 31337;
        char err[256] = "";
        EXPECT_EQ(-1, pkcli_parse_size(text, &out, err, sizeof err)) << "'" << text << "' -> " << out;
        EXPECT_NE('\0', err[0]) << text;
        EXPECT_EQ(31337u, out) << text;
    }
    uint64_t out = 0;
    char err[64] = "";
    EXPECT_EQ(-1, pkcli_parse_size(nullptr, &out, err, sizeof err));
}

// ------------------------------------------------------------------- counts

TEST(ParseCount, PositiveWholeNumbers) {
    const struct {
        const char* text;
        uint64_t n;
    } cases[] = {{"1", 1}, {"100", 100}, {"007", 7}, {"18446744073709551615", UINT64_MAX}};
    for (const auto& c : cases) {
        uint64_t out = 0;
        char err[256] = "";
        EXPECT_EQ(0, pkcli_parse_count(c.text, &out, err, sizeof err)) << c.text << ": " << err;
        EXPECT_EQ(c.n, out) << c.text;
    }
    const char* bad[] = {"0", "", "-1", "+1", "1.5", "abc", "1K", " 1", "18446744073709551616", "000"};
    for (const char* text : bad) {
        uint64_t out = 99;
        char err[256] = "";
        EXPECT_EQ(-1, pkcli_parse_count(text, &out, err, sizeof err)) << "'" << text << "' -> " << out;
        EXPECT_NE('\0', err[0]) << text;
        EXPECT_EQ(99u, out) << text;
    }
    uint64_t out = 0;
    char err[64] = "";
    EXPECT_EQ(-1, pkcli_parse_count(nullptr, &out, err, sizeof err));
}

// -------------------------------------------------------------------- cores

TEST(ParseCores, PositiveNumbers) {
    const struct {
        const char* text;
        double cores;
    } cases[] = {{"0.5", 0.5}, {"2", 2.0}, {"1.25", 1.25}, {".5", 0.5}, {"1000000", 1e6}};
    for (const auto& c : cases) {
        double out = -1;
        char err[256] = "";
        EXPECT_EQ(0, pkcli_parse_cores(c.text, &out, err, sizeof err)) << c.text << ": " << err;
        EXPECT_DOUBLE_EQ(c.cores, out) << c.text;
    }
    const char* bad[] = {"0", "0.0", "", "-1", "abc", "1e3", "inf", "nan", "1000001", ".", "1,5", "2 ", "0x1"};
    for (const char* text : bad) {
        double out = 42.0;
        char err[256] = "";
        EXPECT_EQ(-1, pkcli_parse_cores(text, &out, err, sizeof err)) << "'" << text << "' -> " << out;
        EXPECT_NE('\0', err[0]) << text;
        EXPECT_EQ(42.0, out) << text;
    }
    double out = 0;
    char err[64] = "";
    EXPECT_EQ(-1, pkcli_parse_cores(nullptr, &out, err, sizeof err));
}

// ---------------------------------------------------------------- env pairs

TEST(ParseEnvPair, KeyValue) {
    const struct {
        const char* text;
        size_t at;
    } cases[] = {{"A=b", 2}, {"A=", 2}, {"LONG_KEY=x=y", 9}, {"K==", 2}};
    for (const auto& c : cases) {
        size_t at = 0;
        char err[256] = "";
        EXPECT_EQ(0, pkcli_parse_env_pair(c.text, &at, err, sizeof err)) << c.text << ": " << err;
        EXPECT_EQ(c.at, at) << c.text;
    }
    const char* bad[] = {"=b", "A", "", "="};
    for (const char* text : bad) {
        size_t at = 5;
        char err[256] = "";
        EXPECT_EQ(-1, pkcli_parse_env_pair(text, &at, err, sizeof err)) << "'" << text << "'";
        EXPECT_NE('\0', err[0]) << text;
        EXPECT_EQ(5u, at) << text;
    }
    size_t at = 0;
    char err[64] = "";
    EXPECT_EQ(-1, pkcli_parse_env_pair(nullptr, &at, err, sizeof err));
}

// ------------------------------------------------------------- JSON strings

std::string JsonOf(const std::string& bytes) {
    char* buf = nullptr;
    size_t len = 0;
    FILE* f = open_memstream(&buf, &len);
    if (!f)
        return "<open_memstream failed>";
    pkcli_json_string(f, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    fclose(f);
    std::string out(buf, len);
    free(buf);
    return out;
}

// Length of a valid (shortest-form, non-surrogate, <= U+10FFFF) UTF-8
// sequence at s[i], or 0.
size_t Utf8Len(const std::string& s, size_t i) {
    const auto b = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
    uint8_t c = b(i);
    size_t n;
    uint32_t cp, min;
    if (c < 0x80)
        return 1;
    if ((c & 0xE0) == 0xC0)
        n = 2, cp = c & 0x1F, min = 0x80;
    else if ((c & 0xF0) == 0xE0)
        n = 3, cp = c & 0x0F, min = 0x800;
    else if ((c & 0xF8) == 0xF0)
        n = 4, cp = c & 0x07, min = 0x10000;
    else
        return 0;
    if (i + n > s.size())
        return 0;
    for (size_t k = 1; k < n; k++) {
        if ((b(i + k) & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (b(i + k) & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

// Decodes one JSON string literal (the whole of `json`), mapping \udc80..\udcff
// back to the byte (surrogateescape). Fails on anything that is not valid JSON
// text or not produced by that convention.
bool DecodeJsonString(const std::string& json, std::string* out, std::string* why) {
    out->clear();
    if (json.size() < 2 || json.front() != '"' || json.back() != '"') {
        *why = "not quoted";
        return false;
    }
    const std::string body = json.substr(1, json.size() - 2);
    for (size_t i = 0; i < body.size();) {
        uint8_t c = static_cast<uint8_t>(body[i]);
        if (c == '"') {
            *why = "unescaped quote at " + std::to_string(i);
            return false;
        }
        if (c < 0x20) {
            *why = "raw control byte at " + std::to_string(i);
            return false;
        }
        if (c != '\\') {
            size_t n = Utf8Len(body, i);
            if (n == 0) {
                *why = "invalid UTF-8 in output at " + std::to_string(i);
                return false;
            }
            out->append(body, i, n);
            i += n;
            continue;
        }
        if (i + 1 >= body.size()) {
            *why = "dangling backslash";
            return false;
        }
        char e = body[i + 1];
        i += 2;
        switch (e) {
        case '"': out->push_back('"'); break;
        case '\\': out->push_back('\\'); break;
        case '/': out->push_back('/'); break;
        case 'b': out->push_back('\b'); break;
        case 'f': out->push_back('\f'); break;
        case 'n': out->push_back('\n'); break;
        case 'r': out->push_back('\r'); break;
        case 't': out->push_back('\t'); break;
        case 'u': {
            if (i + 4 > body.size()) {
                *why = "short \\u escape";
                return false;
            }
            char* end;
            std::string hex = body.substr(i, 4);
            unsigned long u = strtoul(hex.c_str(), &end, 16);
            if (*end || hex.find_first_of("+- ") != std::string::npos) {
                *why = "bad \\u escape " + hex;
                return false;
            }
            i += 4;
            if (u >= 0xDC80 && u <= 0xDCFF) {
                out->push_back(static_cast<char>(u & 0xFF));
            } else if (u >= 0xD800 && u <= 0xDFFF) {
                *why = "surrogate outside the escape range: " + hex;
                return false;
            } else if (u < 0x80) {
                out->push_back(static_cast<char>(u));
            } else {
                *why = "unexpected \\u escape of a valid character: " + hex;
                return false;
            }
            break;
        }
        default: *why = std::string("bad escape \\") + e; return false;
        }
    }
    return true;
}

void ExpectRoundTrip(const std::string& bytes) {
    std::string json = JsonOf(bytes), back, why;
    ASSERT_TRUE(DecodeJsonString(json, &back, &why)) << why << " in " << json;
    EXPECT_EQ(bytes, back) << json;
}

TEST(JsonString, EscapesQuotesBackslashAndControls) {
    EXPECT_EQ("\"\"", JsonOf(""));
    EXPECT_EQ("\"plain text/ok\"", JsonOf("plain text/ok"));
    EXPECT_EQ("\"a\\\"b\\\\c\"", JsonOf("a\"b\\c"));
    EXPECT_EQ("\"\\n\\r\\t\\b\\f\"", JsonOf("\n\r\t\b\f"));
    EXPECT_EQ("\"\\u0001\\u001f\"", JsonOf("\x01\x1f"));
    EXPECT_EQ("\"a\\u0000b\"", JsonOf(std::string("a\0b", 3)));
    // DEL needs no escape in JSON; either form is valid.
    std::string del = JsonOf("\x7f");
    EXPECT_TRUE(del == "\"\\u007f\"" || del == "\"\x7f\"") << del;
    for (int c = 0; c < 0x80; c++)
        ExpectRoundTrip(std::string(1, static_cast<char>(c)));
}

TEST(JsonString, PassesValidUtf8) {
    const char* valid[] = {
        "\xC3\xA9",          // é
        "\xE2\x82\xAC",      // €
        "\xF0\x9F\x98\x80",  // U+1F600
        "\xC2\x80",          // U+0080, smallest two-byte
        "\xDF\xBF",          // U+07FF
        "\xE0\xA0\x80",      // U+0800, smallest three-byte
        "\xED\x9F\xBF",      // U+D7FF, just below the surrogates
        "\xEE\x80\x80",      // U+E000, just above them
        "\xEF\xBF\xBF",      // U+FFFF
        "\xF0\x90\x80\x80",  // U+10000, smallest four-byte
        "\xF4\x8F\xBF\xBF",  // U+10FFFF, the largest
        "na\xC3\xAFve caf\xC3\xA9 \xE2\x82\xAC" "5",
    };
    for (const char* s : valid)
        EXPECT_EQ("\"" + std::string(s) + "\"", JsonOf(s)) << s;
}

TEST(JsonString, EscapesEachByteOfInvalidSequences) {
    const struct {
        std::string in, out;
    } cases[] = {
        {"\xFF", "\\udcff"},
        {"a\xFF" "b", "a\\udcffb"},
        {"\xFE", "\\udcfe"},
        {"\x80", "\\udc80"},                                            // lone continuation
        {"\xBF\xBF", "\\udcbf\\udcbf"},                                 // continuations only
        {"\xC0\x80", "\\udcc0\\udc80"},                                 // overlong NUL
        {"\xC1\xBF", "\\udcc1\\udcbf"},                                 // overlong U+007F
        {"\xE0\x80\x80", "\\udce0\\udc80\\udc80"},                      // overlong 3-byte
        {"\xE0\x9F\xBF", "\\udce0\\udc9f\\udcbf"},                      // overlong U+07FF
        {"\xF0\x80\x80\x80", "\\udcf0\\udc80\\udc80\\udc80"},           // overlong 4-byte
        {"\xF0\x8F\xBF\xBF", "\\udcf0\\udc8f\\udcbf\\udcbf"},           // overlong U+FFFF
        {"\xED\xA0\x80", "\\udced\\udca0\\udc80"},                      // U+D800 (surrogate)
        {"\xED\xBF\xBF", "\\udced\\udcbf\\udcbf"},                      // U+DFFF (surrogate)
        {"\xED\xA0\xBD\xED\xB8\x80", "\\udced\\udca0\\udcbd\\udced\\udcb8\\udc80"},  // CESU pair
        {"\xF4\x90\x80\x80", "\\udcf4\\udc90\\udc80\\udc80"},           // U+110000
        {"\xF5\x80\x80\x80", "\\udcf5\\udc80\\udc80\\udc80"},           // lead byte F5
        {"\xF8\x88\x80\x80\x80", "\\udcf8\\udc88\\udc80\\udc80\\udc80"},  // 5-byte form
        {"\xE2\x82", "\\udce2\\udc82"},                                 // truncated at end
        {"\xF0\x9F\x98", "\\udcf0\\udc9f\\udc98"},                      // truncated at end
        {"\xC3", "\\udcc3"},                                            // truncated at end
        {"\xE2\x82" "A", "\\udce2\\udc82A"},                            // truncated before ASCII
        {"\xC3\xC3\xA9", "\\udcc3\xC3\xA9"},                            // bad lead, then é
        {"\xE2\x82\xAC\xFF\xE2\x82\xAC", "\xE2\x82\xAC\\udcff\xE2\x82\xAC"},  // € 0xFF €
    };
    for (const auto& c : cases) {
        EXPECT_EQ("\"" + c.out + "\"", JsonOf(c.in));
        ExpectRoundTrip(c.in);
    }
}

TEST(JsonString, EveryShortByteStringRoundTrips) {
    // All 1- and 2-byte strings, and a deterministic sample of longer ones:
    // the output is always valid JSON text and decodes back to the bytes.
    for (int a = 0; a < 256; a++) {
        ExpectRoundTrip(std::string(1, static_cast<char>(a)));
        for (int b = 0; b < 256; b++) {
            std::string s{static_cast<char>(a), static_cast<char>(b)};
            std::string json = JsonOf(s), back, why;
            ASSERT_TRUE(DecodeJsonString(json, &back, &why)) << why << " for bytes " << a << "," << b;
            ASSERT_EQ(s, back) << "bytes " << a << "," << b;
        }
    }
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (int round = 0; round < 20000; round++) {
        std::string s;
        size_t len = 1 + round % 9;
        for (size_t k = 0; k < len; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            // Bias toward bytes that start or continue multi-byte sequences.
            uint8_t v = static_cast<uint8_t>(x);
            s.push_back(static_cast<char>((x >> 8) % 3 ? (v | 0x80) : v));
        }
        std::string json = JsonOf(s), back, why;
        ASSERT_TRUE(DecodeJsonString(json, &back, &why)) << why;
        ASSERT_EQ(s, back);
    }
}

}  // namespace
