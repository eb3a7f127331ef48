//! f. The async flavour: commands on a pk_loop driven by tokio's reactor.
#![cfg(feature = "tokio")]
mod common;

use std::time::{Duration, Instant};

use common::{start_time, wait_dead, TempPath};
use processkit_c::{AsyncLoop, Command, ErrorCode, Outcome};

fn sleeper(word: &str) -> Command {
    let mut c = Command::new("sh");
    c.args(["-c", &format!("sleep 0.3; echo {}", word)]);
    c
}

// f. Two commands run concurrently on one loop.
#[tokio::test(flavor = "current_thread")]
async fn f_two_commands_concurrently_on_one_loop() {
    let lp = AsyncLoop::new().expect("loop");
    let (a, b) = (sleeper("x"), sleeper("y"));
    let t = Instant::now();
    let (oa, ob) = tokio::join!(lp.output(&a), lp.output(&b));
    let elapsed = t.elapsed();
    let (oa, ob) = (oa.expect("a"), ob.expect("b"));
    assert_eq!(oa.stdout, b"x\n");
    assert_eq!(ob.stdout, b"y\n");
    assert!(oa.success && ob.success);
    assert!(elapsed >= Duration::from_millis(300), "took {:?}", elapsed);
    assert!(elapsed < Duration::from_millis(1500), "not concurrent: {:?}", elapsed);
}

#[tokio::test(flavor = "current_thread")]
async fn f_output_all_and_timers_keep_running() {
    let lp = AsyncLoop::new().expect("loop");
    let (a, b) = (sleeper("1"), sleeper("2"));
    // The runtime stays free for other work meanwhile.
    let cmds = [&a, &b];
    let t = Instant::now();
    let (outs, ticks) = tokio::join!(lp.output_all(&cmds), async {
        let mut n = 0;
        for _ in 0..5 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            n += 1;
        }
        n
    });
    let outs = outs.expect("outputs");
    assert_eq!(ticks, 5);
    assert_eq!(outs[0].stdout, b"1\n");
    assert_eq!(outs[1].stdout, b"2\n");
    assert!(t.elapsed() < Duration::from_millis(1500), "took {:?}", t.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f_output_async_on_multi_thread_runtime() {
    let out = sleeper("z").output_async().await.expect("output");
    assert_eq!(out.stdout, b"z\n");
    // Futures of output_async own their loop: they can be spawned.
    let h = tokio::spawn(async { Command::new("sh").args(["-c", "exit 4"]).output_async().await });
    let out = h.await.unwrap().expect("output");
    assert_eq!(out.exit_code, Some(4));
    let err = out.check().expect_err("exit 4");
    assert_eq!(err.code, ErrorCode::Failed);
    let err = Command::new("").output_async().await.expect_err("empty program");
    assert_eq!(err.code, ErrorCode::Invalid);
    assert!(!err.message.is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn f_async_timeout_tears_down_tree() {
    let pidfile = TempPath::new("f");
    let lp = AsyncLoop::new().expect("loop");
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &format!("sleep 30 & echo $! > '{}'; sleep 30", pidfile.as_str())]).timeout(
        Duration::from_millis(300),
        0,
        Duration::from_millis(200),
    );
    let p = lp.start(&cmd).expect("start");
    let watch = async {
        loop {
            if let Ok(text) = std::fs::read_to_string(pidfile.path()) {
                if text.ends_with('\n') {
                    let pid: i32 = text.trim().parse().unwrap();
                    return (pid, start_time(pid));
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let t = Instant::now();
    let (out, (grandchild, start)) = tokio::join!(lp.wait(&p), watch);
    let out = out.expect("output");
    assert_eq!(out.outcome, Outcome::TimedOut);
    assert!(t.elapsed() < Duration::from_secs(10));
    assert!(wait_dead(grandchild, start, Duration::from_secs(10)), "grandchild {} survived", grandchild);
}

#[tokio::test(flavor = "current_thread")]
async fn f_dropping_the_future_cancels_the_run() {
    let lp = AsyncLoop::new().expect("loop");
    let mut cmd = Command::new("sleep");
    cmd.arg("30");
    let t = Instant::now();
    let r = tokio::time::timeout(Duration::from_millis(200), lp.output(&cmd)).await;
    assert!(r.is_err(), "sleep 30 cannot finish in 200 ms");
    // The future's process was freed: cancelled and reaped.
    assert!(t.elapsed() < Duration::from_secs(5));
}
