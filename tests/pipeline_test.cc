// Pipelines (pk_pipeline_*) with real processes: stages joined by pipes in
// one group, pipefail attribution, SIGPIPE, timeouts and cancellation.
#include "support/layers_fixture.h"

namespace {

using namespace layers;
using Pipelines = Layers;


TEST_F(Pipelines, PipelineThreeStages) {
    Cmd a = NewCmd({"printf", "b\\na\\nc\\n"});
    Cmd b = NewCmd({"sort"});
    Cmd c = NewCmd({"tr", "a-z", "A-Z"});
    ASSERT_TRUE(a && b && c);
    Pipeline pl = NewPipeline();
    ASSERT_TRUE(pl);
    ASSERT_PK_OK(pk_pipeline_add(pl.get(), a.get(), 0));
    ASSERT_PK_OK(pk_pipeline_add(pl.get(), b.get(), 0));
    ASSERT_PK_OK(pk_pipeline_add(pl.get(), c.get(), 0));
    Ran ran = RunPipeline(pl.get());
    ASSERT_RAN(ran);
    EXPECT_EQ("A\nB\nC\n", ran.out);
    EXPECT_EQ("", ran.err);
    EXPECT_EQ(1, ran.info.success);
    EXPECT_EQ(PK_OUTCOME_EXITED, ran.info.outcome);
    EXPECT_EQ(0, ran.info.exit_code);
    EXPECT_EQ(3u, ran.info.stage_count);
    EXPECT_EQ(-1, ran.info.failed_stage);
    EXPECT_EQ(PK_OK, ran.check) << ran.check_msg;
    EXPECT_EQ(6u, ran.info.stdout_bytes);
    ASSERT_EQ(3u, ran.stages.size());
    for (size_t i = 0; i < 3; i++) {
        EXPECT_EQ(PK_OUTCOME_EXITED, ran.stages[i].outcome) << "stage " << i;
        EXPECT_EQ(0, ran.stages[i].exit_code) << "stage " << i;
        EXPECT_EQ(1, ran.stages[i].success) << "stage " << i;
        EXPECT_GT(ran.stages[i].pid, 0) << "stage " << i;
    }
    EXPECT_NE(ran.stages[0].pid, ran.stages[1].pid);
    EXPECT_NE(ran.stages[1].pid, ran.stages[2].pid);
    // The whole pipeline shares one group: the mechanism of the host's auto pick.
    if (HostHasCgroupV2())
        EXPECT_EQ(PK_MECHANISM_CGROUP_V2, ran.info.mechanism);

    // The pipeline is reusable: a second run gives the same.
    Ran again = RunPipeline(pl.get());
    ASSERT_RAN(again);
    EXPECT_EQ("A\nB\nC\n", again.out);
    EXPECT_EQ(1, again.info.success);
}

TEST_F(Pipelines, PipelineFailingMiddleStage) {
    Cmd a = NewCmd({"echo", "x"});
    Cmd b = Sh("cat; echo mid-failed >&2; exit 4");
    Cmd c = NewCmd({"cat"});
    ASSERT_TRUE(a && b && c);
    Pipeline pl = NewPipeline();
    ASSERT_PK_OK(pk_pipeline_add(pl.get(), a.get(), 0));
    ASSERT_PK_OK(pk_pipeline_add(pl.get(), b.get(), 0));
    ASSERT_PK_OK(pk_pipeline_add(pl.get(), c.get(), 0));
    Ran ran = RunPipeline(pl.get());
    ASSERT_RAN(ran);
    EXPECT_EQ("x\n", ran.out);  // the last stage still got the data
    EXPECT_EQ(0, ran.info.success);
    EXPECT_EQ(PK_OUTCOME_EXITED, ran.info.outcome);
    EXPECT_EQ(4, ran.info.exit_code);
    EXPECT_EQ(1, ran.info.failed_stage);
    EXPECT_EQ(3u, ran.info.stage_count);
    ASSERT_EQ(3u, ran.stages.size());
    EXPECT_EQ(0, ran.stages[0].exit_code);
    EXPECT_EQ(4, ran.stages[1].exit_code);
    EXPECT_EQ(0, ran.stages[2].exit_code);
    EXPECT_EQ(ran.stages[1].pid, ran.info.pid) << "the outcome is the failed stage's";
    EXPECT_EQ(PK_ERR_FAILED, ran.check);
    EXPECT_TRUE(Contains(ran.check_msg, "stage 2 of 3")) << ran.check_msg;
    EXPECT_TRUE(Contains(ran.check_msg, "code 4")) << ran.check_msg;

    // Pipefail picks the FIRST failing stage.
    Cmd d = Sh("cat; exit 7");
    ASSERT_TRUE(d);
    Pipeline two = NewPipeline();
    ASSERT_PK_OK(pk_pipeline_add(two.get(), a.get(), 0));
    ASSERT_PK_OK(pk_pipeline_add(two.get(), b.get(), 0));
    ASSERT_PK_OK(pk_pipeline_add(two.get(), d.get(), 0));
    ran = RunPipeline(two.get());
    ASSERT_RAN(ran);
    EXPECT_EQ(1, ran.info.failed_stage);
    EXPECT_EQ(4, ran.info.exit_code);
    ASSERT_EQ(3u, ran.stages.size());
    EXPECT_EQ(7, ran.stages[2].exit_code);
}

TEST_F(Pipelines, PipelineSigpipedProducerIsNotAFailureByDefault) {
    struct Producer {
        const char* name;
        std::vector<std::string> argv;
    };
    // yes itself (killed by SIGPIPE), a shell that may exec it, and a shell
    // that surely reports it as exit code 128 + SIGPIPE.
    const Producer producers[] = {
        {"yes", {"yes"}},
        {"sh -c yes", {"sh", "-c", "yes"}},
        {"sh -c 'yes; exit $?'", {"sh", "-c", "yes; exit $?"}},
    };
    for (const Producer& prod : producers) {
        SCOPED_TRACE(prod.name);
        Cmd a = NewCmd(prod.argv);
        Cmd b = NewCmd({"head", "-n", "2"});
        ASSERT_TRUE(a && b);
        Pipeline pl = NewPipeline();
        ASSERT_PK_OK(pk_pipeline_add(pl.get(), a.get(), 0));
        ASSERT_PK_OK(pk_pipeline_add(pl.get(), b.get(), 0));
        Ran ran = RunPipeline(pl.get());
        ASSERT_RAN(ran);
        EXPECT_EQ("y\ny\n", ran.out);
        EXPECT_EQ(1, ran.info.success);
        EXPECT_EQ(-1, ran.info.failed_stage);
        EXPECT_EQ(PK_OK, ran.check) << ran.check_msg;
        ASSERT_EQ(2u, ran.stages.size());
        const pk_run_info& y = ran.stages[0];
        bool sigpiped = (y.outcome == PK_OUTCOME_SIGNALLED && y.signal == SIGPIPE) ||
                        (y.outcome == PK_OUTCOME_EXITED && y.exit_code == 128 + SIGPIPE);
        EXPECT_TRUE(sigpiped) << "producer outcome " << y.outcome << " code " << y.exit_code << " signal "
                              << y.signal;
        EXPECT_EQ(0, y.success);

        // With SIGPIPE_FAILS the same run fails, attributed to the producer.
        ASSERT_PK_OK(pk_pipeline_flags(pl.get(), PK_PIPELINE_SIGPIPE_FAILS));
        ran = RunPipeline(pl.get());
        ASSERT_RAN(ran);
        EXPECT_EQ("y\ny\n", ran.out);
        EXPECT_EQ(0, ran.info.success);
        EXPECT_EQ(0, ran.info.failed_stage);
        EXPECT_EQ(PK_ERR_FAILED, ran.check);
        EXPECT_TRUE(Contains(ran.check_msg, "stage 1 of 2")) << ran.check_msg;
        if (ran.info.outcome == PK_OUTCOME_SIGNALLED)
            EXPECT_EQ(SIGPIPE, ran.info.signal);
        else
            EXPECT_EQ(128 + SIGPIPE, ran.info.exit_code);
        // Flags back to 0: not a failure again.
        ASSERT_PK_OK(pk_pipeline_flags(pl.get(), 0));
        ran = RunPipeline(pl.get());
        ASSERT_RAN(ran);
        EXPECT_EQ(1, ran.info.success);
    }
}

TEST_F(Pipelines, PipelineUncheckedStageDoesNotFail) {
    Cmd a = NewCmd({"echo", "x"});
    Cmd b = Sh("cat; exit 4");
    Cmd c = NewCmd({"cat"});
    ASSERT_TRUE(a && b && c);
    Pipeline pl = NewPipeline();
    ASSERT_PK_OK(pk_pipeline_add(pl.get(), a.get(), 0));
    ASSERT_PK_OK(pk_pipeline_add(pl.get(), b.get(), PK_STAGE_UNCHECKED));
    ASSERT_PK_OK(pk_pipeline_add(pl.get(), c.get(), 0));
    Ran ran = RunPipeline(pl.get());
    ASSERT_RAN(ran);
    EXPECT_EQ("x\n", ran.out);
    EXPECT_EQ(1, ran.info.success);
    EXPECT_EQ(-1, ran.info.failed_stage);
    EXPECT_EQ(PK_OUTCOME_EXITED, ran.info.outcome);
    EXPECT_EQ(0, ran.info.exit_code);
    EXPECT_EQ(PK_OK, ran.check) << ran.check_msg;
    ASSERT_EQ(3u, ran.stages.size());
    EXPECT_EQ(4, ran.stages[1].exit_code) << "the stage info still tells the truth";
    EXPECT_EQ(0, ran.stages[1].success);

    // An unchecked LAST stage too: its own exit code is reported, but no failure.
    Cmd d = Sh("cat >/dev/null; exit 9");
    ASSERT_TRUE(d);
    Pipeline two = NewPipeline();
    ASSERT_PK_OK(pk_pipeline_add(two.get(), a.get(), 0));
    ASSERT_PK_OK(pk_pipeline_add(two.get(), d.get(), PK_STAGE_UNCHECKED));
    ran = RunPipeline(two.get());
    ASSERT_RAN(ran);
    EXPECT_EQ(-1, ran.info.failed_stage);
    EXPECT_EQ(1, ran.info.success);
    EXPECT_EQ(PK_OK, ran.check) << ran.check_msg;
}

// A pipeline run on another thread, so this one can watch its processes.
struct BackgroundPipeline {
    Ran ran;
    int64_t elapsed_ms = -1;
    std::thread thread;
    void Start(pk_pipeline* pl) {
        thread = std::thread([this, pl] {
            auto t0 = Clock::now();
            ran = RunPipeline(pl);
            elapsed_ms = MsSince(t0);
        });
    }
    void Join() {
        if (thread.joinable())
            thread.join();
    }
    ~BackgroundPipeline() { Join(); }
};

TEST_F(Pipelines, PipelineTimeoutTearsDownEveryStage) {
    // Each stage leaves a background grandchild; the middle one ignores
    // SIGTERM (and so does its sleep, which inherits the disposition), so
    // only the SIGKILL after the grace ends it.
    std::vector<Cmd> cmds;
    cmds.push_back(Sh("sleep 30 & echo $! > " + tmp_.File("F1") + "; wait"));
    cmds.push_back(Sh("trap '' TERM; sleep 30 & echo $! > " + tmp_.File("F2") + "; wait; wait"));
    cmds.push_back(Sh("sleep 30 & echo $! > " + tmp_.File("F3") + "; wait"));
    Pipeline pl = NewPipeline();
    for (Cmd& c : cmds) {
        ASSERT_TRUE(c);
        ASSERT_PK_OK(pk_pipeline_add(pl.get(), c.get(), 0));
    }
    const uint32_t timeout_ms = 2000, grace_ms = 500;
    ASSERT_PK_OK(pk_pipeline_timeout(pl.get(), timeout_ms, 0, grace_ms));
    BackgroundPipeline bg;
    bg.Start(pl.get());
    std::vector<pktest::ProcId> ids;
    for (const char* f : {"F1", "F2", "F3"})
        ids.push_back(Learn(tmp_.File(f)));
    bg.Join();
    ASSERT_RAN(bg.ran);
    EXPECT_EQ(PK_OUTCOME_TIMED_OUT, bg.ran.info.outcome);
    EXPECT_EQ(0, bg.ran.info.success);
    EXPECT_EQ(PK_ERR_TIMEOUT, bg.ran.check) << bg.ran.check_msg;
    EXPECT_GE(bg.elapsed_ms, static_cast<int64_t>(timeout_ms + grace_ms) - 50);
    EXPECT_LT(bg.elapsed_ms, static_cast<int64_t>(timeout_ms + grace_ms) + kLongMs);
    ASSERT_EQ(3u, bg.ran.stages.size());
    EXPECT_EQ(SIGTERM, bg.ran.stages[0].signal);
    EXPECT_EQ(SIGKILL, bg.ran.stages[1].signal) << "the TERM-ignoring stage needed the SIGKILL";
    EXPECT_EQ(SIGTERM, bg.ran.stages[2].signal);
    for (const pktest::ProcId& id : ids)
        EXPECT_TRUE(pktest::WaitDead(id, 2000)) << "grandchild " << id.pid << " outlived the pipeline";
}

TEST_F(Pipelines, PipelineCancelFromAnotherThread) {
    std::vector<Cmd> cmds;
    for (const char* f : {"F1", "F2", "F3"})
        cmds.push_back(Sh("sleep 30 & echo $! > " + tmp_.File(f) + "; wait"));
    Cancel token = NewCancel();
    Pipeline pl = NewPipeline();
    ASSERT_TRUE(token && pl);
    for (Cmd& c : cmds) {
        ASSERT_TRUE(c);
        ASSERT_PK_OK(pk_pipeline_add(pl.get(), c.get(), 0));
    }
    ASSERT_PK_OK(pk_pipeline_cancel_on(pl.get(), token.get()));
    BackgroundPipeline bg;
    bg.Start(pl.get());
    std::vector<pktest::ProcId> ids;
    for (const char* f : {"F1", "F2", "F3"})
        ids.push_back(Learn(tmp_.File(f)));
    auto t0 = Clock::now();
    ASSERT_PK_OK(pk_cancel_trigger(token.get()));
    bg.Join();
    EXPECT_LT(MsSince(t0), kLongMs);
    ASSERT_RAN(bg.ran);
    EXPECT_EQ(PK_OUTCOME_CANCELLED, bg.ran.info.outcome);
    EXPECT_EQ(0, bg.ran.info.success);
    EXPECT_EQ(PK_ERR_CANCELLED, bg.ran.check) << bg.ran.check_msg;
    for (const pktest::ProcId& id : ids)
        EXPECT_TRUE(pktest::WaitDead(id, 2000)) << "grandchild " << id.pid << " outlived the pipeline";
    ASSERT_EQ(3u, bg.ran.stages.size());
    for (const pk_run_info& s : bg.ran.stages)
        EXPECT_NE(PK_OUTCOME_EXITED, s.outcome) << "no stage ended by itself";
}

// Keeps this process's fd 0 safe across a call that might close it: makes
// sure one is open, remembers what it is, and puts it back if it changed.
class StdinGuard {
  public:
    StdinGuard() {
        if (fcntl(0, F_GETFD) < 0)
            opened_ = open("/dev/null", O_RDONLY) == 0;
        saved_ = fcntl(0, F_DUPFD_CLOEXEC, 3);
        fstat(0, &st_);
    }
    bool Intact() const {
        struct stat now;
        return fcntl(0, F_GETFD) >= 0 && fstat(0, &now) == 0 && now.st_dev == st_.st_dev && now.st_ino == st_.st_ino;
    }
    // Puts fd 0 back (call right after the suspect call, before anything
    // else can take the number).
    void Restore() {
        if (!Intact() && saved_ >= 0)
            dup2(saved_, 0);
    }
    ~StdinGuard() {
        Restore();
        if (saved_ >= 0)
            close(saved_);
        if (opened_)
            close(0);
    }

  private:
    int saved_ = -1;
    bool opened_ = false;
    struct stat st_;
};

TEST_F(Pipelines, PipelineFailingBeforeStartClosesNothing) {
    Cmd a = NewCmd({"echo", "x"});
    Cmd b = NewCmd({"cat"});
    Cmd c = NewCmd({"cat"});
    Cancel token = NewCancel();
    ASSERT_TRUE(a && b && c && token);
    Pipeline pl = NewPipeline();
    ASSERT_PK_OK(pk_pipeline_add(pl.get(), a.get(), 0));
    ASSERT_PK_OK(pk_pipeline_add(pl.get(), b.get(), 0));
    ASSERT_PK_OK(pk_pipeline_add(pl.get(), c.get(), 0));
    ASSERT_PK_OK(pk_pipeline_cancel_on(pl.get(), token.get()));
    ASSERT_PK_OK(pk_cancel_trigger(token.get()));
    StdinGuard stdin_guard;
    ASSERT_TRUE(stdin_guard.Intact());

    // A token already triggered: nothing starts...
    pk_result* r = nullptr;
    int rc = pk_pipeline_run(pl.get(), &r);
    std::string msg = pk_last_error();
    bool intact = stdin_guard.Intact();
    stdin_guard.Restore();
    EXPECT_EQ(PK_ERR_CANCELLED, rc) << msg;
    EXPECT_EQ(nullptr, r);
    // ...and nothing of the caller's is closed.
    EXPECT_TRUE(intact) << "pk_pipeline_run closed the caller's fd 0";

    // A group that cannot be created (a limit this host may not enforce).
    ASSERT_PK_OK(pk_pipeline_cancel_on(pl.get(), nullptr));
    pk_group_options opts = PK_GROUP_OPTIONS_INIT;
    opts.memory_max = 1ull << 40;
    opts.pids_max = 1000;
    ASSERT_PK_OK(pk_command_group_options(a.get(), &opts));
    r = nullptr;
    rc = pk_pipeline_run(pl.get(), &r);
    msg = pk_last_error();
    intact = stdin_guard.Intact();
    stdin_guard.Restore();
    if (rc == PK_OK) {
        pk_result_free(r);  // this host enforces limits: nothing to see here
    } else {
        EXPECT_EQ(PK_ERR_LIMIT, rc) << msg;
        EXPECT_TRUE(intact) << "pk_pipeline_run closed the caller's fd 0";
    }
}

TEST_F(Pipelines, PipelineCancelAfterTheFirstStageEnded) {
    Cmd a = NewCmd({"echo", "x"});
    Cmd b = Sh("cat >/dev/null; sleep 12 & echo $! > " + tmp_.File("F") + "; wait");
    Cancel token = NewCancel();
    Pipeline pl = NewPipeline();
    ASSERT_TRUE(a && b && token && pl);
    ASSERT_PK_OK(pk_pipeline_add(pl.get(), a.get(), 0));
    ASSERT_PK_OK(pk_pipeline_add(pl.get(), b.get(), 0));
    ASSERT_PK_OK(pk_pipeline_cancel_on(pl.get(), token.get()));
    BackgroundPipeline bg;
    bg.Start(pl.get());
    pktest::ProcId sleeper = Learn(tmp_.File("F"));
    // The producer has ended by now (the consumer's cat saw EOF); give the
    // loop a moment to reap it.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    auto t0 = Clock::now();
    ASSERT_PK_OK(pk_cancel_trigger(token.get()));
    bg.Join();
    EXPECT_LT(MsSince(t0), 5000) << "the trigger was not noticed until the pipeline ended by itself";
    ASSERT_RAN(bg.ran);
    EXPECT_EQ(PK_OUTCOME_CANCELLED, bg.ran.info.outcome);
    EXPECT_EQ(PK_ERR_CANCELLED, bg.ran.check) << bg.ran.check_msg;
    EXPECT_TRUE(pktest::WaitDead(sleeper, 2000));

    // The first stage still running, but watching a token of its own.
    Cancel own = NewCancel();
    Cancel token2 = NewCancel();
    Cmd first = Sh("sleep 8 & echo $! > " + tmp_.File("G") + "; wait");
    Cmd last = NewCmd({"cat"});
    ASSERT_TRUE(own && token2 && first && last);
    ASSERT_PK_OK(pk_command_cancel_on(first.get(), own.get()));
    Pipeline pl2 = NewPipeline();
    ASSERT_PK_OK(pk_pipeline_add(pl2.get(), first.get(), 0));
    ASSERT_PK_OK(pk_pipeline_add(pl2.get(), last.get(), 0));
    ASSERT_PK_OK(pk_pipeline_cancel_on(pl2.get(), token2.get()));
    BackgroundPipeline bg2;
    bg2.Start(pl2.get());
    pktest::ProcId sleeper2 = Learn(tmp_.File("G"));
    t0 = Clock::now();
    ASSERT_PK_OK(pk_cancel_trigger(token2.get()));
    bg2.Join();
    EXPECT_LT(MsSince(t0), 5000) << "the pipeline's token went unwatched";
    ASSERT_RAN(bg2.ran);
    EXPECT_EQ(PK_OUTCOME_CANCELLED, bg2.ran.info.outcome);
    EXPECT_TRUE(pktest::WaitDead(sleeper2, 2000));
}

TEST_F(Pipelines, PipelineEndsTakeTheCommandsOwnSettings) {
    // The first stage's stdin is its command's; the last stage's stdout and
    // stderr are captured (or not) per its command.
    Cmd a = NewCmd({"cat"});
    ASSERT_TRUE(a);
    const std::string text = "hello pipeline\nsecond line\n";
    ASSERT_PK_OK(pk_command_stdin_bytes(a.get(), text.data(), text.size()));
    Cmd b = Sh("tr a-z A-Z; echo last-err >&2");
    ASSERT_TRUE(b);
    Pipeline pl = NewPipeline();
    ASSERT_PK_OK(pk_pipeline_add(pl.get(), a.get(), 0));
    ASSERT_PK_OK(pk_pipeline_add(pl.get(), b.get(), 0));
    Ran ran = RunPipeline(pl.get());
    ASSERT_RAN(ran);
    EXPECT_EQ("HELLO PIPELINE\nSECOND LINE\n", ran.out);
    EXPECT_EQ("last-err\n", ran.err);
    EXPECT_EQ(1, ran.info.success);

    // A middle stage's stderr is not the pipeline's; a middle stage's stdin
    // bytes are ignored in favour of the pipe.
    Cmd mid = Sh("cat; echo mid-err >&2");
    ASSERT_TRUE(mid);
    ASSERT_PK_OK(pk_command_stdin_bytes(mid.get(), "IGNORED\n", 8));
    Pipeline three = NewPipeline();
    ASSERT_PK_OK(pk_pipeline_add(three.get(), a.get(), 0));
    ASSERT_PK_OK(pk_pipeline_add(three.get(), mid.get(), 0));
    ASSERT_PK_OK(pk_pipeline_add(three.get(), b.get(), 0));
    ran = RunPipeline(three.get());
    ASSERT_RAN(ran);
    EXPECT_EQ("HELLO PIPELINE\nSECOND LINE\n", ran.out);
    EXPECT_EQ("last-err\n", ran.err);

    // The last stage's stdout to a caller fd, its stderr merged into it.
    Pipe p;
    ASSERT_TRUE(p.Open());
    ASSERT_PK_OK(pk_command_output(b.get(), PK_STREAM_STDOUT, PK_OUTPUT_FD, p.w));
    ASSERT_PK_OK(pk_command_output(b.get(), PK_STREAM_STDERR, PK_OUTPUT_MERGE, -1));
    ran = RunPipeline(pl.get());
    ASSERT_RAN(ran);
    EXPECT_EQ("", ran.out);
    EXPECT_EQ("", ran.err);
    p.CloseWrite();
    EXPECT_EQ("HELLO PIPELINE\nSECOND LINE\nlast-err\n", ReadToEof(p.r));

    // A single-stage pipeline is just the command.
    Pipeline one = NewPipeline();
    ASSERT_PK_OK(pk_pipeline_add(one.get(), a.get(), 0));
    ran = RunPipeline(one.get());
    ASSERT_RAN(ran);
    EXPECT_EQ(text, ran.out);
    EXPECT_EQ(1u, ran.info.stage_count);
}

TEST_F(Pipelines, PipelineStageInfoAndSingleRunInfo) {
    Cmd a = Sh("exit 3");
    Cmd b = Sh("cat >/dev/null; exit 5");
    Cmd c = Sh("cat >/dev/null; kill -TERM $$");
    ASSERT_TRUE(a && b && c);
    Pipeline pl = NewPipeline();
    ASSERT_PK_OK(pk_pipeline_add(pl.get(), a.get(), PK_STAGE_UNCHECKED));
    ASSERT_PK_OK(pk_pipeline_add(pl.get(), b.get(), 0));
    ASSERT_PK_OK(pk_pipeline_add(pl.get(), c.get(), 0));
    Ran ran = RunPipeline(pl.get());
    ASSERT_RAN(ran);
    ASSERT_EQ(3u, ran.stages.size());
    EXPECT_EQ(PK_OUTCOME_EXITED, ran.stages[0].outcome);
    EXPECT_EQ(3, ran.stages[0].exit_code);
    EXPECT_EQ(PK_OUTCOME_EXITED, ran.stages[1].outcome);
    EXPECT_EQ(5, ran.stages[1].exit_code);
    EXPECT_EQ(PK_OUTCOME_SIGNALLED, ran.stages[2].outcome);
    EXPECT_EQ(SIGTERM, ran.stages[2].signal);
    EXPECT_EQ(-1, ran.stages[2].exit_code);
    EXPECT_EQ(1, ran.info.failed_stage) << "stage 0 is unchecked";
    EXPECT_EQ(5, ran.info.exit_code);

    // A single run has one "stage": itself.
    Cmd single = Sh("exit 6");
    ASSERT_TRUE(single);
    Ran one = RunCmd(single.get());
    ASSERT_RAN(one);
    EXPECT_EQ(1u, one.info.stage_count);
    EXPECT_EQ(-1, one.info.failed_stage);
    ASSERT_EQ(1u, one.stages.size());
    EXPECT_EQ(6, one.stages[0].exit_code);
}

TEST_F(Pipelines, PipelineBadInput) {
    Pipeline pl = NewPipeline();
    ASSERT_TRUE(pl);
    pk_result* r = nullptr;
    // Empty.
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_pipeline_run(pl.get(), &r));
    EXPECT_EQ(nullptr, r);
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_pipeline_run(pl.get(), nullptr));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_pipeline_new(nullptr));
    Cmd c = NewCmd({"true"});
    ASSERT_TRUE(c);
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_pipeline_add(pl.get(), c.get(), 1u << 7));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_pipeline_flags(pl.get(), 1u << 5));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_pipeline_timeout(pl.get(), 100, -1, 0));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_pipeline_timeout(pl.get(), 100, 4096, 0));

    // Handles: NULL, wrong type, freed.
    Cancel token = NewCancel();
    ASSERT_TRUE(token);
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_pipeline_add(nullptr, c.get(), 0));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_pipeline_add(pl.get(), nullptr, 0));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_pipeline_add(pl.get(), reinterpret_cast<pk_command*>(token.get()), 0));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_pipeline_add(reinterpret_cast<pk_pipeline*>(c.get()), c.get(), 0));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_pipeline_flags(nullptr, 0));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_pipeline_timeout(nullptr, 1, 0, 0));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_pipeline_cancel_on(nullptr, token.get()));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_pipeline_cancel_on(pl.get(), reinterpret_cast<pk_cancel*>(c.get())));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_pipeline_run(nullptr, &r));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_pipeline_run(reinterpret_cast<pk_pipeline*>(c.get()), &r));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_pipeline_free(nullptr));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_pipeline_free(reinterpret_cast<pk_pipeline*>(token.get())));
    pk_run_info info = PK_RUN_INFO_INIT;
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_result_stage_info(nullptr, 0, &info));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_result_stage_info(reinterpret_cast<pk_result*>(pl.get()), 0, &info));

    // The cancel token can be detached again.
    EXPECT_PK_OK(pk_pipeline_cancel_on(pl.get(), token.get()));
    EXPECT_PK_OK(pk_pipeline_cancel_on(pl.get(), nullptr));

    // A freed pipeline.
    pk_pipeline* gone = nullptr;
    ASSERT_PK_OK(pk_pipeline_new(&gone));
    ASSERT_PK_OK(pk_pipeline_add(gone, c.get(), 0));
    ASSERT_PK_OK(pk_pipeline_free(gone));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_pipeline_run(gone, &r));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_pipeline_add(gone, c.get(), 0));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_pipeline_free(gone));

    // The pipeline holds its stages: freeing a command after adding it is fine.
    {
        Cmd echo = NewCmd({"echo", "kept"});
        ASSERT_TRUE(echo);
        ASSERT_PK_OK(pk_pipeline_add(pl.get(), echo.get(), 0));
    }
    Ran ran = RunPipeline(pl.get());
    ASSERT_RAN(ran);
    EXPECT_EQ("kept\n", ran.out);
    // A stage that cannot start: the run fails, nothing is left behind.
    Cmd missing = NewCmd({"/nonexistent/processkit-no-such-program"});
    ASSERT_TRUE(missing);
    Cmd sleeper = NewCmd({"sleep", "30"});
    ASSERT_TRUE(sleeper);
    Pipeline broken = NewPipeline();
    ASSERT_PK_OK(pk_pipeline_add(broken.get(), sleeper.get(), 0));
    ASSERT_PK_OK(pk_pipeline_add(broken.get(), missing.get(), 0));
    auto t0 = Clock::now();
    ran = RunPipeline(broken.get());
    EXPECT_EQ(PK_ERR_NOT_FOUND, ran.rc) << ran.error;
    EXPECT_LT(MsSince(t0), kLongMs);
}

TEST_F(Pipelines, FiftyPipelinesLeakNothing) {
    Cmd a = NewCmd({"printf", "one\\ntwo\\n"});
    Cmd b = NewCmd({"sort", "-r"});
    Cmd c = NewCmd({"cat"});
    ASSERT_TRUE(a && b && c);
    Pipeline pl = NewPipeline();
    ASSERT_PK_OK(pk_pipeline_add(pl.get(), a.get(), 0));
    ASSERT_PK_OK(pk_pipeline_add(pl.get(), b.get(), 0));
    ASSERT_PK_OK(pk_pipeline_add(pl.get(), c.get(), 0));
    ASSERT_PK_OK(pk_pipeline_timeout(pl.get(), 60000, 0, 1000));
    // One run first, so lazily opened library fds are not counted as a leak.
    Ran ran = RunPipeline(pl.get());
    ASSERT_RAN(ran);
    const int fds = pktest::OpenFdCount();
    for (int i = 0; i < 50; i++) {
        ran = RunPipeline(pl.get());
        ASSERT_RAN(ran);
        ASSERT_EQ("two\none\n", ran.out) << "run " << i;
        ASSERT_EQ(1, ran.info.success) << "run " << i;
    }
    EXPECT_EQ(fds, pktest::OpenFdCount());
    EXPECT_TRUE(pktest::OurCgroupLeaves().empty());
    EXPECT_TRUE(pktest::NoChildren());
}

// ===========================================================================

}  // namespace
