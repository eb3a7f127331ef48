// pk, the command-line front end, run as a user would run it: fork/exec of
// the built binary with pipes for stdout and stderr, then checks of the exit
// status, of stderr, of the JSON report and of what is left on the machine.
// The last part covers the higher layers: `pk pipe`, `pk run --pty`,
// readiness (--ready-line, --ready-port), `pk run --retry`, `pk supervise`.
//
// Liveness is judged by pid plus start time (pktest::Identify/Alive/WaitDead);
// zombies count as dead. Every test leaves nothing behind: every pk started
// is reaped (and SIGKILLed first if it overruns a generous deadline), every
// descendant learned from a pid file is killed at teardown, and after each
// pk run no cgroup directory named processkit-<that pk's pid>-* may remain
// anywhere under the cgroup2 mount (any found is reported, killed and removed).
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "support/proc_util.h"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

// Generous bound for one pk run; not a timing goal.
constexpr int kRunMs = 30000;
// How long descendants may keep pk's stdout/stderr open after pk exits.
constexpr int kDrainMs = 3000;

int64_t MsSince(Clock::time_point t0) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
}

bool StartsWith(const std::string& s, const std::string& prefix) {
    return s.compare(0, prefix.size(), prefix) == 0;
}

bool PathExists(const std::string& path) {
    struct stat st;
    return lstat(path.c_str(), &st) == 0;
}

bool WriteFile(const std::string& path, const std::string& data, mode_t mode = 0644) {
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return false;
    bool ok = write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
    close(fd);
    return ok;
}

std::string ReadText(const std::string& path) {
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// ------------------------------------------------------------ the pk binary

std::string PkPath() {
    const char* srcdir = getenv("TEST_SRCDIR");
    const char* ws = getenv("TEST_WORKSPACE");
    if (srcdir && *srcdir) {
        std::string path = std::string(srcdir) + "/" + (ws && *ws ? ws : "processkit") + "/cli/pk";
        if (access(path.c_str(), X_OK) == 0)
            return path;
    }
    char here[PATH_MAX];
    if (getcwd(here, sizeof here))
        return std::string(here) + "/cli/pk";
    return "cli/pk";
}

// ------------------------------------------------------- cgroup leftovers

// Directories named prefix* at or below dir (depth-limited).
void FindDirs(const std::string& dir, const std::string& prefix, int depth, std::vector<std::string>* out) {
    DIR* d = opendir(dir.c_str());
    if (!d)
        return;
    while (struct dirent* e = readdir(d)) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        std::string path = dir + "/" + e->d_name;
        bool is_dir = e->d_type == DT_DIR;
        if (e->d_type == DT_UNKNOWN) {
            struct stat st;
            is_dir = lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
        }
        if (!is_dir)
            continue;
        if (StartsWith(e->d_name, prefix))
            out->push_back(path);
        if (depth > 0)
            FindDirs(path, prefix, depth - 1, out);
    }
    closedir(d);
}

// Cgroup directories that the pk process with this pid made (processkit-<pid>-*).
std::vector<std::string> LeavesOf(pid_t pk_pid) {
    std::vector<std::string> out;
    std::string mount = pktest::CgroupMount();
    if (!mount.empty())
        FindDirs(mount, "processkit-" + std::to_string(pk_pid) + "-", 6, &out);
    return out;
}

// Clean-up after a failure only: kill what is in a leftover leaf and remove it.
void RemoveLeaf(const std::string& leaf) {
    WriteFile(leaf + "/cgroup.kill", "1");
    auto end = Clock::now() + std::chrono::seconds(3);
    while (rmdir(leaf.c_str()) != 0 && errno == EBUSY && Clock::now() < end)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

// Whether this host's cgroup2 root offers a controller (so limits could work).
bool HostHasController(const std::string& name) {
    std::string mount = pktest::CgroupMount();
    if (mount.empty())
        return false;
    std::string text = " " + ReadText(mount + "/cgroup.controllers") + " ";
    for (char& c : text)
        if (c == '\n')
            c = ' ';
    return text.find(" " + name + " ") != std::string::npos;
}

// --------------------------------------------------------------- tiny JSON

struct Json {
    enum Type { kNull, kBool, kNumber, kString, kArray, kObject };
    Type type = kNull;
    bool boolean = false;
    double number = 0;
    std::string text;  // kNumber: the source text; kString: the decoded bytes
    std::vector<Json> items;
    std::vector<std::pair<std::string, Json>> members;

    const Json* Find(const std::string& key) const {
        for (const auto& m : members)
            if (m.first == key)
                return &m.second;
        return nullptr;
    }
    bool IsInteger() const { return type == kNumber && text.find_first_of(".eE") == std::string::npos; }
};

// Length of a valid UTF-8 sequence (shortest form, no surrogates, at most
// U+10FFFF) at s[i], or 0.
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

void AppendUtf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
        out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

// A strict RFC 8259 reader for one document: valid UTF-8 text, no raw control
// characters in strings, no duplicate keys, nothing after the value. A lone
// \udc80..\udcff decodes to its byte (the surrogateescape convention pk uses
// for invalid UTF-8); any other lone surrogate is an error.
class JsonReader {
  public:
    explicit JsonReader(const std::string& s) : s_(s) {}

    bool Parse(Json* out) {
        if (!Value(out, 0))
            return false;
        Ws();
        if (pos_ != s_.size())
            return Fail("trailing characters");
        return true;
    }
    std::string error;

  private:
    bool Fail(const std::string& why) {
        if (error.empty())
            error = why + " at offset " + std::to_string(pos_);
        return false;
    }
    void Ws() {
        while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
            pos_++;
    }
    bool Lit(const char* word) {
        size_t n = strlen(word);
        if (s_.compare(pos_, n, word) != 0)
            return false;
        pos_ += n;
        return true;
    }
    bool Value(Json* out, int depth) {
        if (depth > 32)
            return Fail("nested too deeply");
        Ws();
        if (pos_ >= s_.size())
            return Fail("unexpected end");
        char c = s_[pos_];
        if (c == '{')
            return Object(out, depth);
        if (c == '[')
            return Array(out, depth);
        if (c == '"') {
            out->type = Json::kString;
            return String(&out->text);
        }
        if (Lit("true")) {
            out->type = Json::kBool;
            out->boolean = true;
            return true;
        }
        if (Lit("false")) {
            out->type = Json::kBool;
            return true;
        }
        if (Lit("null")) {
            out->type = Json::kNull;
            return true;
        }
        return Number(out);
    }
    bool Digits() {
        size_t start = pos_;
        while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9')
            pos_++;
        return pos_ > start;
    }
    bool Number(Json* out) {
        size_t start = pos_;
        if (pos_ < s_.size() && s_[pos_] == '-')
            pos_++;
        if (pos_ < s_.size() && s_[pos_] == '0')
            pos_++;
        else if (!Digits())
            return Fail("bad value");
        if (pos_ < s_.size() && s_[pos_] == '.') {
            pos_++;
            if (!Digits())
                return Fail("bad fraction");
        }
        if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
            pos_++;
            if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-'))
                pos_++;
            if (!Digits())
                return Fail("bad exponent");
        }
        out->type = Json::kNumber;
        out->text = s_.substr(start, pos_ - start);
        out->number = strtod(out->text.c_str(), nullptr);
        return std::isfinite(out->number) ? true : Fail("number out of range");
    }
    bool Hex4(uint32_t* out) {
        if (pos_ + 4 > s_.size())
            return Fail("short \\u escape");
        uint32_t v = 0;
        for (int k = 0; k < 4; k++) {
            char h = s_[pos_++];
            v <<= 4;
            if (h >= '0' && h <= '9')
                v |= static_cast<uint32_t>(h - '0');
            else if (h >= 'a' && h <= 'f')
                v |= static_cast<uint32_t>(h - 'a' + 10);
            else if (h >= 'A' && h <= 'F')
                v |= static_cast<uint32_t>(h - 'A' + 10);
            else
                return Fail("bad hex digit");
        }
        *out = v;
        return true;
    }
    bool String(std::string* out) {
        out->clear();
        pos_++;  // opening quote
        for (;;) {
            if (pos_ >= s_.size())
                return Fail("unterminated string");
            uint8_t c = static_cast<uint8_t>(s_[pos_]);
            if (c == '"') {
                pos_++;
                return true;
            }
            if (c < 0x20)
                return Fail("raw control character in string");
            if (c != '\\') {
                size_t n = Utf8Len(s_, pos_);
                if (n == 0)
                    return Fail("invalid UTF-8 in JSON text");
                out->append(s_, pos_, n);
                pos_ += n;
                continue;
            }
            pos_++;
            if (pos_ >= s_.size())
                return Fail("dangling backslash");
            char e = s_[pos_++];
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
                uint32_t u;
                if (!Hex4(&u))
                    return false;
                if (u >= 0xD800 && u <= 0xDBFF) {
                    uint32_t lo;
                    if (s_.compare(pos_, 2, "\\u") != 0)
                        return Fail("lone high surrogate");
                    pos_ += 2;
                    if (!Hex4(&lo))
                        return false;
                    if (lo < 0xDC00 || lo > 0xDFFF)
                        return Fail("high surrogate without low");
                    AppendUtf8(0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00), out);
                } else if (u >= 0xDC80 && u <= 0xDCFF) {
                    out->push_back(static_cast<char>(u & 0xFF));
                } else if (u >= 0xDC00 && u <= 0xDFFF) {
                    return Fail("lone low surrogate outside \\udc80..\\udcff");
                } else {
                    AppendUtf8(u, out);
                }
                break;
            }
            default: return Fail(std::string("bad escape \\") + e);
            }
        }
    }
    bool Array(Json* out, int depth) {
        out->type = Json::kArray;
        pos_++;
        Ws();
        if (pos_ < s_.size() && s_[pos_] == ']') {
            pos_++;
            return true;
        }
        for (;;) {
            Json item;
            if (!Value(&item, depth + 1))
                return false;
            out->items.push_back(std::move(item));
            Ws();
            if (pos_ < s_.size() && s_[pos_] == ',') {
                pos_++;
                continue;
            }
            if (pos_ < s_.size() && s_[pos_] == ']') {
                pos_++;
                return true;
            }
            return Fail("expected , or ]");
        }
    }
    bool Object(Json* out, int depth) {
        out->type = Json::kObject;
        pos_++;
        Ws();
        if (pos_ < s_.size() && s_[pos_] == '}') {
            pos_++;
            return true;
        }
        std::set<std::string> seen;
        for (;;) {
            Ws();
            if (pos_ >= s_.size() || s_[pos_] != '"')
                return Fail("expected a key");
            std::string key;
            if (!String(&key))
                return false;
            if (!seen.insert(key).second)
                return Fail("duplicate key " + key);
            Ws();
            if (pos_ >= s_.size() || s_[pos_] != ':')
                return Fail("expected :");
            pos_++;
            Json value;
            if (!Value(&value, depth + 1))
                return false;
            out->members.emplace_back(key, std::move(value));
            Ws();
            if (pos_ < s_.size() && s_[pos_] == ',') {
                pos_++;
                continue;
            }
            if (pos_ < s_.size() && s_[pos_] == '}') {
                pos_++;
                return true;
            }
            return Fail("expected , or }");
        }
    }

    const std::string& s_;
    size_t pos_ = 0;
};

// The last line of a stdout that must end with a newline ("" if it does not).
std::string LastLine(const std::string& out) {
    if (out.empty() || out.back() != '\n')
        return "";
    std::string body = out.substr(0, out.size() - 1);
    size_t nl = body.rfind('\n');
    return nl == std::string::npos ? body : body.substr(nl + 1);
}

// Parses the last line of stdout as one JSON object.
testing::AssertionResult LastLineJson(const std::string& out, Json* j) {
    if (out.empty() || out.back() != '\n')
        return testing::AssertionFailure() << "stdout does not end with a newline: [" << out << "]";
    std::string line = LastLine(out);
    JsonReader reader(line);
    *j = Json();
    if (!reader.Parse(j))
        return testing::AssertionFailure() << "last line is not valid JSON (" << reader.error << "): " << line;
    if (j->type != Json::kObject)
        return testing::AssertionFailure() << "last line is not a JSON object: " << line;
    return testing::AssertionSuccess();
}

std::string Str(const Json& j, const std::string& key) {
    const Json* v = j.Find(key);
    if (!v)
        return "<missing>";
    if (v->type != Json::kString)
        return "<not a string>";
    return v->text;
}

bool IsNull(const Json& j, const std::string& key) {
    const Json* v = j.Find(key);
    return v && v->type == Json::kNull;
}

// The value of an integer field, or INT64_MIN if absent or not an integer.
int64_t Int(const Json& j, const std::string& key) {
    const Json* v = j.Find(key);
    if (!v || !v->IsInteger())
        return INT64_MIN;
    return static_cast<int64_t>(v->number);
}

// 1 / 0 for a boolean field, -1 otherwise.
int Bool(const Json& j, const std::string& key) {
    const Json* v = j.Find(key);
    return v && v->type == Json::kBool ? (v->boolean ? 1 : 0) : -1;
}

// The fields every `pk run --json` report has, with their types.
void ExpectRunReportShape(const Json& j, bool capture) {
    static const std::set<std::string> outcomes = {"exited", "signalled", "timed_out", "cancelled"};
    EXPECT_TRUE(outcomes.count(Str(j, "outcome"))) << "outcome " << Str(j, "outcome");
    const Json* code = j.Find("exit_code");
    ASSERT_NE(nullptr, code) << "exit_code missing";
    EXPECT_TRUE(code->type == Json::kNull || code->IsInteger()) << "exit_code " << code->text;
    const Json* sig = j.Find("signal");
    ASSERT_NE(nullptr, sig) << "signal missing";
    EXPECT_TRUE(sig->type == Json::kNull || sig->IsInteger()) << "signal " << sig->text;
    static const std::set<std::string> mechanisms = {"cgroup-v2", "process-group", "job-object"};
    EXPECT_TRUE(mechanisms.count(Str(j, "mechanism"))) << "mechanism " << Str(j, "mechanism");
    EXPECT_GT(Int(j, "pid"), 0);
    const Json* dur = j.Find("duration_ms");
    ASSERT_NE(nullptr, dur) << "duration_ms missing";
    EXPECT_EQ(Json::kNumber, dur->type);
    EXPECT_GE(dur->number, 0.0);
    for (const char* key : {"stdout", "stderr"}) {
        const Json* v = j.Find(key);
        if (capture)
            EXPECT_TRUE(v && v->type == Json::kString) << key;
        else
            EXPECT_EQ(nullptr, v) << key << " present without --capture";
    }
    for (const char* key : {"stdout_truncated", "stderr_truncated"}) {
        if (capture)
            EXPECT_NE(-1, Bool(j, key)) << key;
        else
            EXPECT_EQ(nullptr, j.Find(key)) << key << " present without --capture";
    }
}

// ------------------------------------------------------------- running pk

struct RunOpts {
    std::string stdin_path = "/dev/null";  // pk's own stdin
    std::vector<std::string> extra_env;    // added to this process's environment
};

// A pk process that is running (or has run) with its output so far.
struct Running {
    pid_t pid = -1;
    int out_fd = -1, err_fd = -1;
    Clock::time_point start;
    std::string out, err;
};

struct Result {
    bool reaped = false;
    int status = 0;
    int code = -1;    // exit status if pk exited, else -1
    int signal = 0;   // the signal that killed pk, if any
    std::string out, err;
    int64_t elapsed_ms = 0;
    pid_t pid = -1;
};

std::string Describe(const Result& r) {
    return "code=" + std::to_string(r.code) + " killed_by=" + std::to_string(r.signal) + "\n--- stdout ---\n" +
           r.out + "\n--- stderr ---\n" + r.err;
}

class PkTest : public testing::Test {
  protected:
    void SetUp() override {
        pk_ = PkPath();
        ASSERT_EQ(0, access(pk_.c_str(), X_OK)) << "pk binary not found at " << pk_;
        ASSERT_FALSE(tmp_.path().empty());
    }

    void TearDown() override {
        for (const auto& id : tracked_)
            pktest::KillIfAlive(id);
        int status;
        pid_t p;
        while ((p = waitpid(-1, &status, WNOHANG)) > 0)
            ADD_FAILURE() << "unreaped child " << p << " at teardown";
        for (pid_t pk : pk_pids_)
            for (const auto& leaf : LeavesOf(pk)) {
                ADD_FAILURE() << "cgroup left behind at teardown: " << leaf;
                RemoveLeaf(leaf);
            }
    }

    // Starts pk with args (argv[1..]).
    Running Start(const std::vector<std::string>& args, const RunOpts& opts = RunOpts()) {
        Running r;
        std::vector<std::string> argv_s = {pk_};
        argv_s.insert(argv_s.end(), args.begin(), args.end());
        std::vector<char*> argv;
        for (auto& a : argv_s)
            argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        std::vector<std::string> env_s;
        for (char** e = environ; *e; e++)
            env_s.push_back(*e);
        env_s.insert(env_s.end(), opts.extra_env.begin(), opts.extra_env.end());
        std::vector<char*> envp;
        for (auto& e : env_s)
            envp.push_back(const_cast<char*>(e.c_str()));
        envp.push_back(nullptr);

        int in = open(opts.stdin_path.c_str(), O_RDONLY | O_CLOEXEC);
        int out[2], err[2];
        if (in < 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
            ADD_FAILURE() << "cannot set up pk's stdio";
            return r;
        }
        r.start = Clock::now();
        pid_t pid = fork();
        if (pid == 0) {
            // A clean signal state, as a user's shell would give pk.
            sigset_t none;
            sigemptyset(&none);
            sigprocmask(SIG_SETMASK, &none, nullptr);
            struct sigaction dfl;
            memset(&dfl, 0, sizeof dfl);
            dfl.sa_handler = SIG_DFL;
            for (int s : {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT})
                sigaction(s, &dfl, nullptr);
            if (dup2(in, 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0)
                _exit(99);
            execve(argv[0], argv.data(), envp.data());
            _exit(98);
        }
        close(in);
        close(out[1]);
        close(err[1]);
        if (pid < 0) {
            close(out[0]);
            close(err[0]);
            ADD_FAILURE() << "fork failed";
            return r;
        }
        r.pid = pid;
        r.out_fd = out[0];
        r.err_fd = err[0];
        pk_pids_.push_back(pid);
        return r;
    }

    // Reads whatever pk has written within wait_ms; closes fds at EOF.
    static void Pump(Running* r, int wait_ms) {
        struct pollfd fds[2];
        int n = 0;
        if (r->out_fd >= 0)
            fds[n++] = {r->out_fd, POLLIN, 0};
        if (r->err_fd >= 0)
            fds[n++] = {r->err_fd, POLLIN, 0};
        if (n == 0) {
            std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
            return;
        }
        if (poll(fds, n, wait_ms) <= 0)
            return;
        for (int i = 0; i < n; i++) {
            if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            bool is_out = fds[i].fd == r->out_fd;
            char buf[65536];
            ssize_t got = read(fds[i].fd, buf, sizeof buf);
            if (got > 0) {
                (is_out ? r->out : r->err).append(buf, static_cast<size_t>(got));
            } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
                close(fds[i].fd);
                (is_out ? r->out_fd : r->err_fd) = -1;
            }
        }
    }

    // Waits up to timeout_ms for needle to appear in pk's stdout.
    static bool WaitForStdout(Running* r, const std::string& needle, int timeout_ms = kRunMs) {
        auto end = Clock::now() + std::chrono::milliseconds(timeout_ms);
        while (r->out.find(needle) == std::string::npos) {
            if (Clock::now() >= end || (r->out_fd < 0))
                return r->out.find(needle) != std::string::npos;
            Pump(r, 20);
        }
        return true;
    }

    // Collects pk's output and exit status. pk that overruns timeout_ms is
    // SIGKILLed (a failure); a descendant still holding pk's stdout or stderr
    // kDrainMs after pk exited is a failure too. Afterwards no cgroup of this
    // pk may remain.
    Result Finish(Running* r, int timeout_ms = kRunMs) {
        Result res;
        res.pid = r->pid;
        if (r->pid <= 0)
            return res;
        auto deadline = r->start + std::chrono::milliseconds(timeout_ms);
        Clock::time_point reaped_at;
        bool killed = false;
        for (;;) {
            Pump(r, 10);
            if (!res.reaped) {
                pid_t w = waitpid(r->pid, &res.status, WNOHANG);
                if (w == r->pid) {
                    res.reaped = true;
                    reaped_at = Clock::now();
                    res.elapsed_ms = MsSince(r->start);
                }
            }
            if (res.reaped && r->out_fd < 0 && r->err_fd < 0)
                break;
            if (res.reaped && MsSince(reaped_at) > kDrainMs) {
                ADD_FAILURE() << "pk exited but something still holds its stdout/stderr " << kDrainMs
                              << " ms later: a descendant outlived pk";
                break;
            }
            if (!res.reaped && !killed && Clock::now() >= deadline) {
                ADD_FAILURE() << "pk (pid " << r->pid << ") still running after " << timeout_ms
                              << " ms; killing it";
                kill(r->pid, SIGKILL);
                killed = true;
            }
        }
        if (r->out_fd >= 0)
            close(r->out_fd);
        if (r->err_fd >= 0)
            close(r->err_fd);
        r->out_fd = r->err_fd = -1;
        res.out = r->out;
        res.err = r->err;
        if (WIFEXITED(res.status))
            res.code = WEXITSTATUS(res.status);
        else if (WIFSIGNALED(res.status))
            res.signal = WTERMSIG(res.status);
        for (const auto& leaf : LeavesOf(r->pid)) {
            ADD_FAILURE() << "pk (pid " << r->pid << ") left a cgroup behind: " << leaf;
            RemoveLeaf(leaf);
        }
        return res;
    }

    Result Run(const std::vector<std::string>& args, const RunOpts& opts = RunOpts()) {
        Running r = Start(args, opts);
        return Finish(&r);
    }

    // Reads a pid file the program writes, and remembers the process so
    // teardown kills it if it survived.
    pktest::ProcId TrackPidFile(const std::string& path) {
        pid_t pid = pktest::ReadPidFile(path, kRunMs);
        pktest::ProcId id = pktest::Identify(pid);
        if (id.start_time)
            tracked_.push_back(id);
        return id;
    }

    // A pk error: the status, and a "pk: ..." message on stderr.
    static void ExpectPkError(const Result& r, int code) {
        EXPECT_EQ(code, r.code) << Describe(r);
        EXPECT_TRUE(StartsWith(r.err, "pk: ")) << Describe(r);
        EXPECT_NE(std::string::npos, r.err.find('\n')) << "message not ended by a newline: " << r.err;
    }

    std::string pk_;
    pktest::TempDir tmp_;
    std::vector<pid_t> pk_pids_;
    std::vector<pktest::ProcId> tracked_;
};

// ------------------------------------------------------------ exit status

TEST_F(PkTest, ExitsZeroWhenTheProgramDoes) {
    Result r = Run({"run", "--", "true"});
    EXPECT_EQ(0, r.code) << Describe(r);
    EXPECT_EQ("", r.err);
    EXPECT_EQ("", r.out);
}

TEST_F(PkTest, ExitsWithTheProgramsOwnCode) {
    Result r = Run({"run", "--", "sh", "-c", "exit 3"});
    EXPECT_EQ(3, r.code) << Describe(r);
    r = Run({"run", "--", "sh", "-c", "exit 255"});
    EXPECT_EQ(255, r.code) << Describe(r);
    // Without "--" the first non-option word is the program.
    r = Run({"run", "sh", "-c", "exit 4"});
    EXPECT_EQ(4, r.code) << Describe(r);
}

TEST_F(PkTest, ExitsWith128PlusTheKillingSignal) {
    Result r = Run({"run", "--", "sh", "-c", "kill -9 $$"});
    EXPECT_EQ(128 + 9, r.code) << Describe(r);
    r = Run({"run", "--", "sh", "-c", "kill -TERM $$"});
    EXPECT_EQ(128 + 15, r.code) << Describe(r);
    r = Run({"run", "--backend", "pgroup", "--", "sh", "-c", "kill -9 $$"});
    EXPECT_EQ(128 + 9, r.code) << Describe(r);
}

TEST_F(PkTest, TimeoutExits124Promptly) {
    Result r = Run({"run", "--timeout", "200ms", "--", "sleep", "10"});
    EXPECT_EQ(124, r.code) << Describe(r);
    EXPECT_GE(r.elapsed_ms, 150);
    EXPECT_LT(r.elapsed_ms, 5000) << "the timeout did not cut sleep 10 short";
    r = Run({"run", "--timeout=300ms", "--grace=100ms", "--", "sleep", "10"});
    EXPECT_EQ(124, r.code) << Describe(r);
    EXPECT_LT(r.elapsed_ms, 5000);
}

TEST_F(PkTest, TimeoutEscalatesToKillAfterGrace) {
    // The whole tree ignores TERM: after the grace pk SIGKILLs it.
    std::string pidfile = tmp_.File("gc.pid");
    std::string script = "trap '' TERM; (trap '' TERM; exec sleep 30) & echo $! > " + pidfile +
                         "; while :; do sleep 0.1; done";
    Running run = Start({"run", "--json", "--timeout", "200ms", "--grace", "300ms", "--", "sh", "-c", script});
    pktest::ProcId gc = TrackPidFile(pidfile);
    EXPECT_TRUE(pktest::Alive(gc)) << "grandchild not running while pk runs";
    Result r = Finish(&run);
    EXPECT_EQ(124, r.code) << Describe(r);
    EXPECT_GE(r.elapsed_ms, 450) << "pk did not wait for the grace period";
    EXPECT_LT(r.elapsed_ms, 5000);
    Json j;
    ASSERT_TRUE(LastLineJson(r.out, &j));
    EXPECT_EQ("timed_out", Str(j, "outcome"));
    EXPECT_TRUE(pktest::WaitDead(gc, 2000)) << "a TERM-ignoring grandchild outlived pk";
}

TEST_F(PkTest, TimeoutSendsTheChosenSignal) {
    Result r = Run({"run", "--json", "--timeout", "200ms", "--signal", "INT", "--", "sleep", "10"});
    EXPECT_EQ(124, r.code) << Describe(r);
    Json j;
    ASSERT_TRUE(LastLineJson(r.out, &j));
    EXPECT_EQ("timed_out", Str(j, "outcome"));
    EXPECT_EQ(SIGINT, Int(j, "signal"));
}

TEST_F(PkTest, PkErrorsExit125WithAMessage) {
    const std::string missing = tmp_.File("does-not-exist");
    const std::string marker = tmp_.File("ran");
    const std::string prog = "touch " + marker;
    const std::vector<std::vector<std::string>> cases = {
        {"run", "--bogus", "--", "sh", "-c", prog},
        {"run", "--json=1", "--", "sh", "-c", prog},
        {"run", "--timeout", "1x", "--", "sh", "-c", prog},
        {"run", "--timeout", "-1s", "--", "sh", "-c", prog},
        {"run", "--timeout", "", "--", "sh", "-c", prog},
        {"run", "--timeout", "25d", "--", "sh", "-c", prog},
        {"run", "--grace", "abc", "--", "sh", "-c", prog},
        {"run", "--signal", "FOO", "--", "sh", "-c", prog},
        {"run", "--signal", "0", "--", "sh", "-c", prog},
        {"run", "--backend", "foo", "--", "sh", "-c", prog},
        {"run", "--max-output", "1Q", "--", "sh", "-c", prog},
        {"run", "--pids-max", "0", "--", "sh", "-c", prog},
        {"run", "--cpu-max", "-1", "--", "sh", "-c", prog},
        {"run", "--env", "=x", "--", "sh", "-c", prog},
        {"run", "--env", "NOEQUALS", "--", "sh", "-c", prog},
        {"run", "--cwd", missing, "--", "sh", "-c", prog},
        {"run", "--cwd", "/etc/passwd", "--", "sh", "-c", prog},
        {"run", "--stdin", missing, "--", "sh", "-c", prog},
        {"run", "--timeout", "--", "sh", "-c", prog},  // "--" taken as the value
        {"run", "--"},
        {"run"},
        {"run", "--capture"},
        {"run", "--", ""},
        {"bogus"},
        {"probe", "--bogus"},
    };
    for (const auto& args : cases) {
        std::string shown;
        for (const auto& a : args)
            shown += "'" + a + "' ";
        SCOPED_TRACE("pk " + shown);
        Result r = Run(args);
        ExpectPkError(r, 125);
        EXPECT_FALSE(PathExists(marker)) << "the program ran despite the error";
        unlink(marker.c_str());
    }
}

TEST_F(PkTest, NoArgumentsIsAnErrorWithUsage) {
    Result r = Run({});
    EXPECT_EQ(125, r.code) << Describe(r);
    EXPECT_NE(std::string::npos, r.err.find("usage: pk run")) << r.err;
    EXPECT_EQ("", r.out);
}

TEST_F(PkTest, LimitsThisHostCannotEnforceExit125AndRunNothing) {
    const std::string marker = tmp_.File("ran");
    const struct {
        const char* option;
        const char* value;
        const char* controller;
    } limits[] = {{"--memory-max", "64M", "memory"}, {"--pids-max", "10", "pids"}, {"--cpu-max", "0.5", "cpu"}};
    for (const auto& l : limits) {
        SCOPED_TRACE(l.option);
        if (HostHasController(l.controller))
            continue;  // enforceable here: not this test's case
        for (const char* backend : {"auto", "cgroup", "pgroup"}) {
            SCOPED_TRACE(backend);
            Result r = Run({"run", "--backend", backend, l.option, l.value, "--", "sh", "-c", "touch " + marker});
            ExpectPkError(r, 125);
            EXPECT_FALSE(PathExists(marker)) << "the program ran although the limit cannot be enforced";
            unlink(marker.c_str());
        }
    }
}

TEST_F(PkTest, NotExecutableExits126) {
    const std::string script = tmp_.File("script.sh");
    ASSERT_TRUE(WriteFile(script, "#!/bin/sh\nexit 0\n", 0644));
    for (const std::string& prog : {std::string("/etc/passwd"), script, tmp_.path()}) {
        SCOPED_TRACE(prog);
        Result r = Run({"run", "--", prog});
        ExpectPkError(r, 126);
        EXPECT_EQ("", r.out);
    }
}

TEST_F(PkTest, NotFoundExits127) {
    for (const std::string& prog : {std::string("pktest-no-such-program"), tmp_.File("missing")}) {
        SCOPED_TRACE(prog);
        Result r = Run({"run", "--", prog, "arg"});
        ExpectPkError(r, 127);
        EXPECT_EQ("", r.out);
        r = Run({"run", "--json", "--", prog});
        EXPECT_EQ(127, r.code) << Describe(r);
    }
}

TEST_F(PkTest, HelpAndVersion) {
    Result r = Run({"--help"});
    EXPECT_EQ(0, r.code) << Describe(r);
    EXPECT_NE(std::string::npos, r.out.find("usage: pk run")) << r.out;
    r = Run({"--version"});
    EXPECT_EQ(0, r.code) << Describe(r);
    EXPECT_TRUE(StartsWith(r.out, "pk ")) << r.out;
    r = Run({"run", "--help", "--", "true"});
    EXPECT_EQ(0, r.code) << Describe(r);
    EXPECT_NE(std::string::npos, r.out.find("--timeout DUR")) << r.out;
}

TEST_F(PkTest, RunHelpWithoutAProgramPrintsUsage) {
    Result r = Run({"run", "--help"});
    EXPECT_EQ(0, r.code) << Describe(r);
    EXPECT_NE(std::string::npos, r.out.find("--timeout DUR")) << r.out;
}

// ------------------------------------------------------------------ JSON

TEST_F(PkTest, JsonReportForAnExit) {
    Result r = Run({"run", "--json", "--", "sh", "-c", "exit 3"});
    EXPECT_EQ(3, r.code) << Describe(r);
    Json j;
    ASSERT_TRUE(LastLineJson(r.out, &j));
    ExpectRunReportShape(j, false);
    EXPECT_EQ("exited", Str(j, "outcome"));
    EXPECT_EQ(3, Int(j, "exit_code"));
    EXPECT_TRUE(IsNull(j, "signal"));
    EXPECT_EQ("cgroup-v2", Str(j, "mechanism"));
    EXPECT_EQ(r.out, LastLine(r.out) + "\n") << "more than the report on stdout";
}

TEST_F(PkTest, JsonReportForASignal) {
    Result r = Run({"run", "--json", "--", "sh", "-c", "kill -9 $$"});
    EXPECT_EQ(137, r.code) << Describe(r);
    Json j;
    ASSERT_TRUE(LastLineJson(r.out, &j));
    ExpectRunReportShape(j, false);
    EXPECT_EQ("signalled", Str(j, "outcome"));
    EXPECT_EQ(9, Int(j, "signal"));
    EXPECT_TRUE(IsNull(j, "exit_code"));
}

TEST_F(PkTest, JsonReportForATimeout) {
    Result r = Run({"run", "--json", "--timeout", "200ms", "--", "sleep", "10"});
    EXPECT_EQ(124, r.code) << Describe(r);
    Json j;
    ASSERT_TRUE(LastLineJson(r.out, &j));
    ExpectRunReportShape(j, false);
    EXPECT_EQ("timed_out", Str(j, "outcome"));
    const Json* dur = j.Find("duration_ms");
    ASSERT_NE(nullptr, dur);
    EXPECT_GE(dur->number, 150.0);
    EXPECT_LT(dur->number, 5000.0);
}

TEST_F(PkTest, JsonMechanismFollowsTheBackend) {
    const struct {
        const char* backend;
        const char* mechanism;
    } cases[] = {{"auto", "cgroup-v2"}, {"cgroup", "cgroup-v2"}, {"pgroup", "process-group"}};
    for (const auto& c : cases) {
        SCOPED_TRACE(c.backend);
        Result r = Run({"run", "--json", "--backend", c.backend, "--", "true"});
        EXPECT_EQ(0, r.code) << Describe(r);
        Json j;
        ASSERT_TRUE(LastLineJson(r.out, &j));
        ExpectRunReportShape(j, false);
        EXPECT_EQ(c.mechanism, Str(j, "mechanism"));
        EXPECT_EQ("exited", Str(j, "outcome"));
        EXPECT_EQ(0, Int(j, "exit_code"));
    }
}

TEST_F(PkTest, JsonPidIsTheProgramsAndFollowsItsOutput) {
    Result r = Run({"run", "--json", "--", "sh", "-c", "echo $$"});
    EXPECT_EQ(0, r.code) << Describe(r);
    Json j;
    ASSERT_TRUE(LastLineJson(r.out, &j));
    size_t nl = r.out.find('\n');
    ASSERT_NE(std::string::npos, nl);
    EXPECT_EQ(atoll(r.out.substr(0, nl).c_str()), Int(j, "pid")) << r.out;
    EXPECT_NE(static_cast<int64_t>(r.pid), Int(j, "pid")) << "pid is pk's own";
}

TEST_F(PkTest, JsonIsTheLastLineEvenWhenOutputLacksANewline) {
    Result r = Run({"run", "--json", "--", "printf", "abc"});
    EXPECT_EQ(0, r.code) << Describe(r);
    Json j;
    EXPECT_TRUE(LastLineJson(r.out, &j)) << r.out;
    EXPECT_TRUE(StartsWith(r.out, "abc")) << r.out;
}

TEST_F(PkTest, CaptureEscapesInvalidUtf8) {
    Result r = Run({"run", "--capture", "--json", "--", "printf", "a\\377b"});
    EXPECT_EQ(0, r.code) << Describe(r);
    Json j;
    ASSERT_TRUE(LastLineJson(r.out, &j));
    ExpectRunReportShape(j, true);
    EXPECT_NE(std::string::npos, LastLine(r.out).find("\"stdout\":\"a\\udcffb\"")) << r.out;
    EXPECT_EQ("a\xff" "b", Str(j, "stdout")) << "escape does not decode back to the bytes";
    EXPECT_EQ("", Str(j, "stderr"));
    EXPECT_EQ(0, Bool(j, "stdout_truncated"));
    EXPECT_EQ(0, Bool(j, "stderr_truncated"));
    EXPECT_EQ(r.out, LastLine(r.out) + "\n") << "captured output also passed through";
    EXPECT_EQ("", r.err);
}

TEST_F(PkTest, CaptureRoundTripsAwkwardBytes) {
    // Quotes, backslashes, controls, NUL, valid multi-byte UTF-8 and broken
    // sequences, on both streams.
    const std::string script =
        "printf 'q\"b\\\\s\\n\\t\\001\\000\\303\\251\\342\\202\\254\\355\\240\\200\\300\\200\\342\\202'; "
        "printf 'err\\r\\377' >&2";
    Result r = Run({"run", "--capture", "--json", "--", "sh", "-c", script});
    EXPECT_EQ(0, r.code) << Describe(r);
    Json j;
    ASSERT_TRUE(LastLineJson(r.out, &j));
    EXPECT_EQ(std::string("q\"b\\s\n\t\x01\0\xC3\xA9\xE2\x82\xAC\xED\xA0\x80\xC0\x80\xE2\x82", 21),
              Str(j, "stdout"));
    EXPECT_EQ("err\r\xff", Str(j, "stderr"));
}

TEST_F(PkTest, MaxOutputKeepsTheHeadAndMarksTruncation) {
    Result r = Run({"run", "--capture", "--json", "--max-output", "4", "--", "echo", "123456789"});
    EXPECT_EQ(0, r.code) << Describe(r);
    Json j;
    ASSERT_TRUE(LastLineJson(r.out, &j));
    EXPECT_EQ("1234", Str(j, "stdout"));
    EXPECT_EQ(1, Bool(j, "stdout_truncated"));
    EXPECT_EQ(0, Bool(j, "stderr_truncated"));

    r = Run({"run", "--capture", "--json", "--max-output=4", "--", "sh", "-c", "echo 123456789 >&2; echo ok"});
    EXPECT_EQ(0, r.code) << Describe(r);
    ASSERT_TRUE(LastLineJson(r.out, &j));
    EXPECT_EQ("1234", Str(j, "stderr"));
    EXPECT_EQ(1, Bool(j, "stderr_truncated"));
    EXPECT_EQ("ok\n", Str(j, "stdout"));
    EXPECT_EQ(0, Bool(j, "stdout_truncated"));

    // Exactly at the cap is not truncated.
    r = Run({"run", "--capture", "--json", "--max-output", "4", "--", "printf", "abcd"});
    ASSERT_TRUE(LastLineJson(r.out, &j));
    EXPECT_EQ("abcd", Str(j, "stdout"));
    EXPECT_EQ(0, Bool(j, "stdout_truncated"));
}

TEST_F(PkTest, CaptureOfLargeOutputIsComplete) {
    Result r = Run({"run", "--capture", "--json", "--", "sh", "-c", "head -c 300000 /dev/zero | tr '\\000' x"});
    EXPECT_EQ(0, r.code) << r.err;
    Json j;
    ASSERT_TRUE(LastLineJson(r.out, &j));
    EXPECT_EQ(std::string(300000, 'x'), Str(j, "stdout"));
    EXPECT_EQ(0, Bool(j, "stdout_truncated"));
}

TEST_F(PkTest, CaptureWithoutJsonReplaysBothStreams) {
    Result r = Run({"run", "--capture", "--", "sh", "-c", "echo out; echo err >&2; exit 2"});
    EXPECT_EQ(2, r.code) << Describe(r);
    EXPECT_EQ("out\n", r.out);
    EXPECT_EQ("err\n", r.err);
}

// ------------------------------------------------ environment, cwd, stdin

TEST_F(PkTest, EnvSetsVariables) {
    Result r = Run({"run", "--capture", "--env", "PKT_A=1", "--env", "PKT_B=", "--env=PKT_C=x=y", "--", "sh", "-c",
                    "echo \"[$PKT_A][${PKT_B-unset}][$PKT_C]\""});
    EXPECT_EQ(0, r.code) << Describe(r);
    EXPECT_EQ("[1][][x=y]\n", r.out);
    // A later --env of the same key wins; the environment is otherwise inherited.
    RunOpts o;
    o.extra_env = {"PKT_KEPT=kept"};
    r = Run({"run", "--capture", "--env", "PKT_A=1", "--env", "PKT_A=2", "--", "sh", "-c", "echo \"$PKT_A $PKT_KEPT\""},
            o);
    EXPECT_EQ("2 kept\n", r.out) << Describe(r);
}

TEST_F(PkTest, UnsetRemovesVariables) {
    RunOpts o;
    o.extra_env = {"PKT_GONE=1", "PKT_STAYS=2"};
    const std::string script = "echo \"[${PKT_GONE-unset}][${PKT_STAYS-unset}]\"";
    Result r = Run({"run", "--capture", "--", "sh", "-c", script}, o);
    EXPECT_EQ("[1][2]\n", r.out) << Describe(r);
    r = Run({"run", "--capture", "--unset", "PKT_GONE", "--", "sh", "-c", script}, o);
    EXPECT_EQ(0, r.code) << Describe(r);
    EXPECT_EQ("[unset][2]\n", r.out);
}

TEST_F(PkTest, ClearEnvStartsEmpty) {
    RunOpts o;
    o.extra_env = {"PKT_GONE=1"};
    Result r = Run({"run", "--capture", "--clear-env", "--env", "ONLY=1", "--", "/usr/bin/env"}, o);
    EXPECT_EQ(0, r.code) << Describe(r);
    EXPECT_EQ("ONLY=1\n", r.out);
    r = Run({"run", "--capture", "--clear-env", "--", "/usr/bin/env"}, o);
    EXPECT_EQ(0, r.code) << Describe(r);
    EXPECT_EQ("", r.out);
}

TEST_F(PkTest, NoWindowIsAcceptedByEverySubcommand) {
    Result r = Run({"run", "--no-window", "--", "sh", "-c", "echo run; exit 3"});
    EXPECT_EQ(3, r.code) << Describe(r);
    EXPECT_EQ("run\n", r.out);
    r = Run({"pipe", "--no-window", "--", "echo", "a", "|", "cat"});
    EXPECT_EQ(0, r.code) << Describe(r);
    EXPECT_EQ("a\n", r.out);
    r = Run({"run", "--no-window=1", "--", "true"});
    EXPECT_EQ(125, r.code) << Describe(r);
    EXPECT_NE(std::string::npos, r.err.find("takes no value")) << r.err;
}

TEST_F(PkTest, CwdSetsTheWorkingDirectory) {
    char real[PATH_MAX];
    ASSERT_NE(nullptr, realpath(tmp_.path().c_str(), real));
    Result r = Run({"run", "--capture", "--cwd", tmp_.path(), "--", "sh", "-c", "pwd -P"});
    EXPECT_EQ(0, r.code) << Describe(r);
    EXPECT_EQ(std::string(real) + "\n", r.out);
    r = Run({"run", "--capture", "--cwd=/", "--", "sh", "-c", "pwd -P"});
    EXPECT_EQ("/\n", r.out) << Describe(r);
}

TEST_F(PkTest, StdinFromFileNullOrInherited) {
    const std::string file = tmp_.File("in.txt");
    ASSERT_TRUE(WriteFile(file, "line1\nline2\n"));
    const std::string inherited = tmp_.File("pk-stdin.txt");
    ASSERT_TRUE(WriteFile(inherited, "inherited\n"));
    RunOpts o;
    o.stdin_path = inherited;  // pk's own stdin

    Result r = Run({"run", "--capture", "--stdin", file, "--", "cat"}, o);
    EXPECT_EQ(0, r.code) << Describe(r);
    EXPECT_EQ("line1\nline2\n", r.out);
    r = Run({"run", "--capture", "--stdin=" + file, "--", "cat"}, o);
    EXPECT_EQ("line1\nline2\n", r.out) << Describe(r);
    r = Run({"run", "--capture", "--stdin", "null", "--", "cat"}, o);
    EXPECT_EQ(0, r.code) << Describe(r);
    EXPECT_EQ("", r.out);
    r = Run({"run", "--capture", "--stdin", "-", "--", "cat"}, o);
    EXPECT_EQ("inherited\n", r.out) << Describe(r);
    r = Run({"run", "--capture", "--", "cat"}, o);
    EXPECT_EQ("inherited\n", r.out) << Describe(r);
}

// ----------------------------------------------------------- containment

TEST_F(PkTest, NoDescendantOutlivesPk) {
    // The program leaves a background grandchild (plain, and one in a new
    // session) and exits when told; pk must take both down before it exits.
    for (const char* backend : {"auto", "pgroup"}) {
        SCOPED_TRACE(backend);
        const std::string gc_file = tmp_.File(std::string("gc-") + backend);
        const std::string go_file = tmp_.File(std::string("go-") + backend);
        std::string script = "sleep 30 & echo $! > " + gc_file + "; while [ ! -e " + go_file +
                             " ]; do sleep 0.02; done";
        Running run = Start({"run", "--backend", backend, "--", "sh", "-c", script});
        pktest::ProcId gc = TrackPidFile(gc_file);
        ASSERT_TRUE(pktest::Alive(gc));
        // While pk runs, its cgroup exists (so the leftover check below means something).
        if (std::string(backend) == "auto")
            EXPECT_FALSE(LeavesOf(run.pid).empty()) << "no processkit-" << run.pid << "-* cgroup while pk runs";
        else
            EXPECT_TRUE(LeavesOf(run.pid).empty());
        ASSERT_TRUE(WriteFile(go_file, ""));
        Result r = Finish(&run);
        EXPECT_EQ(0, r.code) << Describe(r);
        EXPECT_LT(r.elapsed_ms, 10000) << "pk waited for its grandchild";
        EXPECT_TRUE(pktest::WaitDead(gc, 2000)) << "grandchild " << gc.pid << " outlived pk";
    }
}

TEST_F(PkTest, BackgroundGrandchildIsDeadAfterPkExits) {
    const std::string gc_file = tmp_.File("gc.pid");
    Result r = Run({"run", "--", "sh", "-c", "sleep 30 & echo $! > " + gc_file});
    EXPECT_EQ(0, r.code) << Describe(r);
    pid_t gc = pktest::ReadPidFile(gc_file, 1000);
    ASSERT_GT(gc, 0);
    // Dead already, or a zombie (which counts as dead).
    pktest::ProcId id = pktest::Identify(gc);
    EXPECT_TRUE(pktest::WaitDead(id, 2000)) << "grandchild " << gc << " outlived pk";
    if (id.start_time)
        tracked_.push_back(id);
}

TEST_F(PkTest, SetsidEscapeIsContainedByTheCgroup) {
    const std::string gc_file = tmp_.File("gc.pid");
    const std::string go_file = tmp_.File("go");
    std::string script = "setsid sleep 30 & echo $! > " + gc_file + "; while [ ! -e " + go_file +
                         " ]; do sleep 0.02; done";
    Running run = Start({"run", "--", "sh", "-c", script});
    pktest::ProcId gc = TrackPidFile(gc_file);
    ASSERT_TRUE(pktest::Alive(gc));
    ASSERT_TRUE(WriteFile(go_file, ""));
    Result r = Finish(&run);
    EXPECT_EQ(0, r.code) << Describe(r);
    EXPECT_TRUE(pktest::WaitDead(gc, 2000)) << "setsid grandchild outlived pk";
}

// ------------------------------------------------------ signal forwarding

// Starts pk --json on a script that records its own pid and a TERM-ignoring
// grandchild's pid, then prints "ready" and loops.
struct Forwarded {
    Running run;
    pktest::ProcId main, gc;
};

class PkSignalTest : public PkTest {
  protected:
    Forwarded StartLooping(const std::string& traps, const std::vector<std::string>& extra_opts) {
        Forwarded f;
        const std::string main_file = tmp_.File("main.pid"), gc_file = tmp_.File("gc.pid");
        unlink(main_file.c_str());
        unlink(gc_file.c_str());
        std::string script = traps + "; echo $$ > " + main_file + "; (trap '' TERM INT HUP; exec sleep 30) & echo $! > " +
                             gc_file + "; echo ready; while :; do sleep 0.1; done";
        std::vector<std::string> args = {"run", "--json"};
        args.insert(args.end(), extra_opts.begin(), extra_opts.end());
        args.insert(args.end(), {"--", "sh", "-c", script});
        f.run = Start(args);
        EXPECT_TRUE(WaitForStdout(&f.run, "ready\n")) << "no ready line; stdout: " << f.run.out;
        f.main = TrackPidFile(main_file);
        f.gc = TrackPidFile(gc_file);
        EXPECT_TRUE(pktest::Alive(f.main));
        EXPECT_TRUE(pktest::Alive(f.gc));
        return f;
    }

    void ExpectTreeDead(const Forwarded& f) {
        EXPECT_TRUE(pktest::WaitDead(f.main, 2000)) << "the program outlived pk";
        EXPECT_TRUE(pktest::WaitDead(f.gc, 2000)) << "a signal-ignoring grandchild outlived pk";
    }
};

TEST_F(PkSignalTest, TermIsForwardedAndAHandlingChildExitsCleanly) {
    for (const char* backend : {"auto", "pgroup"}) {
        SCOPED_TRACE(backend);
        Forwarded f = StartLooping("trap 'exit 0' TERM", {"--grace", "5s", "--backend", backend});
        auto sent = Clock::now();
        ASSERT_EQ(0, kill(f.run.pid, SIGTERM));
        Result r = Finish(&f.run);
        EXPECT_EQ(0, r.code) << Describe(r);
        EXPECT_EQ(0, r.signal) << "pk itself died of the signal";
        EXPECT_LT(MsSince(sent), 4000) << "pk waited out the grace although the program had exited";
        Json j;
        ASSERT_TRUE(LastLineJson(r.out, &j));
        EXPECT_EQ("exited", Str(j, "outcome"));
        EXPECT_EQ(0, Int(j, "exit_code"));
        ExpectTreeDead(f);
    }
}

TEST_F(PkSignalTest, TermIgnoredIsFollowedByKillAfterGrace) {
    Forwarded f = StartLooping("trap '' TERM", {"--grace", "300ms"});
    auto sent = Clock::now();
    ASSERT_EQ(0, kill(f.run.pid, SIGTERM));
    Result r = Finish(&f.run);
    EXPECT_EQ(128 + SIGTERM, r.code) << Describe(r);
    int64_t took = MsSince(sent);
    EXPECT_GE(took, 250) << "pk did not give the grace period";
    EXPECT_LT(took, 4000) << "pk did not tear down after the grace";
    Json j;
    ASSERT_TRUE(LastLineJson(r.out, &j));
    ExpectRunReportShape(j, false);
    EXPECT_EQ("cancelled", Str(j, "outcome"));
    ExpectTreeDead(f);
}

TEST_F(PkSignalTest, TermKillsADefaultChild) {
    Forwarded f = StartLooping(":", {"--grace", "5s"});
    ASSERT_EQ(0, kill(f.run.pid, SIGTERM));
    Result r = Finish(&f.run);
    EXPECT_EQ(128 + SIGTERM, r.code) << Describe(r);
    EXPECT_LT(r.elapsed_ms, 5000);
    Json j;
    ASSERT_TRUE(LastLineJson(r.out, &j));
    EXPECT_EQ("signalled", Str(j, "outcome"));
    EXPECT_EQ(SIGTERM, Int(j, "signal"));
    ExpectTreeDead(f);
}

TEST_F(PkSignalTest, HupAndIntAreForwarded) {
    const struct {
        int sig;
        const char* trap;
        int code;
    } cases[] = {{SIGHUP, "trap 'exit 7' HUP", 7}, {SIGINT, "trap 'exit 5' INT", 5}};
    for (const auto& c : cases) {
        SCOPED_TRACE(c.sig);
        Forwarded f = StartLooping(c.trap, {"--grace", "5s"});
        auto sent = Clock::now();
        ASSERT_EQ(0, kill(f.run.pid, c.sig));
        Result r = Finish(&f.run);
        EXPECT_EQ(c.code, r.code) << Describe(r);
        EXPECT_LT(MsSince(sent), 4000);
        ExpectTreeDead(f);
    }
}

// ------------------------------------------------------------------ probe

TEST_F(PkTest, ProbeJson) {
    Result r = Run({"probe", "--json"});
    ASSERT_EQ(0, r.code) << Describe(r);
    EXPECT_EQ("", r.err);
    Json j;
    ASSERT_TRUE(LastLineJson(r.out, &j));
    EXPECT_EQ(r.out, LastLine(r.out) + "\n");
    const std::string mount = pktest::CgroupMount();
    ASSERT_FALSE(mount.empty()) << "this test expects a cgroup2 mount";
    EXPECT_EQ("cgroup-v2", Str(j, "mechanism"));
    EXPECT_EQ(mount, Str(j, "cgroup2_mount"));
    EXPECT_EQ("/sys/fs/cgroup/unified", mount) << "(the host this suite was written for)";

    const Json* backends = j.Find("backends");
    ASSERT_TRUE(backends && backends->type == Json::kArray);
    std::set<std::string> names;
    for (const Json& b : backends->items) {
        ASSERT_EQ(Json::kObject, b.type);
        std::string name = Str(b, "name");
        names.insert(name);
        EXPECT_NE(-1, Bool(b, "available")) << name;
        const Json* reason = b.Find("reason");
        EXPECT_TRUE(reason && reason->type == Json::kString) << name;
        if (name == "cgroup-v2" || name == "process-group") {
            EXPECT_EQ(1, Bool(b, "available")) << name;
        }
        if (name == "job-object") {
            EXPECT_EQ(0, Bool(b, "available"));
            EXPECT_NE("", Str(b, "reason")) << "an unavailable backend needs a reason";
        }
    }
    EXPECT_EQ((std::set<std::string>{"cgroup-v2", "process-group", "job-object"}), names);

    const Json* limits = j.Find("limits");
    ASSERT_TRUE(limits && limits->type == Json::kObject);
    for (const char* c : {"memory", "pids", "cpu"}) {
        EXPECT_NE(-1, Bool(*limits, c)) << c;
        if (!HostHasController(c)) {
            EXPECT_EQ(0, Bool(*limits, c)) << c << " reported enforceable without the controller";
        }
    }
}

TEST_F(PkTest, ProbeText) {
    Result r = Run({"probe"});
    EXPECT_EQ(0, r.code) << Describe(r);
    EXPECT_NE(std::string::npos, r.out.find("mechanism: cgroup-v2")) << r.out;
    EXPECT_NE(std::string::npos, r.out.find("cgroup2 mount: " + pktest::CgroupMount())) << r.out;
}


// ======================================================================
// The higher layers through pk: `pk pipe`, `pk run --pty`, readiness
// (--ready-line, --ready-port), `pk run --retry` and `pk supervise`.

// The lines of a file (0 if it does not exist).
int CountLines(const std::string& path) {
    std::string text = ReadText(path);
    int n = 0;
    for (char c : text)
        n += c == '\n';
    return n;
}

bool Contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

// A TCP port on 127.0.0.1 that was free a moment ago (0 if none).
int FreePort() {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    int port = 0;
    if (bind(fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) == 0 &&
        getsockname(fd, reinterpret_cast<struct sockaddr*>(&addr), &len) == 0)
        port = ntohs(addr.sin_port);
    close(fd);
    return port;
}

using PkLayersTest = PkTest;

// ------------------------------------------------------------------ pipe

TEST_F(PkLayersTest, PipeRunsStagesThroughPipes) {
    Result r = Run({"pipe", "--", "printf", "b\\na\\n", "|", "sort"});
    EXPECT_EQ(0, r.code) << Describe(r);
    EXPECT_EQ("a\nb\n", r.out);
    EXPECT_EQ("", r.err);
    // Three stages; the first reads pk's stdin.
    const std::string in = tmp_.File("in.txt");
    ASSERT_TRUE(WriteFile(in, "c\nb\na\n"));
    RunOpts o;
    o.stdin_path = in;
    r = Run({"pipe", "--", "sort", "|", "head", "-n", "2", "|", "tr", "a-z", "A-Z"}, o);
    EXPECT_EQ(0, r.code) << Describe(r);
    EXPECT_EQ("A\nB\n", r.out);
}

TEST_F(PkLayersTest, PipeStatusIsTheFirstFailedStages) {
    Result r = Run({"pipe", "--", "printf", "x\\n", "|", "sh", "-c", "cat >/dev/null; exit 3", "|", "cat"});
    EXPECT_EQ(3, r.code) << Describe(r);
    // The first failure wins over a later one, and over the last stage's success.
    r = Run({"pipe", "--", "sh", "-c", "exit 2", "|", "sh", "-c", "cat; exit 5", "|", "true"});
    EXPECT_EQ(2, r.code) << Describe(r);
    // A stage killed by a signal other than SIGPIPE: 128+N.
    r = Run({"pipe", "--", "true", "|", "sh", "-c", "kill -9 $$"});
    EXPECT_EQ(128 + 9, r.code) << Describe(r);
}

TEST_F(PkLayersTest, PipeProducerKilledBySigpipeIsNotAFailure) {
    Result r = Run({"pipe", "--", "yes", "|", "head", "-n1"});
    EXPECT_EQ(0, r.code) << Describe(r);
    EXPECT_EQ("y\n", r.out);
}

TEST_F(PkLayersTest, PipeTimeoutExits124AndLeavesNothing) {
    Result r = Run({"pipe", "--timeout", "300ms", "--", "sleep", "10", "|", "sleep", "10"});
    EXPECT_EQ(124, r.code) << Describe(r);
    EXPECT_GE(r.elapsed_ms, 250);
    EXPECT_LT(r.elapsed_ms, 5000) << "the timeout did not cut the pipeline short";

    // Every stage's tree goes, a TERM-ignoring grandchild included (after the grace).
    const std::string a = tmp_.File("a.pid"), gc = tmp_.File("gc.pid");
    Running run = Start({"pipe", "--timeout", "300ms", "--grace", "200ms", "--", "sh", "-c",
                         "echo $$ > " + a + "; exec sleep 10", "|", "sh", "-c",
                         "(trap '' TERM; exec sleep 30) & echo $! > " + gc + "; wait"});
    pktest::ProcId first = TrackPidFile(a), grandchild = TrackPidFile(gc);
    r = Finish(&run);
    EXPECT_EQ(124, r.code) << Describe(r);
    EXPECT_LT(r.elapsed_ms, 5000);
    EXPECT_TRUE(pktest::WaitDead(first, 2000)) << "a stage outlived pk";
    EXPECT_TRUE(pktest::WaitDead(grandchild, 2000)) << "a stage's TERM-ignoring grandchild outlived pk";
}

TEST_F(PkLayersTest, PipeJsonHasStagesAndTheFailedStage) {
    Result r = Run({"pipe", "--json", "--", "printf", "x\\n", "|", "sh", "-c", "cat; exit 3", "|", "cat"});
    EXPECT_EQ(3, r.code) << Describe(r);
    EXPECT_TRUE(StartsWith(r.out, "x\n")) << r.out;
    Json j;
    ASSERT_TRUE(LastLineJson(r.out, &j));
    ExpectRunReportShape(j, false);
    EXPECT_EQ("exited", Str(j, "outcome"));
    EXPECT_EQ(3, Int(j, "exit_code"));
    EXPECT_EQ(1, Int(j, "failed_stage"));
    const Json* stages = j.Find("stages");
    ASSERT_TRUE(stages && stages->type == Json::kArray);
    ASSERT_EQ(3u, stages->items.size());
    const int codes[] = {0, 3, 0};
    for (size_t i = 0; i < 3; i++) {
        const Json& st = stages->items[i];
        ASSERT_EQ(Json::kObject, st.type);
        EXPECT_EQ("exited", Str(st, "outcome")) << i;
        EXPECT_EQ(codes[i], Int(st, "exit_code")) << i;
        EXPECT_TRUE(IsNull(st, "signal")) << i;
    }

    // SIGPIPE'd producer: the stage says so, the pipeline has no failed stage.
    r = Run({"pipe", "--json", "--capture", "--", "yes", "|", "head", "-n1"});
    EXPECT_EQ(0, r.code) << Describe(r);
    ASSERT_TRUE(LastLineJson(r.out, &j));
    ExpectRunReportShape(j, true);
    EXPECT_EQ(r.out, LastLine(r.out) + "\n") << "captured output also passed through";
    EXPECT_EQ("y\n", Str(j, "stdout"));
    EXPECT_TRUE(IsNull(j, "failed_stage"));
    stages = j.Find("stages");
    ASSERT_TRUE(stages && stages->type == Json::kArray);
    ASSERT_EQ(2u, stages->items.size());
    EXPECT_EQ("signalled", Str(stages->items[0], "outcome"));
    EXPECT_EQ(SIGPIPE, Int(stages->items[0], "signal"));
    EXPECT_TRUE(IsNull(stages->items[0], "exit_code"));
    EXPECT_EQ(0, Int(stages->items[1], "exit_code"));

    r = Run({"pipe", "--json", "--timeout", "200ms", "--", "sleep", "10", "|", "cat"});
    EXPECT_EQ(124, r.code) << Describe(r);
    ASSERT_TRUE(LastLineJson(r.out, &j));
    EXPECT_EQ("timed_out", Str(j, "outcome"));
}

TEST_F(PkLayersTest, PipeErrors) {
    const std::string marker = tmp_.File("ran");
    const std::string prog = "touch " + marker;
    const std::vector<std::vector<std::string>> cases = {
        {"pipe"},
        {"pipe", "--"},
        {"pipe", "--", "|", "sh", "-c", prog},
        {"pipe", "--", "sh", "-c", prog, "|"},
        {"pipe", "--", "sh", "-c", prog, "|", "|", "cat"},
        {"pipe", "--pty", "--", "sh", "-c", prog},
        {"pipe", "--retry", "2", "--", "sh", "-c", prog},
        {"pipe", "--timeout", "x", "--", "sh", "-c", prog},
        {"pipe", "--", "sh", "-c", prog, "|", ""},
    };
    for (const auto& args : cases) {
        std::string shown;
        for (const auto& a : args)
            shown += "'" + a + "' ";
        SCOPED_TRACE("pk " + shown);
        Result r = Run(args);
        ExpectPkError(r, 125);
        EXPECT_FALSE(PathExists(marker)) << "a stage ran despite the error";
        unlink(marker.c_str());
    }
    Result r = Run({"pipe", "--", "true", "|", "pktest-no-such-program"});
    ExpectPkError(r, 127);
}

TEST_F(PkLayersTest, PipeSignalStopsEveryStage) {
    const std::string a = tmp_.File("a.pid"), b = tmp_.File("b.pid");
    Running run = Start({"pipe", "--", "sh", "-c", "echo $$ > " + a + "; exec sleep 30", "|", "sh", "-c",
                         "echo $$ > " + b + "; exec sleep 30"});
    pktest::ProcId first = TrackPidFile(a), second = TrackPidFile(b);
    EXPECT_TRUE(pktest::Alive(first) && pktest::Alive(second));
    ASSERT_EQ(0, kill(run.pid, SIGTERM));
    Result r = Finish(&run);
    EXPECT_EQ(128 + SIGTERM, r.code) << Describe(r);
    EXPECT_LT(r.elapsed_ms, 10000);
    EXPECT_TRUE(pktest::WaitDead(first, 2000));
    EXPECT_TRUE(pktest::WaitDead(second, 2000));
}

TEST_F(PkLayersTest, PipeSignalAfterTheFirstStageEndedStillStops) {
    // The producer is gone; the consumer runs on. The signal must still end it.
    const std::string b = tmp_.File("b.pid");
    Running run = Start({"pipe", "--", "echo", "x", "|", "sh", "-c",
                         "cat >/dev/null; echo $$ > " + b + "; exec sleep 30"});
    pktest::ProcId consumer = TrackPidFile(b);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the producer is reaped
    auto sent = Clock::now();
    ASSERT_EQ(0, kill(run.pid, SIGTERM));
    Result r = Finish(&run);
    EXPECT_EQ(128 + SIGTERM, r.code) << Describe(r);
    EXPECT_LT(MsSince(sent), 5000) << "the signal was not acted on until the pipeline ended by itself";
    EXPECT_TRUE(pktest::WaitDead(consumer, 2000));
}

// ------------------------------------------------------------------- pty

TEST_F(PkLayersTest, PtyRunsOnATerminal) {
    Result r = Run({"run", "--pty", "--", "sh", "-c", "test -t 0 && test -t 1 && echo tty"});
    EXPECT_EQ(0, r.code) << Describe(r);
    EXPECT_TRUE(Contains(r.out, "tty")) << r.out;
    // pk itself has no terminal here: 24 x 80.
    r = Run({"run", "--pty", "--", "stty", "size"});
    EXPECT_EQ(0, r.code) << Describe(r);
    EXPECT_EQ("24 80\r\n", r.out);
    // The exit status passes through, and --json follows the terminal's output.
    r = Run({"run", "--pty", "--json", "--", "sh", "-c", "printf partial; exit 3"});
    EXPECT_EQ(3, r.code) << Describe(r);
    Json j;
    ASSERT_TRUE(LastLineJson(r.out, &j));
    EXPECT_TRUE(StartsWith(r.out, "partial\n{")) << r.out;
    // --capture keeps the terminal's output for after the run.
    r = Run({"run", "--pty", "--capture", "--json", "--", "sh", "-c", "echo on-tty"});
    EXPECT_EQ(0, r.code) << Describe(r);
    ASSERT_TRUE(LastLineJson(r.out, &j));
    EXPECT_EQ("on-tty\r\n", Str(j, "stdout"));
}

TEST_F(PkLayersTest, PtyInputIsTypedIntoTheTerminal) {
    const std::string in = tmp_.File("in.txt");
    ASSERT_TRUE(WriteFile(in, "hello\n"));
    RunOpts o;
    o.stdin_path = in;  // pk's own stdin
    Result r = Run({"run", "--pty", "--", "sh", "-c", "read line; echo \"got:$line\""}, o);
    EXPECT_EQ(0, r.code) << Describe(r);
    EXPECT_TRUE(Contains(r.out, "got:hello\r\n")) << r.out;
    // --stdin FILE works the same; at its end the program sees end of input.
    r = Run({"run", "--pty", "--stdin", in, "--", "sh", "-c", "while read l; do echo \"[$l]\"; done; echo eof"});
    EXPECT_EQ(0, r.code) << Describe(r);
    EXPECT_TRUE(Contains(r.out, "[hello]\r\n")) << r.out;
    EXPECT_TRUE(Contains(r.out, "eof\r\n")) << r.out;
}

// ------------------------------------------------------------- readiness

TEST_F(PkLayersTest, ReadyLineReportsReadinessAndKeepsRunning) {
    Result r = Run({"run", "--ready-line", "listen(ing)?$", "--", "sh", "-c",
                    "echo starting; echo warn >&2; sleep 0.3; echo listening; sleep 0.2; printf tail"});
    EXPECT_EQ(0, r.code) << Describe(r);
    EXPECT_TRUE(Contains(r.err, "pk: ready\n")) << r.err;
    EXPECT_TRUE(Contains(r.err, "warn\n")) << "stderr not passed through: " << r.err;
    // Passed through line by line: a last line without a newline gains one.
    EXPECT_EQ("starting\nlistening\ntail\n", r.out) << "stdout not passed through";
    EXPECT_GE(r.elapsed_ms, 450) << "pk did not keep running after ready";
    // A line on stderr counts too; the exit status is the program's.
    r = Run({"run", "--ready-line", "^up", "--", "sh", "-c", "echo up >&2; sleep 0.1; exit 4"});
    EXPECT_EQ(4, r.code) << Describe(r);
    EXPECT_TRUE(Contains(r.err, "pk: ready\n")) << r.err;
    // With --capture and --json the lines are still watched.
    r = Run({"run", "--capture", "--json", "--ready-line", "ok", "--", "sh", "-c", "echo ok; echo more"});
    EXPECT_EQ(0, r.code) << Describe(r);
    EXPECT_TRUE(Contains(r.err, "pk: ready\n")) << r.err;
    Json j;
    ASSERT_TRUE(LastLineJson(r.out, &j));
    EXPECT_EQ("ok\nmore\n", Str(j, "stdout"));
}

TEST_F(PkLayersTest, NeverReadyExits125AndLeavesNothing) {
    const std::string main_file = tmp_.File("main.pid"), gc_file = tmp_.File("gc.pid");
    Running run = Start({"run", "--ready-line", "listening", "--ready-timeout", "500ms", "--", "sh", "-c",
                         "echo $$ > " + main_file + "; sleep 30 & echo $! > " + gc_file + "; echo booting; wait"});
    pktest::ProcId main_proc = TrackPidFile(main_file), gc = TrackPidFile(gc_file);
    Result r = Finish(&run);
    ExpectPkError(r, 125);
    EXPECT_TRUE(Contains(r.err, "pk: not ready: ")) << r.err;
    EXPECT_TRUE(Contains(r.err, "booting")) << "the message should show the last lines seen: " << r.err;
    EXPECT_GE(r.elapsed_ms, 400);
    EXPECT_LT(r.elapsed_ms, 5000);
    EXPECT_TRUE(pktest::WaitDead(main_proc, 2000)) << "the program survived";
    EXPECT_TRUE(pktest::WaitDead(gc, 2000)) << "a grandchild survived";

    // Ending before ready is not being ready either.
    r = Run({"run", "--ready-line", "listening", "--", "sh", "-c", "echo bye"});
    ExpectPkError(r, 125);
    EXPECT_TRUE(Contains(r.err, "not ready")) << r.err;
}

TEST_F(PkLayersTest, ReadyPortWaitsForAListener) {
    const char* python = "/usr/bin/python3";
    if (access(python, X_OK) != 0)
        GTEST_SKIP() << "no " << python;
    int port = FreePort();
    ASSERT_GT(port, 0);
    const std::string server =
        "import socket, time\n"
        "time.sleep(0.3)\n"
        "s = socket.socket()\n"
        "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        "s.bind(('127.0.0.1', " + std::to_string(port) + "))\n"
        "s.listen(1)\n"
        "c, _ = s.accept()\n"
        "c.close()\n"
        "print('served', flush=True)\n";
    Result r = Run({"run", "--ready-port", std::to_string(port), "--ready-timeout", "10s", "--", python, "-c",
                    server});
    EXPECT_EQ(0, r.code) << Describe(r);
    EXPECT_TRUE(Contains(r.err, "pk: ready\n")) << r.err;
    EXPECT_EQ("served\n", r.out);

    // Nobody listens: not ready.
    r = Run({"run", "--ready-port", std::to_string(port), "--ready-timeout", "300ms", "--", "sleep", "10"});
    ExpectPkError(r, 125);
    EXPECT_TRUE(Contains(r.err, "pk: not ready: ")) << r.err;
    EXPECT_LT(r.elapsed_ms, 5000);
}

TEST_F(PkLayersTest, SignalDuringTheReadinessWaitIsForwarded) {
    Running run = Start({"run", "--ready-line", "never", "--", "sh", "-c", "echo waiting; sleep 30"});
    EXPECT_TRUE(WaitForStdout(&run, "waiting\n", 5000)) << "the line did not come through while waiting";
    ASSERT_EQ(0, kill(run.pid, SIGINT));
    Result r = Finish(&run);
    EXPECT_EQ(128 + SIGINT, r.code) << Describe(r);
    EXPECT_FALSE(Contains(r.err, "not ready")) << r.err;
    EXPECT_LT(r.elapsed_ms, 10000);
}

// ------------------------------------------------------------------ retry

TEST_F(PkLayersTest, RetryRunsUntilSuccess) {
    const std::string count = tmp_.File("count");
    Result r = Run({"run", "--retry", "3", "--retry-backoff", "50ms", "--", "sh", "-c",
                    "echo x >> " + count + "; [ $(wc -l < " + count + ") -ge 3 ]"});
    EXPECT_EQ(0, r.code) << Describe(r);
    EXPECT_EQ(3, CountLines(count));
    EXPECT_TRUE(Contains(r.err, "pk: attempt 1 of 3 exited with code 1; retrying\n")) << r.err;
    EXPECT_TRUE(Contains(r.err, "pk: attempt 2 of 3 exited with code 1; retrying\n")) << r.err;
}

TEST_F(PkLayersTest, RetryGivesUpWithTheLastAttemptsStatus) {
    const std::string count = tmp_.File("count");
    Result r = Run({"run", "--json", "--retry", "2", "--retry-backoff", "10ms", "--", "sh", "-c",
                    "echo x >> " + count + "; printf out; exit 4"});
    EXPECT_EQ(4, r.code) << Describe(r);
    EXPECT_EQ(2, CountLines(count));
    Json j;
    ASSERT_TRUE(LastLineJson(r.out, &j));
    ExpectRunReportShape(j, false);
    EXPECT_EQ(2, Int(j, "attempts"));
    EXPECT_EQ(4, Int(j, "exit_code"));
    // Timeouts are retried too.
    r = Run({"run", "--retry", "2", "--retry-backoff", "10ms", "--timeout", "100ms", "--", "sleep", "10"});
    EXPECT_EQ(124, r.code) << Describe(r);
    EXPECT_TRUE(Contains(r.err, "attempt 1 of 2 timed out")) << r.err;
    // A program that is not there is not retried.
    r = Run({"run", "--retry", "3", "--", "pktest-no-such-program"});
    ExpectPkError(r, 127);
}

TEST_F(PkLayersTest, RetryStopsOnASignal) {
    const std::string count = tmp_.File("count");
    Running run = Start({"run", "--retry", "5", "--retry-backoff", "5s", "--", "sh", "-c",
                         "echo x >> " + count + "; exit 1"});
    auto end = Clock::now() + std::chrono::seconds(10);
    while (CountLines(count) < 1 && Clock::now() < end)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // most likely into the backoff
    // Full jitter can make a backoff short, so an attempt may have started by
    // now; what must hold is that none starts after the signal.
    const int at_kill = CountLines(count);
    ASSERT_EQ(0, kill(run.pid, SIGTERM));
    Result r = Finish(&run);
    EXPECT_EQ(128 + SIGTERM, r.code) << Describe(r);
    EXPECT_LT(r.elapsed_ms, 4000) << "pk waited out the backoff";
    EXPECT_LE(CountLines(count), at_kill + 1) << "attempts went on after the signal";
}

TEST_F(PkLayersTest, OptionsThatDoNotCombineAreErrors) {
    const std::string marker = tmp_.File("ran");
    const std::string prog = "touch " + marker;
    const std::vector<std::vector<std::string>> cases = {
        {"run", "--retry", "2", "--pty", "--", "sh", "-c", prog},
        {"run", "--retry", "2", "--ready-line", "x", "--", "sh", "-c", prog},
        {"run", "--retry", "2", "--ready-port", "8080", "--", "sh", "-c", prog},
        {"run", "--retry", "0", "--", "sh", "-c", prog},
        {"run", "--retry-backoff", "1s", "--", "sh", "-c", prog},
        {"run", "--ready-timeout", "1s", "--", "sh", "-c", prog},
        {"run", "--ready-line", "(", "--", "sh", "-c", prog},
        {"run", "--ready-port", "0", "--", "sh", "-c", prog},
        {"run", "--ready-port", "70000", "--", "sh", "-c", prog},
        {"run", "--pty=1", "--", "sh", "-c", prog},
        {"run", "--restart", "always", "--", "sh", "-c", prog},
        {"supervise", "--window", "1s", "--", "sh", "-c", prog},
        {"supervise", "--restart", "sometimes", "--", "sh", "-c", prog},
        {"supervise", "--max-restarts", "0", "--", "sh", "-c", prog},
        {"supervise", "--capture", "--", "sh", "-c", prog},
        {"supervise", "--json", "--", "sh", "-c", prog},
        {"supervise"},
    };
    for (const auto& args : cases) {
        std::string shown;
        for (const auto& a : args)
            shown += "'" + a + "' ";
        SCOPED_TRACE("pk " + shown);
        Result r = Run(args);
        ExpectPkError(r, 125);
        EXPECT_FALSE(PathExists(marker)) << "the program ran despite the error";
        unlink(marker.c_str());
    }
}

// -------------------------------------------------------------- supervise

TEST_F(PkLayersTest, SuperviseRestartsOnFailureUpToTheCap) {
    const std::string count = tmp_.File("count");
    Result r = Run({"supervise", "--restart", "on-failure", "--max-restarts", "2", "--", "sh", "-c",
                    "echo x >> " + count + "; exit 3"});
    EXPECT_EQ(3, r.code) << Describe(r);
    EXPECT_EQ(3, CountLines(count));
    for (const char* line : {"pk: started (run 1)\n", "pk: started (run 2)\n", "pk: started (run 3)\n",
                             "pk: exited with code 3\n", "pk: restarting in ", "pk: gave up after 2 restarts\n"})
        EXPECT_TRUE(Contains(r.err, line)) << "missing '" << line << "' in:\n" << r.err;
    EXPECT_FALSE(Contains(r.err, "(run 4)")) << r.err;
}

TEST_F(PkLayersTest, SuperviseStormGuardGivesUp) {
    const std::string count = tmp_.File("count");
    Result r = Run({"supervise", "--max-restarts", "3", "--window", "10s", "--", "sh", "-c",
                    "echo x >> " + count + "; exit 1"});
    EXPECT_EQ(1, r.code) << Describe(r);
    EXPECT_TRUE(Contains(r.err, "pk: gave up after 3 restarts\n")) << r.err;
    EXPECT_EQ(4, CountLines(count)) << "3 restarts within the window: 4 runs";
}

TEST_F(PkLayersTest, SupervisePolicies) {
    // Success ends on-failure supervision at once.
    const std::string count = tmp_.File("count");
    Result r = Run({"supervise", "--", "sh", "-c", "echo x >> " + count});
    EXPECT_EQ(0, r.code) << Describe(r);
    EXPECT_EQ(1, CountLines(count));
    EXPECT_FALSE(Contains(r.err, "restarting")) << r.err;
    // always restarts after success too.
    const std::string count2 = tmp_.File("count2");
    r = Run({"supervise", "--restart", "always", "--max-restarts", "2", "--backoff", "10ms", "--", "sh", "-c",
             "echo x >> " + count2});
    EXPECT_EQ(0, r.code) << Describe(r);
    EXPECT_EQ(3, CountLines(count2));
    // never: one run, its status; a signal's status is 128+N.
    r = Run({"supervise", "--restart", "never", "--", "sh", "-c", "kill -9 $$"});
    EXPECT_EQ(128 + 9, r.code) << Describe(r);
    EXPECT_TRUE(Contains(r.err, "pk: killed by signal 9 (KILL)\n")) << r.err;
    r = Run({"supervise", "--", "pktest-no-such-program"});
    ExpectPkError(r, 127);
}

TEST_F(PkLayersTest, SigtermStopsSupervisionAndTheTree) {
    const std::string main_file = tmp_.File("main.pid"), gc_file = tmp_.File("gc.pid");
    Running run = Start({"supervise", "--restart", "always", "--", "sh", "-c",
                         "echo $$ > " + main_file + "; sleep 30 & echo $! > " + gc_file + "; wait"});
    pktest::ProcId main_proc = TrackPidFile(main_file), gc = TrackPidFile(gc_file);
    EXPECT_TRUE(pktest::Alive(main_proc) && pktest::Alive(gc));
    auto sent = Clock::now();
    ASSERT_EQ(0, kill(run.pid, SIGTERM));
    Result r = Finish(&run);
    EXPECT_EQ(128 + SIGTERM, r.code) << Describe(r);
    EXPECT_LT(MsSince(sent), 5000);
    EXPECT_TRUE(Contains(r.err, "pk: stopped\n")) << r.err;
    EXPECT_FALSE(Contains(r.err, "(run 2)")) << "restarted after the stop: " << r.err;
    EXPECT_TRUE(pktest::WaitDead(main_proc, 2000)) << "the supervised program survived";
    EXPECT_TRUE(pktest::WaitDead(gc, 2000)) << "its grandchild survived";

    // A TERM-ignoring tree is killed after the stop's grace.
    unlink(main_file.c_str());
    unlink(gc_file.c_str());
    run = Start({"supervise", "--", "sh", "-c",
                 "trap '' TERM; echo $$ > " + main_file + "; (trap '' TERM; exec sleep 30) & echo $! > " + gc_file +
                     "; while :; do sleep 0.1; done"});
    main_proc = TrackPidFile(main_file);
    gc = TrackPidFile(gc_file);
    ASSERT_EQ(0, kill(run.pid, SIGTERM));
    r = Finish(&run);
    EXPECT_EQ(128 + SIGTERM, r.code) << Describe(r);
    EXPECT_TRUE(pktest::WaitDead(main_proc, 2000));
    EXPECT_TRUE(pktest::WaitDead(gc, 2000));
}

TEST_F(PkLayersTest, HelpMentionsTheNewSubcommands) {
    Result r = Run({"--help"});
    EXPECT_EQ(0, r.code) << Describe(r);
    for (const char* word : {"pk pipe", "pk supervise", "--pty", "--ready-line", "--retry", "--max-restarts"})
        EXPECT_TRUE(Contains(r.out, word)) << word;
    r = Run({"supervise", "--help"});
    EXPECT_EQ(0, r.code) << Describe(r);
    r = Run({"pipe", "--help"});
    EXPECT_EQ(0, r.code) << Describe(r);
}

}  // namespace
